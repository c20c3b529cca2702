"""The sensor: packets in, exchange records out.

``Sensor.process`` takes one captured frame; connections are tracked in a bounded flow table,
each with two reassembled half-streams feeding two HTTP parsers; requests and responses are
paired into ``Exchange`` records handed to the ``emit`` callback. ``iter_exchanges`` runs a
capture file (or stdin) through it.
"""

from __future__ import annotations

import base64
import gc
import hashlib
import os
import socket
import sys
from collections import Counter, deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import BinaryIO

from sensor import pcapio
from sensor.config import SensorConfig
from sensor.decode import TH_ACK, TH_FIN, TH_RST, TH_SYN, Decoder
from sensor.http1 import (
    START,
    HttpParser,
    MessageEnd,
    RequestHead,
    ResponseHead,
    Skipped,
    looks_like_request,
    looks_like_response,
)
from sensor.records import (
    TAG_INTERIM,
    TAG_MID_STREAM,
    TAG_MISSING_REQUEST,
    TAG_MISSING_RESPONSE,
    TAG_ONE_SIDED,
    TAG_UPGRADE,
    Body,
    Exchange,
)
from sensor.tcp import HalfStream

WELL_KNOWN_HTTP_PORTS = frozenset((80, 8080, 8000, 8008, 8081, 8088, 8089, 8888, 3000, 5000, 9200, 15672))


def format_addr(ip: bytes, port: int) -> str:
    if len(ip) == 4:
        return f"{ip[0]}.{ip[1]}.{ip[2]}.{ip[3]}:{port}"
    return f"[{socket.inet_ntop(socket.AF_INET6, ip)}]:{port}"


class _Tx:
    """An exchange being assembled."""

    __slots__ = ("depth", "req_head", "req_end", "resp_head", "resp_end", "interim", "trailers_req")

    def __init__(self, depth: int, req_head: RequestHead | None) -> None:
        self.depth = depth
        self.req_head = req_head
        self.req_end: MessageEnd | None = None
        self.resp_head: ResponseHead | None = None
        self.resp_end: MessageEnd | None = None
        self.interim: list[int] = []


class _Sink:
    """Connects a half-stream to its parser; decides the connection's roles on first data."""

    __slots__ = ("conn", "side")

    def __init__(self, conn: Connection, side: int) -> None:
        self.conn = conn
        self.side = side

    def data(self, data: bytes, ts: float) -> None:
        conn = self.conn
        parser = conn.parsers[self.side]
        if parser is None or not conn.checked[self.side]:
            conn.first_data(self.side, data)
            parser = conn.parsers[self.side]
            if parser is None or conn.dead:
                return
        if parser.state == START and not parser._buf and parser._head_ts is None and not parser._next_tags \
                and data[0] not in (13, 10):
            # One whole message in one segment, the usual case: straight to the parser's fast path.
            events: list = []
            end = parser._fast_message(data, 0, len(data), ts, events)
            if end == len(data):
                conn.handle(self.side, events)
                return
            if end >= 0:  # more after the message: let the state machine take the rest
                events += parser.feed(data[end:], ts)
                conn.handle(self.side, events)
                return
        events = parser.feed(data, ts)
        if events:
            conn.handle(self.side, events)

    def gap(self, size: int, ts: float) -> None:
        conn = self.conn
        conn.sensor.counters["gap_bytes"] += size
        conn.gap_seen[self.side] = True
        parser = conn.parsers[self.side]
        if parser is None:
            return
        events = parser.feed_gap(size, ts)
        if events:
            conn.handle(self.side, events)


class Connection:
    __slots__ = (
        "sensor", "addr", "ports", "halves", "parsers", "client", "syn_seen", "uid", "first_ts", "last_ts",
        "pending", "current_req", "current_resp", "resp_interim", "depth", "dead", "closed_sides",
        "gap_seen", "vlan", "client_str", "server_str", "seen_sides", "paired", "checked", "after_connect",
        "sinks",
    )

    def __init__(self, sensor: Sensor, src: bytes, sport: int, dst: bytes, dport: int, ts: float,
                 vlan: tuple[int, ...]) -> None:
        cfg = sensor.config
        self.sensor = sensor
        self.addr = (src, dst)  # side 0 is whoever sent the first packet we saw
        self.ports = (sport, dport)
        # The sinks are kept typed here too: the in-order fast path in ``packet`` calls them directly.
        self.sinks: tuple[_Sink, ...] = (_Sink(self, 0), _Sink(self, 1))
        self.halves: tuple[HalfStream, ...] = (
            HalfStream(self.sinks[0], cfg.max_ooo_bytes, cfg.max_ooo_segments, cfg.midstream_settle_segments),
            HalfStream(self.sinks[1], cfg.max_ooo_bytes, cfg.max_ooo_segments, cfg.midstream_settle_segments),
        )
        self.parsers: list[HttpParser | None] = [None, None]
        self.client: int | None = None
        self.syn_seen = False
        self.uid = ""
        self.first_ts = ts
        self.last_ts = ts
        self.pending: deque[_Tx] = deque()
        self.current_req: _Tx | None = None
        self.current_resp: _Tx | None = None
        self.resp_interim = False
        # Pairing decisions made while a response head was parsed, consumed in event order.
        self.paired: deque[tuple[_Tx | None, bool]] = deque()
        self.depth = 0
        self.dead = False
        self.closed_sides = [False, False]
        self.gap_seen = [False, False]
        self.seen_sides = [False, False]
        self.checked = [False, False]  # first data of each direction looked at
        self.after_connect = False  # a CONNECT tunnel opened: the next bytes may be plain HTTP
        self.vlan = vlan
        self.client_str = ""
        self.server_str = ""

    # -- packets -----------------------------------------------------------------------------
    def packet(self, side: int, seq: int, ack: int, flags: int, payload: bytes, ts: float) -> None:
        self.last_ts = ts
        self.seen_sides[side] = True
        half = self.halves[side]
        other = self.halves[1 - side]
        if flags & TH_SYN:
            if self.client is None:
                self.syn_seen = True
                self._set_client(side if not flags & TH_ACK else 1 - side)
            half.syn(seq)
        if flags & TH_ACK and other.ooo:
            other.peer_ack(ack)
        elif flags & TH_ACK and other.acked is None:
            other.acked = ack
        if payload and not self.dead:
            if other.next_seq is None and other.pending:
                other.settle()  # the peer's earlier bytes come first in the pairing
            if seq == half.next_seq and not half.ooo and not half.closed:
                # In-order segment, nothing held: HalfStream.segment's common case, inlined.
                half.next_seq = (seq + len(payload)) & 0xFFFFFFFF
                half.bytes_delivered += len(payload)
                self.sinks[side].data(payload, ts)
            else:
                half.segment(seq, payload, ts)
        if flags & (TH_FIN | TH_RST):
            if flags & TH_RST:
                self.close()
                return
            half.fin(seq, len(payload))
            if half.next_seq is None and half.pending:
                half.settle()
            if half.finished or half.next_seq is None:
                self._end_side(side, ts)

    def _end_side(self, side: int, ts: float) -> None:
        if self.closed_sides[side]:
            return
        self.halves[side].flush()
        self.closed_sides[side] = True
        parser = self.parsers[side]
        if parser is not None:
            events = parser.feed_eof(ts)
            if events:
                self.handle(side, events)
        if all(self.closed_sides):
            self.close()

    def close(self) -> None:
        """Flush both directions and emit everything still open. Idempotent."""
        ts = self.last_ts
        for side in (0, 1):
            if not self.closed_sides[side]:
                self.closed_sides[side] = True
                self.halves[side].flush()
                parser = self.parsers[side]
                if parser is not None:
                    events = parser.feed_eof(ts)
                    if events:
                        self.handle(side, events)
        if self.current_resp is not None:
            self._finish(self.current_resp)
            self.current_resp = None
        while self.pending:
            self._finish(self.pending.popleft())
        self.current_req = None
        self.sensor.forget(self)
        # Break the connection <-> sink <-> parser cycles so plain reference counting frees it:
        # the sensor runs with a relaxed cyclic GC (see ``relaxed_gc``).
        self.halves = ()
        self.sinks = ()
        self.parsers = [None, None]

    # -- roles ---------------------------------------------------------------------------------
    def _set_client(self, side: int) -> None:
        self.client = side
        cfg = self.sensor.config
        client_ip, server_ip = self.addr[side], self.addr[1 - side]
        client_port, server_port = self.ports[side], self.ports[1 - side]
        self.client_str = format_addr(client_ip, client_port)
        self.server_str = format_addr(server_ip, server_port)
        self.uid = "C" + base64.b32encode(
            hashlib.blake2b(f"{self.client_str}|{self.server_str}|{self.first_ts:.6f}".encode(),
                            digest_size=10).digest()
        ).decode("ascii")
        wire_cap = max(cfg.body_cap, 2 * 1024 * 1024)
        self.parsers[side] = HttpParser(
            is_response=False, body_cap=cfg.body_cap, wire_cap=wire_cap, max_decoded=cfg.max_decoded_bytes,
            max_head=cfg.max_head_bytes, max_unrecognized=cfg.max_unrecognized_bytes)
        self.parsers[1 - side] = HttpParser(
            is_response=True, method_for_response=self._pair, body_cap=cfg.body_cap, wire_cap=wire_cap,
            max_decoded=cfg.max_decoded_bytes, max_head=cfg.max_head_bytes,
            max_unrecognized=cfg.max_unrecognized_bytes)

    def first_data(self, side: int, data: bytes) -> None:
        """First bytes of one direction: decide roles if the handshake was missed, and drop
        connections that are evidently not HTTP/1 so no time is spent on them."""
        self.checked[side] = True
        probe = data.lstrip(b"\r\n")
        if self.client is None:
            if looks_like_request(probe):
                self._set_client(side)
            elif looks_like_response(probe):
                self._set_client(1 - side)
            else:
                # Mid-body: the server is on the well-known or lower port.
                p_this, p_other = self.ports[side], self.ports[1 - side]
                this_is_server = (p_this in WELL_KNOWN_HTTP_PORTS and p_other not in WELL_KNOWN_HTTP_PORTS) or (
                    (p_this in WELL_KNOWN_HTTP_PORTS) == (p_other in WELL_KNOWN_HTTP_PORTS) and p_this < p_other
                )
                self._set_client(1 - side if this_is_server else side)
        if len(probe) > 2 and probe[0] in (0x14, 0x15, 0x16, 0x17) and probe[1] == 3:
            self._kill()  # a TLS record header
        elif (self.syn_seen and not self.after_connect and side != self.client
              and not self.halves[side].gap_bytes and not self._requests_seen()
              and not looks_like_response(probe)):
            # Seen from its start, an HTTP/1 server's first bytes are a status line. Anything
            # else (SMTP/FTP banners, SSH, IRC notices...) is another protocol. The client's
            # first bytes are not judged: malformed request lines still get HTTP answers.
            self._kill()
        self.after_connect = False

    def _requests_seen(self) -> bool:
        parser = self.parsers[self.client] if self.client is not None else None
        return parser is not None and parser.messages > 0

    def _kill(self) -> None:
        self.dead = True
        self.sensor.counters["non_http_connections"] += 1
        for p in self.parsers:
            if p is not None:
                p.tunnel()

    # -- pairing -------------------------------------------------------------------------------
    def _pair(self, head: ResponseHead) -> str | None:
        """Called by the response parser on each response head: which request does it answer?

        The decision is queued and applied when the head's event is handled, so several
        responses parsed from one segment pair in order.
        """
        pending = self.pending
        if head.status is not None and 100 <= head.status < 200 and head.status != 101:
            tx = pending[0] if pending else None
            self.paired.append((tx, True))
            return tx.req_head.method if tx and tx.req_head else None
        client = self.client if self.client is not None else 0
        if self.gap_seen[1 - client] and len(pending) > 1:
            # Responses were lost in a gap: answer the latest request sent before this response,
            # the ones before it got no (captured) response.
            idx = 0
            for i, tx in enumerate(pending):
                if tx.req_head is not None and tx.req_head.ts <= head.ts:
                    idx = i
            for _ in range(idx):
                self._finish(pending.popleft())
        self.gap_seen[1 - client] = False
        if pending and (pending[0].req_head is None or pending[0].req_head.ts <= head.ts):
            tx = pending.popleft()
        else:
            self.depth += 1
            tx = _Tx(self.depth, None)
        self.paired.append((tx, False))
        return tx.req_head.method if tx.req_head else None

    def handle(self, side: int, events: list) -> None:
        tx: _Tx | None
        if side == self.client:
            for ev in events:
                if type(ev) is RequestHead:
                    self.depth += 1
                    tx = _Tx(self.depth, ev)
                    self.current_req = tx
                    pending = self.pending
                    pending.append(tx)
                    if len(pending) > self.sensor.config.max_pending_requests:
                        self._finish(pending.popleft())
                elif type(ev) is MessageEnd:
                    tx = self.current_req
                    if tx is None:
                        continue
                    tx.req_end = ev
                    self.current_req = None
                    if tx.resp_end is not None:
                        self._finish(tx)
                elif type(ev) is Skipped:
                    self.sensor.counters["skipped_bytes"] += ev.size
        else:
            for ev in events:
                if type(ev) is ResponseHead:
                    tx, interim = self.paired.popleft() if self.paired else (None, False)
                    self.resp_interim = interim
                    if interim:
                        if tx is not None and ev.status is not None:
                            tx.interim.append(ev.status)
                        continue
                    self.current_resp = tx
                    if tx is not None:
                        tx.resp_head = ev
                elif type(ev) is MessageEnd:
                    if self.resp_interim:
                        self.resp_interim = False
                        continue
                    tx = self.current_resp
                    if tx is None:
                        continue
                    tx.resp_end = ev
                    self.current_resp = None
                    if TAG_UPGRADE in ev.tags:
                        self._upgraded(tx)
                    if tx.req_head is None or tx.req_end is not None or tx is not self.current_req:
                        self._finish(tx)
                elif type(ev) is Skipped:
                    self.sensor.counters["skipped_bytes"] += ev.size

    def _upgraded(self, tx: _Tx) -> None:
        req_parser = self.parsers[self.client] if self.client is not None else None
        resp_parser = self.parsers[1 - self.client] if self.client is not None else None
        if tx.req_head is not None and tx.req_head.method == "CONNECT":
            # A proxy tunnel: often TLS (dropped on sight), sometimes plain HTTP worth reading.
            self.after_connect = True
            self.checked = [False, False]
            for parser in (req_parser, resp_parser):
                if parser is not None:
                    parser.restart()
            return
        # 101 Switching Protocols (WebSocket, h2c): the rest of both directions is not HTTP/1.
        if req_parser is not None:
            req_parser.tunnel()

    def _finish(self, tx: _Tx) -> None:
        req, resp = tx.req_head, tx.resp_head
        if req is None and resp is None:
            return
        if tx is self.current_req:
            self.current_req = None
        req_end, resp_end = tx.req_end, tx.resp_end
        if (req is not None and resp is not None and req_end is not None and resp_end is not None
                and not (req.tags or resp.tags or req_end.tags or resp_end.tags or req_end.trailers
                         or resp_end.trailers or tx.interim)
                and req.host and self.syn_seen and self.seen_sides[0] and self.seen_sides[1]):
            # The clean, common case: nothing to merge, built positionally (field order of Exchange).
            self.sensor.counters["exchanges"] += 1
            self.sensor.emit(Exchange(
                f"{self.uid}.{tx.depth}", req.ts, self.client_str, self.server_str, req.method, req.host,
                req.target, req.version, resp.status, resp.reason, resp.version, req.headers, resp.headers,
                req_end.body, resp_end.body, resp.ts, resp_end.ts, tx.depth, (), self.vlan, (),
            ))
            return
        tags: list[str] = []
        if req is None:
            tags.append(TAG_MISSING_REQUEST)
        else:
            tags.extend(req.tags)
        if tx.req_end is not None:
            tags.extend(tx.req_end.tags)
        if resp is None:
            tags.append(TAG_MISSING_RESPONSE)
        else:
            tags.extend(resp.tags)
        if tx.resp_end is not None:
            tags.extend(tx.resp_end.tags)
        if tx.interim:
            tags.append(TAG_INTERIM)
        if not self.syn_seen:
            tags.append(TAG_MID_STREAM)
        if not all(self.seen_sides):
            tags.append(TAG_ONE_SIDED)
        req_headers = req.headers if req else ()
        if tx.req_end is not None and tx.req_end.trailers:
            req_headers = req_headers + tx.req_end.trailers
        resp_headers = resp.headers if resp else ()
        if tx.resp_end is not None and tx.resp_end.trailers:
            resp_headers = resp_headers + tx.resp_end.trailers
        host = req.host if req else None
        target = req.target if req else None
        if not host and target and "://" in target[:16]:
            host = target.split("://", 1)[1].split("/", 1)[0]
        if not host:
            host = self.server_str[:-3] if self.server_str.endswith(":80") else self.server_str
        ts = req.ts if req else resp.ts  # type: ignore[union-attr]
        end = tx.resp_end or tx.req_end
        record = Exchange(
            uid=f"{self.uid}.{tx.depth}",
            ts=ts,
            client=self.client_str,
            server=self.server_str,
            method=req.method if req else None,
            host=host,
            target=target,
            version=req.version if req else None,
            status=resp.status if resp else None,
            reason=resp.reason if resp else None,
            response_version=resp.version if resp else None,
            request_headers=req_headers,
            response_headers=resp_headers,
            request_body=tx.req_end.body if tx.req_end else Body(),
            response_body=tx.resp_end.body if tx.resp_end else Body(),
            response_ts=resp.ts if resp else None,
            end_ts=end.ts if end else None,
            trans_depth=tx.depth,
            interim_statuses=tuple(tx.interim),
            vlan=self.vlan,
            tags=tuple(dict.fromkeys(tags)),
        )
        self.sensor.counters["exchanges"] += 1
        self.sensor.emit(record)


class Sensor:
    """Bounded flow table + decoders. Feed frames with ``process``; call ``flush`` at the end."""

    def __init__(self, emit: Callable[[Exchange], None], config: SensorConfig | None = None) -> None:
        self.config = config or SensorConfig()
        self.emit = emit
        self.decoder = Decoder(self.config.max_fragment_sets, self.config.fragment_timeout)
        self.flows: dict[tuple[bytes, int, bytes, int], tuple[Connection, int]] = {}
        self.counters: Counter[str] = Counter()
        self.packets = 0  # hot counter kept out of the Counter
        self._next_sweep = 0.0

    def process(self, ts: float, linktype: int, frame: bytes) -> None:
        self.packets += 1
        seg = self.decoder.decode(linktype, frame, ts)
        if seg is None:
            return
        src, dst, sport, dport, seq, ack, flags, payload, vlan = seg
        entry = self.flows.get((src, sport, dst, dport))
        if entry is None:
            if not payload and not flags & TH_SYN:
                return  # a bare ACK/FIN/RST of a connection we know nothing about
            if ts >= self._next_sweep:
                self.sweep(ts)
            self._open(ts, seg)
            return
        conn, side = entry
        if not payload and flags & 0x17 == TH_ACK:
            # A pure ACK (half the packets of a busy link): only the gap bookkeeping needs it.
            conn.last_ts = ts
            conn.seen_sides[side] = True
            other = conn.halves[1 - side]
            if other.ooo:
                other.peer_ack(ack)
            elif other.acked is None:
                other.acked = ack
            if ts >= self._next_sweep:
                self.sweep(ts)
            return
        if (flags & TH_SYN and not flags & TH_ACK and conn.closed_sides[side]
                and not conn.halves[side].is_own_syn(seq)):
            # Port reuse: a new connection on a 4-tuple whose old one ended.
            conn.close()
            self._open(ts, seg)
            return
        conn.packet(side, seq, ack, flags, payload, ts)
        if ts >= self._next_sweep:
            self.sweep(ts)

    def _open(self, ts: float, seg: tuple) -> None:
        """Track a new connection whose first packet we see is ``seg`` (side 0 sent it)."""
        src, dst, sport, dport, seq, ack, flags, payload, vlan = seg
        if len(self.flows) >= 2 * self.config.max_flows:
            self._evict_oldest()  # make room first, so the newcomer is never the one evicted
        conn = Connection(self, src, sport, dst, dport, ts, vlan)
        self.flows[(src, sport, dst, dport)] = (conn, 0)
        self.flows[(dst, dport, src, sport)] = (conn, 1)
        self.counters["connections"] += 1
        conn.packet(0, seq, ack, flags, payload, ts)

    def forget(self, conn: Connection) -> None:
        src, dst = conn.addr
        sport, dport = conn.ports
        for key in ((src, sport, dst, dport), (dst, dport, src, sport)):
            entry = self.flows.get(key)
            if entry is not None and entry[0] is conn:
                del self.flows[key]

    def sweep(self, now: float) -> None:
        """Close connections idle longer than the timeout (capture time)."""
        self._next_sweep = now + self.config.sweep_interval
        limit = now - self.config.idle_timeout
        stale = {id(c): c for c, _ in self.flows.values() if c.last_ts < limit}
        for conn in stale.values():
            self.counters["idle_evictions"] += 1
            conn.close()

    def _evict_oldest(self) -> None:
        conns = {id(c): c for c, _ in self.flows.values()}
        victims = sorted(conns.values(), key=lambda c: c.last_ts)[: max(1, len(conns) // 10)]
        for conn in victims:
            self.counters["capacity_evictions"] += 1
            conn.close()

    def flush(self) -> None:
        conns = {id(c): c for c, _ in self.flows.values()}
        for conn in sorted(conns.values(), key=lambda c: c.first_ts):
            conn.close()
        self.flows.clear()

    def stats(self) -> dict[str, int]:
        out = dict(self.counters)
        out["packets"] = self.packets
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
    ``pcapio.CaptureError`` (after flushing the connections still open).
    """
    out: list[Exchange] = []
    sensor = Sensor(out.append, config)
    if sensor_out is not None:
        sensor_out.append(sensor)
    stream, owned = _open_source(source)
    error: pcapio.CaptureError | None = None
    try:
        try:
            with relaxed_gc():
                for ts, linktype, frame in pcapio.open_capture(stream):
                    sensor.process(ts, linktype, frame)  # a direct call once compiled (setup.py)
                    if out:
                        yield from out
                        out.clear()
        except pcapio.CaptureError as exc:
            error = exc
        sensor.flush()
        yield from out
        out.clear()
    finally:
        if owned:
            stream.close()
    if error is not None:
        raise error
