"""Sans-I/O HTTP/1.x parser for one direction of a connection.

Fed bytes (``feed``), missing-byte counts (``feed_gap``) and end of stream (``feed_eof``); returns
events. No sockets, files or clocks inside: the caller passes the capture timestamp in.

Anomalies are recorded on the messages as tags (gap, truncated body, resync after garbage, bad
framing); nothing in the input can make this raise anything but ``HttpParseError``, and even
that is reserved for API misuse: garbage is skipped and counted.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from sensor import framing
from sensor.content import BodyCollector, parse_content_encoding
from sensor.framing import FRAMING_FIELDS, BodyKind, HeaderIndex
from sensor.records import (
    EMPTY_BODY,
    TAG_BAD_FRAMING,
    TAG_BAD_REQUEST_LINE,
    TAG_BAD_STATUS,
    TAG_BODY_CAPPED,
    TAG_CLOSE_DELIMITED,
    TAG_CONFLICTING_LENGTH,
    TAG_GAP,
    TAG_HTTP09,
    TAG_RESYNC,
    TAG_TRUNCATED_BODY,
    TAG_UPGRADE,
    Body,
    frozen_record,
)

Headers = tuple[tuple[str, str], ...]


class HttpParseError(Exception):
    """The only exception this module raises."""


@frozen_record
class RequestHead:
    method: str
    target: str
    version: str | None
    headers: Headers
    ts: float
    tags: tuple[str, ...] = ()
    host: str | None = None  # first Host header value


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

# States
START, BODY_LENGTH, CHUNK_SIZE, CHUNK_DATA, CHUNK_CRLF, TRAILERS, BODY_CLOSE, RESYNC, TUNNEL, DEAD = range(10)

_TOKEN_CHARS = frozenset(b"!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
REQUEST_START = re.compile(rb"[A-Z][A-Za-z0-9_\-]{0,31} [^\s][^\r\n]{0,16383} HTTP/[0-9]\.[0-9]\r?\n")
RESPONSE_START = re.compile(rb"HTTP/[0-9]\.[0-9] [0-9]{3}[ \r\n]")
_METHOD_PREFIX = re.compile(rb"[A-Z][A-Za-z0-9_\-]{0,31} ")
_VERSION = re.compile(r"HTTP/[0-9]\.[0-9]")
_OTHER_PROTOCOL = re.compile(r" (?!HTTP/)[A-Z]+/[0-9]\.[0-9]$")  # "SIP/2.0", "RTSP/1.0"
KNOWN_METHODS = frozenset((
    "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "TRACE", "CONNECT", "PROPFIND",
    "PROPPATCH", "MKCOL", "COPY", "MOVE", "LOCK", "UNLOCK", "SEARCH", "REPORT",
))
MAX_CHUNK_LINE = 4096


_FIRST_TOKEN = re.compile(rb"[^ \t\r\n]{1,40}")
_REQUEST_LINE_STRICT = re.compile(rb"[A-Z][A-Za-z0-9_\-]{0,31} [^\r\n]* HTTP/1\.[0-9]\r?\n")


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
    return data[:5] == b"HTTP/"


def _valid_method(m: bytes) -> bool:
    return 0 < len(m) <= 32 and all(c in _TOKEN_CHARS for c in m)


# Header lines seen before, parsed: API traffic repeats most of its lines verbatim (Accept,
# Content-Type, Server, Host...). Only short lines are kept and the cache is emptied when full,
# so it stays small (a few hundred KB at most).
_LINE_CACHE: dict[str, tuple[tuple[str, str], str | None]] = {}
_LINE_CACHE_MAX = 4096
_LINE_CACHE_LINE = 256


def parse_headers(text: str) -> tuple[Headers, HeaderIndex, bool]:
    """Header block (latin-1 text, lines split by LF or CRLF) to ordered (name, value) pairs.

    Repeated names are kept; obs-fold continuation lines are unfolded. Also returns the index of
    framing fields and whether any line was malformed (no colon, fold with nothing before it).
    """
    index: HeaderIndex = {}
    lines = text.split("\r\n")
    if text.count("\n") == len(lines) - 1:
        # Fast path for well-formed CRLF heads (no bare LF, checked above): every line has a
        # colon and starts with neither a space, a tab (a fold) nor the colon (an empty name),
        # and no name ends in a space or tab (nor does any " :" appear elsewhere in a line).
        fields: list[tuple[str, str]] = []
        cache = _LINE_CACHE
        for line in lines:
            entry = cache.get(line)
            if entry is None:
                first = line[:1]
                colon = line.find(":")
                if colon <= 0 or first == " " or first == "\t" or " :" in line or "\t:" in line:
                    break
                name = line[:colon]
                key = None
                if name[0] in "CcHhTt":  # the framing fields' initials: skip lower() for the rest
                    lname = name.lower()
                    if lname in FRAMING_FIELDS:
                        key = lname
                entry = ((name, line[colon + 1 :].strip()), key)
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
            if headers and line.strip():
                name, value = headers[-1]
                headers[-1] = (name, (value + " " + line.strip()).strip())
            elif line.strip():
                bad = True
            continue
        name, sep, value = line.partition(":")
        if not sep:
            if line.strip():
                bad = True
            continue
        name = name.strip()
        if not name:
            bad = True
            continue
        headers.append((name, value.strip()))
    for name, value in headers:
        lname = name.lower()
        if lname in FRAMING_FIELDS:
            index.setdefault(lname, []).append(value)
    return tuple(headers), index, bad


class HttpParser:
    """One direction: ``is_response`` selects the message grammar.

    ``method_for_response`` is asked, when a final response head is parsed, for the method of the
    request it answers (HEAD and CONNECT change response framing); the connection pairs there.
    """

    def __init__(
        self,
        *,
        is_response: bool,
        body_cap: int = 64 * 1024,
        wire_cap: int = 2 * 1024 * 1024,
        max_decoded: int = 32 * 1024 * 1024,
        max_head: int = 64 * 1024,
        max_unrecognized: int = 256 * 1024,
        method_for_response: Callable[[ResponseHead], str | None] | None = None,
        start_in_resync: bool = False,
    ) -> None:
        self.is_response = is_response
        self.body_cap = body_cap
        self.wire_cap = wire_cap
        self.max_decoded = max_decoded
        self.max_head = max_head
        self.max_unrecognized = max_unrecognized
        self.method_for_response = method_for_response
        self.state = RESYNC if start_in_resync else START
        self._buf = b""
        self._head_ts: float | None = None  # ts of the first byte of the message being buffered
        self._remaining = 0
        self._body: BodyCollector | None = None
        self._msg_tags: list[str] = []
        self._next_tags: list[str] = []  # tags for the next message (e.g. resync)
        self._trailers: list[bytes] = []
        self.messages = 0
        self.skipped_bytes = 0
        self._unrecognized = 0
        self._resync_skipped = 0
        self._parsed_block: tuple[str, Headers, HeaderIndex, bool] | None = None

    # -- public API --------------------------------------------------------------------------
    def feed(self, data: bytes, ts: float) -> list[Event]:
        if self.state >= TUNNEL:  # TUNNEL or DEAD: nothing more to parse here
            return []
        events: list[Event] = []
        buf = self._buf + data if self._buf else data
        self._buf = b""
        self._run(buf, ts, events)
        return events

    def feed_gap(self, size: int, ts: float) -> list[Event]:
        """``size`` bytes of this direction were never captured."""
        events: list[Event] = []
        state = self.state
        if state >= TUNNEL:
            return events
        if state == BODY_LENGTH:
            self._msg_tags.append(TAG_GAP)
            if size < self._remaining:
                self._remaining -= size
                return events
            self._end_message(ts, events, truncated=size > self._remaining)
            if size > self._remaining:
                self._enter_resync()
            else:
                self.state = START
            return events
        if state == BODY_CLOSE:
            self._msg_tags.append(TAG_GAP)
            return events
        if state in (CHUNK_SIZE, CHUNK_DATA, CHUNK_CRLF, TRAILERS):
            self._msg_tags.append(TAG_GAP)
            self._end_message(ts, events, truncated=True)
            self._buf = b""
            self._enter_resync()
            return events
        # START with a partial head buffered, or RESYNC: the head is lost.
        if self._buf:
            events.append(Skipped(len(self._buf), ts, "gap"))
            self.skipped_bytes += len(self._buf)
            self._buf = b""
        self._head_ts = None
        self._enter_resync()
        return events

    def feed_eof(self, ts: float) -> list[Event]:
        """The stream ended (FIN, RST, idle eviction or end of capture)."""
        events: list[Event] = []
        state = self.state
        if state == BODY_CLOSE:
            self._end_message(ts, events, truncated=False)
        elif state in (BODY_LENGTH, CHUNK_SIZE, CHUNK_DATA, CHUNK_CRLF, TRAILERS):
            self._end_message(ts, events, truncated=True)
        elif self._buf and state == START:
            # An unterminated head at end of stream: emit it if its start line parses, so a
            # request whose capture was cut short is still reported.
            buf = self._buf
            self._buf = b""
            self._parse_head(buf, 0, len(buf), ts, events)
            if self.state in (BODY_LENGTH, CHUNK_SIZE, CHUNK_DATA, CHUNK_CRLF, TRAILERS, BODY_CLOSE):
                self._end_message(ts, events, truncated=self.state != BODY_CLOSE)
        self.state = DEAD
        self._buf = b""
        return events

    def restart(self) -> None:
        """Parse afresh from the next byte (plain HTTP carried inside a CONNECT tunnel)."""
        self.state = START
        self._buf = b""
        self._head_ts = None

    def tunnel(self) -> None:
        """Stop parsing: the connection was upgraded (or became a CONNECT tunnel)."""
        self.state = TUNNEL
        self._buf = b""

    # -- the state machine -------------------------------------------------------------------
    def _run(self, buf: bytes, ts: float, events: list[Event]) -> None:
        pos = 0
        n = len(buf)
        while pos < n:
            state = self.state
            if state == START:
                if self._head_ts is None and not self._next_tags and buf[pos] not in (13, 10):
                    fast = self._fast_message(buf, pos, n, ts, events)
                    if fast >= 0:
                        pos = fast
                        continue
                if not self._head_ts and buf[pos] in (13, 10):
                    # Blank lines between messages (a stray CRLF after a body) are not a message.
                    while pos < n and buf[pos] in (13, 10):
                        pos += 1
                    if pos >= n:
                        return
                if self._head_ts is None:
                    self._head_ts = ts
                end = buf.find(b"\r\n\r\n", pos)
                lf = buf.find(b"\n\n", pos, end if end >= 0 else n)
                if lf >= 0:
                    head_end, next_pos = lf, lf + 2
                elif end >= 0:
                    head_end, next_pos = end, end + 4
                else:
                    if n - pos > self.max_head or self._first_line_is_garbage(buf, pos, n):
                        self._enter_resync()
                        continue
                    # HTTP/0.9 simple request: one line, no version, no headers.
                    if not self.is_response and self._http09(buf, pos, n, ts, events):
                        pos = n
                        continue
                    self._buf = buf[pos:]
                    return
                if not self._parse_head(buf, pos, head_end, ts, events):
                    # Not a message head after all: skip a byte so the search moves on.
                    self._enter_resync()
                    self._skip(1, ts, events)
                    pos += 1
                    continue
                pos = next_pos
            elif state == BODY_LENGTH:
                take = min(self._remaining, n - pos)
                body = self._body
                if body is None:
                    if take == self._remaining:
                        # The whole plain body is here: no collector needed.
                        data = buf[pos : pos + min(take, self.body_cap)]
                        pos += take
                        self._remaining = 0
                        tags = self._msg_tags
                        self._msg_tags = []
                        if take > self.body_cap:
                            tags.append(TAG_BODY_CAPPED)
                        events.append(MessageEnd(Body(data, take, take), ts, tuple(tags) if tags else ()))
                        self.state = START
                        continue
                    body = self._body = BodyCollector((), self.body_cap, self.body_cap, self.max_decoded)
                body.feed(buf[pos : pos + take] if (pos or take != n) else buf)
                pos += take
                self._remaining -= take
                if self._remaining == 0:
                    self._end_message(ts, events, truncated=False)
                    self.state = START
            elif state == CHUNK_SIZE:
                nl = buf.find(b"\n", pos)
                if nl < 0:
                    if n - pos > MAX_CHUNK_LINE:
                        self._bad_chunking(ts, events)
                        continue
                    self._buf = buf[pos:]
                    return
                line = buf[pos:nl].split(b";", 1)[0].strip()
                try:
                    size = int(line, 16)
                    if not line or size < 0 or line[:1] in (b"+", b"-"):
                        raise ValueError
                except ValueError:
                    self._bad_chunking(ts, events)
                    pos = nl + 1 if self.state == BODY_CLOSE else pos
                    continue
                pos = nl + 1
                if size == 0:
                    self.state = TRAILERS
                    self._trailers = []
                else:
                    self._remaining = size
                    self.state = CHUNK_DATA
            elif state == CHUNK_DATA:
                take = min(self._remaining, n - pos)
                self._body.feed(buf[pos : pos + take])  # type: ignore[union-attr]
                pos += take
                self._remaining -= take
                if self._remaining == 0:
                    self.state = CHUNK_CRLF
            elif state == CHUNK_CRLF:
                if buf[pos : pos + 2] == b"\r\n":
                    pos += 2
                elif buf[pos : pos + 1] == b"\n":
                    pos += 1
                elif n - pos < 2 and buf[pos : pos + 1] == b"\r":
                    self._buf = buf[pos:]
                    return
                else:
                    self._msg_tags.append(TAG_BAD_FRAMING)  # missing CRLF: tolerate
                self.state = CHUNK_SIZE
            elif state == TRAILERS:
                nl = buf.find(b"\n", pos)
                if nl < 0:
                    if n - pos > self.max_head:
                        self._end_message(ts, events, truncated=False)
                        self._enter_resync()
                        continue
                    self._buf = buf[pos:]
                    return
                line = buf[pos:nl]
                pos = nl + 1
                if line in (b"", b"\r"):
                    self._end_message(ts, events, truncated=False)
                    self.state = START
                else:
                    self._trailers.append(line)
            elif state == BODY_CLOSE:
                self._body.feed(buf[pos:] if pos else buf)  # type: ignore[union-attr]
                return
            elif state == RESYNC:
                pos = self._resync(buf, pos, n, ts, events)
                if self.state == RESYNC:
                    return
            else:  # TUNNEL / DEAD
                return

    def _fast_message(self, buf: bytes, pos: int, n: int, ts: float, events: list[Event]) -> int:
        """The common case in one pass: a well-formed CRLF head, plain or no Content-Length body.

        Returns the position after what it consumed, or -1 (having changed nothing) when the
        message needs the general path: chunked or encoded bodies, odd lines, interim responses.
        """
        end = buf.find(b"\r\n\r\n", pos, pos + self.max_head)
        if end < 0 or buf.find(b"\n\n", pos, end) >= 0:
            return -1
        text = buf[pos:end].decode("latin-1")
        nl = text.find("\r\n")
        if nl < 0:
            start, block = text, ""
        else:
            start, block = text[:nl], text[nl + 2 :]
        if block:
            headers, index, bad = parse_headers(block)
            if bad or "transfer-encoding" in index or "content-encoding" in index:
                self._parsed_block = (block, headers, index, bad)  # spare the general path a re-parse
                return -1
        else:
            headers, index = (), {}
        cl = index.get("content-length")
        if cl is None:
            length = 0
        elif len(cl) == 1 and cl[0].isdigit() and len(cl[0]) <= 18:
            length = int(cl[0])
        else:
            return -1
        parts = start.split(" ", 2)
        if self.is_response:
            if cl is None or len(parts) < 2 or parts[0] not in ("HTTP/1.1", "HTTP/1.0"):
                return -1
            code = parts[1]
            if len(code) != 3 or not code.isdigit() or code[0] == "1":
                return -1
            status = int(code)
            head: RequestHead | ResponseHead = ResponseHead(parts[0][5:], status, parts[2] if len(parts) > 2 else "",
                                                            headers, ts, ())
            method = self.method_for_response(head) if self.method_for_response else None  # type: ignore[arg-type]
            if method == "HEAD" or status == 204 or status == 304:
                length = 0
            elif method == "CONNECT" and 200 <= status < 300:
                events.append(head)
                events.append(MessageEnd(EMPTY_BODY, ts, (TAG_UPGRADE,)))
                self.messages += 1
                self.state = TUNNEL
                return n
        else:
            if len(parts) != 3 or parts[0] not in KNOWN_METHODS or not parts[1] or parts[2] not in (
                    "HTTP/1.1", "HTTP/1.0"):
                return -1
            host = index.get("host")
            head = RequestHead(parts[0], parts[1], parts[2][5:], headers, ts, (), host[0] if host else None)
        events.append(head)
        self.messages += 1
        pos = end + 4
        if not length:
            events.append(MessageEnd(EMPTY_BODY, ts, ()))
            return pos
        if n - pos >= length:
            if length > self.body_cap:
                events.append(MessageEnd(Body(buf[pos : pos + self.body_cap], length, length), ts, (TAG_BODY_CAPPED,)))
            else:
                events.append(MessageEnd(Body(buf[pos : pos + length], length, length), ts, ()))
            return pos + length
        self._msg_tags = []
        self._body = None
        self._remaining = length
        self.state = BODY_LENGTH
        return pos

    def _first_line_is_garbage(self, buf: bytes, pos: int, n: int) -> bool:
        """Cheap early check so a non-HTTP stream does not buffer up to max_head first."""
        probe = buf[pos : pos + 40].lstrip(b"\r\n")
        if not probe:
            return False
        if self.is_response:
            return probe[:5] != b"HTTP/"[: len(probe)]
        if _METHOD_PREFIX.match(probe):
            return False
        # Possibly a method still arriving: only token characters so far, and short.
        return not (len(probe) < 33 and all(c in _TOKEN_CHARS for c in probe))

    def _http09(self, buf: bytes, pos: int, n: int, ts: float, events: list[Event]) -> bool:
        nl = buf.find(b"\n", pos)
        if nl < 0:
            return False
        line = buf[pos:nl].rstrip(b"\r")
        parts = line.split(b" ")
        if len(parts) != 2 or parts[0] != b"GET" or not parts[1]:
            return False
        tags = [TAG_HTTP09, *self._next_tags]
        self._next_tags = []
        events.append(RequestHead("GET", parts[1].decode("latin-1"), None, (), self._head_ts or ts, tuple(tags)))
        events.append(MessageEnd(Body(), ts, ()))
        self._head_ts = None
        self.messages += 1
        # The rest of this direction is unparsable by HTTP/1.x rules; the response is raw.
        self._buf = b""
        if nl + 1 < n:
            self._run(buf[nl + 1 :], ts, events)
        return True

    def _parse_head(self, buf: bytes, pos: int, head_end: int, ts: float, events: list[Event]) -> bool:
        # One latin-1 decode for the whole head: every byte maps to one character, so nothing
        # is lost, and string splitting is much cheaper than per-line bytes decoding.
        text = buf[pos:head_end].decode("latin-1").lstrip("\r\n")
        if not text:
            return False
        nl = text.find("\n")
        if nl < 0:
            start, block = text, ""
        else:
            start, block = text[:nl], text[nl + 1 :]
        if start[-1:] == "\r":
            start = start[:-1]
        cached = self._parsed_block
        if cached is not None and cached[0] == block:
            headers, index = cached[1], cached[2]
        else:
            headers, index, _bad_headers = parse_headers(block) if block else ((), {}, False)
        self._parsed_block = None
        tags = self._next_tags
        self._next_tags = []
        head_ts = self._head_ts if self._head_ts is not None else ts
        self._head_ts = None
        head: RequestHead | ResponseHead | None
        if self.is_response:
            head = self._response_line(start, headers, head_ts, tags)
        else:
            head = self._request_line(start, headers, index, head_ts, tags)
        if head is None:
            self._next_tags = tags
            return False
        self._msg_tags = []
        if type(head) is ResponseHead:
            method = self.method_for_response(head) if self.method_for_response else None
            frame = framing.response_framing(method, head.status, index)
        else:
            assert type(head) is RequestHead
            frame = framing.request_framing(head.method, index)
        events.append(head)
        self.messages += 1
        if frame.conflicting_length:
            self._msg_tags.append(TAG_CONFLICTING_LENGTH)
        if frame.bad_length or frame.te_and_cl:
            self._msg_tags.append(TAG_BAD_FRAMING)
        kind = frame.kind
        if kind is BodyKind.NONE:
            events.append(MessageEnd(EMPTY_BODY, ts, tuple(self._msg_tags)))
            self.state = START
            return True
        if kind is BodyKind.TUNNEL:
            events.append(MessageEnd(EMPTY_BODY, ts, (*self._msg_tags, TAG_UPGRADE)))
            self.state = TUNNEL
            return True
        ce = index.get("content-encoding")
        if kind is BodyKind.LENGTH and not ce:
            # Plain Content-Length body: collected lazily, often straight from this segment.
            self._body = None
            self._remaining = frame.length
            self.state = BODY_LENGTH
            return True
        encodings = parse_content_encoding(ce) if ce else ()
        self._body = BodyCollector(encodings, self.body_cap, self.wire_cap, self.max_decoded)
        if kind is BodyKind.LENGTH:
            self._remaining = frame.length
            self.state = BODY_LENGTH
        elif kind is BodyKind.CHUNKED:
            self.state = CHUNK_SIZE
        else:
            self._msg_tags.append(TAG_CLOSE_DELIMITED)
            self.state = BODY_CLOSE
        return True

    def _request_line(self, start: str, headers: Headers, index: HeaderIndex, ts: float,
                      tags: list[str]) -> RequestHead | None:
        host_values = index.get("host")
        host = host_values[0] if host_values else None
        parts = start.split(" ")
        if len(parts) == 3 and parts[0] in KNOWN_METHODS and parts[1] and parts[2] in ("HTTP/1.1", "HTTP/1.0"):
            return RequestHead(parts[0], parts[1], parts[2][5:], headers, ts, tuple(tags), host)
        parts = start.split()
        if not parts:
            return None
        version: str | None = None
        bad = False
        last = parts[-1]
        if len(parts) >= 3 and _VERSION.fullmatch(last):
            method, target, version = parts[0], " ".join(parts[1:-1]), last[5:]
            if len(parts) > 3:
                bad = True  # raw spaces inside the target
        else:
            # Malformed request lines still tell us what was asked; servers answer them (400),
            # so record them, tagged, rather than lose the exchange.
            bad = True
            method = parts[0]
            target = " ".join(parts[1:]) if len(parts) > 1 else ""
            if len(parts) > 1 and last.startswith("HTTP/"):
                version = last[5:]
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
        return RequestHead(method, target, version, headers, ts, tuple(tags), host)

    def _response_line(self, start: str, headers: Headers, ts: float, tags: list[str]) -> ResponseHead | None:
        if start[:5] != "HTTP/":
            return None
        parts = start.split(" ", 2)
        version = parts[0][5:]
        if len(parts) < 2:
            return None
        code = parts[1].strip()
        reason = parts[2].strip() if len(parts) > 2 else ""
        status: int | None
        if len(code) == 3 and code.isdigit():
            status = int(code)
        else:
            status = None
            tags = [*tags, TAG_BAD_STATUS]
        return ResponseHead(version, status, reason, headers, ts, tuple(tags))

    def _bad_chunking(self, ts: float, events: list[Event]) -> None:
        """A chunk-size line that is not hex: treat the rest as close-delimited body (responses)."""
        self._msg_tags.append(TAG_BAD_FRAMING)
        if self.is_response:
            self._msg_tags.append(TAG_CLOSE_DELIMITED)
            self.state = BODY_CLOSE
        else:
            self._end_message(ts, events, truncated=True)
            self._enter_resync()

    def _end_message(self, ts: float, events: list[Event], *, truncated: bool) -> None:
        tags = self._msg_tags
        self._msg_tags = []
        body_obj = self._body
        self._body = None
        if body_obj is None:
            body = Body()
        else:
            body, body_tags = body_obj.finish()
            tags.extend(body_tags)
        if truncated:
            tags.append(TAG_TRUNCATED_BODY)
        trailers: Headers = ()
        if self._trailers:
            trailers, _, _ = parse_headers(b"\n".join(self._trailers).decode("latin-1"))
            self._trailers = []
        events.append(MessageEnd(body, ts, tuple(dict.fromkeys(tags)) if tags else (), trailers))

    def _enter_resync(self) -> None:
        self.state = RESYNC
        self._head_ts = None

    def _resync(self, buf: bytes, pos: int, n: int, ts: float, events: list[Event]) -> int:
        """Skip to the next plausible message start; returns the new position."""
        pattern = RESPONSE_START if self.is_response else REQUEST_START
        while True:
            m = pattern.search(buf, pos)
            if m is None:
                break
            start = m.start()
            if self.is_response or _valid_method(buf[start : buf.find(b" ", start)]):
                if start > pos:
                    self._skip(start - pos, ts, events)
                if self._resync_skipped:
                    self._next_tags = [TAG_RESYNC]
                self._resync_skipped = 0
                self.state = START
                return start
            pos = start + 1
        # No message start here. Keep a tail in case one straddles the next segment.
        keep = min(n - pos, 512)
        self._skip(n - pos - keep, ts, events)
        self._buf = buf[n - keep :] if keep else b""
        if not self.messages and self._unrecognized > self.max_unrecognized:
            self.state = DEAD  # never spoke HTTP: stop looking
            self._buf = b""
        return n

    def _skip(self, size: int, ts: float, events: list[Event]) -> None:
        if size <= 0:
            return
        self.skipped_bytes += size
        self._unrecognized += size
        self._resync_skipped += size
        events.append(Skipped(size, ts, "not_http"))

