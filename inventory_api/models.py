"""Tables owned by the inventory API (the catalog itself lives in ``analyzer.db.models``).

They have their own metadata and their own Alembic chain (``inventory_api/migrations``, version
table ``inventory_api_alembic_version``), so the analyzer's schema revision and drift checks stay
exactly as they are.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Integer, MetaData, String, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from analyzer.db.models import NAMING_CONVENTION, JsonType, UtcDateTime

# Newest revision in inventory_api/migrations/versions (start-up skips Alembic when current).
API_SCHEMA_REVISION = "api0003"
API_VERSION_TABLE = "inventory_api_alembic_version"


class ApiBase(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class ApiKey(ApiBase):
    """An API key: only the SHA-256 of the secret is stored, never the secret."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str | None] = mapped_column(String(255), default=None)
    role: Mapped[str] = mapped_column(String(16))
    # The first characters of the key, to tell keys apart in listings and logs.
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, server_default=func.now())
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)


class EndpointVerdict(ApiBase):
    """Spec verdicts of one observed endpoint, rewritten by ``inventory_api.verdicts.recompute``.

    No foreign key: ``endpoints`` belongs to the analyzer's metadata; every recompute replaces
    all rows, so a deleted endpoint's row does not outlive the next one.
    """

    __tablename__ = "endpoint_verdicts"

    endpoint_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    documented: Mapped[bool] = mapped_column(Boolean)
    shadow: Mapped[bool] = mapped_column(Boolean)
    zombie: Mapped[bool] = mapped_column(Boolean)
    # [{"reason": "deprecated" | "superseded" | "removed" | "sunset_header", "detail": str}]
    zombie_reasons: Mapped[list[dict[str, str]] | None] = mapped_column(JsonType, default=None)
    spec_operation_id: Mapped[int | None] = mapped_column(Integer, default=None)


def include_api_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    """Alembic ``include_object``: the analyzer's tables share the database and are never ours."""
    if type_ == "table":
        return name in ApiBase.metadata.tables
    table = getattr(obj, "table", None)
    return table is None or table.name in ApiBase.metadata.tables
