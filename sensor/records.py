"""The exchange record: what the sensor emits, one per request/response pair (HTTP/1, HTTP/2 and
gRPC streams, Dubbo calls), WebSocket message or TLS connection.

Modelled on Zeek's http.log, plus the (capped, decoded) bodies the analyzer needs. The JSON form
is versioned by ``SCHEMA_VERSION``; the README documents every field. Anomalies are data: they
are listed in ``tags`` rather than raised.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import MISSING, dataclass, fields
from typing import Any, TypeVar, dataclass_transform

T = TypeVar("T")


@dataclass_transform(frozen_default=True)
def frozen_record(cls: type[T]) -> type[T]:
    """``@dataclass(frozen=True, slots=True)`` with a faster ``__init__``.

    The sensor builds several of these per exchange. The generated frozen ``__init__`` goes
    through ``object.__setattr__`` per field; writing the slots through their descriptors is about
    twice as fast and keeps every guarantee (instances still refuse assignment).
    """
    cls = dataclass(frozen=True, slots=True)(cls)
    names = [f.name for f in fields(cls)]  # type: ignore[arg-type]
    defaults = {f.name: f.default for f in fields(cls) if f.default is not MISSING}  # type: ignore[arg-type]
    params = ", ".join(f"{n}=_d_{n}" if n in defaults else n for n in names)
    body = "".join(f"    _s_{n}(self, {n})\n" for n in names)
    namespace: dict[str, Any] = {f"_s_{n}": getattr(cls, n).__set__ for n in names}
    namespace.update({f"_d_{n}": v for n, v in defaults.items()})
    exec(f"def __init__(self, {params}):\n{body}", namespace)  # noqa: S102 - generated from field names
    init: Callable[..., None] = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    cls.__init__ = init  # type: ignore[method-assign]
    return cls

SCHEMA_VERSION = 2

# ``protocol`` values (schema 2). Schema-1 records are all HTTP/1.
PROTOCOL_HTTP1 = "http/1.1"
PROTOCOL_H2C = "h2c"  # HTTP/2 (cleartext, or decrypted TLS with ALPN h2)
PROTOCOL_GRPC = "grpc"
PROTOCOL_WEBSOCKET = "websocket"
PROTOCOL_DUBBO = "dubbo"
PROTOCOL_TLS = "tls"

# Tags an exchange can carry. Kept as constants so producers and consumers agree on spelling.
TAG_MISSING_RESPONSE = "missing_response"  # request seen, no response before the stream ended
TAG_MISSING_REQUEST = "missing_request"  # response seen whose request was never captured
TAG_MID_STREAM = "mid_stream"  # the connection was picked up after its start (no SYN seen)
TAG_GAP = "gap"  # bytes of this exchange were missing from the capture
TAG_TRUNCATED_BODY = "truncated_body"  # a body ended before its framing said it would
TAG_BODY_CAPPED = "body_capped"  # captured body hit the configured cap; lengths still counted
TAG_DECODE_ERROR = "decode_error"  # Content-Encoding could not be undone; raw bytes kept
TAG_DECOMPRESSION_BOMB = "decompression_bomb"  # decoded size hit the bomb cap
TAG_MISLABELLED_ENCODING = "mislabelled_encoding"  # labelled compressed but was plain
TAG_CONFLICTING_LENGTH = "conflicting_content_length"
TAG_BAD_FRAMING = "bad_framing"  # unparsable Content-Length / chunk size, treated per RFC 9112
TAG_RESYNC = "resync"  # garbage was skipped before this message
TAG_UPGRADE = "upgrade"  # 101 Switching Protocols / CONNECT tunnel: the rest is not HTTP
TAG_INTERIM = "interim_response"  # one or more 1xx responses preceded the final one
TAG_CLOSE_DELIMITED = "close_delimited"  # body length was given by connection close
TAG_HTTP09 = "http09"  # HTTP/0.9 simple request (no version)
TAG_BAD_REQUEST_LINE = "bad_request_line"  # request line not "METHOD SP target SP HTTP/x.y"
TAG_BAD_STATUS = "bad_status"  # status line whose code is not a number
TAG_ONE_SIDED = "one_sided"  # only one direction of the connection was ever seen
TAG_HEAD_TOO_LARGE = "head_too_large"  # head (or trailer block) over the head bound: rest of it skipped
TAG_BAD_HEADER = "bad_header"  # a header line that is not "token: value" (space in the name, no colon...)
TAG_BAD_VERSION = "bad_version"  # HTTP-version accepted but not as written by the RFC ("http/1.1")
TAG_PARSER_ERROR = "parser_error"  # the flow's parser failed or hit its work bound: message ended here


@frozen_record
class Body:
    """A captured message body.

    ``data`` holds the decoded (de-chunked, decompressed) bytes, capped at the sensor's body cap.
    ``wire_length`` counts the entity bytes after de-chunking and before decompression;
    ``length`` counts the decoded bytes (both are exact even when ``data`` is capped).
    """

    data: bytes = b""
    wire_length: int = 0
    length: int = 0
    content_encoding: tuple[str, ...] = ()


EMPTY_BODY = Body()


@frozen_record
class Exchange:
    uid: str
    ts: float  # request start (first byte), epoch seconds; response start when no request
    client: str  # "ip:port" ("[v6]:port")
    server: str
    method: str | None
    host: str
    target: str | None  # request-target exactly as sent (decoded as latin-1)
    version: str | None  # request's HTTP version, e.g. "1.1"
    status: int | None
    reason: str | None = None
    response_version: str | None = None
    request_headers: tuple[tuple[str, str], ...] = ()
    response_headers: tuple[tuple[str, str], ...] = ()
    request_body: Body = EMPTY_BODY
    response_body: Body = EMPTY_BODY
    response_ts: float | None = None  # first byte of the final response
    end_ts: float | None = None  # last byte of the exchange
    trans_depth: int = 1  # 1-based index of this exchange on its connection (Zeek's trans_depth)
    interim_statuses: tuple[int, ...] = ()
    vlan: tuple[int, ...] = ()
    tags: tuple[str, ...] = ()
    # Schema 2: the protocol, the HTTP/2 stream id (or Dubbo request id, WebSocket message
    # number), and the protocol's own fields (JSON-ready; see the README's record table).
    protocol: str = PROTOCOL_HTTP1
    stream_id: int | None = None
    proto: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form. Tuples are left as tuples: JSON encoders write them as arrays."""
        return {
            "schema": SCHEMA_VERSION,
            "uid": self.uid,
            "ts": self.ts,
            "response_ts": self.response_ts,
            "end_ts": self.end_ts,
            "client": self.client,
            "server": self.server,
            "vlan": self.vlan,
            "trans_depth": self.trans_depth,
            "method": self.method,
            "host": self.host,
            "target": self.target,
            "version": self.version,
            "status": self.status,
            "reason": self.reason,
            "response_version": self.response_version,
            "interim_statuses": self.interim_statuses,
            "request_headers": self.request_headers,
            "response_headers": self.response_headers,
            "request_body": body_to_dict(self.request_body),
            "response_body": body_to_dict(self.response_body),
            "tags": self.tags,
            "protocol": self.protocol,
            "stream_id": self.stream_id,
            "proto": self.proto,
        }


def body_to_dict(body: Body) -> dict[str, Any]:
    """JSON form of a body: UTF-8 text as-is, anything else base64 (``"b64": true``)."""
    data = body.data
    if not data and not body.length and not body.content_encoding:
        return {"data": "", "b64": False, "captured": 0, "length": 0, "wire_length": body.wire_length,
                "content_encoding": ()}
    try:
        text = data.decode("utf-8")
        b64 = False
    except UnicodeDecodeError:
        text = base64.b64encode(data).decode("ascii")
        b64 = True
    return {
        "data": text,
        "b64": b64,
        "captured": len(data),
        "length": body.length,
        "wire_length": body.wire_length,
        "content_encoding": body.content_encoding,
    }


def body_bytes(body_dict: dict[str, Any] | None) -> bytes:
    """Inverse of :func:`body_to_dict` for consumers of the JSONL."""
    if not body_dict:
        return b""
    data = body_dict.get("data") or ""
    if body_dict.get("b64"):
        return base64.b64decode(data)
    return data.encode("utf-8")
