"""``/api/v1/tls-services``: encrypted services as their handshakes show them (viewer and up)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, status

from analyzer.db.models import TlsService
from analyzer.inventory.tls_services import list_tls_services, service_dict
from inventory_api.deps import Reader, SessionDep, SettingsDep, page_limit
from inventory_api.schemas import NO_NUL, TlsServicePublic, TlsServicesPage, error_responses

router = APIRouter(prefix="/tls-services", tags=["tls"])

TlsServiceId = Annotated[int, Path(ge=1, le=2**31 - 1)]


@router.get("", response_model=TlsServicesPage)
def list_tls_services_route(
    _principal: Reader,
    session: SessionDep,
    settings: SettingsDep,
    sni: Annotated[str | None, Query(min_length=1, max_length=255, pattern=NO_NUL)] = None,
    server: Annotated[str | None, Query(min_length=1, max_length=64, pattern=NO_NUL, description="ip:port")] = None,
    limit: Annotated[int | None, Query(ge=1)] = None,
    cursor: Annotated[int | None, Query(ge=0, le=2**31 - 1, description="next_cursor of the previous page")] = None,
) -> TlsServicesPage:
    size = page_limit(limit, settings)
    rows = list_tls_services(session, sni=sni, server=server, limit=size + 1, after_id=cursor or 0)
    more = len(rows) > size
    rows = rows[:size]
    return TlsServicesPage(items=[TlsServicePublic(**r) for r in rows],
                           next_cursor=rows[-1]["id"] if more and rows else None)


@router.get("/{tls_service_id}", response_model=TlsServicePublic, responses=error_responses(404))
def get_tls_service(_principal: Reader, session: SessionDep, tls_service_id: TlsServiceId) -> TlsServicePublic:
    row = session.get(TlsService, tls_service_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="TLS service not found")
    return TlsServicePublic(**service_dict(row))
