"""Stage 2, normalise: everything about one observation that needs no other exchange and no
templater, so it can run anywhere and in any order (shared ingestion runs it outside the
inventory lock): service name, method, path and query, status and time, client, credentials,
query parameter types, body schemas (field paths), response header names; and the thin view of
an exchange the PII detector reads.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from analyzer import auth, schema_infer
from analyzer.db.models import MAX_PATH_CHARS
from analyzer.db.settings import AnalyzerSettings
from analyzer.observation import Observation, clean_text, client_ip, header_value, service_name, split_target
from analyzer.pii.headers import scanned_headers
from analyzer.pipeline import unmatched
from sensor.records import Body


@dataclass(frozen=True, slots=True)
class Normalised:
    """One observation with the facts aggregation counts, all order-free."""

    obs: Observation
    service: str  # analyzer.observation.service_name of host / server
    method: str  # upper-case, at most 32 characters
    path: str  # at most MAX_PATH_CHARS
    query: str
    status: int | None
    ts: float
    client_ip: str  # "" when unknown
    server: str  # "ip:port", "" when unknown
    query_params: tuple[tuple[str, str], ...]  # (name, scalar type), names percent-decoded
    credentials: tuple[str, ...]  # analyzer.auth.credential_schemes; () = none
    request_media: str | None  # media type of a parsed request body ("unknown" without one)
    request_fields: schema_infer.FieldSet | None  # None: no structured request body
    response_media: str | None
    response_fields: schema_infer.FieldSet | None
    response_header_names: frozenset[str]  # lower-case, each once per exchange
    # The endpoint a protocol fixes (gRPC, GraphQL, WebSocket, Dubbo: analyzer.protocols.views),
    # counted as is instead of templated, and its protocol parameters (location, name, type).
    template: str | None = None
    parameters: tuple[tuple[str, str, str], ...] = ()
    # Junk as statistics (analyzer/pipeline/unmatched.py): the target is malformed (the exchange
    # is no request of an endpoint), and the types of bare query values ("?13434210384389"),
    # which are not parameter names.
    malformed: bool = False
    bare_values: tuple[str, ...] = ()


def normalise(obs: Observation, settings: AnalyzerSettings) -> Normalised | None:
    """The order-free facts of ``obs``; None when it has no request line (nothing to inventory)."""
    method, target = obs.method, obs.target
    if not method or target is None:
        return None
    path, query = split_target(target)
    request_ct = header_value(obs.request_headers, "content-type")
    response_ct = header_value(obs.response_headers, "content-type")
    request_fields = _infer(request_ct, obs.request_body, settings)
    response_fields = _infer(response_ct, obs.response_body, settings)
    params = tuple(schema_infer.query_params(query)) if query else ()
    bare: tuple[str, ...] = ()
    if params:
        types, names = unmatched.bare_values(query)
        if types:
            bare = tuple(types)
            params = tuple(p for p in params if p[0] not in names)
    return Normalised(
        obs=obs,
        service=service_name(obs.host, obs.server),
        method=clean_text(method.upper(), 32),
        path=clean_text(path, MAX_PATH_CHARS),
        query=query,
        status=obs.status,
        ts=obs.ts,
        client_ip=client_ip(obs.client),
        server=obs.server or "",
        query_params=tuple((clean_text(name, 255), typ) for name, typ in params),
        credentials=tuple(auth.credential_schemes(obs.request_headers, (name for name, _ in params))),
        request_media=None if request_fields is None else schema_infer.media_type(request_ct) or "unknown",
        request_fields=request_fields,
        response_media=None if response_fields is None else schema_infer.media_type(response_ct) or "unknown",
        response_fields=response_fields,
        response_header_names=frozenset(clean_text(name.lower(), 128) for name, _ in obs.response_headers),
        template=clean_text(obs.endpoint, MAX_PATH_CHARS) if obs.endpoint else None,
        parameters=tuple((loc, clean_text(name, 255), typ) for loc, name, typ in obs.parameters),
        malformed=not obs.endpoint and unmatched.malformed(method.upper(), target, path),
        bare_values=bare,
    )


def _infer(content_type: str | None, body: Body, settings: AnalyzerSettings) -> schema_infer.FieldSet | None:
    data = body.data
    if not data or len(data) > settings.max_body_bytes:
        return None
    return schema_infer.infer_body(
        content_type,
        data,
        max_fields=settings.max_fields_per_body,
        max_items=settings.max_array_items,
        max_depth=settings.max_depth,
    )


def pii_view(obs: Observation) -> dict[str, Any]:
    """What PII detection reads of an exchange (``PiiDetector.detect_exchange``: target, headers,
    bodies) in the record's JSON form, the worker's input: headers the detector skips are left
    out (it would skip them), bodies as text or base64."""
    return {
        "target": obs.target,
        "request_headers": scanned_headers(obs.request_headers) if obs.request_headers else (),
        "response_headers": scanned_headers(obs.response_headers) if obs.response_headers else (),
        "request_body": _body_view(obs.request_body),
        "response_body": _body_view(obs.response_body),
    }


def _body_view(body: Body) -> dict[str, Any] | None:
    data = body.data
    if not data:
        return None
    try:
        return {"data": data.decode("utf-8"), "b64": False}
    except UnicodeDecodeError:
        return {"data": base64.b64encode(data).decode("ascii"), "b64": True}
