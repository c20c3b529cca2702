"""One direction of a TCP connection, reassembled into an ordered byte stream.

Sequence numbers are compared modulo 2^32. Retransmissions and overlaps deliver each byte once
(first copy wins); out-of-order segments wait in a bounded buffer; bytes that never arrive become
an explicit gap (their count is reported, nothing is zero-filled). A gap is declared as soon as the
peer acknowledges bytes we never saw, when the buffer bound is hit, or when the stream is flushed.

A half-stream whose SYN was not captured settles its starting point on the lowest sequence number
among its first few segments, so captures that start mid-connection or whose packets are shuffled
still reassemble from the right byte.

Buffers are made when first needed (most streams arrive in order and never hold a segment), and
every byte held is reported to an optional ``Budget`` so a sensor can bound the sum over all its
connections.
"""

from __future__ import annotations

from typing import Protocol

MOD = 1 << 32
NONE = -1  # a sequence number not known yet (they are 0 .. 2^32-1): native ints, never boxed
# Segments held past an acknowledged hole before it is declared lost. Captures reorder too
# (SPAN ports merge sources), so one early ACK is not proof that bytes went missing.
ACKED_HOLE_SEGMENTS = 3
HALF = 1 << 31


def seq_diff(a: int, b: int) -> int:
    """Signed distance a - b in sequence space."""
    d = (a - b) & 0xFFFFFFFF
    return d - MOD if d >= HALF else d


class StreamSink(Protocol):
    def data(self, data: bytes, ts: float) -> None: ...
    def gap(self, size: int, ts: float) -> None: ...


class Budget(Protocol):
    """Told of every change in the bytes a half-stream holds (positive: held, negative: freed)."""

    def account(self, delta: int) -> None: ...


class Limits:
    """Bounds shared by all half-streams of a sensor (one object, not three ints per stream)."""

    __slots__ = ("max_ooo_bytes", "max_ooo_segments", "settle_segments")

    def __init__(self, max_ooo_bytes: int, max_ooo_segments: int, settle_segments: int) -> None:
        self.max_ooo_bytes = max_ooo_bytes
        self.max_ooo_segments = max_ooo_segments
        self.settle_segments = settle_segments


class HalfStream:
    """``next_seq``, ``base``, ``acked`` and ``fin_seq`` are sequence numbers or ``NONE``."""

    __slots__ = (
        "sink", "next_seq", "ooo", "ooo_bytes", "fin_seq", "closed", "pending", "pending_bytes", "acked",
        "limits", "syn_seen", "gap_bytes", "bytes_delivered", "base", "budget",
    )

    def __init__(self, sink: StreamSink, limits: Limits, budget: Budget | None = None) -> None:
        self.sink = sink
        self.next_seq = NONE
        self.ooo: dict[int, tuple[bytes, float]] | None = None  # made on the first hole
        self.ooo_bytes = 0
        self.fin_seq = NONE
        self.closed = False
        # Segments seen before the start point is known: (seq, payload, ts); made when needed
        self.pending: list[tuple[int, bytes, float]] | None = None
        self.pending_bytes = 0
        self.acked = NONE  # highest sequence number the peer acknowledged
        self.limits = limits
        self.syn_seen = False
        self.gap_bytes = 0
        self.bytes_delivered = 0
        self.base = NONE  # sequence number of the first stream byte, once known
        self.budget = budget

    # -- input -------------------------------------------------------------------------------
    def syn(self, seq: int) -> None:
        if self.syn_seen:
            return
        self.syn_seen = True
        if self.next_seq == NONE:
            self.next_seq = self.base = (seq + 1) & 0xFFFFFFFF
            if self.pending:
                self._replay_pending()

    def segment(self, seq: int, payload: bytes, ts: float) -> None:
        if self.closed:
            return
        nxt = self.next_seq
        if nxt == NONE:
            pending = self.pending
            if pending is None:
                pending = self.pending = []
            pending.append((seq, payload, ts))
            self.pending_bytes += len(payload)
            if self.budget is not None:
                self.budget.account(len(payload))
            if len(pending) >= self.limits.settle_segments:
                self.settle()
            return
        if seq == nxt:
            # In order: the common case, inlined and kept free of the modular arithmetic below.
            size = len(payload)
            self.next_seq = (nxt + size) & 0xFFFFFFFF
            self.bytes_delivered += size
            self.sink.data(payload, ts)
            if self.ooo:
                self._drain()
            return
        rel = seq_diff(seq, nxt)
        size = len(payload)
        if rel < 0:
            if rel + size <= 0:
                return  # pure retransmission of bytes already delivered
            self._deliver(payload[-rel:], ts)
            if self.ooo:
                self._drain()
            return
        # A hole before this segment: hold it.
        ooo = self.ooo
        if ooo is None:
            ooo = self.ooo = {}
        old = ooo.get(seq)
        if old is None or len(old[0]) < size:
            delta = size - (len(old[0]) if old is not None else 0)
            self.ooo_bytes += delta
            ooo[seq] = (payload, ts)
            if self.budget is not None:
                self.budget.account(delta)
        limits = self.limits
        if self.ooo_bytes > limits.max_ooo_bytes or len(ooo) > limits.max_ooo_segments:
            self._skip_hole(ts)
        elif self.acked != NONE and len(ooo) >= ACKED_HOLE_SEGMENTS and seq_diff(self.acked, nxt) > 0:
            # The receiver acknowledged bytes we never saw, and more segments kept coming past
            # the hole: they were lost on the way to us, not merely reordered in the capture.
            self._skip_hole(ts)

    def peer_ack(self, ack: int) -> None:
        acked = self.acked
        if acked == NONE or seq_diff(ack, acked) > 0:
            self.acked = ack
            ooo = self.ooo
            if (ooo is not None and len(ooo) >= ACKED_HOLE_SEGMENTS and self.next_seq != NONE
                    and seq_diff(ack, self.next_seq) > 0):
                self._skip_hole(None)

    def fin(self, seq: int, payload_len: int) -> None:
        if self.fin_seq == NONE:
            self.fin_seq = (seq + payload_len) & 0xFFFFFFFF

    def skip_to(self, seq: int, ts: float) -> None:
        """The peer answered having received everything before ``seq``: what of it never reached
        us is a gap now (held segments in between are delivered in order), not worth waiting for."""
        nxt = self.next_seq
        if nxt == NONE or self.closed:
            return
        while seq_diff(seq, nxt) > 0:
            ooo = self.ooo
            stop = seq
            if ooo:
                first = min(ooo, key=lambda s: seq_diff(s, nxt))
                if seq_diff(first, nxt) <= 0:
                    self._drain(seq)
                    moved = self.next_seq
                    if moved == nxt or self.closed:
                        return  # nothing could be delivered: leave it to flush
                    nxt = moved
                    continue
                if seq_diff(first, seq) < 0:
                    stop = first
            size = seq_diff(stop, nxt)
            self.gap_bytes += size
            self.next_seq = stop
            self.sink.gap(size, ts)
            if self.ooo:
                self._drain(seq)  # what answers the held segments' successors waits for them
            if self.closed:
                return
            nxt = self.next_seq

    # -- settling and flushing ---------------------------------------------------------------
    def settle(self) -> None:
        """Pick the start of a stream whose SYN was not seen: its lowest pending sequence number."""
        pending = self.pending
        if self.next_seq != NONE or not pending:
            return
        first = pending[0][0]
        start = min((p[0] for p in pending), key=lambda s: seq_diff(s, first))
        self.next_seq = self.base = start
        self._replay_pending()

    def _replay_pending(self) -> None:
        pending = self.pending or []
        self.pending = None
        if self.budget is not None and self.pending_bytes:
            self.budget.account(-self.pending_bytes)
        self.pending_bytes = 0
        for seq, payload, ts in pending:
            self.segment(seq, payload, ts)

    def flush(self) -> None:
        """End of stream: deliver everything held, with gaps for what never came."""
        if self.next_seq == NONE:
            self.settle()
        while self.ooo:
            self._skip_hole(None)
        self.closed = True

    def is_own_syn(self, seq: int) -> bool:
        """A SYN that opened this very stream (seen late in a shuffled capture), not a new one."""
        return self.base != NONE and ((seq + 1) & 0xFFFFFFFF) == self.base

    @property
    def finished(self) -> bool:
        """All bytes up to the FIN were delivered."""
        return self.fin_seq != NONE and self.next_seq != NONE and seq_diff(self.fin_seq, self.next_seq) <= 0

    @property
    def held_bytes(self) -> int:
        return self.ooo_bytes + self.pending_bytes

    # -- internals ---------------------------------------------------------------------------
    def _deliver(self, payload: bytes, ts: float) -> None:
        if not payload:
            return
        self.next_seq = (self.next_seq + len(payload)) & 0xFFFFFFFF
        self.bytes_delivered += len(payload)
        self.sink.data(payload, ts)

    def _take(self, seq: int) -> tuple[bytes, float]:
        item = self.ooo.pop(seq)  # type: ignore[union-attr]
        self.ooo_bytes -= len(item[0])
        if self.budget is not None:
            self.budget.account(-len(item[0]))
        return item

    def drain(self) -> None:
        """Deliver the held segments that continue the stream (after ``skip_to`` held some back)."""
        if self.ooo and not self.closed:
            self._drain()

    def _drain(self, until: int = NONE) -> None:
        """Deliver held segments from ``next_seq`` on while they connect; with ``until``, only
        those starting before it."""
        ooo = self.ooo
        while ooo:
            nxt = self.next_seq
            if until != NONE and seq_diff(until, nxt) <= 0:
                return
            if nxt in ooo:
                payload, ts = self._take(nxt)
                self._deliver(payload, ts)
                if self.closed:
                    return
                continue
            # An overlapping segment that starts before next_seq but reaches past it?
            found = None
            for seq in ooo:
                rel = seq_diff(seq, nxt)
                if rel <= 0:
                    found = seq
                    break
            if found is None:
                return
            payload, ts = self._take(found)
            rel = seq_diff(found, nxt)
            if rel + len(payload) > 0:
                self._deliver(payload[-rel:] if rel else payload, ts)
                if self.closed:
                    return

    def _skip_hole(self, ts: float | None) -> None:
        """Declare the bytes up to the earliest held segment missing, then deliver onwards."""
        ooo = self.ooo
        if not ooo or self.next_seq == NONE:
            return
        nxt = self.next_seq
        first = min(ooo, key=lambda s: seq_diff(s, nxt))
        size = seq_diff(first, nxt)
        if size > 0:
            self.gap_bytes += size
            self.sink.gap(size, ooo[first][1] if ts is None else ts)
            self.next_seq = first
        self._drain()
