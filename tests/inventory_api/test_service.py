"""The service itself: app factory, /health, `apicensus serve`, `apicensus keys`, settings."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import httpx
import pytest
from sqlalchemy import Engine, inspect, select

from tests.inventory_api.conftest import REPO, TestClient, auth, cli


def test_health_needs_no_key(client: TestClient) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


def test_nothing_else_is_served_without_a_key(client: TestClient) -> None:
    for path in ("/api/v1/services", "/api/v1/endpoints", "/api/v1/endpoints/1", "/api/v1/openapi.json"):
        assert client.get(path).status_code == 401, path
    # No interactive docs or schema outside the authenticated prefix.
    for path in ("/docs", "/redoc", "/openapi.json"):
        assert client.get(path).status_code == 404, path


def test_openapi_schema_behind_a_key(client: TestClient, keys: dict[str, str]) -> None:
    response = client.get("/api/v1/openapi.json", headers=auth(keys["viewer"]))
    assert response.status_code == 200
    assert "/api/v1/endpoints/{endpoint_id}" in response.json()["paths"]


def test_schema_prepared_by_the_one_chain(engine: Engine) -> None:
    from analyzer.db.models import SCHEMA_REVISION
    from analyzer.db.session import current_revision, run_migrations

    run_migrations(engine)  # idempotent
    assert current_revision(engine) == SCHEMA_REVISION
    tables = set(inspect(engine).get_table_names())
    assert {"api_keys", "endpoint_verdicts"} <= tables
    assert "inventory_api_alembic_version" not in tables  # release 0.1's second chain is gone


def test_api_tables_match_models(engine: Engine) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from analyzer.db.models import Base, include_in_schema_comparison

    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_object": include_in_schema_comparison})
        assert compare_metadata(context, Base.metadata) == []


def test_keys_create_prints_the_key_alone_and_stores_only_its_hash(
    pg_url: str, engine: Engine, client: TestClient
) -> None:
    from analyzer.db.models import ApiKey
    from analyzer.db.session import make_session_factory
    from inventory_api.security import hash_key

    code, out = cli("keys", "create", "--role", "analyst", "--db", pg_url)
    assert code == 0
    key = out.strip()
    assert out == key + "\n" and key.startswith("apc_") and len(key) >= 40
    with make_session_factory(engine)() as session:
        row = session.scalars(select(ApiKey).where(ApiKey.key_hash == hash_key(key))).one()
        stored = [str(v) for v in (row.name, row.prefix, row.key_hash)]
    assert row.role == "analyst" and key not in stored
    assert client.get("/api/v1/services", headers={"X-API-Key": key}).status_code == 200
    # Another key each time.
    assert cli("keys", "create", "--role", "analyst", "--db", pg_url)[1].strip() != key


def test_keys_revoke_and_list(pg_url: str, client: TestClient) -> None:
    key = cli("keys", "create", "--role", "viewer", "--name", "to-revoke", "--db", pg_url)[1].strip()
    assert client.get("/api/v1/services", headers=auth(key)).status_code == 200
    code, listing = cli("keys", "list", "--db", pg_url)
    line = next(line for line in listing.splitlines() if line.endswith("to-revoke"))
    assert key not in listing and "\tactive\t" in line
    assert cli("keys", "revoke", line.split("\t")[0], "--db", pg_url)[0] == 0
    assert client.get("/api/v1/services", headers=auth(key)).status_code == 401
    assert cli("keys", "revoke", "999999", "--db", pg_url)[0] == 1


def test_keys_create_rejects_an_unknown_role(pg_url: str) -> None:
    with pytest.raises(SystemExit) as exc:
        cli("keys", "create", "--role", "root", "--db", pg_url)
    assert exc.value.code == 2


def test_serve_with_a_bad_bind_exits_2(pg_url: str) -> None:
    assert cli("serve", "--db", pg_url, "--bind", "nope")[0] == 2


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_apicensus_serve_runs_uvicorn(pg_url: str, keys: dict[str, str]) -> None:
    port = _free_port()
    env = {**os.environ, "APICENSUS_DATABASE_URL": pg_url}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "apicensus_cli",
            "serve",
            "--bind",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.1)
        assert response.json()["status"] == "ok"
        base = f"http://127.0.0.1:{port}/api/v1/services"
        assert httpx.get(base, timeout=5).status_code == 401
        assert httpx.get(base, headers=auth(keys["viewer"]), timeout=5).status_code == 200
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_cursors_hold_the_longest_path_templates() -> None:
    from inventory_api.pagination import MAX_CURSOR_CHARS, SortSpec, decode_cursor, encode_cursor

    sort = SortSpec("path", descending=True)
    value = "/" + "\U0001f600é/" * 333
    cursor = encode_cursor(sort, value, 7)
    assert len(cursor) <= MAX_CURSOR_CHARS
    assert decode_cursor(cursor, sort, "str") == (value, 7)


def test_commands_report_an_unusable_database(capsys: pytest.CaptureFixture[str]) -> None:
    bad = "postgresql+psycopg2://postgres@127.0.0.1:1/nowhere?connect_timeout=2"
    assert cli("keys", "create", "--role", "admin", "--db", bad) == (2, "")
    assert "apicensus keys create: cannot use database" in capsys.readouterr().err
    assert cli("serve", "--db", "nosuchdriver://x") == (2, "")
    assert "apicensus serve: invalid database URL" in capsys.readouterr().err
