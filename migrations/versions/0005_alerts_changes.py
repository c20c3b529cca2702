"""Change history, first/last seen of parameters and body fields, alert destinations and the
alert outbox in the one chain.

- ``changes``: the inventory's change events (analyzer/inventory/changes.py).
- ``endpoint_params`` / ``endpoint_fields``: ``first_seen``, ``last_seen`` (capture time) and
  ``learned_at``; rows made before this revision take their endpoint's values.
- ``finding_announcements``: findings already announced (new ones become alerts).
- ``integrations``: alert destinations (secrets in a column of their own, never returned).
- ``worker_leases``: one alert delivery worker across every ``serve`` process.
- ``alert_outbox`` / ``alert_delivery_status``: made by ``analyzer.alerts.create_tables`` before
  this revision; created here when missing, so a database that already has them keeps its rows.

Revision ID: 0005_alerts
Revises: 0004
Create Date: 2026-12-03 06:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005_alerts"
down_revision: str | None = "0005_detect2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
When = sa.DateTime(timezone=True)


def _tables() -> set[str]:
    return set(sa.inspect(op.get_bind()).get_table_names())


def upgrade() -> None:
    existing = _tables()
    for table in ("endpoint_params", "endpoint_fields"):
        with op.batch_alter_table(table) as batch:
            for column in ("first_seen", "last_seen", "learned_at"):
                batch.add_column(sa.Column(column, When, nullable=True))
        source = {"first_seen": "first_seen", "last_seen": "last_seen", "learned_at": "created_at"}
        sets = ", ".join(
            f"{col} = (SELECT e.{src} FROM endpoints e WHERE e.id = {table}.endpoint_id)"
            for col, src in source.items()
        )
        op.execute(f"UPDATE {table} SET {sets}")

    op.create_table(
        "changes",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("host", sa.String(1000), nullable=False),
        sa.Column("service_id", sa.Integer(), nullable=True),
        sa.Column("endpoint_id", sa.Integer(), nullable=True),
        sa.Column("method", sa.String(32), nullable=True),
        sa.Column("path_template", sa.String(1000), nullable=True),
        sa.Column("subject", sa.String(512), nullable=True),
        sa.Column("before", Json, nullable=True),
        sa.Column("after", Json, nullable=True),
        sa.Column("observed_at", When, nullable=False),
        sa.Column("detected_at", When, nullable=False),
        sa.Column("dispatched_at", When, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_changes"),
    )
    op.create_index("ix_changes_detected_id", "changes", ["detected_at", "id"])
    op.create_index("ix_changes_dispatched_id", "changes", ["dispatched_at", "id"])
    op.create_index("ix_changes_endpoint_type", "changes", ["endpoint_id", "type"])

    op.create_table(
        "finding_announcements",
        sa.Column("id", sa.String(255), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("endpoint_id", sa.Integer(), nullable=True),
        sa.Column("first_detected_at", When, nullable=False),
        sa.Column("last_detected_at", When, nullable=False),
        sa.Column("resolved_at", When, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_finding_announcements"),
    )
    op.create_table(
        "integrations",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(255), nullable=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("config", Json, nullable=False),
        sa.Column("secrets", Json, nullable=True),
        sa.Column("created_at", When, server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", When, server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_integrations"),
    )
    op.create_table(
        "worker_leases",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("holder", sa.String(64), nullable=False),
        sa.Column("lease_until", When, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_worker_leases"),
    )
    if "alert_outbox" not in existing:
        op.create_table(
            "alert_outbox",
            sa.Column("id", Id, primary_key=True, autoincrement=True),
            sa.Column("destination_id", sa.String(64), nullable=False),
            sa.Column("delivery_id", sa.String(64), nullable=False),
            sa.Column("dedup_key", sa.String(512), nullable=False),
            sa.Column("state", sa.String(16), nullable=False),
            sa.Column("severity", sa.SmallInteger(), nullable=False),
            sa.Column("alert", Json, nullable=False),
            sa.Column("attempts", sa.Integer(), nullable=False),
            sa.Column("folded", sa.Integer(), nullable=False),
            sa.Column("enqueued_at", When, nullable=False),
            sa.Column("next_attempt_at", When, nullable=False),
            sa.Column("lease_until", When, nullable=True),
            sa.Column("claim_token", sa.String(32), nullable=True),
            sa.Column("last_error", sa.Text(), nullable=True),
            sa.Column("delivered_at", When, nullable=True),
            sa.Column("fold_sources", Json, nullable=True),
            sa.PrimaryKeyConstraint("id", name="pk_alert_outbox"),
            sa.UniqueConstraint("destination_id", "delivery_id", name="uq_alert_outbox_destination_id"),
        )
        op.create_index("ix_alert_outbox_due", "alert_outbox", ["state", "next_attempt_at"])
        op.create_index("ix_alert_outbox_key", "alert_outbox", ["destination_id", "dedup_key", "enqueued_at"])
        op.create_index("ix_alert_outbox_dest_state", "alert_outbox", ["destination_id", "state"])
        op.create_index("ix_alert_outbox_dest_time", "alert_outbox", ["destination_id", "enqueued_at"])
    if "alert_delivery_status" not in existing:
        op.create_table(
            "alert_delivery_status",
            sa.Column("destination_id", sa.String(64), nullable=False),
            sa.Column("delivered_total", sa.BigInteger(), nullable=False),
            sa.Column("failed_total", sa.BigInteger(), nullable=False),
            sa.Column("dropped_total", sa.BigInteger(), nullable=False),
            sa.Column("folded_total", sa.BigInteger(), nullable=False),
            sa.Column("last_success_at", When, nullable=True),
            sa.Column("last_error", sa.Text(), nullable=True),
            sa.Column("last_error_at", When, nullable=True),
            sa.PrimaryKeyConstraint("destination_id", name="pk_alert_delivery_status"),
        )


def downgrade() -> None:
    for table in ("alert_delivery_status", "alert_outbox", "worker_leases", "integrations", "finding_announcements"):
        op.drop_table(table)
    op.drop_table("changes")
    for table in ("endpoint_fields", "endpoint_params"):
        with op.batch_alter_table(table) as batch:
            for column in ("learned_at", "last_seen", "first_seen"):
                batch.drop_column(column)
