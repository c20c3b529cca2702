"""Console sign-in: an API key exchanged for a session cookie, CSRF tokens, role checks.

* The session token is 256 random bits in an HttpOnly, SameSite=Strict cookie (Secure over TLS)
  with an expiry; the database keeps only its SHA-256 (``console_sessions``), tied to the key it
  was opened with, so revoking the key ends the session.
* Forms of a signed-in user carry ``csrf`` = HMAC-SHA256(session token, "csrf"): derived, never
  stored, compared in constant time. The sign-in form (no session yet) uses a double-submit
  cookie. A POST without a matching token is refused (403) before anything is written.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import Depends, Request
from fastapi.datastructures import FormData
from fastapi.responses import Response
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from analyzer.db.models import ApiKey, ConsoleSession
from inventory_api import crud
from inventory_api.deps import Principal, SessionDep
from inventory_api.security import Permission, Role

SESSION_COOKIE = "apc_session"
SIGNIN_COOKIE = "apc_signin"
SESSION_LIFETIME = timedelta(hours=8)
MAX_SESSIONS_PER_KEY = 20  # signing in once more ends the oldest
MAX_FORM_BYTES = 64 * 1024


class SignInRequired(Exception):
    """No (live) session: pages answer with a redirect to the sign-in form."""


class PageForbidden(Exception):
    """Signed in, but the role may not do this (403 page)."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


@dataclass(frozen=True, slots=True)
class ConsoleUser:
    principal: Principal
    key_name: str | None
    csrf: str

    @property
    def role(self) -> Role:
        return self.principal.role

    def can(self, permission: Permission) -> bool:
        return self.principal.can(permission)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def csrf_for(token: str) -> str:
    return hmac.new(token.encode("utf-8"), b"csrf", hashlib.sha256).hexdigest()


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def open_session(*, session: Session, secret: str) -> tuple[str, ApiKey] | None:
    """A new session for a live key with a reading role (sensor keys read nothing): (token, key)."""
    key = crud.get_api_key_by_secret(session=session, secret=secret)
    if key is None or key.role not in {r.value for r in Role} or not Principal(key.id, Role(key.role)).can(
        Permission.READ
    ):
        return None
    now = datetime.now(UTC)
    session.execute(delete(ConsoleSession).where(ConsoleSession.expires_at < now))  # bounded table
    keep = (
        select(ConsoleSession.id)
        .where(ConsoleSession.key_id == key.id)
        .order_by(ConsoleSession.id.desc())
        .limit(MAX_SESSIONS_PER_KEY - 1)
    )
    session.execute(
        delete(ConsoleSession).where(ConsoleSession.key_id == key.id, ConsoleSession.id.not_in(keep.scalar_subquery()))
    )
    token = secrets.token_urlsafe(32)
    session.add(
        ConsoleSession(token_hash=_digest(token), key_id=key.id, created_at=now, expires_at=now + SESSION_LIFETIME)
    )
    session.commit()
    return token, key


def close_session(*, session: Session, token: str) -> None:
    session.execute(delete(ConsoleSession).where(ConsoleSession.token_hash == _digest(token)))
    session.commit()


def set_session_cookie(response: Response, request: Request, token: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(SESSION_LIFETIME.total_seconds()),
        path="/ui",
        httponly=True,
        secure=_secure(request),
        samesite="strict",
    )


def clear_session_cookie(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/ui", httponly=True, samesite="strict")


def signin_token(request: Request) -> str:
    """The sign-in form's double-submit token: the cookie's, or a new one (set by the caller)."""
    current = request.cookies.get(SIGNIN_COOKIE, "")
    return current if 20 <= len(current) <= 100 else secrets.token_urlsafe(32)


def set_signin_cookie(response: Response, request: Request, token: str) -> None:
    response.set_cookie(
        SIGNIN_COOKIE, token, max_age=3600, path="/ui", httponly=True, secure=_secure(request), samesite="strict"
    )


def signin_token_ok(request: Request, form: FormData) -> bool:
    cookie = request.cookies.get(SIGNIN_COOKIE, "")
    sent = form.get("csrf")
    return bool(cookie) and isinstance(sent, str) and hmac.compare_digest(cookie.encode(), sent.encode())


def current_user(request: Request, session: SessionDep) -> ConsoleUser:
    """The signed-in user of this request, else :class:`SignInRequired`."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token or len(token) > 100:
        raise SignInRequired
    now = datetime.now(UTC)
    row = session.execute(
        select(ApiKey.id, ApiKey.role, ApiKey.name, ApiKey.key_hash)
        .join(ConsoleSession, ConsoleSession.key_id == ApiKey.id)
        .where(
            ConsoleSession.token_hash == _digest(token),
            ConsoleSession.expires_at > now,
            ApiKey.revoked_at.is_(None),
        )
    ).first()
    if row is None:
        raise SignInRequired
    try:
        role = Role(row.role)
    except ValueError as exc:
        raise SignInRequired from exc
    return ConsoleUser(Principal(row.id, role), row.name, csrf_for(token))


UserDep = Annotated[ConsoleUser, Depends(current_user)]


def require_page(permission: Permission) -> object:
    """A dependency: the signed-in user, :class:`PageForbidden` unless the role grants ``permission``."""

    def check(user: UserDep) -> ConsoleUser:
        if not user.can(permission):
            raise PageForbidden(f"role {user.role.value!r} may not {permission.value.replace('_', ' ')}")
        return user

    return check


def require_admin(user: UserDep) -> ConsoleUser:
    if user.role is not Role.ADMIN:
        raise PageForbidden(f"role {user.role.value!r} may not open administration pages")
    return user


AdminDep = Annotated[ConsoleUser, Depends(require_admin)]


class CsrfRefused(Exception):
    """A form posted without the session's CSRF token."""


class FormRefused(Exception):
    """A form body without a declared length, or longer than a spec upload may be."""

    def __init__(self, status_code: int, detail: str) -> None:
        super().__init__(detail)
        self.status_code, self.detail = status_code, detail


async def read_form(request: Request) -> FormData:
    """The posted form, its size declared and bounded before it is parsed (browsers always
    send Content-Length for forms; uploads are at most a spec document plus the fields)."""
    from analyzer.inventory.specs import MAX_SPEC_BYTES

    declared = request.headers.get("content-length", "")
    if not declared.isdigit():
        raise FormRefused(411, "a form body needs a Content-Length")
    if int(declared) > MAX_SPEC_BYTES + MAX_FORM_BYTES:
        raise FormRefused(413, f"the form is larger than {MAX_SPEC_BYTES + MAX_FORM_BYTES:,} bytes")
    return await request.form(max_files=1, max_fields=50, max_part_size=MAX_FORM_BYTES)


async def checked_form(request: Request, user: UserDep) -> FormData:
    """The posted form of a signed-in user, :class:`CsrfRefused` unless it carries their token."""
    form = await read_form(request)
    sent = form.get("csrf")
    if not isinstance(sent, str) or not hmac.compare_digest(sent.encode(), user.csrf.encode()):
        raise CsrfRefused
    return form


FormDep = Annotated[FormData, Depends(checked_form)]
