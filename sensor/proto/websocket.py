"""Passive WebSocket reader (RFC 6455, RFC 7692 permessage-deflate), both directions.

Built from the upgrade handshake (the request's path and the response's negotiated extensions).
Frames are unmasked, fragments joined into messages, control frames (ping, pong, close with its
code) reported where they interleave, and compressed messages inflated per direction, keeping
the LZ77 window between messages unless ``*_no_context_takeover`` was agreed. A frame larger
than ``max_message`` is skipped (its length still counted); message data is capped at
``body_cap``; inflation stops at ``max_decoded`` (a bomb).
"""

from __future__ import annotations

import zlib
from collections import Counter
from dataclasses import dataclass

from sensor.proto.events import CLIENT, BoundedBuffer
from sensor.proto.upgrade import HttpHead

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0, 1, 2, 8, 9, 10
CONTROL_NAMES = {OP_CLOSE: "close", OP_PING: "ping", OP_PONG: "pong"}

TAG_UNMASKED_CLIENT = "unmasked_client_frame"  # a client frame without a mask (RFC 6455 forbids it)
TAG_MASKED_SERVER = "masked_server_frame"
TAG_BAD_OPCODE = "bad_opcode"  # reserved opcode, or continuation with no message open
TAG_FRAGMENTED_CONTROL = "fragmented_control_frame"
TAG_INFLATE_ERROR = "inflate_error"  # permessage-deflate data that does not inflate
TAG_TRUNCATED = "truncated_message"  # the connection ended (or a gap hit) inside a message
TAG_TOO_LARGE = "frame_too_large"  # a frame over the bound: skipped, length counted
TAG_BOMB = "decompression_bomb"
TAG_CAPPED = "body_capped"
TAG_BAD_UTF8 = "bad_utf8"  # a text message that is not UTF-8
TAG_RSV = "unexpected_rsv"  # RSV bits set without an extension that defines them


@dataclass(frozen=True, slots=True)
class WsMessage:
    side: int
    ts: float  # first frame
    end_ts: float
    opcode: int  # OP_TEXT or OP_BINARY
    data: bytes  # payload (inflated), capped at body_cap
    length: int  # payload length after inflation
    wire_length: int  # payload bytes on the wire (all fragments)
    fragments: int
    compressed: bool
    tags: tuple[str, ...] = ()

    @property
    def is_text(self) -> bool:
        return self.opcode == OP_TEXT

    @property
    def text(self) -> str | None:
        try:
            return self.data.decode("utf-8") if self.opcode == OP_TEXT else None
        except UnicodeDecodeError:
            return None


@dataclass(frozen=True, slots=True)
class WsControl:
    side: int
    ts: float
    kind: str  # "ping", "pong", "close"
    data: bytes
    close_code: int | None = None
    close_reason: str | None = None
    tags: tuple[str, ...] = ()


WsEvent = WsMessage | WsControl


@dataclass(frozen=True, slots=True)
class Deflate:
    """Negotiated permessage-deflate parameters (from the server's Sec-WebSocket-Extensions)."""

    client_no_context_takeover: bool = False
    server_no_context_takeover: bool = False
    client_max_window_bits: int = 15
    server_max_window_bits: int = 15


def negotiated_deflate(extensions: str | None) -> Deflate | None:
    if not extensions:
        return None
    for ext in extensions.split(","):
        parts = [p.strip() for p in ext.split(";")]
        if parts[0].lower() != "permessage-deflate":
            continue
        params: dict[str, str] = {}
        for p in parts[1:]:
            k, _, v = p.partition("=")
            params[k.strip().lower()] = v.strip().strip('"')

        return Deflate("client_no_context_takeover" in params, "server_no_context_takeover" in params,
                       _window_bits(params, "client_max_window_bits"), _window_bits(params, "server_max_window_bits"))
    return None


def _window_bits(params: dict[str, str], name: str) -> int:
    v = params.get(name, "")
    return int(v) if v.isdigit() and 8 <= int(v) <= 15 else 15


class _Dir:
    __slots__ = ("buf", "parts", "kept", "length", "wire", "opcode", "compressed", "fragments", "ts",
                 "tags", "inflater", "skip", "no_takeover", "wbits", "lost")

    def __init__(self, limit: int, no_takeover: bool, wbits: int) -> None:
        self.buf = BoundedBuffer(limit)
        self.parts: list[bytes] = []  # message payload so far (compressed when ``compressed``)
        self.kept = 0
        self.length = 0
        self.wire = 0
        self.opcode: int | None = None  # open message's opcode
        self.compressed = False
        self.fragments = 0
        self.ts = 0.0
        self.tags: list[str] = []
        self.inflater: zlib._Decompress | None = None
        self.skip = 0  # bytes of an oversized frame still to skip
        self.no_takeover = no_takeover
        self.wbits = wbits
        self.lost = False  # frame boundary lost (gap): nothing more can be parsed


class WebSocketReader:
    def __init__(self, *, path: str | None = None, host: str | None = None, subprotocol: str | None = None,
                 deflate: Deflate | None = None, max_message: int = 1 << 20, body_cap: int = 64 * 1024,
                 max_decoded: int = 32 * 1024 * 1024) -> None:
        self.path = path
        self.host = host
        self.subprotocol = subprotocol
        self.deflate = deflate
        self.max_message = max_message
        self.body_cap = body_cap
        self.max_decoded = max_decoded
        d = deflate or Deflate()
        self.dirs = (_Dir(max_message + 14, d.client_no_context_takeover, d.client_max_window_bits),
                     _Dir(max_message + 14, d.server_no_context_takeover, d.server_max_window_bits))
        self.counters: Counter[str] = Counter()
        self.close_codes: list[int] = []
        self._out: list[WsEvent] = []

    @classmethod
    def from_handshake(cls, request: HttpHead | None, response: HttpHead | None, **kw: int) -> WebSocketReader:
        path = request.start_line[1] if request is not None else None
        host = request.header("host") if request is not None else None
        ext = response.header("sec-websocket-extensions") if response is not None else None
        proto = response.header("sec-websocket-protocol") if response is not None else None
        return cls(path=path, host=host, subprotocol=proto, deflate=negotiated_deflate(ext), **kw)

    # -- input -------------------------------------------------------------------------------
    def feed(self, side: int, data: bytes, ts: float) -> list[WsEvent]:
        d = self.dirs[side]
        if d.lost:
            return []
        pos = 0
        if d.skip:
            take = min(d.skip, len(data))
            d.skip -= take
            pos = take
        if pos < len(data) and not d.buf.append(data[pos:]):
            self._lose(side, d)
            return self._take()
        self._frames(side, d, ts)
        return self._take()

    def feed_gap(self, side: int, size: int, ts: float) -> list[WsEvent]:
        d = self.dirs[side]
        self.counters["gap_bytes"] += size
        if d.skip >= size:
            d.skip -= size
            return []
        self._lose(side, d)
        return self._take()

    def close(self, ts: float) -> list[WsEvent]:
        for side in (0, 1):
            d = self.dirs[side]
            if d.opcode is not None:
                d.tags.append(TAG_TRUNCATED)
                self._end_message(side, d, ts)
        return self._take()

    # -- frames ------------------------------------------------------------------------------
    def _lose(self, side: int, d: _Dir) -> None:
        self.counters["lost_sync"] += 1
        if d.opcode is not None:
            d.tags.append(TAG_TRUNCATED)
            self._end_message(side, d, 0.0)
        d.buf.clear()
        d.lost = True

    def _frames(self, side: int, d: _Dir, ts: float) -> None:
        buf = d.buf
        while len(buf) >= 2:
            b0, b1 = buf.byte(0), buf.byte(1)
            fin, rsv, opcode = b0 & 0x80, b0 & 0x70, b0 & 0x0F
            masked = b1 & 0x80
            length = b1 & 0x7F
            head = 2
            if length == 126:
                if len(buf) < 4:
                    return
                length = int.from_bytes(buf.peek(2, 2), "big")
                head = 4
            elif length == 127:
                if len(buf) < 10:
                    return
                length = int.from_bytes(buf.peek(8, 2), "big") & 0x7FFFFFFFFFFFFFFF
                head = 10
            if masked:
                head += 4
            if len(buf) < head:
                return
            self.counters["frames"] += 1
            tags: list[str] = []
            if side == CLIENT and not masked:
                tags.append(TAG_UNMASKED_CLIENT)
            elif side != CLIENT and masked:
                tags.append(TAG_MASKED_SERVER)
            if length > self.max_message:
                self.counters["frames_too_large"] += 1
                buf.consume(head)
                have = min(len(buf), length)
                buf.consume(have)
                d.skip = length - have
                if opcode in (OP_TEXT, OP_BINARY, OP_CONT) and (d.opcode is not None or opcode):
                    if opcode:
                        self._begin(d, opcode, bool(rsv & 0x40), ts)
                    d.tags.append(TAG_TOO_LARGE)
                    d.wire += length
                    d.length += length
                    d.fragments += 1
                    if fin:
                        self._end_message(side, d, ts)
                continue
            if len(buf) < head + length:
                return
            key = buf.peek(4, head - 4) if masked else b""
            buf.consume(head)
            payload = buf.consume(length)
            if masked:
                payload = _unmask(payload, key)
            self._frame(side, d, fin, rsv, opcode, payload, tags, ts)

    def _frame(self, side: int, d: _Dir, fin: int, rsv: int, opcode: int, payload: bytes,
               tags: list[str], ts: float) -> None:
        if opcode >= 8:
            if opcode not in CONTROL_NAMES:
                self.counters["bad_opcode"] += 1
                return
            if not fin:
                tags.append(TAG_FRAGMENTED_CONTROL)
            kind = CONTROL_NAMES[opcode]
            self.counters["control_" + kind] += 1
            code: int | None = None
            reason: str | None = None
            if opcode == OP_CLOSE and len(payload) >= 2:
                code = int.from_bytes(payload[:2], "big")
                reason = payload[2:].decode("utf-8", "replace")
                self.close_codes.append(code)
            self._out.append(WsControl(side, ts, kind, payload[:125], code, reason, tuple(tags)))
            return
        if opcode in (OP_TEXT, OP_BINARY):
            if d.opcode is not None:  # a new message while one was open: the old one lost its end
                d.tags.append(TAG_TRUNCATED)
                self._end_message(side, d, ts)
            compressed = bool(rsv & 0x40) and self.deflate is not None
            if rsv & (0x30 if self.deflate is not None else 0x70):
                tags.append(TAG_RSV)
            self._begin(d, opcode, compressed, ts)
        elif opcode == OP_CONT:
            if d.opcode is None:
                self.counters["bad_opcode"] += 1
                return
        else:
            self.counters["bad_opcode"] += 1
            return
        d.tags.extend(tags)
        d.fragments += 1
        d.wire += len(payload)
        if d.kept < (self.max_message if d.compressed else self.body_cap):
            d.parts.append(payload)
            d.kept += len(payload)
        if not d.compressed:
            d.length += len(payload)
        if fin:
            self._end_message(side, d, ts)

    def _begin(self, d: _Dir, opcode: int, compressed: bool, ts: float) -> None:
        d.opcode = opcode
        d.compressed = compressed
        d.ts = ts
        d.parts = []
        d.kept = d.length = d.wire = d.fragments = 0

    def _end_message(self, side: int, d: _Dir, ts: float) -> None:
        opcode = d.opcode
        if opcode is None:
            return
        tags = list(d.tags)
        raw = b"".join(d.parts)
        data = raw
        length = d.length
        if d.compressed:
            data, length, itags = self._inflate(d, raw, complete=d.kept >= d.wire and TAG_TRUNCATED not in tags)
            tags.extend(itags)
        if length > len(data) or len(data) > self.body_cap:
            tags.append(TAG_CAPPED)
            data = data[: self.body_cap]
        if opcode == OP_TEXT and TAG_CAPPED not in tags and TAG_TRUNCATED not in tags:
            try:
                data.decode("utf-8")
            except UnicodeDecodeError:
                tags.append(TAG_BAD_UTF8)
        self.counters["messages_text" if opcode == OP_TEXT else "messages_binary"] += 1
        self._out.append(WsMessage(side, d.ts, ts or d.ts, opcode, data, length, d.wire, d.fragments, d.compressed,
                                   tuple(dict.fromkeys(tags))))
        d.opcode = None
        d.parts = []
        d.tags = []
        d.kept = d.length = d.wire = d.fragments = 0

    def _inflate(self, d: _Dir, raw: bytes, *, complete: bool) -> tuple[bytes, int, list[str]]:
        if d.inflater is None or d.no_takeover:
            d.inflater = zlib.decompressobj(-d.wbits)
        tags: list[str] = []
        out: list[bytes] = []
        kept = total = 0
        pending = raw + (b"\x00\x00\xff\xff" if complete else b"")
        try:
            while pending:
                chunk = d.inflater.decompress(pending, 64 * 1024)
                pending = d.inflater.unconsumed_tail
                total += len(chunk)
                if kept < self.body_cap:
                    out.append(chunk[: self.body_cap - kept])
                    kept += len(out[-1])
                if total >= self.max_decoded:
                    tags.append(TAG_BOMB)
                    d.inflater = None  # its window is no longer followable
                    break
                if not chunk and not pending:
                    break
        except zlib.error:
            tags.append(TAG_INFLATE_ERROR)
            self.counters["inflate_errors"] += 1
            d.inflater = None  # context lost: later messages of this direction may fail too
            return raw[: self.body_cap], len(raw), tags
        if not complete:
            d.inflater = None
        return b"".join(out), total, tags

    def _take(self) -> list[WsEvent]:
        out, self._out = self._out, []
        return out


def _unmask(payload: bytes, key: bytes) -> bytes:
    n = len(payload)
    if not n:
        return payload
    mask = int.from_bytes((key * (n // 4 + 1))[:n], "big")
    return (int.from_bytes(payload, "big") ^ mask).to_bytes(n, "big")
