"""Threat detection in the forked worker (analyzer/pipeline/detect_worker.py) against detection
in the main process: the same captures analysed both ways into SQLite and PostgreSQL store the
same events, actors, data flows and engine state; a worker that dies or fails stops the run with
an error naming detection, leaves only whole batches written, and a re-run completes them."""

from __future__ import annotations

import json
import os
import signal
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, inspect, select, text

from analyzer.db import crud
from analyzer.db.locking import exclusive_inventory
from analyzer.db.models import DataFlow, DetectorState, SeenExchange, ThreatActor
from analyzer.db.session import make_engine, run_migrations, session_scope
from analyzer.db.settings import AnalyzerSettings
from analyzer.pipeline import Analyzer, read_observations
from analyzer.pipeline.detect_worker import DetectionFailed
from tests.analyzer.detect import capture

BATCH = 100  # many batches, so several are in flight at once


@pytest.fixture(scope="module")
def captures(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """The BOLA walk and the injection (tests/analyzer/detect/capture.py), then generated API
    traffic of many clients, some responses carrying PII (data flows)."""
    from devtools.synth import generate_api_traffic

    folder = tmp_path_factory.mktemp("detect-worker")
    generated = folder / "api.pcap"
    generate_api_traffic(str(generated), exchanges=1000, seed=11)
    return [str(capture.write_capture(folder / "shop.pcap")), str(generated)]


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    url = f"sqlite:///{tmp_path / 'inv.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    engine = make_engine(url)
    run_migrations(engine)
    _empty(engine)
    yield engine
    engine.dispose()


def _empty(engine: Engine) -> None:
    tables = [t for t in inspect(engine).get_table_names() if t != "alembic_version"]
    with engine.begin() as conn:
        for table in tables:
            conn.execute(text(f"DELETE FROM {table}"))


def _settings(**overrides: Any) -> AnalyzerSettings:
    values: dict[str, Any] = {"database_url": "unused", "batch_size": BATCH, "pii_workers": 1}
    values.update(overrides)
    return AnalyzerSettings(**values)


def _analyze(engine: Engine, sources: list[str], settings: AnalyzerSettings, *, worker: bool) -> Analyzer:
    """As ``analyze`` runs (the inventory held throughout), detection in the worker or here."""
    errors: list[str] = []
    with exclusive_inventory(engine):
        analyzer = Analyzer(engine, settings, on_error=errors.append, detect_worker=worker)
        try:
            assert (analyzer.detect_worker_pid is not None) == worker
            for source in sources:
                analyzer.feed(read_observations(source, on_error=errors.append))
            analyzer.flush()
        finally:
            analyzer.close()
    assert not errors
    return analyzer


def _stored(engine: Engine) -> dict[str, Any]:
    """Everything detection stored: events, actors and flows by key (row ids aside), the state."""
    with session_scope(engine) as session:
        events = sorted(
            (json.loads(json.dumps(r, default=str)) for r in crud_events(session)), key=lambda e: e["id"]
        )
        tables = {}
        for model, key in ((ThreatActor, "key"), (DataFlow, "flow_key")):
            columns = [c for c in model.__table__.c if c.name != "id"]
            rows = session.execute(select(*columns)).all()
            tables[model.__tablename__] = sorted((tuple(str(v) for v in row) for row in rows), key=lambda r: r[0])
            assert len({getattr(r, key) for r in rows}) == len(rows)
        blob = session.scalar(select(DetectorState.state))
        seen = session.scalar(select(func.count()).select_from(SeenExchange))
    return {
        "events": events,
        **tables,
        "state": json.loads(zlib.decompress(blob)) if blob else None,
        "seen": seen,
    }


def crud_events(session: Any) -> list[dict[str, Any]]:
    from analyzer.db.threats import event_json, event_rows_since

    return [event_json(row) for row in event_rows_since(session=session, since=None)]


def test_the_worker_stores_what_detection_in_process_stores(
    engine: Engine, captures: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("APICENSUS_DETECT_SECRET", "detect-worker-test")  # both runs hash alike
    # Checkpoints as often as their cost allows: states also travel with batches mid-run.
    settings = _settings(detect_checkpoint_seconds=0.0)
    stored = []
    for worker in (False, True):
        _empty(engine)
        analyzer = _analyze(engine, captures, settings, worker=worker)
        assert analyzer.stats.batches > 10
        stored.append((_stored(engine), analyzer.stats.events))
    (here, events_here), (there, events_there) = stored
    assert {e["type"] for e in here["events"]} >= {"bola", "injection"}
    assert here["actors"]
    assert here["data_flows"], "PII in the responses makes data flows"
    assert here["state"] is not None
    assert there == here
    assert events_there == events_here


def test_a_killed_worker_stops_the_run_and_leaves_whole_batches(
    engine: Engine, captures: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("APICENSUS_DETECT_SECRET", "detect-worker-test")
    settings = _settings(pii_enabled=False)
    observations = [o for source in captures for o in read_observations(source, on_error=pytest.fail)]
    started = time.monotonic()
    with exclusive_inventory(engine):
        analyzer = Analyzer(engine, settings, detect_worker=True)
        try:
            analyzer.feed(observations[: len(observations) // 2])
            pid = analyzer.detect_worker_pid
            assert pid is not None
            os.kill(pid, signal.SIGKILL)
            with pytest.raises(DetectionFailed, match="threat detection failed.*(killed by signal 9|exited)"):
                analyzer.feed(observations[len(observations) // 2 :])
                analyzer.flush()
        finally:
            analyzer.close()
    assert time.monotonic() - started < 120  # the pipe's end, not a timeout
    written = analyzer.stats.batches
    assert written >= 1
    killed = _stored(engine)
    # Only whole batches were written (each of BATCH exchanges, none seen twice): every stored
    # exchange belongs to one, and none of the batches in flight was half written.
    assert analyzer.stats.duplicates == 0
    assert killed["seen"] == written * BATCH < len(observations)
    assert sum(_endpoint_hits(engine).values()) <= killed["seen"]
    # A re-run analyses the rest, once: the inventory a clean run builds, nothing detected lost.
    rerun = _analyze(engine, captures, settings, worker=True)
    assert rerun.stats.duplicates == killed["seen"]
    after = _stored(engine)
    endpoints = _endpoint_hits(engine)
    assert {e["id"] for e in killed["events"]} <= {e["id"] for e in after["events"]}
    _empty(engine)
    _analyze(engine, captures, settings, worker=True)
    assert after["seen"] == _stored(engine)["seen"] == len(observations)
    assert endpoints == _endpoint_hits(engine)


def _endpoint_hits(engine: Engine) -> dict[tuple[str, str, str], int]:
    with session_scope(engine) as session:
        doc = crud.export_inventory(session=session)
    return {(e["host"], e["method"], e["path_template"]): e["hits"] for e in doc["endpoints"]}


def test_a_worker_that_raises_is_reported_as_a_detection_failure(engine: Engine) -> None:
    from analyzer.pipeline.detect_worker import DetectWorker

    worker = DetectWorker(engine)
    try:
        worker._send(("batch", [("not", "an", "exchange")], 0, False))  # a request it cannot unpack
        with pytest.raises(DetectionFailed, match="threat detection failed in its worker: ValueError"):
            worker.collect()
        with pytest.raises(DetectionFailed, match="threat detection failed"):
            worker.request_state()
            worker.collect()
    finally:
        worker.close()


def _children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(entry.name))
    return out


@pytest.mark.parametrize("engine", ["postgresql"], indirect=True)  # the one file-level run is enough
def test_a_killed_analyze_takes_its_worker_along_and_a_rerun_completes_it(
    engine: Engine, captures: list[str], tmp_path: Path
) -> None:
    import subprocess
    import sys

    url = engine.url.render_as_string(hide_password=False)
    env = {**os.environ, "APICENSUS_DETECT_SECRET": "detect-worker-test", "APICENSUS_PII_WORKERS": "0"}
    # PII off: the detection worker is the run's only child process.
    cmd = [sys.executable, "-m", "apicensus_cli", "analyze", *captures, "--db", url, "--no-progress", "--no-pii"]
    proc = subprocess.Popen([*cmd, "--batch-size", str(BATCH)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        seen = 0
        while not seen and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
            with session_scope(engine) as session:
                seen = session.scalar(select(func.count()).select_from(SeenExchange)) or 0
        assert proc.poll() is None, "the run ended before it could be killed"
        workers = _children(proc.pid)
        assert len(workers) == 1
        proc.kill()
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    gone = time.monotonic() + 30
    while Path(f"/proc/{workers[0]}").exists() and time.monotonic() < gone:
        time.sleep(0.1)
    assert not Path(f"/proc/{workers[0]}/stat").exists() or "Z" in (Path(f"/proc/{workers[0]}/stat").read_text().split()[2])
    assert subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, timeout=300).returncode == 0
    after = _stored(engine)
    hits = _endpoint_hits(engine)
    _empty(engine)
    assert subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, timeout=300).returncode == 0
    clean = _stored(engine)
    assert after["seen"] == clean["seen"]
    assert hits == _endpoint_hits(engine)
    assert {e["id"] for e in after["events"]} >= {e["id"] for e in clean["events"] if e["type"] == "injection"}
