"""gRPC over HTTP/2: message framing per stream direction, and one call summary per exchange.

The framing (``GrpcFramer``) runs inside the HTTP/2 reader as DATA arrives, so message counts
and lengths are exact however long a stream is, while only the first ``keep`` messages (each
capped) are held. ``grpc_call`` turns an assembled ``H2Exchange`` into a ``GrpcCall``: the
endpoint ``/{package.Service}/{Method}``, the status from the ``grpc-status`` trailer (or the
Trailers-Only response), unary or streaming as observed, and the messages decoded as protobuf.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sensor.content import decode_body
from sensor.proto.events import Headers, first_header
from sensor.proto.protobuf import DescriptorRegistry, PbMessage, decode_message

if TYPE_CHECKING:
    from sensor.proto.h2 import H2Exchange

TAG_GRPC_TRUNCATED = "grpc_truncated_message"  # the stream ended inside a message
TAG_GRPC_DECODE_ERROR = "grpc_decode_error"  # a compressed message could not be decompressed
TAG_GRPC_UNKNOWN_ENCODING = "grpc_unknown_encoding"  # grpc-encoding we cannot undo (snappy...)
TAG_GRPC_NO_STATUS = "grpc_no_status"  # the response ended without grpc-status
TAG_GRPC_MESSAGE_CAPPED = "grpc_message_capped"  # a message longer than the cap was kept in part
TAG_GRPC_BAD_PATH = "grpc_bad_path"  # :path is not /Service/Method

MAX_MESSAGE = 4 * 1024 * 1024  # gRPC's own default receive limit; beyond, the length is counted only

STATUS_NAMES = (
    "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS",
    "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE",
    "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED",
)


def is_grpc_content_type(value: str | None) -> bool:
    return value is not None and value.lower().startswith("application/grpc")


@dataclass(frozen=True, slots=True)
class GrpcMessage:
    compressed: bool
    length: int  # length on the wire, as the 5-byte prefix declared it
    data: bytes  # decompressed bytes, at most the cap
    complete: bool  # the whole message is in ``data``
    tags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class GrpcFraming:
    """What one direction of a gRPC stream carried."""

    count: int  # messages whose prefix was seen
    messages: tuple[GrpcMessage, ...]  # the first ``keep`` of them
    compressed: int
    payload_bytes: int
    tags: tuple[str, ...] = ()


class GrpcFramer:
    """Length-prefixed message framing (1 byte compressed flag, 4 bytes big-endian length)."""

    __slots__ = ("encoding", "keep", "cap", "max_decoded", "count", "compressed", "payload_bytes",
                 "_head", "_remaining", "_current", "_current_len", "_current_flag", "_messages", "_tags",
                 "_kept", "_lost")

    def __init__(self, encoding: str | None = None, *, keep: int = 16, cap: int = 64 * 1024,
                 max_decoded: int = 32 * 1024 * 1024) -> None:
        self.encoding = (encoding or "identity").strip().lower()
        self.keep = keep
        self.cap = cap
        self.max_decoded = max_decoded
        self.count = 0
        self.compressed = 0
        self.payload_bytes = 0
        self._head = b""
        self._remaining = 0
        self._current: list[bytes] = []
        self._current_len = 0
        self._current_flag = 0
        self._messages: list[GrpcMessage] = []
        self._tags: list[str] = []
        self._kept = 0  # bytes of the current message held
        self._lost = False  # framing lost in a gap: nothing more can be split

    def feed(self, data: bytes) -> None:
        if self._lost:
            return
        pos = 0
        n = len(data)
        while pos < n:
            if self._remaining == 0:
                need = 5 - len(self._head)
                self._head += data[pos: pos + need]
                pos += need
                if len(self._head) < 5:
                    return
                flag = self._head[0]
                length = int.from_bytes(self._head[1:5], "big")
                self._head = b""
                self.count += 1
                self._current_flag = flag
                self.compressed += flag & 1
                self.payload_bytes += length
                self._current = []
                self._kept = 0
                self._current_len = length
                self._remaining = length
                if length == 0:
                    self._end_message()
                continue
            take = min(self._remaining, n - pos)
            if len(self._messages) < self.keep:
                # A compressed message is kept whole (up to gRPC's own limit) so it can be inflated.
                limit = MAX_MESSAGE if self._current_flag & 1 else self.cap
                room = min(self._current_len, limit) - self._kept
                if room > 0:
                    part = data[pos: pos + min(take, room)]
                    self._current.append(part)
                    self._kept += len(part)
            pos += take
            self._remaining -= take
            if self._remaining == 0:
                self._end_message()

    def gap(self, size: int) -> None:
        """Bytes of this direction were lost: the current message is incomplete, framing is lost."""
        if self._remaining or self._head:
            self._tags.append(TAG_GRPC_TRUNCATED)
        self._remaining = 0
        self._head = b""
        self._lost = True  # the next prefix is unknowable: count no further messages

    def _end_message(self) -> None:
        length = self._current_len
        if len(self._messages) >= self.keep:
            return
        raw = b"".join(self._current)
        self._current = []
        self._messages.append(self._message(self._current_flag, length, raw, len(raw) == length))

    def _message(self, flag: int, length: int, raw: bytes, complete: bool) -> GrpcMessage:
        tags: list[str] = []
        data = raw
        if flag & 1 and self.encoding != "identity":
            if self.encoding in ("gzip", "deflate") and complete:
                data, total, dtags = decode_body(raw, (self.encoding,), self.cap, self.max_decoded)
                if dtags:
                    tags.append(TAG_GRPC_DECODE_ERROR)
                complete = total <= self.cap and not dtags
            else:
                tags.append(TAG_GRPC_UNKNOWN_ENCODING if complete else TAG_GRPC_TRUNCATED)
                complete = False
        elif len(data) > self.cap:
            data = data[: self.cap]
            complete = False
            tags.append(TAG_GRPC_MESSAGE_CAPPED)
        elif not complete:
            tags.append(TAG_GRPC_MESSAGE_CAPPED)
        return GrpcMessage(bool(flag & 1), length, data, complete, tuple(tags))

    def finish(self) -> GrpcFraming:
        tags = list(dict.fromkeys(self._tags))
        if self._head or self._remaining:
            tags.append(TAG_GRPC_TRUNCATED)
            if self._remaining and len(self._messages) < self.keep:
                raw = b"".join(self._current)
                self._messages.append(GrpcMessage(bool(self._current_flag & 1), self._current_len,
                                                  raw[: self.cap], False, (TAG_GRPC_TRUNCATED,)))
            self._remaining = 0
            self._head = b""
        for m in self._messages:
            tags.extend(t for t in m.tags if t not in tags)
        return GrpcFraming(self.count, tuple(self._messages), self.compressed, self.payload_bytes,
                           tuple(dict.fromkeys(tags)))


def looks_like_grpc_data(data: bytes) -> bool:
    """DATA on a stream whose headers were missed: does it start with a gRPC message prefix?"""
    if len(data) < 5 or data[0] not in (0, 1):
        return False
    length = int.from_bytes(data[1:5], "big")
    return length + 5 == len(data) or (length + 5 < len(data) and len(data) - length - 5 >= 5
                                       and data[length + 5] in (0, 1)) or (length + 5 > len(data) and length < 1 << 22)


# -- calls -----------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class GrpcCall:
    stream_id: int
    path: str | None
    service: str | None  # "package.Service"
    method: str | None
    package: str | None
    status: int | None  # grpc-status
    status_name: str | None
    status_message: str | None  # grpc-message, percent-decoded
    status_source: str  # "trailers", "trailers_only", "missing"
    http_status: int | None
    streaming: str  # "unary", "client_streaming", "server_streaming", "bidi_streaming" (as observed)
    request_messages: int
    response_messages: int
    request: PbMessage | None  # first request message, decoded
    response: PbMessage | None  # first response message, decoded
    request_type: str | None  # message type names, when a descriptor set is known
    response_type: str | None
    tags: tuple[str, ...]

    @property
    def endpoint(self) -> str | None:
        return f"/{self.service}/{self.method}" if self.service and self.method else self.path


def split_path(path: str | None) -> tuple[str | None, str | None, str | None]:
    """``/pkg.sub.Service/Method`` -> ("pkg.sub.Service", "Method", "pkg.sub")."""
    if not path or not path.startswith("/"):
        return None, None, None
    parts = path[1:].split("?", 1)[0].split("/")
    if len(parts) != 2 or not parts[0] or not parts[1]:
        return None, None, None
    service, method = parts
    package = service.rsplit(".", 1)[0] if "." in service else None
    return service, method, package


def grpc_status(headers: Headers) -> int | None:
    raw = first_header(headers, "grpc-status")
    if raw is None:
        return None
    try:
        return int(raw.strip())
    except ValueError:
        return None


def grpc_call(ex: H2Exchange, registry: DescriptorRegistry | None = None) -> GrpcCall:
    tags: list[str] = []
    service, method, package = split_path(ex.path)
    if ex.path is not None and service is None:
        tags.append(TAG_GRPC_BAD_PATH)
    status = grpc_status(ex.response_trailers)
    source = "trailers"
    headers_for_message = ex.response_trailers
    if status is None:
        status = grpc_status(ex.response_headers)
        source = "trailers_only" if status is not None else "missing"
        headers_for_message = ex.response_headers
    if status is None and ex.status is not None:
        tags.append(TAG_GRPC_NO_STATUS)
    raw_message = first_header(headers_for_message, "grpc-message")
    message = urllib.parse.unquote(raw_message) if raw_message is not None else None
    req_f, resp_f = ex.request_grpc, ex.response_grpc
    n_req = req_f.count if req_f else 0
    n_resp = resp_f.count if resp_f else 0
    streaming = ("bidi_streaming" if n_req > 1 and n_resp > 1 else "client_streaming" if n_req > 1
                 else "server_streaming" if n_resp > 1 else "unary")
    req_type = resp_type = None
    if registry is not None and service and method:
        types = registry.method_types(service, method)
        if types is not None:
            req_type, resp_type = types[0], types[1]
            if types[2] or types[3]:  # declared streaming wins over what one call showed
                streaming = ("bidi_streaming" if types[2] and types[3] else
                             "client_streaming" if types[2] else "server_streaming")
    request = _first(req_f, registry, req_type)
    response = _first(resp_f, registry, resp_type)
    for framing in (req_f, resp_f):
        if framing is not None:
            tags.extend(framing.tags)
    name = STATUS_NAMES[status] if status is not None and 0 <= status < len(STATUS_NAMES) else None
    return GrpcCall(ex.stream_id, ex.path, service, method, package, status, name, message, source,
                    ex.status, streaming, n_req, n_resp, request, response, req_type, resp_type,
                    tuple(dict.fromkeys(tags)))


def _first(framing: GrpcFraming | None, registry: DescriptorRegistry | None,
           type_name: str | None) -> PbMessage | None:
    if framing is None or not framing.messages:
        return None
    msg = framing.messages[0]
    if msg.compressed and TAG_GRPC_UNKNOWN_ENCODING in msg.tags:
        return None
    return decode_message(msg.data, registry=registry, type_name=type_name, truncated=not msg.complete)
