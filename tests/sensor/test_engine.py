"""The engine: pairing, bounds and eviction, on packets built with scapy."""

from __future__ import annotations

from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import Ether

from sensor import pcapio
from sensor.config import SensorConfig
from sensor.engine import Sensor
from sensor.records import Exchange
from tests.sensor.conftest import REPO
from tests.sensor.frames import FrameFlow, write_pcap


class Conn:
    """A client/server TCP conversation written frame by frame."""

    def __init__(self, sensor: Sensor, cport: int, sport: int = 80, client: str = "10.0.0.1",
                 server: str = "10.0.0.2") -> None:
        self.sensor, self.cport, self.sport, self.client, self.server = sensor, cport, sport, client, server
        self.cseq, self.sseq = 1000, 5000

    def _send(self, ts: float, from_client: bool, flags: str, payload: bytes = b"", deliver: bool = True) -> None:
        if from_client:
            pkt = IP(src=self.client, dst=self.server) / TCP(sport=self.cport, dport=self.sport, seq=self.cseq,
                                                             ack=self.sseq, flags=flags)
        else:
            pkt = IP(src=self.server, dst=self.client) / TCP(sport=self.sport, dport=self.cport, seq=self.sseq,
                                                             ack=self.cseq, flags=flags)
        frame = bytes(Ether() / pkt / payload)
        if deliver:
            self.sensor.process(ts, pcapio.LINKTYPE_ETHERNET, frame)
        step = len(payload) + (1 if ("S" in flags or "F" in flags) else 0)
        if from_client:
            self.cseq += step
        else:
            self.sseq += step

    def handshake(self, ts: float) -> None:
        self._send(ts, True, "S")
        self._send(ts, False, "SA")
        self._send(ts, True, "A")

    def request(self, ts: float, path: str) -> None:
        self._send(ts, True, "PA", f"GET {path} HTTP/1.1\r\nHost: api.test\r\n\r\n".encode())

    def response(self, ts: float, status: int = 200, body: bytes = b"ok", deliver: bool = True) -> None:
        head = f"HTTP/1.1 {status} X\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        self._send(ts, False, "PA", head + body, deliver=deliver)

    def close(self, ts: float) -> None:
        self._send(ts, True, "FA")
        self._send(ts, False, "FA")


def collect(config: SensorConfig | None = None) -> tuple[Sensor, list[Exchange]]:
    out: list[Exchange] = []
    return Sensor(out.append, config), out


def test_keepalive_pairs_in_order_and_uids_are_unique() -> None:
    sensor, out = collect()
    c = Conn(sensor, 40001)
    c.handshake(1.0)
    for i in range(3):
        c.request(2.0 + i, f"/items/{i}")
        c.response(2.5 + i, 200 + i)
    c.close(9.0)
    assert [(e.target, e.status) for e in out] == [("/items/0", 200), ("/items/1", 201), ("/items/2", 202)]
    assert len({e.uid for e in out}) == 3 and all(not e.tags for e in out)


def test_lost_response_does_not_shift_the_pairing() -> None:
    sensor, out = collect()
    c = Conn(sensor, 40002)
    c.handshake(1.0)
    c.request(2.0, "/a")
    c.response(2.1, 201)
    c.request(3.0, "/b")
    c.response(3.1, 202, deliver=False)  # never captured: a gap in the server's stream
    c.request(4.0, "/c")
    c.response(4.1, 203)
    for _ in range(3):  # more traffic past the hole, so the acknowledged gap is declared
        c.request(5.0, "/d")
        c.response(5.1, 204, b"")
    c.close(9.0)
    got = {e.target: (e.status, "missing_response" in e.tags) for e in out}
    assert got["/a"] == (201, False)
    assert got["/b"] == (None, True)
    assert got["/c"] == (203, False)


def test_idle_connections_are_evicted_and_reported() -> None:
    sensor, out = collect(SensorConfig(idle_timeout=10.0, sweep_interval=1.0))
    c = Conn(sensor, 40003)
    c.handshake(1.0)
    c.request(2.0, "/never-answered")
    assert not out
    other = Conn(sensor, 40004)
    other.handshake(100.0)  # capture time moves on: the first connection is stale
    assert [(e.target, e.tags) for e in out] == [("/never-answered", ("missing_response",))]
    assert sensor.stats()["idle_evictions"] == 1


def test_flow_table_is_bounded() -> None:
    sensor, out = collect(SensorConfig(max_flows=50))
    for port in range(41000, 41200):
        c = Conn(sensor, port)
        c.handshake(1.0 + port / 1e6)
        c.request(2.0, f"/p{port}")
    assert len(sensor.flows) <= 2 * 50
    assert sensor.stats()["capacity_evictions"] > 0
    sensor.flush()
    assert len(out) == 200  # evicted connections still report their requests


def test_port_reuse_starts_a_new_connection() -> None:
    sensor, out = collect()
    for round_ in range(2):
        c = Conn(sensor, 40005)
        c.cseq += round_ * 100000
        c.handshake(1.0 + round_ * 10)
        c.request(2.0 + round_ * 10, f"/round{round_}")
        c.response(2.1 + round_ * 10)
        c.close(3.0 + round_ * 10)
    assert [e.target for e in out] == ["/round0", "/round1"]
    assert out[0].uid.split(".")[0] != out[1].uid.split(".")[0]


def test_non_http_connection_is_dropped_early() -> None:
    sensor, out = collect()
    c = Conn(sensor, 40006, sport=25)
    c.handshake(1.0)
    c._send(1.1, False, "PA", b"220 mail.example ESMTP ready\r\n")
    c._send(1.2, True, "PA", b"EHLO client\r\n")
    c.close(2.0)
    assert out == [] and sensor.stats()["non_http_connections"] == 1


# -- issue 14: one flow never stops the others; memory is bounded ------------------------------------

CONTAIN_PROBE = """
import json, sys
from sensor import _native
from sensor.connection import Connection
from sensor.engine import Sensor, iter_exchanges

assert not _native.COMPILED
original = Connection.handle

def handle(self, side, events):
    # A bug that only one flow's data reaches: the request for /api/v1/boom.
    if any(getattr(ev, "target", "") == "/api/v1/boom" for ev in events):
        raise ValueError("boom")
    return original(self, side, events)

Connection.handle = handle
holder = []
exchanges = [e for e in iter_exchanges(sys.argv[1], sensor_out=holder)]
print(json.dumps({"targets": sorted(e.target or "" for e in exchanges),
                  "tags": {e.target or "": list(e.tags) for e in exchanges},
                  "stats": holder[0].stats(), "last_error": holder[0].last_error}))
"""


def test_an_error_in_one_flow_is_contained_and_the_run_goes_on(tmp_path) -> None:
    """Every bug class issue 14 found ended the whole run (a crash) or froze it (a loop). Now a
    flow whose code raises is closed, its open exchanges tagged parser_error, counted, and every
    other flow is parsed as if nothing happened. The fault is injected (no known input raises any
    more) into a pure-Python child process, where classes can be patched."""
    import json
    import os
    import subprocess
    import sys

    from sensor import _native

    frames = []
    for port, path in ((41001, "/api/v1/ok-before"), (41002, "/api/v1/boom"), (41003, "/api/v1/ok-after")):
        flow = FrameFlow(port)
        frames += flow.handshake() + flow.exchange(path) + flow.close()
    capture = write_pcap(tmp_path / "one-bad-flow.pcap", frames)
    result = subprocess.run([sys.executable, "-c", CONTAIN_PROBE, str(capture)], cwd=REPO, capture_output=True,
                            text=True, timeout=120, env={**os.environ, _native.PURE_ENV: "1"})
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert "/api/v1/ok-before" in report["targets"] and "/api/v1/ok-after" in report["targets"]
    assert report["tags"]["/api/v1/ok-before"] == [] and report["tags"]["/api/v1/ok-after"] == []
    assert report["stats"]["flow_errors"] >= 1 and report["stats"]["flow_error_ValueError"] >= 1
    assert report["last_error"] == "ValueError: boom"
    assert all("parser_error" in tags for target, tags in report["tags"].items() if "ok-" not in target)


def test_errors_of_the_output_are_not_contained() -> None:
    """A full disk or a closed pipe is the operator's to see, not a flow's to hide."""
    def emit(exchange: Exchange) -> None:
        raise OSError(28, "No space left on device")

    sensor = Sensor(emit)
    c = Conn(sensor, 40100)
    c.handshake(1.0)
    c.request(2.0, "/a")
    try:
        c.response(2.1)
    except OSError as exc:
        assert exc.errno == 28
    else:
        raise AssertionError("the emit error was swallowed")
    assert not sensor.stats().get("flow_errors")


def test_buffer_budget_closes_the_flows_holding_most() -> None:
    """Heads that never end, on many connections, hold at most the budget: the biggest holders
    are closed (their requests still reported) and the count says so."""
    budget = 2 * 1024 * 1024
    sensor, out = collect(SensorConfig(max_buffered_bytes=budget))
    peak = 0
    for i in range(100):
        c = Conn(sensor, 42000 + i)
        c.handshake(1.0 + i / 1000)
        for _ in range(4):  # 40 KB of head each, never terminated: held by the parser
            c._send(2.0 + i / 1000, True, "PA", b"GET /slow HTTP/1.1\r\nX: " + b"x" * 10_000 if _ == 0
                    else b"y" * 10_000)
        peak = max(peak, sensor.buffered)
    assert peak <= budget + 64 * 1024  # over by at most the packet that crossed it
    stats = sensor.stats()
    assert stats["memory_evictions"] > 0
    sensor.flush()
    assert sensor.buffered == 0
    assert len([e for e in out if e.target == "/slow"]) == 100  # evicted flows still report


def test_accounting_returns_to_zero_when_flows_end() -> None:
    sensor, out = collect()
    c = Conn(sensor, 40200)
    c.handshake(1.0)
    c._send(1.1, True, "PA", b"POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n01234")
    assert sensor.buffered > 0  # the request waits for its answer and the rest of its body
    c._send(1.2, True, "PA", b"56789")
    c.response(1.3)
    c.close(2.0)
    assert sensor.buffered == 0 and len(out) == 1


def test_bytes_per_open_flow_stay_under_the_documented_bound() -> None:
    """README, "Memory": an open flow whose request waits for its answer costs at most this much
    (tracemalloc, the request's own head included). The default bounds are chosen from it."""
    import gc
    import tracemalloc

    from sensor.config import FLOW_BYTES_BOUND

    sensor, out = collect(SensorConfig(max_flows=1_000_000))
    flows = 5000
    requests = [FrameFlow(43000 + i % 20000, client=f"10.{1 + i // 60000}.{(i // 250) % 240}.{i % 250 + 1}")
                for i in range(flows + 200)]
    packets = [(f.handshake() + [f.request_frame(f"/items/{n}")]) for n, f in enumerate(requests)]
    for frames in packets[:200]:  # warm the caches (header lines, strings) outside the measurement
        for frame in frames:
            sensor.process(1.0, pcapio.LINKTYPE_ETHERNET, frame)
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for frames in packets[200:]:
            for frame in frames:
                sensor.process(1.0, pcapio.LINKTYPE_ETHERNET, frame)
        gc.collect()
        per_flow = (tracemalloc.get_traced_memory()[0] - before) / flows
    finally:
        tracemalloc.stop()
    assert len(sensor.flows) // 2 == flows + 200 and not out
    assert per_flow <= FLOW_BYTES_BOUND, per_flow
