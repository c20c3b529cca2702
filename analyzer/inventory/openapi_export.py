"""A service's OpenAPI 3.1 description, reconstructed from what was observed.

Paths are the analyzer's templates; path and query parameters carry their dominant observed type;
request and response bodies are JSON Schemas built from the observed field paths
(``data[].customer.email``); security schemes are the credential kinds requests carried; PII the
detector found is annotated as ``x-pii`` (types) on the schema property, parameter and operation.
Observation details ride along as ``x-apicensus`` (hits, first/last seen, verdicts).
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from analyzer.db.models import (
    Endpoint,
    EndpointAuth,
    EndpointContentType,
    EndpointField,
    EndpointParam,
    EndpointPeer,
    EndpointStatus,
    EndpointVerdict,
    PiiFinding,
    Service,
)

OPENAPI_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
_PATH_PARAM = re.compile(r"\{([^{}/]+)\}")
_TOKEN = re.compile(r"^(.*?)((?:\[\])*)$")

# Observed types -> JSON Schema.
_TYPES: dict[str, dict[str, Any]] = {
    "string": {"type": "string"},
    "integer": {"type": "integer"},
    "number": {"type": "number"},
    "boolean": {"type": "boolean"},
    "null": {"type": "null"},
    "object": {"type": "object"},
    "array": {"type": "array"},
    "uuid": {"type": "string", "format": "uuid"},
    "email": {"type": "string", "format": "email"},
    "date": {"type": "string", "format": "date"},
    "datetime": {"type": "string", "format": "date-time"},
    "empty": {"type": "string"},
}

# Credential kinds (analyzer.auth) -> security schemes.
_SCHEMES: dict[str, dict[str, Any]] = {
    "bearer": {"type": "http", "scheme": "bearer"},
    "basic": {"type": "http", "scheme": "basic"},
    "digest": {"type": "http", "scheme": "digest"},
    "cookie": {"type": "apiKey", "in": "cookie", "name": "session"},
    "api-key-header": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
    "api-key-query": {"type": "apiKey", "in": "query", "name": "api_key"},
}


def _schema_of(types: dict[str, int]) -> dict[str, Any]:
    ranked = sorted(types.items(), key=lambda kv: (kv[0] == "null", -kv[1], kv[0]))
    if not ranked:
        return {}
    schema = dict(_TYPES.get(ranked[0][0], {"type": "string"}))
    if "null" in types and schema.get("type") != "null":
        schema["type"] = [schema["type"], "null"]
    return schema


@dataclass
class _Node:
    types: dict[str, int] = field(default_factory=dict)
    props: dict[str, _Node] = field(default_factory=dict)
    items: _Node | None = None
    pii: set[str] = field(default_factory=set)

    def at(self, path: str) -> _Node:
        node = self
        if path == "$":
            return node
        for token in path.split("."):
            match = _TOKEN.match(token)
            assert match is not None
            name, brackets = match.group(1), match.group(2)
            if name:
                node = node.props.setdefault(name, _Node())
            for _ in range(len(brackets) // 2):
                if node.items is None:
                    node.items = _Node()
                node = node.items
        return node

    def schema(self) -> dict[str, Any]:
        if self.props:
            schema: dict[str, Any] = {
                "type": "object",
                "properties": {name: child.schema() for name, child in sorted(self.props.items())},
            }
        elif self.items is not None:
            schema = {"type": "array", "items": self.items.schema()}
        else:
            schema = _schema_of(self.types)
        if self.pii:
            schema["x-pii"] = sorted(self.pii)
        return schema


def _iso(value: datetime) -> str:
    value = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _content(root: _Node, content_types: dict[str, int]) -> dict[str, Any] | None:
    """A request body's or a response's ``content``: each observed media type, one schema."""
    has_schema = bool(root.props or root.items or root.types)
    media = sorted(content_types.items(), key=lambda kv: (-kv[1], kv[0]))
    if not media and not has_schema:
        return None
    names = [m for m, _ in media] or ["application/json"]
    schema = root.schema() if has_schema else {}
    return {name: {"schema": schema} for name in names}


def build_openapi(*, session: Session, host: str) -> dict[str, Any] | None:
    """The OpenAPI 3.1 document of one service, or None when the host is unknown."""
    service = session.scalar(select(Service).where(Service.host == host))
    if service is None:
        return None
    endpoints = list(
        session.scalars(
            select(Endpoint)
            .where(Endpoint.service_id == service.id)
            .order_by(Endpoint.path_template, Endpoint.method)
        )
    )
    ids = [e.id for e in endpoints]

    def children(model: type[Any]) -> dict[int, list[Any]]:
        out: dict[int, list[Any]] = defaultdict(list)
        if ids:
            for row in session.scalars(select(model).where(model.endpoint_id.in_(ids))):
                out[row.endpoint_id].append(row)
        return out

    params, fields, cts = children(EndpointParam), children(EndpointField), children(EndpointContentType)
    statuses, auths, pii = children(EndpointStatus), children(EndpointAuth), children(PiiFinding)
    verdicts = (
        {
            v.endpoint_id: v
            for v in session.scalars(select(EndpointVerdict).where(EndpointVerdict.endpoint_id.in_(ids)))
        }
        if ids
        else {}
    )
    ports = (
        {
            p.address.rpartition(":")[2]
            for p in session.scalars(
                select(EndpointPeer).where(EndpointPeer.endpoint_id.in_(ids), EndpointPeer.kind == "server")
            )
        }
        if ids
        else set()
    )
    scheme = "http" if ports and ports <= {"80", "8080"} else "https"

    paths: dict[str, dict[str, Any]] = {}
    used_schemes: set[str] = set()
    # OpenAPI forbids two paths that differ only in parameter names: the first template of a
    # shape names the path, the others' parameters are renamed by position.
    path_of_shape: dict[str, str] = {}
    for ep in endpoints:
        method = ep.method.lower()
        if method not in OPENAPI_METHODS:
            continue
        path_key = path_of_shape.setdefault(_PATH_PARAM.sub("{}", ep.path_template), ep.path_template)
        if method in paths.get(path_key, {}):
            continue  # the same method under a same-shaped template: already described
        rename = dict(zip(_PATH_PARAM.findall(ep.path_template), _PATH_PARAM.findall(path_key), strict=True))
        op_pii = {p.type for p in pii[ep.id]}
        operation: dict[str, Any] = {
            "operationId": f"{method}_{ep.id}",
            "summary": f"{ep.method} {ep.path_template}",
        }
        # Parameters: every template parameter (string unless typed), then query parameters.
        typed: dict[tuple[str, str], dict[str, int]] = defaultdict(dict)
        for p in params[ep.id]:
            typed[(p.location, p.name)][p.type] = p.count
        pii_at: dict[tuple[str, str], set[str]] = defaultdict(set)
        for p in pii[ep.id]:
            pii_at[(p.location, p.field)].add(p.type)
        # A path finding's field is the path up to the segment it was in ("/people/{2}"): the
        # template parameter at that position gets the annotation.
        segments = ep.path_template.split("/")
        path_pii: dict[str, set[str]] = defaultdict(set)
        for (location, fld), pii_types in pii_at.items():
            position = fld.count("/")
            if location == "path" and position < len(segments):
                match = _PATH_PARAM.fullmatch(segments[position])
                if match:
                    path_pii[match.group(1)] |= pii_types
        parameters: list[dict[str, Any]] = []
        for name in dict.fromkeys(_PATH_PARAM.findall(ep.path_template)):
            param: dict[str, Any] = {
                "name": rename.get(name, name),
                "in": "path",
                "required": True,
                "schema": _schema_of(typed.get(("path", name), {"string": 1})) or {"type": "string"},
            }
            path_types = path_pii.get(name)
            if path_types:
                param["x-pii"] = sorted(path_types)
            parameters.append(param)
        for (location, name), types in sorted(typed.items()):
            if location != "query":
                continue
            param = {
                "name": name,
                "in": "query",
                "required": sum(types.values()) >= ep.hits > 0,
                "schema": _schema_of(types) or {"type": "string"},
            }
            if pii_at.get(("query", name)):
                param["x-pii"] = sorted(pii_at[("query", name)])
            parameters.append(param)
        if parameters:
            operation["parameters"] = parameters
        # Bodies.
        roots = {"request": _Node(), "response": _Node()}
        for f in fields[ep.id]:
            if f.part in roots:
                node = roots[f.part].at(f.path)
                node.types[f.type] = node.types.get(f.type, 0) + f.count
        for (location, fld), pii_types in pii_at.items():
            if location in roots:
                roots[location].at(fld).pii |= pii_types
        content_types: dict[str, dict[str, int]] = {"request": {}, "response": {}}
        for ct in cts[ep.id]:
            content_types.setdefault(ct.part, {})[ct.content_type] = ct.count

        request = _content(roots["request"], content_types["request"])
        if request is not None:
            operation["requestBody"] = {"content": request}
        response_content = _content(roots["response"], content_types["response"])
        responses: dict[str, Any] = {}
        for s in sorted(statuses[ep.id], key=lambda s: s.status):
            if not 100 <= s.status <= 599:
                continue
            resp: dict[str, Any] = {"description": f"observed {s.count} time(s)"}
            if 200 <= s.status < 300 and response_content is not None and s.status not in (204, 304):
                resp["content"] = response_content
            responses[str(s.status)] = resp
        if not responses:
            responses["default"] = {"description": "no response observed"}
        operation["responses"] = responses
        # Security: the credential kinds seen; "none" makes it optional ({}).
        kinds = {a.scheme for a in auths[ep.id]}
        security: list[dict[str, list[str]]] = [{k: []} for k in sorted(kinds) if k in _SCHEMES]
        used_schemes |= {k for k in kinds if k in _SCHEMES}
        if security and "none" in kinds:
            security.append({})
        if security:
            operation["security"] = security
        verdict = verdicts.get(ep.id)
        reasons = [r["reason"] for r in (verdict.zombie_reasons or [])] if verdict else []
        if "deprecated" in reasons:
            operation["deprecated"] = True
        if op_pii:
            operation["x-pii"] = sorted(op_pii)
        operation["x-apicensus"] = {
            "endpoint_id": ep.id,
            "hits": ep.hits,
            "first_seen": _iso(ep.first_seen),
            "last_seen": _iso(ep.last_seen),
            "unauthenticated": ep.unauthenticated_2xx > 0,
            "documented": bool(verdict and verdict.documented),
            "shadow": True if verdict is None else verdict.shadow,
            "zombie_reasons": reasons,
        }
        paths.setdefault(path_key, {})[method] = operation

    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": f"{host} (observed)",
            "version": _iso(service.last_seen),
            "description": f"Reconstructed by APICensus from {service.hits} observed requests "
            f"({_iso(service.first_seen)} to {_iso(service.last_seen)}).",
        },
        "servers": [{"url": f"{scheme}://{host}"}],
        "paths": paths,
    }
    if used_schemes:
        document["components"] = {"securitySchemes": {k: _SCHEMES[k] for k in sorted(used_schemes)}}
    return document
