"""``apicensus serve``'s HTTP server: uvicorn with read deadlines, a connection cap and workers.

uvicorn alone keeps a connection whose request head never completes for ever (its keep-alive
timer stops at the first byte), and accepts connections without bound: 300 slow-read heads held
300 connections. :class:`BoundedH11Protocol` is uvicorn's h11 protocol plus

- a head deadline: a request head (request line and headers) must be complete within
  ``head_timeout`` seconds of its first byte (of the connection, for the first request), however
  slowly it trickles in;
- a body idle timeout: while a body is being received, ``body_timeout`` seconds without a byte
  closes the connection;
- a connection cap per worker process: past ``max_connections`` open connections a new one gets
  ``503`` and is closed at once;
- a malformed request met while the application runs is answered 400 alone (the application's
  answer dropped), not a second response h11 refuses.

Settings come from the environment (:meth:`ApiSettings.from_env`) in every worker process:
``serve`` exports them before uvicorn starts its workers.
"""

from __future__ import annotations

import asyncio
import os
import socket
from functools import cache
from typing import Any

import h11
from fastapi import FastAPI
from uvicorn.protocols.http.h11_impl import H11Protocol

from inventory_api.settings import ApiSettings

_REFUSED_BODY = b'{"detail": "too many connections, retry later"}'
_REFUSED = (
    b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nconnection: close\r\n"
    b"retry-after: 1\r\ncontent-length: %d\r\n\r\n%s" % (len(_REFUSED_BODY), _REFUSED_BODY)
)


@cache
def _limits() -> tuple[float, float, int]:
    settings = ApiSettings.from_env()
    return settings.head_timeout, settings.body_timeout, settings.max_connections


class BoundedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a head deadline, a body idle timeout and a connection cap."""

    _deadline: asyncio.TimerHandle | None = None
    _deadline_kind: str = ""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        head_timeout, _body_timeout, max_connections = _limits()
        over = len(self.connections) >= max_connections
        super().connection_made(transport)
        if over:
            transport.write(_REFUSED)
            transport.close()
            return
        self._arm("head", head_timeout)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._follow()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def send_400_response(self, msg: str) -> None:
        """uvicorn answers a malformed request (say, a bad chunk in a body the route never reads)
        with 400 even while the application is still running; the application's own answer then
        met h11 in MUST_CLOSE and was logged as "Exception in ASGI application" (LocalProtocolError,
        found by bench/fuzz_ingest.py). The 400 is the answer: the application's is dropped."""
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            cycle.disconnected = True  # its sends are dropped, its receive() reads a disconnect
            cycle.message_event.set()
            if cycle.response_started:  # part of its answer is out: a 400 cannot follow it
                self.transport.close()
                return
        super().send_400_response(msg)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        # Between requests uvicorn's keep-alive timer runs; the next head's deadline starts with
        # its first byte (data_received).
        if self._deadline_kind != "head" or self.conn.their_state is not h11.IDLE:
            self._disarm()

    def _follow(self) -> None:
        """Deadlines after each read, by where the request stands."""
        if self.transport.is_closing():
            self._disarm()
            return
        head_timeout, body_timeout, _cap = _limits()
        state = self.conn.their_state
        if state is h11.IDLE:
            if self._deadline_kind != "head":  # the first bytes of a head: its deadline starts
                self._arm("head", head_timeout)
        elif state is h11.SEND_BODY:
            self._arm("body", body_timeout)  # idle timeout: restarted by every read
        else:  # the request is in: the application's turn
            self._disarm()

    def _arm(self, kind: str, seconds: float) -> None:
        self._disarm()
        self._deadline_kind = kind
        self._deadline = self.loop.call_later(seconds, self._expire)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        self._deadline = None
        self._deadline_kind = ""

    def _expire(self) -> None:
        kind, self._deadline, self._deadline_kind = self._deadline_kind, None, ""
        if self.transport.is_closing():
            return
        if kind == "head" and self.conn.their_state is h11.IDLE and self.cycle is None:
            self.logger.info("request head timed out: connection closed")
        else:
            self.logger.info("request %s timed out: connection closed", kind)
        self.transport.close()


def create_app_from_env() -> FastAPI:
    """The application factory each worker process calls."""
    from inventory_api.app import create_app

    return create_app(ApiSettings.from_env())


def export(settings: ApiSettings) -> None:
    """``settings`` into this process's environment, where worker processes read them."""
    os.environ.update(settings.to_env())


def _listening_socket(host: str, port: int, *, reuse_port: bool) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        # One socket per worker on the same port: the kernel spreads connections over them (a
        # shared socket hands most of them to whichever worker wakes first).
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _serve(log_level: str, *, reuse_port: bool) -> None:
    """One server process: uvicorn with the bounded protocol, on its own socket."""
    import uvicorn

    from sensor.plumbing.obs import setup_logging

    setup_logging("inventory", level=log_level)
    settings = ApiSettings.from_env()
    config = uvicorn.Config(
        "inventory_api.server:create_app_from_env",
        factory=True,
        host=settings.host,
        port=settings.port,
        log_level=log_level,
        log_config=None,
        http=BoundedH11Protocol,
        timeout_keep_alive=5,
        timeout_graceful_shutdown=10,
    )
    server = uvicorn.Server(config)
    server.run(sockets=[_listening_socket(settings.host, settings.port, reuse_port=reuse_port)])


def _worker_main(log_level: str) -> None:
    _serve(log_level, reuse_port=True)


def run(settings: ApiSettings, *, log_level: str) -> None:
    """Serve until SIGTERM/SIGINT: in this process, or in ``settings.workers`` processes (each
    restarted if it dies; SIGTERM is passed on and each drains its connections)."""
    export(settings)
    # One alert delivery worker across the processes (a lease in the database decides which).
    os.environ.setdefault("APICENSUS_ALERT_WORKER", "1")
    _limits.cache_clear()
    if settings.workers == 1:
        _serve(log_level, reuse_port=False)
        return
    import multiprocessing
    import signal
    import time

    context = multiprocessing.get_context("spawn")
    stopping = False

    def start() -> Any:
        process = context.Process(target=_worker_main, args=(log_level,), daemon=False)
        process.start()
        return process

    def stop(signum: int, _frame: Any) -> None:
        nonlocal stopping
        stopping = True
        for process in workers:
            if process.is_alive() and process.pid is not None:
                os.kill(process.pid, signal.SIGTERM)

    workers = [start() for _ in range(settings.workers)]
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while not stopping:
        time.sleep(0.5)
        for i, process in enumerate(workers):
            if not stopping and not process.is_alive():
                workers[i] = start()
    for process in workers:
        process.join(timeout=30)
        if process.is_alive():
            process.kill()
            process.join()
