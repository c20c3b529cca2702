"""Shared fixtures: a fresh PostgreSQL database per test module, and realistic exchange records.

PostgreSQL is required, not optional: CI starts it, and the analyzer's production path (bulk
upserts, JSONB, timestamptz) is only exercised against the real thing. If it is unreachable the
fixture errors loudly instead of skipping.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import os
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

# Property tests run on a shared two-core machine, under xdist: how fast examples are generated
# says nothing about the code under test, so neither a deadline nor a too_slow health check may
# fail a run (a test's own @settings still narrows what it needs).
hypothesis_settings.register_profile(
    "apicensus", deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
hypothesis_settings.load_profile("apicensus")

# Admin connection used to create/drop the per-module databases.
PG_ADMIN_URL = os.environ.get("APICENSUS_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


@contextlib.contextmanager
def database_refusing_status(engine: Any, status: int) -> Iterator[None]:
    """A real PostgreSQL trigger that raises a data error (SQLSTATE 22003) for any endpoint_status row
    with ``status``: it stands for any value the database cannot hold. Removed on exit."""
    from sqlalchemy import text

    with engine.begin() as conn:
        conn.execute(text(
            f"CREATE FUNCTION refuse_{status}() RETURNS trigger AS $$ BEGIN IF NEW.status = {status:d} THEN "
            "RAISE EXCEPTION 'status out of range' USING ERRCODE = '22003'; END IF; RETURN NEW; END $$ "
            "LANGUAGE plpgsql"))
        conn.execute(text(f"CREATE TRIGGER refuse_{status:d} BEFORE INSERT ON endpoint_status FOR EACH ROW "
                          f"EXECUTE FUNCTION refuse_{status:d}()"))
    try:
        yield
    finally:
        with engine.begin() as conn:
            conn.execute(text(f"DROP TRIGGER refuse_{status:d} ON endpoint_status"))
            conn.execute(text(f"DROP FUNCTION refuse_{status:d}()"))


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    """SQLAlchemy URL of a brand-new, empty PostgreSQL database, dropped after the module."""
    import psycopg2
    from sqlalchemy.engine import make_url

    admin = make_url(PG_ADMIN_URL)
    name = f"apicensus_test_{uuid.uuid4().hex[:12]}"
    try:
        conn = psycopg2.connect(
            host=admin.host or "127.0.0.1",
            port=admin.port or 5432,
            user=admin.username or "postgres",
            password=admin.password,
            dbname=admin.database or "postgres",
            connect_timeout=5,
        )
    except psycopg2.OperationalError as exc:
        pytest.fail(f"PostgreSQL is required for these tests and is unreachable at {PG_ADMIN_URL}: {exc}")
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"')
        yield admin.set(drivername="postgresql+psycopg2", database=name).render_as_string(hide_password=False)
    finally:
        with conn.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.close()


_uid_counter = itertools.count(1)


def _body(data: bytes | str | None) -> dict[str, Any]:
    raw = data.encode() if isinstance(data, str) else (data or b"")
    try:
        text, b64 = raw.decode("utf-8"), False
    except UnicodeDecodeError:
        text, b64 = base64.b64encode(raw).decode("ascii"), True
    return {
        "data": text,
        "b64": b64,
        "captured": len(raw),
        "length": len(raw),
        "wire_length": len(raw),
        "content_encoding": [],
    }


def make_exchange(
    *,
    method: str = "GET",
    target: str = "/",
    host: str = "api.example.com",
    status: int | None = 200,
    ts: float = 1_700_000_000.0,
    client: str = "10.0.0.5:51515",
    server: str = "192.0.2.10:80",
    request_headers: list[tuple[str, str]] | None = None,
    response_headers: list[tuple[str, str]] | None = None,
    request_body: bytes | str | None = None,
    response_body: bytes | str | None = None,
    uid: str | None = None,
) -> dict[str, Any]:
    """An exchange record in the sensor's ``Exchange.to_dict()`` form."""
    req_h = [["Host", host], ["User-Agent", "test-client/1.0"], ["Accept", "application/json"]]
    req_h += [list(h) for h in request_headers or []]
    resp_h = [["Content-Type", "application/json"], ["Server", "nginx"]]
    if response_headers is not None:
        resp_h = [list(h) for h in response_headers]
    return {
        "schema": 1,
        "uid": uid or f"CT{next(_uid_counter):08d}-{uuid.uuid4().hex[:6]}",
        "ts": ts,
        "response_ts": None if status is None else ts + 0.01,
        "end_ts": ts + 0.02,
        "client": client,
        "server": server,
        "vlan": [],
        "trans_depth": 1,
        "method": method,
        "host": host,
        "target": target,
        "version": "1.1",
        "status": status,
        "reason": "OK" if status == 200 else None,
        "response_version": "1.1" if status is not None else None,
        "interim_statuses": [],
        "request_headers": req_h,
        "response_headers": resp_h if status is not None else [],
        "request_body": _body(request_body),
        "response_body": _body(response_body),
        "tags": [] if status is not None else ["missing_response"],
    }


@pytest.fixture
def exchange() -> Callable[..., dict[str, Any]]:
    return make_exchange
