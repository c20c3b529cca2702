"""Actionable findings: one list across the inventory, each item linked to its endpoint.

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
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from analyzer.db.models import Endpoint, EndpointVerdict, PiiFinding, Service
from analyzer.inventory.samples import shown

SEVERITIES = ("critical", "high", "medium", "low")
KINDS = ("pii_unauthenticated", "credentials_in_url", "pii_in_url", "shadow_pii", "zombie_traffic")
URL_LOCATIONS = ("path", "query")
BODY_LOCATIONS = ("request", "response")
CREDENTIAL_TYPES = frozenset({"CREDENTIAL", "API_KEY", "PASSWORD", "SECRET", "TOKEN", "JWT"})
STALE_AFTER = timedelta(days=30)


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

    def evidence(rows: list[PiiFinding]) -> list[dict[str, Any]]:
        return [
            {
                "type": p.type,
                "location": p.location,
                "field": p.field,
                "count": p.count,
                "sample": shown(p.sample, full_samples=full_samples),
            }
            for p in rows
        ]

    items: list[dict[str, Any]] = []

    def add(kind: str, severity: str, ep: Any, title: str, rows: list[PiiFinding], **extra: Any) -> None:
        items.append(
            {
                "id": f"{kind}:{ep.id}",
                "kind": kind,
                "severity": severity,
                "title": title,
                "endpoint": {
                    "id": ep.id,
                    "host": ep.host,
                    "method": ep.method,
                    "path_template": ep.path_template,
                },
                "pii_types": sorted({p.type for p in rows}),
                "evidence": evidence(rows),
                **extra,
            }
        )

    for eid, ep in endpoints.items():
        rows = pii.get(eid, [])
        where = f"{ep.method} {ep.host}{ep.path_template}"
        served = [p for p in rows if p.location == "response"]
        if ep.unauthenticated_2xx > 0 and served:
            add(
                "pii_unauthenticated",
                "critical",
                ep,
                f"{where} served PII without authentication ({ep.unauthenticated_2xx} responses)",
                served,
            )
        in_url = [p for p in rows if p.location in URL_LOCATIONS]
        secrets = [p for p in in_url if p.type in CREDENTIAL_TYPES]
        if secrets:
            add("credentials_in_url", "critical", ep, f"{where} carries credentials in its URL", secrets)
        personal = [p for p in in_url if p.type not in CREDENTIAL_TYPES]
        if personal:
            add("pii_in_url", "high", ep, f"{where} carries PII in its URL", personal)
        carried = [p for p in rows if p.location in BODY_LOCATIONS + URL_LOCATIONS]
        if ep.shadow and carried:
            add("shadow_pii", "high", ep, f"{where} is undocumented and carries PII", carried)
        if ep.zombie and ep.hits > 0:
            stale = now - _utc(ep.last_seen) > STALE_AFTER
            reasons = ep.zombie_reasons or []
            add(
                "zombie_traffic",
                "low" if stale else "medium",
                ep,
                f"{where} is a zombie ({', '.join(r['reason'] for r in reasons)}) and still receives traffic "
                f"({ep.hits} requests, last {_utc(ep.last_seen).isoformat()})",
                [],
                zombie_reasons=reasons,
            )
    wanted_sev, wanted_kind = set(severities), set(kinds)
    items = [
        i
        for i in items
        if (not wanted_sev or i["severity"] in wanted_sev) and (not wanted_kind or i["kind"] in wanted_kind)
    ]
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
