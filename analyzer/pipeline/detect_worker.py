"""Threat detection of ``apicensus analyze`` in a forked worker, off the main process's path.

The batch run holds the inventory lock from start to end, so nothing else moves the detection
state meanwhile: the engine lives in one forked process for the whole run. The main process
reads the stored state once, under the lock, and forks: the child inherits the blob (no pickle,
no database connection of its own, no second reader to keep consistent) and builds the engine
from it while the main process reads the first batch.

Per batch the main process sends :func:`~analyzer.pipeline.detect.exchange_fields` tuples (a
pickle without a memo: ~70 ms per 20,000 exchanges, against ~530 ms for the DetectExchanges
themselves); the worker builds the exchanges, feeds them, drains the events and lists the
actors and data flows the batch changed, as tuples (:func:`~analyzer.pipeline.detect.detect_batch`, the
in-process stage's own steps), plus the serialised state when a checkpoint is due, and sends
that back. The main process writes it in the batch's own transaction with ``store_batch``
(:mod:`analyzer.pipeline.run`), so a SIGKILLed run loses nothing and a re-run does not double
count. One batch is in the worker at a time; requests and answers alternate.

A worker that dies, raises or does not answer within ``ANSWER_TIMEOUT_S`` stops the run with
:class:`DetectionFailed`; every batch written before is complete, the rest is re-analysed by the
next run.
"""

from __future__ import annotations

import gc
import io
import pickle
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from sqlalchemy import Engine

from analyzer.db.session import session_scope
from analyzer.detect.engine import ActorSummary
from analyzer.detect.rules import DataFlow
from analyzer.pipeline.aggregate import Aggregate
from analyzer.pipeline.detect import (
    BatchDetection,
    batch_fields,
    engine_from,
    feed_batch,
    load_detection,
    touched_actors,
)
from analyzer.pipeline.forked import ForkedWorker, WorkerGone, request_from_parent
from analyzer.pipeline.gcpause import paused_cyclic_gc

ANSWER_TIMEOUT_S = 600.0  # one batch of the largest size on a machine many times too busy
COLLECT_EVERY = 200_000  # exchanges fed between the worker's full collector passes


# Set in the parent just before forking: the child finds the stored state here.
_inherited: dict[str, Any] = {}


_AFTER = "; the batches written before are complete, a re-run analyses the rest"


class DetectionFailed(RuntimeError):
    """The detection worker died, raised or hung: the run stops (batches written are complete)."""


@dataclass(slots=True)
class WorkerAnswer:
    detection: BatchDetection | None  # None: the answer to a request for the state only
    state: bytes | None  # the engine's serialised state, when asked for
    state_seconds: float  # what serialising it took
    errors: int  # exchanges the engine could not read or a rule failed on
    problem: str | None = None  # the stored state could not be loaded (first answer only)


def _dumps(message: Any) -> bytes:
    """A message pickled without a memo: tuples of strings, numbers and bytes (trees, nothing
    shared that matters) pickle ~5x faster without the memo's per-object bookkeeping."""
    out = io.BytesIO()
    pickler = pickle.Pickler(out, protocol=pickle.HIGHEST_PROTOCOL)
    pickler.fast = True
    pickler.dump(message)
    return out.getvalue()


def _serve(conn: Connection) -> None:
    """The worker: build the engine from the inherited state, then answer requests in order."""
    engine, problem = engine_from(_inherited["settings"], _inherited["blob"])
    _inherited.clear()
    # What fork copied (the templater, SQLAlchemy, the sensor) is never garbage here: out of the
    # collector's generations for good.
    gc.freeze()
    # The collector stays off for the worker's life: what survives a batch is the engine's
    # state, which the automatic passes between batches walked again and again for nothing
    # (0.33-0.44 s of ~2.4 s of engine CPU on analyze_speed's 20,000-exchange capture, 4 full
    # passes; ~500 objects collected). The engine makes next to no cyclic garbage (reference
    # counting frees the rest); one full pass every COLLECT_EVERY exchanges bounds what there is.
    gc.disable()
    since_collect = 0
    while True:
        data = request_from_parent(conn)
        if data is None:  # the main process closed the pipe (run over) or died
            return
        answer: list[Any] | str
        try:
            request = pickle.loads(data)
            del data
            since_collect += len(request[1] or ())
            answer = _answer(engine, request)
            del request
        except BaseException as exc:  # noqa: BLE001 - reported to the main process, which stops the run
            answer = f"{type(exc).__name__}: {exc}"
        else:
            answer[-1], problem = problem, None
        try:
            conn.send_bytes(_dumps(answer))
        except OSError:  # the main process stopped (and closed the pipe) meanwhile
            return
        if isinstance(answer, str):
            return
        del answer
        if since_collect >= COLLECT_EVERY:
            gc.collect()
            since_collect = 0


def _answer(engine: Any, request: tuple[Any, ...]) -> list[Any]:
    """The answer to ``request`` as plain values (a :class:`WorkerAnswer` once rebuilt)."""
    kind, fields, failed, with_state = request
    detection = None
    errors = failed
    if kind == "batch":
        # detect_batch's steps, the actors and flows listed as tuples of their fields (the main
        # process rebuilds the objects, _objects): no frozen dataclass built and taken apart here.
        events, oldest, fed, errors = feed_batch(engine, fields, failed)
        actors: list[Any] = []
        flows: list[Any] = []
        if fed:
            actors = engine.actor_rows(seen_since=oldest, keys=touched_actors(events))
            flows = engine.data_flow_rows(seen_since=oldest)
        detection = (events, actors, flows, fed)
    state = None
    started = time.perf_counter()
    if with_state:
        state = engine.state()
    return [detection, state, time.perf_counter() - started, errors, None]


class DetectWorker:
    """The main process's side: submit a batch, collect its detection later (one in flight)."""

    def __init__(self, engine: Engine) -> None:
        with session_scope(engine) as session:  # under the run's inventory lock
            settings, blob, _generation = load_detection(session)
        _inherited.update(settings=settings, blob=blob)
        try:
            self._worker = ForkedWorker("threat detection worker", _serve, engine=engine)
        finally:
            _inherited.clear()
        self._in_flight = False

    def submit(self, batch: Aggregate, *, with_state: bool) -> None:
        """Send ``batch``'s exchanges (stream order); with its state after them when asked."""
        with paused_cyclic_gc():  # tuples of every exchange: the collector would walk them all
            fields, failed = batch_fields(batch)
            self._send(("batch", fields, failed, with_state))

    def request_state(self) -> None:
        """Ask for the engine's state (the run's last checkpoint)."""
        self._send(("state", None, 0, True))

    def collect(self) -> WorkerAnswer:
        """The answer to the request in flight; :class:`DetectionFailed` when there is none."""
        assert self._in_flight, "collect() without a request in flight"
        self._in_flight = False
        try:
            data = self._worker.receive(ANSWER_TIMEOUT_S)
        except WorkerGone as exc:
            raise DetectionFailed(f"threat detection failed: {exc}{_AFTER}") from exc
        with paused_cyclic_gc():
            answer = pickle.loads(data)
            if isinstance(answer, str):
                raise DetectionFailed(f"threat detection failed in its worker: {answer}{_AFTER}")
            found, state, state_seconds, errors, problem = answer
            detection = None
            if found is not None:
                events, actors, flows, fed = found
                detection = BatchDetection(
                    events=events,
                    actors=list(map(ActorSummary._make, actors)),
                    flows=list(map(DataFlow._make, flows)),
                    fed=fed,
                )
        return WorkerAnswer(detection, state, state_seconds, errors, problem)

    @property
    def pid(self) -> int | None:
        return self._worker.pid

    def close(self) -> None:
        """Stop the worker; one busy with a batch nobody will collect (a failed run) at once."""
        self._worker.close(abandon=self._in_flight)

    def _send(self, request: tuple[Any, ...]) -> None:
        assert not self._in_flight, "a detection request is already in flight"
        try:
            self._worker.send(_dumps(request))
        except WorkerGone as exc:
            raise DetectionFailed(f"threat detection failed: {exc}{_AFTER}") from exc
        self._in_flight = True
