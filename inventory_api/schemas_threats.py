"""Response bodies of threat detection's routes (``/events``, ``/actors``, ``/data-flows``).

Read-only resources (the analyzer writes them): Public models only. Identities are masked hints
(``jwt:m…y``), never the credential; evidence is masked (viewers get excerpts removed).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from analyzer.inventory.workflow import MAX_ASSIGNEE, MAX_COMMENT, STATES
from inventory_api.schemas import NO_NUL


class ActorRefPublic(BaseModel):
    id: int | None  # the actor's /api/v1/actors/{id}; null if it is not stored yet
    ip: str | None
    identity: str | None  # masked hint, or null for an address without an identity


class EventPublic(BaseModel):
    id: str  # stable across analyzers and re-runs: a hash of (type, subtype, actor, endpoint, window)
    type: str
    subtype: str | None
    severity: str
    title: str
    actor: ActorRefPublic
    host: str
    method: str | None
    path_template: str | None
    window_start: datetime
    window_seconds: float
    first_seen: datetime
    last_seen: datetime
    count: int
    evidence: dict[str, Any]
    state: str = "open"  # the findings & events workflow (PUT /events/{id}/workflow)
    assignee: str | None = None


class EventsPage(BaseModel):
    items: list[EventPublic]
    next_cursor: str | None


class ActorPublic(BaseModel):
    id: int
    ip: str | None
    identity: str | None
    first_seen: datetime
    last_seen: datetime
    requests: int
    endpoints: int
    pii_types: dict[str, int]  # PII type -> records received
    risk: int  # 0..100


class ActorsPage(BaseModel):
    items: list[ActorPublic]
    next_cursor: str | None


class DataFlowPublic(BaseModel):
    id: int
    actor: ActorRefPublic
    host: str
    path_template: str
    pii_type: str
    records: int
    responses: int
    first_seen: datetime
    last_seen: datetime


class DataFlowsPage(BaseModel):
    items: list[DataFlowPublic]
    next_cursor: str | None


class ActorDetail(ActorPublic):
    events: dict[str, int]  # event type -> events
    data_flows: list[DataFlowPublic]  # the 100 largest


# --- The findings & events workflow (PUT /findings/{id}/workflow, /events/{id}/workflow) --------

WorkflowStateName = StrEnum("WorkflowStateName", {s: s for s in STATES})  # type: ignore[misc]


class WorkflowUpdate(BaseModel):
    """A state change: ``assignee`` replaces the current one (null clears it); ``comment`` is kept
    in the history and shown as the latest comment."""

    model_config = ConfigDict(extra="forbid")

    state: WorkflowStateName
    assignee: Annotated[str, Field(min_length=1, max_length=MAX_ASSIGNEE, pattern=NO_NUL)] | None = None
    comment: Annotated[str, Field(min_length=1, max_length=MAX_COMMENT, pattern=NO_NUL)] | None = None


class WorkflowChangePublic(BaseModel):
    state: str
    assignee: str | None
    comment: str | None
    at: datetime
    by_key: int | None  # the API key that made the change (api_keys.id)


class WorkflowPublic(BaseModel):
    id: str  # kind:endpoint_id for a finding, event:<id> for a threat event
    state: str
    assignee: str | None
    comment: str | None
    updated_at: datetime | None  # null: open since it was found, never changed
    history: list[WorkflowChangePublic]  # newest first, the 50 latest
