"""What kind of text a request value is, before the signatures read it (issue 11: false alarms on
real captures).

Signatures are written for one value an application reads as one string. Real traffic carries
values that are several values in one, or no text at all:

- binary content (an uploaded image, a compressed or encrypted body decoded as UTF-8: replacement
  characters and control bytes) has no grammar; any byte can look like ``;``, ``|`` or a backtick;
- structured text: a form (``a=1&type=2``) or a cookie string (``__utmz=...; utmcmd=(none);``)
  nested in a value, ``name=value`` lines, a URL with a query (the Referer), newline-delimited JSON
  (Elasticsearch ``_bulk``). Scanned raw, its separators read as shell or SQL (``&type`` is the
  Windows ``type`` command, ``&&`` an operator); each field is what the application reads;
- an RFC 6265 quoted cookie value (``"0:8477,..."``): the quotes are the cookie's syntax.

:func:`expand` turns one ``(location, field, value, plus)`` into the values to inspect.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

import orjson

from analyzer.detect import normalise
from analyzer.detect.jsonleaves import MAX_JSON_LEAVES, json_leaves

Value = tuple[str, str, str, bool]  # location, field, value, plus_is_space

# Control characters other than tab/CR/LF, and U+FFFD (an undecodable byte).
_BINARY_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffd]")
_BINARY_SAMPLE = 1024
_BINARY_MIN = 8  # characters: a NUL or two is an injection trick (``%00``), not a file
_BINARY_SHARE = 0.08

# ``name=value`` items: a form, a cookie string, ``key=value`` lines.
_ITEM_NAME = re.compile(r"[A-Za-z_][\w.\-\[\]]{0,80}=")
_FORM_SEPARATORS = re.compile(r"&|;\s*|\r?\n")
_NESTED_LOCATIONS = frozenset({"query", "body", "cookie", "header", "referer"})
# One executable's path and nothing else, as a JSON string: data naming a program (Docker's Cmd and
# Entrypoint arrays, a Kubernetes container's command: argv elements passed to exec, no shell).
_LONE_PROGRAM = re.compile(r"/(?:usr/)?(?:local/)?s?bin/[\w.+-]{1,40}")
_URL = re.compile(r"^[a-z][a-z0-9+.-]{1,15}://[^\s?#]*\?", re.IGNORECASE)
MAX_FIELDS = 100
MAX_DEPTH = 2


def is_binary(value: str) -> bool:
    """Is the value binary content (not text anyone types)?"""
    if value.isascii() and value.isprintable():
        return False
    sample = value[:_BINARY_SAMPLE]
    bad = len(_BINARY_CHARS.findall(sample))
    return bad >= _BINARY_MIN and bad >= _BINARY_SHARE * len(sample)


def form_fields(text: str) -> list[tuple[str, str]] | None:
    """``(name, value)`` of text made of two or more ``name=value`` items separated by ``&``,
    ``;`` or line breaks (empty items allowed: ``a=1&&b=2``), else None. Every non-empty item must
    start with a parameter name and ``=`` -- ``1;cat /etc/passwd`` or ``x' or 'a'='a`` is no form."""
    if "=" not in text:
        return None
    items = [item for item in _FORM_SEPARATORS.split(text.strip()) if item]
    if len(items) < 2:
        return None
    fields: list[tuple[str, str]] = []
    for item in items[:MAX_FIELDS]:
        if not _ITEM_NAME.match(item):
            return None
        name, _, value = item.partition("=")
        fields.append((name, value))
    return fields


def _ndjson_leaves(text: str) -> list[tuple[str, str]] | None:
    """String leaves of newline-delimited JSON (each line one document), else None."""
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) < 2 or not all(line.lstrip()[:1] in ("{", "[") for line in lines[:50]):
        return None
    leaves: list[tuple[str, str]] = []
    for line in lines:
        try:
            json_leaves(orjson.loads(line), "$", leaves)
        except orjson.JSONDecodeError:
            return None
        if len(leaves) >= MAX_JSON_LEAVES:
            break
    return leaves


def _expand_one(item: Value, depth: int) -> Iterator[Value]:
    location, field, value, plus = item
    if len(value) >= _BINARY_MIN and is_binary(value):
        return  # no grammar to inspect
    if location == "body" and field.startswith("$") and _LONE_PROGRAM.fullmatch(value):
        return
    if location == "cookie" and len(value) >= 2 and value[0] == value[-1] == '"' and '"' not in value[1:-1]:
        value = value[1:-1]  # RFC 6265 cookie-value = DQUOTE *cookie-octet DQUOTE
    if depth < MAX_DEPTH and location in _NESTED_LOCATIONS and ("=" in value or "%" in value):
        url = _URL.match(value) if location in ("header", "referer") else None
        if url is not None:  # a URL (Referer): its address, then its query's fields
            yield location, field, value[: url.end() - 1], False
            query, _, fragment = value[url.end() :].partition("#")
            for part in query.split("&")[:MAX_FIELDS]:
                name, sep, sub = part.partition("=")
                # "?<f o r m": a query of one bare word is that word
                sub = sub if sep else name
                yield from _expand_one((location, f"{field}:{name[:40]}", sub, True), depth + 1)
            if fragment:  # client-side state, but still text a page's script may hand on
                yield from _expand_one((location, f"{field}#fragment", fragment, True), depth + 1)
            return
        text = normalise.url_decode_all(value, plus)  # forms nested in forms are encoded again
        fields = form_fields(text) if "=" in text and _FORM_SEPARATORS.search(text) else None
        if fields is not None:
            for name, sub in fields:
                yield from _expand_one((location, f"{field}.{name[:40]}", sub, False), depth + 1)
            return
    if location == "body" and field == "body" and "\n" in value and value.lstrip()[:1] in ("{", "["):
        leaves = _ndjson_leaves(value)
        if leaves is not None:
            for path, leaf in leaves:
                yield ("name" if path.endswith("#key") else "body"), path[:64], leaf, False
            return
    yield location, field, value, plus


# Locations whose values _expand_one may change (bodies: lone programs, NDJSON; cookies: quotes);
# in the others only a value with "=" or "%" (nested locations) or a non-printable one can change.
_CHANGING_LOCATIONS = frozenset({"body", "cookie"})


def expand(values: Iterable[Value]) -> Iterator[Value]:
    """The values to inspect: binary ones dropped, structured ones split into their fields."""
    changing, nested = _CHANGING_LOCATIONS, _NESTED_LOCATIONS
    for item in values:
        location, _field, value, _plus = item
        # The common value (a path, a header, a plain parameter) as it is, without a generator
        # per value (~10 per exchange): what _expand_one yields for it unchanged.
        if (
            location not in changing
            and (location not in nested or ("=" not in value and "%" not in value))
            and (len(value) < _BINARY_MIN or (value.isascii() and value.isprintable()))
        ):
            yield item
        else:
            yield from _expand_one(item, 0)
