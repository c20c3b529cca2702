"""Inventory API fixtures: a PostgreSQL database filled by the real analyzer, keys per role, a client."""

from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

REPO = Path(__file__).resolve().parents[2]
SAMPLE_PCAPS = sorted((REPO / "sample_pcaps").glob("*.pcap"))
ROLES = ("admin", "analyst", "viewer", "sensor")

with warnings.catch_warnings():
    # Starlette's TestClient warns that it will move to httpx2; it is still the documented way.
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


def analyze(url: str, *pcaps: Path) -> None:
    """Run the real ``apicensus analyze`` in-process (summary swallowed)."""
    from apicensus_cli import main

    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["analyze", *map(str, pcaps), "--db", url, "--no-progress"]) == 0


def cli(*argv: str) -> tuple[int, str]:
    """``apicensus ARGV`` in-process: (exit code, stdout)."""
    from apicensus_cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(list(argv))
    return code, out.getvalue()


@pytest.fixture(scope="module")
def engine(pg_url: str) -> Iterator[Engine]:
    from analyzer.db.session import make_engine, run_migrations

    eng = make_engine(pg_url)
    run_migrations(eng)
    yield eng
    eng.dispose()


@pytest.fixture(scope="module")
def keys(engine: Engine) -> dict[str, str]:
    """One live key per role, created through the real CRUD."""
    from analyzer.db.session import make_session_factory
    from inventory_api import crud
    from inventory_api.schemas import ApiKeyCreate
    from inventory_api.security import Role

    out: dict[str, str] = {}
    with make_session_factory(engine)() as session:
        for role in ROLES:
            _row, secret = crud.create_api_key(
                session=session, key_in=ApiKeyCreate(role=Role(role), name=role)
            )
            out[role] = secret
    return out


@pytest.fixture(scope="module")
def client(pg_url: str, engine: Engine) -> Iterator[TestClient]:
    from inventory_api.app import create_app
    from inventory_api.settings import ApiSettings

    with TestClient(create_app(ApiSettings(database_url=pg_url, max_page_size=100))) as test_client:
        yield test_client


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def spec_rows(engine: Engine) -> tuple[int, int]:
    """How many spec documents and spec operations the inventory holds: unchanged by a refused import."""
    from sqlalchemy import func, select

    from analyzer.db.models import ApiSpec, SpecOperation

    with engine.connect() as conn:
        return (
            conn.scalar(select(func.count()).select_from(ApiSpec)) or 0,
            conn.scalar(select(func.count()).select_from(SpecOperation)) or 0,
        )


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def serving(url: str, *args: str, env: dict[str, str] | None = None) -> Iterator[tuple[str, object]]:
    """A real ``apicensus serve`` subprocess on ``url``: (base URL, the process), terminated after."""
    import os
    import subprocess
    import sys
    import time

    import httpx

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "apicensus_cli", "serve", "--db", url, "--bind", f"127.0.0.1:{port}",
         "--log-level", "warning", *args],
        cwd=REPO, env={**os.environ, **(env or {})}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60  # spawned workers import everything: slow on a loaded machine
        while True:
            try:
                httpx.get(f"{base}/health", timeout=1)
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.1)
        yield base, proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stderr:
            proc.stderr.close()
