"""Live capture on the loopback interface with a real HTTP server and client (needs root)."""

from __future__ import annotations

import ctypes.util
import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from sensor.live import LiveCaptureError, compile_bpf

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="AF_PACKET capture needs root or CAP_NET_RAW"),
    pytest.mark.skipif(ctypes.util.find_library("pcap") is None,
                       reason="libpcap is not installed (Debian: libpcap0.8; .ci/run installs it)"),
]


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


def test_bad_filter_is_a_clear_error() -> None:
    with pytest.raises(LiveCaptureError, match="bad BPF filter"):
        compile_bpf("tcp port banana")
