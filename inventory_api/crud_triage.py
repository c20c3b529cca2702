"""Threat events in the findings workflow: typed, keyword-only queries of the queue's events.

An event takes part in the findings workflow (:mod:`analyzer.inventory.workflow`) under the item
id ``event:<event_id>`` (the engine's stable hash, the same in every analyzer and re-run), so its
state, assignee, comment and history live in ``finding_states`` / ``finding_activity`` beside the
findings' (no schema of its own). A suppression rule names an event type as its kind, on an
endpoint or a service, exactly as it names a finding kind.

The queue reads events with their workflow state in SQL (state and suppression filters bound on
the events' own columns, the page's ids sorted before the endpoint join, one bounded count per
request), never every event into Python. Findings' typed rows and workflow views: crud_workflow.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, false, func, literal, not_, or_, select
from sqlalchemy.orm import Session

from analyzer.db.models import Endpoint, FindingState, Service, ThreatEvent
from analyzer.detect.model import EVENT_TYPES
from analyzer.detect.model import SEVERITIES as EVENT_SEVERITIES
from analyzer.inventory.findings import KINDS, SEVERITIES
from analyzer.inventory.workflow import (
    CLOSED,
    EVENT_PREFIX,
    STATES,
    Triage,
    WorkflowError,
    endpoint_keys,
    parse_finding_id,
)
from inventory_api.crud_threats import viewer_evidence
from inventory_api.crud_workflow import EndpointRef

MAX_EVENT_ID = 32  # ThreatEvent.event_id's column width
MAX_COUNT = 10_000  # the queue counts matches up to here ("10,000+"): a page never reads every event
# What a suppression rule may name: a finding kind or an event type. Both registries grow on
# their own; a name in both would make one rule silence two different things.
if set(KINDS) & set(EVENT_TYPES):  # pragma: no cover - a registry edit, caught at import
    raise RuntimeError(f"finding kinds and event types overlap: {sorted(set(KINDS) & set(EVENT_TYPES))}")
SUPPRESSIBLE_KINDS: tuple[str, ...] = (*KINDS, *EVENT_TYPES)
# Severity choices of the queue's filter: the findings' order, then what only events use (info).
QUEUE_SEVERITIES: tuple[str, ...] = (*SEVERITIES, *(s for s in EVENT_SEVERITIES if s not in SEVERITIES))


def event_item_id(event_id: str) -> str:
    return EVENT_PREFIX + event_id


def parse_event_item_id(item_id: str) -> str | None:
    """The event hash of ``event:<hash>``, None when ``item_id`` names no event (a finding...)."""
    if not item_id.startswith(EVENT_PREFIX):
        return None
    raw = item_id[len(EVENT_PREFIX):]
    if not raw or len(raw) > MAX_EVENT_ID or not raw.isascii() or not raw.isalnum():
        raise WorkflowError(f"unknown event {item_id[:80]!r}")
    return raw


def check_item_id(*, session: Session, item_id: str) -> None:
    """Refuse (WorkflowError) an id naming neither a finding nor a stored event."""
    event_id = parse_event_item_id(item_id)
    if event_id is None:
        parse_finding_id(item_id, KINDS)
    elif session.scalar(select(ThreatEvent.id).where(ThreatEvent.event_id == event_id)) is None:
        raise WorkflowError(f"no such event {item_id[:80]!r}")


@dataclass(frozen=True, slots=True)
class QueueEvent:
    """One threat event as the queue shows it: what the engine stored (evidence masked for the
    caller's role), the endpoint it hit when the inventory has it, and its workflow overlay."""

    id: str  # the workflow item id: event:<event_id>
    event_id: str
    type: str
    subtype: str | None
    severity: str
    title: str
    host: str
    method: str | None
    path_template: str | None
    endpoint: EndpointRef | None
    actor_ip: str | None
    actor_identity: str | None  # masked hint
    first_seen: datetime
    last_seen: datetime
    count: int
    evidence: Mapping[str, Any]
    state: str
    assignee: str | None
    comment: str | None
    suppressed_by: int | None

    @property
    def kind(self) -> str:  # the name suppression rules and the kind filter use
        return self.type


@dataclass(frozen=True, slots=True)
class QueueEventPage:
    items: tuple[QueueEvent, ...]
    total: int  # at most MAX_COUNT
    more: bool = False  # more than MAX_COUNT match


@dataclass(frozen=True, slots=True)
class EventQuery:
    """The queue's filters: ``state`` is active (open + acknowledged), closed, all or one state."""

    state: str = "active"
    severity: str = ""
    type: str = ""
    host: str = ""
    endpoint_id: int | None = None
    show_suppressed: bool = False


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


_event_state = func.coalesce(FindingState.state, "open")
_workflow_row = FindingState.finding_id == literal(EVENT_PREFIX) + ThreatEvent.event_id
_workflow_event_id = func.substr(FindingState.finding_id, len(EVENT_PREFIX) + 1)
_event_rows = FindingState.finding_id.startswith(EVENT_PREFIX, autoescape=True)


def _filtered(session: Session, query: EventQuery, tri: Triage, *columns: Any) -> Any:
    """``columns`` of the events matching ``query``: filters on the events' own columns and the
    workflow rows of events only (no join of their own), so counting stays a pass over events."""
    moved = _moved_states(query.state)
    if moved:
        # Only events that left "open" match: read from their workflow rows (few), each joined to
        # its event by the unique event_id, instead of a pass over every event.
        stmt = (
            select(*columns)
            .select_from(FindingState)
            .join(ThreatEvent, ThreatEvent.event_id == _workflow_event_id)
            .where(_event_rows, FindingState.state.in_(moved))
        )
    else:
        stmt = select(*columns).select_from(ThreatEvent)
        # Open and active are "not among the moved ones": one hashed lookup per event, no join.
        gone = {"active": sorted(CLOSED), "open": [s for s in STATES if s != "open"]}.get(query.state)
        if gone:
            stmt = stmt.where(ThreatEvent.event_id.not_in(
                select(_workflow_event_id).where(_event_rows, FindingState.state.in_(gone))
            ))
    if query.severity:
        stmt = stmt.where(ThreatEvent.severity == query.severity)
    if query.type:
        stmt = stmt.where(ThreatEvent.type == query.type)
    if query.host:
        stmt = stmt.where(ThreatEvent.host == query.host.lower())
    if not query.show_suppressed:
        silenced = _suppressed(session, tri)
        if silenced is not None:
            stmt = stmt.where(not_(silenced))
    return stmt


def _moved_states(state: str) -> list[str]:
    """The workflow states a filter wants when none of them is "open" (else [])."""
    if state == "closed":
        return sorted(CLOSED)
    return [state] if state in STATES and state != "open" else []


def _with_endpoint(stmt: Any) -> Any:
    """The page's rows: the event, the endpoint it hit (when the inventory has it), its workflow."""
    return (
        stmt.add_columns(ThreatEvent, Endpoint.id.label("endpoint_id"), _event_state.label("state"),
                         FindingState.assignee, FindingState.comment)
        .outerjoin(FindingState, _workflow_row)
        .outerjoin(Service, Service.host == ThreatEvent.host)
        .outerjoin(
            Endpoint,
            and_(Endpoint.service_id == Service.id, Endpoint.method == ThreatEvent.method,
                 Endpoint.path_template == ThreatEvent.path_template),
        )
    )


def _suppressed(session: Session, tri: Triage) -> ColumnElement[bool] | None:
    """The live rules naming event types, as one bound predicate on the events' columns (rules
    are few, at most 500: an endpoint rule is resolved to its host, method and template once)."""
    events = set(EVENT_TYPES)
    terms = [and_(ThreatEvent.type == kind, ThreatEvent.host == host)
             for (kind, host) in tri.on_host if kind in events]
    on_endpoint = [(kind, endpoint_id) for (kind, endpoint_id) in tri.on_endpoint if kind in events]
    if on_endpoint:
        where = endpoint_keys(session=session, endpoint_ids=(eid for _k, eid in on_endpoint))
        terms += [
            and_(ThreatEvent.type == kind, ThreatEvent.host == where[eid][0], ThreatEvent.method == where[eid][1],
                 ThreatEvent.path_template == where[eid][2])
            for kind, eid in on_endpoint if eid in where
        ]
    return or_(false(), *terms) if terms else None


def _item(row: Any, tri: Triage, full_evidence: bool) -> QueueEvent:
    event: ThreatEvent = row.ThreatEvent
    endpoint_id: int | None = row.endpoint_id
    endpoint = (
        EndpointRef(endpoint_id, event.host, event.method or "", event.path_template or "")
        if endpoint_id is not None else None
    )
    rule = tri.on_endpoint.get((event.type, endpoint_id)) if endpoint_id is not None else None
    evidence = event.evidence or {}
    return QueueEvent(
        id=event_item_id(event.event_id), event_id=event.event_id, type=event.type, subtype=event.subtype,
        severity=event.severity, title=event.title, host=event.host, method=event.method,
        path_template=event.path_template, endpoint=endpoint, actor_ip=event.actor_ip,
        actor_identity=event.actor_identity, first_seen=_utc(event.first_seen), last_seen=_utc(event.last_seen),
        count=event.count, evidence=evidence if full_evidence else viewer_evidence(evidence),
        state=row.state, assignee=row.assignee, comment=row.comment,
        suppressed_by=rule if rule is not None else tri.on_host.get((event.type, event.host)),
    )


def list_queue_events(
    *, session: Session, tri: Triage, query: EventQuery, offset: int, limit: int, full_evidence: bool
) -> QueueEventPage:
    """A page of events (newest activity first) and how many match (counted up to MAX_COUNT);
    an unknown endpoint: none."""
    stmt = _filtered(session, query, tri)
    if query.endpoint_id is not None:
        ref = endpoint_keys(session=session, endpoint_ids=[query.endpoint_id]).get(query.endpoint_id)
        if ref is None:
            return QueueEventPage((), 0)
        # The event's own columns (ix_events_host_id), not the joined endpoint's id.
        stmt = stmt.where(ThreatEvent.host == ref[0], ThreatEvent.method == ref[1],
                          ThreatEvent.path_template == ref[2])
    counted = stmt.add_columns(ThreatEvent.id).limit(MAX_COUNT + 1).subquery()
    total = session.scalar(select(func.count()).select_from(counted)) or 0
    # The page's ids first (the filters and the sort over events alone), then the joins for those rows only.
    order = (ThreatEvent.last_seen.desc(), ThreatEvent.id.desc())
    page_ids = stmt.add_columns(ThreatEvent.id).order_by(*order).offset(offset).limit(limit).subquery()
    rows = session.execute(
        _with_endpoint(select().select_from(ThreatEvent).join(page_ids, page_ids.c.id == ThreatEvent.id))
        .order_by(*order)
    ).all()
    return QueueEventPage(tuple(_item(r, tri, full_evidence) for r in rows), min(total, MAX_COUNT), total > MAX_COUNT)


@dataclass(frozen=True, slots=True)
class EventActor:
    """An actor as an endpoint's events show it (masked identity hint, or the address)."""

    who: str
    events: int
    types: tuple[str, ...]
    last_seen: datetime


def event_actors(events: tuple[QueueEvent, ...]) -> tuple[EventActor, ...]:
    """Who the given events came from, most events first."""
    seen: dict[str, tuple[int, set[str], datetime]] = {}
    for e in events:
        who = e.actor_identity or e.actor_ip or "unknown"
        n, types, last = seen.get(who, (0, set(), e.last_seen))
        types.add(e.type)
        seen[who] = (n + 1, types, max(last, e.last_seen))
    return tuple(sorted((EventActor(who, n, tuple(sorted(t)), last) for who, (n, t, last) in seen.items()),
                        key=lambda a: (-a.events, a.who)))


def get_queue_event(*, session: Session, tri: Triage, event_id: str, full_evidence: bool) -> QueueEvent | None:
    stmt = _filtered(session, EventQuery(state="all", show_suppressed=True), tri)
    row = session.execute(_with_endpoint(stmt).where(ThreatEvent.event_id == event_id)).first()
    return _item(row, tri, full_evidence) if row is not None else None


def open_event_counts(*, session: Session, tri: Triage) -> dict[str, int]:
    """Events neither closed nor suppressed, per severity (the overview's counts)."""
    counts = dict.fromkeys(QUEUE_SEVERITIES, 0)
    stmt = _filtered(session, EventQuery(), tri, ThreatEvent.severity, func.count()).group_by(ThreatEvent.severity)
    for severity, n in session.execute(stmt):
        counts[severity] = int(n)
    return counts
