"""A database built by release 0.1's two Alembic chains upgrades to today's one chain, data intact.

The database is made with the frozen copy of both 0.1 chains (tests/migrations/release_0_1),
filled the way a 0.1 deployment fills it, then opened as every command opens a database today
(``run_migrations``). PostgreSQL and SQLite (the embedded default) alike.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg2
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect, text
from sqlalchemy.engine import make_url

from analyzer.db import crud
from analyzer.db.models import SCHEMA_REVISION, Base, include_in_schema_comparison
from analyzer.db.session import (
    current_revision,
    make_engine,
    make_session_factory,
    run_migrations,
    session_scope,
)
from tests.conftest import make_exchange

RELEASE_0_1 = Path(__file__).resolve().parent / "release_0_1"
KEY = "apc_release-0.1-key-0123456789abcdefghijklmnopqrstuvwxyz"
T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def old_chain(engine: Engine, part: str, revision: str = "head") -> None:
    config = Config()
    config.set_main_option("script_location", str(RELEASE_0_1 / part))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def fill_like_release_0_1(engine: Engine) -> None:
    """Rows as release 0.1's analyzer, spec import and ``keys create`` wrote them."""
    from inventory_api.security import hash_key

    svc = "(SELECT id FROM services WHERE host = 'shop.example')"
    ep = "(SELECT id FROM endpoints WHERE path_template = '/orders/{orderId}')"
    rows = [
        "INSERT INTO services (host, hits, first_seen, last_seen, owner) VALUES ('shop.example', 5, :t, :t, 'team-a')",
        ("INSERT INTO endpoints (service_id, method, path_template, template_id, hits, first_seen, last_seen,"
         " authenticated_hits, unauthenticated_hits, unauthenticated_2xx, request_bodies, response_bodies,"
         f" spec_verdict, review_state) VALUES ({svc}, 'GET', '/orders/{{orderId}}', 'abc', 5, :t, :t, 5, 0, 0,"
         " 0, 5, 'documented', 'reviewed')"),
        f"INSERT INTO endpoint_status (endpoint_id, status, count) VALUES ({ep}, 200, 5)",
        ("INSERT INTO pii_findings (endpoint_id, type, location, field, count, sample, first_seen, last_seen)"
         f" VALUES ({ep}, 'EMAIL_ADDRESS', 'response', 'email', 5, 'j***@e***.org', :t, :t)"),
        "INSERT INTO seen_exchanges (uid, seen_at) VALUES ('old-1', :t)",
        "INSERT INTO api_specs (name, version) VALUES ('Shop', '1')",
        ("INSERT INTO spec_operations (spec_id, host, method, path_template, deprecated, endpoint_id, verdict)"
         f" VALUES ((SELECT id FROM api_specs), 'shop.example', 'GET', '/orders/{{orderId}}', false, {ep},"
         " 'observed')"),
        ("INSERT INTO endpoint_verdicts (endpoint_id, documented, shadow, zombie, spec_operation_id)"
         f" VALUES ({ep}, true, false, false, (SELECT id FROM spec_operations))"),
        f"INSERT INTO api_keys (name, role, prefix, key_hash) VALUES ('ops', 'admin', 'apc_re', '{hash_key(KEY)}')",
    ]
    with engine.begin() as conn:
        for sql in rows:
            conn.execute(text(sql), {"t": T0})


def check_upgraded(engine: Engine) -> None:
    from inventory_api import crud as api_crud

    run_migrations(engine)
    assert current_revision(engine) == SCHEMA_REVISION
    tables = set(inspect(engine).get_table_names())
    assert "inventory_api_alembic_version" not in tables
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_object": include_in_schema_comparison})
        assert compare_metadata(context, Base.metadata) == []
    with make_session_factory(engine)() as session:
        key = api_crud.get_api_key_by_secret(session=session, secret=KEY)
        assert key is not None and key.role == "admin"
    with session_scope(engine) as session:
        doc = crud.export_inventory(session=session)
    (endpoint,) = doc["endpoints"]
    assert (endpoint["host"], endpoint["path_template"], endpoint["hits"]) == ("shop.example", "/orders/{orderId}", 5)
    assert endpoint["review_state"] == "reviewed" and endpoint["spec_verdict"] == "documented"
    assert endpoint["pii"][0]["sample"] == "j***@e***.org"
    assert doc["services"][0]["owner"] == "team-a"
    with engine.connect() as conn:
        assert conn.execute(text("SELECT documented FROM endpoint_verdicts")).scalar()
    # The upgraded inventory goes on counting: the analyzer adds to the stored endpoint.
    from analyzer.db.settings import AnalyzerSettings
    from analyzer.pipeline import Analyzer

    analyzer = Analyzer(engine, AnalyzerSettings(database_url="unused", pii_enabled=False))
    try:
        analyzer.feed([make_exchange(host="shop.example", target=f"/orders/{n}", uid=f"new-{n}") for n in (7, 8)])
        analyzer.flush()
    finally:
        analyzer.close()
    with session_scope(engine) as session:
        hits = {e["path_template"]: e["hits"] for e in crud.export_inventory(session=session)["endpoints"]}
    assert hits == {"/orders/{orderId}": 7}


@pytest.fixture
def fresh_pg(pg_url: str) -> Iterator[Callable[[], Engine]]:
    admin = make_url(pg_url)
    made: list[tuple[str, Engine]] = []

    def connect() -> psycopg2.extensions.connection:
        conn = psycopg2.connect(host=admin.host, port=admin.port or 5432, user=admin.username, dbname="postgres")
        conn.autocommit = True
        return conn

    def make() -> Engine:
        name = f"upgrade_{uuid.uuid4().hex[:10]}"
        conn = connect()
        conn.cursor().execute(f'CREATE DATABASE "{name}"')
        conn.close()
        engine = make_engine(admin.set(database=name))
        made.append((name, engine))
        return engine

    yield make
    for name, engine in made:
        engine.dispose()
        conn = connect()
        conn.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.close()


def test_a_release_0_1_postgresql_database_upgrades(fresh_pg: Callable[[], Engine]) -> None:
    engine = fresh_pg()
    old_chain(engine, "analyzer")
    old_chain(engine, "inventory_api")
    fill_like_release_0_1(engine)
    check_upgraded(engine)


def test_a_release_0_1_sqlite_database_upgrades(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/apicensus.db")
    try:
        old_chain(engine, "analyzer")
        old_chain(engine, "inventory_api")
        fill_like_release_0_1(engine)
        check_upgraded(engine)
    finally:
        engine.dispose()


def test_a_database_whose_second_chain_stopped_half_way_upgrades(fresh_pg: Callable[[], Engine]) -> None:
    """api0001 only (keys, no verdict table or indexes yet): 0004 makes the rest."""
    engine = fresh_pg()
    old_chain(engine, "analyzer")
    old_chain(engine, "inventory_api", "api0001")
    assert "endpoint_verdicts" not in inspect(engine).get_table_names()
    check_upgraded_schema_only(engine)


def test_a_database_of_the_analyzer_chain_alone_upgrades(tmp_path: Path) -> None:
    """An inventory written by 0.1's ``apicensus analyze`` only (never served): no second chain."""
    engine = make_engine(f"sqlite:///{tmp_path}/analyze-only.db")
    try:
        old_chain(engine, "analyzer")
        check_upgraded_schema_only(engine)
    finally:
        engine.dispose()


def check_upgraded_schema_only(engine: Engine) -> None:
    run_migrations(engine)
    assert current_revision(engine) == SCHEMA_REVISION
    tables = set(inspect(engine).get_table_names())
    assert {"api_keys", "endpoint_verdicts"} <= tables and "inventory_api_alembic_version" not in tables
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_object": include_in_schema_comparison})
        assert compare_metadata(context, Base.metadata) == []
