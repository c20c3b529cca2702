"""The FastAPI application factory."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from analyzer.db.session import make_engine, make_session_factory
from inventory_api.deps import authenticate, require
from inventory_api.keycache import KeyCache
from inventory_api.pagination import InvalidPageRequest
from inventory_api.readcache import CacheReads, ResponseCache
from inventory_api.routers import health
from inventory_api.schemas import error_responses
from inventory_api.security import Permission
from inventory_api.settings import ApiSettings

API_PREFIX = "/api/v1"


def create_app(settings: ApiSettings | None = None) -> FastAPI:
    """The inventory service on ``settings.database_url`` (schema prepared beforehand, see
    ``analyzer.db.session.run_migrations``). Nothing but ``/health`` answers without a key."""
    settings = settings or ApiSettings.from_env()
    engine_kwargs: dict[str, Any] = {"pool_pre_ping": True}
    if not settings.database_url.startswith("sqlite"):
        engine_kwargs["pool_size"] = settings.pool_size
    engine = make_engine(settings.database_url, **engine_kwargs)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        task = asyncio.create_task(_verdict_refresher(app))
        delivery = _start_delivery(settings.database_url)
        app.state.delivery = delivery
        try:
            yield
        finally:
            app.state.console_snapshots.close()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            if delivery is not None:
                await run_in_threadpool(delivery.stop)
                delivery.engine.dispose()
            ingestor = getattr(app.state, "ingestor", None)
            if ingestor is not None:
                await _consolidate(app, ingestor)
                await _flush_verdicts(app, ingestor)
                await run_in_threadpool(ingestor.close)
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
    app.state.counters = Counter()
    app.state.key_cache = KeyCache(ttl=settings.key_cache_seconds)
    app.state.ingestor = None
    app.state.verdicts_dirty = False
    app.state.consolidate_due = False  # batches ingested since the inventory was last consolidated
    app.state.last_ingest = 0.0  # time.monotonic() of the last batch ingested

    app.state.response_cache = ResponseCache(ttl=settings.response_cache_seconds)
    app.add_middleware(CacheReads, cache=app.state.response_cache, keys=app.state.key_cache)
    app.add_middleware(_CountResponses, counters=app.state.counters)  # outermost: counts cached answers too

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        """Prometheus metrics (counts only, no inventory content): served without a key."""
        from sensor.plumbing.obs import metrics_text

        def source() -> dict[str, Any]:
            values: dict[str, Any] = dict(app.state.counters)
            try:
                from analyzer.db import crud as analyzer_crud

                with app.state.session_factory() as session:
                    for name, value in analyzer_crud.inventory_totals(session=session).items():
                        values[f"inventory_{name}_count"] = value
                values["database_up"] = 1
            except SQLAlchemyError:
                values["database_up"] = 0
            return values

        return Response(metrics_text("apicensus_inventory", source), media_type="text/plain; version=0.0.4")

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's own answer, with what it echoes made encodable: a lone surrogate sent in a
        # JSON string (``"\ud800"``) would otherwise fail the 422 itself.
        return JSONResponse(status_code=422, content={"detail": _encodable(jsonable_encoder(exc.errors()))})

    @app.exception_handler(OperationalError)
    @app.exception_handler(InterfaceError)
    @app.exception_handler(DisconnectionError)
    @app.exception_handler(PoolTimeout)
    async def _database_away(_request: Request, exc: Exception) -> JSONResponse:
        # Any route, the key lookup included: the documented 503, which a client may retry.
        app.state.counters["database_unavailable"] += 1
        return JSONResponse(
            status_code=503, content={"detail": "database unavailable, retry later"}, headers={"Retry-After": "5"}
        )

    @app.exception_handler(InvalidPageRequest)
    async def _invalid_page(_request: Request, exc: InvalidPageRequest) -> JSONResponse:
        return JSONResponse(status_code=422, content={"detail": str(exc)})

    app.include_router(health.router)
    # Every route behind a key needs a permission too, and validates its input (as does page/sort parsing).
    api = APIRouter(
        prefix=API_PREFIX, dependencies=[Depends(authenticate)], responses=error_responses(401, 403, 422, 503)
    )

    @api.get("/openapi.json", include_in_schema=False, dependencies=[Depends(require(Permission.READ))])
    def openapi() -> dict[str, Any]:
        """The schema is a read like any other: 403 for a sensor key."""
        return app.openapi()

    for module in _api_routers():
        api.include_router(module.router)
    app.include_router(api)
    from inventory_api import ui

    ui.mount(app)  # the web console at /ui/
    return app


class _CountResponses:
    """Responses by status class, for /metrics: plain ASGI (``@app.middleware("http")`` would add
    a task and two memory streams to every request)."""

    def __init__(self, app: Any, counters: Counter[str]) -> None:
        self.app = app
        self.counters = counters

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def counted(message: Any) -> None:
            if message["type"] == "http.response.start":
                self.counters[f"http_responses_{message['status'] // 100}xx"] += 1
            await send(message)

        try:
            await self.app(scope, receive, counted)
        except Exception:
            self.counters["http_responses_5xx"] += 1  # answered 500 by the outer error middleware
            raise


def _encodable(value: Any) -> Any:
    """``value`` with every string made UTF-8 encodable (lone surrogates as ``\\udXXX``)."""
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, list):
        return [_encodable(v) for v in value]
    if isinstance(value, dict):
        return {_encodable(k): _encodable(v) for k, v in value.items()}
    return value


def _api_routers() -> list[Any]:
    from inventory_api.routers import (
        actors,
        changes,
        endpoints,
        events,
        findings,
        ingest,
        integrations,
        reports,
        services,
        specs,
        tls,
    )

    return [services, endpoints, specs, reports, findings, tls, events, actors, ingest, changes, integrations]


def _start_delivery(database_url: str) -> Any:
    """The alert delivery service (``apicensus serve`` sets ``APICENSUS_ALERT_WORKER=1``; an
    embedded app, e.g. in tests, runs none unless asked).

    On an engine of its own: the ingest route forks a PII helper that resets the app engine's
    pool, and a pool lock held by a delivery thread at the fork would hang that helper."""
    import os

    if os.environ.get("APICENSUS_ALERT_WORKER", "0").strip().lower() not in ("1", "true", "yes", "on"):
        return None
    from analyzer.alerts.wiring import DeliveryService

    kwargs: dict[str, Any] = {"pool_pre_ping": True}
    if not database_url.startswith("sqlite"):
        kwargs.update(pool_size=6, max_overflow=4)
    service = DeliveryService(make_engine(database_url, **kwargs))
    service.start()
    return service


async def _flush_verdicts(app: FastAPI, ingestor: Any) -> None:
    """On shutdown: the verdicts of batches ingested since the last refresh (SIGTERM within the
    refresher's interval would otherwise leave them uncomputed until the next start's traffic)."""
    if not app.state.verdicts_dirty:
        return
    app.state.verdicts_dirty = False
    outcome = await run_in_threadpool(ingestor.recompute_verdicts)
    if outcome.kind != "ok":
        logging.getLogger("apicensus.inventory").warning(
            "verdict recompute at shutdown failed", extra={"fields": {"error": outcome.detail[:200]}}
        )


async def _consolidate(app: FastAPI, ingestor: Any) -> None:
    """Ingest paused: the inventory ends consolidated (issue 10, class 7)."""
    if not app.state.consolidate_due:
        return
    app.state.consolidate_due = False
    outcome = await run_in_threadpool(ingestor.consolidate)
    if outcome.kind != "ok":
        app.state.consolidate_due = True
        logging.getLogger("apicensus.inventory").warning(
            "consolidation failed; will retry", extra={"fields": {"error": outcome.detail[:200]}}
        )


async def _verdict_refresher(app: FastAPI, interval: float = 5.0) -> None:
    """Spec verdicts follow ingested traffic: recomputed at most every ``interval`` seconds.
    When no batch arrived for ``interval`` seconds (ingest paused), the inventory is first
    consolidated."""
    log = logging.getLogger("apicensus.inventory")
    while True:
        await asyncio.sleep(interval)
        ingestor = app.state.ingestor
        if ingestor is not None and time.monotonic() - app.state.last_ingest >= interval:
            await _consolidate(app, ingestor)
        if not app.state.verdicts_dirty or ingestor is None:
            continue
        app.state.verdicts_dirty = False
        outcome = await run_in_threadpool(ingestor.recompute_verdicts)
        app.state.response_cache.refresh_all()  # shown within the TTL, as every background write
        if outcome.kind != "ok":
            app.state.verdicts_dirty = True
            log.warning("verdict recompute failed; will retry", extra={"fields": {"error": outcome.detail[:200]}})
