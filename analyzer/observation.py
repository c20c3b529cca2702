"""The typed exchange every stage past the sensor reads: one frozen :class:`Observation` per
request/response exchange, built exactly once, at the edge of the analyzer.

Two ways in:

- :func:`from_exchange`: the sensor's own ``Exchange`` object, in-process (``apicensus analyze
  capture.pcap``): no JSON, no base64, bodies stay the sensor's bytes;
- :func:`from_record`: a record in the sensor's JSON form (JSONL files, batches shipped over
  NATS or HTTP), validated: a record of a schema this analyzer does not know is refused with
  :class:`ObservationError`; a field of the wrong type in a hand-made record is dropped to its
  "unknown" value and named in ``anomalies`` (anomalies as data: a bad field never stops a batch).

Versions, the mitmproxy ``io/compat`` way: a record is upgraded step by step to
:data:`SCHEMA_VERSION` by the functions in :data:`UPGRADES` before it is read, so the reader
only ever sees the current shape. Schema 2 added ``protocol``, ``stream_id`` and ``proto`` (the
protocol's own fields); ``UPGRADES[1]`` fills them in for a schema-1 record (every schema-1
record is HTTP/1).

The small helpers every later stage shares live here too, one copy each: :func:`split_target`,
:func:`header_value`, :func:`service_name`, :func:`client_ip`, :func:`clean_text`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import orjson

from sensor.records import EMPTY_BODY, Body, Exchange, frozen_record

SCHEMA_VERSION = 2
PROTOCOL_HTTP1 = "http/1.1"
# Protocols a schema-2 record may name; another one is read as "unknown" (and named in anomalies).
PROTOCOLS = frozenset(("http/1.1", "h2c", "grpc", "websocket", "dubbo", "tls"))


def _upgrade_1_to_2(record: dict[str, Any]) -> dict[str, Any]:
    """Schema 1 was HTTP/1 only: no stream, no protocol fields."""
    record["protocol"] = PROTOCOL_HTTP1
    record["stream_id"] = None
    record["proto"] = None
    return record


# Record upgrades: UPGRADES[n] turns a schema-n record (a dict) into a schema-(n+1) one.
UPGRADES: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {1: _upgrade_1_to_2}

MAX_UID_CHARS = 128
MAX_TS = 32503680000.0  # year 3000: later (or negative) times are unknown, not an error
_DEFAULT_PORTS = (":80", ":443")
_SEQUENCES = (list, tuple)


class ObservationError(ValueError):
    """A record this analyzer cannot read at all (an unknown schema, not an object)."""


@frozen_record
class Observation:
    """One exchange as the analyzer sees it; field meanings as in the README's record table."""

    uid: str
    ts: float  # request start, else the response's; 0.0 when unknown
    method: str | None  # None: no request line was seen (response-only exchange)
    target: str | None
    host: str | None  # the record's host field as sent (see service_name for the service)
    client: str | None  # "ip:port"
    server: str | None
    status: int | None
    request_headers: tuple[tuple[str, str], ...] = ()
    response_headers: tuple[tuple[str, str], ...] = ()
    request_body: Body = EMPTY_BODY
    response_body: Body = EMPTY_BODY
    response_ts: float | None = None
    end_ts: float | None = None
    version: str | None = None
    reason: str | None = None
    response_version: str | None = None
    trans_depth: int = 1
    interim_statuses: tuple[int, ...] = ()
    vlan: tuple[int, ...] = ()
    tags: tuple[str, ...] = ()
    protocol: str = PROTOCOL_HTTP1
    stream_id: int | None = None
    proto: Mapping[str, Any] | None = None  # the protocol's own fields (README, record schema 2)
    schema: int = SCHEMA_VERSION  # of the record as it was written (before upgrades)
    # Set by analyzer.protocols.views.expand, never read from a record: the endpoint a protocol
    # fixes (gRPC method, GraphQL operation...: not templated), its protocol parameters as
    # (location, name, type), and a GraphQL operation with its response's error count.
    endpoint: str | None = None
    parameters: tuple[tuple[str, str, str], ...] = ()
    graphql: Any = None  # analyzer.protocols.graphql.GraphQLOperation
    graphql_errors: int = 0
    # Fields of a hand-made record that were unusable and read as unknown (e.g. ("status", "ts")).
    anomalies: tuple[str, ...] = ()


# ------------------------------------------------------------------------------ in-process


def from_exchange(exchange: Exchange) -> Observation:
    """The sensor's exchange as an observation (the sensor's types are the observation's)."""
    uid = exchange.uid
    return Observation(
        uid=uid if len(uid) <= MAX_UID_CHARS and "\x00" not in uid else clean_text(uid, MAX_UID_CHARS),
        ts=exchange.ts if 0.0 <= exchange.ts < MAX_TS else 0.0,
        method=exchange.method,
        target=exchange.target,
        host=exchange.host,
        client=exchange.client,
        server=exchange.server,
        status=exchange.status,
        request_headers=exchange.request_headers,
        response_headers=exchange.response_headers,
        request_body=exchange.request_body,
        response_body=exchange.response_body,
        response_ts=exchange.response_ts,
        end_ts=exchange.end_ts,
        version=exchange.version,
        reason=exchange.reason,
        response_version=exchange.response_version,
        trans_depth=exchange.trans_depth,
        interim_statuses=exchange.interim_statuses,
        vlan=exchange.vlan,
        tags=exchange.tags,
        protocol=exchange.protocol,
        stream_id=exchange.stream_id,
        proto=exchange.proto,
    )


# ---------------------------------------------------------------------------------- records


def from_record(record: Mapping[str, Any]) -> Observation:
    """A record in the sensor's JSON form (``Exchange.to_dict()``) as an observation.

    Raises :class:`ObservationError` for a record of an unknown ``schema`` (or not an object); a
    record without ``schema`` is read as schema 1 (hand-made JSONL).
    """
    if not isinstance(record, Mapping):
        raise ObservationError(f"an exchange record is a JSON object, not {type(record).__name__}")
    schema = record.get("schema", 1)
    if type(schema) is not int or not 1 <= schema <= SCHEMA_VERSION:
        # Named by its type unless a small number: a record's values are not echoed into logs.
        shown = repr(schema) if type(schema) is int and -1000 < schema < 1000 else f"(a {type(schema).__name__})"
        raise ObservationError(
            f"unknown exchange record schema {shown} (this analyzer reads schema 1 to {SCHEMA_VERSION})"
        )
    original = schema
    if schema < SCHEMA_VERSION:
        data = dict(record)
        while schema < SCHEMA_VERSION:
            data = UPGRADES[schema](data)
            schema += 1
        record = data
    return _read(record, record_uid(record), original)


def record_uid(record: Mapping[str, Any]) -> str:
    """The record's uid (cleaned), or a content hash when it has none: re-ingest stays idempotent."""
    uid = record.get("uid")
    if isinstance(uid, str) and uid:
        return clean_text(uid, MAX_UID_CHARS)
    try:
        canonical = orjson.dumps(record, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # what orjson cannot write (integers beyond 64 bits): the standard library can
        canonical = json.dumps(record, sort_keys=True, default=repr).encode("utf-8", "surrogatepass")
    return "h:" + hashlib.sha1(canonical).hexdigest()


def _read(record: Mapping[str, Any], uid: str, schema: int) -> Observation:
    bad: list[str] = []
    get = record.get

    def text(name: str) -> str | None:
        value = get(name)
        if value is None or type(value) is str:
            return value
        bad.append(name)
        return None

    method, target = get("method"), get("target")
    if method is not None and (type(method) is not str or not method):
        bad.append("method")
        method = None
    if target is not None and type(target) is not str:
        bad.append("target")
        target = None
    status = get("status")
    if status is not None and (type(status) is not int or not 0 <= status <= _MAX_STATUS):
        # 2**31 would pass as an int and fail in the database: a data error, never a retry.
        bad.append("status")
        status = None
    protocol = get("protocol")
    if type(protocol) is not str or protocol not in PROTOCOLS:  # a list or dict is unhashable
        bad.append("protocol")
        protocol = "unknown"
    proto = get("proto")
    if proto is not None and not isinstance(proto, Mapping):
        bad.append("proto")
        proto = None
    stream_id = get("stream_id")
    if stream_id is not None and (type(stream_id) is not int or stream_id < 0):
        bad.append("stream_id")
        stream_id = None
    return Observation(
        uid=uid,
        ts=_timestamp(get("ts"), get("response_ts"), bad),
        method=method,
        target=target,
        host=text("host"),
        client=text("client"),
        server=text("server"),
        status=status,
        request_headers=_headers(get("request_headers"), "request_headers", bad),
        response_headers=_headers(get("response_headers"), "response_headers", bad),
        request_body=_body(get("request_body"), "request_body", bad),
        response_body=_body(get("response_body"), "response_body", bad),
        response_ts=_optional_time(get("response_ts")),
        end_ts=_optional_time(get("end_ts")),
        version=text("version"),
        reason=text("reason"),
        response_version=text("response_version"),
        trans_depth=_int(get("trans_depth"), 1),
        interim_statuses=_ints(get("interim_statuses")),
        vlan=_ints(get("vlan")),
        tags=tuple(t for t in get("tags") or () if type(t) is str) if type(get("tags")) in _SEQUENCES else (),
        protocol=protocol,
        stream_id=stream_id,
        proto=proto,
        schema=schema,
        anomalies=tuple(bad),
    )


def _number(value: Any) -> bool:
    return type(value) is float or type(value) is int


def _timestamp(ts: Any, response_ts: Any, bad: list[str]) -> float:
    # Request start, else response start; a time no datetime (or database) can hold is unknown.
    usable = bool(ts) and _number(ts) and 0.0 <= ts < MAX_TS
    if ts and not usable:
        bad.append("ts")
    if usable:
        return float(ts)
    if response_ts and _number(response_ts) and 0.0 <= response_ts < MAX_TS:
        return float(response_ts)
    return 0.0


def _optional_time(value: Any) -> float | None:
    return float(value) if _number(value) and 0.0 <= value < MAX_TS else None


_MAX_STATUS = 999  # three digits
_MAX_INT = 2**31 - 1  # what an INTEGER column holds


def _int(value: Any, default: int) -> int:
    return value if type(value) is int and 0 <= value <= _MAX_INT else default


def _ints(value: Any) -> tuple[int, ...]:
    if type(value) not in _SEQUENCES:
        return ()
    return tuple(v for v in value if type(v) is int and 0 <= v <= _MAX_INT)


def _headers(value: Any, name: str, bad: list[str]) -> tuple[tuple[str, str], ...]:
    """Pairs of strings, as the sensor writes them; anything else is no headers at all."""
    if not value:
        return ()
    if type(value) in _SEQUENCES:
        pairs = []
        for h in value:
            if type(h) not in _SEQUENCES or len(h) != 2 or type(h[0]) is not str or type(h[1]) is not str:
                break
            pairs.append((h[0], h[1]))
        else:
            return tuple(pairs)
    bad.append(name)
    return ()


def _body(value: Any, name: str, bad: list[str]) -> Body:
    if not value:
        return EMPTY_BODY
    if not isinstance(value, Mapping):
        bad.append(name)
        return EMPTY_BODY
    data = value.get("data")
    raw = b""
    if isinstance(data, str) and data:
        raw_or_none = body_data(data, b64=bool(value.get("b64")))
        if raw_or_none is None:
            bad.append(name)
        else:
            raw = raw_or_none
    elif data not in (None, ""):
        bad.append(name)
    length, wire = value.get("length"), value.get("wire_length")
    encoding = value.get("content_encoding")
    return Body(
        data=raw,
        length=length if type(length) is int else len(raw),
        wire_length=wire if type(wire) is int else 0,
        content_encoding=tuple(e for e in encoding if type(e) is str) if isinstance(encoding, list | tuple) else (),
    )


def body_data(data: str, *, b64: bool) -> bytes | None:
    """A JSON body's ``data`` as bytes (the inverse of ``sensor.records.body_to_dict``); None
    when it claims base64 and is not."""
    if b64:
        try:
            return base64.b64decode(data)
        except (binascii.Error, ValueError):
            return None
    return data.encode("utf-8", "surrogateescape")


# ----------------------------------------------------------------------------------- helpers


def clean_text(value: str, limit: int) -> str:
    """No NUL (PostgreSQL text cannot hold it), at most ``limit`` characters (keys stay inside
    the btree limit)."""
    if "\x00" in value:
        value = value.replace("\x00", "")
    return value[:limit]


def split_target(target: str) -> tuple[str, str]:
    """Request-target -> (path, query). Absolute-form targets lose scheme and authority."""
    if "#" in target:
        target = target.split("#", 1)[0]
    path, _, query = target.partition("?")
    if path.startswith(("http://", "https://")):
        rest = path.split("://", 1)[1]
        slash = rest.find("/")
        path = rest[slash:] if slash >= 0 else "/"
    return path or "/", query


def header_value(headers: Iterable[tuple[str, str]], name: str) -> str | None:
    """The first value of header ``name`` (lower-case), or None."""
    for header_name, value in headers:
        if header_name.lower() == name:
            return value
    return None


def service_name(host: str | None, server: str | None) -> str:
    """Host header, lower-cased, default port dropped; the server address when there is none."""
    name = (host or "").strip().lower().rstrip(".")
    if not name:
        name = (server or "").strip().lower()
    for port in _DEFAULT_PORTS:
        if name.endswith(port):
            name = name[: -len(port)]
            break
    return clean_text(name, 255) or "unknown"


def client_ip(address: str | None) -> str:
    """``ip:port`` / ``[v6]:port`` -> the ip (source ports are ephemeral: not who the client is)."""
    if not address:
        return ""
    if address.startswith("["):
        return address[1 : address.find("]")] if "]" in address else address
    return address.rsplit(":", 1)[0] if address.count(":") == 1 else address
