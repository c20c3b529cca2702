"""Capture readers: formats, resolutions, byte orders, and damage reported after the good part."""

from __future__ import annotations

import io
import struct

import pytest

from sensor import pcapio
from tests.sensor.conftest import CORPUS_COPIES, SAMPLES


def pcap_bytes(packets: list[tuple[float, bytes]], *, ns: bool = False, endian: str = "<", linktype: int = 1) -> bytes:
    magic = pcapio.PCAP_MAGIC_NS if ns else pcapio.PCAP_MAGIC_US
    out = struct.pack(endian + "IHHiIII", magic, 2, 4, 0, 0, 65535, linktype)
    for ts, data in packets:
        sec = int(ts)
        frac = round((ts - sec) * (1e9 if ns else 1e6))
        out += struct.pack(endian + "IIII", sec, frac, len(data), len(data)) + data
    return out


def block(btype: int, body: bytes) -> bytes:
    body += b"\0" * (-len(body) % 4)
    length = len(body) + 12
    return struct.pack("<II", btype, length) + body + struct.pack("<I", length)


def pcapng_bytes() -> bytes:
    shb = block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
    # interface 0: Ethernet, microseconds; interface 1: raw IP, nanoseconds (if_tsresol = 9)
    idb0 = block(1, struct.pack("<HHI", 1, 0, 65535))
    idb1 = block(1, struct.pack("<HHI", 101, 0, 65535) + struct.pack("<HHB3x", 9, 1, 9) + struct.pack("<HH", 0, 0))

    def epb(ifid: int, ticks: int, data: bytes) -> bytes:
        return block(6, struct.pack("<IIIII", ifid, ticks >> 32, ticks & 0xFFFFFFFF, len(data), len(data)) + data)

    return shb + idb0 + idb1 + epb(0, 1_500_000_000_250_000, b"eth-frame") + epb(1, 1_500_000_000_000_000_123, b"ip")


@pytest.mark.parametrize("ns", [False, True])
@pytest.mark.parametrize("endian", ["<", ">"])
def test_classic_pcap_resolutions_and_byte_orders(ns: bool, endian: str) -> None:
    data = pcap_bytes([(1700000000.5, b"abc"), (1700000001.000123, b"defg")], ns=ns, endian=endian)
    got = list(pcapio.open_capture(io.BytesIO(data)))
    assert [(round(ts, 6), lt, frame) for ts, lt, frame in got] == [
        (1700000000.5, 1, b"abc"), (1700000001.000123, 1, b"defg")]


def test_pcapng_several_interfaces_and_link_types() -> None:
    got = list(pcapio.open_capture(io.BytesIO(pcapng_bytes())))
    assert got[0][1:] == (1, b"eth-frame") and got[0][0] == pytest.approx(1_500_000_000.25)
    assert got[1][1:] == (101, b"ip") and got[1][0] == pytest.approx(1_500_000_000.000000123)


def test_truncated_capture_yields_the_good_part_then_a_clear_error() -> None:
    data = pcap_bytes([(1.0, b"a" * 50), (2.0, b"b" * 50), (3.0, b"c" * 50)])
    got = []
    with pytest.raises(pcapio.CaptureError, match="cut short inside packet 3"):
        for pkt in pcapio.open_capture(io.BytesIO(data[:-10])):
            got.append(pkt)
    assert [frame for _, _, frame in got] == [b"a" * 50, b"b" * 50]


def test_corrupt_record_header_is_reported() -> None:
    data = bytearray(pcap_bytes([(1.0, b"a" * 50), (2.0, b"b" * 50)]))
    struct.pack_into("<I", data, 24 + 16 + 50 + 8, 0x7FFFFFFF)  # absurd captured length
    with pytest.raises(pcapio.CaptureError, match="corrupt record header after 1 packets"):
        list(pcapio.open_capture(io.BytesIO(bytes(data))))


@pytest.mark.parametrize("data", [b"", b"\x01\x02", b"not a capture file at all"])
def test_not_a_capture(data: bytes) -> None:
    with pytest.raises(pcapio.CaptureError):
        list(pcapio.open_capture(io.BytesIO(data)))


def test_real_pcapng_with_nanoseconds_and_real_truncations() -> None:
    with open(CORPUS_COPIES / "pfe_sample-nanosecond.pcapng", "rb") as f:
        assert len(list(pcapio.open_capture(f))) > 10
    with open(CORPUS_COPIES / "pfe_corrupted.pcap", "rb") as f, pytest.raises(pcapio.CaptureError, match="after 27"):
        list(pcapio.open_capture(f))
    assert (SAMPLES / "keepalive-api.pcap").exists()
