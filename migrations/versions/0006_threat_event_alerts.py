"""Threat events to alerts: a cursor per published source (the last event id handed on).

Revision ID: 0006
Revises: 0005_tmplwire
Create Date: 2026-12-03 07:50:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005_tmplwire"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "alert_cursors",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_alert_cursors")),
    )
    # Events detected before this revision are history, as changes are: a destination does not
    # receive them (the cursor starts at the newest event).
    bind = op.get_bind()
    newest = bind.execute(sa.text("SELECT COALESCE(MAX(id), 0) FROM events")).scalar() or 0
    bind.execute(
        sa.text("INSERT INTO alert_cursors (name, position) VALUES ('threat_events', :p)"), {"p": int(newest)}
    )


def downgrade() -> None:
    op.drop_table("alert_cursors")
