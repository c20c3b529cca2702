"""Engine and schema preparation for the inventory API."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from inventory_api.models import API_SCHEMA_REVISION, API_VERSION_TABLE

if TYPE_CHECKING:
    from alembic.config import Config

API_MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def api_alembic_config() -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(API_MIGRATIONS_DIR))
    return config


def api_current_revision(engine: Engine) -> str | None:
    try:
        with engine.connect() as connection:
            return connection.execute(text(f"SELECT version_num FROM {API_VERSION_TABLE}")).scalar()
    except DBAPIError:  # never migrated
        return None


def prepare_database(engine: Engine) -> None:
    """The analyzer's schema, then the API's own tables (both idempotent, cheap when current)."""
    from analyzer.db.session import run_migrations

    run_migrations(engine)
    if api_current_revision(engine) == API_SCHEMA_REVISION:
        return
    from alembic import command

    config = api_alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
