"""SharedIngestor: several writers of one inventory (PostgreSQL), in-process."""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Iterator

import orjson
import psycopg2
import pytest
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from analyzer.db import crud
from analyzer.db.locking import exclusive_inventory
from analyzer.db.session import make_engine, session_scope
from analyzer.db.settings import AnalyzerSettings
from analyzer.ingest import SharedIngestor, prepare_shared
from tests.conftest import database_refusing_status, make_exchange

SETTINGS = AnalyzerSettings(pii_enabled=False)


@pytest.fixture
def new_engine(pg_url: str) -> Iterator[callable]:
    """Fresh databases on the test server, dropped afterwards."""
    admin = make_url(pg_url).set(database="postgres")
    made: list[tuple[str, Engine]] = []

    def make() -> Engine:
        name = f"ingest_{uuid.uuid4().hex[:10]}"
        conn = psycopg2.connect(host=admin.host, port=admin.port or 5432, user=admin.username, dbname="postgres")
        conn.autocommit = True
        conn.cursor().execute(f'CREATE DATABASE "{name}"')
        conn.close()
        engine = make_engine(make_url(pg_url).set(database=name))
        prepare_shared(engine)
        made.append((name, engine))
        return engine

    yield make
    for name, engine in made:
        engine.dispose()
        conn = psycopg2.connect(host=admin.host, port=admin.port or 5432, user=admin.username, dbname="postgres")
        conn.autocommit = True
        conn.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.close()


def _traffic(n: int, seed: int) -> list[dict]:
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        kind = rnd.random()
        if kind < 0.4:
            target = f"/users/{rnd.randint(1, 400)}/orders/{uuid.UUID(int=rnd.getrandbits(128))}"
        elif kind < 0.7:
            target = f"/products/{rnd.choice(['shoes', 'hats', 'bags', 'socks', 'belts', 'coats'])}-{rnd.randint(1, 9)}"
        elif kind < 0.9:
            target = f"/search?q={rnd.choice(['a', 'b'])}&email=u{rnd.randint(1, 50)}@example.com"
        else:
            target = "/health"
        out.append(make_exchange(target=target, ts=1_700_000_000.0 + i, uid=f"t{seed}-{i}",
                                 status=rnd.choice([200, 200, 404])))
    return out


def _export(engine: Engine) -> bytes:
    with session_scope(engine) as session:
        return orjson.dumps(crud.export_inventory(session=session), option=orjson.OPT_SORT_KEYS)


def _batches(records: list[dict], size: int) -> dict[int, list[dict]]:
    return {i // size + 1: records[i : i + size] for i in range(0, len(records), size)}


def test_two_writers_applying_in_stream_order_build_what_one_builds(new_engine: callable) -> None:
    batches = _batches(_traffic(3000, 1), 100)
    one, two = new_engine(), new_engine()
    single = SharedIngestor(one, SETTINGS)
    for seq, records in batches.items():
        assert single.apply_in_order("s@1", {seq: single.prepare([dict(r) for r in records])}, first_seq=1) == [seq]
    workers = [SharedIngestor(two, SETTINGS), SharedIngestor(two, SETTINGS)]
    held: list[dict] = [{}, {}]
    rnd = random.Random(3)
    for seq, records in batches.items():  # each batch to a random worker, applied when its turn comes
        w = rnd.randrange(2)
        held[w][seq] = workers[w].prepare([dict(r) for r in records])
        for k in (rnd.randrange(2), 1 - w):
            for done in workers[k].apply_in_order("s@1", held[k], first_seq=1):
                held[k].pop(done)
    while held[0] or held[1]:
        for k in (0, 1):
            for done in workers[k].apply_in_order("s@1", held[k], first_seq=1):
                held[k].pop(done)
    assert _export(two) == _export(one)
    assert single.progress("s@1") == workers[0].progress("s@1") == len(batches)


def test_redelivered_batches_are_done_without_counting_twice(new_engine: callable) -> None:
    engine = new_engine()
    ingestor = SharedIngestor(engine, SETTINGS)
    batches = _batches(_traffic(300, 2), 100)
    for seq, records in batches.items():
        ingestor.apply_in_order("s@1", {seq: ingestor.prepare([dict(r) for r in records])}, first_seq=1)
    before = _export(engine)
    again = ingestor.prepare([dict(r) for r in batches[2]])
    assert again.result.duplicates == 100 and not again.records
    assert ingestor.apply_in_order("s@1", {2: again}, first_seq=1) == [2]  # acknowledged, nothing applied
    # A later batch repeating earlier exchanges (a sensor re-sending after its spool replay).
    repeat = ingestor.prepare([dict(r) for r in batches[1]])
    assert ingestor.apply_in_order("s@1", {4: repeat}, first_seq=1) == [4]
    assert _export(engine) == before


def test_a_batch_waits_for_the_one_before_it_and_purged_gaps_are_skipped(new_engine: callable) -> None:
    engine = new_engine()
    ingestor = SharedIngestor(engine, SETTINGS)
    batches = _batches(_traffic(300, 4), 100)
    third = ingestor.prepare([dict(r) for r in batches[3]])
    assert ingestor.apply_in_order("s@1", {3: third}, first_seq=1) == []  # 1 and 2 not applied yet
    ingestor.skip_to("s@1", 3)  # 1 and 2 no longer exist in the stream
    assert ingestor.apply_in_order("s@1", {3: third}, first_seq=1) == [3]
    assert ingestor.progress("s@1") == 3


def test_a_restarted_writer_templates_like_one_that_kept_running(new_engine: callable) -> None:
    """Fold caches live only in memory: each batch starts from the stored state, so stopping
    and starting (or handing batches to another analyzer) changes nothing."""
    batches = _batches(_traffic(3000, 5), 100)
    steady, restarted = new_engine(), new_engine()
    one = SharedIngestor(steady, SETTINGS)
    for seq, records in batches.items():
        one.apply_in_order("s@1", {seq: one.prepare([dict(r) for r in records])}, first_seq=1)
    for seq, records in batches.items():
        again = SharedIngestor(restarted, SETTINGS)  # a new process per batch, in effect
        again.apply_in_order("s@1", {seq: again.prepare([dict(r) for r in records])}, first_seq=1)
    assert _export(restarted) == _export(steady)


def test_a_writer_adopts_templates_another_writer_stored(new_engine: callable) -> None:
    engine = new_engine()
    first, second = SharedIngestor(engine, SETTINGS), SharedIngestor(engine, SETTINGS)
    first.ingest([make_exchange(target=f"/accounts/{i}", uid=f"a{i}") for i in range(1, 40)])
    second.ingest([make_exchange(target="/accounts/777", uid="b1")])
    with session_scope(engine) as session:
        templates = {e["path_template"]: e["hits"] for e in crud.export_inventory(session=session)["endpoints"]}
    # The second writer matched /accounts/777 with the template the first one learned.
    assert len(templates) == 1 and next(iter(templates.values())) == 40, templates


def test_writers_wait_while_a_batch_analyze_holds_the_inventory(new_engine: callable) -> None:
    engine = new_engine()
    ingestor = SharedIngestor(engine, SETTINGS)
    finished: list[float] = []
    with exclusive_inventory(engine):
        worker = threading.Thread(
            target=lambda: (ingestor.ingest([make_exchange(target="/x", uid="w1")]), finished.append(time.monotonic()))
        )
        worker.start()
        time.sleep(0.5)
        assert not finished  # blocked on the lock
        released = time.monotonic()
    worker.join(10)
    assert finished and finished[0] >= released


def test_old_uids_are_forgotten_only_past_the_dedupe_window(new_engine: callable) -> None:
    from sqlalchemy import text

    engine = new_engine()
    ingestor = SharedIngestor(engine, SETTINGS)
    ingestor.ingest([make_exchange(target=f"/a/{i}", uid=f"old{i}") for i in range(5)])
    ingestor.ingest([make_exchange(target=f"/a/{i}", uid=f"new{i}") for i in range(3)])
    with engine.begin() as conn:
        conn.execute(text("UPDATE seen_exchanges SET seen_at = now() - interval '40 days' WHERE uid LIKE 'old%'"))
    assert ingestor.prune_seen(30) == 5
    assert ingestor.prune_seen(30) == 0
    with engine.connect() as conn:
        left = sorted(conn.execute(text("SELECT uid FROM seen_exchanges")).scalars())
    assert left == ["new0", "new1", "new2"]


def test_a_batch_the_database_refuses_is_rejected_whole_and_the_others_applied(new_engine: callable) -> None:
    """The NATS analyzers' path: a data error (SQLSTATE 22003 from a real trigger, standing for any
    value the database cannot hold) in one of the batches of a transaction is not retried forever:
    that batch is done as rejected (counted, tagged), the others land, stream progress moves on."""
    engine = new_engine()
    with database_refusing_status(engine, 599):
        ingestor = SharedIngestor(engine, SETTINGS)
        batches = _batches(_traffic(300, 3), 100)
        batches[2][5]["status"] = 599
        prepared = {seq: ingestor.prepare([dict(r) for r in records]) for seq, records in batches.items()}
        assert sorted(ingestor.apply_in_order("s@1", prepared, first_seq=1)) == [1, 2, 3]
        assert prepared[2].rejected_reason and "status out of range" in prepared[2].rejected_reason
        assert prepared[2].result.new == 0 and prepared[2].result.rejected == 100
        assert prepared[1].result.new + prepared[1].result.skipped == 100 and prepared[1].rejected_reason is None
        assert prepared[3].result.new + prepared[3].result.skipped == 100
        assert ingestor.progress("s@1") == 3
        with session_scope(engine) as session:
            assert len(crud.filter_unseen_uids(session=session, uids=[r["uid"] for r in batches[2]])) == 100
            assert not crud.filter_unseen_uids(session=session, uids=[r["uid"] for r in batches[3]])
