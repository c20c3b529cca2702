"""Shared ingestion in a child process, for the inventory service's ``POST /api/v1/ingest``.

Decoding a batch, PII detection and the locked write are CPU work: in the service's own process
they would share the GIL (and the thread pool) with every read, and a burst of ingest would slow
the catalog for everyone. :class:`IngestProcess` runs one :class:`analyzer.ingest.SharedIngestor`
in a spawned child instead; the service sends it the batch's bytes as received and gets back an
:class:`IngestOutcome` (plain data: no exception crosses the process boundary). The child is
started on first use and again after it died (the batch in flight is then answered "unavailable",
which a sensor retries).

The child may run at a lower CPU priority (``niceness``, added to the service's;
``ApiSettings.ingest_niceness``, 0 by default): on a machine short of cores the kernel then gives
the readers the CPU first and ingest the rest, so ingest slows while reads are busy (a sensor
spools meanwhile). Measured on 2 shared cores with 20 readers: at 10, one 500-record batch in 10 s
instead of seven; a trade-off for the operator, not a default.
"""

from __future__ import annotations

import concurrent.futures
import logging
import multiprocessing
import threading
from dataclasses import dataclass
from typing import Any, Literal

from analyzer.ingest import IngestResult

Kind = Literal["ok", "too_large", "unreadable", "data_error", "unavailable"]


@dataclass(frozen=True, slots=True)
class IngestOutcome:
    kind: Kind
    detail: str = ""
    received: int = 0
    result: IngestResult | None = None


_state: dict[str, Any] = {}


def _start(database_url: str, niceness: int = 0) -> None:
    """In the child: one engine and one ingestor for its lifetime."""
    import contextlib
    import os
    import signal

    if niceness > 0:
        # Inherited by the PII helper it forks; refused by the platform: the service's priority.
        with contextlib.suppress(OSError):
            os.nice(niceness)

    from analyzer.db.session import make_engine
    from analyzer.db.settings import AnalyzerSettings
    from analyzer.ingest import SharedIngestor

    # The service stops the child (close()); a Ctrl-C of the terminal reaches the service first.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from sensor.plumbing.obs import setup_logging

    setup_logging("inventory-ingest", level="warning")  # JSON lines on the service's stderr
    engine = make_engine(database_url, pool_pre_ping=True)
    _state["ingestor"] = SharedIngestor(engine, AnalyzerSettings.from_env(database_url=database_url))


def _reason(exc: BaseException) -> str:
    from analyzer.db.session import error_reason

    return error_reason(exc)[:300]


def _ingest(data: bytes, limit: int, max_records: int) -> IngestOutcome:
    from sqlalchemy.exc import DataError, SQLAlchemyError

    from sensor.plumbing import wire

    try:
        records = wire.decode_batch(data, limit=limit, max_records=max_records)
    except wire.BatchTooLarge as exc:
        return IngestOutcome("too_large", str(exc))
    except wire.BatchFormatError as exc:
        return IngestOutcome("unreadable", str(exc))
    try:
        result = _state["ingestor"].ingest(records)
    except DataError as exc:
        return IngestOutcome("data_error", _reason(exc), received=len(records))
    except SQLAlchemyError as exc:
        return IngestOutcome("unavailable", _reason(exc), received=len(records))
    except MemoryError:
        return IngestOutcome("unavailable", "out of memory", received=len(records))
    except Exception as exc:  # noqa: BLE001 - a record the analyzer cannot read is the batch's fault
        # A bug, logged with its traceback; the batch is rejected whole (its transaction rolled
        # back) with a 400 rather than escaping as a 500 the sender would retry forever.
        logging.getLogger("apicensus.ingest").error("batch rejected: a record could not be analysed", exc_info=True)
        return IngestOutcome("data_error", f"a record could not be analysed ({type(exc).__name__})",
                             received=len(records))
    return IngestOutcome("ok", received=len(records), result=result)


def _recompute_verdicts() -> IngestOutcome:
    from sqlalchemy.exc import SQLAlchemyError

    try:
        _state["ingestor"].recompute_verdicts()
    except SQLAlchemyError as exc:
        return IngestOutcome("unavailable", _reason(exc))
    return IngestOutcome("ok")


def _consolidate() -> IngestOutcome:
    from sqlalchemy.exc import SQLAlchemyError

    try:
        _state["ingestor"].consolidate()
    except SQLAlchemyError as exc:
        return IngestOutcome("unavailable", _reason(exc))
    return IngestOutcome("ok")


class IngestProcess:
    """One child process ingesting batches for this service process. Thread-safe."""

    def __init__(self, database_url: str, *, niceness: int = 0) -> None:
        self.database_url = database_url
        self.niceness = niceness
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def _executor(self) -> concurrent.futures.ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = concurrent.futures.ProcessPoolExecutor(
                    max_workers=1,
                    mp_context=multiprocessing.get_context("spawn"),
                    initializer=_start,
                    initargs=(self.database_url, self.niceness),
                )
            return self._pool

    def _call(self, func: Any, *args: Any) -> IngestOutcome:
        try:
            outcome: IngestOutcome = self._executor().submit(func, *args).result()
        except concurrent.futures.process.BrokenProcessPool as exc:
            with self._lock:  # the child died (killed, out of memory): a new one next time
                if self._pool is not None:
                    self._pool.shutdown(wait=False, cancel_futures=True)
                self._pool = None
            return IngestOutcome("unavailable", f"ingest process died: {exc}")
        return outcome

    def ingest(self, data: bytes, *, limit: int, max_records: int) -> IngestOutcome:
        """Decode and ingest one batch as received (compressed or not); blocks until done."""
        return self._call(_ingest, data, limit, max_records)

    def recompute_verdicts(self) -> IngestOutcome:
        return self._call(_recompute_verdicts)

    def consolidate(self) -> IngestOutcome:
        """Ingest went idle: the inventory ends consolidated (``SharedIngestor.consolidate``)."""
        return self._call(_consolidate)

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
