"""``/api/v1/specs``: import OpenAPI documents (JSON or YAML body), list the imported ones."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, status
from pydantic import StringConstraints
from sqlalchemy.exc import DataError

from analyzer.inventory.specs import MAX_SPEC_BYTES, SpecError, SpecTooLarge, import_specs, parse_spec
from inventory_api import crud
from inventory_api.deps import Principal, Reader, SessionDep, bounded_body, require
from inventory_api.schemas import NO_NUL, SpecImportPublic, SpecPublic, error_responses
from inventory_api.security import Permission

router = APIRouter(prefix="/specs", tags=["specs"])

Importer = Annotated[Principal, Depends(require(Permission.IMPORT_SPECS))]
HostName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9.\-\[\]:]{1,255}$")]


@router.post(
    "",
    response_model=SpecImportPublic,
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(400, 413),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"type": "object"}}, "application/yaml": {}},
        }
    },
)
def import_spec(
    _principal: Importer,
    session: SessionDep,
    data: Annotated[bytes, Depends(bounded_body(MAX_SPEC_BYTES, "document"))],
    host: Annotated[
        HostName | None, Query(description="service host (default: the document's server)")
    ] = None,
    name: Annotated[
        str | None, Query(max_length=255, pattern=NO_NUL, description="where the document came from")
    ] = None,
) -> SpecImportPublic:
    if not data.strip():
        raise HTTPException(status.HTTP_400_BAD_REQUEST, detail="empty body: send the OpenAPI document")
    try:
        spec = parse_spec(data, source=name or "document")
    except SpecTooLarge as exc:  # expands past a bound: the message names it
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, detail=str(exc)) from exc
    except SpecError as exc:
        raise HTTPException(422, detail=str(exc)) from exc
    try:
        (result,) = import_specs(session=session, specs=[(spec, name)], host=host)
    except DataError as exc:  # e.g. a NUL character, which PostgreSQL text cannot hold
        reason = str(exc.orig).strip().splitlines()[0]
        raise HTTPException(422, detail=f"the document cannot be stored: {reason}") from exc
    return SpecImportPublic(**asdict(result))


@router.get("", response_model=list[SpecPublic])
def list_specs(_principal: Reader, session: SessionDep) -> list[SpecPublic]:
    return [SpecPublic(**row) for row in crud.list_specs(session=session)]
