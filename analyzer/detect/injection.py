"""Payload inspection: every value a request carries, decoded, against the signature registry.

Values come from the path (whole, and per segment), the query (names and values), the request
headers that carry client-chosen text (User-Agent, Referer, cookies, custom ``X-`` headers, ...;
not Host, Accept or Authorization, whose syntax is fixed), and the body (form fields, JSON string
leaves and keys, multipart parts, else the text). A cheap pre-screen skips values made only of
characters no signature needs, which is nearly every value of benign traffic.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from analyzer.detect import normalise, sigguards, valuekinds
from analyzer.detect.model import DetectExchange
from analyzer.detect.signatures import COMMANDS, ENGLISH_COMMANDS, REGISTRY, Signature

# Headers whose values are protocol syntax, not client-chosen text (or secrets not to inspect).
_SKIP_HEADERS = frozenset(
    {
        "host", "content-length", "connection", "accept", "accept-encoding", "accept-language",
        "accept-charset", "authorization", "proxy-authorization", "cache-control", "pragma",
        "if-modified-since", "if-none-match", "if-match", "if-unmodified-since", "if-range",
        "upgrade-insecure-requests", "te", "keep-alive", "dnt", "sec-fetch-site", "sec-fetch-mode",
        "sec-fetch-dest", "sec-fetch-user", "sec-ch-ua", "sec-ch-ua-mobile", "sec-ch-ua-platform",
        "content-type", "content-encoding", "transfer-encoding", "x-request-id", "x-correlation-id",
        "traceparent", "tracestate", "x-amzn-trace-id", "x-b3-traceid", "x-b3-spanid", "date",
        "x-csrf-token", "x-xsrf-token", "expect", "range", "origin", "x-forwarded-proto",
        "x-forwarded-port", "x-forwarded-host", "x-real-ip", "forwarded", "x-forwarded-for", "via",
    }
)
# The pre-screen: a value none of these can be in matches no signature. Characters first (one
# character class), then path shapes, then words (a set lookup, not a regex alternation: this
# runs on every value of every request).
_SUSPICIOUS_CHARS = re.compile(
    r"""[<>'"`;|&$(){}\[\]\\*!#~^\x00\r\n%=\u2018\u2019\u00b4\xbc\xbe\uff00-\uffef]|\.\.|::|--"""
)
_DIRS = ("etc/", "proc/", "sys/", "root/", "home/", "var/", "tmp/", "windows/", "winnt/", "boot/", "dev/", "usr/",
         "bin/", "sbin/", "opt/")
# Any of the path markers as one scan (was a generator over 15 substring tests per value).
_PATH_MARKERS = re.compile("|".join(re.escape(m) for m in ("/.", "/@", " /", *_DIRS)))
_EXTENSION = re.compile(r"\.(?:ini|log|conf|cfg|env|sql|bak|old|dump|zip|gz|tar|sh|pem|key|php|jsp|asp|aspx|config)\b")
_WORD = re.compile(r"[a-z_][a-z0-9_]*")
_KEYWORD_TEXT = """union select sleep benchmark waitfor jndi passwd shadow exec execute drop insert delete update create alter
    truncate having order group xor like rlike regexp glob notnull isnull is or and div in from where
    javascript vbscript script data file gopher dict ldap http https ftp localhost metadata system shell
    rcpt helo ehlo login user pass information_schema tempdb msdb pg_catalog northwind schema_name nvarchar
    varchar openrowset mysql document window exist defined errorlevel cmdextversion win"""
_KEYWORDS = frozenset(_KEYWORD_TEXT.split())
_WORD_PREFIXES = ("xp_", "sp_", "msys", "utl_", "unionselect")


def _suspicious(value: str) -> bool:
    if _SUSPICIOUS_CHARS.search(value):
        return True
    low = value.lower()
    if "/" in low and _PATH_MARKERS.search(low):
        return True
    if low[:1] in (".", "@") or ("." in low and _EXTENSION.search(low)):
        return True
    if "unionselect" in low or "4294967296" in low or "2250738585072011" in low:
        return True
    words = _WORD.findall(low)
    if not _KEYWORDS.isdisjoint(words):
        return True
    return ("_" in low or "msys" in low) and any(word.startswith(_WORD_PREFIXES) for word in words)
_LONG_TOKEN = re.compile(r"[A-Za-z0-9+/_-]{16,}")
MAX_JSON_LEAVES = 500
MAX_VALUES = 400


@dataclass(frozen=True, slots=True)
class InjectionHit:
    subtype: str
    signature: str
    location: str  # path | query | header | referer | agent (User-Agent) | cookie | body | filename | name
    field: str  # parameter, header or JSON path name (never a value)
    snippet: str  # masked excerpt around the match


def mask_snippet(text: str, start: int, end: int) -> str:
    """The match with a little context, long token-like runs shortened (they may be secrets)."""
    lo, hi = max(0, start - 12), min(len(text), end + 12)
    excerpt = text[lo:hi]
    if hi - lo > 96:
        excerpt = text[lo : lo + 96]
    excerpt = _LONG_TOKEN.sub(lambda m: m.group(0)[:4] + "…", excerpt)
    return excerpt.replace("\r", "\\r").replace("\n", "\\n")


def _json_leaves(value: Any, path: str, out: list[tuple[str, str]], depth: int = 0) -> None:
    if len(out) >= MAX_JSON_LEAVES or depth > 12:
        return
    if isinstance(value, str):
        out.append((path, value))
    elif isinstance(value, dict):
        for key, item in value.items():
            key_text = str(key)
            out.append((f"{path}.{key_text}#key", key_text))
            _json_leaves(item, f"{path}.{key_text}", out, depth + 1)
    elif isinstance(value, list):
        for item in value[:100]:
            _json_leaves(item, f"{path}[]", out, depth + 1)


def _split_pairs(text: str) -> Iterator[tuple[str, str]]:
    for part in text.split("&"):
        if part:
            name, _, value = part.partition("=")
            yield name, value


def _multipart_values(body: str, content_type: str) -> Iterator[tuple[str, str]]:
    marker = re.search(r"boundary=\"?([^\";]+)", content_type, re.IGNORECASE)
    if marker is None:
        yield "body", body
        return
    for part in body.split("--" + marker.group(1)):
        head, _, content = part.partition("\r\n\r\n")
        if not content and "\n\n" in part:
            head, _, content = part.partition("\n\n")
        name = re.search(r'\bname="([^"]*)"', head)
        field = name.group(1) if name else "part"
        filename = re.search(r'filename="([^"]*)"', head)
        if filename is not None:
            yield f"{field}#filename", filename.group(1)
        if name is not None:
            yield f"{field}#name", name.group(1)
        if content:
            yield field, content.rstrip("\r\n-")


_XML_ATTR = re.compile(r"""([\w:.-]+)\s*=\s*(?:"([^"]*)"|'([^']*)')""")
_XML_TEXT = re.compile(r">([^<]+)<")


def _xml_values(text: str) -> Iterator[tuple[str, str]]:
    """Attribute values and text nodes of an XML document (entities resolved later)."""
    for n, match in enumerate(_XML_ATTR.finditer(text)):
        if n >= MAX_JSON_LEAVES:
            return
        yield f"@{match.group(1)[:60]}", match.group(2) if match.group(2) is not None else match.group(3)
    for n, match in enumerate(_XML_TEXT.finditer(text)):
        if n >= MAX_JSON_LEAVES:
            return
        if match.group(1).strip():
            yield "xml#text", match.group(1)


def request_values(x: DetectExchange, max_body: int = 65536, parsed_json: Any = None) -> Iterator[tuple[str, str, str, bool]]:
    """``(location, field, raw value, plus_is_space)`` for every value the request carries
    (``parsed_json``: the request body already parsed, when the caller has it)."""
    yield "path", "path", x.path, False
    segments = [s for s in x.path.split("/") if s]
    if len(segments) > 1:
        for i, seg in enumerate(segments):
            yield "path", f"segment{i}", seg, False
    if x.query:
        if "&" in x.query or "=" in x.query:
            for name, value in _split_pairs(x.query):
                if name:
                    yield "name", f"query:{name[:64]}", name, True
                if value:
                    yield "query", name[:64], value, True
        else:
            yield "query", "query", x.query, True
    for name, value in x.request_headers:
        lname = name.lower()
        if lname == "cookie":
            for part in value.split(";"):
                cname, sep, cvalue = part.strip().partition("=")
                if sep:
                    yield "cookie", cname[:64], cvalue, False
                    if not cname.isidentifier():
                        yield "name", f"cookie:{cname[:64]}", cname, False
                elif cname:
                    yield "cookie", "cookie", cname, False
        elif lname in ("x-filename", "x-file-name", "x-upload-filename"):
            yield "filename", lname, value, False
        elif lname not in _SKIP_HEADERS and value:
            # A Referer URL is split into its address and its parameters by valuekinds.expand.
            yield "agent" if lname == "user-agent" else "referer" if lname == "referer" else "header", lname[:64], value, False
    body = x.request_body[:max_body]
    if not body:
        return
    text = body.decode("utf-8", "replace")
    ctype = (x.request_header("content-type") or "").lower()
    parsed = x.request_json if x.request_json is not None else parsed_json
    if parsed is None and ("json" in ctype or text.lstrip()[:1] in ("{", "[")):
        try:
            parsed = orjson.loads(body)
        except orjson.JSONDecodeError:
            parsed = None
    if parsed is not None and not isinstance(parsed, int | float | bool):
        leaves: list[tuple[str, str]] = []
        _json_leaves(parsed, "$", leaves)
        for field, value in leaves:
            yield ("name" if field.endswith("#key") else "body"), field[:64], value, False
        return
    if "multipart/" in ctype:
        for field, value in _multipart_values(text, ctype):
            yield "filename" if field.endswith("#filename") else "body", field[:64], value, False
        return
    if "xml" in ctype or text.lstrip().startswith("<?xml"):
        for field, value in _xml_values(text):
            yield "body", field, value, False
        return
    # A body without a Content-Type is read as a form, as servers (and go-ftw's CRS runs) do.
    if "x-www-form-urlencoded" in ctype or not ctype:
        for name, value in _split_pairs(text):
            if name:
                yield "name", f"body:{name[:64]}", name, True
            if value:
                yield "body", name[:64], value, True
        return
    yield "body", "body", text, False


def _form(sig: Signature, value: str) -> str:
    if sig.form == "sql":
        return normalise.sql_form(value)
    if sig.form == "shell":
        return normalise.shell_form(value)
    if sig.form == "log4j":
        return normalise.log4j_form(value)
    return value


_FIRST_WORD = re.compile(r"\s*['\"\\]?([A-Za-z][\w.-]{0,40})")


_LEADING = COMMANDS | ENGLISH_COMMANDS | {"sudo", "time", "nohup", "env", "exec", "command", "builtin", "nice"}


def _starts_with_command(value: str) -> bool:
    match = _FIRST_WORD.match(value.replace("+", " "))
    return match is not None and match.group(1).lower() in _LEADING


def scan_value(location: str, value: str, plus: bool, registry: tuple[Signature, ...] = REGISTRY) -> Iterator[tuple[Signature, str, re.Match[str]]]:
    """Signatures matching any decoded form of one value (one hit per subtype at most)."""
    if not value or not (_suspicious(value) or _starts_with_command(value)):
        return
    forms = normalise.variants(value, plus)
    # A prose document is read for SQL in its first sentence only: a value spliced into a query
    # breaks out of its string at the start; quotes of SQL further on are an author writing about
    # SQL. (The price: a payload behind a document's first sentence is missed, as libinjection,
    # which reads the first tokens only, misses it.)
    heads = tuple(normalise.prose_head(f) if normalise.is_prose(f) else f for f in forms) if len(value) >= normalise.PROSE_MIN_CHARS else forms
    if any("```" in f for f in forms):
        heads = tuple(normalise.strip_code_fences(f) for f in heads)
        code = tuple(normalise.strip_code_fences(f) for f in forms)
    else:
        code = forms
    # A form's normalisation (sql, shell, log4j) once per decoded form, not once per signature.
    normalised: dict[tuple[str, str], str] = {}
    done: set[str] = set()
    for sig in registry:
        if sig.subtype in done or location not in sig.locations:
            continue
        for form in heads if sig.subtype == "sqli" else code if sig.subtype == "cmd_injection" else forms:
            if sig.form == "plain":
                text = form
            else:
                text = normalised.get((sig.form, form), "")
                if not text:
                    text = normalised[(sig.form, form)] = _form(sig, form)
            match = sig.search(text)
            if match is not None:
                # A whole well-formed filter expression (OData, range filters, JQL) is the API's
                # own query language, not SQL broken out of a literal (sigguards); another decoded
                # form of the value is still read.
                if sig.subtype == "sqli" and sigguards.filter_expression(form):
                    continue
                done.add(sig.subtype)
                yield sig, text, match
                break


# Verdicts of recent values (user agents, referers, path segments, parameter names and common
# values repeat on nearly every request): (location, value, plus) -> ((subtype, signature,
# snippet), ...), () for the many values the pre-screen clears. One lookup per value is the
# whole cost of a repeated value. Two generations make it an LRU at the cost of a dict: a full
# young generation becomes the old one, and an old entry used again moves back to the young,
# so a flood of one-shot values (paths with ids, search terms) evicts only other one-shot
# values -- clearing one dict when full threw out the user agents too, and re-scanning a
# suspicious-looking user agent through every signature cost more than all the lookups.
# Cookies (session tokens: one-shot, secret) and long values are not kept. Bounded (2 x
# _VERDICTS_MAX); never serialised.
_VerdictKey = tuple[str, str, bool]
_Verdict = tuple[tuple[str, str, str], ...]
_VERDICTS: dict[_VerdictKey, _Verdict] = {}  # young generation
_VERDICTS_OLD: dict[_VerdictKey, _Verdict] = {}
_VERDICTS_MAX = 8192
_MEMO_CHARS = 512


def _screen(value: str) -> bool:
    if value.isdigit() and value.isascii():
        # Plain ASCII digits (ids, path segments): no suspicious character, no word, no command
        # name; of _suspicious's tests only the two magic numbers can hold.
        return "4294967296" in value or "2250738585072011" in value
    return _suspicious(value) or _starts_with_command(value)


def _remember(key: _VerdictKey, verdict: _Verdict) -> None:
    global _VERDICTS, _VERDICTS_OLD
    if len(_VERDICTS) >= _VERDICTS_MAX:
        _VERDICTS_OLD = _VERDICTS
        _VERDICTS = {}
    _VERDICTS[key] = verdict


def _value_verdict(location: str, value: str, plus: bool, registry: tuple[Signature, ...]) -> _Verdict:
    memo = registry is REGISTRY and location != "cookie" and len(value) < _MEMO_CHARS
    key = (location, value, plus)
    if memo:
        cached = _VERDICTS.get(key)
        if cached is None:
            cached = _VERDICTS_OLD.get(key)
            if cached is not None:
                _remember(key, cached)
        if cached is not None:
            return cached
    if not value or not _screen(value):
        verdict: _Verdict = ()  # only suspicious values reach the signatures
    else:
        verdict = tuple(
            (sig.subtype, sig.name, mask_snippet(text, match.start(), match.end()))
            for sig, text, match in scan_value(location, value, plus, registry)
        )
    if memo:
        _remember(key, verdict)
    return verdict


def scan(
    x: DetectExchange, max_body: int = 65536, registry: tuple[Signature, ...] = REGISTRY, parsed_json: Any = None
) -> list[InjectionHit]:
    """One hit per subtype found in the request (the first location and signature that matched)."""
    hits: dict[str, InjectionHit] = {}
    memo = _VERDICTS if registry is REGISTRY else {}  # the young generation: the common case
    left = MAX_VALUES
    # valuekinds.expand: binary values dropped, forms/cookie strings/URLs nested in a value split.
    for location, field, value, plus in valuekinds.expand(request_values(x, max_body, parsed_json)):
        if not left:
            break
        left -= 1
        verdict = memo.get((location, value, plus))
        if verdict is None:
            verdict = _value_verdict(location, value, plus, registry)
            memo = _VERDICTS if registry is REGISTRY else memo  # a full young generation was replaced
        if verdict:
            for subtype, signature, snippet in verdict:
                if subtype not in hits:
                    hits[subtype] = InjectionHit(subtype, signature, location, field, snippet)
    return list(hits.values())
