"""``/api/v1/endpoints``: list with filters, detail, annotate."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Path, Query, Response, status
from pydantic import StringConstraints

from inventory_api import crud, fastjson
from inventory_api.deps import Annotator, Reader, SessionDep, SettingsDep, page_limit
from inventory_api.pagination import MAX_CURSOR_CHARS, parse_sort
from inventory_api.schemas import (
    NO_NUL,
    EndpointDetail,
    EndpointPublic,
    EndpointsPage,
    EndpointUpdate,
    ReviewState,
    error_responses,
)
from inventory_api.security import Permission

router = APIRouter(prefix="/endpoints", tags=["endpoints"])

EndpointId = Annotated[int, Path(ge=1, le=2**31 - 1)]
MethodName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{1,32}$")]


def _utc(value: datetime | None) -> datetime | None:
    # A timestamp without an offset is taken as UTC (the inventory stores UTC). Others are sent in UTC:
    # PostgreSQL refuses offsets beyond +/-15:59, which ISO 8601 (and the parser) allow.
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:  # within a day of year 1 or 9999 UTC: before, or after, anything stored
        return (datetime.min if value.year == 1 else datetime.max).replace(tzinfo=UTC)


@router.get("", response_model=EndpointsPage)
def list_endpoints(
    _principal: Reader,
    session: SessionDep,
    settings: SettingsDep,
    service_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    service: Annotated[
        str | None, Query(min_length=1, max_length=1000, pattern=NO_NUL, description="service host")
    ] = None,
    method: Annotated[list[MethodName] | None, Query(max_length=20)] = None,
    pii_type: Annotated[
        str | None, Query(pattern=r"^[A-Za-z0-9_]{1,64}$", description="e.g. EMAIL_ADDRESS")
    ] = None,
    pii_location: Annotated[
        str | None, Query(pattern=r"^[a-z_]{1,32}$", description="request, response, query, header")
    ] = None,
    unauthenticated: bool | None = None,
    seen_since: Annotated[datetime | None, Query(description="last seen at or after (ISO 8601)")] = None,
    seen_before: Annotated[datetime | None, Query(description="first seen before (ISO 8601)")] = None,
    q: Annotated[
        str | None, Query(min_length=1, max_length=200, pattern=NO_NUL, description="substring of the path")
    ] = None,
    owner: Annotated[str | None, Query(max_length=255, pattern=NO_NUL)] = None,
    review_state: ReviewState | None = None,
    spec_verdict: Annotated[
        Literal["documented", "zombie", "shadow"] | None,
        Query(
            description="documented, zombie (deprecated but seen), shadow (service has a spec, this is not in it)"
        ),
    ] = None,
    shadow: Annotated[bool | None, Query(description="observed but not documented")] = None,
    zombie: Annotated[
        bool | None, Query(description="observed and deprecated, superseded or removed (see zombie_reasons)")
    ] = None,
    orphan: Annotated[
        bool | None,
        Query(
            description="true: documented operations never observed (id null, hits 0) instead of endpoints"
        ),
    ] = None,
    sort: Annotated[
        str,
        Query(max_length=32, description="path, method, hits, first_seen, last_seen, id; '-' = descending"),
    ] = "path",
    limit: Annotated[int | None, Query(ge=1)] = None,
    cursor: Annotated[str | None, Query(max_length=MAX_CURSOR_CHARS)] = None,
) -> Response:
    filters = crud.EndpointFilters(
        service_id=service_id,
        host=service,
        methods=tuple(dict.fromkeys(m.upper() for m in method or ())),
        pii_type=pii_type.upper() if pii_type else None,
        pii_location=pii_location,
        unauthenticated=unauthenticated,
        seen_since=_utc(seen_since),
        seen_before=_utc(seen_before),
        q=q,
        owner=owner,
        review_state=review_state,
        spec_verdict=spec_verdict,
        shadow=shadow,
        zombie=zombie,
    )
    # Every observed endpoint is "not an orphan": orphan=false lists them all.
    lister = crud.list_orphans if orphan else crud.list_endpoints
    page = lister(
        session=session,
        filters=filters,
        sort=parse_sort(sort, crud.ORPHAN_SORTS if orphan else crud.ENDPOINT_SORTS),
        limit=page_limit(limit, settings),
        cursor=cursor,
    )
    if orphan:  # rare, and its dicts are not in the public shape (extra "deprecated", defaults)
        return fastjson.model(
            EndpointsPage(items=[EndpointPublic(**item) for item in page.items], next_cursor=page.next_cursor)
        )
    return fastjson.page(page.items, page.next_cursor)


@router.get("/{endpoint_id}", response_model=EndpointDetail, responses=error_responses(404))
def get_endpoint(principal: Reader, session: SessionDep, endpoint_id: EndpointId) -> Response:
    detail = crud.get_endpoint_detail(
        session=session, endpoint_id=endpoint_id, full_samples=principal.can(Permission.READ_SAMPLES)
    )
    if detail is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="endpoint not found")
    return fastjson.model(EndpointDetail(**detail))


@router.patch("/{endpoint_id}", response_model=EndpointDetail, responses=error_responses(400, 404))
def update_endpoint(
    principal: Annotator, session: SessionDep, endpoint_id: EndpointId, endpoint_in: EndpointUpdate
) -> EndpointDetail:
    detail = crud.update_endpoint(
        session=session,
        endpoint_id=endpoint_id,
        endpoint_in=endpoint_in,
        full_samples=principal.can(Permission.READ_SAMPLES),
    )
    if detail is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="endpoint not found")
    return EndpointDetail(**detail)
