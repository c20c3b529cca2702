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

"Unseen for 30 days" counts back from the newest observation in the inventory, not the clock, so
an analysed capture from last year reads as it did then.

Credentials in request headers are how clients authenticate, not data the endpoint carries: they
do not make a shadow endpoint a PII carrier.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from analyzer.db.models import Endpoint, EndpointVerdict, PiiFinding, Service
from analyzer.inventory.samples import shown

SEVERITIES = ("critical", "high", "medium", "low")
URL_LOCATIONS = ("path", "query")
BODY_LOCATIONS = ("request", "response")
CREDENTIAL_TYPES = frozenset({"CREDENTIAL", "API_KEY", "PASSWORD", "SECRET", "TOKEN", "JWT"})
STALE_AFTER = timedelta(days=30)


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

    @property
    def where(self) -> str:
        return f"{self.method} {self.host}{self.path_template}"


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


RULES: tuple[FindingRule, ...] = (
    FindingRule("pii_unauthenticated", "critical",
                "PII in responses of an endpoint that served a 2xx without credentials", _pii_unauthenticated),
    FindingRule("credentials_in_url", "critical", "credentials in the path or the query string", _credentials_in_url),
    FindingRule("pii_in_url", "high", "other PII in the path or the query string", _pii_in_url),
    FindingRule("shadow_pii", "high", "an undocumented endpoint carries PII in bodies, path or query", _shadow_pii),
    FindingRule("zombie_traffic", "medium",
                "a zombie endpoint still receives traffic (low when unseen for 30 days)", _zombie_traffic),
)
KINDS: tuple[str, ...] = tuple(rule.kind for rule in RULES)


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
    items.sort(
        key=lambda i: (
            SEVERITIES.index(i["severity"]),
            KINDS.index(i["kind"]),
            i["endpoint"]["host"],
            i["endpoint"]["path_template"],
            i["endpoint"]["method"],
        )
    )
    return items


def _item(kind: str, severity: str, ep: EndpointFacts, hit: Hit, *, full_samples: bool) -> dict[str, Any]:
    return {
        "id": f"{kind}:{ep.id}",
        "kind": kind,
        "severity": severity,
        "title": hit.title,
        "endpoint": {"id": ep.id, "host": ep.host, "method": ep.method, "path_template": ep.path_template},
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
