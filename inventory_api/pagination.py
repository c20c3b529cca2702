"""Keyset (cursor) pagination on (sort key, id): stable while rows are inserted or updated.

A cursor is opaque to clients: URL-safe base64 of ``{"s": sort, "v": last sort value, "id": last id}``.
The next page is ``WHERE (key, id) > (v, id)`` (``<`` when descending) with both values bound, so
rows written between two requests never shift or repeat the rows already served.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import ColumnElement, and_, or_
from sqlalchemy.orm import InstrumentedAttribute

Kind = Literal["int", "str", "datetime"]
# A 1000-character path of 4-byte UTF-8 characters, base64: about 5.4k characters.
MAX_CURSOR_CHARS = 8192


class InvalidPageRequest(ValueError):
    """A bad ``sort`` or ``cursor`` parameter (reported as 422)."""


@dataclass(frozen=True, slots=True)
class SortSpec:
    key: str
    descending: bool

    @property
    def text(self) -> str:
        return f"-{self.key}" if self.descending else self.key


@dataclass(frozen=True, slots=True)
class SortColumn:
    column: InstrumentedAttribute[Any]
    kind: Kind


def parse_sort(value: str, allowed: Mapping[str, SortColumn]) -> SortSpec:
    descending = value.startswith("-")
    key = value[1:] if descending else value
    if key not in allowed:
        choices = ", ".join(sorted(allowed))
        raise InvalidPageRequest(f"unknown sort key {key!r}: use one of {choices}, '-' prefix for descending")
    return SortSpec(key, descending)


def encode_cursor(sort: SortSpec, value: Any, row_id: int) -> str:
    if isinstance(value, datetime):
        value = (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()
    raw = json.dumps(
        {"s": sort.text, "v": value, "id": row_id}, separators=(",", ":"), ensure_ascii=False
    ).encode()
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_cursor(cursor: str, sort: SortSpec, kind: Kind) -> tuple[Any, int]:
    """The cursor's (sort value, id), checked to be values the database can compare: a forged
    cursor is 422 (InvalidPageRequest), never an error of the query."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = json.loads(raw)
        sort_text, value, row_id = data["s"], data["v"], data["id"]
    except (binascii.Error, ValueError, TypeError, KeyError, RecursionError) as exc:
        raise InvalidPageRequest("invalid cursor") from exc
    if sort_text != sort.text:
        raise InvalidPageRequest("the cursor belongs to another sort order: restart without a cursor")
    if not _bigint(row_id):
        raise InvalidPageRequest("invalid cursor")
    if kind == "int" and not _bigint(value):
        raise InvalidPageRequest("invalid cursor")
    if kind == "str" and not _text(value):
        raise InvalidPageRequest("invalid cursor")
    if kind == "datetime":
        value = _instant(value)
    return value, row_id


_BIGINT = 2**63 - 1


def _bigint(value: Any) -> bool:
    return type(value) is int and -_BIGINT - 1 <= value <= _BIGINT


def _text(value: Any) -> bool:
    """A string PostgreSQL text can hold: no NUL, no lone surrogate."""
    if type(value) is not str or "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _instant(value: Any) -> datetime:
    """An ISO timestamp as a UTC instant (naive = UTC): any offset Python accepts (up to ±23:59,
    where PostgreSQL stops at ±15:59) is converted, not passed on."""
    if not _text(value):
        raise InvalidPageRequest("invalid cursor")
    try:
        parsed = datetime.fromisoformat(value)
        return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    except (ValueError, OverflowError) as exc:
        raise InvalidPageRequest("invalid cursor") from exc


def after(
    column: InstrumentedAttribute[Any],
    id_column: InstrumentedAttribute[Any],
    sort: SortSpec,
    value: Any,
    row_id: int,
) -> ColumnElement[bool]:
    """Rows strictly after (value, row_id) in the sort order."""
    if sort.descending:
        return or_(column < value, and_(column == value, id_column < row_id))
    return or_(column > value, and_(column == value, id_column > row_id))


def order_by(
    column: InstrumentedAttribute[Any] | ColumnElement[Any],
    id_column: InstrumentedAttribute[Any] | ColumnElement[Any],
    sort: SortSpec,
) -> tuple[Any, Any]:
    if sort.descending:
        return column.desc(), id_column.desc()
    return column.asc(), id_column.asc()


# -- cursors over an order computed in Python (findings are derived, not rows) -------------------

KeyPart = int | str


def encode_key_cursor(scope: str, key: tuple[KeyPart, ...]) -> str:
    """An opaque cursor holding a whole sort key (``scope`` names the list and its filters)."""
    raw = json.dumps({"s": scope, "k": list(key)}, separators=(",", ":"), ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_key_cursor(cursor: str, scope: str, shape: tuple[type, ...]) -> tuple[KeyPart, ...]:
    """The key of :func:`encode_key_cursor`, checked part by part against ``shape`` (``int`` or
    ``str``): a forged or foreign cursor is 422 (InvalidPageRequest), never a comparison error."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = json.loads(raw)
        cursor_scope, key = data["s"], data["k"]
    except (binascii.Error, ValueError, TypeError, KeyError, RecursionError) as exc:
        raise InvalidPageRequest("invalid cursor") from exc
    if cursor_scope != scope:
        raise InvalidPageRequest("the cursor belongs to another list or filter: restart without a cursor")
    if type(key) is not list or len(key) != len(shape):
        raise InvalidPageRequest("invalid cursor")
    for part, kind in zip(key, shape, strict=True):
        if not (_bigint(part) if kind is int else _text(part)):
            raise InvalidPageRequest("invalid cursor")
    return tuple(key)
