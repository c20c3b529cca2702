"""Unmatched-request statistics (issue 10, class 9): malformed targets and bare query values,
counted per masked sample instead of becoming endpoints or parameter names.

Revision ID: 0005_tmplwire
Revises: 0004
Create Date: 2026-12-03 06:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_tmplwire"
down_revision: str | None = "0005_console"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "unmatched_requests",
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("method", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("sample", sa.String(length=1000), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("host", "method", "kind", "sample", name=op.f("pk_unmatched_requests")),
    )


def downgrade() -> None:
    op.drop_table("unmatched_requests")
