"""FastAPI dependencies: database session, the caller's key, and role checks."""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.security import APIKeyHeader, HTTPBearer
from sqlalchemy.orm import Session
from starlette.datastructures import Headers
from starlette.requests import ClientDisconnect

from inventory_api import crud, keycache
from inventory_api.security import ROLE_PERMISSIONS, Permission, Role
from inventory_api.settings import ApiSettings


async def get_settings(request: Request) -> ApiSettings:  # no I/O: no thread hop
    settings: ApiSettings = request.app.state.settings
    return settings


async def get_session(request: Request) -> AsyncIterator[Session]:
    # Made on the loop (a Session connects lazily, on its first query, in the route's thread);
    # closed in a thread only when it holds a connection: one thread hop per request, not two.
    session: Session = request.app.state.session_factory()
    try:
        yield session
    finally:
        if session.in_transaction():
            await run_in_threadpool(session.close)
        else:
            session.close()


SettingsDep = Annotated[ApiSettings, Depends(get_settings)]


def bounded_body(limit: int, what: str) -> Callable[[Request], Awaitable[bytes]]:
    """A dependency reading the raw request body, refused (413 "<what> too large") above
    ``limit`` bytes before it is all read."""

    async def read(request: Request) -> bytes:
        declared = request.headers.get("content-length")
        if declared is not None and declared.isascii() and declared.isdigit() and int(declared) > limit:
            raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, detail=f"{what} too large")
        chunks: list[bytes] = []
        size = 0
        try:
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, detail=f"{what} too large")
                chunks.append(chunk)
        except ClientDisconnect as exc:  # gone mid-body (or cut by serve's body timeout): nothing to answer
            raise HTTPException(status.HTTP_400_BAD_REQUEST, detail=f"{what} incomplete: the client disconnected") from exc
        return b"".join(chunks)

    return read
SessionDep = Annotated[Session, Depends(get_session)]


def page_limit(limit: int | None, settings: ApiSettings) -> int:
    """The page size asked for (validated >= 1 by the route), else the default; 422 above the maximum."""
    if limit is None:
        return settings.default_page_size
    if limit > settings.max_page_size:
        raise HTTPException(status_code=422, detail=f"limit must be at most {settings.max_page_size}")
    return limit


@dataclass(frozen=True, slots=True)
class Principal:
    key_id: int
    role: Role

    def can(self, permission: Permission) -> bool:
        return permission in ROLE_PERMISSIONS[self.role]


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(
        status_code=status.HTTP_401_UNAUTHORIZED, detail=detail, headers={"WWW-Authenticate": "Bearer"}
    )


# Declared for the OpenAPI schema (its security schemes); the headers are read raw below.
_BEARER = HTTPBearer(auto_error=False, description="Authorization: Bearer KEY")
_API_KEY = APIKeyHeader(name="X-API-Key", auto_error=False, description="X-API-Key: KEY")


def presented_secret(headers: Headers) -> str:
    """The one key the request presents (401 when none, or ambiguous: see :func:`authenticate`)."""
    authorizations = headers.getlist("authorization")
    api_keys = headers.getlist("x-api-key")
    if len(authorizations) > 1 or len(api_keys) > 1:
        raise _unauthorized("ambiguous credentials: send one Authorization or X-API-Key header")
    bearer: str | None = None
    if authorizations and authorizations[0].strip():
        scheme, _, credentials = authorizations[0].strip().partition(" ")
        if scheme.lower() == "bearer":
            bearer = credentials.strip() or None
    header_key = api_keys[0].strip() if api_keys and api_keys[0].strip() else None
    if bearer and header_key and not hmac.compare_digest(bearer.encode(), header_key.encode()):
        raise _unauthorized("ambiguous credentials: the bearer key and X-API-Key differ")
    # Another scheme in Authorization (e.g. Basic added by a proxy) does not hide X-API-Key.
    secret = bearer or header_key
    if not secret:
        raise _unauthorized("an API key is required: 'Authorization: Bearer KEY' or 'X-API-Key: KEY'")
    return secret


async def authenticate(
    request: Request,
    _bearer: Annotated[object, Depends(_BEARER)] = None,
    _api_key: Annotated[object, Depends(_API_KEY)] = None,
) -> Principal:
    """The caller's key from ``Authorization: Bearer KEY`` or ``X-API-Key: KEY`` (401 otherwise).

    Ambiguous credentials are refused (401), never resolved by order: two ``Authorization`` or
    two ``X-API-Key`` headers, or a bearer key and an ``X-API-Key`` that differ.

    A key verified in the last ``key_cache_seconds`` is taken from the process's cache (no
    lookup, no thread hop); otherwise it is looked up in a thread with a session of its own."""
    secret = presented_secret(request.headers)
    cache: keycache.KeyCache = request.app.state.key_cache
    cached = cache.get(secret)
    if cached is None:
        epoch = keycache.current_epoch()  # read before the lookup: a revocation meanwhile wins
        cached = await run_in_threadpool(_lookup, request.app.state.session_factory, secret)
        if cached is None:
            raise _unauthorized("invalid or revoked API key")
        cache.put(secret, cached, epoch=epoch)
    try:
        role = Role(cached.role)
    except ValueError as exc:
        raise _unauthorized("invalid or revoked API key") from exc
    return Principal(key_id=cached.key_id, role=role)


def _lookup(session_factory: Callable[[], Session], secret: str) -> keycache.CachedKey | None:
    with session_factory() as session:
        key = crud.get_api_key_by_secret(session=session, secret=secret)
        return None if key is None else keycache.CachedKey(key_id=key.id, role=key.role)


PrincipalDep = Annotated[Principal, Depends(authenticate)]


def require(permission: Permission) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency: the authenticated caller, 403 unless their role grants ``permission``."""

    async def check(principal: PrincipalDep) -> Principal:  # no I/O: on the loop, no thread hop
        if not principal.can(permission):
            raise HTTPException(
                status_code=status.HTTP_403_FORBIDDEN,
                detail=f"role {principal.role.value!r} may not {permission.value.replace('_', ' ')}",
            )
        return principal

    return check


Reader = Annotated[Principal, Depends(require(Permission.READ))]
Annotator = Annotated[Principal, Depends(require(Permission.ANNOTATE))]
Admin = Annotated[Principal, Depends(require(Permission.MANAGE_INTEGRATIONS))]
