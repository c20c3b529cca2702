"""TCP half-stream reassembly: order, overlaps, wraparound, gaps, mid-stream starts."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from sensor.tcp import HalfStream, Limits, seq_diff


class Collect:
    def __init__(self) -> None:
        self.items: list[tuple[str, object]] = []

    def data(self, data: bytes, ts: float) -> None:
        self.items.append(("data", data))

    def gap(self, size: int, ts: float) -> None:
        self.items.append(("gap", size))

    @property
    def stream(self) -> bytes:
        return b"".join(x for k, x in self.items if k == "data")  # type: ignore[misc]


def half(settle: int = 4) -> tuple[HalfStream, Collect]:
    sink = Collect()
    return HalfStream(sink, Limits(max_ooo_bytes=1 << 20, max_ooo_segments=64, settle_segments=settle)), sink


def segments(data: bytes, isn: int, size: int) -> list[tuple[int, bytes]]:
    return [((isn + 1 + i) & 0xFFFFFFFF, data[i : i + size]) for i in range(0, len(data), size)]


def test_seq_diff_wraps() -> None:
    assert seq_diff(5, 0xFFFFFFF0) == 21
    assert seq_diff(0xFFFFFFF0, 5) == -21


@settings(max_examples=200, deadline=None)
@given(data=st.binary(min_size=1, max_size=400), isn=st.integers(0, 0xFFFFFFFF), size=st.integers(1, 50),
       order=st.randoms(use_true_random=False), dup=st.integers(0, 5))
def test_any_order_with_duplicates_reassembles_exactly(data: bytes, isn: int, size: int, order, dup: int) -> None:
    stream, sink = half()
    stream.syn(isn)
    segs = segments(data, isn, size)
    segs += [segs[order.randrange(len(segs))] for _ in range(dup)]  # retransmissions
    order.shuffle(segs)
    for seq, payload in segs:
        stream.segment(seq, payload, 0.0)
    stream.flush()
    assert sink.stream == data
    assert not [k for k, _ in sink.items if k == "gap"]


def test_overlapping_retransmission_delivers_each_byte_once() -> None:
    stream, sink = half()
    stream.syn(0xFFFFFFFE)  # wraps inside the data
    stream.segment(0xFFFFFFFF, b"abcd", 0.0)
    stream.segment(1, b"cdefgh", 0.0)  # overlaps "cd"
    stream.segment(0xFFFFFFFF, b"abcdefghij", 0.0)  # longer retransmission
    assert sink.stream == b"abcdefghij"


def test_missing_bytes_become_a_gap_at_flush_never_zero_fill() -> None:
    stream, sink = half()
    stream.syn(100)
    stream.segment(101, b"aaaa", 0.0)
    stream.segment(110, b"bbbb", 0.0)  # bytes 105..109 never arrive
    stream.flush()
    assert sink.items == [("data", b"aaaa"), ("gap", 5), ("data", b"bbbb")]


def test_gap_declared_when_peer_acked_and_data_keeps_coming() -> None:
    stream, sink = half()
    stream.syn(0)
    stream.segment(1, b"aa", 0.0)
    stream.peer_ack(50)  # the receiver got everything up to 50
    for seq in (10, 20, 30):
        stream.segment(seq, b"x" * 10, 0.0)
    assert ("gap", 7) in sink.items
    assert sink.stream == b"aa" + b"x" * 30


def test_reordered_capture_with_early_ack_is_not_a_gap() -> None:
    stream, sink = half()
    stream.syn(0)
    stream.peer_ack(21)
    stream.segment(11, b"b" * 10, 0.0)  # arrives before the segment it follows
    stream.segment(1, b"a" * 10, 0.0)
    assert sink.items == [("data", b"a" * 10), ("data", b"b" * 10)]


def test_midstream_start_settles_on_lowest_sequence() -> None:
    stream, sink = half(settle=3)
    stream.segment(5010, b"second", 0.0)
    stream.segment(5000, b"first12345", 0.0)
    assert sink.items == []  # still settling
    stream.segment(5016, b"third", 0.0)
    assert sink.stream == b"first12345secondthird"


def test_late_syn_defines_the_start_of_a_shuffled_stream() -> None:
    stream, sink = half(settle=8)
    stream.segment(1006, b"world", 0.0)
    stream.syn(1000)
    stream.segment(1001, b"hello", 0.0)
    assert sink.stream == b"helloworld"
    assert stream.is_own_syn(1000) and not stream.is_own_syn(7)


def test_out_of_order_buffer_is_bounded() -> None:
    sink = Collect()
    stream = HalfStream(sink, Limits(max_ooo_bytes=100, max_ooo_segments=1000, settle_segments=4))
    stream.syn(0)
    for i in range(20):
        stream.segment(1000 + i * 10, b"y" * 10, 0.0)
    assert stream.ooo_bytes <= 100
    assert sink.items and sink.items[0][0] == "gap"
