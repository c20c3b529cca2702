"""Queries of threat detection's tables for ``/api/v1/events``, ``/actors`` and ``/data-flows``.

Every filter value is bound; pages are keyset pages on (sort key, row id) like the catalog's.
Evidence is already masked by the engine; callers without ``read_samples`` (viewers) get it
masked once more: payload snippets and id samples are replaced by a shape-only marker.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, literal, select
from sqlalchemy.orm import Session

from analyzer.db.models import DataFlow, FindingState, ThreatActor, ThreatEvent
from analyzer.inventory.workflow import EVENT_PREFIX, endpoint_keys
from inventory_api.crud import Page, _paginate
from inventory_api.pagination import SortColumn, SortSpec

EVENT_SORTS: Mapping[str, SortColumn] = {
    "id": SortColumn(ThreatEvent.id, "int"),
    "first_seen": SortColumn(ThreatEvent.first_seen, "datetime"),
    "last_seen": SortColumn(ThreatEvent.last_seen, "datetime"),
}
ACTOR_SORTS: Mapping[str, SortColumn] = {
    "id": SortColumn(ThreatActor.id, "int"),
    "last_seen": SortColumn(ThreatActor.last_seen, "datetime"),
    "risk": SortColumn(ThreatActor.risk, "int"),
    "requests": SortColumn(ThreatActor.requests, "int"),
}
FLOW_SORTS: Mapping[str, SortColumn] = {
    "id": SortColumn(DataFlow.id, "int"),
    "records": SortColumn(DataFlow.records, "int"),
    "last_seen": SortColumn(DataFlow.last_seen, "datetime"),
}
# Evidence keys holding (already masked) excerpts of what was sent: not for viewers.
EXCERPT_KEYS = frozenset({"snippet", "sample", "samples", "value", "example"})
VIEWER_MASK = "[masked]"


def viewer_evidence(evidence: Any) -> Any:
    """Evidence as a viewer sees it: counts, names and types, no excerpts."""
    if isinstance(evidence, Mapping):
        return {k: (VIEWER_MASK if k in EXCERPT_KEYS and v is not None else viewer_evidence(v)) for k, v in evidence.items()}
    if isinstance(evidence, list):
        return [viewer_evidence(v) for v in evidence]
    return evidence


@dataclass(frozen=True, slots=True)
class EventFilters:
    types: Sequence[str] = ()
    severities: Sequence[str] = ()
    actor_id: int | None = None
    host: str | None = None
    endpoint_id: int | None = None
    since: datetime | None = None
    states: Sequence[str] = ()  # workflow states (no workflow row: open)


def list_events(
    *, session: Session, filters: EventFilters, sort: SortSpec, limit: int, cursor: str | None, full_evidence: bool
) -> Page | None:
    """A page of events; None when the actor or endpoint filtered on does not exist."""
    stmt = select(
        *ThreatEvent.__table__.c,
        ThreatActor.id.label("actor_id"),
        EVENT_SORTS[sort.key].column.label("sort_value"),
    ).outerjoin(ThreatActor, ThreatActor.key == ThreatEvent.actor_key)
    f = filters
    if f.types:
        stmt = stmt.where(ThreatEvent.type.in_(list(f.types)))
    if f.severities:
        stmt = stmt.where(ThreatEvent.severity.in_(list(f.severities)))
    if f.actor_id is not None:
        key = session.scalar(select(ThreatActor.key).where(ThreatActor.id == f.actor_id))
        if key is None:
            return None
        stmt = stmt.where(ThreatEvent.actor_key == key)
    if f.host is not None:
        stmt = stmt.where(ThreatEvent.host == f.host)
    if f.endpoint_id is not None:
        row = endpoint_keys(session=session, endpoint_ids=[f.endpoint_id]).get(f.endpoint_id)
        if row is None:
            return None
        stmt = stmt.where(
            ThreatEvent.host == row[0], ThreatEvent.method == row[1], ThreatEvent.path_template == row[2]
        )
    if f.since is not None:
        stmt = stmt.where(ThreatEvent.last_seen >= f.since)
    if f.states:
        stmt = stmt.outerjoin(
            FindingState, FindingState.finding_id == literal(EVENT_PREFIX) + ThreatEvent.event_id
        ).where(func.coalesce(FindingState.state, "open").in_(list(f.states)))
    rows, next_cursor = _paginate(
        session=session, stmt=stmt, sorts=EVENT_SORTS, id_column=ThreatEvent.id, sort=sort, limit=limit, cursor=cursor
    )
    return Page(items=[_event(r, full_evidence) for r in rows], next_cursor=next_cursor)


def _event(row: Mapping[str, Any], full_evidence: bool) -> dict[str, Any]:
    evidence = row["evidence"] or {}
    return {
        "id": row["event_id"],
        "type": row["type"],
        "subtype": row["subtype"],
        "severity": row["severity"],
        "title": row["title"],
        "actor": {"id": row["actor_id"], "ip": row["actor_ip"], "identity": row["actor_identity"]},
        "host": row["host"],
        "method": row["method"],
        "path_template": row["path_template"],
        "window_start": row["window_start"],
        "window_seconds": row["window_seconds"],
        "first_seen": row["first_seen"],
        "last_seen": row["last_seen"],
        "count": row["count"],
        "evidence": evidence if full_evidence else viewer_evidence(evidence),
    }


def list_actors(
    *, session: Session, sort: SortSpec, limit: int, cursor: str | None, min_risk: int | None = None
) -> Page:
    stmt = select(*ThreatActor.__table__.c, ACTOR_SORTS[sort.key].column.label("sort_value"))
    if min_risk is not None:
        stmt = stmt.where(ThreatActor.risk >= min_risk)
    rows, next_cursor = _paginate(
        session=session, stmt=stmt, sorts=ACTOR_SORTS, id_column=ThreatActor.id, sort=sort, limit=limit, cursor=cursor
    )
    return Page(items=[_actor(r) for r in rows], next_cursor=next_cursor)


def _actor(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "ip": row["ip"],
        "identity": row["identity"],
        "first_seen": row["first_seen"],
        "last_seen": row["last_seen"],
        "requests": row["requests"],
        "endpoints": row["endpoints"],
        "pii_types": row["pii_types"] or {},
        "risk": row["risk"],
    }


def get_actor(*, session: Session, actor_id: int) -> dict[str, Any] | None:
    """One actor with its event counts by type and its data flows (the 100 largest)."""
    row = session.execute(select(*ThreatActor.__table__.c).where(ThreatActor.id == actor_id)).mappings().first()
    if row is None:
        return None
    actor = _actor(dict(row))
    counts: dict[str, int] = {}
    for typ, in session.execute(select(ThreatEvent.type).where(ThreatEvent.actor_key == row["key"])):
        counts[typ] = counts.get(typ, 0) + 1
    actor["events"] = dict(sorted(counts.items()))
    flows = session.execute(
        select(*DataFlow.__table__.c)
        .where(DataFlow.actor_key == row["key"])
        .order_by(DataFlow.records.desc(), DataFlow.id)
        .limit(100)
    ).mappings()
    actor["data_flows"] = [_flow(dict(f), actor["id"]) for f in flows]
    return actor


def list_flows(
    *, session: Session, sort: SortSpec, limit: int, cursor: str | None, host: str | None, pii_type: str | None,
    actor_id: int | None,
) -> Page | None:
    stmt = select(
        *DataFlow.__table__.c, ThreatActor.id.label("actor_id"), FLOW_SORTS[sort.key].column.label("sort_value")
    ).outerjoin(ThreatActor, ThreatActor.key == DataFlow.actor_key)
    if host is not None:
        stmt = stmt.where(DataFlow.host == host)
    if pii_type is not None:
        stmt = stmt.where(DataFlow.pii_type == pii_type)
    if actor_id is not None:
        key = session.scalar(select(ThreatActor.key).where(ThreatActor.id == actor_id))
        if key is None:
            return None
        stmt = stmt.where(DataFlow.actor_key == key)
    rows, next_cursor = _paginate(
        session=session, stmt=stmt, sorts=FLOW_SORTS, id_column=DataFlow.id, sort=sort, limit=limit, cursor=cursor
    )
    return Page(items=[_flow(r, r["actor_id"]) for r in rows], next_cursor=next_cursor)


def _flow(row: Mapping[str, Any], actor_id: int | None) -> dict[str, Any]:
    return {
        "id": row["id"],
        "actor": {"id": actor_id, "ip": row["actor_ip"], "identity": row["actor_identity"]},
        "host": row["host"],
        "path_template": row["path_template"],
        "pii_type": row["pii_type"],
        "records": row["records"],
        "responses": row["responses"],
        "first_seen": row["first_seen"],
        "last_seen": row["last_seen"],
    }
