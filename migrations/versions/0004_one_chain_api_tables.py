"""One chain: the inventory service's tables (api_keys, endpoint_verdicts) and the catalog's
indexes join the analyzer's schema.

Release 0.1 kept them in a second Alembic chain (``inventory_api/migrations``, version table
``inventory_api_alembic_version``, revisions api0001-api0003). This revision creates whatever of
them a database lacks and then drops that chain's version table, so it serves both a new
database and one built by release 0.1's two chains, wherever its second chain stood
(tests/migrations/test_upgrade.py builds one with a frozen copy of both chains).

The (sort key, id) indexes back the catalog's keyset pages (bench/api_latency.py); release 0.1
made them on PostgreSQL only, now SQLite gets them too (the models declare them). The trigram
index for ``q`` (``ILIKE '%text%'``) is PostgreSQL's, where pg_trgm is available; the models do
not declare it (migrations/env.py leaves it out of autogenerate's comparison).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 22:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_VERSION_TABLE = "inventory_api_alembic_version"
# (name, table, columns)
INDEXES = (
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


def upgrade() -> None:
    bind = op.get_bind()
    inspector = sa.inspect(bind)
    tables = set(inspector.get_table_names())
    if "api_keys" not in tables:
        op.create_table(
            "api_keys",
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("name", sa.String(length=255), nullable=True),
            sa.Column("role", sa.String(length=16), nullable=False),
            sa.Column("prefix", sa.String(length=16), nullable=False),
            sa.Column("key_hash", sa.String(length=64), nullable=False),
            sa.Column(
                "created_at",
                sa.DateTime(timezone=True),
                server_default=sa.text("CURRENT_TIMESTAMP"),
                nullable=False,
            ),
            sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
            sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
            sa.UniqueConstraint("key_hash", name=op.f("uq_api_keys_key_hash")),
        )
    if "endpoint_verdicts" not in tables:
        op.create_table(
            "endpoint_verdicts",
            sa.Column("endpoint_id", sa.Integer(), autoincrement=False, nullable=False),
            sa.Column("documented", sa.Boolean(), nullable=False),
            sa.Column("shadow", sa.Boolean(), nullable=False),
            sa.Column("zombie", sa.Boolean(), nullable=False),
            sa.Column(
                "zombie_reasons",
                sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                nullable=True,
            ),
            sa.Column("spec_operation_id", sa.Integer(), nullable=True),
            sa.PrimaryKeyConstraint("endpoint_id", name=op.f("pk_endpoint_verdicts")),
        )
    existing = {ix["name"] for table in ("endpoints", "pii_findings") for ix in inspector.get_indexes(table)}
    for name, table, columns in INDEXES:
        if name not in existing:
            op.create_index(name, table, list(columns))
    if bind.dialect.name == "postgresql" and TRGM not in existing:
        has_trgm = bind.execute(sa.text("SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm'")).scalar()
        if has_trgm:
            op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
            op.execute(f"CREATE INDEX {TRGM} ON endpoints USING gin (path_template gin_trgm_ops)")
    if OLD_VERSION_TABLE in tables:
        op.drop_table(OLD_VERSION_TABLE)


def downgrade() -> None:
    op.execute(f"DROP INDEX IF EXISTS {TRGM}")
    for name, table, _columns in reversed(INDEXES):
        op.drop_index(name, table_name=table)
    op.drop_table("endpoint_verdicts")
    op.drop_table("api_keys")
