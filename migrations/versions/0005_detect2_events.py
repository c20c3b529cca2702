"""Threat detection (issue 11): events, actors, data flows and the detection engine's state.

Revision ID: 0005_detect2
Revises: 0004
Create Date: 2026-12-03 06:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005_detect2"
down_revision: str | None = "0005_proto3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.String(length=32), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("subtype", sa.String(length=64), nullable=True),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("title", sa.String(length=255), nullable=False),
        sa.Column("actor_key", sa.String(length=80), nullable=False),
        sa.Column("actor_ip", sa.String(length=64), nullable=True),
        sa.Column("actor_identity", sa.String(length=64), nullable=True),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("method", sa.String(length=32), nullable=True),
        sa.Column("path_template", sa.String(length=1000), nullable=True),
        sa.Column("window_start", TS, nullable=False),
        sa.Column("window_seconds", sa.Float(), nullable=False),
        sa.Column("first_seen", TS, nullable=False),
        sa.Column("last_seen", TS, nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("evidence", JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
        sa.UniqueConstraint("event_id", name=op.f("uq_events_event_id")),
    )
    op.create_index("ix_events_last_seen_id", "events", ["last_seen", "id"])
    op.create_index("ix_events_type_id", "events", ["type", "id"])
    op.create_index("ix_events_actor_id", "events", ["actor_key", "id"])
    op.create_index("ix_events_host_id", "events", ["host", "id"])
    op.create_table(
        "actors",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=80), nullable=False),
        sa.Column("ip", sa.String(length=64), nullable=True),
        sa.Column("identity", sa.String(length=64), nullable=True),
        sa.Column("first_seen", TS, nullable=False),
        sa.Column("last_seen", TS, nullable=False),
        sa.Column("requests", sa.BigInteger(), nullable=False),
        sa.Column("endpoints", sa.Integer(), nullable=False),
        sa.Column("pii_types", JSON, nullable=False),
        sa.Column("risk", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_actors")),
        sa.UniqueConstraint("key", name=op.f("uq_actors_key")),
    )
    op.create_index("ix_actors_last_seen_id", "actors", ["last_seen", "id"])
    op.create_index("ix_actors_risk_id", "actors", ["risk", "id"])
    op.create_table(
        "data_flows",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("flow_key", sa.String(length=32), nullable=False),
        sa.Column("actor_key", sa.String(length=80), nullable=False),
        sa.Column("actor_ip", sa.String(length=64), nullable=True),
        sa.Column("actor_identity", sa.String(length=64), nullable=True),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("path_template", sa.String(length=1000), nullable=False),
        sa.Column("pii_type", sa.String(length=64), nullable=False),
        sa.Column("records", sa.BigInteger(), nullable=False),
        sa.Column("responses", sa.BigInteger(), nullable=False),
        sa.Column("first_seen", TS, nullable=False),
        sa.Column("last_seen", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_data_flows")),
        sa.UniqueConstraint("flow_key", name=op.f("uq_data_flows_flow_key")),
    )
    op.create_index("ix_data_flows_actor_id", "data_flows", ["actor_key", "id"])
    op.create_table(
        "detector_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("state", sa.LargeBinary(), nullable=True),
        sa.Column("generation", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("secret", sa.LargeBinary(), nullable=True),
        sa.Column("updated_at", TS, server_default=sa.text("CURRENT_TIMESTAMP"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_detector_state")),
    )


def downgrade() -> None:
    op.drop_table("detector_state")
    op.drop_index("ix_data_flows_actor_id", table_name="data_flows")
    op.drop_table("data_flows")
    op.drop_index("ix_actors_risk_id", table_name="actors")
    op.drop_index("ix_actors_last_seen_id", table_name="actors")
    op.drop_table("actors")
    for name in ("ix_events_host_id", "ix_events_actor_id", "ix_events_type_id", "ix_events_last_seen_id"):
        op.drop_index(name, table_name="events")
    op.drop_table("events")
