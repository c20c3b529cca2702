"""Indexes for the catalog listing (GET /api/v1/endpoints) at 50,000+ endpoints.

Measured with bench/api_latency.py: without them every page sorts the whole (filtered)
endpoints table. Each ``(sort key, id)`` index matches the keyset order and cursor predicate
``(key, id) > (...)``, so a page reads ~limit rows in order; ``(service_id, path_template, id)``
serves a service's default listing; the pii_findings indexes drive the ``pii_type`` /
``pii_location`` filters; a trigram index (when pg_trgm is available) serves ``q``
(``ILIKE '%text%'``). PostgreSQL only: SQLite inventories are small.

The tables belong to the analyzer's metadata; these indexes are the API's read-side concern,
so they live in this chain (the analyzer's drift test and revision constant stay untouched).

Revision ID: api0003
Revises: api0002
Create Date: 2026-11-27 04:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "api0003"
down_revision: str | None = "api0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (name, table, columns)
BTREE = (
    ("ix_api_endpoints_path_id", "endpoints", ("path_template", "id")),
    ("ix_api_endpoints_method_id", "endpoints", ("method", "id")),
    ("ix_api_endpoints_hits_id", "endpoints", ("hits", "id")),
    ("ix_api_endpoints_first_seen_id", "endpoints", ("first_seen", "id")),
    ("ix_api_endpoints_last_seen_id", "endpoints", ("last_seen", "id")),
    ("ix_api_endpoints_service_path_id", "endpoints", ("service_id", "path_template", "id")),
    ("ix_api_pii_findings_type_location", "pii_findings", ("type", "location", "endpoint_id")),
    ("ix_api_pii_findings_location", "pii_findings", ("location", "endpoint_id")),
)
TRGM = "ix_api_endpoints_path_trgm"


def _postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    if not _postgresql():
        return
    for name, table, columns in BTREE:
        op.create_index(name, table, list(columns))
    bind = op.get_bind()
    has_trgm = bind.execute(sa.text("SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm'")).scalar()
    if has_trgm:
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.execute(f"CREATE INDEX {TRGM} ON endpoints USING gin (path_template gin_trgm_ops)")


def downgrade() -> None:
    if not _postgresql():
        return
    op.execute(f"DROP INDEX IF EXISTS {TRGM}")
    for name, table, _columns in reversed(BTREE):
        op.drop_index(name, table_name=table)
