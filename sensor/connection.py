"""One TCP connection: two reassembled half-streams, two HTTP/1 parsers, and the pairing of their
messages into ``Exchange`` records.

Everything here is per flow and never sees another flow: the sensor (``sensor.engine``) owns the
flow table and contains any error raised in here to the one connection it came from.

Order across the two directions: a capture can show a segment before the one it answers (SPAN
ports merge sources), or lose the client segment a response answers. A data segment that
acknowledges bytes of the other direction we have not seen is held (a few segments at most) until
those bytes arrive; when they do not, they are declared a gap first. Either way the parsers see
the request before its answer.

Memory: objects are made when a flow first needs them (the parsers on first data, reassembly
buffers on the first hole, address strings on the first exchange), and every byte a flow holds
(out-of-order segments, partial heads and bodies, requests waiting for their answer, held
segments) is accounted to the sensor's buffer budget.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import socket
from typing import TYPE_CHECKING, Any

from sensor.decode import TH_ACK, TH_FIN, TH_RST, TH_SYN
from sensor.http1 import (
    START,
    Event,
    HttpParser,
    MessageEnd,
    RequestHead,
    ResponseHead,
    Skipped,
    looks_like_request,
    looks_like_response,
)
from sensor.proto import detect as proto_detect
from sensor.records import (
    TAG_HTTP09,
    TAG_INTERIM,
    TAG_MID_STREAM,
    TAG_MISSING_REQUEST,
    TAG_MISSING_RESPONSE,
    TAG_ONE_SIDED,
    TAG_PARSER_ERROR,
    TAG_UPGRADE,
    Body,
    Exchange,
)
from sensor.tcp import NONE, HalfStream, seq_diff

if TYPE_CHECKING:
    from sensor.engine import Sensor

WELL_KNOWN_HTTP_PORTS = frozenset((80, 8080, 8000, 8008, 8081, 8088, 8089, 8888, 3000, 5000, 9200, 15672))
# Holding segments that answer bytes not seen yet: at most this many segments and bytes, for at
# most this many further packets on the connection; an acknowledgement further ahead than
# HOLD_WINDOW is not trusted (a bogus or mid-stream one) and holds nothing.
HOLD_SEGMENTS = 8
HOLD_BYTES = 256 * 1024
HOLD_PACKETS = 8
HOLD_WINDOW = 16 * 1024 * 1024
UNKNOWN = -1  # ``client`` before the roles are known
DECRYPTED = {"decrypted": True}  # ``proto["tls"]`` of records read from decrypted TLS


def format_addr(ip: bytes, port: int) -> str:
    if len(ip) == 4:
        return f"{ip[0]}.{ip[1]}.{ip[2]}.{ip[3]}:{port}"
    return f"[{socket.inet_ntop(socket.AF_INET6, ip)}]:{port}"


class _Tx:
    """An exchange being assembled."""

    __slots__ = ("depth", "req_head", "req_end", "resp_head", "resp_end", "interim", "size")

    def __init__(self, depth: int, req_head: RequestHead | None) -> None:
        self.depth = depth
        self.req_head = req_head
        self.req_end: MessageEnd | None = None
        self.resp_head: ResponseHead | None = None
        self.resp_end: MessageEnd | None = None
        self.interim: list[int] | None = None
        self.size = 0  # bytes of request head and body accounted to the budget while it waits


class _Sink:
    """Connects a half-stream to its parser; decides the connection's roles on first data."""

    __slots__ = ("conn", "side", "held")

    def __init__(self, conn: Connection, side: int) -> None:
        self.conn = conn
        self.side = side
        self.held = 0  # bytes the parser holds (partial head, body being collected), as accounted

    def data(self, data: bytes, ts: float) -> None:
        conn = self.conn
        side = self.side
        if conn.proto is not None:
            conn.proto_feed(side, data, ts)
            return
        parser = conn.parsers[side]
        if parser is None or not conn.checked & (1 << side):
            if conn.first_data(side, data):  # handed to a protocol session
                conn.proto_feed(side, data, ts)
                return
            parser = conn.parser(side)
            if parser is None or conn.dead:
                return
        if parser.state == START and not parser._buf and parser._head_ts is None and parser._next_tags is None \
                and data[0] not in (13, 10):
            # One whole message in one segment, the usual case: straight to the parser's fast path.
            events: list[Event] = []
            end = parser._fast_message(data, 0, len(data), ts, events)
            if end == len(data):
                conn.handle(side, events)
                return
            if end >= 0:  # more after the message: let the state machine take the rest
                events += parser.feed(data[end:], ts)
                conn.handle(side, events)
                self._account(parser)
                return
        events = parser.feed(data, ts)
        if events:
            conn.handle(side, events)
        self._account(parser)

    def gap(self, size: int, ts: float) -> None:
        conn = self.conn
        conn.sensor.counters["gap_bytes"] += size
        conn.gaps |= 1 << self.side
        if conn.proto is not None:
            conn.proto_events(conn.proto.feed_gap(self.side, size, ts))
            return
        parser = conn.parsers[self.side] if conn.client == UNKNOWN else conn.parser(self.side)
        if parser is None:
            return
        events = parser.feed_gap(size, ts)
        if events:
            conn.handle(self.side, events)
        self._account(parser)

    def _account(self, parser: HttpParser) -> None:
        held = len(parser._buf)
        body = parser._body
        if body is not None:
            held += body.captured
        if held != self.held:
            self.conn.account(held - self.held)
            self.held = held


class Connection:
    __slots__ = (
        "sensor", "src", "dst", "sport", "dport", "halves", "parsers", "client", "syn_seen", "uid",
        "first_ts", "last_ts", "pending", "current_req", "current_resp", "resp_interim", "depth", "dead",
        "closed", "gaps", "vlan", "client_str", "server_str", "seen", "paired", "checked", "after_connect",
        "sinks", "early", "held", "held_side", "held_ack", "held_bytes", "held_age", "buffered", "taint",
        "gone", "released_ts", "proto", "maker", "inner", "outer",
    )

    def __init__(self, sensor: Sensor, src: bytes, sport: int, dst: bytes, dport: int, ts: float,
                 vlan: tuple[int, ...]) -> None:
        self.sensor = sensor
        self.src, self.dst = src, dst  # side 0 is whoever sent the first packet we saw
        self.sport, self.dport = sport, dport
        # The sinks are kept typed here too: the in-order fast path in ``packet`` calls them directly.
        self.sinks: tuple[_Sink, ...] = (_Sink(self, 0), _Sink(self, 1))
        limits = sensor.limits
        self.halves: tuple[HalfStream, ...] = (HalfStream(self.sinks[0], limits, self),
                                               HalfStream(self.sinks[1], limits, self))
        self.parsers: list[HttpParser | None] = [None, None]  # made on each side's first data
        self.client = UNKNOWN
        self.syn_seen = False
        self.uid = ""  # these three are made with the first exchange
        self.client_str = ""
        self.server_str = ""
        self.first_ts = ts
        self.last_ts = ts
        self.pending: list[_Tx] = []  # requests waiting for their answer, oldest first
        self.current_req: _Tx | None = None
        self.current_resp: _Tx | None = None
        self.resp_interim = False
        # Pairing decisions made while a response head was parsed, consumed in event order.
        self.paired: list[tuple[_Tx | None, bool]] = []
        self.early: _Tx | None = None  # answered before its request head was complete
        self.depth = 0
        self.dead = False
        # Per side, as bits (1 << side): FIN seen / gap seen since last pairing / packets seen /
        # first data looked at.
        self.closed = 0
        self.gaps = 0
        self.seen = 0
        self.checked = 0
        self.after_connect = False  # a CONNECT tunnel opened: the next bytes may be plain HTTP
        self.vlan = vlan
        # Segments held until the other direction catches up: (seq, ack, flags, payload, ts).
        self.held: list[tuple[int, int, int, bytes, float]] | None = None
        self.held_side = 0
        self.held_ack = 0
        self.held_bytes = 0
        self.held_age = 0
        # While held segments are delivered: the time they were released. They follow what they
        # acknowledge whatever the capture's timestamps say, so pairing compares with this.
        self.released_ts = 0.0
        self.buffered = 0  # bytes accounted to the sensor's budget
        # Exchanges still to tag parser_error: all of them once an error was contained here; the
        # first one of a connection that follows a failed one on the same 4-tuple.
        self.taint = 0
        self.gone = False  # closed and forgotten
        # Another protocol than HTTP/1 (sensor.proto): its session, made when the first bytes or
        # a 101 Switching Protocols say so; the records it gives are built by ``maker``.
        # (Typed Any: sensor.proto is imported by the first connection that needs it, so plain
        # HTTP/1 sensors never load it, and mypyc checks a class it cannot import as None.)
        self.proto: Any = None  # sensor.proto.session.ProtoSession
        self.maker: Any = None  # sensor.proto.emit.RecordMaker
        # Decrypted TLS carrying HTTP/1: a connection of its own (not in the flow table) reads it;
        # ``outer`` is the TLS connection of such an inner one.
        self.inner: Connection | None = None
        self.outer: Connection | None = None

    # -- budget ------------------------------------------------------------------------------
    def account(self, delta: int) -> None:
        self.buffered += delta
        sensor = self.sensor
        sensor.buffered += delta
        if sensor.buffered > sensor.config.max_buffered_bytes:
            sensor.over_budget = True

    # -- packets -----------------------------------------------------------------------------
    def packet(self, side: int, seq: int, ack: int, flags: int, payload: bytes, ts: float) -> None:
        self.last_ts = ts
        self.seen |= 1 << side
        if flags & TH_SYN:
            if self.client == UNKNOWN:
                self.syn_seen = True
                self._set_client(side if not flags & TH_ACK else 1 - side)
            self.halves[side].syn(seq)
            seq = (seq + 1) & 0xFFFFFFFF  # data in a SYN (TCP Fast Open) follows the SYN's number
        other = self.halves[1 - side]
        held = self.held
        if held is not None:
            if side == self.held_side:
                # Behind the held ones, acknowledgement included: acting on it now could declare
                # the other side's hole and deliver its later data before these.
                self._hold(seq, ack, flags, payload, ts)
                if flags & TH_RST or len(held) > HOLD_SEGMENTS or self.held_bytes > HOLD_BYTES:
                    self._release(ts)
                return
            self.held_age += 1
        elif (payload and flags & TH_ACK and ack != other.next_seq and other.next_seq != NONE and not self.dead
              and self._answers_unseen(other, ack)):
            self.held_side = side
            self.held_ack = ack
            self.held_age = 0
            self.held = []
            self._hold(seq, ack, flags, payload, ts)
            return
        if flags & TH_ACK:
            self.acked(side, ack)
        self._segment(side, seq, flags, payload, ts)
        if self.held is not None and not self.gone:
            awaited = self.halves[1 - self.held_side].next_seq
            if (awaited == NONE or seq_diff(self.held_ack, awaited) <= 0 or self.held_age > HOLD_PACKETS
                    or flags & (TH_FIN | TH_RST)):
                self._release(ts)  # what they answer has arrived, or will not

    def acked(self, side: int, ack: int) -> None:
        """``side`` acknowledged the other side's bytes up to ``ack`` (the gap bookkeeping)."""
        other = self.halves[1 - side]
        if other.ooo:
            other.peer_ack(ack)
        elif other.acked == NONE:
            other.acked = ack

    def _segment(self, side: int, seq: int, flags: int, payload: bytes, ts: float) -> None:
        """Deliver one segment's data and FIN/RST to its half-stream (``seq`` is its first byte's)."""
        half = self.halves[side]
        if payload and not self.dead:
            other = self.halves[1 - side]
            if other.next_seq == NONE and other.pending:
                other.settle()  # the peer's earlier bytes come first in the pairing
            if seq == half.next_seq and not half.ooo and not half.closed:
                # In-order segment, nothing held: HalfStream.segment's common case, inlined.
                half.next_seq = (seq + len(payload)) & 0xFFFFFFFF
                half.bytes_delivered += len(payload)
                self.sinks[side].data(payload, ts)
            else:
                half.segment(seq, payload, ts)
        if flags & (TH_FIN | TH_RST) and not self.gone:
            if flags & TH_RST:
                self.close()
                return
            half.fin(seq, len(payload))
            if half.next_seq == NONE and half.pending:
                half.settle()
            if half.finished or half.next_seq == NONE:
                self._end_side(side, ts)

    @staticmethod
    def _answers_unseen(other: HalfStream, ack: int) -> bool:
        """Does a segment acknowledging ``ack`` answer bytes of ``other`` not delivered yet?

        One byte ahead with nothing held is the other side's FIN (seen or still to come), not data.
        """
        ahead = seq_diff(ack, other.next_seq)
        if ahead <= 0 or ahead > HOLD_WINDOW or other.closed:
            return False
        if ahead == 1 and not other.ooo:
            return False
        return not (other.fin_seq != NONE and seq_diff(ack, other.fin_seq) <= 1
                    and seq_diff(other.fin_seq, other.next_seq) <= 0)

    def _hold(self, seq: int, ack: int, flags: int, payload: bytes, ts: float) -> None:
        self.held.append((seq, ack, flags, payload, ts))  # type: ignore[union-attr]
        self.held_bytes += len(payload)
        self.account(len(payload))

    def _release(self, ts: float) -> None:
        """Deliver the held segments, each after the other side's bytes it acknowledges: those
        that came are delivered first, those that never came are a gap."""
        held = self.held or []
        side = self.held_side
        self.held = None
        if self.held_bytes:
            self.account(-self.held_bytes)
        self.held_bytes = 0
        other = self.halves[1 - side]
        self.released_ts = ts
        try:
            for seq, ack, flags, payload, seg_ts in held:
                if self.gone:
                    return
                if flags & TH_ACK:
                    self._catch_up(other, ack, seg_ts)
                    self.acked(side, ack)
                self._segment(side, seq, flags, payload, seg_ts)
        finally:
            self.released_ts = 0.0
        if self.gone:
            return
        # The other side's segments after the answered bytes come next, and a FIN seen while
        # they waited may now be reached.
        other.drain()
        for s in (1 - side, side):
            half = self.halves[s] if not self.gone else None
            if half is not None and half.fin_seq != NONE and half.finished:
                self._end_side(s, ts)

    def _catch_up(self, other: HalfStream, ack: int, ts: float) -> None:
        """Bring ``other`` up to ``ack``: held segments before it delivered, missing bytes a gap."""
        if other.next_seq != NONE and self._answers_unseen(other, ack):
            if other.fin_seq != NONE and seq_diff(ack, other.fin_seq) > 0:
                ack = other.fin_seq
            other.skip_to(ack, ts)

    def _end_side(self, side: int, ts: float) -> None:
        if self.closed & (1 << side):
            return
        self.halves[side].flush()
        self.closed |= 1 << side
        parser = self.parsers[side]
        if parser is not None:
            events = parser.feed_eof(ts)
            if events:
                self.handle(side, events)
        if self.closed == 3:
            self.close()

    def close(self) -> None:
        """Flush both directions and emit everything still open. Idempotent."""
        if self.gone:
            return
        ts = self.last_ts
        if self.held is not None:
            self._release(ts)
            if self.gone:
                return
        for side in (0, 1):
            if not self.closed & (1 << side):
                self.closed |= 1 << side
                self.halves[side].flush()
                parser = self.parsers[side]
                if parser is not None:
                    events = parser.feed_eof(ts)
                    if events:
                        self.handle(side, events)
        if self.proto is not None:
            self._proto_close(ts)
        if self.current_resp is not None:
            self._finish(self.current_resp)
            self.current_resp = None
        if self.early is not None:
            self._finish(self.early)
            self.early = None
        while self.pending:
            self._finish(self.pending.pop(0))
        self.current_req = None
        self.abandon()

    def abandon(self) -> None:
        """Forget the connection without flushing it (after ``close``, or when closing failed)."""
        self.gone = True
        self.sensor.forget(self)
        if self.buffered:
            self.account(-self.buffered)
        # Break the connection <-> sink <-> parser cycles so plain reference counting frees it:
        # the sensor runs with a relaxed cyclic GC (see ``engine.relaxed_gc``).
        self.halves = ()
        self.sinks = ()
        self.parsers = [None, None]
        self.pending = []
        self.held = None
        self.proto = None
        self.maker = None
        self.inner = None
        self.outer = None

    # -- roles ---------------------------------------------------------------------------------
    def _set_client(self, side: int) -> None:
        self.client = side

    def parser(self, side: int) -> HttpParser | None:
        """This side's parser, made on first use once the roles are known."""
        parser = self.parsers[side]
        if parser is None and self.client != UNKNOWN and not self.dead:
            cfg = self.sensor.config
            wire_cap = max(cfg.body_cap, 2 * 1024 * 1024)
            if side == self.client:
                parser = HttpParser(
                    is_response=False, body_cap=cfg.body_cap, wire_cap=wire_cap, max_decoded=cfg.max_decoded_bytes,
                    max_head=cfg.max_head_bytes, max_unrecognized=cfg.max_unrecognized_bytes)
            else:
                parser = HttpParser(
                    is_response=True, method_for_response=self._pair, http09_answer=self._http09_pending,
                    body_cap=cfg.body_cap, wire_cap=wire_cap, max_decoded=cfg.max_decoded_bytes,
                    max_head=cfg.max_head_bytes, max_unrecognized=cfg.max_unrecognized_bytes)
            self.parsers[side] = parser
        return parser

    def _names(self) -> None:
        """The address strings and uid, made with the first exchange (most flows never have one)."""
        if self.client == 1:
            self.client_str, self.server_str = format_addr(self.dst, self.dport), format_addr(self.src, self.sport)
        else:
            self.client_str, self.server_str = format_addr(self.src, self.sport), format_addr(self.dst, self.dport)
        self.uid = "C" + base64.b32encode(
            hashlib.blake2b(f"{self.client_str}|{self.server_str}|{self.first_ts:.6f}".encode(),
                            digest_size=10).digest()
        ).decode("ascii")

    def first_data(self, side: int, data: bytes) -> bool:
        """First bytes of one direction: decide roles if the handshake was missed, hand the
        connection to a protocol session when they are another protocol's (True), and drop
        connections that are evidently not HTTP/1 so no time is spent on them."""
        self.checked |= 1 << side
        probe = data.lstrip(b"\r\n")
        if probe and not self.dead:
            c = probe[0]
            # c == 0 from the start: an HTTP/2 server that speaks first (its SETTINGS frame,
            # type 4, before the client's preface arrives), as h2c servers may.
            if (c == 0x16 or c == 0x17 or c == 0x15 or c == 0x14 or c == 0xDA or (c == 0x50 and probe[:5] == b"PRI *")
                    or (c == 0 and (not self.syn_seen or (len(probe) >= 9 and probe[3] == 4)))):
                det = proto_detect.detect(probe[:proto_detect.DECIDE_BYTES])
                if det.known and det.protocol != proto_detect.HTTP1:
                    self._to_proto(side, det)
                    return True
        if self.client == UNKNOWN:
            if looks_like_request(probe):
                self._set_client(side)
            elif looks_like_response(probe):
                self._set_client(1 - side)
            else:
                # Mid-body: the server is on the well-known or lower port.
                p_this, p_other = (self.sport, self.dport) if side == 0 else (self.dport, self.sport)
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
        return False

    def _requests_seen(self) -> bool:
        parser = self.parsers[self.client] if self.client != UNKNOWN else None
        return parser is not None and parser.messages > 0

    def _kill(self) -> None:
        self.dead = True
        self.sensor.counters["non_http_connections"] += 1
        for p in self.parsers:
            if p is not None:
                p.tunnel()

    # -- pairing -------------------------------------------------------------------------------
    def _http09_pending(self) -> bool:
        """Asked by the response parser: is the oldest unanswered request an HTTP/0.9 one?"""
        pending = self.pending
        head = pending[0].req_head if pending else None
        return head is not None and head.version is None and TAG_HTTP09 in head.tags

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
        client = self.client if self.client != UNKNOWN else 0
        head_ts = max(head.ts, self.released_ts)
        if self.gaps & (1 << (1 - client)) and len(pending) > 1:
            # Responses were lost in a gap: answer the latest request sent before this response,
            # the ones before it got no (captured) response.
            idx = 0
            for i, tx in enumerate(pending):
                if tx.req_head is not None and tx.req_head.ts <= head_ts:
                    idx = i
            for _ in range(idx):
                self._finish(pending.pop(0))
        self.gaps &= ~(1 << (1 - client))
        if pending and (pending[0].req_head is None or pending[0].req_head.ts <= head_ts):
            tx = pending.pop(0)
        else:
            self.depth += 1
            tx = _Tx(self.depth, None)
            request_parser = self.parsers[client]
            if self.early is None and request_parser is not None and request_parser.head_in_progress():
                # The server answered (an early 400, say) before the request head was complete:
                # this answer belongs to the request still arriving.
                self.early = tx
        self.paired.append((tx, False))
        return tx.req_head.method if tx.req_head else None

    def handle(self, side: int, events: list[Event]) -> None:
        tx: _Tx | None
        if side == self.client:
            for ev in events:
                if type(ev) is RequestHead:
                    early = self.early
                    if early is not None:
                        self.early = None
                        early.req_head = ev
                        self.current_req = early
                        self._charge(early, ev.size)
                        continue
                    self.depth += 1
                    tx = _Tx(self.depth, ev)
                    self.current_req = tx
                    pending = self.pending
                    pending.append(tx)
                    self._charge(tx, ev.size)
                    if len(pending) > self.sensor.config.max_pending_requests:
                        self._finish(pending.pop(0))
                elif type(ev) is MessageEnd:
                    tx = self.current_req
                    if tx is None:
                        continue
                    tx.req_end = ev
                    self.current_req = None
                    if tx.resp_end is not None:
                        self._finish(tx)
                    else:
                        self._charge(tx, len(ev.body.data))
                elif type(ev) is Skipped:
                    self._skipped(ev)
                    if self.early is not None:  # the head it answered is lost
                        early, self.early = self.early, None
                        self._finish(early)
        else:
            for ev in events:
                if type(ev) is ResponseHead:
                    if self.paired:
                        tx, interim = self.paired.pop(0)
                    else:
                        tx, interim = None, False
                    self.resp_interim = interim
                    if interim:
                        if tx is not None and ev.status is not None:
                            if tx.interim is None:
                                tx.interim = [ev.status]
                            else:
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
                    if tx is self.early:
                        continue  # waits for its request head
                    if tx.req_head is None or tx.req_end is not None or tx is not self.current_req:
                        self._finish(tx)
                elif type(ev) is Skipped:
                    self._skipped(ev)

    def _skipped(self, ev: Skipped) -> None:
        counters = self.sensor.counters
        counters["skipped_bytes"] += ev.size
        if ev.reason == "watchdog":
            counters["parser_watchdog"] += 1

    def _charge(self, tx: _Tx, size: int) -> None:
        if size:
            tx.size += size
            self.account(size)

    def _upgraded(self, tx: _Tx) -> None:
        req_parser = self.parsers[self.client] if self.client != UNKNOWN else None
        resp_parser = self.parsers[1 - self.client] if self.client != UNKNOWN else None
        if tx.req_head is not None and tx.req_head.method == "CONNECT":
            # A proxy tunnel: often TLS (dropped on sight), sometimes plain HTTP worth reading.
            self.after_connect = True
            self.checked = 0
            for parser in (req_parser, resp_parser):
                if parser is not None:
                    parser.restart()
            return
        # 101 Switching Protocols (WebSocket, h2c): the rest of both directions is not HTTP/1.
        if req_parser is not None:
            req_parser.tunnel()
        self._adopt_upgrade(tx, resp_parser)

    def _finish(self, tx: _Tx) -> None:
        if tx.size:
            self.account(-tx.size)
            tx.size = 0
        req, resp = tx.req_head, tx.resp_head
        if req is None and resp is None:
            return
        if tx is self.current_req:
            self.current_req = None
        if not self.uid:
            self._names()
        sensor = self.sensor
        req_end, resp_end = tx.req_end, tx.resp_end
        if (req is not None and resp is not None and req_end is not None and resp_end is not None
                and not (req.tags or resp.tags or req_end.tags or resp_end.tags or req_end.trailers
                         or resp_end.trailers or tx.interim or self.taint)
                and req.host and self.syn_seen and self.seen == 3 and self.outer is None):
            # The clean, common case: nothing to merge, built positionally (field order of Exchange).
            sensor.counters["exchanges"] += 1
            sensor.deliver(Exchange(
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
        if req_end is not None:
            tags.extend(req_end.tags)
        if resp is None:
            tags.append(TAG_MISSING_RESPONSE)
        else:
            tags.extend(resp.tags)
        if resp_end is not None:
            tags.extend(resp_end.tags)
        if tx.interim:
            tags.append(TAG_INTERIM)
        if not self.syn_seen:
            tags.append(TAG_MID_STREAM)
        if self.seen != 3:
            tags.append(TAG_ONE_SIDED)
        if self.taint:
            self.taint -= 1
            tags.append(TAG_PARSER_ERROR)
        req_headers = req.headers if req else ()
        if req_end is not None and req_end.trailers:
            req_headers = req_headers + req_end.trailers
        resp_headers = resp.headers if resp else ()
        if resp_end is not None and resp_end.trailers:
            resp_headers = resp_headers + resp_end.trailers
        host = req.host if req else None
        target = req.target if req else None
        if not host and target and "://" in target[:16]:
            host = target.split("://", 1)[1].split("/", 1)[0]
        if not host:
            host = self.server_str[:-3] if self.server_str.endswith(":80") else self.server_str
        ts = req.ts if req else resp.ts  # type: ignore[union-attr]
        end = resp_end or req_end
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
            request_body=req_end.body if req_end else Body(),
            response_body=resp_end.body if resp_end else Body(),
            response_ts=resp.ts if resp else None,
            end_ts=end.ts if end else None,
            trans_depth=tx.depth,
            interim_statuses=tuple(tx.interim) if tx.interim else (),
            vlan=self.vlan,
            tags=tuple(dict.fromkeys(tags)),
        )
        outer = self.outer
        if outer is not None and outer.maker is not None:  # read from decrypted TLS
            record = dataclasses.replace(record, proto={"tls": outer.maker.tls})
        sensor.counters["exchanges"] += 1
        sensor.deliver(record)

    # -- protocols beyond HTTP/1 (sensor.proto) ------------------------------------------------
    def _session(self) -> Any:  # sensor.proto.session.ProtoSession
        from sensor.proto.session import ProtoSession

        sensor = self.sensor
        session = ProtoSession(from_start=self.syn_seen, ports=(self.sport, self.dport), config=sensor.proto_settings()[0])
        self.proto = session
        return session

    def _to_proto(self, side: int, det: proto_detect.Detection) -> None:
        """The first bytes are another protocol's: a session reads the connection from here."""
        session = self._session()
        if self.client != UNKNOWN:
            session.client_side = self.client
        elif det.role == proto_detect.ROLE_CLIENT:
            self._set_client(side)
        elif det.role == proto_detect.ROLE_SERVER:
            self._set_client(1 - side)
        if self.client != UNKNOWN:
            session.client_side = self.client
        for parser in self.parsers:
            if parser is not None:
                parser.tunnel()

    def _adopt_upgrade(self, tx: _Tx, resp_parser: HttpParser | None) -> None:
        """After a 101: h2c or WebSocket continue in a session, fed what followed the 101 head."""
        from sensor.proto.session import ProtoSession
        from sensor.proto.upgrade import HttpHead

        req, resp = tx.req_head, tx.resp_head
        if req is None or resp is None or resp.status != 101 or self.client == UNKNOWN:
            return
        token = ""
        for name, value in resp.headers:
            if name.lower() == "upgrade":
                token = value.split(",", 1)[0].strip().lower()
                break
        body = tx.req_end.body.data if tx.req_end is not None else b""
        request = HttpHead((req.method, req.target, f"HTTP/{req.version}" if req.version else ""),
                           tuple((k.lower(), v.strip()) for k, v in req.headers), req.ts, body)
        response = HttpHead((f"HTTP/{resp.version}", "101", resp.reason),
                            tuple((k.lower(), v.strip()) for k, v in resp.headers), resp.ts)
        session = ProtoSession(from_start=self.syn_seen, ports=(self.sport, self.dport),
                               config=self.sensor.proto_settings()[0])
        if not session.adopt_upgrade(token, request, response, self.client, resp.ts):
            self.sensor.counters["upgrade_unknown_protocol"] += 1
            return
        self.proto = session
        maker = self._maker()
        if token == "websocket":
            maker.ws_path = req.target
            maker.ws_host = req.host
        rest = resp_parser.tunnel_rest if resp_parser is not None else b""
        if rest:
            resp_parser.tunnel_rest = b""  # type: ignore[union-attr]
            self.proto_feed(1 - self.client, rest, resp.ts)

    def _maker(self) -> Any:  # sensor.proto.emit.RecordMaker
        from sensor.proto.emit import RecordMaker

        maker: Any = self.maker
        if maker is None:
            if not self.uid:
                self._names()
            sensor = self.sensor
            maker = RecordMaker(self.uid, self.client_str, self.server_str, self.vlan, sensor.proto_settings()[1])
            maker.tls_ts = self.first_ts
            self.maker = maker
        return maker

    def proto_feed(self, side: int, data: bytes, ts: float) -> None:
        session: Any = self.proto  # sensor.proto.session.ProtoSession (see __init__)
        if session is not None:
            self.proto_events(session.feed(side, data, ts))

    def proto_events(self, events: list[object]) -> None:
        from sensor.proto.session import PlainBytes

        if not events:
            return
        session: Any = self.proto  # sensor.proto.session.ProtoSession (see __init__)
        if session is not None and self.client == UNKNOWN and session.client_side is not None:
            self._set_client(session.client_side)
        sensor = self.sensor
        for ev in events:
            if type(ev) is PlainBytes:
                self._inner_http(ev)
                continue
            maker = self._maker()
            if maker.tls is None and session is not None and session.inner is not None:
                maker.tls = DECRYPTED  # what the TLS session's inner session gave: read decrypted
            tags: tuple[str, ...] = ()
            if not self.syn_seen:
                tags = (TAG_MID_STREAM,)
            if self.taint:
                tags = (*tags, TAG_PARSER_ERROR)
            maker.tls_end_ts = self.last_ts
            record = maker.make(ev, tags)
            if record is not None:
                sensor.counters["exchanges"] += 1
                sensor.counters["records_" + record.protocol] += 1
                sensor.deliver(record)

    def _inner_http(self, ev: Any) -> None:  # sensor.proto.session.PlainBytes
        """Decrypted bytes that are HTTP/1: read by an inner connection of our own."""
        inner = self.inner
        if inner is None:
            inner = Connection(self.sensor, self.src, self.sport, self.dst, self.dport, self.first_ts, self.vlan)
            inner.syn_seen = True
            inner.seen = 3
            if self.client != UNKNOWN:
                inner._set_client(self.client)
            inner.outer = self
            self._maker().tls = DECRYPTED
            self.inner = inner
        inner.sinks[ev.raw_side].data(ev.data, ev.ts)

    def _proto_close(self, ts: float) -> None:
        session: Any = self.proto  # sensor.proto.session.ProtoSession (see __init__)
        if session is None:
            return
        self.proto_events(session.close(ts))
        if self.inner is not None:
            self.inner.close()
            self.inner = None
        counters = self.sensor.counters
        prefix = (session.protocol or "unknown").replace("/", "")
        for source in (session.counters, session.parser.counters if session.parser is not None else None,
                       session.inner.counters if session.inner is not None else None,
                       session.inner.parser.counters if session.inner is not None and session.inner.parser is not None
                       else None):
            if source:
                for key, value in source.items():
                    counters[f"{prefix}_{key}"] += value
        self.proto = None
