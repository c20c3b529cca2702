"""Scaled analyzers (issue 5): templater state generation, so analyzers sharing one database
reload the state only when another one wrote a newer state; per-stream progress, so batches from
a NATS stream are applied in stream order whichever analyzer took them; and when each exchange
uid was recorded, so long-running analyzers can bound the dedupe table (--dedupe-days).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 05:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("templater_state") as batch:
        batch.add_column(sa.Column("generation", sa.BigInteger(), nullable=False, server_default="0"))
    op.create_table(
        "stream_progress",
        sa.Column("stream", sa.String(length=255), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("stream", name=op.f("pk_stream_progress")),
    )
    # Nullable, no server default: SQLite cannot add a column defaulting to the current time, and
    # uids recorded before this revision have no known age (they are never pruned).
    with op.batch_alter_table("seen_exchanges") as batch:
        batch.add_column(sa.Column("seen_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index(op.f("ix_seen_exchanges_seen_at"), "seen_exchanges", ["seen_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_seen_exchanges_seen_at"), table_name="seen_exchanges")
    with op.batch_alter_table("seen_exchanges") as batch:
        batch.drop_column("seen_at")
    op.drop_table("stream_progress")
    with op.batch_alter_table("templater_state") as batch:
        batch.drop_column("generation")
