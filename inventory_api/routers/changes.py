"""``/api/v1/changes``: the inventory's change history, oldest first, keyset pages."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import select

from analyzer.db.models import ChangeEvent
from analyzer.inventory.changes import CHANGE_TYPES, change_dict
from inventory_api.deps import Reader, SessionDep, SettingsDep, page_limit
from inventory_api.pagination import MAX_CURSOR_CHARS, SortSpec, decode_cursor, encode_cursor
from inventory_api.schemas import NO_NUL, ChangePublic, ChangesPage

router = APIRouter(prefix="/changes", tags=["changes"])

ChangeType = StrEnum("ChangeType", {t: t for t in CHANGE_TYPES})  # type: ignore[misc]
_ORDER = SortSpec("id", False)


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        return (datetime.min if value.year == 1 else datetime.max).replace(tzinfo=UTC)


@router.get("", response_model=ChangesPage)
def list_changes(
    _principal: Reader,
    session: SessionDep,
    settings: SettingsDep,
    since: Annotated[datetime | None, Query(description="learned at or after (ISO 8601; UTC when no offset)")] = None,
    type: Annotated[list[ChangeType] | None, Query(max_length=len(CHANGE_TYPES))] = None,  # noqa: A002
    service: Annotated[
        str | None, Query(min_length=1, max_length=1000, pattern=NO_NUL, description="service host")
    ] = None,
    endpoint_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    limit: Annotated[int | None, Query(ge=1)] = None,
    cursor: Annotated[str | None, Query(max_length=MAX_CURSOR_CHARS)] = None,
) -> ChangesPage:
    size = page_limit(limit, settings)
    stmt = select(ChangeEvent)
    if since is not None:
        stmt = stmt.where(ChangeEvent.detected_at >= _utc(since))
    if type:
        stmt = stmt.where(ChangeEvent.type.in_([t.value for t in type]))
    if service is not None:
        stmt = stmt.where(ChangeEvent.host == service.lower())
    if endpoint_id is not None:
        stmt = stmt.where(ChangeEvent.endpoint_id == endpoint_id)
    if cursor:
        _, last_id = decode_cursor(cursor, _ORDER, "int")
        stmt = stmt.where(ChangeEvent.id > last_id)
    rows = list(session.scalars(stmt.order_by(ChangeEvent.id).limit(size + 1)))
    more = len(rows) > size
    rows = rows[:size]
    items = [ChangePublic(**change_dict(r)) for r in rows]
    next_cursor = encode_cursor(_ORDER, rows[-1].id, rows[-1].id) if more else None
    return ChangesPage(items=items, next_cursor=next_cursor)
