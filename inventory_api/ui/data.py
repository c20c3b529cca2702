"""Read models of the console pages: keyword-only queries returning frozen dataclasses or the
API's Public schemas, bound parameters only, row counts bounded (``MAX_ROWS``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import distinct, func, select
from sqlalchemy.orm import Session

from analyzer.alerts.outbox import DestinationStatus, Outbox
from analyzer.db.models import (
    ApiSpec,
    Endpoint,
    EndpointHourly,
    EndpointPeer,
    EndpointVerdict,
    PiiFinding,
    Service,
    SpecOperation,
)
from inventory_api.schemas import ChangePublic
from inventory_api.schemas_threats import ActorPublic

MAX_ROWS = 200
def _redacted_url(value: Any) -> Any:
    from urllib.parse import urlsplit

    if not isinstance(value, str) or "://" not in value:
        return value
    try:
        parts = urlsplit(value)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "(unparsable URL)"
    return f"{parts.scheme}://{host}{port}/…" if parts.path not in ("", "/") or parts.query else f"{parts.scheme}://{host}{port}"


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def newest_seen(session: Session) -> datetime:
    newest = session.scalar(select(func.max(Endpoint.last_seen)))
    return _utc(newest) if newest is not None else datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Overview:
    """The overview page's inventory counts (``now``: the newest observation, not the clock)."""

    now: datetime
    services: int
    endpoints: int
    new_endpoints: int  # first seen in the 7 days before ``now``
    new_services: int
    shadow: int
    zombie: int
    unauthenticated: int  # endpoints that answered 2xx without credentials
    pii_by_type: tuple[tuple[str, int], ...]  # (type, endpoints), the 20 most widespread


@dataclass(frozen=True, slots=True)
class Client:
    address: str
    count: int
    last_seen: datetime


def endpoint_clients(*, session: Session, endpoint_id: int, limit: int = 50) -> tuple[Client, ...]:
    """The endpoint's busiest client addresses."""
    stmt = (
        select(EndpointPeer.address, EndpointPeer.count, EndpointPeer.last_seen)
        .where(EndpointPeer.endpoint_id == endpoint_id, EndpointPeer.kind == "client")
        .order_by(EndpointPeer.count.desc(), EndpointPeer.address)
        .limit(limit)
    )
    return tuple(Client(address, int(count), _utc(last)) for address, count, last in session.execute(stmt))


def endpoint_changes(*, session: Session, endpoint_id: int, limit: int = 50) -> list[ChangePublic]:
    """The endpoint's newest changes (the API's Public schema: before/after, capture time)."""
    from analyzer.db.models import ChangeEvent
    from analyzer.inventory.changes import change_dict

    stmt = (
        select(ChangeEvent)
        .where(ChangeEvent.endpoint_id == endpoint_id)
        .order_by(ChangeEvent.detected_at.desc(), ChangeEvent.id.desc())
        .limit(limit)
    )
    return [ChangePublic(**change_dict(row)) for row in session.scalars(stmt)]


def recent_changes(*, session: Session, limit: int = MAX_ROWS) -> list[ChangePublic]:
    """The inventory's newest changes, newest first (the API's Public schema)."""
    from analyzer.db.models import ChangeEvent
    from analyzer.inventory.changes import change_dict

    stmt = select(ChangeEvent).order_by(ChangeEvent.detected_at.desc(), ChangeEvent.id.desc()).limit(limit)
    return [ChangePublic(**change_dict(row)) for row in session.scalars(stmt)]


def riskiest_actors(*, session: Session, limit: int = MAX_ROWS) -> list[ActorPublic]:
    """Actors (hashed identities, masked hints) by risk, then most recently seen."""
    from analyzer.db.models import ThreatActor

    stmt = (
        select(ThreatActor)
        .order_by(ThreatActor.risk.desc(), ThreatActor.last_seen.desc(), ThreatActor.id.desc())
        .limit(limit)
    )
    return [
        ActorPublic(
            id=a.id, ip=a.ip, identity=a.identity, first_seen=_utc(a.first_seen), last_seen=_utc(a.last_seen),
            requests=a.requests, endpoints=a.endpoints, pii_types=dict(a.pii_types or {}), risk=a.risk,
        )
        for a in session.scalars(stmt)
    ]


def overview(session: Session) -> Overview:
    now = newest_seen(session)
    week = now - timedelta(days=7)
    services = session.scalar(select(func.count(Service.id))) or 0
    endpoints = session.scalar(select(func.count(Endpoint.id))) or 0
    new_endpoints = session.scalar(select(func.count(Endpoint.id)).where(Endpoint.first_seen >= week)) or 0
    new_services = session.scalar(select(func.count(Service.id)).where(Service.first_seen >= week)) or 0
    shadow = session.scalar(select(func.count()).select_from(EndpointVerdict).where(EndpointVerdict.shadow)) or 0
    zombie = session.scalar(select(func.count()).select_from(EndpointVerdict).where(EndpointVerdict.zombie)) or 0
    unauth = session.scalar(select(func.count(Endpoint.id)).where(Endpoint.unauthenticated_2xx > 0)) or 0
    pii = tuple(
        (str(t), int(n))
        for t, n in session.execute(
            select(PiiFinding.type, func.count(distinct(PiiFinding.endpoint_id)))
            .group_by(PiiFinding.type)
            .order_by(func.count(distinct(PiiFinding.endpoint_id)).desc(), PiiFinding.type)
            .limit(20)
        )
    )
    return Overview(
        now=now, services=services, endpoints=endpoints, new_endpoints=new_endpoints, new_services=new_services,
        shadow=shadow, zombie=zombie, unauthenticated=unauth, pii_by_type=pii,
    )


def traffic(session: Session, *, days: int = 14, endpoint_id: int | None = None) -> list[tuple[datetime, int]]:
    """Requests per hour over the ``days`` before the newest recorded hour (gaps as zero)."""
    newest_stmt = select(func.max(EndpointHourly.hour))
    if endpoint_id is not None:
        newest_stmt = newest_stmt.where(EndpointHourly.endpoint_id == endpoint_id)
    newest = session.scalar(newest_stmt)
    if newest is None:
        return []
    end = _utc(newest)
    start = end - timedelta(days=days) + timedelta(hours=1)
    stmt = select(EndpointHourly.hour, func.sum(EndpointHourly.count)).where(EndpointHourly.hour >= start)
    if endpoint_id is not None:
        stmt = stmt.where(EndpointHourly.endpoint_id == endpoint_id)
    counts = {_utc(h): int(n or 0) for h, n in session.execute(stmt.group_by(EndpointHourly.hour))}
    # One endpoint: from its first recorded hour in the window (at least a day), not 14 empty days.
    first = max(start, min(min(counts), end - timedelta(hours=23))) if endpoint_id is not None and counts else start
    points = []
    hour = first
    while hour <= end:
        points.append((hour, counts.get(hour, 0)))
        hour += timedelta(hours=1)
    return points


def pii_recipients(session: Session, *, limit: int = 200) -> list[dict[str, Any]]:
    """Who received which PII, from what the inventory keeps: the clients of endpoints whose
    responses carried PII (the actors table, when present, names identities instead)."""
    served = (
        select(PiiFinding.endpoint_id, PiiFinding.type)
        .where(PiiFinding.location == "response")
        .distinct()
        .subquery()
    )
    stmt = (
        select(
            EndpointPeer.address,
            func.count(distinct(EndpointPeer.endpoint_id)).label("endpoints"),
            func.sum(EndpointPeer.count).label("requests"),
            func.max(EndpointPeer.last_seen).label("last_seen"),
        )
        .join(served, served.c.endpoint_id == EndpointPeer.endpoint_id)
        .where(EndpointPeer.kind == "client")
        .group_by(EndpointPeer.address)
        .order_by(func.sum(EndpointPeer.count).desc(), EndpointPeer.address)
        .limit(limit)
    )
    rows = [dict(r) for r in session.execute(stmt).mappings()]
    if not rows:
        return []
    types_stmt = (
        select(EndpointPeer.address, served.c.type)
        .join(served, served.c.endpoint_id == EndpointPeer.endpoint_id)
        .where(EndpointPeer.kind == "client", EndpointPeer.address.in_([r["address"] for r in rows]))
        .distinct()
    )
    types: dict[str, list[str]] = {}
    for address, typ in session.execute(types_stmt):
        types.setdefault(address, []).append(typ)
    for r in rows:
        r["pii_types"] = sorted(types.get(r["address"], []))
        r["last_seen"] = _utc(r["last_seen"]) if r["last_seen"] else None
    return rows


def spec_detail(session: Session, spec_id: int) -> dict[str, Any] | None:
    """A spec's operations with what traffic showed for each, and the observed endpoints of its
    service that it does not document (the diff of the document against observed traffic)."""
    spec = session.get(ApiSpec, spec_id)
    if spec is None:
        return None
    ops = [
        dict(r)
        for r in session.execute(
            select(
                SpecOperation.id, SpecOperation.host, SpecOperation.method, SpecOperation.path_template,
                SpecOperation.deprecated, SpecOperation.verdict, SpecOperation.endpoint_id, Endpoint.hits,
            )
            .outerjoin(Endpoint, Endpoint.id == SpecOperation.endpoint_id)
            .where(SpecOperation.spec_id == spec_id)
            .order_by(SpecOperation.path_template, SpecOperation.method)
            .limit(2000)
        ).mappings()
    ]
    undocumented: list[dict[str, Any]] = []
    if spec.service_id is not None:
        undocumented = [
            dict(r)
            for r in session.execute(
                select(Endpoint.id, Endpoint.method, Endpoint.path_template, Endpoint.hits)
                .outerjoin(EndpointVerdict, EndpointVerdict.endpoint_id == Endpoint.id)
                .where(Endpoint.service_id == spec.service_id, func.coalesce(EndpointVerdict.shadow, True))
                .order_by(Endpoint.hits.desc(), Endpoint.id)
                .limit(500)
            ).mappings()
        ]
    host = session.scalar(select(Service.host).where(Service.id == spec.service_id)) if spec.service_id else None
    return {
        "id": spec.id,
        "name": spec.name,
        "version": spec.version,
        "source": spec.source,
        "host": host,
        "imported_at": _utc(spec.imported_at),
        "operations": ops,
        "undocumented": undocumented,
    }


def delete_spec(session: Session, spec_id: int) -> bool:
    """Remove a spec (its operations cascade) and recompute every endpoint's verdicts."""
    from analyzer.inventory.verdicts import recompute

    spec = session.get(ApiSpec, spec_id)
    if spec is None:
        return False
    # Operations first: SQLite without foreign-key enforcement would keep them.
    session.query(SpecOperation).filter(SpecOperation.spec_id == spec_id).delete(synchronize_session=False)
    session.delete(spec)
    session.flush()
    try:
        recompute(session)  # verdicts (and endpoints.spec_verdict) from the remaining specs
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return True


def services_choice(session: Session, limit: int = 500) -> Sequence[tuple[int, str]]:
    return session.execute(select(Service.id, Service.host).order_by(Service.host).limit(limit)).all()


def pii_summary(session: Session, *, top: int = 50) -> dict[str, Any]:
    """The PII page's aggregates, computed by the database (the full report is its own page)."""
    stats = (
        func.count().label("findings"),
        func.count(distinct(PiiFinding.endpoint_id)).label("endpoints"),
        func.coalesce(func.sum(PiiFinding.count), 0).label("occurrences"),
    )
    totals = dict(session.execute(select(*stats)).mappings().one())
    by_type = [dict(r) for r in session.execute(
        select(PiiFinding.type, *stats).group_by(PiiFinding.type).order_by(func.count(distinct(PiiFinding.endpoint_id)).desc(), PiiFinding.type)
    ).mappings()]
    by_location = [dict(r) for r in session.execute(
        select(PiiFinding.location, *stats).group_by(PiiFinding.location).order_by(func.count().desc())
    ).mappings()]
    by_service = [dict(r) for r in session.execute(
        select(Service.host, Service.owner, *stats)
        .join(Endpoint, Endpoint.id == PiiFinding.endpoint_id)
        .join(Service, Service.id == Endpoint.service_id)
        .group_by(Service.id, Service.host, Service.owner)
        .order_by(func.coalesce(func.sum(PiiFinding.count), 0).desc(), Service.host)
        .limit(top)
    ).mappings()]
    served = select(PiiFinding.endpoint_id).where(PiiFinding.location == "response")
    unauth = [dict(r) for r in session.execute(
        select(Endpoint.id, Endpoint.method, Endpoint.path_template, Endpoint.unauthenticated_2xx, Service.host)
        .join(Service, Service.id == Endpoint.service_id)
        .where(Endpoint.unauthenticated_2xx > 0, Endpoint.id.in_(served))
        .order_by(Endpoint.unauthenticated_2xx.desc(), Endpoint.id)
        .limit(top)
    ).mappings()]
    types: dict[int, set[str]] = {}
    if unauth:
        for eid, typ in session.execute(
            select(PiiFinding.endpoint_id, PiiFinding.type).where(
                PiiFinding.endpoint_id.in_([r["id"] for r in unauth]), PiiFinding.location == "response"
            )
        ):
            types.setdefault(eid, set()).add(typ)
    for r in unauth:
        r["types"] = ", ".join(sorted(types.get(r["id"], ())))
    return {"totals": totals, "by_type": by_type, "by_location": by_location, "by_service": by_service,
            "unauthenticated": unauth}


@dataclass(frozen=True, slots=True)
class DestinationRow:
    """An alert destination as the settings page shows it: never its secrets, and its target
    without a URL's path or query (a Slack or Splunk URL carries its token there)."""

    id: str
    name: str
    kind: str
    enabled: bool
    target: str
    status: DestinationStatus


def alert_destinations(*, session: Session, outbox: Outbox) -> list[DestinationRow]:
    from analyzer.alerts.wiring import list_integrations

    rows = []
    for d in list_integrations(session):
        target = _redacted_url(d.url) if d.url else f"{d.host}:{d.port} ({d.transport.value})"
        rows.append(DestinationRow(d.id, d.name, d.kind.value, d.enabled, str(target), outbox.status(d.id)))
    return rows
