"""TLS services and GraphQL posture counters: ``tls_services`` (one row per server ip:port and
SNI, from the sensor's ``tls`` records) and ``endpoint_graphql`` (per GraphQL operation endpoint:
operations, errors, introspection with and without credentials, deepest and widest query).

Revision ID: 0005_proto3
Revises: 0004
Create Date: 2026-12-03 06:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005_proto3"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine[object]:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "tls_services",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("server", sa.String(length=64), nullable=False),
        sa.Column("sni", sa.String(length=255), nullable=False),
        sa.Column("connections", sa.BigInteger(), nullable=False),
        sa.Column("decrypted", sa.BigInteger(), nullable=False),
        sa.Column("version", sa.String(length=16), nullable=True),
        sa.Column("cipher", sa.String(length=128), nullable=True),
        sa.Column("alpn", sa.String(length=64), nullable=True),
        sa.Column("negotiated", _json(), nullable=False),
        sa.Column("alpns", _json(), nullable=False),
        sa.Column("ja3", _json(), nullable=False),
        sa.Column("ja3s", _json(), nullable=False),
        sa.Column("ja4", _json(), nullable=False),
        sa.Column("tags", _json(), nullable=False),
        sa.Column("cert_subject", sa.String(length=512), nullable=True),
        sa.Column("cert_issuer", sa.String(length=512), nullable=True),
        sa.Column("cert_not_before", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cert_not_after", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cert_self_signed", sa.Boolean(), nullable=True),
        sa.Column("cert_sha256", sa.String(length=64), nullable=True),
        sa.Column("cert_san", _json(), nullable=True),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tls_services")),
        sa.UniqueConstraint("server", "sni", name=op.f("uq_tls_services_server")),
    )
    op.create_table(
        "endpoint_graphql",
        sa.Column("endpoint_id", sa.Integer(), nullable=False),
        sa.Column("operations", sa.BigInteger(), nullable=False),
        sa.Column("errors", sa.BigInteger(), nullable=False),
        sa.Column("errored_operations", sa.BigInteger(), nullable=False),
        sa.Column("introspection", sa.BigInteger(), nullable=False),
        sa.Column("introspection_unauthenticated", sa.BigInteger(), nullable=False),
        sa.Column("max_depth", sa.Integer(), nullable=False),
        sa.Column("max_width", sa.Integer(), nullable=False),
        sa.Column("max_fields", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["endpoint_id"], ["endpoints.id"], name=op.f("fk_endpoint_graphql_endpoint_id_endpoints"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("endpoint_id", name=op.f("pk_endpoint_graphql")),
    )


def downgrade() -> None:
    op.drop_table("endpoint_graphql")
    op.drop_table("tls_services")
