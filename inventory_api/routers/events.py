"""``/api/v1/events``: detected threat events (analyzer/detect), newest first by default."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, status
from sqlalchemy import select

from analyzer.db.models import ThreatEvent
from analyzer.detect.model import EVENT_TYPES, SEVERITIES
from analyzer.inventory.workflow import STATES
from inventory_api import crud_threats, crud_triage, crud_workflow
from inventory_api.deps import Annotator, Reader, SessionDep, SettingsDep, page_limit
from inventory_api.pagination import MAX_CURSOR_CHARS, parse_sort
from inventory_api.routers.endpoints import _utc
from inventory_api.routers.workflow import change_workflow, workflow_public
from inventory_api.schemas import NO_NUL, error_responses
from inventory_api.schemas_threats import (
    EventPublic,
    EventsPage,
    WorkflowPublic,
    WorkflowStateName,
    WorkflowUpdate,
)
from inventory_api.security import Permission

router = APIRouter(prefix="/events", tags=["events"])

# From the rules registry's list of kinds: a new rule's events are listed and filtered here.
EventType = StrEnum("EventType", {t: t for t in EVENT_TYPES})  # type: ignore[misc]
Severity = StrEnum("Severity", {s: s for s in SEVERITIES})  # type: ignore[misc]


@router.get("", response_model=EventsPage, responses=error_responses(404, 422))
def list_events(
    principal: Reader,
    session: SessionDep,
    settings: SettingsDep,
    type: Annotated[list[EventType] | None, Query(max_length=len(EVENT_TYPES))] = None,  # noqa: A002
    severity: Annotated[list[Severity] | None, Query(max_length=len(SEVERITIES))] = None,
    actor: Annotated[int | None, Query(ge=1, le=2**31 - 1, description="actor id (/api/v1/actors)")] = None,
    service: Annotated[
        str | None, Query(min_length=1, max_length=255, pattern=NO_NUL, description="service host")
    ] = None,
    endpoint: Annotated[int | None, Query(ge=1, le=2**31 - 1, description="endpoint id")] = None,
    since: Annotated[datetime | None, Query(description="last seen at or after (ISO 8601)")] = None,
    state: Annotated[
        list[WorkflowStateName] | None, Query(max_length=len(STATES), description="workflow state (repeatable)")
    ] = None,
    sort: Annotated[
        str, Query(max_length=32, description="last_seen, first_seen, id; '-' = descending")
    ] = "-last_seen",
    limit: Annotated[int | None, Query(ge=1)] = None,
    cursor: Annotated[str | None, Query(max_length=MAX_CURSOR_CHARS)] = None,
) -> EventsPage:
    filters = crud_threats.EventFilters(
        types=[t.value for t in type or ()],
        severities=[s.value for s in severity or ()],
        actor_id=actor,
        host=service.lower() if service else None,
        endpoint_id=endpoint,
        since=_utc(since),
        states=[s.value for s in state or ()],
    )
    page = crud_threats.list_events(
        session=session,
        filters=filters,
        sort=parse_sort(sort, crud_threats.EVENT_SORTS),
        limit=page_limit(limit, settings),
        cursor=cursor,
        full_evidence=principal.can(Permission.READ_SAMPLES),
    )
    if page is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="no such actor or endpoint")
    known = crud_workflow.workflow_states(
        session=session, item_ids=[crud_triage.event_item_id(i["id"]) for i in page.items]
    )
    items = []
    for item in page.items:
        moved, assignee = known.get(crud_triage.event_item_id(item["id"]), ("open", None))
        items.append(EventPublic(**item, state=moved, assignee=assignee))
    return EventsPage(items=items, next_cursor=page.next_cursor)


EventId = Annotated[
    str, Path(min_length=1, max_length=crud_triage.MAX_EVENT_ID, pattern="^[0-9A-Za-z]+$", description="event id")
]


def _item_id(session: SessionDep, event_id: str) -> str:
    if session.scalar(select(ThreatEvent.id).where(ThreatEvent.event_id == event_id)) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="no such event")
    return crud_triage.event_item_id(event_id)


@router.get("/{event_id}/workflow", response_model=WorkflowPublic, responses=error_responses(404))
def get_event_workflow(_principal: Reader, session: SessionDep, event_id: EventId) -> WorkflowPublic:
    """The event's place in the findings & events workflow, with its history."""
    return workflow_public(session=session, item_id=_item_id(session, event_id))


@router.put("/{event_id}/workflow", response_model=WorkflowPublic, responses=error_responses(403, 404, 422))
def set_event_workflow(
    principal: Annotator, session: SessionDep, event_id: EventId, change: WorkflowUpdate
) -> WorkflowPublic:
    """Move the event in the workflow (open, acknowledged, resolved, false_positive, accepted_risk)."""
    return change_workflow(session=session, principal=principal, item_id=_item_id(session, event_id), change=change)
