"""The engine: pairing, bounds and eviction, on packets built with scapy."""

from __future__ import annotations

from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import Ether

from sensor import pcapio
from sensor.config import SensorConfig
from sensor.engine import Sensor
from sensor.records import Exchange


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
