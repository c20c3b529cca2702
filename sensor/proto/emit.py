"""Protocol events -> schema-2 ``Exchange`` records (pure functions of one event and its connection).

The sensor's connection hands every event its ``ProtoSession`` returns to :meth:`RecordMaker.make`;
events that are a record become one (an HTTP/2 stream, a gRPC call, a WebSocket message, a Dubbo
call, a TLS connection's facts, a handshake seen inside decrypted TLS), the rest (settings,
control frames, hellos folded into the TLS facts) give None. Uids: the connection's uid plus
``.h<stream>`` (HTTP/2, gRPC), ``.w<n>`` (WebSocket message n), ``.d<request id>`` (Dubbo),
``.u<n>`` (an upgrade handshake read by the session) or ``.tls``; HTTP/1 keeps ``.<depth>``.
The protocol's own fields go in ``proto`` (JSON-ready, documented in the README).
"""

from __future__ import annotations

from typing import Any

from sensor.proto.dubbo import DubboExchange
from sensor.proto.events import CLIENT, first_header
from sensor.proto.grpc import GrpcCall, grpc_call, is_grpc_content_type
from sensor.proto.h2 import H2Exchange
from sensor.proto.protobuf import DescriptorRegistry, PbMessage
from sensor.proto.tls import TlsSessionInfo
from sensor.proto.tls_hello import CertificateInfo
from sensor.proto.upgrade import UpgradeExchange
from sensor.proto.websocket import OP_TEXT, WsMessage
from sensor.records import (
    EMPTY_BODY,
    PROTOCOL_DUBBO,
    PROTOCOL_GRPC,
    PROTOCOL_H2C,
    PROTOCOL_HTTP1,
    PROTOCOL_TLS,
    PROTOCOL_WEBSOCKET,
    Body,
    Exchange,
)

MAX_JSON_ITEMS = 200  # Dubbo arguments/results: elements kept per container
MAX_JSON_DEPTH = 8
MAX_TEXT = 4096


def json_safe(value: Any, depth: int = 0) -> Any:
    """A decoded Hessian value as JSON-ready data, bounded (bytes as hex, odd types as text)."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return value[:MAX_TEXT]
    if isinstance(value, bytes | bytearray):
        return bytes(value[:MAX_TEXT // 2]).hex()
    if depth >= MAX_JSON_DEPTH:
        return None
    if isinstance(value, dict):
        return {str(k)[:256]: json_safe(v, depth + 1) for k, v in list(value.items())[:MAX_JSON_ITEMS]}
    if isinstance(value, list | tuple | set | frozenset):
        return [json_safe(v, depth + 1) for v in list(value)[:MAX_JSON_ITEMS]]
    return str(value)[:MAX_TEXT]


def message_object(message: PbMessage | None) -> dict[str, Any] | None:
    return None if message is None else message.as_object()


def certificate_fields(cert: CertificateInfo | None) -> dict[str, Any] | None:
    if cert is None:
        return None
    return {"subject": cert.subject, "issuer": cert.issuer, "not_before": cert.not_before,
            "not_after": cert.not_after, "serial": cert.serial, "san": list(cert.san),
            "self_signed": cert.self_signed, "signature_algorithm": cert.signature_algorithm,
            "sha256": cert.sha256}


def _grpc_fields(call: GrpcCall) -> dict[str, Any]:
    return {
        "service": call.service, "method": call.method, "package": call.package,
        "grpc_status": call.status, "grpc_status_name": call.status_name, "grpc_message": call.status_message,
        "status_source": call.status_source, "streaming": call.streaming,
        "request_messages": call.request_messages, "response_messages": call.response_messages,
        "request_message": message_object(call.request), "response_message": message_object(call.response),
        "request_type": call.request_type, "response_type": call.response_type,
    }


class RecordMaker:
    """One connection's record builder: names and counters shared by its records."""

    __slots__ = ("uid", "client", "server", "vlan", "registry", "ws_messages", "upgrades", "tls", "ws_path",
                 "ws_host", "tls_ts", "tls_end_ts")

    def __init__(self, uid: str, client: str, server: str, vlan: tuple[int, ...],
                 registry: DescriptorRegistry | None = None) -> None:
        self.uid = uid
        self.client = client
        self.server = server
        self.vlan = vlan
        self.registry = registry
        self.ws_messages = 0
        self.upgrades = 0
        self.tls: dict[str, Any] | None = None  # set on records read from decrypted TLS
        self.ws_path: str | None = None  # the WebSocket's handshake path and host
        self.ws_host: str | None = None
        self.tls_ts = 0.0  # first and last packet of the connection, for the TLS record
        self.tls_end_ts: float | None = None

    def _host(self, host: str | None) -> str:
        if host:
            return host
        return self.server[:-3] if self.server.endswith(":80") else self.server

    def _proto(self, fields: dict[str, Any]) -> dict[str, Any]:
        if self.tls is not None:
            fields["tls"] = self.tls
        return fields

    def make(self, ev: object, tags: tuple[str, ...] = ()) -> Exchange | None:
        t = type(ev)
        if t is H2Exchange:
            return self._h2(ev, tags)  # type: ignore[arg-type]
        if t is WsMessage:
            return self._ws(ev, tags)  # type: ignore[arg-type]
        if t is DubboExchange:
            return self._dubbo(ev, tags)  # type: ignore[arg-type]
        if t is TlsSessionInfo:
            return self._tls(ev, tags)  # type: ignore[arg-type]
        if t is UpgradeExchange:
            return self._upgrade(ev, tags)  # type: ignore[arg-type]
        return None

    # -- per protocol -----------------------------------------------------------------------
    def _h2(self, ex: H2Exchange, tags: tuple[str, ...]) -> Exchange:
        fields: dict[str, Any] = {"scheme": ex.scheme, "request_frames": ex.request_frames,
                                  "response_frames": ex.response_frames}
        if ex.reset_code is not None:
            fields["reset_code"] = ex.reset_code
            fields["reset_name"] = ex.reset_name
            fields["reset_by"] = "client" if ex.reset_by == CLIENT else "server"
        if ex.pushed_by is not None:
            fields["pushed_by"] = ex.pushed_by
        protocol = PROTOCOL_H2C
        all_tags = list(ex.tags)
        if (ex.request_grpc is not None or ex.response_grpc is not None
                or is_grpc_content_type(first_header(ex.request_headers, "content-type"))):
            call = grpc_call(ex, self.registry)
            fields.update(_grpc_fields(call))
            all_tags.extend(call.tags)
            protocol = PROTOCOL_GRPC
        all_tags.extend(tags)
        ts = ex.ts if ex.ts is not None else (ex.response_ts or 0.0)
        return Exchange(
            uid=f"{self.uid}.h{ex.stream_id}", ts=ts, client=self.client, server=self.server,
            method=ex.method, host=self._host(ex.authority), target=ex.path, version="2" if ex.method else None,
            status=ex.status, response_version="2" if ex.status is not None else None,
            request_headers=ex.request_headers + ex.request_trailers,
            response_headers=ex.response_headers + ex.response_trailers,
            request_body=ex.request_body, response_body=ex.response_body,
            response_ts=ex.response_ts, end_ts=ex.end_ts, trans_depth=ex.stream_id,
            interim_statuses=ex.interim_statuses, vlan=self.vlan, tags=tuple(dict.fromkeys(all_tags)),
            protocol=protocol, stream_id=ex.stream_id, proto=self._proto(fields),
        )

    def _ws(self, msg: WsMessage, tags: tuple[str, ...]) -> Exchange:
        self.ws_messages += 1
        n = self.ws_messages
        body = Body(msg.data, msg.wire_length, msg.length, ("permessage-deflate",) if msg.compressed else ())
        from_client = msg.side == CLIENT
        fields = {"direction": "client" if from_client else "server",
                  "opcode": "text" if msg.opcode == OP_TEXT else "binary",
                  "fragments": msg.fragments, "compressed": msg.compressed}
        return Exchange(
            uid=f"{self.uid}.w{n}", ts=msg.ts, client=self.client, server=self.server,
            method=None, host=self._host(self.ws_host), target=self.ws_path, version=None, status=None,
            request_body=body if from_client else EMPTY_BODY, response_body=EMPTY_BODY if from_client else body,
            end_ts=msg.end_ts, trans_depth=n, vlan=self.vlan, tags=tuple(dict.fromkeys(msg.tags + tags)),
            protocol=PROTOCOL_WEBSOCKET, stream_id=n, proto=self._proto(fields),
        )

    def _dubbo(self, ex: DubboExchange, tags: tuple[str, ...]) -> Exchange:
        req, resp = ex.request, ex.response
        first = req or resp
        last = resp or req
        fields: dict[str, Any] = {
            "service": req.service if req else None, "method": req.method if req else None,
            "service_version": req.service_version if req else None,
            "dubbo_version": req.dubbo_version if req else None,
            "parameter_types": req.parameter_types if req else None,
            "serialization": first.serialization if first is not None else None,
            "two_way": req.two_way if req else None,
            "arguments": json_safe(list(req.arguments)) if req else None,
            "attachment_keys": sorted({k for k, _ in req.attachments}) if req else [],
            "status": ex.status, "status_name": ex.status_name,
            "response_type": resp.response_type if resp else None,
            "result": json_safe(resp.result) if resp else None,
        }
        all_tags = list(ex.tags)
        for m in (req, resp):
            if m is not None:
                all_tags.extend(m.tags)
        all_tags.extend(tags)
        ts = first.ts if first is not None else 0.0
        return Exchange(
            uid=f"{self.uid}.d{ex.request_id}", ts=ts, client=self.client, server=self.server,
            method=None, host=self._host(None), target=None, version=None, status=None,
            request_body=Body(b"", req.body_length, req.body_length) if req else EMPTY_BODY,
            response_body=Body(b"", resp.body_length, resp.body_length) if resp else EMPTY_BODY,
            response_ts=resp.ts if resp else None, end_ts=last.ts if last is not None else None,
            trans_depth=ex.request_id, vlan=self.vlan, tags=tuple(dict.fromkeys(all_tags)),
            protocol=PROTOCOL_DUBBO, stream_id=ex.request_id, proto=self._proto(fields),
        )

    def _tls(self, info: TlsSessionInfo, tags: tuple[str, ...]) -> Exchange:
        fields: dict[str, Any] = {
            "sni": info.sni, "alpn_offered": list(info.alpn_offered), "alpn": info.alpn,
            "version": info.version, "cipher": info.cipher, "ja3": info.ja3, "ja3s": info.ja3s,
            "ja4": info.ja4, "certificate": certificate_fields(info.certificate),
            "findings": list(info.findings), "decrypted": info.decrypted,
            "application_bytes": list(info.application_bytes),
        }
        return Exchange(
            uid=f"{self.uid}.tls", ts=self.tls_ts, client=self.client, server=self.server,
            method=None, host=self._host(info.sni), target=None, version=None, status=None,
            end_ts=self.tls_end_ts, vlan=self.vlan, tags=tuple(dict.fromkeys(info.tags + tags)),
            protocol=PROTOCOL_TLS, stream_id=None, proto=fields,
        )

    def _upgrade(self, ex: UpgradeExchange, tags: tuple[str, ...]) -> Exchange | None:
        req, resp = ex.request, ex.response
        if req is None and resp is None:
            return None
        self.upgrades += 1
        if req is not None and ex.protocol == "websocket":
            self.ws_path = req.start_line[1]
            self.ws_host = req.header("host")
        status: int | None = None
        if resp is not None and resp.start_line[1].isdigit():
            status = int(resp.start_line[1])
        version = req.start_line[2][5:] if req is not None and req.start_line[2].startswith("HTTP/") else None
        body = Body(req.body, len(req.body), len(req.body)) if req is not None and req.body else EMPTY_BODY
        return Exchange(
            uid=f"{self.uid}.u{self.upgrades}", ts=req.ts if req else resp.ts,  # type: ignore[union-attr]
            client=self.client, server=self.server,
            method=req.start_line[0] if req else None, host=self._host(req.header("host") if req else None),
            target=req.start_line[1] if req else None, version=version, status=status,
            reason=resp.start_line[2] if resp else None,
            response_version=resp.start_line[0][5:] if resp else None,
            request_headers=req.headers if req else (), response_headers=resp.headers if resp else (),
            request_body=body, response_ts=resp.ts if resp else None, vlan=self.vlan,
            tags=tuple(dict.fromkeys((*ex.tags, "upgrade", *tags))),
            protocol=PROTOCOL_HTTP1, proto=self._proto({"upgrade": ex.protocol, "switched": ex.switched}),
        )
