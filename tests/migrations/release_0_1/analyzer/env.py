"""Frozen release-0.1 Alembic environment (analyzer chain): upgrades only, on a connection handed
in through ``config.attributes["connection"]``."""

from __future__ import annotations

from alembic import context

config = context.config
connection = config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=None,
    version_table="alembic_version",
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
