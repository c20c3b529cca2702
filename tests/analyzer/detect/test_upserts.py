"""Actors and data flows upserted in bulk (analyzer/db/threats.py): on PostgreSQL one
``INSERT ... SELECT unnest(arrays)`` per batch, on SQLite multi-row VALUES. A key listed twice in
one batch (an actor evicted from the engine's memory and seen again) is applied in order, and
counters merge with ``greatest``, time ranges widen, hints are replaced."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from analyzer.db import threats
from analyzer.db.models import DataFlow, ThreatActor
from analyzer.db.session import make_engine, run_migrations, session_scope
from analyzer.detect.engine import ActorSummary
from analyzer.detect.rules.harvest import DataFlow as Flow


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'inv.db'}"
    else:
        url = request.getfixturevalue("pg_url")
    db = make_engine(url)
    run_migrations(db)
    from analyzer.db.models import Base

    with db.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())
    yield db
    db.dispose()


def _actor(key: str, ip: str, first: float, last: float, requests: int, pii: dict[str, int]) -> ActorSummary:
    return ActorSummary(key=key, ip=ip, identity=f"key:{key[:2]}…", first_seen=first, last_seen=last,
                        requests=requests, endpoints=1, pii_types=pii, risk=0)


def test_a_key_twice_in_one_batch_is_applied_in_order(engine: Engine) -> None:
    batch = [
        _actor("a" * 32, "10.0.0.1", 100.0, 200.0, 7, {"EMAIL_ADDRESS": 3}),  # evicted copy
        _actor("b" * 32, "10.0.0.2", 150.0, 150.0, 1, {}),
        _actor("a" * 32, "10.0.0.9", 300.0, 400.0, 2, {"PHONE_NUMBER": 1}),  # counted again from zero
    ]
    with session_scope(engine) as session:
        assert threats.upsert_actors(session=session, actors=batch) == 3
    with session_scope(engine) as session:  # a later batch: an older first_seen widens the range
        threats.upsert_actors(session=session, actors=[_actor("b" * 32, "10.0.0.3", 50.0, 120.0, 1, {})])
    with session_scope(engine) as session:
        rows = {r.key: r for r in session.execute(select(ThreatActor)).scalars()}
        a, b = rows["a" * 32], rows["b" * 32]
        assert (a.ip, a.requests, a.pii_types) == ("10.0.0.9", 7, {"PHONE_NUMBER": 1})
        assert a.first_seen.astimezone(UTC) == datetime.fromtimestamp(100.0, UTC)
        assert a.last_seen.astimezone(UTC) == datetime.fromtimestamp(400.0, UTC)
        assert b.ip == "10.0.0.3"
        assert b.first_seen.astimezone(UTC) == datetime.fromtimestamp(50.0, UTC)
        assert b.last_seen.astimezone(UTC) == datetime.fromtimestamp(150.0, UTC)


def test_flows_keep_the_largest_counts_and_sub_second_times(engine: Engine) -> None:
    def flow(records: int, first: float, last: float) -> Flow:
        return Flow(actor_key="k" * 32, actor_ip="10.0.0.1", actor_identity=None, host="shop",
                    path_template="/users/{id}", pii_type="EMAIL_ADDRESS", records=records, responses=records,
                    first_seen=first, last_seen=last)

    with session_scope(engine) as session:
        threats.upsert_flows(session=session, flows=[flow(5, 1_700_000_000.25, 1_700_000_010.5)])
    with session_scope(engine) as session:
        threats.upsert_flows(session=session, flows=[flow(2, 1_700_000_020.125, 1_700_000_030.75)])
    with session_scope(engine) as session:
        (row,) = session.execute(select(DataFlow)).scalars()
        assert (row.records, row.responses) == (5, 5)
        assert row.first_seen.astimezone(UTC) == datetime.fromtimestamp(1_700_000_000.25, UTC)
        assert row.last_seen.astimezone(UTC) == datetime.fromtimestamp(1_700_000_030.75, UTC)


# Text that a PostgreSQL array literal must escape, or that looks like part of one: the upsert
# binds one literal per column (orjson's JSON text when no value needs escaping).
AWKWARD = ['say "hi"', "back\\slash", "NULL", "null", "{a,b}", " spaced ", "", "é ü \u2028", "tab\there", "nul\x00byte",
           "x" * 100, "lone \ud800 surrogate"]


def test_awkward_text_and_times_are_stored_as_given(engine: Engine) -> None:
    actors = [
        ActorSummary(key=f"{i:032x}", ip=f"10.0.0.{i}", identity=text, first_seen=t, last_seen=t + 1.5,
                     requests=i + 1, endpoints=1, pii_types={text[:8] or "x": i}, risk=i)
        for i, (text, t) in enumerate(zip(AWKWARD, [0.0, -5.0, float("nan"), 1_700_000_000.123456, 3e11] * 3, strict=False))
    ]
    with session_scope(engine) as session:
        assert threats.upsert_actors(session=session, actors=actors) == len(actors)
    with session_scope(engine) as session:
        rows = {r.key: r for r in session.execute(select(ThreatActor)).scalars()}
    for a in actors:
        row = rows[a.key]
        assert row.identity == threats._text(a.identity, 64)
        assert row.pii_types == {str(threats._text(k, 64)): v for k, v in a.pii_types.items()}
        assert row.first_seen.astimezone(UTC) == datetime.fromtimestamp(threats._clamped(a.first_seen), UTC)
        assert row.requests == a.requests
