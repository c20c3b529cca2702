"""Detection wired into the analyzer: a generated capture with a BOLA walk and SQL injection,
through the real ``apicensus analyze`` into SQLite and PostgreSQL, out through
``apicensus export --format events``; state carried between runs and between writers."""

from __future__ import annotations

import contextlib
import io
import json
import random
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from analyzer.db.models import DataFlow, DetectorState, ThreatActor, ThreatEvent
from analyzer.db.session import make_engine, run_migrations, session_scope
from tests.analyzer.detect import capture
from tests.analyzer.detect.capture import ATTACKER_IP, INJECTOR_IP, PLANTED_EMAIL_DOMAIN, USERS


def cli(*argv: str) -> tuple[int, str]:
    from apicensus_cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(list(argv))
    return code, out.getvalue()


@pytest.fixture(scope="module")
def pcap(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return capture.write_capture(tmp_path_factory.mktemp("wiring") / "shop.pcap")


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'inv.db'}"
        return
    pg_url = request.getfixturevalue("pg_url")
    engine = make_engine(pg_url)
    run_migrations(engine)
    from analyzer.db.models import Base

    with engine.begin() as conn:  # the module's database, emptied for this test
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())
    engine.dispose()
    yield pg_url


def _events(url: str) -> list[dict[str, Any]]:
    code, out = cli("export", "--format", "events", "--db", url)
    assert code == 0
    return [json.loads(line) for line in out.splitlines()]


def _table_text(url: str) -> str:
    """Everything detection stored, as text (the state blob decompressed)."""
    engine = make_engine(url)
    try:
        with session_scope(engine) as session:
            parts: list[str] = []
            for model in (ThreatEvent, ThreatActor, DataFlow):
                for row in session.execute(select(*model.__table__.c)).all():
                    parts.append(repr(tuple(row)))
            for blob in session.scalars(select(DetectorState.state)):
                parts.append(zlib.decompress(blob).decode("utf-8", "replace"))
    finally:
        engine.dispose()
    return "\n".join(parts)


def test_analyze_finds_the_bola_walk_and_the_injection_and_exports_them(pcap: Path, db_url: str) -> None:
    # PII detection on: the data flows and the BOLA's severity need it.
    code, summary = cli("analyze", str(pcap), "--db", db_url, "--no-progress")
    assert code == 0, summary
    assert "threat events" in summary
    events = _events(db_url)
    keys = {"id", "type", "subtype", "severity", "actor", "host", "method", "path_template", "first_seen",
            "last_seen", "count", "evidence"}
    assert all(keys <= set(e) for e in events)
    by_type = {(e["type"], e["actor"]["ip"]): e for e in events}
    bola = by_type[("bola", ATTACKER_IP)]
    assert bola["actor"]["identity"].startswith("jwt:") and "mallory" not in bola["actor"]["identity"]
    assert bola["path_template"] == "/api/orders/{orderId}" and bola["method"] == "GET"
    assert bola["evidence"]["foreign_objects"] >= 3
    assert "EMAIL_ADDRESS" in bola["evidence"]["pii_types"] and bola["severity"] == "critical"
    injection = by_type[("injection", INJECTOR_IP)]
    assert injection["subtype"] == "sqli" and injection["count"] == 2 and injection["actor"]["identity"] is None
    # The benign users (their own orders, searches for books) raise nothing.
    assert not [e for e in events if e["actor"]["ip"] and e["actor"]["ip"].startswith("10.1.0.")]
    engine = make_engine(db_url)
    try:
        with session_scope(engine) as session:
            actors = {a.ip: a for a in session.scalars(select(ThreatActor))}
            flows = session.scalars(select(DataFlow).where(DataFlow.actor_ip == ATTACKER_IP)).all()
            state = session.get(DetectorState, 1)
            assert state is not None and state.secret and len(state.secret) == 32 and state.generation >= 1
    finally:
        engine.dispose()
    assert actors[ATTACKER_IP].risk > 0 and actors["10.1.0.10"].risk == 0
    assert actors[ATTACKER_IP].pii_types == {"EMAIL_ADDRESS": len(USERS)}
    assert {(f.path_template, f.pii_type, f.records) for f in flows} == {
        ("/api/orders/{orderId}", "EMAIL_ADDRESS", len(USERS))
    }
    # --since: only events last seen at or after it.
    latest = max(e["last_seen"] for e in events)
    code, out = cli("export", "--format", "events", "--db", db_url, "--since", str(latest))
    assert code == 0 and [json.loads(x)["id"] for x in out.splitlines()] == [
        e["id"] for e in events if e["last_seen"] >= latest
    ]
    # Re-analysing the same capture changes nothing (uids already counted).
    assert cli("analyze", str(pcap), "--db", db_url, "--no-progress")[0] == 0
    assert _events(db_url) == events
    # Nothing raw: not the attacker's token, its claims, the user names, nor the e-mail addresses.
    stored = _table_text(db_url)
    token = capture.attacker_token()
    for raw in (token, token.split(".")[1], "mallory", "alice", f"@{PLANTED_EMAIL_DOMAIN}"):
        assert raw not in stored, raw
    # The injection's evidence is a short excerpt of the payload, not the request.
    assert 0 < len(injection["evidence"]["snippet"]) <= 40


def test_no_detect_skips_detection(pcap: Path, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'off.db'}"
    code, summary = cli("analyze", str(pcap), "--db", url, "--no-progress", "--no-pii", "--no-detect")
    assert code == 0
    assert _events(url) == []
    engine = make_engine(url)
    try:
        with session_scope(engine) as session:
            assert session.scalar(select(func.count()).select_from(DetectorState)) == 0
            assert session.scalar(select(func.count()).select_from(ThreatActor)) == 0
    finally:
        engine.dispose()


def test_a_second_run_continues_from_the_stored_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The capture split in two runs finds what one run finds: ownership learned in the first run
    (the victims' orders) is loaded with the detector state by the second. One deployment secret
    for both databases (else each generates its own, and actor keys and event ids differ)."""
    monkeypatch.setenv("APICENSUS_DETECT_SECRET", "wiring-test-secret")
    exchanges = capture.exchanges()
    cut = next(i for i, x in enumerate(exchanges) if x.client[0] == ATTACKER_IP) + 2
    first = capture.write_capture(tmp_path / "first.pcap", only=exchanges[:cut])
    second = capture.write_capture(tmp_path / "second.pcap", only=exchanges[cut:])
    whole = capture.write_capture(tmp_path / "whole.pcap", only=exchanges)
    one, two = f"sqlite:///{tmp_path / 'one.db'}", f"sqlite:///{tmp_path / 'two.db'}"
    assert cli("analyze", str(whole), "--db", one, "--no-progress", "--no-pii")[0] == 0
    assert cli("analyze", str(first), "--db", two, "--no-progress", "--no-pii")[0] == 0
    assert not [e for e in _events(two) if e["type"] == "bola"]
    assert cli("analyze", str(second), "--db", two, "--no-progress", "--no-pii")[0] == 0
    assert _events(two) == _events(one)
    assert any(e["type"] == "bola" for e in _events(two))
    engine = make_engine(two)
    try:
        with session_scope(engine) as session:  # the secret from the environment is not stored
            assert session.scalars(select(DetectorState.secret)).all() == [None]
    finally:
        engine.dispose()


def test_a_bad_since_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    assert cli("export", "--format", "events", "--db", url, "--since", "yesterday-ish")[0] == 2
    assert "--since 'yesterday-ish' is not an ISO 8601 time" in capsys.readouterr().err
    assert cli("export", "--format", "json", "--db", url, "--since", "2026-01-01")[0] == 2


def _ingest_all(engine: Engine, batches: dict[int, list[dict[str, Any]]], writers: int, seed: int) -> None:
    from analyzer.db.settings import AnalyzerSettings
    from analyzer.ingest import SharedIngestor

    settings = AnalyzerSettings(pii_enabled=False)
    ingestors = [SharedIngestor(engine, settings) for _ in range(writers)]
    held: list[dict[int, Any]] = [{} for _ in ingestors]
    rnd = random.Random(seed)
    for seq, records in batches.items():  # each batch to a random writer, applied in stream order
        w = rnd.randrange(writers)
        held[w][seq] = ingestors[w].prepare([dict(r) for r in records])
        for k in rnd.sample(range(writers), writers):
            for done in ingestors[k].apply_in_order("s@1", held[k], first_seq=1):
                held[k].pop(done)
    while any(held):
        for k in range(writers):
            for done in ingestors[k].apply_in_order("s@1", held[k], first_seq=1):
                held[k].pop(done)
    for ingestor in ingestors:
        ingestor.close()


def test_two_writers_in_stream_order_store_the_events_one_writer_stores(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("APICENSUS_DETECT_SECRET", "wiring-test-secret")  # two databases compared
    records = capture.records()
    batches = {i // 7 + 1: records[i : i + 7] for i in range(0, len(records), 7)}
    urls = []
    for name, writers in (("one", 1), ("two", 2)):
        url = f"sqlite:///{tmp_path / name}.db"
        engine = make_engine(url)
        run_migrations(engine)
        _ingest_all(engine, batches, writers, seed=5)
        engine.dispose()
        urls.append(url)
    one, two = (_events(u) for u in urls)
    assert one == two
    assert {e["type"] for e in one} >= {"bola", "injection"}


def test_events_to_alerts_is_a_pure_mapping() -> None:
    from analyzer.alerts.model import AlertKind
    from analyzer.detect.model import ActorRef, Event
    from analyzer.pipeline.detect import events_to_alerts

    event = Event(type="bola", subtype=None, severity="critical", title="BOLA", actor=ActorRef("198.51.100.66", "jwt:m…y", "k1"),
                  host="shop.example", method="GET", path_template="/api/orders/{orderId}", window_start=1_772_438_400.0,
                  window_seconds=86_400.0, first_seen=1_772_460_100.0, last_seen=1_772_460_200.0, count=4,
                  evidence={"foreign_objects": 6})
    (alert,) = events_to_alerts([event])
    assert alert.kind == AlertKind.THREAT and alert.type == "bola" and alert.source_id == event.id
    assert alert.actor is not None and alert.actor.identity == "jwt:m…y" and alert.count == 4
    assert events_to_alerts([event])[0].uid == alert.uid  # same event, same alert: enqueuing twice is a no-op
