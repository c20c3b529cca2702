"""Sans-I/O HTTP/1.x parser for one direction of a connection.

Fed bytes (``feed``), missing-byte counts (``feed_gap``) and end of stream (``feed_eof``); returns
events. No sockets, files or clocks inside: the caller passes the capture timestamp in.

Anomalies are recorded on the messages as tags (gap, truncated body, resync after garbage, bad
framing); nothing in the input can make this raise anything but ``HttpParseError``, and even
that is reserved for API misuse: garbage is skipped and counted.

Work is bounded by construction, so no input can stall a sensor: every search is linear and
looks at most ``max_head`` bytes (plus the data just fed) ahead; a head that does not end within
``max_head`` bytes is ended there (``head_too_large``), its rest skipped; numbers are ASCII only;
and a step budget (the watchdog, ``WORK_PER_BYTE``) ends the message and skips the rest of a
feed should the state machine ever stop consuming input.
"""

from __future__ import annotations

from collections.abc import Callable

from sensor import framing
from sensor.content import BodyCollector, parse_content_encoding
from sensor.framing import BodyKind, Framing, HeaderIndex, ascii_decimal
from sensor.http1_syntax import (
    KNOWN_METHODS,
    MAX_CHUNK_LINE,
    MAX_TARGET,
    METHOD_PREFIX,
    RESPONSE_START,
    TOKEN_CHARS,
    Event,
    Headers,
    HttpParseError,
    MessageEnd,
    RequestHead,
    ResponseHead,
    Skipped,
    chunk_size,
    could_be_status_line,
    find_request_start,
    line_start,
    looks_like_request,
    looks_like_response,
    parse_headers,
    request_line,
    response_line,
)
from sensor.records import (
    EMPTY_BODY,
    TAG_BAD_FRAMING,
    TAG_BAD_HEADER,
    TAG_BAD_REQUEST_LINE,
    TAG_BODY_CAPPED,
    TAG_CLOSE_DELIMITED,
    TAG_CONFLICTING_LENGTH,
    TAG_GAP,
    TAG_HEAD_TOO_LARGE,
    TAG_HTTP09,
    TAG_PARSER_ERROR,
    TAG_RESYNC,
    TAG_TRUNCATED_BODY,
    TAG_UPGRADE,
    Body,
)

__all__ = [
    "Event", "Headers", "HttpParseError", "HttpParser", "MessageEnd", "RequestHead", "ResponseHead", "Skipped",
    "find_request_start", "looks_like_request", "looks_like_response", "parse_headers",
]

# States. TUNNEL and DEAD last: ``state >= TUNNEL`` means nothing more is parsed.
(START, BODY_LENGTH, CHUNK_SIZE, CHUNK_DATA, CHUNK_CRLF, TRAILERS, BODY_CLOSE, HEAD_SKIP, RESYNC, TUNNEL,
 DEAD) = range(11)
_IN_BODY = (BODY_LENGTH, CHUNK_SIZE, CHUNK_DATA, CHUNK_CRLF, TRAILERS, BODY_CLOSE)

# The watchdog: loop iterations allowed per feed, per byte fed (plus a constant). Every state
# either consumes input or makes one of a few bounded transitions, so 3 per byte is never reached
# by a correct parser; exceeding it means a bug, which then costs one feed, not the sensor.
WORK_PER_BYTE = 3
WORK_BASE = 16

class HttpParser:
    """One direction: ``is_response`` selects the message grammar.

    ``method_for_response`` is asked, when a final response head is parsed, for the method of the
    request it answers (HEAD and CONNECT change response framing); the connection pairs there.
    ``http09_answer`` is asked when a response does not start with a status line: True when the
    request it answers was an HTTP/0.9 simple request, whose answer is the raw body until close.
    """

    __slots__ = (
        "is_response", "body_cap", "wire_cap", "max_decoded", "max_head", "max_unrecognized",
        "method_for_response", "http09_answer", "state", "_buf", "_head_ts", "_remaining", "_body",
        "_msg_tags", "_next_tags", "_trailers", "_trailer_bytes", "messages", "skipped_bytes",
        "_unrecognized", "_resync_skipped", "_parsed_block", "_deferred", "_peek_body", "watchdog_trips",
        "_scanned", "_scanned_len", "tunnel_rest",
    )

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
        http09_answer: Callable[[], bool] | None = None,
        start_in_resync: bool = False,
    ) -> None:
        self.is_response = is_response
        self.body_cap = body_cap
        self.wire_cap = wire_cap
        self.max_decoded = max_decoded
        self.max_head = max_head
        self.max_unrecognized = max_unrecognized
        self.method_for_response = method_for_response
        self.http09_answer = http09_answer
        self.state = RESYNC if start_in_resync else START
        self._buf = b""
        self._head_ts: float | None = None  # ts of the first byte of the message being buffered
        self._remaining = 0
        self._body: BodyCollector | None = None
        # Tag lists are made when a first tag is added: most messages have none.
        self._msg_tags: list[str] | None = None
        self._next_tags: list[str] | None = None  # tags for the next message (e.g. resync)
        self._trailers: list[bytes] | None = None
        self._trailer_bytes = 0
        self.messages = 0
        self.skipped_bytes = 0
        self._unrecognized = 0
        self._resync_skipped = 0
        self._parsed_block: tuple[str, Headers, HeaderIndex, bool] | None = None
        # After an oversized head: its framing and content codings, applied once its end is found.
        self._deferred: tuple[Framing, tuple[str, ...]] | None = None
        # A response whose request is unknown: look whether its "body" is the next status line.
        self._peek_body = False
        self.watchdog_trips = 0
        # A buffered partial head of ``_scanned_len`` bytes holds no head end before ``_scanned``.
        self._scanned = 0
        self._scanned_len = 0
        # Bytes that followed the message ending in TUNNEL within the same feed: the first bytes of
        # the protocol upgraded to (the connection hands them to that protocol's parser).
        self.tunnel_rest = b""

    # -- public API --------------------------------------------------------------------------
    def feed(self, data: bytes, ts: float) -> list[Event]:
        if self.state >= TUNNEL:  # TUNNEL or DEAD: nothing more to parse here
            return []
        events: list[Event] = []
        scanned = 0
        if self._buf:
            # A partial head searched before: its bytes need no second look for the head's end.
            if self.state == START and len(self._buf) == self._scanned_len:
                scanned = self._scanned
            buf = self._buf + data
            self._buf = b""
        else:
            buf = data
        self._run(buf, ts, events, scanned)
        return events

    def feed_gap(self, size: int, ts: float) -> list[Event]:
        """``size`` bytes of this direction were never captured."""
        events: list[Event] = []
        state = self.state
        if state >= TUNNEL:
            return events
        self._peek_body = False
        if state == BODY_LENGTH:
            self._tag(TAG_GAP)
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
            self._tag(TAG_GAP)
            return events
        if state in (CHUNK_SIZE, CHUNK_DATA, CHUNK_CRLF, TRAILERS):
            self._tag(TAG_GAP)
            self._end_message(ts, events, truncated=True)
            self._buf = b""
            self._enter_resync()
            return events
        if state == HEAD_SKIP:
            # The end of the oversized head may have been in the gap: end the message, resync.
            self._buf = b""
            if self._deferred is not None:
                self._deferred = None
                self._tag(TAG_GAP)
                self._end_message(ts, events, truncated=True)
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
        elif state in _IN_BODY:
            self._end_message(ts, events, truncated=True)
        elif state == HEAD_SKIP:
            if self._deferred is not None:
                self._deferred = None
                self._end_message(ts, events, truncated=True)
        elif self._buf and state == START:
            # An unterminated head at end of stream: emit it if its start line parses, so a
            # request whose capture was cut short is still reported.
            buf = self._buf
            self._buf = b""
            if self.is_response and self.http09_answer is not None and not could_be_status_line(
                    buf.lstrip(b"\r\n")) and self.http09_answer():
                self._http09_response(ts, events)
                self._body.feed(buf)  # type: ignore[union-attr]
                self._end_message(ts, events, truncated=False)
            elif len(buf) <= self.max_head:
                self._parse_head(buf, 0, len(buf), ts, events)
                if self.state in _IN_BODY:
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

    def head_in_progress(self) -> bool:
        """Bytes of a message head have arrived, its end not yet."""
        return self.state == START and len(self._buf) > 0

    # -- the state machine -------------------------------------------------------------------
    def _run(self, buf: bytes, ts: float, events: list[Event], scanned: int = 0) -> None:
        pos = 0
        n = len(buf)
        budget = WORK_PER_BYTE * n + WORK_BASE
        # Head-end searches, memoized: ``crlf`` is the first "\r\n\r\n" at or after the last
        # position searched from, or -1 when there is none before ``crlf_to`` (likewise ``lflf``
        # for "\n\n"). Many small messages in one feed then cost one scan, not one window
        # each, and a head arriving in many segments is searched once (``scanned``).
        crlf = lflf = -1
        crlf_to = lflf_to = scanned
        while pos < n:
            budget -= 1
            if budget < 0:
                self._watchdog(n - pos, ts, events)
                return
            state = self.state
            if self._peek_body:  # a body (BODY_LENGTH, CHUNK_SIZE, BODY_CLOSE) of an unknown request's answer
                peek = self._peek_next_status(buf, pos, n, ts, events)
                if peek < 0:
                    self._buf = buf[pos:]
                    return
                if peek > 0:
                    continue
            if state == START:
                limit = pos + self.max_head
                if crlf < pos:
                    if crlf >= 0:
                        crlf, crlf_to = -1, pos
                    if crlf_to < limit + 4 and crlf_to < n:
                        crlf = buf.find(b"\r\n\r\n", max(pos, crlf_to - 3), limit + 4)
                        crlf_to = min(n, limit + 4)
                if lflf < pos:
                    if lflf >= 0:
                        lflf, lflf_to = -1, pos
                    if lflf_to < limit + 2 and lflf_to < n:
                        lflf = buf.find(b"\n\n", max(pos, lflf_to - 1), limit + 2)
                        lflf_to = min(n, limit + 2)
                end = crlf if 0 <= crlf <= limit else -1
                lf = lflf if 0 <= lflf <= limit and (end < 0 or lflf + 2 <= end) else -1
                c = buf[pos]
                if self._head_ts is None and self._next_tags is None and c != 13 and c != 10:
                    fast = self._fast_message(buf, pos, n, ts, events, end if lf < 0 else -1)
                    if fast >= 0:
                        pos = fast
                        continue
                if self._head_ts is None and (c == 13 or c == 10):
                    # Blank lines between messages (a stray CRLF after a body) are not a message.
                    while pos < n and buf[pos] in (13, 10):
                        pos += 1
                    continue
                if (self.is_response and self._head_ts is None and self.http09_answer is not None
                        and not could_be_status_line(buf[pos : pos + 5]) and self.http09_answer()):
                    self._http09_response(ts, events)
                    continue
                if self._head_ts is None:
                    self._head_ts = ts
                if lf >= 0:
                    head_end, next_pos = lf, lf + 2
                elif end >= 0:
                    head_end, next_pos = end, end + 4
                else:
                    if self._first_line_is_garbage(buf, pos, n):
                        self._enter_resync()
                        continue
                    if not self.is_response:
                        after = self._http09(buf, pos, ts, events)
                        if after >= 0:
                            pos = after
                            continue
                    if n - pos > self.max_head:
                        pos = self._oversized_head(buf, pos, ts, events)
                        continue
                    self._buf = buf[pos:]
                    self._scanned_len = n - pos
                    self._scanned = max(0, min(crlf_to, lflf_to) - pos)
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
                        if take > self.body_cap:
                            self._tag(TAG_BODY_CAPPED)
                        events.append(MessageEnd(Body(data, take, take), ts, self._take_tags()))
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
                nl = buf.find(b"\n", pos, pos + MAX_CHUNK_LINE + 1)
                if nl < 0:
                    if n - pos > MAX_CHUNK_LINE:
                        self._bad_chunking(ts, events)
                        continue
                    self._buf = buf[pos:]
                    return
                size, sloppy = chunk_size(buf, pos, nl)
                if sloppy:
                    self._tag(TAG_BAD_FRAMING)  # "f,": read as its leading hex digits
                if size < 0:
                    self._bad_chunking(ts, events)
                    pos = nl + 1 if self.state == BODY_CLOSE else pos
                    continue
                pos = nl + 1
                if size == 0:
                    self.state = TRAILERS
                    self._trailers = None
                    self._trailer_bytes = 0
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
                    self._tag(TAG_BAD_FRAMING)  # missing CRLF: tolerate
                self.state = CHUNK_SIZE
            elif state == TRAILERS:
                room = self.max_head - self._trailer_bytes
                nl = buf.find(b"\n", pos, pos + room + 1)
                if nl < 0:
                    if n - pos > room:
                        # A trailer block without end: end the message, skip to its blank line.
                        self._tag(TAG_HEAD_TOO_LARGE)
                        self._end_message(ts, events, truncated=False)
                        self._deferred = None
                        self.state = HEAD_SKIP
                        continue
                    self._buf = buf[pos:]
                    return
                line = buf[pos:nl]
                pos = nl + 1
                if line in (b"", b"\r"):
                    self._end_message(ts, events, truncated=False)
                    self.state = START
                else:
                    self._trailer_bytes += len(line) + 1
                    if self._trailers is None:
                        self._trailers = [line]
                    else:
                        self._trailers.append(line)
            elif state == BODY_CLOSE:
                self._body.feed(buf[pos:] if pos else buf)  # type: ignore[union-attr]
                return
            elif state == HEAD_SKIP:
                pos = self._skip_head(buf, pos, n, ts, events)
            elif state == RESYNC:
                pos = self._resync(buf, pos, n, ts, events)
                if self.state == RESYNC:
                    return
            else:  # TUNNEL / DEAD
                if state == TUNNEL:
                    self.tunnel_rest = buf[pos:]
                return

    def _watchdog(self, left: int, ts: float, events: list[Event]) -> None:
        """The step budget ran out: end the message in progress, skip the rest of this feed."""
        self.watchdog_trips += 1
        if self.state in _IN_BODY or (self.state == HEAD_SKIP and self._deferred is not None):
            self._deferred = None
            self._tag(TAG_PARSER_ERROR)
            self._end_message(ts, events, truncated=True)
        else:
            self._next_tags = [TAG_PARSER_ERROR]
        self._buf = b""
        self._peek_body = False
        self.skipped_bytes += left
        events.append(Skipped(left, ts, "watchdog"))
        self._enter_resync()

    def _fast_message(self, buf: bytes, pos: int, n: int, ts: float, events: list[Event], end: int = -2) -> int:
        """The common case in one pass: a well-formed CRLF head, plain or no Content-Length body.

        Returns the position after what it consumed, or -1 (having changed nothing) when the
        message needs the general path: chunked or encoded bodies, odd lines, interim responses.
        ``end`` is where the head's "\r\n\r\n" is, when the caller knows (-1: none within
        the bound, or a bare "\n\n" first), else found here.
        """
        if end == -2:
            end = buf.find(b"\r\n\r\n", pos, pos + self.max_head + 4)
            if end >= 0 and buf.find(b"\n\n", pos, end) >= 0:
                return -1
        if end < 0:
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
        elif len(cl) == 1:
            length = ascii_decimal(cl[0])
            if length < 0:
                return -1
        else:
            return -1
        parts = start.split(" ", 2)
        if self.is_response:
            if cl is None or len(parts) < 2 or parts[0] not in ("HTTP/1.1", "HTTP/1.0"):
                return -1
            code = parts[1]
            status = ascii_decimal(code, 3)
            if len(code) != 3 or status < 200:
                return -1
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
                self.tunnel_rest = buf[end + 4:n]
                return n
            elif method is None and length:
                # The request is unknown (not captured): a HEAD's answer has a length but no body,
                # which shows as the next status line right where the body would start.
                if n - (end + 4) < 14:
                    events.append(head)
                    self.messages += 1
                    self._msg_tags = None
                    self._body = None
                    self._remaining = length
                    self._peek_body = True
                    self.state = BODY_LENGTH
                    return end + 4
                if RESPONSE_START.match(buf, end + 4):
                    length = 0
        else:
            if len(parts) != 3 or parts[0] not in KNOWN_METHODS or not parts[1] or parts[2] not in (
                    "HTTP/1.1", "HTTP/1.0"):
                return -1
            host = index.get("host")
            head = RequestHead(parts[0], parts[1], parts[2][5:], headers, ts, (), host[0] if host else None,
                               end + 4 - pos)
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
        self._msg_tags = None
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
            return not could_be_status_line(probe)
        if METHOD_PREFIX.match(probe):
            return False
        # Possibly a method still arriving: only token characters so far, and short.
        return not (len(probe) < 33 and all(c in TOKEN_CHARS for c in probe))

    def _http09(self, buf: bytes, pos: int, ts: float, events: list[Event]) -> int:
        """An HTTP/0.9 simple request line (``METHOD target``, no version, no headers): the
        position after it, or -1 when the bytes at ``pos`` are not one."""
        nl = buf.find(b"\n", pos, pos + self.max_head)
        if nl < 0:
            return -1
        line = buf[pos:nl].rstrip(b"\r")
        parts = line.split(b" ")
        if len(parts) != 2 or not parts[1]:
            return -1
        method = parts[0].decode("latin-1")
        if method not in KNOWN_METHODS:
            return -1
        tags = [TAG_HTTP09, *self._next_tags] if self._next_tags else [TAG_HTTP09]
        self._next_tags = None
        events.append(RequestHead(method, parts[1].decode("latin-1"), None, (), self._head_ts or ts, tuple(tags),
                                  None, nl + 1 - pos))
        events.append(MessageEnd(EMPTY_BODY, ts, ()))
        self._head_ts = None
        self.messages += 1
        return nl + 1

    def _http09_response(self, ts: float, events: list[Event]) -> None:
        """The answer to an HTTP/0.9 request: no status line, no headers, the body until close."""
        tags = (TAG_HTTP09, *self._next_tags) if self._next_tags else (TAG_HTTP09,)
        self._next_tags = None
        head = ResponseHead("0.9", None, "", (), self._head_ts if self._head_ts is not None else ts, tags)
        self._head_ts = None
        if self.method_for_response is not None:
            self.method_for_response(head)  # pairs it with its request
        events.append(head)
        self.messages += 1
        self._msg_tags = [TAG_CLOSE_DELIMITED]
        self._body = BodyCollector((), self.body_cap, self.body_cap, self.max_decoded)
        self.state = BODY_CLOSE

    def _oversized_head(self, buf: bytes, pos: int, ts: float, events: list[Event]) -> int:
        """A head still without its end after ``max_head`` bytes: what the bound holds is the head
        (start line and complete header lines, tagged ``head_too_large``); the rest of it is
        skipped (HEAD_SKIP). Returns where to go on. Always moves forward."""
        limit = pos + self.max_head
        cut = buf.rfind(b"\n", pos, limit)
        stop = cut if cut > pos else limit
        if not self._parse_head(buf, pos, stop, ts, events, oversized=True):
            self._enter_resync()
            self._skip(1, ts, events)
            return pos + 1
        return stop

    def _skip_head(self, buf: bytes, pos: int, n: int, ts: float, events: list[Event]) -> int:
        """HEAD_SKIP: skip to the blank line that ends an oversized head (or trailer block)."""
        crlf = buf.find(b"\n\r\n", pos)
        lf = buf.find(b"\n\n", pos, crlf if crlf >= 0 else n)
        if lf >= 0:
            after = lf + 2
        elif crlf >= 0:
            after = crlf + 3
        else:
            keep = min(2, n - pos)  # the end may straddle the next segment
            self._skip_counted(n - pos - keep, ts, events, "head_too_large")
            self._buf = buf[n - keep :]
            return n
        self._skip_counted(after - pos, ts, events, "head_too_large")
        deferred = self._deferred
        self._deferred = None
        if deferred is None:  # a trailer block: its message has ended already
            self.state = START
            return after
        frame, encodings = deferred
        kind = frame.kind
        if kind is BodyKind.LENGTH or kind is BodyKind.CHUNKED:
            self._begin_body(frame, encodings)
        elif kind is BodyKind.TUNNEL:
            self._tag(TAG_UPGRADE)
            self._end_message(ts, events, truncated=False)
            self.state = TUNNEL
        else:
            self._end_message(ts, events, truncated=False)
            # A response with no length in the part that was kept may have had one in the part
            # that was not: look for the next status line rather than read to the close.
            self.state = RESYNC if kind is BodyKind.CLOSE else START
        return after

    def _parse_head(self, buf: bytes, pos: int, head_end: int, ts: float, events: list[Event],
                    oversized: bool = False) -> bool:
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
            headers, index, bad_headers = cached[1], cached[2], cached[3]
        else:
            headers, index, bad_headers = parse_headers(block) if block else ((), {}, False)
        self._parsed_block = None
        tags = self._next_tags if self._next_tags is not None else []
        self._next_tags = None
        if bad_headers:
            tags.append(TAG_BAD_HEADER)
        if oversized:
            tags.append(TAG_HEAD_TOO_LARGE)
        head_ts = self._head_ts if self._head_ts is not None else ts
        self._head_ts = None
        head: RequestHead | ResponseHead | None
        if self.is_response:
            head = response_line(start, headers, head_ts, tags)
        else:
            head = request_line(start, headers, index, head_ts, tags, head_end - pos)
            if (head is not None and TAG_BAD_REQUEST_LINE in head.tags
                    and find_request_start(buf, pos + 1, min(len(buf), head_end + 2)) >= 0):
                head = None  # "CONNECT" alone, then a whole request line: the garbage is the first
        if head is None:
            self._next_tags = [t for t in tags if t in (TAG_RESYNC, TAG_PARSER_ERROR)] or None
            return False
        self._msg_tags = None
        method: str | None = None
        if type(head) is ResponseHead:
            method = self.method_for_response(head) if self.method_for_response else None
            frame = framing.response_framing(method, head.status, index)
        else:
            assert type(head) is RequestHead
            frame = framing.request_framing(head.method, index)
        events.append(head)
        self.messages += 1
        if frame.conflicting_length:
            self._tag(TAG_CONFLICTING_LENGTH)
        if frame.bad_length or frame.te_and_cl:
            self._tag(TAG_BAD_FRAMING)
        ce = index.get("content-encoding")
        encodings = parse_content_encoding(ce) if ce else ()
        if oversized:
            self._deferred = (frame, encodings)
            self.state = HEAD_SKIP
            return True
        kind = frame.kind
        if kind is BodyKind.NONE:
            events.append(MessageEnd(EMPTY_BODY, ts, self._take_tags()))
            self.state = START
            return True
        if kind is BodyKind.TUNNEL:
            self._tag(TAG_UPGRADE)
            events.append(MessageEnd(EMPTY_BODY, ts, self._take_tags()))
            self.state = TUNNEL
            return True
        if type(head) is ResponseHead and method is None and head.status is not None:
            self._peek_body = True  # request unknown: a HEAD's answer has no body (see _fast_message)
        self._begin_body(frame, encodings)
        return True

    def _begin_body(self, frame: Framing, encodings: tuple[str, ...]) -> None:
        kind = frame.kind
        if kind is BodyKind.LENGTH and not encodings:
            # Plain Content-Length body: collected lazily, often straight from this segment.
            self._body = None
            self._remaining = frame.length
            self.state = BODY_LENGTH
            return
        self._body = BodyCollector(encodings, self.body_cap, self.wire_cap, self.max_decoded)
        if kind is BodyKind.LENGTH:
            self._remaining = frame.length
            self.state = BODY_LENGTH
        elif kind is BodyKind.CHUNKED:
            self.state = CHUNK_SIZE
        else:
            self._tag(TAG_CLOSE_DELIMITED)
            self.state = BODY_CLOSE

    def _peek_next_status(self, buf: bytes, pos: int, n: int, ts: float, events: list[Event]) -> int:
        """A response to an unknown request: is its body, in fact, the next response's status line?

        Returns -1 to wait for more bytes, 1 when the message was ended without a body, 0 when the
        body is a body."""
        if n - pos < 14 and could_be_status_line(buf[pos:n]):
            return -1
        self._peek_body = False
        if not RESPONSE_START.match(buf, pos):
            return 0
        self._remaining = 0
        if self._body is not None:
            self._body = None
        self._msg_tags = [t for t in self._msg_tags if t != TAG_CLOSE_DELIMITED] if self._msg_tags else None
        self._end_message(ts, events, truncated=False)
        self.state = START
        return 1

    def _bad_chunking(self, ts: float, events: list[Event]) -> None:
        """A chunk-size line that is not hex: treat the rest as close-delimited body (responses)."""
        self._tag(TAG_BAD_FRAMING)
        if self.is_response:
            self._tag(TAG_CLOSE_DELIMITED)
            self.state = BODY_CLOSE
        else:
            self._end_message(ts, events, truncated=True)
            self._enter_resync()

    def _take_tags(self) -> tuple[str, ...]:
        """The message's tags so far, for its end event; the list is reset."""
        tags = self._msg_tags
        self._msg_tags = None
        return tuple(tags) if tags else ()

    def _tag(self, tag: str) -> None:
        if self._msg_tags is None:
            self._msg_tags = [tag]
        else:
            self._msg_tags.append(tag)

    def _end_message(self, ts: float, events: list[Event], *, truncated: bool) -> None:
        tags = self._msg_tags if self._msg_tags is not None else []
        self._msg_tags = None
        self._peek_body = False
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
            trailers, _, bad = parse_headers(b"\n".join(self._trailers).decode("latin-1"))
            if bad:
                tags.append(TAG_BAD_HEADER)
            self._trailers = None
        events.append(MessageEnd(body, ts, tuple(dict.fromkeys(tags)) if tags else (), trailers))

    def _enter_resync(self) -> None:
        self.state = RESYNC
        self._head_ts = None
        self._peek_body = False

    def _resync(self, buf: bytes, pos: int, n: int, ts: float, events: list[Event]) -> int:
        """Skip to the next plausible message start; returns the new position."""
        if self.is_response:
            m = RESPONSE_START.search(buf, pos)
            start = m.start() if m is not None else -1
        else:
            start = find_request_start(buf, pos, n)
        if start >= 0:
            if start > pos:
                self._skip(start - pos, ts, events)
            if self._resync_skipped:
                if self._next_tags is None:
                    self._next_tags = [TAG_RESYNC]
                elif TAG_RESYNC not in self._next_tags:
                    self._next_tags.append(TAG_RESYNC)
            self._resync_skipped = 0
            self.state = START
            return start
        # No message start here. Keep a tail in case one straddles the next segment: a status
        # line's first 13 bytes, or a request line from its start (up to a target's bound).
        keep = min(n - pos, 13) if self.is_response else min(n - line_start(buf, pos, n), MAX_TARGET + 64)
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

    def _skip_counted(self, size: int, ts: float, events: list[Event], reason: str) -> None:
        if size <= 0:
            return
        self.skipped_bytes += size
        events.append(Skipped(size, ts, reason))
