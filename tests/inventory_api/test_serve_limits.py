"""`apicensus serve` under slow clients (issue 14): head and body deadlines, a connection cap."""

from __future__ import annotations

import socket
import time

import httpx

from tests.inventory_api.conftest import auth, serving


def _connect(base: str) -> socket.socket:
    host, port = base.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=5)


def _closed(sock: socket.socket, within: float) -> bool:
    """True when the server closes (EOF or reset) within ``within`` seconds."""
    sock.settimeout(within)
    try:
        while sock.recv(4096):
            pass
        return True
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def test_slow_heads_are_cut_at_the_head_deadline_and_connections_are_capped(
    pg_url: str, keys: dict[str, str]
) -> None:
    with serving(pg_url, "--head-timeout", "1.5", "--body-timeout", "1.5", "--max-connections", "50") as (base, _p):
        slow = []
        for _ in range(300):
            try:
                sock = _connect(base)
                sock.sendall(b"GET /api/v1/services HTTP/1.1\r\nHost: x\r\n")  # never finished
                slow.append(sock)
            except OSError:
                pass
        # Past the cap, new connections are answered 503 and closed at once.
        extra = _connect(base)
        extra.settimeout(5)
        assert extra.recv(4096).startswith(b"HTTP/1.1 503")
        # A head that trickles in a byte at a time still meets its deadline.
        time.sleep(2.5)
        assert all(_closed(sock, 0.5) for sock in slow)
        for sock in slow:
            sock.close()
        trickle = _connect(base)
        started = time.monotonic()
        closed = False
        for byte in b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100:
            try:
                trickle.sendall(bytes([byte]))
            except OSError:
                closed = True
                break
            if _closed(trickle, 0.2):
                closed = True
                break
        assert closed and time.monotonic() - started < 4
        # A body that stops arriving is cut at the body timeout.
        body = _connect(base)
        body.sendall(b"POST /api/v1/ingest HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n"
                     + f"Authorization: Bearer {keys['sensor']}\r\n\r\n".encode() + b"{")
        assert _closed(body, 4)
        # The service still answers.
        assert httpx.get(f"{base}/api/v1/services", headers=auth(keys["viewer"]), timeout=5).status_code == 200


def test_a_keep_alive_connection_serves_many_requests(pg_url: str, keys: dict[str, str]) -> None:
    with serving(pg_url, "--head-timeout", "1", "--workers", "2") as (base, _p), httpx.Client(base_url=base) as http:
        for _ in range(5):
            assert http.get("/api/v1/services", headers=auth(keys["viewer"])).status_code == 200
            time.sleep(0.4)  # between requests the keep-alive timer applies, not the head deadline
        assert http.get("/health").json()["status"] == "ok"
