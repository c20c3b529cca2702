"""Wiring on a real inventory database (SQLite file and PostgreSQL): integrations stored with
secrets apart, publish() of change rows and findings exactly once, threat events, and the lease
that lets one delivery worker run across processes."""

from __future__ import annotations

import contextlib
import io
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select, text

from analyzer.alerts.outbox_sql import OUTBOX
from analyzer.alerts.wiring import (
    DeliveryService,
    create_integration,
    list_integrations,
    publish,
    release_lease,
    submit_threat_events,
    take_lease,
)
from analyzer.db.models import ChangeEvent, Integration
from analyzer.db.session import make_engine, make_session_factory, run_migrations
from tests.analyzer.alerts.conftest import THREAT
from tests.conftest import make_exchange

HOOK = {"id": "hook", "kind": "webhook", "url": "http://127.0.0.1:9/h", "secret": "s" * 20, "flood_limit": 10_000}


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Engine]]:
    url = f"sqlite:///{tmp_path / 'w.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    engine = make_engine(url)
    run_migrations(engine)
    if request.param == "postgresql":
        from sqlalchemy import inspect

        tables = [t for t in inspect(engine).get_table_names() if t != "alembic_version"]
        with engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
    yield url, engine
    engine.dispose()


def cli(*argv: str) -> str:
    from apicensus_cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(list(argv)) == 0
    return out.getvalue()


def this_run(summary: str, row: str) -> int:
    line = next(line for line in summary.splitlines() if line.startswith(row))
    return int(line[len(row):].split()[0].replace(",", ""))


def outbox_rows(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(OUTBOX)) or 0)


def test_integrations_publish_and_threat_events(db: tuple[str, Engine], tmp_path: Path) -> None:
    url, engine = db
    factory = make_session_factory(engine)
    with factory() as session:
        create_integration(session, HOOK)
        session.commit()
        row = session.get(Integration, "hook")
        assert row is not None and "secret" not in row.config and row.secrets == {"secret": "s" * 20}
        (dest,) = list_integrations(session)
        assert dest.secret == "s" * 20 and "s" * 20 not in json.dumps(dest.public())

    body = json.dumps({"email": "jane.doe@example.org"})
    path = tmp_path / "t.jsonl"
    path.write_text("".join(json.dumps(make_exchange(target=f"/v1/users/{i}", response_body=body, ts=1.7e9 + i)) + "\n"
                            for i in range(3)))
    first = cli("analyze", str(path), "--db", url, "--no-progress")
    assert this_run(first, "new services") == 1 and this_run(first, "new endpoints") == 1
    assert this_run(first, "new PII types") >= 1 and this_run(first, "new findings") >= 1
    queued = outbox_rows(engine)
    with engine.connect() as conn:
        changes = conn.scalar(select(func.count()).select_from(ChangeEvent))
        undispatched = conn.scalar(select(func.count()).select_from(ChangeEvent).where(ChangeEvent.dispatched_at.is_(None)))
    assert undispatched == 0 and queued == int(changes or 0) + this_run(first, "new findings")
    # Nothing new: nothing more queued, however often it runs.
    again = cli("analyze", str(path), "--db", url, "--no-progress")
    assert this_run(again, "new endpoints") == 0 and this_run(again, "new findings") == 0
    assert publish(engine) == {"changes": 0, "findings": 0, "threats": 0, "queued": 0, "silenced": 0}
    assert outbox_rows(engine) == queued

    assert submit_threat_events([THREAT], engine=engine) == 1
    assert submit_threat_events([THREAT], engine=engine) == 0  # folded into the pending one
    assert outbox_rows(engine) == queued + 1


def test_one_lease_holder_at_a_time(db: tuple[str, Engine]) -> None:
    _url, engine = db
    assert take_lease(engine, "a", seconds=1.0)
    assert not take_lease(engine, "b", seconds=1.0)
    assert take_lease(engine, "a", seconds=1.0)  # renewal
    time.sleep(1.2)
    assert take_lease(engine, "b", seconds=5.0)  # lapsed: taken over
    release_lease(engine, "a")  # not the holder: nothing happens
    assert not take_lease(engine, "a", seconds=1.0)
    release_lease(engine, "b")
    assert take_lease(engine, "a", seconds=1.0)
    release_lease(engine, "a")

    services: list[Any] = [DeliveryService(engine, lease_seconds=1.0, publish_seconds=60) for _ in range(2)]
    for service in services:
        service.start()
    try:
        deadline = time.monotonic() + 10
        while not any(s.active for s in services):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        time.sleep(1.0)
        assert sum(s.active for s in services) == 1
        holder = next(s for s in services if s.active)
        holder.stop()  # clean stop: lease released, the other takes over
        other = next(s for s in services if s is not holder)
        deadline = time.monotonic() + 10
        while not other.active:
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        for service in services:
            service.stop()


def _stored_event(n: int) -> Any:
    from datetime import UTC, datetime

    from analyzer.db.models import ThreatEvent

    at = datetime(2026, 12, 3, 7, n, tzinfo=UTC)
    return ThreatEvent(
        event_id=f"ev{n:030d}", type="injection", subtype="sqli", severity="high", title="SQL injection",
        actor_key=f"ip:198.51.100.{n}", actor_ip=f"198.51.100.{n}", actor_identity=None,
        host="shop.example.com", method="GET", path_template="/items/{id}", window_start=at,
        window_seconds=3600.0, first_seen=at, last_seen=at, count=1, evidence={"where": "query"},
    )


def test_publish_hands_new_threat_events_on_once(db: tuple[str, Engine]) -> None:
    """Stored detection events reach the outbox through publish() (the worker's pass), each new
    event once: the cursor moves past them; an event updated in place is not re-announced."""
    _, engine = db
    factory = make_session_factory(engine)
    with factory() as session:
        create_integration(session, HOOK)
        session.add_all([_stored_event(1), _stored_event(2)])
        session.commit()
    before = outbox_rows(engine)
    first = publish(engine, findings=False)
    assert first["threats"] == 2 and first["queued"] >= 2
    assert outbox_rows(engine) >= before + 2
    again = publish(engine, findings=False)
    assert again["threats"] == 0 and again["queued"] == 0
    with factory() as session:
        from analyzer.db.models import ThreatEvent

        row = session.scalars(select(ThreatEvent).limit(1)).one()
        row.count += 5  # the same grouped event going on: not a new alert
        session.add(_stored_event(3))
        session.commit()
    third = publish(engine, findings=False)
    assert third["threats"] == 1


def test_suppression_rules_keep_threat_events_from_alerting(db: tuple[str, Engine]) -> None:
    """A live rule naming an event type on a service silences that type's events there (still
    handed on: lifting the rule does not replay them); other services and expired rules alert."""
    from datetime import UTC, datetime, timedelta

    from analyzer.db.models import Service, SuppressionRule
    from analyzer.detect.model import EVENT_TYPES
    from analyzer.inventory.workflow import add_suppression

    _, engine = db
    factory = make_session_factory(engine)
    now = datetime.now(UTC)
    with factory() as session:
        create_integration(session, HOOK)
        shop = Service(host="shop.example.com", first_seen=now, last_seen=now)
        other = Service(host="other.example.com", first_seen=now, last_seen=now)
        session.add_all([shop, other])
        session.flush()
        add_suppression(session=session, kind="injection", kinds=EVENT_TYPES, endpoint_id=None, service_id=shop.id,
                        reason="pen test this week", expires_at=now + timedelta(days=1), by_key=None)
        session.add(SuppressionRule(kind="injection", endpoint_id=None, service_id=other.id, reason="over",
                                    expires_at=now - timedelta(seconds=1), created_at=now - timedelta(days=1)))
        loud = _stored_event(2)
        loud.host = "other.example.com"
        session.add_all([_stored_event(1), loud])
        session.commit()
    before = outbox_rows(engine)
    counts = publish(engine, findings=False)
    assert counts["threats"] == 2 and counts["silenced"] == 1
    assert outbox_rows(engine) == before + counts["queued"] and counts["queued"] >= 1
    assert publish(engine, findings=False)["threats"] == 0  # the silenced one is handed on, not retried
