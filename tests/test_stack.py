"""The local-process stack (tests/stack.py) that end-to-end and fault tests build on.

What it promises is checked here with what the CLI offers today (NATS up/down/restart with
JetStream state kept, a fresh database per stack, an own PostgreSQL cluster that can be stopped
and crashed, serve + /health, log tails in every failure, cleanup after failures). The end-to-end
test through ``apicensus analyzer`` and ``sensor --ship`` skips until those commands exist.
"""

from __future__ import annotations

import asyncio
import importlib.util
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.stack import (
    APICENSUS,
    PG_ADMIN_URL,
    REPO_ROOT,
    LocalStack,
    StackError,
    cli_flags,
    cli_supports,
    free_port,
    http_get,
    missing_for_nats,
    missing_for_own_postgres,
    port_open,
)

pytestmark = pytest.mark.skipif(missing_for_nats() is not None, reason=f"{missing_for_nats()}")
needs_own_postgres = pytest.mark.skipif(
    missing_for_own_postgres() is not None, reason=f"own PostgreSQL cluster: {missing_for_own_postgres()}"
)


def database_exists(name: str) -> bool:
    import psycopg2
    from sqlalchemy.engine import make_url

    url = make_url(PG_ADMIN_URL)
    conn = psycopg2.connect(
        host=url.host, port=url.port or 5432, user=url.username, password=url.password, dbname=url.database
    )
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            return cur.fetchone() is not None
    finally:
        conn.close()


def scalar(db_url: str, sql: str) -> Any:
    from sqlalchemy import text

    from analyzer.db.session import make_engine

    # A new engine each time: a pooled connection would not survive the restarts under test.
    engine = make_engine(db_url)
    try:
        with engine.begin() as conn:
            return conn.execute(text(sql)).scalar()
    finally:
        engine.dispose()


def test_cli_flags_follow_argparse_spelling() -> None:
    assert cli_flags(idle_exit=5, no_pii=True, durable=None, redact_bodies=False, keep_headers=["a", "b"]) == [
        "--idle-exit", "5", "--no-pii", "--keep-headers", "a,b",
    ]  # fmt: skip


def test_cli_probe_reads_the_real_parser() -> None:
    assert cli_supports("serve", "--bind")
    assert cli_supports("keys")
    assert not cli_supports("no-such-command")
    assert not cli_supports("serve", "--no-such-option")


async def _publish(url: str, count: int) -> None:
    import nats

    nc = await nats.connect(url, connect_timeout=2, max_reconnect_attempts=0)
    try:
        js = nc.jetstream()
        await js.add_stream(name="stacktest", subjects=["stacktest.>"])
        for i in range(count):
            await js.publish("stacktest.x", str(i).encode())
    finally:
        await nc.close()


async def _stored(url: str) -> int:
    import nats

    nc = await nats.connect(url, connect_timeout=2, max_reconnect_attempts=0)
    try:
        return int((await nc.jetstream().stream_info("stacktest")).state.messages)
    finally:
        await nc.close()


def test_nats_stop_kill_restart_keeps_jetstream_state() -> None:
    with LocalStack(service=False, sensor_key=False) as stack:
        assert stack.nats_port != 4222  # never the machine's NATS
        asyncio.run(_publish(stack.nats_url, 3))

        stack.stop_nats()
        assert not port_open(stack.nats_port)
        stack.start_nats()
        assert asyncio.run(_stored(stack.nats_url)) == 3

        # SIGKILL: nothing flushed by a shutdown handler, and the stream is still all there.
        first_pid = stack.procs["nats"].pid
        stack.restart_nats(kill=True)
        assert stack.procs["nats"].pid != first_pid
        assert stack.procs["nats"].poll() is None
        assert asyncio.run(_stored(stack.nats_url)) == 3


def test_a_nats_port_taken_before_the_first_start_is_picked_again(monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    import tests.stack as stack_module

    taken = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    taken.bind(("127.0.0.1", 0))
    taken.listen()  # another test got there between free_port() and nats-server's bind
    busy = taken.getsockname()[1]
    picks = iter([busy])
    real = stack_module.free_port
    monkeypatch.setattr(stack_module, "free_port", lambda: next(picks, None) or real())
    try:
        with LocalStack(service=False, sensor_key=False) as stack:
            assert stack.nats_port != busy
            asyncio.run(_publish(stack.nats_url, 1))
            assert b"address already in use" in (stack.logs / "nats.log").read_bytes()
    finally:
        taken.close()


def test_fresh_database_on_the_shared_server_dropped_on_exit() -> None:
    with LocalStack(nats=False, service=False) as stack:
        assert re.fullmatch(r"apicensus_stack_[0-9a-f]{12}", stack.db_name)
        assert scalar(stack.db_url, "SELECT current_database()") == stack.db_name
        assert stack.env["APICENSUS_DATABASE_URL"] == stack.db_url
        # keys create (or migrate) prepared the schema: the key is stored, hashed.
        assert stack.sensor_key and stack.env["APICENSUS_SENSOR_KEY"] == stack.sensor_key
        assert scalar(stack.db_url, "SELECT count(*) FROM api_keys") == 1
        with pytest.raises(StackError, match="own_postgres=True"):
            stack.restart_postgres()
        name = stack.db_name
    assert not database_exists(name)


@needs_own_postgres
def test_own_cluster_restart_and_crash_keep_committed_data() -> None:
    with LocalStack(own_postgres=True, service=False, sensor_key=False) as stack:
        assert stack.pg_port != 5432
        assert f":{stack.pg_port}/" in stack.db_url
        scalar(stack.db_url, "CREATE TABLE probe (x int); INSERT INTO probe VALUES (1); SELECT 1")

        stack.restart_postgres()
        assert scalar(stack.db_url, "SELECT count(*) FROM probe") == 1

        scalar(stack.db_url, "INSERT INTO probe VALUES (2); SELECT 1")
        stack.kill_postgres()  # immediate: a crash, recovered at the next start
        assert not port_open(stack.pg_port)
        stack.start_postgres()
        assert scalar(stack.db_url, "SELECT count(*) FROM probe") == 2
        data, port = stack.pg_data, stack.pg_port
    assert not data.exists()
    assert not port_open(port)


def test_service_health_keys_and_restart() -> None:
    with LocalStack(nats=False) as stack:
        assert stack.wait_for_health() == {"status": "ok", "database": "ok"}
        status, page = stack.api_get("/api/v1/endpoints")
        assert status == 200 and page["items"] == []
        status, _ = stack.api_get("/api/v1/endpoints", key="apc_not_a_key")
        assert status == 401

        stack.kill_service()
        assert not port_open(stack.api_port)
        stack.start_service()
        assert stack.wait_for_health()["status"] == "ok"


@needs_own_postgres
def test_service_reports_a_database_outage_and_recovers() -> None:
    with LocalStack(own_postgres=True, nats=False) as stack:
        stack.stop_postgres()
        status, body = http_get(f"{stack.api_url}/health", timeout=10)
        assert status == 503, body
        stack.start_postgres()
        assert stack.wait_for_health(timeout=20)["database"] == "ok"


def test_errors_carry_the_log_tails() -> None:
    with LocalStack(nats=False, service=False, sensor_key=False) as stack:
        proc = stack.start_process(
            "boom", [sys.executable, "-c", "print('boom-marker'); raise SystemExit(3)"]
        )
        with pytest.raises(StackError) as died:
            stack.wait_for_port(free_port(), proc=proc, timeout=10)
        assert "exited with status 3" in str(died.value)
        assert "== boom.log ==" in str(died.value) and "boom-marker" in str(died.value)

        with pytest.raises(StackError, match=r"timed out after 0 s waiting for nothing"):
            stack.wait_until(lambda: False, timeout=0.2, what="nothing")

        with pytest.raises(StackError) as failed:
            stack.apicensus("keys", "create", "--role", "nobody")
        assert "apicensus-keys.log" in str(failed.value) and "invalid choice" in str(failed.value)


def test_everything_stopped_and_removed_after_a_failing_test() -> None:
    with pytest.raises(RuntimeError) as failure, LocalStack() as stack:
        procs = list(stack.procs.values())
        tmp, name = stack.tmp, stack.db_name
        ports = [stack.nats_port, stack.api_port]
        raise RuntimeError("the test failed")
    # The failure carries the processes' side of the story...
    assert any("== serve.log ==" in note for note in getattr(failure.value, "__notes__", []))
    # ...and nothing is left behind.
    assert all(proc.poll() is not None for proc in procs)
    assert not any(port_open(port) for port in ports)
    assert not tmp.exists()
    assert not database_exists(name)


def test_a_failed_start_cleans_up_what_it_started(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(self: LocalStack, **_: Any) -> None:
        self.fail("service would not start")

    monkeypatch.setattr(LocalStack, "start_service", broken)
    stack = LocalStack()
    with pytest.raises(StackError, match="service would not start"):
        stack.start()
    assert stack.procs["nats"].poll() is not None
    assert not stack.tmp.exists()
    assert not database_exists(stack.db_name)


def test_up_command_prints_urls_and_cleans_up_on_interrupt() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.stack", "up", "--analyzers", "0"],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 60
        assert proc.stdout is not None
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if line.strip().startswith("logs"):
                break
        text = "".join(lines)
        api = re.search(r"^  inventory\s+(http://127\.0\.0\.1:\d+)", text, re.M)
        logs = re.search(r"^  logs\s+(\S+)", text, re.M)
        if not (api and logs):
            proc.kill()
            pytest.fail(f"no URLs printed:\n{text}\n{proc.communicate(timeout=10)[1]}")
        assert http_get(api.group(1) + "/health")[0] == 200
        tmp = Path(logs.group(1)).parent
        assert tmp.is_dir()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 0
        assert not tmp.exists()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# --- end to end through NATS: skips until the lead's commands land ------------------------------

SAMPLE = REPO_ROOT / "sample_pcaps" / "keepalive-api.pcap"


def _inventory(stack: LocalStack, db: str) -> list[tuple[Any, ...]]:
    import json

    out = stack.apicensus("export", "--format", "json", "--db", db).stdout
    return sorted(
        (e["host"], e["method"], e["path_template"], e["hits"], sorted(e["status_codes"].items()))
        for e in json.loads(out)["endpoints"]
    )


@pytest.fixture
def batch_inventory(tmp_path: Path) -> str:
    """The reference: the same capture through the batch ``apicensus analyze`` (SQLite)."""
    db = f"sqlite:///{tmp_path / 'batch.db'}"
    subprocess.run(
        [*APICENSUS, "analyze", str(SAMPLE), "--db", db, "--no-pii", "--no-progress"],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return db


def _wait_for_same_inventory(stack: LocalStack, batch_db: str) -> None:
    expected = _inventory(stack, batch_db)
    assert expected
    hits = sum(e[3] for e in expected)

    def api_hits() -> bool:
        # Polled through the running service (milliseconds), not a CLI export per poll (~1 s).
        status, page = stack.api_get("/api/v1/endpoints?limit=100")
        return status == 200 and sum(e["hits"] for e in page["items"]) >= hits

    stack.wait_until(api_hits, timeout=60, what=f"{hits} hits in the shipped inventory", interval=0.2)
    assert _inventory(stack, stack.db_url) == expected


@pytest.mark.skipif(
    not (cli_supports("analyzer") and cli_supports("sensor", "--ship")),
    reason="waiting for `apicensus analyzer` and `apicensus sensor --ship` (issue 5)",
)
def test_sensor_to_nats_to_two_analyzers_equals_batch_analyze(batch_inventory: str) -> None:
    with LocalStack() as stack:
        # Two workers on the stream, as in docker-compose's analyzer replicas: no double counting.
        stack.start_analyzer(no_pii=True)
        stack.start_analyzer(no_pii=True)
        stack.run_sensor("--pcap", str(SAMPLE))
        _wait_for_same_inventory(stack, batch_inventory)
        assert all(proc.poll() is None for proc in stack.analyzers), "an analyzer died"


@pytest.mark.skipif(
    not (cli_supports("sensor", "--ship") and importlib.util.find_spec("inventory_api.routers.ingest")),
    reason="waiting for `apicensus sensor --ship` and POST /api/v1/ingest (issue 5)",
)
def test_sensor_to_http_ingest_with_the_stack_sensor_key_equals_batch_analyze(batch_inventory: str) -> None:
    with LocalStack(nats=False) as stack:
        # The key reaches the sensor through APICENSUS_SENSOR_KEY in stack.env, as in compose.
        stack.run_sensor("--pcap", str(SAMPLE), ship="http")
        _wait_for_same_inventory(stack, batch_inventory)
