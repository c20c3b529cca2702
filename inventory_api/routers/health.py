"""``GET /health``: the only route served without a key."""

from __future__ import annotations

from fastapi import APIRouter, Response, status
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from inventory_api.deps import SessionDep
from inventory_api.schemas import HealthPublic

router = APIRouter(tags=["health"])


@router.get(
    "/health",
    response_model=HealthPublic,
    responses={503: {"model": HealthPublic, "description": "The database is unreachable (status degraded)"}},
)
def health(session: SessionDep, response: Response) -> HealthPublic:
    try:
        session.execute(text("SELECT 1"))
    except SQLAlchemyError:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
        return HealthPublic(status="degraded", database="unreachable")
    return HealthPublic(status="ok", database="ok")
