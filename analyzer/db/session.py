"""Engine, sessions and migrations for the analyzer database."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import URL, Engine, create_engine, event, make_url
from sqlalchemy.orm import Session, sessionmaker

from analyzer.db.models import SCHEMA_REVISION

# migrations/ sits at the repository root next to the analyzer package (source checkout or
# editable install), and alembic.ini there points at it too.
MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL + NORMAL: batched writes without an fsync per statement; FKs for ON DELETE CASCADE.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def normalize_url(url: str) -> URL:
    """Pick the installed PostgreSQL driver for a bare ``postgresql://`` URL.

    SQLAlchemy 2.1 maps the bare scheme to psycopg 3, while the project depends on psycopg2;
    ``postgres://`` (common in PaaS environments) is accepted as an alias.
    """
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        driver = "psycopg2" if importlib.util.find_spec("psycopg2") else "psycopg"
        parsed = parsed.set(drivername=f"postgresql+{driver}")
    return parsed


def error_reason(exc: BaseException) -> str:
    """A database error on one line, for messages: the driver's first line (``exc.orig``), else
    the exception's, else its type (an error without text)."""
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def make_engine(url: str | URL, **kwargs: Any) -> Engine:
    engine = create_engine(normalize_url(url) if isinstance(url, str) else url, **kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """One transaction: committed on success, rolled back on any error."""
    with make_session_factory(engine)() as session, session.begin():
        yield session


def alembic_config(url: str | None = None) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        # ConfigParser interpolation: a literal '%' in a URL (encoded passwords) must be doubled.
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def current_revision(engine: Engine) -> str | None:
    """The database's Alembic revision, or None when it has never been migrated."""
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    try:
        with engine.connect() as connection:
            return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except DBAPIError:  # no alembic_version table yet
        return None


def run_migrations(engine: Engine) -> None:
    """``alembic upgrade head`` on the engine's database (idempotent).

    Every ``analyze`` starts with this, so an up-to-date database is recognised with one query
    instead of loading Alembic and its scripts (a fifth of a second of start-up).
    """
    if current_revision(engine) == SCHEMA_REVISION:
        return
    from alembic import command

    config = alembic_config()
    with engine.begin() as connection:
        # env.py uses this connection instead of opening its own, so in-memory SQLite works too.
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
