"""Shared ingestion: several analyzer processes writing one inventory as one analyzer would.

Analyzers scaled out behind NATS (``apicensus analyzer --from nats://...``) and the inventory
service's ``POST /api/v1/ingest`` all write through :class:`SharedIngestor`. Templating is
order-dependent state (siblings turn literals into parameters, merges re-home counts), so the
workers must not each keep their own: every batch is templated and written inside one database
transaction that holds a global lock (PostgreSQL advisory lock; a file lock for SQLite), and a
worker reloads the stored templater state whenever its generation moved since the worker last
wrote it. The expensive, order-free work (PII detection, decoding) runs *outside* the lock, so
workers still add throughput; the serialised part is aggregation and the bulk upserts.

Delivery to the analyzers is at least once: uids are checked before PII detection (cheap skip
of redeliveries) and again under the lock (another worker may have written them meanwhile), and
marked seen in the same transaction as their counts, so a crash anywhere loses nothing and
counts nothing twice.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import orjson
from sqlalchemy import Engine, func, select, update
from sqlalchemy.exc import DataError
from sqlalchemy.orm import Session

from analyzer.db import crud
from analyzer.db.locking import exclusive_inventory, file_lock, lock_file, lock_transaction
from analyzer.db.models import StreamProgress, core_table
from analyzer.db.session import make_session_factory
from analyzer.db.settings import AnalyzerSettings
from analyzer.inventory.tls_services import store_tls
from analyzer.observation import Observation, ObservationError, from_record
from analyzer.pipeline.aggregate import add_pii, aggregate
from analyzer.pipeline.inputs import ErrorSink
from analyzer.pipeline.normalise import Normalised, normalise, pii_view
from analyzer.pipeline.pii import start_pii
from analyzer.pipeline.store import load_spec_templates, store_batch, store_consolidation
from analyzer.protocols.tls import aggregate_tls
from analyzer.protocols.views import expand


@dataclass(slots=True)
class PreparedBatch:
    records: list[Observation]  # the batch's records not yet analysed as of prepare()
    items: list[Normalised | None]  # normalise() of each (None: no request line)
    pii_results: list[Any] | None
    result: IngestResult
    # Why the database refused the batch (it was then rejected whole), else None.
    rejected_reason: str | None = None


@dataclass(slots=True)
class IngestResult:
    received: int = 0  # records handed in
    new: int = 0  # counted into the inventory now
    duplicates: int = 0  # already analysed (redelivery, replay) or repeated within the call
    skipped: int = 0  # no request line, or not a readable record (rejected counts those too)
    rejected: int = 0  # not an exchange record, or one of an unknown schema
    noise: int = 0
    pii_findings: int = 0
    merges: int = 0
    events: int = 0  # threat events created or updated


class InventoryLock:
    """The inventory lock around one transaction (see analyzer/db/locking.py)."""

    def __init__(self, engine: Engine) -> None:
        self.postgres = engine.dialect.name == "postgresql"
        self._path = lock_file(engine)
        self._thread_lock = threading.Lock()

    @contextlib.contextmanager
    def session(self, engine: Engine) -> Iterator[Session]:
        """A transaction holding the lock; committed on success."""
        with self._thread_lock, make_session_factory(engine)() as session, session.begin():
            if self.postgres:
                lock_transaction(session)
                yield session
            else:
                with file_lock(self._path):
                    yield session


def prepare_shared(engine: Engine) -> None:
    """The schema, migrated by one process at a time (analyzers may start together)."""
    from analyzer.db.session import run_migrations

    with exclusive_inventory(engine):
        run_migrations(engine)


class SharedIngestor:
    """Idempotent, lock-serialised ingestion of exchange-record batches. Thread-safe."""

    def __init__(
        self,
        engine: Engine,
        settings: AnalyzerSettings,
        *,
        detector: Any = None,
        on_error: ErrorSink | None = None,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.lock = InventoryLock(engine)
        # PII in this process: scaling out is by more analyzer processes, each one busy on its own.
        self._pii = start_pii(replace(settings, pii_workers=0), detector=detector) if settings.pii_enabled else None
        self.on_error = on_error
        self.templater: Any = None  # rebuilt from the stored state for every batch
        # Unknown until the first locked read: forces a reload of whatever is stored then.
        self._generation = -1
        self._spec_mark: tuple[int, int] | None = None
        self._new_specs = False
        # The shared state as of the last batch written (JSON of Templater.to_state()); every
        # batch starts from it (see _write_locked).
        self._state_bytes: bytes | None = None
        self._mutex = threading.Lock()
        # Threat detection, its engine synchronised with the stored state like the templater.
        self.detect: Any = None
        if settings.detect_enabled:
            from analyzer.pipeline.detect import DetectStage

            self.detect = DetectStage(on_error)

    def close(self) -> None:
        if self._pii is not None:
            self._pii.close()
            self._pii = None

    def prepare(self, records: list[dict[str, Any]]) -> PreparedBatch:
        """Everything order-free, done outside the lock: validation, uids, redelivery skip,
        PII detection, normalisation (body schemas included)."""
        result = IngestResult(received=len(records))
        batch: list[Observation] = []
        uids: set[str] = set()
        first_error: str | None = None
        for record in records:
            try:
                obs = from_record(record)
            except ObservationError as exc:
                result.skipped += 1
                result.rejected += 1
                first_error = first_error or str(exc)
                continue
            for view in expand(obs):
                if view.uid in uids:
                    result.duplicates += 1
                    continue
                uids.add(view.uid)
                batch.append(view)
        if first_error is not None and self.on_error is not None:
            self.on_error(f"{result.rejected} records skipped: {first_error}")
        if batch:
            with make_session_factory(self.engine)() as session:
                unseen = crud.filter_unseen_uids(session=session, uids=[o.uid for o in batch])
            fresh = [o for o in batch if o.uid in unseen]
            result.duplicates += len(batch) - len(fresh)
            batch = fresh
        pii_results = None
        if batch and self._pii is not None:
            with self._mutex:  # the detector is not shared between threads
                pii_results = self._pii.collect(self._pii.submit([pii_view(o) for o in batch]))
        items = [normalise(o, self.settings) for o in batch]
        return PreparedBatch(records=batch, items=items, pii_results=pii_results, result=result)

    def ingest(self, records: list[dict[str, Any]]) -> IngestResult:
        """Prepare and apply one batch (the HTTP ingest route: arrival order is the order)."""
        prepared = self.prepare(records)
        if prepared.records:
            with self._transaction() as session:
                self._apply(session, prepared)
        return prepared.result

    def apply_in_order(self, stream: str, batches: dict[int, PreparedBatch], *, first_seq: int) -> list[int]:
        """Apply the prepared batches that are next in stream order, in one locked transaction.

        ``batches`` maps stream sequence -> prepared batch; ``first_seq`` is the stream's first
        stored sequence (where a new inventory starts). Returns the sequences now done — applied
        now or already applied before (redeliveries) — which the caller acknowledges; the rest
        wait for an earlier sequence that another analyzer holds.
        """
        try:
            return self._apply_in_order(stream, batches, first_seq=first_seq)
        except DataError:
            pass
        # A value the database refuses is in one of them: retrying cannot help. One transaction
        # per batch finds it; that batch is rejected whole (counted, its progress advanced) and
        # the others are applied as usual.
        done: list[int] = []
        for seq in sorted(batches):
            prepared = batches[seq]
            try:
                done += self._apply_in_order(stream, {seq: prepared}, first_seq=first_seq)
            except DataError as exc:  # (its counts were restored as they were before the attempt)
                prepared.result.rejected += len(prepared.records)
                prepared.rejected_reason = " ".join(str(exc.orig or exc).split())[:200]
                prepared.records, prepared.items, prepared.pii_results = [], [], None
                done += self._apply_in_order(stream, {seq: prepared}, first_seq=first_seq)
        return done

    def _apply_in_order(self, stream: str, batches: dict[int, PreparedBatch], *, first_seq: int) -> list[int]:
        saved = {seq: replace(prepared.result) for seq, prepared in batches.items()}
        try:
            return self._apply_in_order_locked(stream, batches, first_seq=first_seq)
        except BaseException:
            for seq, result in saved.items():  # rolled back: counted again by whoever retries
                batches[seq].result = result
            raise

    def _apply_in_order_locked(
        self, stream: str, batches: dict[int, PreparedBatch], *, first_seq: int
    ) -> list[int]:
        done: list[int] = []
        with self._transaction() as session:
            table = core_table(StreamProgress)
            last = session.scalar(select(table.c.last_seq).where(table.c.stream == stream))
            start = last
            if last is None:
                last = first_seq - 1
            done.extend(seq for seq in batches if seq <= last)
            while last + 1 in batches:
                last += 1
                # One batch per message, as a single analyzer would: templating sees each
                # sensor batch whole, so the grouping of messages never changes the result.
                self._apply(session, batches[last])
                done.append(last)
            if last != start:
                self._set_progress(session, stream, last, insert=start is None)
        return done

    def skip_to(self, stream: str, seq: int) -> None:
        """Declare every sequence below ``seq`` done (they no longer exist in the stream)."""
        with self._transaction() as session:
            table = core_table(StreamProgress)
            last = session.scalar(select(table.c.last_seq).where(table.c.stream == stream))
            if last is None or last < seq - 1:
                self._set_progress(session, stream, seq - 1, insert=last is None)

    def progress(self, stream: str) -> int | None:
        with make_session_factory(self.engine)() as session:
            table = core_table(StreamProgress)
            return session.scalar(select(table.c.last_seq).where(table.c.stream == stream))

    @staticmethod
    def _set_progress(session: Session, stream: str, last: int, *, insert: bool) -> None:
        table = core_table(StreamProgress)
        if insert:
            session.execute(table.insert().values(stream=stream, last_seq=last))
        else:
            session.execute(update(table).where(table.c.stream == stream).values(last_seq=last))

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[Session]:
        with self._mutex:
            try:
                with self.lock.session(self.engine) as session:
                    self._sync_templater(session)
                    yield session
                    if self.detect is not None and self.detect.dirty:
                        # Once per transaction, after every batch it applied (one state row).
                        self.detect.save(session)
            except BaseException:
                # The in-memory templater may have observed records that were not committed.
                self._generation = -1
                if self.detect is not None:
                    self.detect.invalidate()
                raise

    def _apply(self, session: Session, prepared: PreparedBatch) -> None:
        fresh, items, pii_results = prepared.records, prepared.items, prepared.pii_results
        if not fresh:
            return
        # Again under the lock: another analyzer may have written some since prepare().
        still = crud.filter_unseen_uids(session=session, uids=[o.uid for o in fresh])
        if len(still) != len(fresh):
            keep = [i for i, o in enumerate(fresh) if o.uid in still]
            prepared.result.duplicates += len(fresh) - len(keep)
            fresh = [fresh[i] for i in keep]
            items = [items[i] for i in keep]
            if pii_results is not None:
                pii_results = [pii_results[i] for i in keep]
        if fresh:
            self._write_locked(session, fresh, items, pii_results, prepared.result)

    def _write_locked(
        self,
        session: Session,
        fresh: list[Observation],
        items: list[Normalised | None],
        pii_results: list[Any] | None,
        result: IngestResult,
    ) -> None:
        self._fresh_templater()
        kept = [i for i, item in enumerate(items) if item is not None]
        batch = aggregate([item for item in items if item is not None], self.templater)
        if pii_results is not None:
            outcome = add_pii(batch, [pii_results[i] for i in kept])
            result.pii_findings += outcome.findings
        # Saves the templater state: generation + 1.
        result.merges += store_batch(session, batch, (o.uid for o in fresh)).merges
        tls = aggregate_tls(fresh)
        if tls:
            store_tls(session, tls)
        if self.detect is not None:
            result.events += len(self.detect.run(session, batch, save_state=False).events)
        self._state_bytes = batch.templater_state
        session.flush()
        self._generation = crud.templater_state_generation(session=session)
        skipped = len(items) - len(kept)
        result.skipped += skipped
        result.noise += batch.noise_count + batch.malformed_count
        result.new += len(fresh) - skipped

    def _sync_templater(self, session: Session) -> None:
        """Adopt the stored templater state when another writer moved it on; note specs
        imported since (imported operations guide templating)."""
        from analyzer.db.models import SpecOperation

        generation = crud.templater_state_generation(session=session)
        if generation != self._generation:
            state = crud.load_templater_state(session=session)
            self._state_bytes = orjson.dumps(state) if state else None
            self._generation = generation
        mark = session.execute(select(func.count(SpecOperation.id), func.max(SpecOperation.id))).one()
        spec_mark = (int(mark[0] or 0), int(mark[1] or 0))
        if spec_mark != self._spec_mark:
            self._new_specs = True
            self._spec_mark = spec_mark

    def _fresh_templater(self) -> None:
        """The templater as the stored state describes it, for every batch.

        A live templater keeps fold caches that its state does not carry (``_Raw.cache``,
        ``issued`` nodes): one that kept running would template later batches differently from
        one rebuilt from the state. Rebuilding before every batch makes the result independent
        of which analyzer took which batch, and of restarts (about 8 ms per 64 KB of state).
        """
        from analyzer.templating import Templater

        state = orjson.loads(self._state_bytes) if self._state_bytes else None
        self.templater = Templater.from_state(state) if state else Templater()
        if self._new_specs or state is None:
            load_spec_templates(self.engine, self.templater)
            self._new_specs = False

    def consolidate(self) -> int:
        """A stream pause (nothing to consume; HTTP ingest idle): every host of the stored
        templater state folded to a fixed point, the merges that returns re-homed, the state
        saved, in one locked transaction, so the inventory ends as one more fold would leave it
        (issue 10, class 7). Several idle writers may call it in turn: when the state does not
        change, nothing is written. Returns the merges that re-homed stored endpoints."""
        with self._transaction() as session:
            if self._state_bytes is None:
                return 0  # nothing templated yet
            self._fresh_templater()
            merged, saved = store_consolidation(session, self.templater, state=self._state_bytes)
            if saved is not None:
                self._state_bytes = saved
                session.flush()
                self._generation = crud.templater_state_generation(session=session)
        return merged

    def prune_seen(self, days: float) -> int:
        """Forget exchange uids counted more than ``days`` ago (bounded dedupe table)."""
        from datetime import UTC, datetime, timedelta

        cutoff = datetime.now(UTC) - timedelta(days=days)
        total = 0
        while True:
            with make_session_factory(self.engine)() as session, session.begin():
                pruned = crud.prune_seen_uids(session=session, older_than=cutoff)
            total += pruned
            if pruned < 50_000:
                return total

    def recompute_verdicts(self) -> None:
        """Spec verdicts after new traffic, under the same lock as the writes."""
        from analyzer.inventory.verdicts import recompute

        with self.lock.session(self.engine) as session:
            recompute(session)

