"""``/api/v1/actors`` (who uses the APIs: identities as masked hints, addresses, risk) and
``/api/v1/data-flows`` (which actor received which PII type from which endpoint, how much)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, status

from inventory_api import crud_threats
from inventory_api.deps import Reader, SessionDep, SettingsDep, page_limit
from inventory_api.pagination import MAX_CURSOR_CHARS, parse_sort
from inventory_api.schemas import NO_NUL, error_responses
from inventory_api.schemas_threats import ActorDetail, ActorPublic, ActorsPage, DataFlowPublic, DataFlowsPage

router = APIRouter(tags=["actors"])

ActorId = Annotated[int, Path(ge=1, le=2**31 - 1)]
Limit = Annotated[int | None, Query(ge=1)]
Cursor = Annotated[str | None, Query(max_length=MAX_CURSOR_CHARS)]


@router.get("/actors", response_model=ActorsPage, responses=error_responses(422))
def list_actors(
    _principal: Reader,
    session: SessionDep,
    settings: SettingsDep,
    min_risk: Annotated[int | None, Query(ge=0, le=100, description="risk at least this (0..100)")] = None,
    sort: Annotated[
        str, Query(max_length=32, description="risk, last_seen, requests, id; '-' = descending")
    ] = "-risk",
    limit: Limit = None,
    cursor: Cursor = None,
) -> ActorsPage:
    page = crud_threats.list_actors(
        session=session,
        sort=parse_sort(sort, crud_threats.ACTOR_SORTS),
        limit=page_limit(limit, settings),
        cursor=cursor,
        min_risk=min_risk,
    )
    return ActorsPage(items=[ActorPublic(**item) for item in page.items], next_cursor=page.next_cursor)


@router.get("/actors/{actor_id}", response_model=ActorDetail, responses=error_responses(404))
def get_actor(_principal: Reader, session: SessionDep, actor_id: ActorId) -> ActorDetail:
    actor = crud_threats.get_actor(session=session, actor_id=actor_id)
    if actor is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="actor not found")
    return ActorDetail(**actor)


@router.get("/data-flows", response_model=DataFlowsPage, responses=error_responses(404, 422))
def list_data_flows(
    _principal: Reader,
    session: SessionDep,
    settings: SettingsDep,
    service: Annotated[
        str | None, Query(min_length=1, max_length=255, pattern=NO_NUL, description="service host")
    ] = None,
    pii_type: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9_]{1,64}$", description="e.g. EMAIL_ADDRESS")] = None,
    actor: Annotated[int | None, Query(ge=1, le=2**31 - 1, description="actor id")] = None,
    sort: Annotated[str, Query(max_length=32, description="records, last_seen, id; '-' = descending")] = "-records",
    limit: Limit = None,
    cursor: Cursor = None,
) -> DataFlowsPage:
    page = crud_threats.list_flows(
        session=session,
        sort=parse_sort(sort, crud_threats.FLOW_SORTS),
        limit=page_limit(limit, settings),
        cursor=cursor,
        host=service.lower() if service else None,
        pii_type=pii_type.upper() if pii_type else None,
        actor_id=actor,
    )
    if page is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="actor not found")
    return DataFlowsPage(items=[DataFlowPublic(**item) for item in page.items], next_cursor=page.next_cursor)
