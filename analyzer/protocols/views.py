"""Protocol records as the observations the HTTP pipeline counts (pure functions).

:func:`expand` turns one observation into the observations that are inventoried, each naming its
endpoint when the protocol fixes it (``Observation.endpoint``: not templated, as a path could
be) and its protocol parameters (``Observation.parameters``):

- gRPC: ``POST /{package.Service}/{Method}``; ``status`` is grpc-status mapped to its HTTP
  equivalent (google.rpc: 0 -> 200, 16 UNAUTHENTICATED -> 401, 7 PERMISSION_DENIED -> 403, ...)
  so the auth and posture analyses read it; the decoded protobuf messages (field-number paths)
  are the bodies, so schemas and PII work on them.
- GraphQL (found by content in HTTP/1 or HTTP/2 requests): one observation per operation
  (batches split), endpoint ``{path}#{type} {name}`` (root fields when anonymous: ``#query
  {user,posts}``); variables and arguments are parameters and the request body (PII), the
  response's ``data`` (the batch's item) the response body.
- WebSocket: each message, at ``WS {path}#client`` / ``#server`` (schema and PII per direction).
- Dubbo: ``DUBBO /{service}/{method}``, arguments as the request body, result as the response.
- TLS: the record itself, unchanged: it has no request line, so it is counted under no
  endpoint; the pipeline folds it into the encrypted services (``analyzer.protocols.tls``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from analyzer.observation import PROTOCOL_HTTP1, Observation, header_value, split_target
from analyzer.protocols.graphql import MAX_BATCH, GraphQLOperation, extract_operations, response_summary
from analyzer.schema_infer import scalar_type
from sensor.records import Body

JSON_HEADERS = (("content-type", "application/json"),)
# grpc-status -> the HTTP status of the same meaning (google.rpc.Code's documented mapping).
GRPC_HTTP = (200, 499, 500, 400, 504, 404, 409, 403, 429, 400, 409, 400, 501, 500, 503, 500, 401)
MAX_PARAMETERS = 200


def grpc_http_status(grpc_status: int | None, http_status: int | None) -> int | None:
    if grpc_status is None or not 0 <= grpc_status < len(GRPC_HTTP):
        return http_status
    return GRPC_HTTP[grpc_status]


def _json_body(value: Any) -> Body:
    if value is None:
        return Body()
    try:
        data = orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)
    except TypeError:
        return Body()
    return Body(data, len(data), len(data))


def _headers_with_json(headers: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    return tuple(h for h in headers if h[0].lower() != "content-type") + JSON_HEADERS


def _value_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return scalar_type(value)
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "null" if value is None else "string"


def expand(obs: Observation) -> Sequence[Observation]:
    """The observations to inventory for ``obs``: itself when it is plain HTTP (the hot path, no
    copy), one per GraphQL operation, the protocol's view of a gRPC/WebSocket/Dubbo message, and
    a TLS connection's record as is (its facts go to ``tls_services``, not to an endpoint)."""
    protocol = obs.protocol
    if protocol != PROTOCOL_HTTP1:
        proto = obs.proto if isinstance(obs.proto, Mapping) else {}
        if protocol == "grpc":
            return (_grpc(obs, proto),)
        if protocol == "websocket":
            return (_websocket(obs, proto),)
        if protocol == "dubbo":
            view = _dubbo(obs, proto)
            return (view,) if view is not None else ()
        if protocol == "tls":
            return (obs,)
    if maybe_graphql(obs):
        ops = extract_operations(obs.method, obs.target, obs.request_headers, obs.request_body.data)
        if ops:
            return _graphql(obs, ops)
    return (obs,)


def maybe_graphql(obs: Observation) -> bool:
    """A cheap look before parsing: a ``query`` member, a GraphQL body, or ``?query=``."""
    if not obs.method:
        return False
    data = obs.request_body.data
    if data:
        return b'"query"' in data or (header_value(obs.request_headers, "content-type") or "").lower().startswith(
            "application/graphql")
    return obs.target is not None and "query=" in obs.target


# -- per protocol -------------------------------------------------------------------------------
def _grpc(obs: Observation, proto: Mapping[str, Any]) -> Observation:
    service, method = proto.get("service"), proto.get("method")
    endpoint = f"/{service}/{method}" if isinstance(service, str) and isinstance(method, str) else None
    grpc_status = proto.get("grpc_status")
    status = grpc_http_status(grpc_status if type(grpc_status) is int else None, obs.status)
    return dataclasses.replace(
        obs, method="POST", target=endpoint or obs.target, status=status, endpoint=endpoint,
        request_headers=_headers_with_json(obs.request_headers),
        response_headers=_headers_with_json(obs.response_headers),
        request_body=_json_body(proto.get("request_message")),
        response_body=_json_body(proto.get("response_message")),
    )


def _websocket(obs: Observation, proto: Mapping[str, Any]) -> Observation:
    direction = "server" if proto.get("direction") == "server" else "client"
    path = split_target(obs.target)[0] if obs.target else "/"
    endpoint = f"{path}#{direction}"
    body = obs.request_body if direction == "client" else obs.response_body
    # The message is counted at its direction's endpoint; its bytes are the request body of a
    # client message and the response body of a server message, as the record has them.
    media = (("content-type", "application/json"),) if body.data[:1] in (b"{", b"[") else ()
    return dataclasses.replace(
        obs, method="WS", target=endpoint, endpoint=endpoint, status=None,
        request_headers=obs.request_headers + (media if direction == "client" else ()),
        response_headers=obs.response_headers + (media if direction == "server" else ()),
    )


def _dubbo(obs: Observation, proto: Mapping[str, Any]) -> Observation | None:
    service, method = proto.get("service"), proto.get("method")
    if not isinstance(service, str) or not isinstance(method, str) or not service or not method:
        return None
    endpoint = f"/{service}/{method}"
    args = proto.get("arguments")
    args_list = args if isinstance(args, list) else []
    params = tuple(("argument", f"arg{i}", _value_type(v)) for i, v in enumerate(args_list[:MAX_PARAMETERS]))
    status = proto.get("status")
    http = None
    if type(status) is int:
        http = 200 if status == 20 else 504 if status in (30, 31) else 400 if status == 40 else 500
    if proto.get("response_type") == "exception" and http == 200:
        http = 500
    return dataclasses.replace(
        obs, method="DUBBO", target=endpoint, endpoint=endpoint, status=http, parameters=params,
        request_headers=JSON_HEADERS, response_headers=JSON_HEADERS,
        request_body=_json_body({"arguments": args_list}),
        response_body=_json_body({"result": proto.get("result")}) if "result" in proto else Body(),
    )


def _graphql(obs: Observation, ops: list[GraphQLOperation]) -> list[Observation]:
    path = split_target(obs.target or "/")[0]
    responses = response_summary(obs.response_body.data) if obs.response_body.data else []
    batch_items: list[Any] = []
    if len(ops) > 1 or any(op.batch_index for op in ops):
        try:
            payload = orjson.loads(obs.response_body.data) if obs.response_body.data else None
        except orjson.JSONDecodeError:
            payload = None
        batch_items = payload[:MAX_BATCH] if isinstance(payload, list) else []
    out: list[Observation] = []
    for i, op in enumerate(ops[:MAX_BATCH]):
        endpoint = f"{path}#{op.label}"
        params = tuple(
            (p.location, p.name[:255], p.type or _value_type(p.value)) for p in op.parameters[:MAX_PARAMETERS])
        variables = {p.name.lstrip("$"): p.value for p in op.parameters if p.location == "variable"}
        arguments = {p.name: p.value for p in op.parameters if p.location == "argument"}
        request: dict[str, Any] = {}
        if variables:
            request["variables"] = variables
        if arguments:
            request["arguments"] = arguments
        response_body = obs.response_body
        if batch_items:
            item = batch_items[op.batch_index] if op.batch_index < len(batch_items) else None
            response_body = _json_body(item)
        summary = responses[op.batch_index] if op.batch_index < len(responses) else None
        errors = summary.errors if summary is not None else 0
        tags = obs.tags + (("graphql_errors",) if errors else ()) + (("graphql_parse_error",) if op.error else ())
        out.append(dataclasses.replace(
            obs, uid=obs.uid if len(ops) == 1 else f"{obs.uid}#{i}", target=endpoint, endpoint=endpoint,
            parameters=params, request_body=_json_body(request) if request else Body(),
            request_headers=_headers_with_json(obs.request_headers), response_body=response_body,
            tags=tags, graphql=op, graphql_errors=errors,
        ))
    return out

