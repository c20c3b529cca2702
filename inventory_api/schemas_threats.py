"""Response bodies of threat detection's routes (``/events``, ``/actors``, ``/data-flows``).

Read-only resources (the analyzer writes them): Public models only. Identities are masked hints
(``jwt:m…y``), never the credential; evidence is masked (viewers get excerpts removed).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel


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
