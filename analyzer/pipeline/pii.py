"""PII detection for the pipeline, shared between this process and one forked worker.

PII detection costs more CPU per exchange than everything else the analyzer does, so it runs
beside it: the worker process is forked at start-up and loads the detector itself (presidio's
import alone is over a second of CPU, which then overlaps the main process reading input).
Each batch is cut into chunks queued to the worker; when the main process needs a batch's
results it *steals* the chunks the worker has not finished (a shared claim flag per chunk
decides who does which). The main process loads its own detector only after it has waited on
the worker for a while, so on ordinary inputs the import is paid once, in the worker.
Results are plain tuples (type, location, field, masked sample): nothing raw leaves the detector.
"""

from __future__ import annotations

import gc
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from analyzer.pipeline.forked import fork_context, init_child

if TYPE_CHECKING:
    from analyzer.db.settings import AnalyzerSettings

Finding = tuple[str, str, str, str | None]
# Per record: its findings, or the error message when the detector raised on it.
Result = list[Finding] | str

_RING = 1 << 16  # claim flags are reused round-robin; far more than chunks ever in flight
_FREE, _TAKEN = 0, 1
_WORKER_TIMEOUT_S = 600.0
_STEAL_AFTER_WAITING_S = 3.0

# Set in the parent just before forking, so the worker inherits the detector (no re-import,
# no re-initialisation) and the shared claim flags.
_shared: dict[str, Any] = {}


def _as_result(findings: Any) -> Result:
    return [
        (str(f.type), str(f.location), str(f.field or ""), None if f.sample is None else str(f.sample))
        for f in findings
    ]


def detect(detector: Any, record: dict[str, Any]) -> Result:
    try:
        return _as_result(detector.detect_exchange(record))
    except Exception as exc:  # noqa: BLE001 - one odd exchange must not stop the run
        return f"{type(exc).__name__}: {exc}"


def detect_chunk(detector: Any, records: list[dict[str, Any]]) -> list[Result]:
    """Findings of a chunk judged together (``PiiDetector.detect_batch``: a field whose values
    across the chunk are a counter or versions is an id field); when the batch call fails, each
    record on its own, so one odd exchange costs only its own findings."""
    try:
        return [_as_result(found) for found in detector.detect_batch(records)]
    except Exception:  # noqa: BLE001 - fall back record by record, reporting the culprit
        return [detect(detector, r) for r in records]


def _claim(claims: Any, slot: int) -> bool:
    with claims.get_lock():
        if claims[slot] == _FREE:
            claims[slot] = _TAKEN
            return True
        return False


def _worker_init() -> None:
    init_child(_shared.get("engine"))
    if _shared.get("detector") is None:
        try:
            _shared["detector"] = _shared["factory"]()
        except Exception:  # noqa: BLE001 - never crash in a Pool initializer (it respawns forever)
            _shared["detector"] = None  # chunks come back undone; the parent reports the error
    # presidio and spaCy leave ~500k long-lived objects: frozen out of the cyclic GC, the full
    # collections that the records' churn triggers skip them (~10% of the worker's CPU).
    gc.freeze()


def _worker_chunk(slot: int, records: list[dict[str, Any]] | bytes) -> list[Result] | None:
    detector = _shared["detector"]
    if detector is None or not _claim(_shared["claims"], slot):
        return None  # the parent already did this chunk, or must (no detector here)
    if isinstance(records, bytes):
        import orjson

        decoded: list[dict[str, Any]] = orjson.loads(records)
        return detect_chunk(detector, decoded)
    return detect_chunk(detector, records)


def _payload(records: list[dict[str, Any]]) -> list[dict[str, Any]] | bytes:
    """A chunk as sent to the worker: JSON bytes, which unpickle and parse there in about half
    the CPU of pickled dicts (the worker is the busier process); the records themselves when
    JSON cannot carry them losslessly (lone surrogates, non-string keys, huge integers)."""
    import orjson

    try:
        return orjson.dumps(records)
    except (TypeError, orjson.JSONEncodeError):
        return records


@dataclass(slots=True)
class _Chunk:
    slot: int
    start: int
    records: list[dict[str, Any]]
    future: Any = None


@dataclass(slots=True)
class PendingPii:
    size: int
    chunks: list[_Chunk] = field(default_factory=list)


class PiiScheduler:
    """Submit a batch's records now, collect their findings later (in record order)."""

    def __init__(
        self,
        *,
        factory: Callable[[], Any],
        detector: Any = None,
        workers: int,
        engine: Any = None,
        chunk_size: int = 200,
    ) -> None:
        self.factory = factory
        self.detector = detector  # this process's own; created on first local use
        # fork only: the worker must inherit state cheaply; elsewhere everything stays in-process.
        ctx = fork_context()
        self.workers = workers if ctx is not None else 0
        self.engine = engine
        self.chunk_size = chunk_size
        self._pool: Any = None
        self._claims: Any = None
        self._next_slot = 0
        self.waited = 0.0  # seconds spent blocked on the worker's results
        self._factory_error: str | None = None  # loading a detector here failed: do not retry
        if ctx is not None and self.workers > 0:
            # Each scheduler has its own flags; the worker finds them in _shared, copied at fork.
            self._claims = ctx.Array("b", _RING)
            _shared.update(factory=factory, detector=detector, engine=engine, claims=self._claims)
            self._pool = ctx.Pool(self.workers, initializer=_worker_init)

    def begin(self) -> PendingPii:
        """An empty batch to which chunks are added with ``add`` as records arrive."""
        return PendingPii(size=0)

    def add(self, pending: PendingPii, records: Sequence[dict[str, Any]]) -> None:
        """Queue ``records`` (at most one chunk's worth) to the worker as the next chunk of
        ``pending``: records are sent as they are read, so the worker never idles while a batch
        fills, and little is left for it once the input ends."""
        chunk = _Chunk(slot=self._next_slot, start=pending.size, records=list(records))
        self._next_slot = (self._next_slot + 1) % _RING
        if self._pool is not None:
            self._claims[chunk.slot] = _FREE
            chunk.future = self._pool.apply_async(_worker_chunk, (chunk.slot, _payload(chunk.records)))
        pending.chunks.append(chunk)
        pending.size += len(chunk.records)

    def submit(self, records: Sequence[dict[str, Any]]) -> PendingPii:
        pending = self.begin()
        for start in range(0, len(records), self.chunk_size):
            self.add(pending, records[start : start + self.chunk_size])
        return pending

    def discard(self, pending: PendingPii) -> None:
        """Results of ``pending`` are not wanted (every record was analysed before): claim its
        chunks so the worker skips the ones it has not started."""
        for chunk in pending.chunks:
            if chunk.future is not None:
                _claim(self._claims, chunk.slot)

    def collect(self, pending: PendingPii) -> list[Result]:
        results: list[Result | None] = [None] * pending.size
        waiting: list[_Chunk] = []
        # Without a detector of our own, stealing first costs loading one (over a second of CPU,
        # about what the worker needs for a few thousand exchanges): worth it only once we have
        # spent longer than that waiting for the worker, i.e. on big inputs the worker trails.
        steal = self.detector is not None or self.waited > _STEAL_AFTER_WAITING_S
        # Steal from the end: the worker works from the front, so we meet in the middle.
        for chunk in reversed(pending.chunks):
            if chunk.future is None or (steal and _claim(self._claims, chunk.slot)):
                self._run_local(chunk, results)
            else:
                waiting.append(chunk)
        for chunk in reversed(waiting):
            started = time.perf_counter()
            try:
                out = chunk.future.get(timeout=_WORKER_TIMEOUT_S)
            except Exception:  # noqa: BLE001 - worker died or hung: do the chunk here
                out = None
            self.waited += time.perf_counter() - started
            if out is None:  # the worker lost it (died or hung): results must not be missing
                self._run_local(chunk, results)
            else:
                results[chunk.start : chunk.start + len(out)] = out
        return [r if r is not None else [] for r in results]

    def _run_local(self, chunk: _Chunk, results: list[Result | None]) -> None:
        if self.detector is None and self._factory_error is None:
            try:
                self.detector = self.factory()
            except Exception as exc:  # noqa: BLE001 - reported per exchange, the run goes on
                self._factory_error = f"PII detector unavailable: {type(exc).__name__}: {exc}"
        if self._factory_error is not None:
            results[chunk.start : chunk.start + len(chunk.records)] = [self._factory_error] * len(
                chunk.records
            )
            return
        detector = self.detector
        results[chunk.start : chunk.start + len(chunk.records)] = detect_chunk(detector, chunk.records)

    def close(self) -> None:
        """Stop the worker. Every submitted batch has been collected by now, so whatever it is
        still doing (loading the detector, skipping chunks we stole) is of no use: terminate."""
        if self._pool is not None:
            self._pool.terminate()
            self._pool.join()
            self._pool = None


def _default_detector() -> Any:
    # Imported on first use only: presidio costs over a second of start-up.
    from analyzer.pii import default_detector

    return default_detector()


def start_pii(settings: AnalyzerSettings, *, detector: Any = None, engine: Any = None) -> PiiScheduler:
    """The PII scheduler and its forked worker. Start it as early as possible: this module
    imports only the standard library, so the fork can precede SQLAlchemy and presidio."""
    workers = default_workers() if settings.pii_workers is None else settings.pii_workers
    return PiiScheduler(factory=_default_detector, detector=detector, workers=workers, engine=engine)


def default_workers() -> int:
    """One helper process when there is a second core to run it on."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:
        cpus = os.cpu_count() or 1
    return 1 if cpus > 1 else 0
