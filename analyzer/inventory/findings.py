"""Actionable findings: one list across the inventory, each item linked to its endpoint.

Every finding comes from a rule in :data:`RULES`: its ``kind``, default ``severity``, a one-line
``when``, and ``applies(endpoint) -> Hit | None``, which returns the evidence (PII rows), the title
and, where the rule grades it, a severity of its own. The API's kinds (``?kind=``), their order
and the severity counts are read from that list, so a new rule is one entry here: a function and a
``FindingRule`` line (threat detectors and posture checks are meant to be rules of the same shape).

| kind | when | severity |
|---|---|---|
| ``pii_unauthenticated`` | PII in responses of an endpoint that served a 2xx without credentials | critical |
| ``credentials_in_url`` | credentials detected in the path or the query string | critical |
| ``pii_in_url`` | other PII detected in the path or the query string | high |
| ``shadow_pii`` | an undocumented (shadow) endpoint carries PII in bodies, path or query | high |
| ``zombie_traffic`` | a zombie endpoint still receives traffic | medium; low when unseen for 30 days |
| ``graphql_introspection_unauthenticated`` | a GraphQL endpoint answered an introspection query (``__schema``/``__type``) with a 2xx to a request without credentials | high |
| ``graphql_deep_query`` | a GraphQL operation nested deeper than ``APICENSUS_GRAPHQL_MAX_DEPTH`` (10) | medium |
| ``graphql_wide_query`` | a GraphQL operation selected more fields than ``APICENSUS_GRAPHQL_MAX_FIELDS`` (200) | medium |
| ``graphql_errors`` | responses of a GraphQL operation carried ``errors`` (counted per operation endpoint) | low |
| ``tls_deprecated_version`` | an encrypted service negotiated SSLv3, TLS 1.0 or 1.1 | high |
| ``tls_weak_cipher`` | an encrypted service negotiated NULL, EXPORT, RC4, (3)DES, anon, MD5, or CBC-SHA1 on TLS 1.0 | high |
| ``tls_certificate_expired`` | the certificate served was expired (or not yet valid) when last seen | high |
| ``tls_certificate_self_signed`` | the certificate served is self-signed | medium |

Endpoint rules read :class:`EndpointFacts`; TLS rules (:data:`TLS_RULES`) read :class:`TlsFacts`,
one per row of ``tls_services`` (server ip:port and SNI), and their items name the TLS service
(``tls_service``) where endpoint items name the endpoint (``endpoint`` is then null).

"Unseen for 30 days" counts back from the newest observation in the inventory, not the clock, so
an analysed capture from last year reads as it did then.

Credentials in request headers are how clients authenticate, not data the endpoint carries: they
do not make a shadow endpoint a PII carrier.
"""

from __future__ import annotations

import os
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from analyzer.db.models import Endpoint, EndpointGraphql, EndpointVerdict, PiiFinding, Service, TlsService
from analyzer.inventory.samples import shown
from analyzer.protocols.tls import DEPRECATED_VERSIONS, weak_cipher

SEVERITIES = ("critical", "high", "medium", "low")
URL_LOCATIONS = ("path", "query")
BODY_LOCATIONS = ("request", "response")
CREDENTIAL_TYPES = frozenset({"CREDENTIAL", "API_KEY", "PASSWORD", "SECRET", "TOKEN", "JWT"})
STALE_AFTER = timedelta(days=30)
GRAPHQL_MAX_DEPTH = 10  # APICENSUS_GRAPHQL_MAX_DEPTH
GRAPHQL_MAX_FIELDS = 200  # APICENSUS_GRAPHQL_MAX_FIELDS


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value.isdigit() and int(value) > 0 else default


@dataclass(frozen=True, slots=True)
class GraphqlLimits:
    """How deep and how wide a GraphQL operation may be before it is a finding."""

    max_depth: int = GRAPHQL_MAX_DEPTH
    max_fields: int = GRAPHQL_MAX_FIELDS

    @classmethod
    def from_env(cls) -> GraphqlLimits:
        return cls(_env_int("APICENSUS_GRAPHQL_MAX_DEPTH", GRAPHQL_MAX_DEPTH),
                   _env_int("APICENSUS_GRAPHQL_MAX_FIELDS", GRAPHQL_MAX_FIELDS))


@dataclass(frozen=True, slots=True)
class GraphqlFacts:
    operations: int
    errors: int
    errored_operations: int
    introspection: int
    introspection_unauthenticated: int
    max_depth: int
    max_width: int
    max_fields: int


@dataclass(frozen=True, slots=True)
class EndpointFacts:
    """What a rule sees of one observed endpoint: its counters, verdicts and stored PII rows."""

    id: int
    host: str
    method: str
    path_template: str
    hits: int
    last_seen: datetime
    unauthenticated_2xx: int
    shadow: bool
    zombie: bool
    zombie_reasons: tuple[dict[str, str], ...]
    pii: tuple[PiiFinding, ...]
    now: datetime  # the newest observation in the inventory
    graphql: GraphqlFacts | None = None  # a GraphQL operation endpoint's counters
    limits: GraphqlLimits = GraphqlLimits()

    @property
    def where(self) -> str:
        return f"{self.method} {self.host}{self.path_template}"


@dataclass(frozen=True, slots=True)
class TlsFacts:
    """What a TLS rule sees of one encrypted service (a ``tls_services`` row)."""

    id: int
    server: str
    sni: str
    connections: int
    negotiated: dict[str, int]  # "TLSv1.2 TLS_ECDHE_..." -> connections
    cert_subject: str | None
    cert_issuer: str | None
    cert_not_before: datetime | None
    cert_not_after: datetime | None
    cert_self_signed: bool | None
    last_seen: datetime

    @property
    def where(self) -> str:
        return f"TLS {self.sni or '(no SNI)'} at {self.server}"


@dataclass(frozen=True, slots=True)
class Hit:
    title: str
    evidence: tuple[PiiFinding, ...] = ()
    severity: str | None = None  # None: the rule's own
    extra: dict[str, Any] = field(default_factory=dict)  # more fields of the item (zombie_reasons)


@dataclass(frozen=True, slots=True)
class FindingRule:
    kind: str
    severity: str
    when: str
    applies: Callable[[EndpointFacts], Hit | None]


def _pii_unauthenticated(ep: EndpointFacts) -> Hit | None:
    served = tuple(p for p in ep.pii if p.location == "response")
    if ep.unauthenticated_2xx <= 0 or not served:
        return None
    return Hit(f"{ep.where} served PII without authentication ({ep.unauthenticated_2xx} responses)", served)


def _in_url(ep: EndpointFacts, *, credentials: bool) -> tuple[PiiFinding, ...]:
    return tuple(p for p in ep.pii if p.location in URL_LOCATIONS and (p.type in CREDENTIAL_TYPES) == credentials)


def _credentials_in_url(ep: EndpointFacts) -> Hit | None:
    rows = _in_url(ep, credentials=True)
    return Hit(f"{ep.where} carries credentials in its URL", rows) if rows else None


def _pii_in_url(ep: EndpointFacts) -> Hit | None:
    rows = _in_url(ep, credentials=False)
    return Hit(f"{ep.where} carries PII in its URL", rows) if rows else None


def _shadow_pii(ep: EndpointFacts) -> Hit | None:
    carried = tuple(p for p in ep.pii if p.location in BODY_LOCATIONS + URL_LOCATIONS)
    if not ep.shadow or not carried:
        return None
    return Hit(f"{ep.where} is undocumented and carries PII", carried)


def _zombie_traffic(ep: EndpointFacts) -> Hit | None:
    if not ep.zombie or ep.hits <= 0:
        return None
    last = _utc(ep.last_seen)
    reasons = list(ep.zombie_reasons)
    return Hit(
        f"{ep.where} is a zombie ({', '.join(r['reason'] for r in reasons)}) and still receives traffic "
        f"({ep.hits} requests, last {last.isoformat()})",
        severity="low" if ep.now - last > STALE_AFTER else None,
        extra={"zombie_reasons": reasons},
    )


def _graphql_introspection(ep: EndpointFacts) -> Hit | None:
    g = ep.graphql
    if g is None or g.introspection_unauthenticated <= 0:
        return None
    return Hit(f"{ep.where} answered {g.introspection_unauthenticated} introspection queries without "
               "authentication (the whole schema is public)", extra={"graphql": _graphql_extra(ep)})


def _graphql_deep(ep: EndpointFacts) -> Hit | None:
    g = ep.graphql
    if g is None or g.max_depth <= ep.limits.max_depth:
        return None
    return Hit(f"{ep.where} received a query nested {g.max_depth} deep (limit {ep.limits.max_depth})",
               extra={"graphql": _graphql_extra(ep)})


def _graphql_wide(ep: EndpointFacts) -> Hit | None:
    g = ep.graphql
    if g is None or g.max_fields <= ep.limits.max_fields:
        return None
    return Hit(f"{ep.where} received a query selecting {g.max_fields} fields (limit {ep.limits.max_fields})",
               extra={"graphql": _graphql_extra(ep)})


def _graphql_errors(ep: EndpointFacts) -> Hit | None:
    g = ep.graphql
    if g is None or g.errors <= 0:
        return None
    return Hit(f"{ep.where}: {g.errored_operations} of {g.operations} operations answered with errors "
               f"({g.errors} errors)", extra={"graphql": _graphql_extra(ep)})


def _graphql_extra(ep: EndpointFacts) -> dict[str, int]:
    g = ep.graphql
    assert g is not None
    return {
        "operations": g.operations, "errors": g.errors, "errored_operations": g.errored_operations,
        "introspection": g.introspection, "introspection_unauthenticated": g.introspection_unauthenticated,
        "max_depth": g.max_depth, "max_width": g.max_width, "max_fields": g.max_fields,
        "limit_depth": ep.limits.max_depth, "limit_fields": ep.limits.max_fields,
    }


RULES: tuple[FindingRule, ...] = (
    FindingRule("pii_unauthenticated", "critical",
                "PII in responses of an endpoint that served a 2xx without credentials", _pii_unauthenticated),
    FindingRule("credentials_in_url", "critical", "credentials in the path or the query string", _credentials_in_url),
    FindingRule("pii_in_url", "high", "other PII in the path or the query string", _pii_in_url),
    FindingRule("shadow_pii", "high", "an undocumented endpoint carries PII in bodies, path or query", _shadow_pii),
    FindingRule("zombie_traffic", "medium",
                "a zombie endpoint still receives traffic (low when unseen for 30 days)", _zombie_traffic),
    FindingRule("graphql_introspection_unauthenticated", "high",
                "a GraphQL endpoint answered introspection without credentials", _graphql_introspection),
    FindingRule("graphql_deep_query", "medium", "a GraphQL operation nested deeper than the limit", _graphql_deep),
    FindingRule("graphql_wide_query", "medium", "a GraphQL operation selected more fields than the limit",
                _graphql_wide),
    FindingRule("graphql_errors", "low", "GraphQL responses carried errors", _graphql_errors),
)


@dataclass(frozen=True, slots=True)
class TlsRule:
    kind: str
    severity: str
    when: str
    applies: Callable[[TlsFacts], Hit | None]


def _tls_counts(t: TlsFacts, keep: Callable[[str, str], bool]) -> list[dict[str, Any]]:
    out = []
    for key, n in sorted(t.negotiated.items()):
        version, _, cipher = key.partition(" ")
        if keep(version, cipher):
            out.append({"version": version, "cipher": cipher, "connections": n})
    return out


def _tls_old_version(t: TlsFacts) -> Hit | None:
    rows = _tls_counts(t, lambda v, _c: v in DEPRECATED_VERSIONS)
    if not rows:
        return None
    versions = sorted({r["version"] for r in rows})
    n = sum(r["connections"] for r in rows)
    return Hit(f"{t.where} negotiated {', '.join(versions)} ({n} connections)",
               severity="critical" if "SSLv3" in versions else None, extra={"negotiated": rows})


def _tls_weak_cipher(t: TlsFacts) -> Hit | None:
    rows = _tls_counts(t, lambda v, c: weak_cipher(c, v) is not None)
    if not rows:
        return None
    for r in rows:
        r["weakness"] = weak_cipher(r["cipher"], r["version"])
    names = sorted({r["cipher"] for r in rows})
    return Hit(f"{t.where} negotiated weak cipher suites: {', '.join(names)}", extra={"negotiated": rows})


def _cert_extra(t: TlsFacts) -> dict[str, Any]:
    return {"certificate": {
        "subject": t.cert_subject, "issuer": t.cert_issuer,
        "not_before": _utc(t.cert_not_before).isoformat() if t.cert_not_before else None,
        "not_after": _utc(t.cert_not_after).isoformat() if t.cert_not_after else None,
    }}


def _tls_expired(t: TlsFacts) -> Hit | None:
    last = _utc(t.last_seen)
    if t.cert_not_after is not None and _utc(t.cert_not_after) < last:
        return Hit(f"{t.where} served a certificate that expired {_utc(t.cert_not_after).isoformat()} "
                   f"({t.cert_subject})", extra=_cert_extra(t))
    if t.cert_not_before is not None and _utc(t.cert_not_before) > last:
        return Hit(f"{t.where} served a certificate not valid before {_utc(t.cert_not_before).isoformat()} "
                   f"({t.cert_subject})", extra=_cert_extra(t))
    return None


def _tls_self_signed(t: TlsFacts) -> Hit | None:
    if not t.cert_self_signed:
        return None
    return Hit(f"{t.where} served a self-signed certificate ({t.cert_subject})", extra=_cert_extra(t))


TLS_RULES: tuple[TlsRule, ...] = (
    TlsRule("tls_deprecated_version", "high", "SSLv3, TLS 1.0 or TLS 1.1 negotiated (SSLv3: critical)",
            _tls_old_version),
    TlsRule("tls_weak_cipher", "high", "NULL, EXPORT, RC4, (3)DES, anon or MD5 suites, CBC-SHA1 on TLS 1.0",
            _tls_weak_cipher),
    TlsRule("tls_certificate_expired", "high", "the certificate was expired (or not yet valid) when served",
            _tls_expired),
    TlsRule("tls_certificate_self_signed", "medium", "the certificate is self-signed", _tls_self_signed),
)
KINDS: tuple[str, ...] = tuple(rule.kind for rule in RULES) + tuple(rule.kind for rule in TLS_RULES)


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def build_findings(
    *,
    session: Session,
    full_samples: bool,
    severities: Iterable[str] = (),
    kinds: Iterable[str] = (),
    host: str | None = None,
    now: datetime | None = None,
    graphql_limits: GraphqlLimits | None = None,
) -> list[dict[str, Any]]:
    """Findings ordered by severity, kind, host, path, method (endpoint URLs added by the route)."""
    if now is None:
        newest = session.scalar(select(func.max(Endpoint.last_seen)))
        now = _utc(newest) if newest is not None else datetime.now(UTC)
    stmt = (
        select(
            Endpoint.id,
            Service.host,
            Endpoint.method,
            Endpoint.path_template,
            Endpoint.hits,
            Endpoint.last_seen,
            Endpoint.unauthenticated_2xx,
            func.coalesce(EndpointVerdict.shadow, True).label("shadow"),
            func.coalesce(EndpointVerdict.zombie, False).label("zombie"),
            EndpointVerdict.zombie_reasons,
        )
        .join(Service, Service.id == Endpoint.service_id)
        .outerjoin(EndpointVerdict, EndpointVerdict.endpoint_id == Endpoint.id)
    )
    if host is not None:
        stmt = stmt.where(Service.host == host)
    endpoints = {row.id: row for row in session.execute(stmt)}
    pii: dict[int, list[PiiFinding]] = defaultdict(list)
    pii_stmt = select(PiiFinding).order_by(
        PiiFinding.endpoint_id, PiiFinding.location, PiiFinding.field, PiiFinding.type
    )
    limits = graphql_limits or GraphqlLimits.from_env()
    graphql: dict[int, GraphqlFacts] = {}
    for g in session.scalars(select(EndpointGraphql)):
        if g.endpoint_id in endpoints:
            graphql[g.endpoint_id] = GraphqlFacts(
                g.operations, g.errors, g.errored_operations, g.introspection, g.introspection_unauthenticated,
                g.max_depth, g.max_width, g.max_fields)
    if host is not None:
        pii_stmt = pii_stmt.where(PiiFinding.endpoint_id.in_(list(endpoints)))
    for finding in session.scalars(pii_stmt):
        if finding.endpoint_id in endpoints:
            pii[finding.endpoint_id].append(finding)

    items: list[dict[str, Any]] = []
    wanted_sev, wanted_kind = set(severities), set(kinds)
    for eid, row in endpoints.items():
        facts = EndpointFacts(
            id=eid,
            host=row.host,
            method=row.method,
            path_template=row.path_template,
            hits=row.hits,
            last_seen=row.last_seen,
            unauthenticated_2xx=row.unauthenticated_2xx,
            shadow=bool(row.shadow),
            zombie=bool(row.zombie),
            zombie_reasons=tuple(row.zombie_reasons or ()),
            pii=tuple(pii.get(eid, ())),
            now=now,
            graphql=graphql.get(eid),
            limits=limits,
        )
        for rule in RULES:
            if wanted_kind and rule.kind not in wanted_kind:
                continue
            hit = rule.applies(facts)
            if hit is None:
                continue
            severity = hit.severity or rule.severity
            if wanted_sev and severity not in wanted_sev:
                continue
            items.append(_item(rule.kind, severity, facts, hit, full_samples=full_samples))
    items.extend(_tls_findings(session, wanted_sev, wanted_kind, host))
    items.sort(key=order_key)
    return items


FindingKey = tuple[int, int, str, str, str, str]


def order_key(i: dict[str, Any]) -> FindingKey:
    """Where a finding sorts: severity, kind, host, path, method, then its id (unique), so a page
    boundary is a point in this order that a later request can resume after."""
    ep, tls = i.get("endpoint"), i.get("tls_service") or {}
    where = (ep["host"], ep["path_template"], ep["method"]) if ep else (tls.get("sni") or "", tls.get("server", ""), "")
    return (SEVERITIES.index(i["severity"]), KINDS.index(i["kind"]), *where, i["id"])


def page_after(
    items: list[dict[str, Any]], *, after: FindingKey | None, limit: int
) -> tuple[list[dict[str, Any]], FindingKey | None]:
    """The ``limit`` findings after ``after`` in :func:`order_key` order (``items`` sorted so), and
    the key to resume after when more follow. Findings are derived, not stored: keying the page on
    the order rather than an offset means findings that appear or clear between two requests
    never shift or repeat the ones already served."""
    start = 0 if after is None else bisect_right(items, after, key=order_key)
    page = items[start : start + limit]
    more = start + limit < len(items)
    return page, (order_key(page[-1]) if more and page else None)


def _tls_findings(session: Session, wanted_sev: set[str], wanted_kind: set[str], host: str | None
                  ) -> list[dict[str, Any]]:
    rules = [r for r in TLS_RULES if not wanted_kind or r.kind in wanted_kind]
    if not rules:
        return []
    stmt = select(TlsService).order_by(TlsService.id)
    if host is not None:
        stmt = stmt.where(TlsService.sni == host)
    items: list[dict[str, Any]] = []
    for row in session.scalars(stmt):
        facts = TlsFacts(
            id=row.id, server=row.server, sni=row.sni, connections=row.connections,
            negotiated={k: v for k, v in (row.negotiated or {}).items() if isinstance(v, int)},
            cert_subject=row.cert_subject, cert_issuer=row.cert_issuer, cert_not_before=row.cert_not_before,
            cert_not_after=row.cert_not_after, cert_self_signed=row.cert_self_signed, last_seen=row.last_seen,
        )
        for rule in rules:
            hit = rule.applies(facts)
            if hit is None:
                continue
            severity = hit.severity or rule.severity
            if wanted_sev and severity not in wanted_sev:
                continue
            items.append({
                "id": f"{rule.kind}:tls{facts.id}", "kind": rule.kind, "severity": severity, "title": hit.title,
                "endpoint": None,
                "tls_service": {"id": facts.id, "server": facts.server, "sni": facts.sni or None},
                "pii_types": [], "evidence": [], **hit.extra,
            })
    return items


def _item(kind: str, severity: str, ep: EndpointFacts, hit: Hit, *, full_samples: bool) -> dict[str, Any]:
    return {
        "id": f"{kind}:{ep.id}",
        "kind": kind,
        "severity": severity,
        "title": hit.title,
        "endpoint": {"id": ep.id, "host": ep.host, "method": ep.method, "path_template": ep.path_template},
        "tls_service": None,
        "pii_types": sorted({p.type for p in hit.evidence}),
        "evidence": [
            {
                "type": p.type,
                "location": p.location,
                "field": p.field,
                "count": p.count,
                "sample": shown(p.sample, full_samples=full_samples),
            }
            for p in hit.evidence
        ],
        **hit.extra,
    }


def severity_counts(items: Iterable[dict[str, Any]]) -> dict[str, int]:
    """Items per severity, every severity listed (the API's ``counts``)."""
    counts = dict.fromkeys(SEVERITIES, 0)
    for item in items:
        counts[item["severity"]] += 1
    return counts
