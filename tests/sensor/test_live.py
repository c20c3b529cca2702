"""Live capture on the loopback interface with a real HTTP server and client (needs root)."""

from __future__ import annotations

import ctypes.util
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from sensor.config import SensorConfig
from sensor.live import _FINAL, _RECORD, LiveCaptureError, _Outbox, capture_workers, compile_bpf
from tests.netns import REPO, ApiHandler, Lines, run_client, stop

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="AF_PACKET capture needs root or CAP_NET_RAW")
needs_libpcap = pytest.mark.skipif(ctypes.util.find_library("pcap") is None,
                                   reason="libpcap is not installed (Debian: libpcap0.8; .ci/run installs it)")


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server API
        body = json.dumps({"path": self.path}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@needs_root
@needs_libpcap
def test_live_loopback_capture_sees_every_exchange() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    sensor = subprocess.Popen(
        [sys.executable, "-m", "apicensus_cli", "sensor", "--interface", "lo", "--bpf", f"tcp port {port}",
         "--duration", "4"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        time.sleep(1.0)
        for i in range(5):
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/items/{i}?q=x", timeout=5) as resp:
                assert resp.status == 200
        out, err = sensor.communicate(timeout=30)
    finally:
        server.shutdown()
    assert sensor.returncode == 0, err
    records = [json.loads(line) for line in out.split(b"\n") if line]
    assert sorted(r["target"] for r in records) == [f"/items/{i}?q=x" for i in range(5)]
    assert all(r["status"] == 200 and r["host"] == f"127.0.0.1:{port}" for r in records)
    assert b'"kernel_drops"' in err


@needs_libpcap
def test_bad_filter_is_a_clear_error() -> None:
    with pytest.raises(LiveCaptureError, match="bad BPF filter"):
        compile_bpf("tcp port banana")


@needs_root
@needs_libpcap
def test_fanout_two_workers_see_every_exchange_once(tmp_path: Path) -> None:
    """PACKET_FANOUT_HASH on loopback: 40 one-request connections and 5 keep-alive ones spread
    over two workers; every exchange comes out once and whole, so each worker had both
    directions of its connections (the kernel's flow hash is symmetric)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), ApiHandler)
    server.daemon_threads = True
    port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    out = tmp_path / "exchanges.jsonl"
    sensor = subprocess.Popen(
        [sys.executable, "-m", "tests.netns", "capture", "--interface", "lo", "--bpf", f"tcp port {port}",
         "--workers", "2", "--output", str(out)], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        stdout, stderr = Lines(sensor.stdout), Lines(sensor.stderr)
        assert stdout.wait_for(lambda line: line.startswith('{"stats"'), timeout=30), stderr.text()
        done = run_client(f"http://127.0.0.1:{port}", new_connections=40, keepalive_connections=5)
        time.sleep(0.5)  # the last packets are queued on the workers' sockets: let them read them
        sensor.send_signal(signal.SIGTERM)
        assert sensor.wait(60) == 0, stderr.text()
    finally:
        stop(sensor)
        server.shutdown()
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(done) == 40 + 10 + 5 * 5
    assert len({r["uid"] for r in records}) == len(records)
    assert Counter((r["method"], r["target"], r["status"]) for r in records) == \
        Counter((d["method"], d["target"], d["status"]) for d in done)
    assert all(r["status"] is not None and not r["tags"] for r in records), [r["tags"] for r in records]
    reports = [json.loads(line) for line in stdout.text().splitlines()]
    final = reports[-1]["final"]
    per_worker = reports[-2]["stats"]["per_worker"]  # the report made after the workers' last counters
    assert final["workers"] == 2 and final["exchanges"] == len(done)
    assert final["exchanges_dropped"] == 0 and final["kernel_drops"] == 0
    assert final["packets"] == sum(w["packets"] for w in per_worker)
    assert all(w["packets"] > 0 and w["exchanges"] > 0 for w in per_worker), per_worker


@needs_root
def test_fanout_setup_errors_are_raised_before_any_worker_starts() -> None:
    def run(interface: str, workers: int = 2, bpf: str = "") -> None:
        capture_workers(interface, workers=workers, config=SensorConfig(), bpf=bpf, duration=1,
                        on_record=lambda record: None)

    with pytest.raises(LiveCaptureError, match="no such network interface: nope0"):
        run("nope0")
    with pytest.raises(LiveCaptureError, match="workers must be between 1 and 256"):
        run("lo", workers=0)
    if ctypes.util.find_library("pcap"):
        with pytest.raises(LiveCaptureError, match="bad BPF filter"):
            run("lo", bpf="tcp port banana")


@needs_root
@pytest.mark.skipif(shutil.which("setpriv") is None, reason="setpriv (util-linux) is not installed")
def test_fanout_without_privileges_is_one_clear_line() -> None:
    result = subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-m", "tests.netns",
         "capture", "--interface", "lo", "--workers", "2", "--output", "/dev/null", "--duration", "1"],
        cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "needs root or CAP_NET_RAW" in result.stderr and "Traceback" not in result.stderr


def test_outbox_drops_new_records_when_the_parent_lags_and_delivers_the_rest() -> None:
    """A worker never blocks on a slow parent: beyond its backlog it drops (and counts) records."""
    r, w = os.pipe()
    out = _Outbox(w, limit=256 * 1024)
    record = b"x" * 1000
    try:
        for _ in range(5000):  # ~5 MB: more than the pipe and the backlog hold together
            out.put(_RECORD, record)
            out.flush()
        assert out.dropped > 0
        out.patient = True  # the flush at the end waits instead of dropping...
        reader_data = bytearray()

        def read() -> None:
            while chunk := os.read(r, 65536):
                reader_data.extend(chunk)

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        for _ in range(500):  # ...so these all arrive even though the backlog is full
            out.put(_RECORD, record)
        out.put(_FINAL, b"{}", force=True)
        out.close()
        reader.join(10)
        assert not reader.is_alive()
    finally:
        os.close(r)
    frames: Counter[int] = Counter()
    pos = 0
    while pos < len(reader_data):
        kind, length = reader_data[pos], int.from_bytes(reader_data[pos + 1:pos + 5], "little")
        frames[kind] += 1
        pos += 5 + length
    assert frames[_FINAL] == 1
    assert frames[_RECORD] == 5000 + 500 - out.dropped
