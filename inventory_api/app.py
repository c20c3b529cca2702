"""The FastAPI application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse

from analyzer.db.session import make_engine, make_session_factory
from inventory_api.deps import authenticate
from inventory_api.pagination import InvalidPageRequest
from inventory_api.routers import health
from inventory_api.schemas import error_responses
from inventory_api.settings import ApiSettings

API_PREFIX = "/api/v1"


def create_app(settings: ApiSettings | None = None) -> FastAPI:
    """The inventory service on ``settings.database_url`` (schema prepared beforehand, see
    ``inventory_api.db.prepare_database``). Nothing but ``/health`` answers without a key."""
    settings = settings or ApiSettings.from_env()
    engine_kwargs: dict[str, Any] = {"pool_pre_ping": True}
    if not settings.database_url.startswith("sqlite"):
        engine_kwargs["pool_size"] = settings.pool_size
    engine = make_engine(settings.database_url, **engine_kwargs)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        engine.dispose()

    # Interactive docs would be served without a key: the schema is under /api/v1 instead.
    app = FastAPI(
        title="APICensus inventory",
        version="1",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.session_factory = make_session_factory(engine)

    @app.exception_handler(InvalidPageRequest)
    async def _invalid_page(_request: Request, exc: InvalidPageRequest) -> JSONResponse:
        return JSONResponse(status_code=422, content={"detail": str(exc)})

    app.include_router(health.router)
    # Every route behind a key needs a permission too, and validates its input (as does page/sort parsing).
    api = APIRouter(
        prefix=API_PREFIX, dependencies=[Depends(authenticate)], responses=error_responses(401, 403, 422)
    )

    @api.get("/openapi.json", include_in_schema=False)
    def openapi() -> dict[str, Any]:
        return app.openapi()

    for module in _api_routers():
        api.include_router(module.router)
    app.include_router(api)
    return app


def _api_routers() -> list[Any]:
    from inventory_api.routers import endpoints, findings, reports, services, specs

    return [services, endpoints, specs, reports, findings]
