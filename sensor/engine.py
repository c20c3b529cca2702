"""The sensor: packets in, exchange records out.

``Sensor.process`` takes one captured frame; connections are tracked in a bounded flow table,
each with two reassembled half-streams feeding two HTTP parsers; requests and responses are
paired into ``Exchange`` records handed to the ``emit`` callback. ``iter_exchanges`` runs a
capture file (or stdin) through it.
"""

from __future__ import annotations

import gc
import os
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, BinaryIO

from sensor import pcapio
from sensor.config import SensorConfig
from sensor.connection import Connection
from sensor.decode import TH_ACK, TH_SYN, Decoder, Segment
from sensor.interrupts import SHUTDOWN_FLUSH_SECONDS, checkpoint, stop_requested
from sensor.records import Exchange
from sensor.tcp import NONE, Limits

# Packets between two ``checkpoint`` calls in the file loop: each packet's work is bounded (see
# the README's "Bounds"), so signals wait at most this many packets' work.
CHECKPOINT_EVERY = 64


class OutputError(BaseException):
    """The ``emit`` callback failed: not a flow's fault, so it is not contained like one.

    Raised through the per-flow code and unwrapped (the original exception re-raised) where the
    sensor's public methods return."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(error)
        self.error = error


class Sensor:
    """Bounded flow table + decoders. Feed frames with ``process``; call ``flush`` at the end.

    Containment: an exception raised by one connection's code (a bug: inputs are meant to give
    tags, not exceptions) is counted (``flow_errors``, ``flow_error_<Type>``), the connection is
    closed with its open exchanges tagged ``parser_error``, and the run goes on; later packets of
    that 4-tuple start a new connection picked up mid-stream. Errors of ``emit`` are not a flow's:
    they leave ``process``/``flush`` as they are.

    Memory: besides the flow bound (``max_flows``), every byte flows hold is accounted
    (``buffered``); above ``max_buffered_bytes`` the flows holding most are closed (their
    exchanges emitted, ``memory_evictions``) until a quarter of the budget is free.
    """

    def __init__(self, emit: Callable[[Exchange], None], config: SensorConfig | None = None) -> None:
        self.config = config or SensorConfig()
        self.emit = emit
        self.decoder = Decoder(self.config.max_fragment_sets, self.config.fragment_timeout,
                               self.config.max_fragment_bytes)
        self.flows: dict[tuple[bytes, int, bytes, int], Connection] = {}
        cfg = self.config
        self.limits = Limits(cfg.max_ooo_bytes, cfg.max_ooo_segments, cfg.midstream_settle_segments)
        self.counters: Counter[str] = Counter()
        self.packets = 0  # hot counter kept out of the Counter
        self._next_sweep = 0.0
        self.buffered = 0  # bytes held by all flows (Connection.account)
        self.over_budget = False
        self.last_error = ""  # the last error contained, "Type: message"
        # 4-tuples whose connection failed lately: the next connection on one tags its first
        # exchange parser_error (it starts where the failed one left off). Bounded.
        self._failed_flows: dict[tuple[bytes, int, bytes, int], None] = {}
        # sensor.proto's settings (key log, descriptor set), read by the first connection that
        # needs them (``proto_settings``): plain HTTP/1 sensors never import sensor.proto.
        self._proto: tuple[Any, Any] | None = None
        if cfg.tls_keylog or cfg.proto_descriptors:
            self.proto_settings()  # a bad file is a clear error at start, not at the first TLS flow

    def proto_settings(self) -> tuple[Any, Any]:
        """(sensor.proto.session.ProtoConfig, DescriptorRegistry | None), made once."""
        if self._proto is None:
            from sensor.proto.session import proto_settings

            self._proto = proto_settings(self.config)
        return self._proto

    # -- packets -----------------------------------------------------------------------------
    def process(self, ts: float, linktype: int, frame: bytes) -> None:
        try:
            self._process(ts, linktype, frame)
        except OutputError as failed:
            raise failed.error from None

    def _process(self, ts: float, linktype: int, frame: bytes) -> None:
        self.packets += 1
        seg = self.decoder.decode(linktype, frame, ts)
        if seg is None:
            return
        src, dst, sport, dport, seq, ack, flags, payload, vlan = seg
        conn = self.flows.get((src, sport, dst, dport))
        if conn is None:
            if not payload and not flags & TH_SYN:
                return  # a bare ACK/FIN/RST of a connection we know nothing about
            if ts >= self._next_sweep:
                self.sweep(ts)
            self._open(ts, seg)
        else:
            side = 0 if sport == conn.sport and src == conn.src else 1
            try:
                if not payload and flags & 0x17 == TH_ACK:
                    # A pure ACK (half the packets of a busy link): only the gap bookkeeping needs it,
                    # and not while this side's segments are held (see Connection.packet).
                    conn.last_ts = ts
                    conn.seen |= 1 << side
                    other = conn.halves[1 - side]
                    if conn.held is not None and side == conn.held_side:
                        pass
                    elif other.ooo:
                        other.peer_ack(ack)
                    elif other.acked == NONE:
                        other.acked = ack
                elif (flags & TH_SYN and not flags & TH_ACK and conn.closed & (1 << side)
                      and not conn.halves[side].is_own_syn(seq)):
                    # Port reuse: a new connection on a 4-tuple whose old one ended.
                    conn.close()
                    self._open(ts, seg)
                else:
                    conn.packet(side, seq, ack, flags, payload, ts)
            except OutputError:
                raise
            except Exception as exc:  # noqa: BLE001 - contained to this flow, counted
                self._contain(conn, exc)
            if ts >= self._next_sweep:
                self.sweep(ts)
        if self.over_budget:
            self._relieve()

    def deliver(self, exchange: Exchange) -> None:
        """Hand an exchange to ``emit``; its failures are marked as not the flow's."""
        try:
            self.emit(exchange)
        except BaseException as exc:
            raise OutputError(exc) from exc

    def _open(self, ts: float, seg: Segment) -> None:
        """Track a new connection whose first packet we see is ``seg`` (side 0 sent it)."""
        src, dst, sport, dport, seq, ack, flags, payload, vlan = seg
        if len(self.flows) >= 2 * self.config.max_flows:
            self._evict_oldest()  # make room first, so the newcomer is never the one evicted
        conn = Connection(self, src, sport, dst, dport, ts, vlan)
        key = (src, sport, dst, dport)
        self.flows[key] = conn
        self.flows[(dst, dport, src, sport)] = conn
        self.counters["connections"] += 1
        if self._failed_flows and (key in self._failed_flows or (dst, dport, src, sport) in self._failed_flows):
            self._failed_flows.pop(key, None)
            self._failed_flows.pop((dst, dport, src, sport), None)
            conn.taint = 1
        try:
            conn.packet(0, seq, ack, flags, payload, ts)
        except OutputError:
            raise
        except Exception as exc:  # noqa: BLE001 - contained to this flow, counted
            self._contain(conn, exc)

    # -- containment ---------------------------------------------------------------------------
    def _contain(self, conn: Connection, exc: Exception) -> None:
        self._record_error(exc)
        conn.taint = 1 << 30
        failed = self._failed_flows
        if len(failed) >= 4096:
            del failed[next(iter(failed))]
        failed[(conn.src, conn.sport, conn.dst, conn.dport)] = None
        self._close_safely(conn)

    def _record_error(self, exc: Exception) -> None:
        counters = self.counters
        counters["flow_errors"] += 1
        counters["flow_error_" + type(exc).__name__] += 1
        self.last_error = f"{type(exc).__name__}: {exc}"[:300]

    def _close_safely(self, conn: Connection) -> None:
        try:
            conn.close()
        except OutputError:
            raise
        except Exception as exc:  # noqa: BLE001 - closing a broken flow: forget it instead
            self._record_error(exc)
            conn.abandon()

    # -- the flow table --------------------------------------------------------------------------
    def forget(self, conn: Connection) -> None:
        for key in ((conn.src, conn.sport, conn.dst, conn.dport), (conn.dst, conn.dport, conn.src, conn.sport)):
            if self.flows.get(key) is conn:
                del self.flows[key]

    def _connections(self) -> list[Connection]:
        return list({id(c): c for c in self.flows.values()}.values())

    def sweep(self, now: float) -> None:
        """Close connections idle longer than the timeout (capture time)."""
        self._next_sweep = now + self.config.sweep_interval
        limit = now - self.config.idle_timeout
        for conn in [c for c in self._connections() if c.last_ts < limit]:
            self.counters["idle_evictions"] += 1
            self._close_safely(conn)

    def _evict_oldest(self) -> None:
        conns = self._connections()
        for conn in sorted(conns, key=lambda c: c.last_ts)[: max(1, len(conns) // 10)]:
            self.counters["capacity_evictions"] += 1
            self._close_safely(conn)

    def _relieve(self) -> None:
        """Over the buffer budget: close the flows holding most until a quarter of it is free."""
        limit = self.config.max_buffered_bytes
        conns = self._connections()
        for conn in sorted(conns, key=lambda c: c.buffered, reverse=True):
            if self.buffered <= limit * 3 // 4 or conn.buffered <= 0:
                break
            self.counters["memory_evictions"] += 1
            self._close_safely(conn)
        # Re-add from the flows left, so no drift in the accounting can keep this firing.
        self.buffered = sum(c.buffered for c in self._connections())
        self.over_budget = self.buffered > limit

    def flush(self, deadline: float | None = None) -> None:
        """Close every connection, oldest first, emitting what is open.

        With ``deadline`` (a ``time.monotonic()`` value: a shutdown must not wait on a huge flow
        table), connections not closed by then are dropped, counted in ``unflushed_connections``.
        """
        conns = sorted(self._connections(), key=lambda c: c.first_ts)
        try:
            for i, conn in enumerate(conns):
                if i & 63 == 63:
                    checkpoint()
                    if deadline is not None and time.monotonic() >= deadline:
                        self.counters["unflushed_connections"] += len(conns) - i
                        for rest in conns[i:]:
                            rest.abandon()
                        break
                self._close_safely(conn)
        except OutputError as failed:
            raise failed.error from None
        self.flows.clear()
        self.buffered = 0
        self.over_budget = False

    def stats(self) -> dict[str, int]:
        out = dict(self.counters)
        out["packets"] = self.packets
        out["flows_open"] = len(self.flows) // 2
        out["buffered_bytes"] = self.buffered
        for k, v in self.decoder.counters.items():
            out[f"decode_{k}"] = v
        return out


@contextmanager
def relaxed_gc() -> Iterator[None]:
    """Run the cyclic garbage collector rarely while packets flow.

    The sensor allocates many short-lived containers (events, header tuples) that refcounting
    frees at once; the default gen-0 threshold (700 allocations) made the collector run
    thousands of times for nothing, about 10% of the time. Connections break their own cycles
    when they close, so memory stays flat.
    """
    old = gc.get_threshold()
    gc.set_threshold(100_000, 50, 100)
    try:
        yield
    finally:
        gc.set_threshold(*old)


def _open_source(source: str | os.PathLike[str] | BinaryIO) -> tuple[BinaryIO, bool]:
    if isinstance(source, (str, os.PathLike)):
        if str(source) == "-":
            return sys.stdin.buffer, False
        return open(source, "rb"), True  # noqa: SIM115 - closed by the caller
    return source, False


def iter_exchanges(source: str | os.PathLike[str] | BinaryIO, config: SensorConfig | None = None,
                   sensor_out: list[Sensor] | None = None) -> Iterator[Exchange]:
    """Exchanges of a pcap/pcapng file, path ``-`` for stdin, or an open binary stream.

    A truncated or corrupt file yields everything up to the damage, then raises
    ``pcapio.CaptureError`` (after flushing the connections still open). When a stop is requested
    (``sensor.interrupts``: SIGTERM in ``apicensus sensor``) it ends early, flushing open
    connections for at most ``SHUTDOWN_FLUSH_SECONDS``.
    """
    out: list[Exchange] = []
    sensor = Sensor(out.append, config)
    if sensor_out is not None:
        sensor_out.append(sensor)
    stream, owned = _open_source(source)
    error: pcapio.CaptureError | None = None
    stopped = False
    try:
        try:
            with relaxed_gc():
                n = 0
                for ts, linktype, frame in pcapio.open_capture(stream):
                    sensor.process(ts, linktype, frame)  # a direct call once compiled (setup.py)
                    n += 1
                    if n == CHECKPOINT_EVERY:
                        n = 0
                        checkpoint()  # signal handlers run even when no exchange comes out
                        if stop_requested():
                            stopped = True
                            break
                    if out:
                        yield from out
                        out.clear()
        except pcapio.CaptureError as exc:
            error = exc
        sensor.flush(time.monotonic() + SHUTDOWN_FLUSH_SECONDS if stopped or stop_requested() else None)
        yield from out
        out.clear()
    finally:
        if owned:
            stream.close()
    if error is not None:
        raise error
