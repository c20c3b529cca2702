"""PII detection for the pipeline, shared between this process and one forked worker.

PII detection costs more CPU per exchange than everything else the analyzer does, so it runs
beside it: each batch is cut into chunks queued to a worker process, and when the main process
needs a batch's results it *steals* the chunks the worker has not started yet (a shared claim
flag per chunk decides who does which), so the two cores stay busy whichever side is slower.
Results are plain tuples (type, location, field, masked sample): nothing raw leaves the detector.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

Finding = tuple[str, str, str, str | None]
# Per record: its findings, or the error message when the detector raised on it.
Result = list[Finding] | str

_RING = 1 << 16  # claim flags are reused round-robin; far more than chunks ever in flight
_FREE, _TAKEN = 0, 1
_WORKER_TIMEOUT_S = 600.0

# Set in the parent just before forking, so the worker inherits the detector (no re-import,
# no re-initialisation) and the shared claim flags.
_shared: dict[str, Any] = {}


def detect(detector: Any, record: dict[str, Any]) -> Result:
    try:
        return [
            (str(f.type), str(f.location), str(f.field or ""), None if f.sample is None else str(f.sample))
            for f in detector.detect_exchange(record)
        ]
    except Exception as exc:  # noqa: BLE001 - one odd exchange must not stop the run
        return f"{type(exc).__name__}: {exc}"


def _claim(slot: int) -> bool:
    claims = _shared["claims"]
    with claims.get_lock():
        if claims[slot] == _FREE:
            claims[slot] = _TAKEN
            return True
        return False


def _worker_init() -> None:
    # The parent's pooled DB connections were copied by fork: forget them without closing the
    # sockets the parent still uses. Ctrl-C is the parent's to handle.
    engine = _shared.get("engine")
    if engine is not None:
        engine.dispose(close=False)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _worker_chunk(slot: int, records: list[dict[str, Any]]) -> list[Result] | None:
    if not _claim(slot):
        return None  # the parent already did this chunk
    detector = _shared["detector"]
    return [detect(detector, r) for r in records]


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

    def __init__(self, detector: Any, *, workers: int, engine: Any = None, chunk_size: int = 200) -> None:
        self.detector = detector
        # fork only: the worker must inherit the loaded detector; elsewhere stay in-process.
        self.workers = workers if "fork" in multiprocessing.get_all_start_methods() else 0
        self.engine = engine
        self.chunk_size = chunk_size
        self._pool: Any = None
        self._next_slot = 0
        self.local_seconds = 0.0

    def _ensure_pool(self) -> Any:
        if self._pool is None:
            ctx = multiprocessing.get_context("fork")
            _shared.update(detector=self.detector, engine=self.engine, claims=ctx.Array("b", _RING))
            self._pool = ctx.Pool(self.workers, initializer=_worker_init)
        return self._pool

    def submit(self, records: Sequence[dict[str, Any]]) -> PendingPii:
        pending = PendingPii(size=len(records))
        use_pool = self.workers > 0 and len(records) >= 2 * self.chunk_size
        pool = self._ensure_pool() if use_pool else None
        for start in range(0, len(records), self.chunk_size):
            chunk = _Chunk(
                slot=self._next_slot, start=start, records=list(records[start : start + self.chunk_size])
            )
            self._next_slot = (self._next_slot + 1) % _RING
            if pool is not None:
                _shared["claims"][chunk.slot] = _FREE
                chunk.future = pool.apply_async(_worker_chunk, (chunk.slot, chunk.records))
            pending.chunks.append(chunk)
        return pending

    def collect(self, pending: PendingPii) -> list[Result]:
        results: list[Result | None] = [None] * pending.size
        started = time.perf_counter()
        waiting: list[_Chunk] = []
        # Steal from the end: the worker works from the front, so we meet in the middle.
        for chunk in reversed(pending.chunks):
            if chunk.future is None or _claim(chunk.slot):
                self._run_local(chunk, results)
            else:
                waiting.append(chunk)
        self.local_seconds += time.perf_counter() - started
        for chunk in reversed(waiting):
            try:
                out = chunk.future.get(timeout=_WORKER_TIMEOUT_S)
            except Exception:  # noqa: BLE001 - worker died or hung: do the chunk here
                out = None
            if out is None:  # the worker lost it (died or hung): results must not be missing
                self._run_local(chunk, results)
            else:
                results[chunk.start : chunk.start + len(out)] = out
        return [r if r is not None else [] for r in results]

    def _run_local(self, chunk: _Chunk, results: list[Result | None]) -> None:
        detector = self.detector
        results[chunk.start : chunk.start + len(chunk.records)] = [detect(detector, r) for r in chunk.records]

    def close(self, *, abort: bool = False) -> None:
        if self._pool is not None:
            if abort:
                self._pool.terminate()
            else:
                self._pool.close()
            self._pool.join()
            self._pool = None


def default_workers() -> int:
    """One helper process when there is a second core to run it on."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:
        cpus = os.cpu_count() or 1
    return 1 if cpus > 1 else 0
