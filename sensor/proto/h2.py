"""Passive HTTP/2 reader (RFC 9113): both directions of one connection in, exchanges out.

Frames are split here rather than with ``hyperframe`` (bench/proto_h2.py measured it: building a
frame object per frame is slower, and it raises on what a passive reader must tolerate, such as
bad padding); header blocks go through ``sensor.proto.hpack_state`` (one HPACK decoder per
direction, tolerant of a connection joined mid-way). ``h2``'s state machine is for endpoints:
it enforces rules and raises, a sensor must note and go on.

Per stream, request and response (HEADERS + CONTINUATION, DATA with padding, trailers) are
assembled into one ``H2Exchange`` when both sides ended the stream, it was reset, or the
connection closed. DATA is consumed as it arrives (never a whole frame buffered), bodies are
capped, gRPC messages are framed on the fly. Bounds: a non-DATA frame larger than
``max_frame`` is skipped (tagged), header blocks are capped at ``max_header_block``, at most
``max_streams`` open streams (the oldest is emitted incomplete beyond that).
"""

from __future__ import annotations

import contextlib
from collections import Counter
from dataclasses import dataclass

from sensor.content import BodyCollector, parse_content_encoding
from sensor.proto.detect import H2_PREFACE, h2_frame_plausible
from sensor.proto.events import CLIENT, SERVER, BoundedBuffer, Headers, first_header
from sensor.proto.grpc import GrpcFramer, GrpcFraming, is_grpc_content_type, looks_like_grpc_data
from sensor.proto.hpack_state import HpackDecoder
from sensor.records import (
    TAG_BODY_CAPPED,
    TAG_GAP,
    TAG_MID_STREAM,
    TAG_MISSING_REQUEST,
    TAG_MISSING_RESPONSE,
    Body,
)

DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = range(10)
FRAME_NAMES = ("data", "headers", "priority", "rst_stream", "settings", "push_promise", "ping", "goaway",
               "window_update", "continuation")
END_STREAM, ACK, END_HEADERS, PADDED, PRIORITY_FLAG = 0x1, 0x1, 0x4, 0x8, 0x20
SETTINGS_HEADER_TABLE_SIZE, SETTINGS_INITIAL_WINDOW_SIZE, SETTINGS_MAX_FRAME_SIZE = 1, 4, 5
ERROR_NAMES = ("NO_ERROR", "PROTOCOL_ERROR", "INTERNAL_ERROR", "FLOW_CONTROL_ERROR", "SETTINGS_TIMEOUT",
               "STREAM_CLOSED", "FRAME_SIZE_ERROR", "REFUSED_STREAM", "CANCEL", "COMPRESSION_ERROR",
               "CONNECT_ERROR", "ENHANCE_YOUR_CALM", "INADEQUATE_SECURITY", "HTTP_1_1_REQUIRED")

# Tags (stream level unless said otherwise)
TAG_RESET = "stream_reset"  # RST_STREAM ended the stream (code in reset_code)
TAG_HEADERS_UNDECODABLE = "hpack_unknown_reference"  # header(s) referenced table entries never seen
TAG_HPACK_ERROR = "hpack_error"  # a header block was malformed
TAG_BAD_PADDING = "bad_padding"  # pad length larger than the frame
TAG_FRAME_TOO_LARGE = "frame_too_large"  # a frame over the bound was skipped
TAG_HEADER_BLOCK_LOST = "header_block_lost"  # CONTINUATION missing/interrupted, or block over the bound
TAG_PUSHED = "pushed"  # server push (PUSH_PROMISE); the request is the promise
TAG_FLOW_CONTROL = "flow_control_exceeded"  # DATA beyond the receiver's advertised window
TAG_RESYNC = "resync"  # frame boundary lost (garbage or gap) and found again
TAG_EVICTED = "evicted"  # too many open streams: emitted before it ended
TAG_MISSING_HEADERS = "missing_headers"  # DATA on a stream whose HEADERS were not captured

DEFAULT_WINDOW = 65535


@dataclass(frozen=True, slots=True)
class H2Exchange:
    stream_id: int
    method: str | None
    path: str | None
    authority: str | None
    scheme: str | None
    status: int | None
    request_headers: Headers  # regular fields in order (pseudo-headers are the fields above)
    response_headers: Headers
    request_trailers: Headers
    response_trailers: Headers
    request_body: Body
    response_body: Body
    ts: float | None  # first frame of the request
    response_ts: float | None  # first frame of the final response
    end_ts: float | None
    interim_statuses: tuple[int, ...] = ()
    reset_code: int | None = None
    reset_by: int | None = None  # side that sent RST_STREAM
    pushed_by: int | None = None  # stream whose PUSH_PROMISE opened this one
    request_grpc: GrpcFraming | None = None
    response_grpc: GrpcFraming | None = None
    request_frames: int = 0  # DATA frames
    response_frames: int = 0
    tags: tuple[str, ...] = ()

    @property
    def reset_name(self) -> str | None:
        if self.reset_code is None:
            return None
        return ERROR_NAMES[self.reset_code] if self.reset_code < len(ERROR_NAMES) else f"0x{self.reset_code:x}"


@dataclass(frozen=True, slots=True)
class H2Settings:
    side: int
    ts: float
    settings: tuple[tuple[int, int], ...]
    ack: bool


@dataclass(frozen=True, slots=True)
class H2GoAway:
    side: int
    ts: float
    last_stream_id: int
    error_code: int
    debug: bytes


H2Event = H2Exchange | H2Settings | H2GoAway


class _Half:
    """One direction of one stream."""

    __slots__ = ("headers", "pseudo", "trailers", "body", "grpc", "ended", "ts", "frames", "tags",
                 "window", "interim", "seen_headers")

    def __init__(self, window: int) -> None:
        self.headers: Headers = ()
        self.pseudo: dict[str, str] = {}
        self.trailers: Headers = ()
        self.body: BodyCollector | None = None
        self.grpc: GrpcFramer | None = None
        self.ended = False
        self.ts: float | None = None
        self.frames = 0
        self.tags: list[str] = []
        self.window = window
        self.interim: list[int] = []
        self.seen_headers = False


class _Stream:
    __slots__ = ("sid", "halves", "reset_code", "reset_by", "pushed_by", "end_ts", "tags", "first_ts")

    def __init__(self, sid: int, windows: tuple[int, int], ts: float) -> None:
        self.sid = sid
        self.halves = (_Half(windows[0]), _Half(windows[1]))
        self.reset_code: int | None = None
        self.reset_by: int | None = None
        self.pushed_by: int | None = None
        self.end_ts: float | None = None
        self.tags: list[str] = []
        self.first_ts = ts


# Direction states
_PREFACE, _HEADER, _PAYLOAD, _DATA, _SKIP, _SYNC = range(6)


class _Dir:
    __slots__ = ("buf", "state", "length", "ftype", "flags", "sid", "remaining", "pad", "data_started",
                 "hpack", "block", "block_sid", "block_flags", "block_promised", "block_size", "block_lost",
                 "window", "initial_window", "synced_once", "frames")

    def __init__(self, state: int, buffer_limit: int, complete: bool) -> None:
        self.buf = BoundedBuffer(buffer_limit)
        self.state = state
        self.length = self.ftype = self.flags = self.sid = 0
        self.remaining = 0  # DATA/SKIP bytes still to come in the current frame
        self.pad = 0  # padding bytes at the end of the current DATA frame
        self.data_started = False  # pad-length byte of a PADDED DATA frame consumed
        self.hpack = HpackDecoder(complete=complete)
        self.block: list[bytes] = []  # header block fragments awaiting END_HEADERS
        self.block_sid = 0
        self.block_flags = 0
        self.block_promised = 0  # PUSH_PROMISE's promised stream, or 0 for HEADERS
        self.block_size = 0
        self.block_lost = False
        # Flow control as the *receiver* of this direction advertised it (only when seen from the start).
        self.window = DEFAULT_WINDOW
        self.initial_window = DEFAULT_WINDOW
        self.synced_once = state != _SYNC
        self.frames = 0


class H2Reader:
    """Sans-I/O passive HTTP/2 reader. Side 0 (CLIENT) opened the connection.

    ``prior_knowledge``: the client side starts with the connection preface. ``from_start``: the
    connection was followed from its first byte (HPACK state complete, flow control checkable);
    otherwise the reader joins mid-connection. ``synced``: byte 0 of each side is a frame
    boundary (detection found frames there); when False the reader scans for one.
    """

    def __init__(self, *, prior_knowledge: bool = True, from_start: bool = True, synced: bool = True,
                 body_cap: int = 64 * 1024, max_decoded: int = 32 * 1024 * 1024, max_frame: int = 1 << 20,
                 max_header_block: int = 256 * 1024, max_streams: int = 1024, grpc_keep: int = 16) -> None:
        self.body_cap = body_cap
        self.max_decoded = max_decoded
        self.wire_cap = max(body_cap, 2 * 1024 * 1024)
        self.max_frame = max_frame
        self.max_header_block = max_header_block
        self.max_streams = max_streams
        self.grpc_keep = grpc_keep
        self.from_start = from_start
        # The client side always starts by looking for the preface: after an Upgrade or inside a
        # CONNECT tunnel it comes whether or not the detection saw it.
        client_state = _PREFACE if prior_knowledge or synced else _SYNC
        self.expect_preface = prior_knowledge
        server_state = _HEADER if synced or from_start else _SYNC
        self.dirs = (_Dir(client_state, max_frame + 9, from_start), _Dir(server_state, max_frame + 9, from_start))
        self.streams: dict[int, _Stream] = {}
        self.max_sid = [0, 0]  # highest stream id opened per initiator parity (odd: client, even: push)
        self.counters: Counter[str] = Counter()
        self.settings: list[dict[int, int]] = [{}, {}]
        self.settings_seen = 0  # bit per side: its first SETTINGS was seen (flow control is then checkable)
        self.goaway: H2GoAway | None = None
        self.preface_seen = False
        self._out: list[H2Event] = []
        self._now = 0.0

    # -- input -------------------------------------------------------------------------------
    def feed(self, side: int, data: bytes, ts: float) -> list[H2Event]:
        self._now = ts
        d = self.dirs[side]
        pos = 0
        n = len(data)
        while pos < n:
            st = d.state
            if st == _DATA:
                pos = self._data_bytes(side, d, data, pos, ts)
            elif st == _SKIP:
                take = min(d.remaining, n - pos)
                d.remaining -= take
                pos += take
                if d.remaining == 0:
                    d.state = _HEADER
            else:
                if not d.buf.append(data[pos:]):
                    # Only a bounded frame can be waiting here, so this is garbage: start over.
                    self.counters["buffer_overflow"] += 1
                    d.buf.clear()
                    d.state = _SYNC
                    if not d.buf.append(data[pos: pos + d.buf.limit]):
                        return self._take()
                pos = n
                self._frames(side, d, ts)
                if d.state in (_DATA, _SKIP) and len(d.buf):
                    # A DATA (or skipped) frame's payload follows in the buffer: stream it from there.
                    data = d.buf.consume(len(d.buf))
                    pos, n = 0, len(data)
        return self._take()

    def feed_gap(self, side: int, size: int, ts: float) -> list[H2Event]:
        """``size`` bytes of this direction were never captured."""
        self._now = ts
        d = self.dirs[side]
        self.counters["gap_bytes"] += size
        if d.state == _DATA and size <= d.remaining - d.pad:
            # Lost inside one DATA frame: the frame boundary survives, the body has a hole.
            stream = self.streams.get(d.sid)
            if stream is not None:
                half = stream.halves[side]
                half.tags.append(TAG_GAP)
                if half.body is not None:
                    half.body.wire_length += size
                if half.grpc is not None:
                    half.grpc.gap(size)
            d.remaining -= size
            if d.remaining == 0:
                self._end_data_frame(side, d, ts)
            return self._take()
        if d.state == _SKIP and size <= d.remaining:
            d.remaining -= size
            if d.remaining == 0:
                d.state = _HEADER
            return self._take()
        # The frame boundary is lost: every stream this side was sending has a hole.
        for stream in self.streams.values():
            half = stream.halves[side]
            if not half.ended:
                half.tags.append(TAG_GAP)
                if half.grpc is not None:
                    half.grpc.gap(size)
        if d.block:
            self._lose_block(d)
        d.buf.clear()
        d.state = _SYNC
        d.hpack.complete = False
        return self._take()

    def close(self, ts: float) -> list[H2Event]:
        """End of the connection: every stream still open is emitted, tagged for what is missing."""
        self._now = ts
        for sid in list(self.streams):
            self._emit(self.streams.pop(sid), ts)
        return self._take()

    def upgrade(self, method: str, path: str, authority: str | None, headers: Headers, body: Body,
                ts: float) -> None:
        """h2c by Upgrade: the HTTP/1.1 request that carried ``Upgrade: h2c`` is stream 1's request.

        Call it when the 101 response is seen; the reader must have been built with
        ``prior_knowledge=True`` (the client still sends the preface after the 101).
        """
        stream = self._open(1, ts)
        half = stream.halves[CLIENT]
        half.pseudo = {":method": method, ":path": path, ":scheme": "http"}
        if authority:
            half.pseudo[":authority"] = authority
        half.headers = tuple(h for h in headers if h[0].lower() not in ("upgrade", "http2-settings", "connection"))
        half.seen_headers = True
        half.ts = ts
        half.ended = True
        collector = BodyCollector((), self.body_cap, self.wire_cap, self.max_decoded)
        collector.feed(body.data)
        collector.wire_length = body.wire_length
        half.body = collector
        stream.tags.append("h2c_upgrade")

    # -- frames ------------------------------------------------------------------------------
    def _frames(self, side: int, d: _Dir, ts: float) -> None:
        buf = d.buf
        while True:
            st = d.state
            if st == _PREFACE:
                have = min(len(buf), len(H2_PREFACE))
                head = buf.peek(have)
                if head == H2_PREFACE[:have]:
                    if have < len(H2_PREFACE):
                        return
                    buf.consume(len(H2_PREFACE))
                    self.preface_seen = True
                    d.state = _HEADER
                    continue
                if self.expect_preface:
                    self.counters["preface_missing"] += 1
                d.state = _HEADER if h2_frame_plausible(buf.peek(9)) >= 0 else _SYNC
                continue
            if st == _SYNC:
                if not self._resync(d):
                    return
                continue
            if st == _HEADER:
                if len(buf) < 9:
                    return
                h = buf.peek(9)
                length = h[0] << 16 | h[1] << 8 | h[2]
                d.length, d.ftype, d.flags = length, h[3], h[4]
                d.sid = (h[5] & 0x7F) << 24 | h[6] << 16 | h[7] << 8 | h[8]
                buf.consume(9)
                d.frames += 1
                self.counters["frames_" + (FRAME_NAMES[d.ftype] if d.ftype < 10 else "unknown")] += 1
                if d.ftype == DATA:
                    self._start_data(side, d, ts)
                    return  # the caller streams the payload
                if length > self.max_frame or d.ftype >= 10:
                    if d.ftype < 10:
                        self.counters["frames_too_large"] += 1
                        self._frame_too_large(side, d)
                    d.state = _SKIP
                    d.remaining = length
                    if length == 0:
                        d.state = _HEADER
                    return
                d.state = _PAYLOAD
                continue
            if st == _PAYLOAD:
                if len(buf) < d.length:
                    return
                payload = buf.consume(d.length)
                d.state = _HEADER
                self._frame(side, d, payload, ts)
                continue
            return

    def _resync(self, d: _Dir) -> bool:
        """Find the next frame boundary in the buffer: a plausible header followed by another one
        (or by the end of the data). False: wait for more bytes."""
        buf = d.buf
        data = buf.peek(len(buf))
        n = len(data)
        for pos in range(n - 8):
            size = h2_frame_plausible(data, pos, self.max_frame)
            if size < 0:
                continue
            end = pos + size
            if end == n or (end + 9 <= n and h2_frame_plausible(data, end, self.max_frame) >= 0):
                if pos:
                    self.counters["skipped_bytes"] += pos
                if d.synced_once or pos:
                    self.counters["resync"] += 1
                d.synced_once = True
                buf.consume(pos)
                d.state = _HEADER
                return True
            if end > n and n < buf.limit // 2 and pos == 0:
                return False  # could be the frame we want: wait for the rest of it
        keep = min(n, 8)
        if n > keep:
            self.counters["skipped_bytes"] += n - keep
            buf.consume(n - keep)
        return False

    def _frame(self, side: int, d: _Dir, payload: bytes, ts: float) -> None:
        ftype, flags, sid = d.ftype, d.flags, d.sid
        if d.block and ftype != CONTINUATION:
            self.counters["continuation_missing"] += 1
            self._lose_block(d)
        if ftype in (HEADERS, PUSH_PROMISE):
            if not sid:
                self.counters["protocol_errors"] += 1
                return
            start = 0
            end = len(payload)
            if flags & PADDED:
                if not payload or payload[0] >= end:
                    self.counters["bad_padding"] += 1
                    self._tag_stream(sid, side, TAG_BAD_PADDING)
                    d.hpack.complete = False  # the block is lost, so are its table insertions
                    return
                end -= payload[0]
                start = 1
            promised = 0
            if ftype == PUSH_PROMISE:
                if end - start < 4:
                    self.counters["protocol_errors"] += 1
                    return
                promised = int.from_bytes(payload[start: start + 4], "big") & 0x7FFFFFFF
                start += 4
            elif flags & PRIORITY_FLAG:
                start += 5
                self.counters["priority_fields"] += 1
            if start > end:
                self.counters["protocol_errors"] += 1
                return
            d.block = [payload[start:end]]
            d.block_sid, d.block_flags, d.block_promised = sid, flags, promised
            d.block_size = end - start
            d.block_lost = False
            if flags & END_HEADERS:
                self._header_block(side, d, ts)
        elif ftype == CONTINUATION:
            if not d.block or sid != d.block_sid:
                self.counters["continuation_unexpected"] += 1
                if d.block:
                    self._lose_block(d)
                return
            d.block_size += len(payload)
            if d.block_size > self.max_header_block:
                d.block_lost = True
            else:
                d.block.append(payload)
            if flags & END_HEADERS:
                self._header_block(side, d, ts)
        elif ftype == SETTINGS:
            self._settings(side, flags, payload, ts)
        elif ftype == RST_STREAM:
            if len(payload) == 4 and sid:
                stream = self.streams.get(sid)
                if stream is None:
                    stream = self._stream_for(sid, side, ts, create=True)
                if stream is not None:
                    stream.reset_code = int.from_bytes(payload, "big")
                    stream.reset_by = side
                    stream.end_ts = ts
                    self.counters["streams_reset"] += 1
                    self._emit(self.streams.pop(sid), ts)
            else:
                self.counters["protocol_errors"] += 1
        elif ftype == GOAWAY:
            if len(payload) >= 8:
                last = int.from_bytes(payload[:4], "big") & 0x7FFFFFFF
                code = int.from_bytes(payload[4:8], "big")
                ev = H2GoAway(side, ts, last, code, payload[8:200])
                self.goaway = ev
                self._out.append(ev)
        elif ftype == WINDOW_UPDATE and len(payload) == 4:
            inc = int.from_bytes(payload, "big") & 0x7FFFFFFF
            # Sent by ``side`` as receiver: widens the window of the other direction.
            other = 1 - side
            if sid == 0:
                self.dirs[other].window += inc
            else:
                stream = self.streams.get(sid)
                if stream is not None:
                    stream.halves[other].window += inc
        # PRIORITY and PING carry nothing an inventory needs: counted above.

    def _settings(self, side: int, flags: int, payload: bytes, ts: float) -> None:
        if flags & ACK:
            self._out.append(H2Settings(side, ts, (), True))
            return
        self.settings_seen |= 1 << side
        values: list[tuple[int, int]] = []
        for i in range(0, len(payload) - 5, 6):
            ident = int.from_bytes(payload[i: i + 2], "big")
            value = int.from_bytes(payload[i + 2: i + 6], "big")
            values.append((ident, value))
            self.settings[side][ident] = value
            if ident == SETTINGS_HEADER_TABLE_SIZE:
                # The limit ``side`` sets is for the table of the blocks it *receives*.
                self.dirs[1 - side].hpack.set_limit(value)
            elif ident == SETTINGS_INITIAL_WINDOW_SIZE:
                other = self.dirs[1 - side]
                delta = value - other.initial_window
                other.initial_window = value
                for stream in self.streams.values():
                    stream.halves[1 - side].window += delta
        self._out.append(H2Settings(side, ts, tuple(values), False))

    def _header_block(self, side: int, d: _Dir, ts: float) -> None:
        block, sid, flags, promised = d.block, d.block_sid, d.block_flags, d.block_promised
        d.block = []
        if d.block_lost:
            self.counters["header_blocks_lost"] += 1
            self._tag_stream(sid, side, TAG_HEADER_BLOCK_LOST)
            d.hpack.complete = False
            d.hpack.entries.clear()
            d.hpack.size = 0
            return
        result = d.hpack.decode(b"".join(block) if len(block) != 1 else block[0])
        self.counters["header_blocks"] += 1
        if result.unknown:
            self.counters["hpack_unknown_references"] += result.unknown
        if result.error:
            self.counters["hpack_errors"] += 1
        pseudo: dict[str, str] = {}
        regular: list[tuple[str, str]] = []
        for name, value in result.headers:
            if name.startswith(":"):
                pseudo.setdefault(name, value)
            else:
                regular.append((name, value))
        tags: list[str] = []
        if result.unknown:
            tags.append(TAG_HEADERS_UNDECODABLE)
        if result.error:
            tags.append(TAG_HPACK_ERROR)
        if promised:
            # PUSH_PROMISE: the promised stream's request, sent by the server.
            self.counters["push_promises"] += 1
            pstream = self._open(promised, ts)
            pstream.pushed_by = sid
            pstream.tags.append(TAG_PUSHED)
            half = pstream.halves[CLIENT]
            half.pseudo, half.headers, half.ts, half.ended, half.seen_headers = pseudo, tuple(regular), ts, True, True
            half.tags.extend(tags)
            return
        stream = self._stream_for(sid, side, ts, create=True)
        if stream is None:
            return
        half = stream.halves[side]
        half.tags.extend(tags)
        status = pseudo.get(":status")
        if side == SERVER and status is not None and status[:1] == "1" and status != "101":
            with contextlib.suppress(ValueError):
                half.interim.append(int(status))
            return
        if not half.seen_headers:
            half.seen_headers = True
            half.pseudo, half.headers = pseudo, tuple(regular)
            if half.ts is None:
                half.ts = ts
            encodings = parse_content_encoding([v for k, v in regular if k == "content-encoding"])
            if half.body is None:
                half.body = BodyCollector(encodings, self.body_cap, self.wire_cap, self.max_decoded)
            ctype = first_header(half.headers, "content-type")
            other = stream.halves[1 - side]
            if is_grpc_content_type(ctype) or (other.grpc is not None and half.grpc is None):
                half.grpc = self._framer(half.headers)
        else:
            half.trailers = half.trailers + tuple(regular)
            if not flags & END_STREAM:
                self.counters["trailers_without_end_stream"] += 1
        if flags & END_STREAM:
            self._end_half(stream, side, ts)

    def _framer(self, headers: Headers) -> GrpcFramer:
        return GrpcFramer(first_header(headers, "grpc-encoding"), keep=self.grpc_keep, cap=self.body_cap,
                          max_decoded=self.max_decoded)

    def _lose_block(self, d: _Dir) -> None:
        self.counters["header_blocks_lost"] += 1
        self._tag_stream(d.block_sid, self.dirs.index(d), TAG_HEADER_BLOCK_LOST)
        d.block = []
        d.hpack.complete = False
        d.hpack.entries.clear()
        d.hpack.size = 0

    def _frame_too_large(self, side: int, d: _Dir) -> None:
        if d.ftype in (HEADERS, PUSH_PROMISE, CONTINUATION):
            self._tag_stream(d.sid, side, TAG_FRAME_TOO_LARGE)
            d.hpack.complete = False
            d.hpack.entries.clear()
            d.hpack.size = 0
            d.block = []

    # -- DATA --------------------------------------------------------------------------------
    def _start_data(self, side: int, d: _Dir, ts: float) -> None:
        d.remaining = d.length
        d.pad = 0
        d.data_started = not d.flags & PADDED
        if self.from_start and self.preface_seen and self.settings_seen == 3:
            d.window -= d.length
            stream = self.streams.get(d.sid)
            if stream is not None:
                half = stream.halves[side]
                half.window -= d.length
                if half.window < 0 or d.window < 0:
                    half.tags.append(TAG_FLOW_CONTROL)
                    self.counters["flow_control_exceeded"] += 1
        if d.length == 0:
            self._end_data_frame(side, d, ts)
            return
        d.state = _DATA

    def _data_bytes(self, side: int, d: _Dir, data: bytes, pos: int, ts: float) -> int:
        if not d.data_started:
            d.pad = data[pos]
            d.data_started = True
            pos += 1
            d.remaining -= 1
            if d.pad > d.remaining:
                self.counters["bad_padding"] += 1
                self._tag_stream(d.sid, side, TAG_BAD_PADDING)
                d.pad = d.remaining
            if d.remaining == 0:
                self._end_data_frame(side, d, ts)
                return pos
        take = min(d.remaining, len(data) - pos)
        body_take = max(0, min(take, d.remaining - d.pad))
        if body_take:
            self._body(side, d.sid, data[pos: pos + body_take], ts)
        pos += take
        d.remaining -= take
        if d.remaining == 0:
            self._end_data_frame(side, d, ts)
        return pos

    def _body(self, side: int, sid: int, chunk: bytes, ts: float) -> None:
        stream = self._stream_for(sid, side, ts, create=True)
        if stream is None:
            return
        half = stream.halves[side]
        if half.ts is None:
            half.ts = ts
        if half.body is None:
            half.body = BodyCollector((), self.body_cap, self.wire_cap, self.max_decoded)
            if not half.seen_headers and half.grpc is None and looks_like_grpc_data(chunk):
                half.grpc = self._framer(())
        half.body.feed(chunk)
        if half.grpc is not None:
            half.grpc.feed(chunk)

    def _end_data_frame(self, side: int, d: _Dir, ts: float) -> None:
        d.state = _HEADER
        stream = self.streams.get(d.sid) or self._stream_for(d.sid, side, ts, create=True)
        if stream is None:
            return
        half = stream.halves[side]
        half.frames += 1
        if half.ts is None:
            half.ts = ts
        if d.flags & END_STREAM:
            self._end_half(stream, side, ts)

    # -- streams -----------------------------------------------------------------------------
    def _open(self, sid: int, ts: float) -> _Stream:
        stream = _Stream(sid, (self.dirs[CLIENT].initial_window, self.dirs[SERVER].initial_window), ts)
        self.streams[sid] = stream
        parity = sid & 1
        if sid > self.max_sid[parity]:
            self.max_sid[parity] = sid
        self.counters["streams"] += 1
        if len(self.streams) > self.max_streams:
            oldest = min(self.streams.values(), key=lambda s: s.first_ts)
            oldest.tags.append(TAG_EVICTED)
            self.counters["streams_evicted"] += 1
            self._emit(self.streams.pop(oldest.sid), ts)
        return stream

    def _stream_for(self, sid: int, side: int, ts: float, *, create: bool) -> _Stream | None:
        stream = self.streams.get(sid)
        if stream is not None or not create or sid == 0:
            return stream
        if sid <= self.max_sid[sid & 1]:
            self.counters["frames_on_closed_streams"] += 1  # late frame of a stream already emitted
            return None
        stream = self._open(sid, ts)
        if side == SERVER and sid & 1:
            stream.tags.append(TAG_MISSING_REQUEST)  # started before the capture
        return stream

    def _tag_stream(self, sid: int, side: int, tag: str) -> None:
        stream = self.streams.get(sid)
        if stream is not None:
            stream.halves[side].tags.append(tag)

    def _end_half(self, stream: _Stream, side: int, ts: float) -> None:
        stream.halves[side].ended = True
        stream.end_ts = ts
        if stream.halves[CLIENT].ended and stream.halves[SERVER].ended:
            self._emit(self.streams.pop(stream.sid), ts)

    def _emit(self, stream: _Stream, ts: float) -> None:
        req, resp = stream.halves
        tags = list(stream.tags)
        if not self.from_start and not self.preface_seen:
            tags.append(TAG_MID_STREAM)
        if not req.seen_headers and stream.pushed_by is None:
            if TAG_MISSING_REQUEST not in tags and (req.body is None and not req.ended):
                tags.append(TAG_MISSING_REQUEST)
            elif req.body is not None:
                tags.append(TAG_MISSING_HEADERS)
        if not resp.seen_headers and not resp.interim:
            if resp.body is None and stream.reset_code is None:
                tags.append(TAG_MISSING_RESPONSE)
            elif resp.body is not None:
                tags.append(TAG_MISSING_HEADERS)
        if stream.reset_code is not None:
            tags.append(TAG_RESET)
        bodies: list[Body] = []
        for half in (req, resp):
            tags.extend(half.tags)
            if half.body is None:
                bodies.append(Body())
                continue
            body, btags = half.body.finish()
            bodies.append(body)
            tags.extend(t for t in btags if t != TAG_BODY_CAPPED or body.length > len(body.data))
        status_raw = resp.pseudo.get(":status")
        status: int | None
        try:
            status = int(status_raw) if status_raw is not None else None
        except ValueError:
            status = None
        self.counters["exchanges"] += 1
        self._out.append(H2Exchange(
            stream_id=stream.sid,
            method=req.pseudo.get(":method"),
            path=req.pseudo.get(":path"),
            authority=req.pseudo.get(":authority") or first_header(req.headers, "host"),
            scheme=req.pseudo.get(":scheme"),
            status=status,
            request_headers=req.headers,
            response_headers=resp.headers,
            request_trailers=req.trailers,
            response_trailers=resp.trailers,
            request_body=bodies[0],
            response_body=bodies[1],
            ts=req.ts if req.ts is not None else stream.first_ts,
            response_ts=resp.ts,
            end_ts=stream.end_ts or ts,
            interim_statuses=tuple(resp.interim),
            reset_code=stream.reset_code,
            reset_by=stream.reset_by,
            pushed_by=stream.pushed_by,
            request_grpc=req.grpc.finish() if req.grpc is not None else None,
            response_grpc=resp.grpc.finish() if resp.grpc is not None else None,
            request_frames=req.frames,
            response_frames=resp.frames,
            tags=tuple(dict.fromkeys(tags)),
        ))

    def _take(self) -> list[H2Event]:
        out, self._out = self._out, []
        return out
