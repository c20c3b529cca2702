"""The batch pipeline: ``apicensus analyze`` and every embedded use of the stages.

Observations (from :mod:`analyzer.pipeline.inputs`, or records handed to :meth:`Analyzer.feed`)
are read in batches. Per batch, exchanges whose uid is already in the database are dropped
(re-analysis is idempotent), the rest go through the stages (normalise -> aggregate -> store) and
are written in one transaction together with the templater state and the batch's uids, so a
crash mid-run leaves the database consistent and a re-run completes it without double counting.

Two cores are kept busy: PII detection (the costliest step) runs in a forked helper process
(:mod:`analyzer.pipeline.pii`) while this process reads and aggregates the next batch, so one
batch is always aggregated but unwritten; its uids are excluded from the next batch like stored
ones. ``analyze`` (which holds the inventory throughout) also runs threat detection in a forked
worker (:mod:`analyzer.pipeline.detect_worker`): batch N, its PII results added, is detected
there while this process writes batch N-1 and reads and aggregates batch N+1, and is written,
its detection included, in its own transaction once that is back; two batches are then
unwritten at most. Templater merges are applied after the batch's own rows are written, so they
re-home counts of earlier batches and of this one alike. The run ends consolidated (``Analyzer.flush`` ->
``Templater.consolidate``): every host folded to a fixed point and those merges re-homed too.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine

from analyzer.db import crud
from analyzer.db.session import session_scope
from analyzer.db.settings import AnalyzerSettings
from analyzer.inventory.tls_services import store_tls
from analyzer.observation import Observation, ObservationError, from_record
from analyzer.pipeline.aggregate import Aggregate, add_pii, aggregate
from analyzer.pipeline.forked import fork_context
from analyzer.pipeline.inputs import ErrorSink, InputProgress, read_observations
from analyzer.pipeline.normalise import normalise, pii_view
from analyzer.pipeline.pii import PendingPii, PiiScheduler, default_workers, start_pii
from analyzer.pipeline.store import load_spec_templates, load_templater, store_batch, store_consolidation
from analyzer.protocols.tls import TlsAgg, TlsKey, aggregate_tls
from analyzer.protocols.views import expand

_FIRST_BATCH = 1000


@dataclass(slots=True)
class _PendingBatch:
    aggregate: Aggregate
    uids: set[str]
    pii: PendingPii | None
    # Positions of the batch's exchanges as fed (and submitted to PII detection), when some
    # already in the database were dropped; None when every one is fresh.
    pii_positions: list[int] | None
    tls: dict[TlsKey, TlsAgg] | None = None  # the batch's TLS connections per service


@dataclass(slots=True)
class RunStats:
    records: int = 0  # read from the inputs
    duplicates: int = 0  # already in the database (or repeated within the run)
    analysed: int = 0  # counted into endpoints
    noise: int = 0  # classed as noise by the templater
    malformed: int = 0  # malformed targets: unmatched-request statistics, not endpoints
    skipped: int = 0  # no request line (response-only), nothing to inventory
    rejected: int = 0  # records of an unknown schema (reported, not analysed)
    pii_findings: int = 0
    pii_errors: int = 0  # exchanges the PII detector failed on (reported once, run goes on)
    merges: int = 0
    batches: int = 0
    tls_connections: int = 0  # TLS records folded into tls_services (also counted as skipped)
    events: int = 0  # threat events created or updated (analyzer/pipeline/detect.py)


class Analyzer:
    """Feeds observations into the database in batches. Not thread-safe; one per process and DB."""

    def __init__(
        self,
        engine: Engine,
        settings: AnalyzerSettings,
        *,
        templater: Any = None,
        detector: Any = None,
        pii: PiiScheduler | None = None,
        on_error: ErrorSink | None = None,
        detect_worker: bool = False,
    ) -> None:
        """``detect_worker``: threat detection in a forked worker (analyzer.pipeline.detect_worker)
        for a caller that holds the inventory lock until ``close`` (``analyze`` does); otherwise,
        or where there is no fork or no second core, in this process."""
        self.engine = engine
        self.on_error = on_error
        self.settings = settings
        self.stats = RunStats()
        # One batch is kept aggregated but unwritten while the next one is read, so PII detection
        # of a batch (in the helper process) overlaps reading and aggregating the next.
        self._pending: _PendingBatch | None = None
        self._batch: list[Observation] = []
        self._batch_uids: set[str] = set()
        # PII detection of the batch being filled: chunks go to the worker as they fill.
        self._batch_pii: PendingPii | None = None
        self._pii_chunk: list[dict[str, Any]] = []
        # Batches ramp up (1000, 2000, ... batch_size): the PII worker gets its first work about
        # when it has loaded its detector instead of idling until a full batch was read.
        self._batch_limit = min(_FIRST_BATCH, settings.batch_size)
        # Forked before the first database use here unless the caller started it even earlier
        # (the CLI does, so presidio loads in the worker while the main process migrates).
        self._pii: PiiScheduler | None = None
        if settings.pii_enabled:
            self._pii = pii if pii is not None else start_pii(settings, detector=detector, engine=engine)
        self.templater = templater if templater is not None else load_templater(engine, on_error)
        # Threat detection: its engine is loaded from the inventory with the first batch, or
        # lives in a worker, which then has batch N while this process aggregates batch N+1:
        # batch N is written when its detection is back, so two batches are unwritten at most.
        self.detect: Any = None
        self._detect_worker: Any = None
        self._detecting: _PendingBatch | None = None
        self._flushing = False
        if settings.detect_enabled:
            from analyzer.pipeline.detect import DetectStage

            self.detect = DetectStage(on_error)  # with a worker: the state's saves, not the engine
            if detect_worker and default_workers() > 0 and fork_context() is not None:
                from analyzer.pipeline.detect_worker import DetectWorker

                self._detect_worker = DetectWorker(engine)
        self._detect_saved = time.monotonic()
        load_spec_templates(engine, self.templater)

    @property
    def detect_worker_pid(self) -> int | None:
        """The threat detection worker's process id; None when detection runs in this process."""
        worker = self._detect_worker
        return worker.pid if worker is not None else None

    def feed(
        self,
        observations: Iterable[Observation | Mapping[str, Any]],
        on_progress: Callable[[RunStats], None] | None = None,
    ) -> None:
        """Observations, or records in the sensor's JSON form (validated here, once)."""
        stats = self.stats
        for item in observations:
            stats.records += 1
            if on_progress is not None and not stats.records & 0xFF:
                on_progress(stats)
            if isinstance(item, Observation):
                obs = item
            else:
                try:
                    obs = from_record(item)
                except ObservationError as exc:
                    stats.rejected += 1
                    if stats.rejected == 1 and self.on_error is not None:
                        self.on_error(f"record skipped: {exc}")
                    continue
            views = expand(obs)
            if not views:
                stats.skipped += 1  # nothing to inventory (e.g. a Dubbo frame without a method)
            for view in views:
                if view.uid in self._batch_uids:
                    stats.duplicates += 1
                    continue
                self._batch_uids.add(view.uid)
                self._batch.append(view)
                if self._pii is not None:
                    self._pii_chunk.append(pii_view(view))
                    if len(self._pii_chunk) >= self._pii.chunk_size:
                        self._submit_pii_chunk()
                if len(self._batch) >= self._batch_limit:
                    self._advance()
                    self._batch_limit = min(self._batch_limit * 2, self.settings.batch_size)

    def flush(self) -> None:
        """Analyse and write everything fed so far (each batch in one transaction), then end
        consolidated (see :meth:`consolidate`)."""
        self._advance()
        self._flushing = True  # the last batch to detection: its state comes back with it
        try:
            self._advance()
            self._hand_on(None)  # the last batch's detection back, and the batch written
        finally:
            self._flushing = False
        if self.detect is not None and self.detect.dirty:
            if self._detect_worker is None:
                with session_scope(self.engine) as session:
                    self.detect.save(session)
            else:
                self._detect_worker.request_state()
                answer = self._detect_worker.collect()
                with session_scope(self.engine) as session:
                    self._store_detect_state(session, answer)
            self._detect_saved = time.monotonic()
        self.consolidate()

    def consolidate(self) -> None:
        """Every host's templates folded to a fixed point, merges re-homed, state saved (one
        transaction): a small capture ends as one more fold would leave it (issue 10, class 7),
        and where the batches were cut does not matter."""
        with session_scope(self.engine) as session:
            merged, _ = store_consolidation(session, self.templater)
        self.stats.merges += merged

    def close(self) -> None:
        """Stop the helper processes (call after ``flush``, or after an error)."""
        if self._pii is not None:
            self._pii.close()
            self._pii = None
        if self._detect_worker is not None:
            self._detect_worker.close()
            self._detect_worker = None

    def _submit_pii_chunk(self) -> None:
        assert self._pii is not None
        if self._batch_pii is None:
            self._batch_pii = self._pii.begin()
        self._pii.add(self._batch_pii, self._pii_chunk)
        self._pii_chunk = []

    def _advance(self) -> None:
        """Aggregate the batch being filled (PII submitted) and write the one before it."""
        if self._pii_chunk:
            self._submit_pii_chunk()
        batch, self._batch, self._batch_uids = self._batch, [], set()
        pii, self._batch_pii = self._batch_pii, None
        prepared = self._prepare(batch, pii) if batch else None
        previous, self._pending = self._pending, prepared
        if previous is not None:
            self._add_pii(previous)
        self._hand_on(previous)

    def _prepare(self, batch: list[Observation], pii: PendingPii | None) -> _PendingBatch | None:
        with session_scope(self.engine) as session:
            unseen = crud.filter_unseen_uids(session=session, uids=[o.uid for o in batch])
        for unwritten in (self._pending, self._detecting):  # so not in the database either
            if unwritten is not None:
                unseen -= unwritten.uids
        positions = [i for i, o in enumerate(batch) if o.uid in unseen]
        self.stats.duplicates += len(batch) - len(positions)
        if not positions:
            if pii is not None and self._pii is not None:
                self._pii.discard(pii)
            return None
        # Exchanges without a request line are marked seen but counted nowhere.
        items = []
        kept: list[int] = []
        for position in positions:
            item = normalise(batch[position], self.settings)
            if item is None:
                self.stats.skipped += 1
            else:
                items.append(item)
                kept.append(position)
        agg = aggregate(items, self.templater)
        self.stats.analysed += agg.analysed
        self.stats.noise += agg.noise_count
        tls = aggregate_tls(batch[p] for p in positions)
        self.stats.tls_connections += sum(t.connections for t in tls.values())
        self.stats.malformed += agg.malformed_count
        return _PendingBatch(
            aggregate=agg,
            uids=unseen,
            pii=pii,
            pii_positions=None if len(kept) == len(batch) else kept,
            tls=tls or None,
        )

    def _add_pii(self, batch: _PendingBatch) -> None:
        if batch.pii is not None and self._pii is not None:
            results = self._pii.collect(batch.pii)
            if batch.pii_positions is not None:
                results = [results[i] for i in batch.pii_positions]
            outcome = add_pii(batch.aggregate, results)
            self.stats.pii_findings += outcome.findings
            if outcome.errors:
                if not self.stats.pii_errors and self.on_error is not None:
                    self.on_error(f"PII detection failed on exchange {outcome.first_error}")
                self.stats.pii_errors += outcome.errors

    def _hand_on(self, ready: _PendingBatch | None) -> None:
        """``ready`` (its PII results added) on to detection; the batch whose detection is
        back, written. Without a worker that is ``ready`` itself, detected as it is written."""
        worker = self._detect_worker
        if worker is None:
            if ready is not None:
                self._complete(ready, None)
            return
        done, self._detecting = self._detecting, None
        # Answer first, then the next request: the worker sends while nobody sends to it, and
        # it works on ``ready`` while this process writes ``done`` and reads on.
        answer = worker.collect() if done is not None else None
        if ready is not None:
            due = self._flushing or self.detect.checkpoint_due(
                time.monotonic() - self._detect_saved, self.settings.detect_checkpoint_seconds
            )
            worker.submit(ready.aggregate, with_state=due)
            if due:
                self._detect_saved = time.monotonic()
            self._detecting = ready
        if done is not None:
            self._complete(done, answer)

    def _complete(self, batch: _PendingBatch, detected: Any) -> None:
        """Write ``batch`` in one transaction, its detection included: run here, or ``detected``
        (the worker's answer for it)."""
        with session_scope(self.engine) as session:
            self.stats.merges += store_batch(session, batch.aggregate, batch.uids).merges
            if batch.tls:
                store_tls(session, batch.tls)
            if detected is not None:
                try:
                    self._write_detected(session, detected)
                except BaseException:
                    # The worker's engine is past a batch that is rolled back: no more batches.
                    self._detect_worker.close()
                    self._detect_worker = _StoppedWorker()
                    raise
            elif self.detect is not None:
                # The run holds the inventory throughout: the engine's state (megabytes on busy
                # traffic) is checkpointed every few seconds (at most ~2% of the run) and at the end.
                due = self.detect.checkpoint_due(
                    time.monotonic() - self._detect_saved, self.settings.detect_checkpoint_seconds
                )
                try:
                    self.stats.events += len(self.detect.run(session, batch.aggregate, save_state=due).events)
                except BaseException:
                    self.detect.invalidate()  # advanced in a transaction that is rolled back
                    raise
                if due:
                    self._detect_saved = time.monotonic()
        self.stats.batches += 1

    def _write_detected(self, session: Any, answer: Any) -> None:
        from analyzer.pipeline.detect import write_detection

        if answer.problem is not None and self.on_error is not None:
            self.on_error(answer.problem)
        self.detect.errors += answer.errors
        self.stats.events += len(write_detection(session, answer.detection).events)
        self.detect.dirty = True
        if answer.state is not None:
            self._store_detect_state(session, answer)

    def _store_detect_state(self, session: Any, answer: Any) -> None:
        started = time.perf_counter()
        self.detect.store_state(session, answer.state)
        self.detect.last_save_seconds = answer.state_seconds + time.perf_counter() - started


class _StoppedWorker:
    """Stands for a detection worker closed after a failed write: the run cannot go on."""

    def _stopped(self, *_: Any, **__: Any) -> Any:
        from analyzer.pipeline.detect_worker import DetectionFailed

        raise DetectionFailed("threat detection stopped: a batch's write failed after its detection")

    submit = request_state = collect = _stopped
    pid = None

    def close(self) -> None:
        pass


def analyze(
    sources: Iterable[str],
    *,
    engine: Engine,
    settings: AnalyzerSettings,
    on_error: ErrorSink,
    progress: InputProgress | None = None,
    on_progress: Callable[[RunStats], None] | None = None,
    templater: Any = None,
    detector: Any = None,
    pii: PiiScheduler | None = None,
) -> RunStats:
    """Analyse every source into the database; returns this run's statistics.

    The run holds the inventory lock throughout (analyzer/db/locking.py): it keeps the templater
    in memory between batches, so stream analyzers on the same database wait, then reload the
    state this run leaves, instead of either side overwriting the other's templates.
    """
    from analyzer.db.locking import exclusive_inventory

    with exclusive_inventory(engine):
        analyzer = Analyzer(
            engine, settings, templater=templater, detector=detector, pii=pii, on_error=on_error, detect_worker=True
        )
        try:
            for source in sources:
                analyzer.feed(read_observations(source, on_error=on_error, progress=progress), on_progress)
            analyzer.flush()
        finally:
            analyzer.close()
    if analyzer.stats.pii_errors > 1:
        on_error(f"PII detection failed on {analyzer.stats.pii_errors} exchanges in total")
    return analyzer.stats
