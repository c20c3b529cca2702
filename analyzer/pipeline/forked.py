"""Forked helper processes of the batch pipeline, on the second core beside the main process.

PII detection (:mod:`analyzer.pipeline.pii`, a pool whose chunks the main process may steal)
and threat detection (:mod:`analyzer.pipeline.detect_worker`, one process answering batches in
order) share what a forked helper needs: fork only, so the child inherits what the parent
already holds (a loaded detector, the detection state read under the inventory lock) instead
of having it pickled; the parent's pooled database connections forgotten in the child without
closing the sockets the parent still uses; Ctrl-C left to the parent. :class:`ForkedWorker` is
the request/answer process: bounded waits, and a dead child is seen as the pipe's end of file,
never as a hang. Standard library only: ``pii`` forks before SQLAlchemy is imported.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

_JOIN_TIMEOUT_S = 5.0
_ORPHAN_CHECK_S = 5.0


def fork_context() -> Any | None:
    """The ``fork`` start method, or None where there is none (callers then stay in-process)."""
    if "fork" not in multiprocessing.get_all_start_methods():
        return None
    return multiprocessing.get_context("fork")


def init_child(engine: Any = None) -> None:
    """First thing in a forked helper: the SQLAlchemy ``engine``'s pooled connections, copied by
    fork, dropped without closing the parent's sockets; SIGINT ignored (the parent handles it)."""
    if engine is not None:
        engine.dispose(close=False)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class WorkerGone(RuntimeError):
    """The helper process died, closed its pipe or did not answer in time."""


def _child_main(serve: Callable[[Connection], None], conn: Connection, parent_end: Connection, engine: Any) -> None:
    # Without the parent's end open here, the parent's exit is this pipe's end of file.
    parent_end.close()
    init_child(engine)
    serve(conn)


def request_from_parent(conn: Connection) -> bytes | None:
    """In the child: the next request, or None once the parent has gone (the pipe's end of
    file; or, should a later fork of the parent still hold the pipe open, the child reparented)."""
    parent = os.getppid()
    try:
        while not conn.poll(_ORPHAN_CHECK_S):
            if os.getppid() != parent:
                return None
        return conn.recv_bytes()
    except (EOFError, OSError):
        return None


class ForkedWorker:
    """One forked process that ``serve``s requests from a duplex pipe, answering in order.

    The caller keeps requests and answers alternating (send one, receive its answer, send the
    next), so neither side ever blocks writing while the other is blocked writing too."""

    def __init__(self, name: str, serve: Callable[[Connection], None], *, engine: Any = None) -> None:
        ctx = fork_context()
        if ctx is None:
            raise WorkerGone(f"{name}: no fork start method on this platform")
        self.name = name
        parent, child = ctx.Pipe(duplex=True)
        self._process = ctx.Process(target=_child_main, args=(serve, child, parent, engine), name=name, daemon=True)
        self._process.start()
        child.close()  # the child's exit is then our end of file
        self._conn: Connection | None = parent

    @property
    def pid(self) -> int | None:
        pid: int | None = self._process.pid
        return pid

    def send(self, data: bytes) -> None:
        conn = self._live()
        try:
            conn.send_bytes(data)
        except OSError as exc:  # BrokenPipeError: it died before reading
            raise WorkerGone(f"{self.name} exited ({self._exit_text()}): {exc}") from exc

    def receive(self, timeout: float) -> bytes:
        conn = self._live()
        try:
            if not conn.poll(timeout):
                raise WorkerGone(f"{self.name} did not answer within {timeout:.0f} s")
            return conn.recv_bytes()
        except (EOFError, OSError) as exc:
            raise WorkerGone(f"{self.name} exited ({self._exit_text()})") from exc

    def close(self, *, abandon: bool = False) -> None:
        """Closing the pipe ends a child waiting for a request; one still busy after a few
        seconds, or at once when its answer is not wanted (``abandon``), is terminated."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if not abandon:
            self._process.join(_JOIN_TIMEOUT_S)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(_JOIN_TIMEOUT_S)

    def _live(self) -> Connection:
        if self._conn is None:
            raise WorkerGone(f"{self.name} is closed")
        return self._conn

    def _exit_text(self) -> str:
        self._process.join(0.5)
        code = self._process.exitcode
        if code is None:
            return "pipe closed"
        return f"killed by signal {-code}" if code < 0 else f"exit code {code}"
