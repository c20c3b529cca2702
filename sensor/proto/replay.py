"""Capture files through TCP reassembly into ``ProtoSession``s: the phase-1 driver.

It uses the sensor's own packet decoder and ``HalfStream`` reassembly, so tests and benches see
exactly the byte streams the sensor will hand the protocol seam in phase 2. One session per
connection; events come out in capture order with the connection's 4-tuple.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from sensor import pcapio
from sensor.decode import TH_ACK, TH_FIN, TH_RST, TH_SYN, Decoder
from sensor.proto.session import ProtoConfig, ProtoSession
from sensor.tcp import HalfStream


@dataclass(frozen=True, slots=True)
class ConnEvent:
    conn: tuple[bytes, int, bytes, int]  # (first sender ip, port, peer ip, port)
    event: object


class _Sink:
    __slots__ = ("conn", "side")

    def __init__(self, conn: _Conn, side: int) -> None:
        self.conn = conn
        self.side = side

    def data(self, data: bytes, ts: float) -> None:
        self.conn.out.extend(self.conn.session.feed(self.side, data, ts))

    def gap(self, size: int, ts: float) -> None:
        self.conn.out.extend(self.conn.session.feed_gap(self.side, size, ts))


class _Conn:
    def __init__(self, key: tuple[bytes, int, bytes, int], syn: bool, config: ProtoConfig) -> None:
        self.key = key
        self.session = ProtoSession(from_start=syn, ports=(key[1], key[3]), config=config)
        self.out: list[object] = []
        self.halves = (HalfStream(_Sink(self, 0), 1 << 20, 512, 8), HalfStream(_Sink(self, 1), 1 << 20, 512, 8))
        self.closed = [False, False]
        self.last_ts = 0.0

    def close(self, ts: float) -> None:
        for h in self.halves:
            h.flush()
        self.out.extend(self.session.close(ts))


def iter_events(source: str | os.PathLike[str] | BinaryIO, config: ProtoConfig | None = None,
                stats: dict[str, int] | None = None) -> Iterator[ConnEvent]:
    """Every protocol event of a capture file, connection by connection as they happen."""
    cfg = config or ProtoConfig()
    decoder = Decoder(4096, 30.0)
    flows: dict[tuple[bytes, int, bytes, int], tuple[_Conn, int]] = {}
    conns: list[_Conn] = []
    stream = open(source, "rb") if isinstance(source, (str, os.PathLike)) else source  # noqa: SIM115
    try:
        for ts, linktype, frame in pcapio.open_capture(stream):
            seg = decoder.decode(linktype, frame, ts)
            if seg is None:
                continue
            src, dst, sport, dport, seq, ack, flags, payload, _vlan = seg
            entry = flows.get((src, sport, dst, dport))
            if entry is None:
                if not payload and not flags & TH_SYN:
                    continue
                key = (src, sport, dst, dport)
                conn = _Conn(key, bool(flags & TH_SYN), cfg)
                conns.append(conn)
                flows[key] = (conn, 0)
                flows[(dst, dport, src, sport)] = (conn, 1)
                entry = (conn, 0)
            conn, side = entry
            conn.last_ts = ts
            half = conn.halves[side]
            if flags & TH_SYN:
                half.syn(seq)
            if flags & TH_ACK:
                conn.halves[1 - side].peer_ack(ack)
            if payload:
                other = conn.halves[1 - side]
                if other.next_seq is None and other.pending:
                    other.settle()
                half.segment(seq, payload, ts)
            if flags & (TH_FIN | TH_RST):
                half.fin(seq, len(payload))
            for ev in conn.out:
                yield ConnEvent(conn.key, ev)
            conn.out.clear()
    except pcapio.CaptureError:
        if stats is not None:
            stats["capture_errors"] = stats.get("capture_errors", 0) + 1
    finally:
        if isinstance(source, (str, os.PathLike)):
            stream.close()
    for conn in conns:
        conn.close(conn.last_ts)
        for ev in conn.out:
            yield ConnEvent(conn.key, ev)
        conn.out.clear()
        if stats is not None:
            for k, v in conn.session.counters.items():
                stats[k] = stats.get(k, 0) + v
            parser = conn.session.parser
            if parser is not None:
                for k, v in parser.counters.items():
                    stats[k] = stats.get(k, 0) + v


def events(source: str | os.PathLike[str] | BinaryIO, config: ProtoConfig | None = None) -> list[object]:
    return [e.event for e in iter_events(source, config)]
