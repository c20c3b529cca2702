"""A network-namespace lab for live-capture tests, and the small programs they run in it.

``netns_pair()`` builds two network namespaces joined by a veth pair (client side and server
side, addresses in a private /30) and always removes them again; ``start_api_server`` runs a real
HTTP/1.1 JSON API in the server namespace. Everything that runs inside a namespace is a separate
process started through ``ip netns exec``, including this module's programs:

    python -m tests.netns serve --bind IP --port PORT        the JSON API (prints "ready")
    python -m tests.netns client --base http://IP:PORT       a fixed mix of requests (prints JSON)
    python -m tests.netns capture --interface IF --workers N --output OUT.jsonl
                                                             sensor.live.capture_workers, counters
                                                             as JSON lines on stdout
    python -m tests.netns inject --interface IF FILE.pcap     send a capture's frames out of IF

Run them with the repository as the working directory (``REPO``).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO, Any

REPO = Path(__file__).resolve().parents[1]
# Namespaces are named apct-<pid>-<random>-cli/srv: unique per run, and a run killed before its
# cleanup can be recognised (its pid is gone) and cleaned up by the next one.
PREFIX = "apct-"
SERVER_IP, CLIENT_IP, PREFIX_LEN = "10.231.7.1", "10.231.7.2", 30
API_PORT = 8080


@dataclass(frozen=True)
class NetnsPair:
    client_ns: str
    server_ns: str
    client_if: str  # the veth end inside client_ns
    server_if: str  # the veth end inside server_ns
    client_ip: str
    server_ip: str

    def argv(self, ns: str, *cmd: str) -> list[str]:
        """``cmd`` run inside namespace ``ns``."""
        return ["ip", "netns", "exec", ns, *cmd]

    def python(self, ns: str, *args: str) -> list[str]:
        return self.argv(ns, sys.executable, *args)


def _ip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=20)


def _check(result: subprocess.CompletedProcess[str]) -> None:
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, result.args))}: {result.stderr.strip()}")


def skip_reason() -> str | None:
    """Why the namespace tests cannot run here, or None."""
    if os.geteuid() != 0:
        return "network namespaces and AF_PACKET capture need root"
    if shutil.which("ip") is None:
        return "iproute2 (the ip command) is not installed"
    probe = f"{PREFIX}{os.getpid()}-probe"
    result = _ip("netns", "add", probe)
    if result.returncode != 0:
        return f"cannot create a network namespace here: {result.stderr.strip()}"
    _ip("netns", "del", probe)
    return None


def _remove_stale() -> None:
    """Namespaces left by lab runs whose process is gone (killed before cleanup)."""
    result = _ip("netns", "list")
    for line in result.stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        match = re.fullmatch(rf"{PREFIX}(\d+)-.*", name)
        if match and not Path(f"/proc/{match.group(1)}").exists():
            _ip("netns", "del", name)


@contextmanager
def netns_pair() -> Iterator[NetnsPair]:
    """Two fresh namespaces and a veth pair between them, removed on exit whatever happened.

    Deleting a namespace destroys the veth end in it and with it the pair."""
    _remove_stale()
    token = f"{os.getpid()}-{secrets.token_hex(3)}"
    veth = secrets.token_hex(3)  # interface names are limited to 15 characters
    pair = NetnsPair(f"{PREFIX}{token}-cli", f"{PREFIX}{token}-srv", f"apc{veth}c", f"apc{veth}s",
                     CLIENT_IP, SERVER_IP)
    try:
        for ns in (pair.client_ns, pair.server_ns):
            _check(_ip("netns", "add", ns))
            _check(_ip("-n", ns, "link", "set", "lo", "up"))
        _check(_ip("link", "add", pair.client_if, "netns", pair.client_ns, "type", "veth",
                   "peer", "name", pair.server_if, "netns", pair.server_ns))
        for ns, ifname, addr in ((pair.client_ns, pair.client_if, pair.client_ip),
                                 (pair.server_ns, pair.server_if, pair.server_ip)):
            _check(_ip("-n", ns, "addr", "add", f"{addr}/{PREFIX_LEN}", "dev", ifname))
            _check(_ip("-n", ns, "link", "set", ifname, "up"))
        yield pair
    finally:
        for ns in (pair.client_ns, pair.server_ns):
            _ip("netns", "del", ns)


class Lines:
    """Every line a child writes to one of its pipes, read by a thread so the pipe never fills
    and a test can wait for a given line while the child runs."""

    def __init__(self, stream: IO[str] | None) -> None:
        assert stream is not None
        self.lines: list[str] = []
        self.eof = False
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            with self._cond:
                self.lines.append(line)
                self._cond.notify_all()
        with self._cond:
            self.eof = True
            self._cond.notify_all()

    def wait_for(self, want: Callable[[str], bool], timeout: float) -> str | None:
        """The first line ``want`` accepts; None at EOF or after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        seen = 0
        with self._cond:
            while True:
                for line in self.lines[seen:]:
                    if want(line):
                        return line
                seen = len(self.lines)
                left = deadline - time.monotonic()
                if self.eof or left <= 0:
                    return None
                self._cond.wait(left)

    def text(self, timeout: float = 10) -> str:
        """Everything, once the child closed the pipe."""
        self._thread.join(timeout)
        with self._cond:
            return "".join(self.lines)


@dataclass(frozen=True)
class ApiLab:
    pair: NetnsPair
    base_url: str
    host: str  # what clients send as Host and the inventory lists: ip:port


@contextmanager
def start_api_server(pair: NetnsPair, port: int = API_PORT) -> Iterator[str]:
    """The JSON API in the server namespace; yields its base URL. Stopped on exit."""
    proc = subprocess.Popen(pair.python(pair.server_ns, "-m", "tests.netns", "serve", "--bind", pair.server_ip,
                                        "--port", str(port)),
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = Lines(proc.stdout), Lines(proc.stderr)
        if out.wait_for(lambda line: line.strip() == "ready", timeout=20) is None:
            stop(proc)
            raise RuntimeError(f"API server did not start: {err.text()}")
        yield f"http://{pair.server_ip}:{port}"
    finally:
        stop(proc)


@contextmanager
def api_lab(port: int = API_PORT) -> Iterator[ApiLab]:
    """``netns_pair`` with the JSON API running in its server namespace."""
    with netns_pair() as pair, start_api_server(pair, port) as base_url:
        yield ApiLab(pair, base_url, f"{pair.server_ip}:{port}")


def stop(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 30) -> None:
    if proc.poll() is None:
        with suppress(ProcessLookupError):
            proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# -- the JSON API ---------------------------------------------------------------------------------


class ApiHandler(BaseHTTPRequestHandler):
    """A small item store: GET/POST /items, GET/DELETE /items/{id}, GET /users/{id}/orders."""

    protocol_version = "HTTP/1.1"  # keep-alive unless the client says close
    items: dict[int, dict[str, Any]] = {i: {"id": i, "name": f"item {i}", "price": i * 1.5} for i in range(1, 1000)}
    lock = threading.Lock()

    def _send(self, status: int, payload: Any = None) -> None:
        body = b"" if payload is None else json.dumps(payload).encode()
        self.send_response(status)
        if payload is not None:
            self.send_header("Content-Type", "application/json")
        if status != 204:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 - http.server API
        path = self.path.split("?", 1)[0]
        if path == "/items":
            with self.lock:
                self._send(200, {"items": list(self.items.values())[:5], "total": len(self.items)})
        elif match := re.fullmatch(r"/items/(\d+)", path):
            with self.lock:
                item = self.items.get(int(match.group(1)))
            self._send(200, item) if item else self._send(404, {"error": "no such item"})
        elif match := re.fullmatch(r"/users/(\d+)/orders", path):
            user = int(match.group(1))
            self._send(200, {"user": user, "orders": [{"order_id": user * 100 + k, "total": k} for k in range(3)]})
        else:
            self._send(404, {"error": "not found"})

    def do_POST(self) -> None:  # noqa: N802 - http.server API
        length = int(self.headers.get("Content-Length") or 0)
        try:
            data = json.loads(self.rfile.read(length) or b"null")
        except ValueError:
            self._send(400, {"error": "body is not JSON"})
            return
        if self.path != "/items" or not isinstance(data, dict):
            self._send(400, {"error": "POST /items with a JSON object"})
            return
        with self.lock:
            new_id = max(self.items) + 1
            self.items[new_id] = {"id": new_id, **data}
            self._send(201, self.items[new_id])

    def do_DELETE(self) -> None:  # noqa: N802 - http.server API
        match = re.fullmatch(r"/items/(\d+)", self.path)
        with self.lock:
            found = match is not None and self.items.pop(int(match.group(1)), None) is not None
        self._send(204) if found else self._send(404, {"error": "no such item"})

    def log_message(self, *args: object) -> None:
        pass


def serve(bind: str, port: int) -> None:
    server = ThreadingHTTPServer((bind, port), ApiHandler)
    server.daemon_threads = True
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    print("ready", flush=True)
    server.serve_forever()


# -- the client -----------------------------------------------------------------------------------


def run_client(base: str, new_connections: int = 24, keepalive_connections: int = 4) -> list[dict[str, Any]]:
    """A fixed mix of requests; returns one entry per exchange: method, target, status, connection.

    ``new_connections`` GETs and a quarter as many POSTs each on a connection of its own (urllib
    closes after each), then ``keepalive_connections`` connections each carrying five requests
    (GET, POST with a JSON body, GET with a query, DELETE, GET of the deleted item = 404).
    """
    done: list[dict[str, Any]] = []
    for i in range(1, new_connections + 1):
        target = f"/items/{i}"
        with urllib.request.urlopen(base + target, timeout=10) as resp:
            resp.read()
            done.append({"method": "GET", "target": target, "status": resp.status, "connection": "new"})
    for i in range(max(1, new_connections // 4)):
        body = json.dumps({"name": f"new {i}", "price": i, "tags": ["a", "b"]}).encode()
        request = urllib.request.Request(base + "/items", data=body, method="POST",
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as resp:
            resp.read()
            done.append({"method": "POST", "target": "/items", "status": resp.status, "connection": "new"})
    host, port = base.split("://", 1)[1].rsplit(":", 1)
    for k in range(keepalive_connections):
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        item = 500 + k
        steps: list[tuple[str, str, bytes | None]] = [
            ("GET", f"/items/{item}", None),
            ("POST", "/items", json.dumps({"name": f"keepalive {k}", "price": k + 0.5}).encode()),
            ("GET", f"/users/{k + 1}/orders?limit=3", None),
            ("DELETE", f"/items/{item}", None),
            ("GET", f"/items/{item}", None),
        ]
        for method, target, body in steps:
            headers = {"Content-Type": "application/json"} if body is not None else {}
            conn.request(method, target, body=body, headers=headers)
            resp = conn.getresponse()
            resp.read()
            done.append({"method": method, "target": target, "status": resp.status, "connection": f"keepalive-{k}"})
        conn.close()
    return done


# -- crafted frames ------------------------------------------------------------------------------


def write_crafted_capture(path: str | os.PathLike[str], connections: int = 16) -> None:
    """A pcap of one-exchange HTTP connections, in turn untagged, 802.1Q (VLAN 100), QinQ
    (200, 300) and untagged with the request and the response each sent as three IPv4
    fragments: frames to send through a veth as a trunk or mirror port would carry them."""
    from devtools.synth import PcapWriter, TcpFlow

    kinds: list[tuple[tuple[int, ...], bool]] = [((), False), ((100,), False), ((200, 300), False), ((), True)]
    ts = time.time()
    with PcapWriter(path) as writer:
        for i in range(connections):
            vlan, fragmented = kinds[i % len(kinds)]
            flow = TcpFlow((f"10.9.0.{i + 1}", 40000 + i), ("10.9.1.1", 80), client_isn=1000 * i,
                           server_isn=77 + i, vlan=vlan)
            request = f"GET /crafted/{i} HTTP/1.1\r\nHost: crafted.example\r\n\r\n".encode()
            response = b"HTTP/1.1 200 OK\r\nContent-Length: 16\r\n\r\n" + b"0123456789abcdef"
            frames = [flow.syn(), flow.syn_ack(), flow.ack(True)]
            for from_client, payload in ((True, request), (False, response)):
                frame = flow.data(from_client, 0, payload, psh=True)
                flow.advance(from_client, len(payload))
                # Cut inside the TCP payload: only the first fragment has the ports.
                frames += flow.fragment(from_client, frame, [16, 40]) if fragmented else [frame]
                frames.append(flow.ack(not from_client))
            frames += [flow.fin(True), flow.fin(False), flow.ack(True)]
            for frame in frames:
                ts += 0.0001
                writer.write(ts, frame)


def inject(interface: str, path: str) -> int:
    """Send every frame of a capture out of ``interface`` as it is (AF_PACKET); prints the count."""
    import socket

    from sensor import pcapio

    with open(path, "rb") as f:
        frames = [frame for _, _, frame in pcapio.open_capture(f)]
    with socket.socket(socket.AF_PACKET, socket.SOCK_RAW) as sock:
        sock.bind((interface, 0))
        for frame in frames:
            sock.send(frame)
    print(len(frames))
    return 0


# -- the multi-worker capture -------------------------------------------------------------------------


def run_capture(interface: str, workers: int, output: str, bpf: str = "", duration: float | None = None) -> int:
    """``capture_workers`` with records to ``output`` (JSON lines) and every counters report as a
    JSON line ``{"stats": ...}`` on stdout, ``{"final": ...}`` last (what a CLI would do)."""
    import orjson

    from sensor.config import SensorConfig
    from sensor.live import LiveCaptureError, capture_workers

    with open(output, "wb") as out:
        def on_stats(stats: dict) -> None:
            print(json.dumps({"stats": stats}), flush=True)

        try:
            totals = capture_workers(interface, workers=workers, config=SensorConfig(), bpf=bpf,
                                     duration=duration, stats_interval=1.0,
                                     on_record=lambda record: out.write(orjson.dumps(record) + b"\n"),
                                     on_stats=on_stats)
        except LiveCaptureError as exc:
            print(f"capture: {exc}", file=sys.stderr)
            return 2
    print(json.dumps({"final": totals}), flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.netns")
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve")
    s.add_argument("--bind", required=True)
    s.add_argument("--port", type=int, default=API_PORT)
    c = sub.add_parser("client")
    c.add_argument("--base", required=True)
    c.add_argument("--new", type=int, default=24)
    c.add_argument("--keepalive", type=int, default=4)
    p = sub.add_parser("capture")
    p.add_argument("--interface", required=True)
    p.add_argument("--workers", type=int, required=True)
    p.add_argument("--output", required=True)
    p.add_argument("--bpf", default="")
    p.add_argument("--duration", type=float, default=None)
    i = sub.add_parser("inject")
    i.add_argument("--interface", required=True)
    i.add_argument("capture")
    args = parser.parse_args(argv)
    if args.command == "serve":
        serve(args.bind, args.port)
        return 0
    if args.command == "client":
        print(json.dumps(run_client(args.base, args.new, args.keepalive)))
        return 0
    if args.command == "inject":
        return inject(args.interface, args.capture)
    return run_capture(args.interface, args.workers, args.output, args.bpf, args.duration)


if __name__ == "__main__":
    sys.exit(main())
