"""The grammar of HTTP/1 messages, as pure functions: start lines, header fields, chunk sizes,
and where a message may start. The parser's events are defined here too (``sensor.http1`` uses
these and re-exports them).

Every function is linear in what it is given, reads numbers as ASCII digits only and strips ASCII
white space only (never 0xA0 or 0x85, which latin-1 decoding turns into Unicode spaces).
"""

from __future__ import annotations

import re

from sensor.framing import FRAMING_FIELDS, HeaderIndex, ascii_decimal
from sensor.records import (
    TAG_BAD_REQUEST_LINE,
    TAG_BAD_STATUS,
    TAG_BAD_VERSION,
    Body,
    frozen_record,
)

Headers = tuple[tuple[str, str], ...]


class HttpParseError(Exception):
    """The only exception the parser (sensor.http1) raises."""


@frozen_record
class RequestHead:
    method: str
    target: str
    version: str | None
    headers: Headers
    ts: float
    tags: tuple[str, ...] = ()
    host: str | None = None  # first Host header value
    size: int = 0  # bytes of the head on the wire (what holding it costs, roughly)


@frozen_record
class ResponseHead:
    version: str
    status: int | None
    reason: str
    headers: Headers
    ts: float
    tags: tuple[str, ...] = ()


@frozen_record
class MessageEnd:
    body: Body
    ts: float
    tags: tuple[str, ...] = ()
    trailers: Headers = ()  # chunked trailer fields, in order


@frozen_record
class Skipped:
    """Bytes that were not HTTP (garbage before a resync, tunnel payload, a gap)."""

    size: int
    ts: float
    reason: str


Event = RequestHead | ResponseHead | MessageEnd | Skipped

TOKEN_CHARS = frozenset(b"!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# A request line's end: the version, then the line break. The method and target are matched
# backwards from it (``find_request_start``), which keeps the search linear.
_VERSION_AT_EOL = re.compile(rb" [Hh][Tt][Tt][Pp]/[01]\.[0-9]\r?\n")
_METHOD_SP = re.compile(rb"[A-Z][A-Za-z0-9_\-]{0,31} [^\s]")
MAX_TARGET = 16384  # request-target bytes a resync accepts on one line
RESPONSE_START = re.compile(rb"[Hh][Tt][Tt][Pp]/[0-9]\.[0-9] [0-9]{3}[ \r\n]")
METHOD_PREFIX = re.compile(rb"[A-Z][A-Za-z0-9_\-]{0,31} ")
_VERSION = re.compile(r"HTTP/[0-9]\.[0-9]")
_VERSION_ANY_CASE = re.compile(r"[Hh][Tt][Tt][Pp]/[0-9]\.[0-9]")
_OTHER_PROTOCOL = re.compile(r" (?!HTTP/)[A-Z]+/[0-9]\.[0-9]$")  # "SIP/2.0", "RTSP/1.0"
_ASCII_SPACES = re.compile(r"[ \t\x0b\x0c\r]+")
_CHUNK_SIZE = re.compile(rb"[ \t]*([0-9A-Fa-f]+)")
_OWS = " \t\r\n\x0b\x0c"  # what is stripped around values: ASCII whitespace only, never \xa0 or \x85
KNOWN_METHODS = frozenset((
    "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "TRACE", "CONNECT", "PROPFIND",
    "PROPPATCH", "MKCOL", "COPY", "MOVE", "LOCK", "UNLOCK", "SEARCH", "REPORT",
))
_KNOWN_METHODS_BYTES = frozenset(m.encode() for m in KNOWN_METHODS)
MAX_CHUNK_LINE = 4096
MAX_CHUNK_DIGITS = 15  # significant hex digits of a chunk size: 2^60 and beyond is bad framing


_FIRST_TOKEN = re.compile(rb"[^ \t\r\n]{1,40}")
_REQUEST_LINE_STRICT = re.compile(rb"[A-Z][A-Za-z0-9_\-]{0,31} [^\r\n]* [Hh][Tt][Tt][Pp]/1\.[0-9]\r?\n")


def looks_like_request(data: bytes) -> bool:
    """Could these be the first bytes of an HTTP/1 request stream?

    A well-formed request line with an HTTP/1.x version, or (line not complete yet, or
    malformed) one of the standard methods. Other line protocols (SMTP ``EHLO``, IRC, FTP,
    SIP ``OPTIONS sip:... SIP/2.0``, the HTTP/2 preface) are refused.
    """
    if _REQUEST_LINE_STRICT.match(data):
        return True
    token = _FIRST_TOKEN.match(data)
    method = token.group(0).decode("latin-1") if token else ""
    if method not in KNOWN_METHODS:
        glued = method.find("HTTP/")  # "OPTIONSHTTP/1.1"
        return glued > 0 and method[:glued] in KNOWN_METHODS
    nl = data.find(b"\n")
    line = data[: nl if nl >= 0 else 512]
    if b"HTTP/" in line:
        return b"HTTP/1." in line or b"HTTP/0." in line
    return not re.search(rb" [A-Z]+/[0-9]\.[0-9]", line)  # another protocol's version token


def looks_like_response(data: bytes) -> bool:
    return data[:5].upper() == b"HTTP/"


def could_be_status_line(probe: bytes) -> bool:
    """``probe`` (the first bytes of a message) is, or may still become, ``HTTP/`` in any case."""
    head = probe[:5].upper()
    return head == b"HTTP/"[: len(head)]


def find_request_start(buf: bytes, pos: int, end: int = -1) -> int:
    """Offset of the first request line at or after ``pos`` that the head parser accepts, or -1.

    ``METHOD SP target SP HTTP/x.y EOL`` with x 0 or 1, and a target without spaces unless the
    method is a standard one (``_request_line``'s rules, so a resync never stops where the head
    then fails to parse). The version at the end of a line is found first, then the earliest
    method on that line that starts a target reaching it: linear in the bytes searched (a regular
    expression searching forwards backtracks over every candidate method, quadratically).
    """
    if end < 0:
        end = len(buf)
    while pos < end:
        m = _VERSION_AT_EOL.search(buf, pos, end)
        if m is None:
            return -1
        v = m.start()
        s = max(line_start(buf, pos, v), v - (MAX_TARGET + 34))
        # The target of a candidate ending its method at e holds a space iff one lies in [e, v).
        last_space = max(buf.rfind(b" ", s, v), buf.rfind(b"\t", s, v), buf.rfind(b"\x0b", s, v),
                         buf.rfind(b"\x0c", s, v))
        while s < v:
            mm = _METHOD_SP.search(buf, s, v)
            if mm is None:
                break
            start, after = mm.start(), mm.end()
            if v - after <= MAX_TARGET and (last_space < after or buf[start : after - 2] in _KNOWN_METHODS_BYTES):
                return start
            s = start + 1
        pos = m.end()
    return -1


def line_start(buf: bytes, low: int, pos: int) -> int:
    """Start of the line holding ``pos`` (after the last CR or LF before it), at least ``low``.
    Scans back to the previous line break only."""
    nl = buf.rfind(b"\n", low, pos)
    cr = buf.rfind(b"\r", nl + 1 if nl >= 0 else low, pos)
    return max(nl, cr, low - 1) + 1


def _valid_method(m: bytes) -> bool:
    return 0 < len(m) <= 32 and all(c in TOKEN_CHARS for c in m)


# Header lines seen before, parsed: API traffic repeats most of its lines verbatim (Accept,
# Content-Type, Server, Host...). Only short lines are kept and the cache is emptied when full,
# so it stays small (a few hundred KB at most). Field names checked to be tokens, likewise.
_LINE_CACHE: dict[str, tuple[tuple[str, str], str | None]] = {}
_LINE_CACHE_MAX = 4096
_LINE_CACHE_LINE = 256
_GOOD_NAMES: set[str] = set()


def _is_token(name: str) -> bool:
    if name in _GOOD_NAMES:
        return True
    if _TOKEN.fullmatch(name) is None:
        return False
    if len(_GOOD_NAMES) >= _LINE_CACHE_MAX:
        _GOOD_NAMES.clear()
    _GOOD_NAMES.add(name)
    return True


def parse_headers(text: str) -> tuple[Headers, HeaderIndex, bool]:
    """Header block (latin-1 text, lines split by LF or CRLF) to ordered (name, value) pairs.

    Repeated names are kept; obs-fold continuation lines are unfolded. Also returns the index of
    framing fields and whether any line was malformed (no colon, a fold with nothing before it,
    a name that is not a token: spaces in it or before the colon). Malformed lines are kept when
    they have a colon (name stripped), dropped otherwise.
    """
    index: HeaderIndex = {}
    lines = text.split("\r\n")
    if text.count("\n") == len(lines) - 1:
        # Fast path for well-formed CRLF heads (no bare LF, checked above): every line has a
        # colon and starts with neither a space, a tab (a fold) nor the colon (an empty name),
        # and every name is a token.
        fields: list[tuple[str, str]] = []
        cache = _LINE_CACHE
        for line in lines:
            entry = cache.get(line)
            if entry is None:
                colon = line.find(":")
                if colon <= 0:
                    break
                name = line[:colon]
                if not _is_token(name):
                    break
                key = None
                if name[0] in "CcHhTt":  # the framing fields' initials: skip lower() for the rest
                    lname = name.lower()
                    if lname in FRAMING_FIELDS:
                        key = lname
                entry = ((name, line[colon + 1 :].strip(_OWS)), key)
                if len(line) <= _LINE_CACHE_LINE:
                    if len(cache) >= _LINE_CACHE_MAX:
                        cache.clear()
                    cache[line] = entry
            pair = entry[0]
            fields.append(pair)
            if entry[1] is not None:
                index.setdefault(entry[1], []).append(pair[1])
        else:
            return tuple(fields), index, False
        index = {}
    folded = "\n " in text or "\n\t" in text or text[:1] in (" ", "\t")
    headers: list[tuple[str, str]] = []
    bad = False
    for line in text.split("\n"):
        if folded and line[:1] in (" ", "\t"):
            if headers and line.strip(_OWS):
                name, value = headers[-1]
                headers[-1] = (name, (value + " " + line.strip(_OWS)).strip(_OWS))
            elif line.strip(_OWS):
                bad = True
            continue
        name, sep, value = line.partition(":")
        if not sep:
            if line.strip(_OWS):
                bad = True
            continue
        stripped = name.strip(_OWS)
        if not stripped:
            bad = True
            continue
        if stripped != name or not _is_token(stripped):
            bad = True
        headers.append((stripped, value.strip(_OWS)))
    for name, value in headers:
        lname = name.lower()
        if lname in FRAMING_FIELDS:
            index.setdefault(lname, []).append(value)
    return tuple(headers), index, bad


def request_line(start: str, headers: Headers, index: HeaderIndex, ts: float, tags: list[str],
                 size: int = 0) -> RequestHead | None:
    """The request head for start line ``start``, or None when it is not a request line."""
    host_values = index.get("host")
    host = host_values[0] if host_values else None
    parts = start.split(" ")
    if len(parts) == 3 and parts[0] in KNOWN_METHODS and parts[1] and parts[2] in ("HTTP/1.1", "HTTP/1.0"):
        return RequestHead(parts[0], parts[1], parts[2][5:], headers, ts, tuple(tags), host, size)
    parts = [p for p in _ASCII_SPACES.split(start) if p]
    if not parts:
        return None
    version: str | None = None
    bad = False
    bad_version = False
    last = parts[-1]
    if len(parts) >= 3 and _VERSION_ANY_CASE.fullmatch(last):
        method, target, version = parts[0], " ".join(parts[1:-1]), last[5:]
        bad_version = last[:5] != "HTTP/"
        if len(parts) > 3:
            bad = True  # raw spaces inside the target
    else:
        # Malformed request lines still tell us what was asked; servers answer them (400),
        # so record them, tagged, rather than lose the exchange.
        bad = True
        method = parts[0]
        target = " ".join(parts[1:]) if len(parts) > 1 else ""
        if len(parts) > 1 and last[:5].upper() == "HTTP/":
            version = last[5:]
            bad_version = last[:5] != "HTTP/"
            target = " ".join(parts[1:-1])
        elif len(parts) == 1:
            glued = method.find("HTTP/")
            if glued > 0:  # "OPTIONSHTTP/1.1"
                method, version = method[:glued], method[glued + 5 :]
    if not _valid_method(method.encode("latin-1")):
        return None
    if version is not None and not version.startswith(("0.", "1.")):
        return None  # "PRI * HTTP/2.0": the HTTP/2 preface, or a future major version
    if bad and (method not in KNOWN_METHODS or _OTHER_PROTOCOL.search(start)):
        return None  # a malformed line is only a request if it names a standard method
    if bad:
        tags = [*tags, TAG_BAD_REQUEST_LINE]
    if bad_version:
        tags = [*tags, TAG_BAD_VERSION]
    return RequestHead(method, target, version, headers, ts, tuple(tags), host, size)


def response_line(start: str, headers: Headers, ts: float, tags: list[str]) -> ResponseHead | None:
    """The response head for status line ``start``, or None when it is not a status line."""
    if start[:5] != "HTTP/":
        if start[:5].upper() != "HTTP/":
            return None
        tags = [*tags, TAG_BAD_VERSION]  # "http/1.1 200 OK": servers and clients accept it
    parts = start.split(" ", 2)
    version = parts[0][5:]
    if len(parts) < 2:
        return None
    code = parts[1].strip(_OWS)
    reason = parts[2].strip(_OWS) if len(parts) > 2 else ""
    status: int | None = ascii_decimal(code, 3) if len(code) == 3 else -1
    if status is not None and status < 0:
        status = None
        tags = [*tags, TAG_BAD_STATUS]
    return ResponseHead(version, status, reason, headers, ts, tuple(tags))


def chunk_size(buf: bytes, pos: int, nl: int) -> tuple[int, bool]:
    """(size, sloppy) for the chunk-size line ``buf[pos:nl]``, read best effort as tshark and
    Zeek read it: the leading hex digits (``f,`` is 15, sloppy); size -1 when there are none or
    too many (2^60 and beyond)."""
    m = _CHUNK_SIZE.match(buf, pos, nl)
    if m is None:
        return -1, False
    digits = m.group(1)
    if len(digits.lstrip(b"0")) > MAX_CHUNK_DIGITS:
        return -1, False  # 2^64 and the like: no body is that long
    rest = buf[m.end() : nl].strip(b" \t\r")
    return int(digits, 16), bool(rest) and rest[:1] != b";"
