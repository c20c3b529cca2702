"""Alembic environment: the one chain of migrations for the whole inventory database (the
analyzer's tables and the inventory service's), on PostgreSQL and SQLite."""

from __future__ import annotations

import os
from logging.config import fileConfig

from alembic import context
from sqlalchemy import Connection, create_engine, pool

from analyzer.db.models import Base, include_in_schema_comparison
from analyzer.db.settings import DEFAULT_DATABASE_URL

config = context.config
target_metadata = Base.metadata

# Only the alembic CLI (alembic.ini) configures logging; when the analyzer runs migrations
# in-process, its own stderr output must not be reconfigured.
if config.config_file_name is not None:
    fileConfig(config.config_file_name)


def _url() -> str:
    return (
        config.get_main_option("sqlalchemy.url")
        or os.environ.get("APICENSUS_DATABASE_URL")
        or DEFAULT_DATABASE_URL
    )


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things: batch mode rebuilds tables instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_object=include_in_schema_comparison,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_offline() -> None:
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:  # handed in by analyzer.db.session.run_migrations
        _configure(connection)
        return
    engine = create_engine(_url(), poolclass=pool.NullPool)
    with engine.connect() as conn:
        _configure(conn)
        conn.commit()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
