"""``/api/v1/services``: list, read, annotate."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, status

from analyzer.inventory.openapi_export import build_openapi
from inventory_api import crud
from inventory_api.deps import Annotator, Reader, SessionDep, SettingsDep, page_limit
from inventory_api.pagination import MAX_CURSOR_CHARS, parse_sort
from inventory_api.schemas import (
    NO_NUL,
    ReviewState,
    ServicePublic,
    ServicesPage,
    ServiceUpdate,
    error_responses,
)

router = APIRouter(prefix="/services", tags=["services"])

ServiceId = Annotated[int, Path(ge=1, le=2**31 - 1)]


@router.get("", response_model=ServicesPage)
def list_services(
    _principal: Reader,
    session: SessionDep,
    settings: SettingsDep,
    q: Annotated[
        str | None, Query(min_length=1, max_length=200, pattern=NO_NUL, description="substring of the host")
    ] = None,
    owner: Annotated[str | None, Query(max_length=255, pattern=NO_NUL)] = None,
    review_state: ReviewState | None = None,
    sort: Annotated[
        str, Query(max_length=32, description="host, hits, first_seen, last_seen, id; '-' = descending")
    ] = "host",
    limit: Annotated[int | None, Query(ge=1)] = None,
    cursor: Annotated[str | None, Query(max_length=MAX_CURSOR_CHARS)] = None,
) -> ServicesPage:
    page = crud.list_services(
        session=session,
        filters=crud.ServiceFilters(q=q, owner=owner, review_state=review_state),
        sort=parse_sort(sort, crud.SERVICE_SORTS),
        limit=page_limit(limit, settings),
        cursor=cursor,
    )
    return ServicesPage(items=[ServicePublic(**item) for item in page.items], next_cursor=page.next_cursor)


@router.get("/{service_id}", response_model=ServicePublic, responses=error_responses(404))
def get_service(_principal: Reader, session: SessionDep, service_id: ServiceId) -> ServicePublic:
    service = crud.get_service(session=session, service_id=service_id)
    if service is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="service not found")
    return ServicePublic(**service)


@router.patch("/{service_id}", response_model=ServicePublic, responses=error_responses(400, 404))
def update_service(
    _principal: Annotator, session: SessionDep, service_id: ServiceId, service_in: ServiceUpdate
) -> ServicePublic:
    service = crud.update_service(session=session, service_id=service_id, service_in=service_in)
    if service is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="service not found")
    return ServicePublic(**service)


@router.get("/{host}/openapi", response_model=None, responses=error_responses(404))
def service_openapi(
    _principal: Reader,
    session: SessionDep,
    host: Annotated[str, Path(min_length=1, max_length=1000, pattern=NO_NUL, description="the service host")],
) -> dict[str, Any]:
    """The service's OpenAPI 3.1 description, reconstructed from observed traffic."""
    document = build_openapi(session=session, host=host.lower())
    if document is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="service not found")
    return document
