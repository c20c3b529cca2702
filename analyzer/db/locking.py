"""The inventory-wide writer lock.

Every writer of the templater state and the counts — the batch ``apicensus analyze``, each
``apicensus analyzer`` worker, the service's ingest route — serialises on one lock per database:
a PostgreSQL advisory lock (released by the server if the holder dies), or a lock file beside a
SQLite database. Stream analyzers hold it per batch transaction; a batch ``analyze`` run holds it
for the whole run (its pipeline keeps the templater in memory between batches), so analyzers
waiting on it reload the state it leaves.
"""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

# pg_advisory_lock key shared by every APICensus writer of one database ("APICENSU").
INVENTORY_LOCK_KEY = 0x41504943454E5355


def lock_file(engine: Engine) -> str | None:
    """SQLite: the lock file beside the database (None for an in-memory database)."""
    database = engine.url.database
    if engine.dialect.name == "postgresql" or not database or database == ":memory:":
        return None
    return database + ".apicensus-lock"


@contextlib.contextmanager
def file_lock(path: str | None) -> Iterator[None]:
    if path is None:
        yield
        return
    with open(path, "a+b") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def lock_transaction(session: Session) -> None:
    """PostgreSQL: take the lock until ``session``'s transaction ends."""
    session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": INVENTORY_LOCK_KEY})


@contextlib.contextmanager
def exclusive_inventory(engine: Engine) -> Iterator[None]:
    """Hold the lock for a whole block (migrations, a batch analyze run)."""
    if engine.dialect.name != "postgresql":
        with file_lock(lock_file(engine)):
            yield
        return
    with engine.connect() as connection:
        connection.execute(text("SELECT pg_advisory_lock(:k)"), {"k": INVENTORY_LOCK_KEY})
        connection.commit()
        try:
            yield
        finally:
            connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": INVENTORY_LOCK_KEY})
            connection.commit()
