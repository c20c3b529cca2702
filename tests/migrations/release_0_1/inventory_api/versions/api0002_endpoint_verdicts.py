"""Spec verdicts per observed endpoint (documented / shadow / zombie with reasons).

Revision ID: api0002
Revises: api0001
Create Date: 2026-11-27 03:50:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "api0002"
down_revision: str | None = "api0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "endpoint_verdicts",
        sa.Column("endpoint_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("documented", sa.Boolean(), nullable=False),
        sa.Column("shadow", sa.Boolean(), nullable=False),
        sa.Column("zombie", sa.Boolean(), nullable=False),
        sa.Column(
            "zombie_reasons",
            sa.JSON().with_variant(sa.dialects.postgresql.JSONB(), "postgresql"),
            nullable=True,
        ),
        sa.Column("spec_operation_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("endpoint_id", name=op.f("pk_endpoint_verdicts")),
    )


def downgrade() -> None:
    op.drop_table("endpoint_verdicts")
