"""The web console: browser sessions (token hashes only) and the findings workflow (states,
activity log, suppression rules), plus an index on endpoint_hourly.hour for the overview's
traffic chart (one range scan instead of reading every endpoint's hours).

Revision ID: 0005_console
Revises: 0004
Create Date: 2026-12-03 06:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_console"
down_revision: str | None = "0005_alerts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "console_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("key_id", sa.Integer(), nullable=False),
        sa.Column("created_at", UTC_TS, nullable=False),
        sa.Column("expires_at", UTC_TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["key_id"], ["api_keys.id"], name="fk_console_sessions_key_id_api_keys", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_console_sessions"),
        sa.UniqueConstraint("token_hash", name="uq_console_sessions_token_hash"),
    )
    op.create_index("ix_console_sessions_key_id", "console_sessions", ["key_id"])
    op.create_index("ix_console_sessions_expires_at", "console_sessions", ["expires_at"])
    op.create_table(
        "finding_states",
        sa.Column("finding_id", sa.String(128), nullable=False),
        sa.Column("state", sa.String(24), nullable=False),
        sa.Column("assignee", sa.String(255), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("updated_at", UTC_TS, nullable=False),
        sa.Column("updated_by", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("finding_id", name="pk_finding_states"),
    )
    op.create_table(
        "finding_activity",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("finding_id", sa.String(128), nullable=False),
        sa.Column("state", sa.String(24), nullable=False),
        sa.Column("assignee", sa.String(255), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("at", UTC_TS, nullable=False),
        sa.Column("by_key", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_finding_activity"),
    )
    op.create_index("ix_finding_activity_finding_id", "finding_activity", ["finding_id"])
    op.create_table(
        "suppression_rules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("endpoint_id", sa.Integer(), nullable=True),
        sa.Column("service_id", sa.Integer(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("expires_at", UTC_TS, nullable=False),
        sa.Column("created_at", UTC_TS, nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["endpoint_id"], ["endpoints.id"], name="fk_suppression_rules_endpoint_id_endpoints", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["service_id"], ["services.id"], name="fk_suppression_rules_service_id_services", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_suppression_rules"),
    )
    op.create_index("ix_endpoint_hourly_hour", "endpoint_hourly", ["hour"])


def downgrade() -> None:
    op.drop_index("ix_endpoint_hourly_hour", table_name="endpoint_hourly")
    op.drop_table("suppression_rules")
    op.drop_index("ix_finding_activity_finding_id", table_name="finding_activity")
    op.drop_table("finding_activity")
    op.drop_table("finding_states")
    op.drop_index("ix_console_sessions_expires_at", table_name="console_sessions")
    op.drop_index("ix_console_sessions_key_id", table_name="console_sessions")
    op.drop_table("console_sessions")
