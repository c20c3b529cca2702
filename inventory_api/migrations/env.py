"""Alembic environment for the inventory API's own tables (see ``inventory_api.models``).

Separate from the analyzer's chain (``migrations/``): its own version table, and autogenerate
only ever looks at the tables of ``ApiBase.metadata``. Run by ``inventory_api.db.prepare_database``
with a connection handed in through ``config.attributes``; by hand:
``APICENSUS_DATABASE_URL=... alembic -c inventory_api/migrations/alembic.ini upgrade head``.
"""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import Connection, pool

from analyzer.db.session import make_engine
from analyzer.db.settings import DEFAULT_DATABASE_URL
from inventory_api.models import API_VERSION_TABLE, ApiBase, include_api_object

config = context.config
target_metadata = ApiBase.metadata


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        version_table=API_VERSION_TABLE,
        include_object=include_api_object,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        return
    url = (
        config.get_main_option("sqlalchemy.url")
        or os.environ.get("APICENSUS_DATABASE_URL")
        or DEFAULT_DATABASE_URL
    )
    engine = make_engine(url, poolclass=pool.NullPool)
    with engine.connect() as conn:
        _configure(conn)
        conn.commit()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) mode is not supported for the inventory API migrations")
run_migrations_online()
