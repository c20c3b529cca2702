"""Capture file readers: classic pcap (µs and ns, either byte order) and pcapng.

Own readers rather than dpkt's: they read in large blocks and unpack record headers with
precompiled structs, which is several times faster than dpkt.pcap.Reader, and they report a
truncated or corrupt file as data (a ``CaptureError`` after the last good packet) rather than
dying mid-way. Both work on non-seekable streams (stdin).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import BinaryIO

# Link types (https://www.tcpdump.org/linktypes.html)
LINKTYPE_NULL = 0
LINKTYPE_ETHERNET = 1
LINKTYPE_PPP = 9
LINKTYPE_PPP_HDLC = 50
LINKTYPE_RAW = 101
LINKTYPE_C_HDLC = 104  # Cisco HDLC
LINKTYPE_NFLOG = 239  # Linux netfilter NFLOG (iptables -j NFLOG; tcpdump -i nflog:N)
LINKTYPE_LOOP = 108
LINKTYPE_IEEE802_11 = 105
LINKTYPE_LINUX_SLL = 113
LINKTYPE_IEEE802_11_RADIOTAP = 127
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229
LINKTYPE_LINUX_SLL2 = 276
DLT_RAW_ALT = 12  # DLT_RAW on some BSDs / old libpcap
DLT_RAW_ALT2 = 14

PCAP_MAGIC_US = 0xA1B2C3D4
PCAP_MAGIC_NS = 0xA1B23C4D
PCAPNG_SHB = 0x0A0D0D0A
PCAPNG_BYTE_ORDER_MAGIC = 0x1A2B3C4D

READ_BLOCK = 1 << 20
MAX_RECORD = 1 << 18  # larger captured lengths mean a corrupt record header


class CaptureError(Exception):
    """The capture could not be read (further). Packets before the damage were delivered."""


# One packet: (timestamp seconds, link type, frame bytes).
Packet = tuple[float, int, bytes]


class _Buffered:
    """Minimal buffered reader over any binary stream, including pipes."""

    __slots__ = ("_stream", "_read", "_buf", "_pos", "eof", "consumed")

    def __init__(self, stream: BinaryIO, initial: bytes = b"") -> None:
        self._stream = stream
        # read1: what is there now (at most one system call), so a pipe from a live tcpdump is
        # processed as packets arrive instead of once a whole block has filled.
        self._read = getattr(stream, "read1", stream.read)
        self._buf = initial
        self._pos = 0
        self.eof = False
        self.consumed = 0  # file offset of _buf[0]

    def fill(self, need: int) -> bool:
        """Make at least ``need`` bytes available from the current position; False at EOF."""
        while len(self._buf) - self._pos < need:
            if self.eof:
                return False
            chunk = self._read(max(READ_BLOCK, need))
            if not chunk:
                self.eof = True
                return len(self._buf) - self._pos >= need
            self.consumed += self._pos
            self._buf = self._buf[self._pos :] + chunk
            self._pos = 0
        return True


def open_capture(stream: BinaryIO) -> Iterator[Packet]:
    """Iterate the packets of a pcap or pcapng stream; raises CaptureError at the damage."""
    head = _read_exact(stream, 4)
    if len(head) < 4:
        raise CaptureError("empty or too short to be a capture file")
    (magic_le,) = struct.unpack("<I", head)
    (magic_be,) = struct.unpack(">I", head)
    if magic_le in (PCAP_MAGIC_US, PCAP_MAGIC_NS) or magic_be in (PCAP_MAGIC_US, PCAP_MAGIC_NS):
        return _read_pcap(stream, head)
    if magic_le == PCAPNG_SHB:
        return _read_pcapng(stream, head)
    raise CaptureError(f"not a pcap or pcapng file (magic {head.hex()})")


def _read_exact(stream: BinaryIO, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = stream.read(n - len(data))
        if not chunk:
            break
        data += chunk
    return data


def _read_pcap(stream: BinaryIO, head: bytes) -> Iterator[Packet]:
    rest = _read_exact(stream, 20)
    if len(rest) < 20:
        raise CaptureError("pcap global header truncated")
    hdr = head + rest
    endian = "<" if struct.unpack("<I", head)[0] in (PCAP_MAGIC_US, PCAP_MAGIC_NS) else ">"
    magic, _vmaj, _vmin, _tz, _sig, snaplen, network = struct.unpack(endian + "IHHiIII", hdr)
    # The FCS-length bits live in the top of the link-type field on some writers.
    linktype = network & 0x0FFFFFFF
    divisor = 1e9 if magic == PCAP_MAGIC_NS else 1e6
    rec = struct.Struct(endian + "IIII")
    unpack_rec = rec.unpack_from
    # Trust neither snaplen nor the record header: a corrupt header shows as absurd lengths.
    max_len = max(MAX_RECORD, snaplen if snaplen < (1 << 24) else 0)
    reader = _Buffered(stream)
    count = 0
    buf = b""
    pos = 0
    while True:
        # Fast path: the next record lies wholly in the current block.
        if pos + 16 <= len(buf):
            sec, frac, incl, _orig = unpack_rec(buf, pos)
            end = pos + 16 + incl
            if end <= len(buf) and incl <= max_len:
                count += 1
                yield sec + frac / divisor, linktype, buf[pos + 16 : end]
                pos = end
                continue
        reader._pos = pos
        if not reader.fill(16):
            left = len(reader._buf) - reader._pos
            if left:
                raise CaptureError(f"capture cut short inside a record header after {count} packets")
            return
        buf = reader._buf
        pos = reader._pos
        sec, frac, incl, _orig = unpack_rec(buf, pos)
        if incl > max_len:
            raise CaptureError(
                f"corrupt record header after {count} packets (captured length {incl} at offset "
                f"{reader.consumed + pos})"
            )
        if not reader.fill(16 + incl):
            raise CaptureError(f"capture cut short inside packet {count + 1} (record of {incl} bytes)")
        buf = reader._buf
        pos = reader._pos
        count += 1
        yield sec + frac / divisor, linktype, buf[pos + 16 : pos + 16 + incl]
        pos += 16 + incl


def _read_pcapng(stream: BinaryIO, head: bytes) -> Iterator[Packet]:
    reader = _Buffered(stream, head)
    endian = "<"
    interfaces: list[tuple[int, float, float]] = []  # (linktype, ts divisor, ts offset)
    count = 0
    while True:
        if not reader.fill(12):
            if len(reader._buf) - reader._pos:
                raise CaptureError(f"pcapng cut short inside a block header after {count} packets")
            return
        buf = reader._buf
        pos = reader._pos
        (btype_le,) = struct.unpack_from("<I", buf, pos)
        if btype_le == PCAPNG_SHB:
            (bom,) = struct.unpack_from("<I", buf, pos + 8)
            if bom == PCAPNG_BYTE_ORDER_MAGIC:
                endian = "<"
            elif bom == 0x4D3C2B1A:
                endian = ">"
            else:
                raise CaptureError(f"pcapng section header has a bad byte-order magic after {count} packets")
            interfaces = []  # interface ids are per section
        btype, blen = struct.unpack_from(endian + "II", buf, pos)
        if blen < 12 or blen % 4 or blen > (1 << 26):
            raise CaptureError(f"corrupt pcapng block (type {btype:#x}, length {blen}) after {count} packets")
        if not reader.fill(blen):
            raise CaptureError(f"pcapng cut short inside a block of {blen} bytes after {count} packets")
        buf = reader._buf
        pos = reader._pos
        reader._pos = pos + blen
        body = pos + 8
        if btype == 6:  # Enhanced Packet Block
            ifid, ts_hi, ts_lo, caplen, _olen = struct.unpack_from(endian + "IIIII", buf, body)
            if ifid >= len(interfaces) or caplen > blen - 32:
                raise CaptureError(f"corrupt enhanced packet block after {count} packets")
            linktype, divisor, offset = interfaces[ifid]
            count += 1
            yield (
                ((ts_hi << 32) | ts_lo) / divisor + offset,
                linktype,
                buf[body + 20 : body + 20 + caplen],
            )
        elif btype == 3:  # Simple Packet Block: interface 0, no timestamp
            if not interfaces:
                raise CaptureError("simple packet block before any interface description")
            (olen,) = struct.unpack_from(endian + "I", buf, body)
            caplen = min(olen, blen - 16)
            count += 1
            yield 0.0, interfaces[0][0], buf[body + 4 : body + 4 + caplen]
        elif btype == 1:  # Interface Description Block
            linktype, _res, _snap = struct.unpack_from(endian + "HHI", buf, body)
            divisor, offset = _idb_options(buf, body + 8, pos + blen - 4, endian)
            interfaces.append((linktype, divisor, offset))
        elif btype == 2:  # obsolete Packet Block
            ifid, _drops, ts_hi, ts_lo, caplen, _olen = struct.unpack_from(endian + "HHIIII", buf, body)
            if ifid >= len(interfaces):
                raise CaptureError(f"corrupt packet block after {count} packets")
            linktype, divisor, offset = interfaces[ifid]
            count += 1
            yield ((ts_hi << 32) | ts_lo) / divisor + offset, linktype, buf[body + 20 : body + 20 + caplen]
        # other blocks (name resolution, statistics, custom, section header) carry no packets


def _idb_options(buf: bytes, pos: int, end: int, endian: str) -> tuple[float, float]:
    divisor = 1e6
    offset = 0.0
    while pos + 4 <= end:
        code, length = struct.unpack_from(endian + "HH", buf, pos)
        if code == 0:
            break
        value = buf[pos + 4 : pos + 4 + length]
        if code == 9 and length >= 1:  # if_tsresol
            res = value[0]
            divisor = float(2 ** (res & 0x7F)) if res & 0x80 else float(10 ** res)
        elif code == 14 and length == 8:  # if_tsoffset (seconds)
            offset = float(struct.unpack(endian + "q", value)[0])
        pos += 4 + ((length + 3) & ~3)
    return divisor, offset
