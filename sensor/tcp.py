"""One direction of a TCP connection, reassembled into an ordered byte stream.

Sequence numbers are compared modulo 2^32. Retransmissions and overlaps deliver each byte once
(first copy wins); out-of-order segments wait in a bounded buffer; bytes that never arrive become
an explicit gap (their count is reported, nothing is zero-filled). A gap is declared as soon as the
peer acknowledges bytes we never saw, when the buffer bound is hit, or when the stream is flushed.

A half-stream whose SYN was not captured settles its starting point on the lowest sequence number
among its first few segments, so captures that start mid-connection or whose packets are shuffled
still reassemble from the right byte.
"""

from __future__ import annotations

from typing import Protocol

MOD = 1 << 32
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


class HalfStream:
    __slots__ = (
        "sink", "next_seq", "ooo", "ooo_bytes", "fin_seq", "closed", "pending", "acked",
        "max_ooo_bytes", "max_ooo_segments", "settle_segments", "syn_seen", "gap_bytes",
        "bytes_delivered", "packets", "base",
    )

    def __init__(self, sink: StreamSink, max_ooo_bytes: int, max_ooo_segments: int, settle_segments: int) -> None:
        self.sink = sink
        self.next_seq: int | None = None
        self.ooo: dict[int, tuple[bytes, float]] = {}
        self.ooo_bytes = 0
        self.fin_seq: int | None = None
        self.closed = False
        # Segments seen before the start point is known: (seq, payload, ts)
        self.pending: list[tuple[int, bytes, float]] = []
        self.acked: int | None = None  # highest sequence number the peer acknowledged
        self.max_ooo_bytes = max_ooo_bytes
        self.max_ooo_segments = max_ooo_segments
        self.settle_segments = settle_segments
        self.syn_seen = False
        self.gap_bytes = 0
        self.bytes_delivered = 0
        self.packets = 0
        self.base: int | None = None  # sequence number of the first stream byte, once known

    # -- input -------------------------------------------------------------------------------
    def syn(self, seq: int) -> None:
        if self.syn_seen:
            return
        self.syn_seen = True
        if self.next_seq is None:
            self.next_seq = self.base = (seq + 1) & 0xFFFFFFFF
            if self.pending:
                self._replay_pending()

    def segment(self, seq: int, payload: bytes, ts: float) -> None:
        if self.closed:
            return
        nxt = self.next_seq
        if nxt is None:
            self.pending.append((seq, payload, ts))
            if len(self.pending) >= self.settle_segments:
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
        if seq not in self.ooo or len(self.ooo[seq][0]) < size:
            old = self.ooo.get(seq)
            self.ooo_bytes += size - (len(old[0]) if old else 0)
            self.ooo[seq] = (payload, ts)
        if self.ooo_bytes > self.max_ooo_bytes or len(self.ooo) > self.max_ooo_segments:
            self._skip_hole(ts)
        elif self.acked is not None and len(self.ooo) >= ACKED_HOLE_SEGMENTS and seq_diff(self.acked, nxt) > 0:
            # The receiver acknowledged bytes we never saw, and more segments kept coming past
            # the hole: they were lost on the way to us, not merely reordered in the capture.
            self._skip_hole(ts)

    def peer_ack(self, ack: int) -> None:
        acked = self.acked
        if acked is None or seq_diff(ack, acked) > 0:
            self.acked = ack
            if (len(self.ooo) >= ACKED_HOLE_SEGMENTS and self.next_seq is not None
                    and seq_diff(ack, self.next_seq) > 0):
                self._skip_hole(None)

    def fin(self, seq: int, payload_len: int) -> None:
        if self.fin_seq is None:
            self.fin_seq = (seq + payload_len) & 0xFFFFFFFF

    # -- settling and flushing ---------------------------------------------------------------
    def settle(self) -> None:
        """Pick the start of a stream whose SYN was not seen: its lowest pending sequence number."""
        if self.next_seq is not None or not self.pending:
            return
        first = self.pending[0][0]
        start = min((p[0] for p in self.pending), key=lambda s: seq_diff(s, first))
        self.next_seq = self.base = start
        self._replay_pending()

    def _replay_pending(self) -> None:
        pending, self.pending = self.pending, []
        for seq, payload, ts in pending:
            self.segment(seq, payload, ts)

    def flush(self) -> None:
        """End of stream: deliver everything held, with gaps for what never came."""
        if self.next_seq is None:
            self.settle()
        while self.ooo:
            self._skip_hole(None)
        self.closed = True

    def is_own_syn(self, seq: int) -> bool:
        """A SYN that opened this very stream (seen late in a shuffled capture), not a new one."""
        return self.base is not None and ((seq + 1) & 0xFFFFFFFF) == self.base

    @property
    def finished(self) -> bool:
        """All bytes up to the FIN were delivered."""
        return self.fin_seq is not None and self.next_seq is not None and seq_diff(self.fin_seq, self.next_seq) <= 0

    # -- internals ---------------------------------------------------------------------------
    def _deliver(self, payload: bytes, ts: float) -> None:
        if not payload:
            return
        self.next_seq = (self.next_seq + len(payload)) & 0xFFFFFFFF  # type: ignore[operator]
        self.bytes_delivered += len(payload)
        self.sink.data(payload, ts)

    def _drain(self) -> None:
        ooo = self.ooo
        while ooo:
            nxt = self.next_seq
            item = ooo.pop(nxt, None)  # type: ignore[arg-type]
            if item is not None:
                self.ooo_bytes -= len(item[0])
                self._deliver(item[0], item[1])
                continue
            # An overlapping segment that starts before next_seq but reaches past it?
            found = None
            for seq in ooo:
                rel = seq_diff(seq, nxt)  # type: ignore[arg-type]
                if rel <= 0:
                    found = seq
                    break
            if found is None:
                return
            payload, ts = ooo.pop(found)
            self.ooo_bytes -= len(payload)
            rel = seq_diff(found, nxt)  # type: ignore[arg-type]
            if rel + len(payload) > 0:
                self._deliver(payload[-rel:] if rel else payload, ts)

    def _skip_hole(self, ts: float | None) -> None:
        """Declare the bytes up to the earliest held segment missing, then deliver onwards."""
        if not self.ooo or self.next_seq is None:
            return
        nxt = self.next_seq
        first = min(self.ooo, key=lambda s: seq_diff(s, nxt))
        size = seq_diff(first, nxt)
        if size > 0:
            self.gap_bytes += size
            self.sink.gap(size, self.ooo[first][1] if ts is None else ts)
            self.next_seq = first
        self._drain()
