"""Passive Dubbo (dubbo:// protocol, 16-byte header) reader: calls paired by request id.

Header: magic 0xdabb, flag (0x80 request, 0x40 two-way, 0x20 event, low 5 bits serialization),
status, 8-byte request id, 4-byte body length. A request body (Hessian 2, or Kryo strings) starts
with the Dubbo version, service path, service version, method name and parameter-type
descriptor, then the arguments and an attachments map. Responses carry a status byte (20 = OK)
and a response-type flag. Heartbeats are events. A body larger than ``max_message`` is skipped
(length counted); the call keeps what the header said.
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from dataclasses import dataclass
from typing import Any

from sensor.proto.events import BoundedBuffer
from sensor.proto.hessian2 import HessianDecoder, HessianError

MAGIC = b"\xda\xbb"
HEADER = 16
FLAG_REQUEST, FLAG_TWOWAY, FLAG_EVENT = 0x80, 0x40, 0x20
SERIALIZATIONS = {2: "hessian2", 3: "java", 4: "compactedjava", 6: "fastjson", 7: "nativejava", 8: "kryo",
                  9: "fst", 10: "native-hessian", 11: "native-java", 12: "protostuff", 16: "avro",
                  21: "protobuf", 22: "protobuf-json", 23: "fastjson2"}
STATUS_NAMES = {20: "OK", 30: "CLIENT_TIMEOUT", 31: "SERVER_TIMEOUT", 35: "CHANNEL_INACTIVE", 40: "BAD_REQUEST",
                50: "BAD_RESPONSE", 60: "SERVICE_NOT_FOUND", 70: "SERVICE_ERROR", 80: "SERVER_ERROR",
                90: "CLIENT_ERROR", 100: "SERVER_THREADPOOL_EXHAUSTED_ERROR"}
RESPONSE_TYPES = {0: "exception", 1: "value", 2: "null", 3: "exception", 4: "value", 5: "null"}

TAG_BAD_MAGIC = "resync"  # bytes that were not a Dubbo header were skipped
TAG_BODY_UNDECODED = "body_undecoded"  # serialization we cannot read, or a malformed body
TAG_TOO_LARGE = "body_too_large"
TAG_MISSING_RESPONSE = "missing_response"
TAG_MISSING_REQUEST = "missing_request"
TAG_APP_EXCEPTION = "exception"  # the response carried an exception


@dataclass(frozen=True, slots=True)
class DubboMessage:
    side: int
    ts: float
    request_id: int
    is_request: bool
    two_way: bool
    event: bool  # heartbeat / readonly events
    serialization: str
    status: int | None  # responses only
    body_length: int
    dubbo_version: str | None = None
    service: str | None = None
    service_version: str | None = None
    method: str | None = None
    parameter_types: str | None = None
    arguments: tuple[Any, ...] = ()
    attachments: tuple[tuple[str, str], ...] = ()
    response_type: str | None = None  # "value", "null", "exception"
    result: Any = None
    tags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class DubboExchange:
    request_id: int
    request: DubboMessage | None
    response: DubboMessage | None
    tags: tuple[str, ...] = ()

    @property
    def endpoint(self) -> str | None:
        req = self.request
        if req is None or not req.service or not req.method:
            return None
        return f"{req.service}/{req.method}"

    @property
    def status(self) -> int | None:
        return self.response.status if self.response is not None else None

    @property
    def status_name(self) -> str | None:
        s = self.status
        return STATUS_NAMES.get(s, str(s)) if s is not None else None


DubboEvent = DubboExchange


class DubboReader:
    def __init__(self, *, max_message: int = 1 << 20, body_cap: int = 64 * 1024, max_pending: int = 1024,
                 max_arguments: int = 16) -> None:
        self.max_message = max_message
        self.body_cap = body_cap
        self.max_pending = max_pending
        self.max_arguments = max_arguments
        self.bufs = (BoundedBuffer(max_message + HEADER), BoundedBuffer(max_message + HEADER))
        self.skip = [0, 0]
        self.skipping: list[tuple[int, float] | None] = [None, None]
        self.pending: OrderedDict[int, DubboMessage] = OrderedDict()
        self.counters: Counter[str] = Counter()
        self._out: list[DubboEvent] = []

    def feed(self, side: int, data: bytes, ts: float) -> list[DubboEvent]:
        pos = 0
        if self.skip[side]:
            take = min(self.skip[side], len(data))
            self.skip[side] -= take
            pos = take
        buf = self.bufs[side]
        if pos < len(data) and not buf.append(data[pos:]):
            self.counters["buffer_overflow"] += 1
            buf.clear()
            return self._take()
        self._messages(side, ts)
        return self._take()

    def feed_gap(self, side: int, size: int, ts: float) -> list[DubboEvent]:
        self.counters["gap_bytes"] += size
        if self.skip[side] >= size:
            self.skip[side] -= size
        else:
            self.bufs[side].clear()  # resync at the next magic
            self.skip[side] = 0
        return []

    def close(self, ts: float) -> list[DubboEvent]:
        for rid, req in list(self.pending.items()):
            self._out.append(DubboExchange(rid, req, None, (TAG_MISSING_RESPONSE,) if req.two_way else ()))
        self.pending.clear()
        return self._take()

    def _messages(self, side: int, ts: float) -> None:
        buf = self.bufs[side]
        while len(buf) >= 2:
            if buf.peek(2) != MAGIC:
                data = buf.peek(len(buf))
                nxt = data.find(MAGIC, 1)
                skipped = (nxt if nxt >= 0 else len(data) - 1)
                self.counters["skipped_bytes"] += skipped
                self.counters["resync"] += 1
                buf.consume(skipped)
                continue
            if len(buf) < HEADER:
                return
            head = buf.peek(HEADER)
            length = int.from_bytes(head[12:16], "big")
            if length > self.max_message:
                self.counters["bodies_too_large"] += 1
                buf.consume(HEADER)
                have = min(len(buf), length)
                buf.consume(have)
                self.skip[side] = length - have
                self._message(side, head, None, ts)
                continue
            if len(buf) < HEADER + length:
                return
            buf.consume(HEADER)
            self._message(side, head, buf.consume(length), ts)

    def _message(self, side: int, head: bytes, body: bytes | None, ts: float) -> None:
        flag, status = head[2], head[3]
        rid = int.from_bytes(head[4:12], "big")
        length = int.from_bytes(head[12:16], "big")
        is_req = bool(flag & FLAG_REQUEST)
        event = bool(flag & FLAG_EVENT)
        ser_id = flag & 0x1F
        ser = SERIALIZATIONS.get(ser_id, str(ser_id))
        self.counters["requests" if is_req else "responses"] += 1
        tags: list[str] = []
        fields: dict[str, Any] = {}
        if body is None:
            tags.append(TAG_TOO_LARGE)
        elif event:
            self.counters["events"] += 1
        elif is_req:
            fields = self._request_body(ser_id, body, tags)
        else:
            fields = self._response_body(ser_id, status, body, tags)
        msg = DubboMessage(side, ts, rid, is_req, bool(flag & FLAG_TWOWAY), event, ser,
                           None if is_req else status, length, tags=tuple(tags), **fields)
        if is_req:
            if msg.two_way:
                self.pending[rid] = msg
                if len(self.pending) > self.max_pending:
                    old_id, old = self.pending.popitem(last=False)
                    self._out.append(DubboExchange(old_id, old, None, (TAG_MISSING_RESPONSE,)))
            else:
                self._out.append(DubboExchange(rid, msg, None))
            return
        req = self.pending.pop(rid, None)
        xtags = [TAG_MISSING_REQUEST] if req is None else []
        if msg.response_type == "exception" or (msg.status is not None and msg.status != 20):
            xtags.append(TAG_APP_EXCEPTION if msg.response_type == "exception" else "error_status")
        self._out.append(DubboExchange(rid, req, msg, tuple(xtags)))

    def _request_body(self, ser_id: int, body: bytes, tags: list[str]) -> dict[str, Any]:
        if ser_id == 8:
            return _kryo_request(body, tags)
        if ser_id != 2:
            tags.append(TAG_BODY_UNDECODED)
            return {}
        dec = HessianDecoder(body)
        out: dict[str, Any] = {}
        try:
            out["dubbo_version"] = _str(dec.read())
            out["service"] = _str(dec.read())
            out["service_version"] = _str(dec.read())
            out["method"] = _str(dec.read())
            ptypes = _str(dec.read()) or ""
            out["parameter_types"] = ptypes
            args = []
            for _ in range(min(_count_params(ptypes), self.max_arguments)):
                args.append(dec.read())
            out["arguments"] = tuple(args)
            if not dec.at_end():
                att = dec.read()
                if isinstance(att, dict):
                    out["attachments"] = tuple((str(k), str(v)[:256]) for k, v in att.items())
        except HessianError:
            tags.append(TAG_BODY_UNDECODED)
            self.counters["body_decode_errors"] += 1
        return out

    def _response_body(self, ser_id: int, status: int, body: bytes, tags: list[str]) -> dict[str, Any]:
        if status != 20 or ser_id != 2:
            # Error responses carry a message string; other serializations are not read.
            if ser_id == 2 and body:
                try:
                    return {"result": HessianDecoder(body).read()}
                except HessianError:
                    pass
            return {}
        dec = HessianDecoder(body)
        out: dict[str, Any] = {}
        try:
            rtype = dec.read()
            out["response_type"] = RESPONSE_TYPES.get(rtype) if isinstance(rtype, int) else None
            if out["response_type"] in ("value", "exception"):
                out["result"] = dec.read()
        except HessianError:
            tags.append(TAG_BODY_UNDECODED)
            self.counters["body_decode_errors"] += 1
        return out

    def _take(self) -> list[DubboEvent]:
        out, self._out = self._out, []
        return out


def _str(v: Any) -> str | None:
    return v if isinstance(v, str) else None


def _count_params(desc: str) -> int:
    """Parameters in a JVM descriptor ``Ljava/lang/String;I[J``."""
    n = i = 0
    while i < len(desc):
        c = desc[i]
        while c == "[" and i + 1 < len(desc):
            i += 1
            c = desc[i]
        if c == "L":
            end = desc.find(";", i)
            i = len(desc) if end < 0 else end
        n += 1
        i += 1
    return n


def _kryo_string(data: bytes, pos: int) -> tuple[str | None, int]:
    """Kryo's writeString: ASCII with the last byte's high bit set, or a varint (length+1) and UTF-8."""
    if pos >= len(data):
        raise HessianError("truncated")
    b = data[pos]
    end = pos
    while end < len(data) and not data[end] & 0x80:
        end += 1
    if end < len(data) and end > pos and all(0x20 <= c < 0x7F for c in data[pos:end]) and 0x20 <= (data[end] & 0x7F) < 0x7F:
        return data[pos:end].decode("ascii") + chr(data[end] & 0x7F), end + 1
    # UTF-8 form: varint with the first byte's 0x80 marking it, 6 value bits then 7 per byte.
    v = b & 0x3F
    p = pos + 1
    if b & 0x40:
        shift = 6
        while True:
            if p >= len(data):
                raise HessianError("truncated")
            c = data[p]
            p += 1
            v |= (c & 0x7F) << shift
            shift += 7
            if not c & 0x80:
                break
    if v == 0:
        return None, p
    n = v - 1
    if p + n > len(data):
        raise HessianError("truncated")
    return data[p: p + n].decode("utf-8", "replace"), p + n


def _kryo_request(body: bytes, tags: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    pos = 0
    try:
        for key in ("dubbo_version", "service", "service_version", "method", "parameter_types"):
            out[key], pos = _kryo_string(body, pos)
    except HessianError:
        tags.append(TAG_BODY_UNDECODED)
    return out
