"""Issue 14: SIGTERM is answered within a second, also in the middle of pathological traffic, with
the output flushed; file runs (a capture streamed on stdin) and live capture on ``lo``."""

from __future__ import annotations

import contextlib
import ctypes.util
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.netns import Lines
from tests.sensor.conftest import REPO
from tests.sensor.frames import QUIRKS, FrameFlow, pathological_stream, pcap_header, pcap_record

APICENSUS = [sys.executable, "-m", "apicensus_cli", "sensor"]


def _records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]  # every line whole JSON


def _reap(proc: subprocess.Popen, done: threading.Event) -> None:
    done.set()
    if proc.poll() is None:
        proc.kill()
    proc.wait()


def _term_and_time(proc: subprocess.Popen) -> float:
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    return time.monotonic() - started


def test_sigterm_during_a_pathological_capture_exits_within_a_second_with_output_flushed(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    proc = subprocess.Popen([*APICENSUS, "--pcap", "-", "--output", str(out), "--stats"], cwd=REPO,
                            stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    stderr = Lines(open(proc.stderr.fileno(), closefd=False))  # noqa: SIM115 - closed with proc
    done = threading.Event()
    written = [0]

    def feed() -> None:
        usec = 1_700_000_000_000_000
        try:
            pipe = proc.stdin
            pipe.write(pcap_header())
            frames: list[bytes] = []
            for i in range(10):  # finished exchanges, then one whose answer never comes
                flow = FrameFlow(44000 + i)
                frames += flow.handshake() + flow.exchange(f"/normal/{i}") + flow.close()
            waiting = FrameFlow(44100)
            frames += waiting.handshake() + [waiting.request_frame("/waiting")]
            # The crash of issue 14: one superscript digit in a status line.
            crash = FrameFlow(44200)
            frames += crash.handshake() + crash.send(True, QUIRKS.get("/superscript"))
            frames += crash.send(False, b"HTTP/1.1 2\xb20 OK\r\nContent-Length: 2\r\n\r\nok") + crash.close()
            stream = pathological_stream()
            while not done.is_set():
                batch = frames + [next(stream) for _ in range(200)]
                frames = []
                chunk = []
                for frame in batch:
                    usec += 100
                    chunk.append(pcap_record(frame, usec))
                pipe.write(b"".join(chunk))
                written[0] += len(batch)
        except (BrokenPipeError, OSError, ValueError):
            pass

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    try:
        time.sleep(3.0)  # deep in the endless pathological part
        assert proc.poll() is None, stderr.text()  # it did not crash
        assert written[0] > 10_000  # and it is consuming: the pipe would have stopped the writer
        elapsed = _term_and_time(proc)
    finally:
        _reap(proc, done)
    assert elapsed < 1.0, elapsed
    assert proc.returncode == 130, stderr.text()
    assert "Traceback" not in stderr.text()
    records = _records(out)
    targets = {r["target"]: r for r in records}
    assert all(f"/normal/{i}" in targets for i in range(10))
    assert "missing_response" in targets["/waiting"]["tags"]  # an open connection, flushed at the stop
    assert targets["/superscript"]["status"] is None and "bad_status" in targets["/superscript"]["tags"]
    assert "head_too_large" in targets["/hang"]["tags"]
    stats = json.loads(stderr.text().strip().splitlines()[-1])
    assert stats["packets"] > 5000 and not stats.get("flow_errors")


needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="AF_PACKET capture needs root or CAP_NET_RAW")
needs_libpcap = pytest.mark.skipif(ctypes.util.find_library("pcap") is None,
                                   reason="libpcap is not installed (Debian: libpcap0.8; .ci/run installs it)")


def _raw_answer_server(answer: bytes) -> tuple[socket.socket, int]:
    """A TCP server on 127.0.0.1 answering every request with ``answer`` and closing."""
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(5)
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                conn.sendall(answer)

    threading.Thread(target=serve, daemon=True).start()
    return listener, listener.getsockname()[1]


@needs_root
@needs_libpcap
def test_sigterm_during_live_capture_of_pathological_traffic(tmp_path: Path) -> None:
    from tests.sensor.test_live import Handler

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    crash_server, crash_port = _raw_answer_server(b"HTTP/1.1 2\xb20 OK\r\nContent-Length: 2\r\n\r\nok")
    out = tmp_path / "out.jsonl"
    proc = subprocess.Popen([*APICENSUS, "--interface", "lo", "--bpf", f"tcp port {port} or tcp port {crash_port}",
                             "--output", str(out)], cwd=REPO, stderr=subprocess.PIPE, text=True)
    stderr = Lines(proc.stderr)
    done = threading.Event()

    def endless_head() -> None:
        """An unterminated head, sent as fast as the server takes it, reconnecting when it gives up."""
        while not done.is_set():
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
                    sock.sendall(b"GET /endless HTTP/1.1\r\nHost: h\r\nX-Pad: ")
                    while not done.is_set():
                        sock.sendall(b"e" * 1460)
            except OSError:
                time.sleep(0.01)

    try:
        assert stderr.wait_for(lambda line: "sensor_stats" in line or "counters" in line, timeout=30), stderr.text()
        for i in range(5):
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/live/{i}", timeout=5) as resp:
                assert resp.status == 200
        with socket.create_connection(("127.0.0.1", crash_port), timeout=5) as sock:
            sock.sendall(b"GET /superscript HTTP/1.1\r\nHost: h\r\n\r\n")
            sock.recv(1024)
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(b"GET /big HTTP/1.1\r\nHost: h\r\nX-Big: " + b"b" * 190_000 + b"\r\n\r\n")
            with contextlib.suppress(OSError):
                sock.recv(1024)
        threading.Thread(target=endless_head, daemon=True).start()
        time.sleep(1.5)
        assert proc.poll() is None, stderr.text()
        elapsed = _term_and_time(proc)
    finally:
        _reap(proc, done)
        server.shutdown()
        crash_server.close()
    assert elapsed < 1.0, elapsed
    assert proc.returncode == 0, stderr.text()
    assert "Traceback" not in stderr.text()
    targets = {r["target"]: r for r in _records(out)}
    assert all(f"/live/{i}" in targets and targets[f"/live/{i}"]["status"] == 200 for i in range(5))
    assert targets["/superscript"]["status"] is None and "bad_status" in targets["/superscript"]["tags"]
    assert "head_too_large" in targets["/big"]["tags"]
