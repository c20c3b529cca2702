"""Deterministic synthetic HTTP/1.1 API traffic, written as pcap, with the ground truth.

Used by the sensor's tests and benchmarks: the capture exercises what real mirror-port traffic
does to a sensor (keep-alive, pipelining, interleaved connections, reordered and retransmitted
segments, sequence-number wraparound, VLAN/QinQ, IPv6, chunked and gzip bodies) while the
generator knows exactly which exchanges it put on the wire.

Frames are built with precompiled ``struct`` formats and checksums computed with big-integer
arithmetic (the ones'-complement sum of 16-bit words is the byte string read as one integer,
modulo 0xFFFF), not with scapy: scapy costs ~100 µs a packet, this costs a few, so benchmark
captures of 200k+ packets build in seconds. Everything random comes from one
``random.Random(seed)`` and gzip is written with ``mtime=0``: same seed, same bytes.

Public API:

* :class:`TruthExchange` -- one exchange the generator sent (the ground truth).
* :class:`PcapWriter` -- classic pcap writer (µs or ns timestamps).
* :class:`TcpFlow` -- frame factory for one TCP connection (Ethernet, VLAN/QinQ, IPv4/IPv6, TCP).
* :func:`generate_api_traffic` -- writes a realistic REST API capture and returns its truth.
* :func:`write_truth_json` / :func:`read_truth_json` -- the ``.truth.json`` file format.
"""

from __future__ import annotations

import argparse
import gzip
import heapq
import json
import os
import random
import socket
import struct
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, BinaryIO

__all__ = [
    "API_HOSTS",
    "LINKTYPE_ETHERNET",
    "PcapWriter",
    "TcpFlow",
    "TruthExchange",
    "GenerationStats",
    "format_endpoint",
    "generate_api_traffic",
    "write_truth_json",
    "read_truth_json",
]

LINKTYPE_ETHERNET = 1
PCAP_MAGIC_US = 0xA1B2C3D4
PCAP_MAGIC_NS = 0xA1B23C4D

TCP_FIN = 0x01
TCP_SYN = 0x02
TCP_RST = 0x04
TCP_PSH = 0x08
TCP_ACK = 0x10

ETH_TYPE_IPV4 = 0x0800
ETH_TYPE_IPV6 = 0x86DD
ETH_TYPE_8021Q = 0x8100
ETH_TYPE_8021AD = 0x88A8  # QinQ service tag (outer)

SEQ_MASK = 0xFFFFFFFF

_PCAP_HEADER = struct.Struct("<IHHiIII")
_PCAP_RECORD = struct.Struct("<IIII")
_TCP_HEADER = struct.Struct("!HHIIHHHH")
_IPV4_HEADER = struct.Struct("!BBHHHBBH4s4s")
_IPV6_LENGTH = struct.Struct("!HBB")  # payload length, next header, hop limit
_U16 = struct.Struct("!H")
_U32 = struct.Struct("!I")


@dataclass(frozen=True, slots=True)
class TruthExchange:
    """One HTTP exchange the generator put on the wire.

    ``client``/``server`` are ``"ip:port"`` (IPv6 as ``"[addr]:port"``, RFC 5952 text form as
    ``socket.inet_ntop`` gives it). ``host`` is the Host header value exactly as sent, ``target``
    the request-target exactly as sent. ``status`` is None and ``complete`` False when the
    generator deliberately sent no response (``drop_response_rate``).
    """

    client: str
    server: str
    method: str
    host: str
    target: str
    status: int | None
    complete: bool


@dataclass(slots=True)
class GenerationStats:
    """Counters filled in by :func:`generate_api_traffic` when a ``stats`` object is passed."""

    packets: int = 0
    bytes: int = 0  # frame bytes (without pcap record headers)
    connections: int = 0
    exchanges: int = 0
    retransmitted_segments: int = 0
    reordered_pairs: int = 0
    pipelined_batches: int = 0
    wrapped_connections: int = 0  # connections whose sequence numbers cross 2^32
    interim_responses: int = 0  # "100 Continue" responses sent
    midstream_connections: int = 0  # connections whose handshake is not in the capture
    fragmented_datagrams: int = 0  # TCP segments sent as IP fragments
    duration: float = 0.0  # capture time span, seconds


def format_endpoint(ip: str, port: int) -> str:
    """``"ip:port"``, with brackets around IPv6 addresses (the sensor's record format)."""
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


# --------------------------------------------------------------------------------------------
# pcap writer


class PcapWriter:
    """Classic pcap writer (little-endian, version 2.4).

    ``target`` is a path or a binary stream. Records are buffered and written in large blocks
    because per-packet ``write`` calls would dominate generation time. Use as a context manager
    or call :meth:`close` (which closes the file only if this writer opened it).
    """

    def __init__(
        self,
        target: str | os.PathLike[str] | BinaryIO,
        *,
        linktype: int = LINKTYPE_ETHERNET,
        snaplen: int = 262144,
        nanosecond: bool = False,
        buffer_bytes: int = 1 << 20,
    ) -> None:
        if isinstance(target, str | os.PathLike):
            self._stream: BinaryIO = open(target, "wb")  # noqa: SIM115 - closed in close()
            self._owns = True
        else:
            self._stream = target
            self._owns = False
        self.nanosecond = nanosecond
        self._scale = 1_000_000_000 if nanosecond else 1_000_000
        self._chunks: list[bytes] = []
        self._buffered = 0
        self._buffer_bytes = buffer_bytes
        self.packets = 0
        self.frame_bytes = 0
        magic = PCAP_MAGIC_NS if nanosecond else PCAP_MAGIC_US
        self._stream.write(_PCAP_HEADER.pack(magic, 2, 4, 0, 0, snaplen, linktype))

    def write(self, ts: float, frame: bytes) -> None:
        """Append one frame captured at ``ts`` (epoch seconds)."""
        sec = int(ts)
        frac = round((ts - sec) * self._scale)
        if frac >= self._scale:  # rounding carried into the next second
            sec += 1
            frac -= self._scale
        self._append(sec, frac, frame)

    def write_us(self, ts_us: int, frame: bytes) -> None:
        """Append one frame at an integer timestamp in microseconds (exact, no float rounding)."""
        sec, usec = divmod(ts_us, 1_000_000)
        self._append(sec, usec * 1000 if self.nanosecond else usec, frame)

    def _append(self, sec: int, frac: int, frame: bytes) -> None:
        length = len(frame)
        self._chunks.append(_PCAP_RECORD.pack(sec, frac, length, length))
        self._chunks.append(frame)
        self._buffered += length + 16
        self.packets += 1
        self.frame_bytes += length
        if self._buffered >= self._buffer_bytes:
            self.flush()

    def flush(self) -> None:
        if self._chunks:
            self._stream.write(b"".join(self._chunks))
            self._chunks = []
            self._buffered = 0
        self._stream.flush()

    def close(self) -> None:
        self.flush()
        if self._owns:
            self._stream.close()

    def __enter__(self) -> PcapWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --------------------------------------------------------------------------------------------
# frame building


def ethernet_header(src_mac: bytes, dst_mac: bytes, ethertype: int, vlan: Sequence[int] = ()) -> bytes:
    """Ethernet II header; ``vlan`` of one id is 802.1Q, two ids is QinQ (outer first, 0x88A8)."""
    if len(vlan) > 2:
        raise ValueError("at most two VLAN tags (QinQ)")
    tags = b""
    if len(vlan) == 2:
        tags = (
            _U16.pack(ETH_TYPE_8021AD)
            + _U16.pack(vlan[0] & 0xFFF)
            + _U16.pack(ETH_TYPE_8021Q)
            + _U16.pack(vlan[1] & 0xFFF)
        )
    elif len(vlan) == 1:
        tags = _U16.pack(ETH_TYPE_8021Q) + _U16.pack(vlan[0] & 0xFFF)
    return dst_mac + src_mac + tags + _U16.pack(ethertype)


def _words_sum(data: bytes) -> int:
    """Sum of the big-endian 16-bit words of ``data`` modulo 0xFFFF (odd length: zero-padded)."""
    value = int.from_bytes(data, "big")
    if len(data) & 1:
        value <<= 8
    return value % 0xFFFF


class _HalfFlow:
    """One direction of a TCP connection: precomputed header parts plus its sequence state."""

    __slots__ = (
        "eth",
        "ipv6",
        "src",
        "dst",
        "sport",
        "dport",
        "pseudo_sum",
        "ip_sum",
        "ip_id",
        "v6_head",
        "v6_addrs",
        "isn",
        "window",
        "sent",
        "fin_sent",
        "ts_base",
        "last_tsval",
        "now_us",
        "peer",
        "frag_id",
    )

    def __init__(
        self,
        src_ip: str,
        dst_ip: str,
        sport: int,
        dport: int,
        src_mac: bytes,
        dst_mac: bytes,
        vlan: Sequence[int],
        isn: int,
        ip_id: int,
        flow_label: int,
        window: int,
    ) -> None:
        self.ipv6 = ":" in src_ip
        family = socket.AF_INET6 if self.ipv6 else socket.AF_INET
        self.src = socket.inet_pton(family, src_ip)
        self.dst = socket.inet_pton(family, dst_ip)
        if (":" in dst_ip) != self.ipv6:
            raise ValueError("client and server must be the same address family")
        self.eth = ethernet_header(src_mac, dst_mac, ETH_TYPE_IPV6 if self.ipv6 else ETH_TYPE_IPV4, vlan)
        self.sport = sport
        self.dport = dport
        # Pseudo-header words that never change for this direction: addresses and protocol.
        self.pseudo_sum = (_words_sum(self.src) + _words_sum(self.dst) + 6) % 0xFFFF
        # IPv4 header words that never change: version/IHL, DF flag, TTL/protocol, addresses.
        self.ip_sum = (0x4500 + 0x4000 + (64 << 8 | 6) + _words_sum(self.src) + _words_sum(self.dst)) % 0xFFFF
        self.ip_id = ip_id
        self.v6_head = _U32.pack(0x60000000 | (flow_label & 0xFFFFF))
        self.v6_addrs = self.src + self.dst
        self.isn = isn & SEQ_MASK
        self.window = window
        self.sent = 0  # stream bytes handed to TCP so far (excluding SYN/FIN)
        self.fin_sent = False
        # RFC 7323 timestamps: None when the connection does not use them; otherwise this
        # side's clock offset (ms). TSecr echoes the peer's latest TSval.
        self.ts_base: int | None = None
        self.last_tsval = 0
        self.now_us = 0
        self.peer: _HalfFlow | None = None
        self.frag_id = ip_id << 8  # IPv6 fragment identification (IPv4 reuses the IP ID)

    def next_seq_offset(self) -> int:
        """Sequence space consumed after the SYN: data bytes plus one for a FIN."""
        return self.sent + (1 if self.fin_sent else 0)

    def timestamp_option(self) -> bytes:
        """NOP NOP TS(TSval, TSecr): 12 bytes, as Linux puts on every segment."""
        tsval = (self.ts_base + self.now_us // 1000) & SEQ_MASK if self.ts_base is not None else 0
        self.last_tsval = tsval
        tsecr = self.peer.last_tsval if self.peer is not None else 0
        return b"\x01\x01\x08\x0a" + _U32.pack(tsval) + _U32.pack(tsecr)

    def frame(self, seq: int, ack: int, flags: int, payload: bytes = b"", options: bytes = b"") -> bytes:
        if self.ts_base is not None and not options:
            options = self.timestamp_option()
        tcp_len = 20 + len(options) + len(payload)
        offset_flags = ((5 + (len(options) >> 2)) << 12) | flags
        # Window scaling never applies to SYNs: they carry the real byte count; later segments
        # carry it divided by 2^7 (the WS=7 both sides announce).
        window = self.window if not flags & TCP_SYN else min(0xFFFF, self.window << 7)
        total = (
            self.pseudo_sum
            + tcp_len
            + self.sport
            + self.dport
            + (seq >> 16)
            + (seq & 0xFFFF)
            + (ack >> 16)
            + (ack & 0xFFFF)
            + offset_flags
            + window
        )
        if options:
            total += int.from_bytes(options, "big")  # options are padded to 4 bytes: whole words
        if payload:
            value = int.from_bytes(payload, "big")
            if len(payload) & 1:
                value <<= 8
            total += value
        # The ones'-complement sum folds to (sum mod 0xFFFF), or to 0xFFFF when that is 0; the
        # checksum is its complement. The final "% 0xFFFF" writes 0x0000 rather than 0xFFFF in
        # that case, as RFC 1624 asks (Wireshark flags 0xFFFF).
        tcp = _TCP_HEADER.pack(
            self.sport, self.dport, seq, ack, offset_flags, window, (0xFFFF - total % 0xFFFF) % 0xFFFF, 0
        )
        if self.ipv6:
            ip = self.v6_head + _IPV6_LENGTH.pack(tcp_len, 6, 64) + self.v6_addrs
        else:
            ip_len = 20 + tcp_len
            ip_id = self.ip_id
            self.ip_id = (ip_id + 1) & 0xFFFF
            csum = (0xFFFF - (self.ip_sum + ip_len + ip_id) % 0xFFFF) % 0xFFFF
            ip = _IPV4_HEADER.pack(0x45, 0, ip_len, ip_id, 0x4000, 64, 6, csum, self.src, self.dst)
        if options:
            return self.eth + ip + tcp + options + payload
        return self.eth + ip + tcp + payload


class TcpFlow:
    """Frame factory for one TCP connection between ``client`` and ``server``.

    Sequence numbers are tracked as stream offsets (unbounded ints) and written modulo 2^32, so
    ISNs near 2^32 wrap correctly. ``vlan`` holds one id (802.1Q) or two (QinQ, outer first).
    Data frames acknowledge everything the peer has sent unless ``ack_offset`` says otherwise
    (a receiver acknowledging only its contiguous prefix while segments are out of order).
    """

    SYN_OPTIONS_TEMPLATE = b"\x01\x01\x04\x02\x01\x03\x03\x07"  # NOP NOP SACK-permitted NOP WS=7

    def __init__(
        self,
        client: tuple[str, int],
        server: tuple[str, int],
        *,
        client_isn: int,
        server_isn: int,
        mss: int = 1460,
        vlan: Sequence[int] = (),
        client_mac: bytes = b"\x02\x00\x00\x00\x00\x01",
        server_mac: bytes = b"\x02\x00\x00\x00\x00\x02",
        ip_ids: tuple[int, int] = (1, 1),
        flow_label: int = 0,
        windows: tuple[int, int] = (502, 509),
        timestamps: tuple[int, int] | None = None,
    ) -> None:
        self.mss = mss
        self.vlan = tuple(vlan)
        self.client_endpoint = format_endpoint(*client)
        self.server_endpoint = format_endpoint(*server)
        self.c = _HalfFlow(
            client[0], server[0], client[1], server[1], client_mac, server_mac, vlan,
            client_isn, ip_ids[0], flow_label, windows[0],
        )  # fmt: skip
        self.s = _HalfFlow(
            server[0], client[0], server[1], client[1], server_mac, client_mac, vlan,
            server_isn, ip_ids[1], flow_label, windows[1],
        )  # fmt: skip
        self.c.peer = self.s
        self.s.peer = self.c
        if timestamps is not None:
            self.c.ts_base, self.s.ts_base = timestamps

    def at(self, now_us: int) -> TcpFlow:
        """Set the clock (µs) that TCP timestamp options are taken from; returns the flow."""
        self.c.now_us = self.s.now_us = now_us
        return self

    def _syn_options(self, half: _HalfFlow) -> bytes:
        mss = b"\x02\x04" + _U16.pack(self.mss)
        if half.ts_base is None:
            return mss + self.SYN_OPTIONS_TEMPLATE
        # MSS, SACK-permitted, timestamps (without its NOP padding), NOP, window scale: the
        # 20-byte layout Linux sends.
        return mss + b"\x04\x02" + half.timestamp_option()[2:] + b"\x01\x03\x03\x07"

    def _halves(self, from_client: bool) -> tuple[_HalfFlow, _HalfFlow]:
        return (self.c, self.s) if from_client else (self.s, self.c)

    def syn(self) -> bytes:
        return self.c.frame(self.c.isn, 0, TCP_SYN, options=self._syn_options(self.c))

    def syn_ack(self) -> bytes:
        options = self._syn_options(self.s)
        return self.s.frame(self.s.isn, (self.c.isn + 1) & SEQ_MASK, TCP_SYN | TCP_ACK, options=options)

    def ack(self, from_client: bool, ack_offset: int | None = None) -> bytes:
        """Pure ACK (no payload) from one side."""
        me, peer = self._halves(from_client)
        acked = peer.next_seq_offset() if ack_offset is None else ack_offset
        return me.frame(
            (me.isn + 1 + me.next_seq_offset()) & SEQ_MASK, (peer.isn + 1 + acked) & SEQ_MASK, TCP_ACK
        )

    def data(
        self,
        from_client: bool,
        offset: int,
        payload: bytes,
        *,
        psh: bool = False,
        ack_offset: int | None = None,
    ) -> bytes:
        """Data segment carrying stream bytes ``[offset, offset + len(payload))`` of one side."""
        me, peer = self._halves(from_client)
        acked = peer.next_seq_offset() if ack_offset is None else ack_offset
        flags = TCP_ACK | TCP_PSH if psh else TCP_ACK
        return me.frame((me.isn + 1 + offset) & SEQ_MASK, (peer.isn + 1 + acked) & SEQ_MASK, flags, payload)

    def fin(self, from_client: bool) -> bytes:
        me, peer = self._halves(from_client)
        frame = me.frame(
            (me.isn + 1 + me.sent) & SEQ_MASK,
            (peer.isn + 1 + peer.next_seq_offset()) & SEQ_MASK,
            TCP_FIN | TCP_ACK,
        )
        me.fin_sent = True
        return frame

    def rst(self, from_client: bool) -> bytes:
        me, peer = self._halves(from_client)
        return me.frame(
            (me.isn + 1 + me.next_seq_offset()) & SEQ_MASK,
            (peer.isn + 1 + peer.next_seq_offset()) & SEQ_MASK,
            TCP_RST | TCP_ACK,
        )

    def sent(self, from_client: bool) -> int:
        return (self.c if from_client else self.s).sent

    def advance(self, from_client: bool, nbytes: int) -> None:
        """Record that ``nbytes`` more stream bytes were handed to TCP on one side."""
        (self.c if from_client else self.s).sent += nbytes

    def fragment(self, from_client: bool, frame: bytes, cuts: Sequence[int]) -> list[bytes]:
        """Split ``frame`` (built by this flow, same direction) into IP fragments.

        ``cuts`` are offsets into the IP payload (the TCP segment) where a fragment ends; each a
        positive multiple of 8 below the payload length. IPv4 fragments clear DF and share the
        datagram's ID; IPv6 fragments get a Fragment extension header.
        """
        half = self.c if from_client else self.s
        l2 = len(half.eth)
        eth = frame[:l2]
        ip_header_len = 40 if half.ipv6 else 20
        payload = frame[l2 + ip_header_len :]
        bounds = [0, *cuts, len(payload)]
        if any(b % 8 for b in cuts) or bounds != sorted(set(bounds)):
            raise ValueError(f"bad fragment cuts {cuts} for a {len(payload)}-byte payload")
        pieces = []
        if half.ipv6:
            fixed = frame[l2 : l2 + 40]
            ident = half.frag_id
            half.frag_id = (ident + 1) & SEQ_MASK
            for start, end in zip(bounds, bounds[1:], strict=False):
                more = 1 if end < len(payload) else 0
                header = struct.pack("!BBHI", 6, 0, start | more, ident)  # start is a multiple of 8
                ip = fixed[:4] + _IPV6_LENGTH.pack(8 + end - start, 44, 64) + fixed[8:40]
                pieces.append(eth + ip + header + payload[start:end])
        else:
            (ident,) = _U16.unpack_from(frame, l2 + 4)
            for start, end in zip(bounds, bounds[1:], strict=False):
                flags_offset = (0x2000 if end < len(payload) else 0) | (start >> 3)
                total = 20 + end - start
                header = _IPV4_HEADER.pack(0x45, 0, total, ident, flags_offset, 64, 6, 0, half.src, half.dst)
                csum = (0xFFFF - _words_sum(header)) % 0xFFFF
                pieces.append(eth + header[:10] + _U16.pack(csum) + header[12:] + payload[start:end])
        return pieces

    def wraps(self) -> bool:
        """True when either direction's sequence numbers cross 2^32 during what was sent."""
        return any(h.isn + 1 + h.next_seq_offset() > SEQ_MASK for h in (self.c, self.s))


# --------------------------------------------------------------------------------------------
# API catalogue and message content


@dataclass(frozen=True, slots=True)
class _Endpoint:
    path: str  # template; {id} {uuid} {sku} {ch} {cus} are filled in
    methods: tuple[str, ...]
    kind: str  # what the JSON bodies describe
    collection: bool


_CATALOGUE: dict[str, tuple[_Endpoint, ...]] = {
    "api.shop.example": (
        _Endpoint("/v1/products", ("GET", "GET", "POST", "HEAD"), "product", True),
        _Endpoint("/v1/products/{id}", ("GET", "GET", "PUT", "PATCH", "DELETE", "HEAD"), "product", False),
        _Endpoint("/v1/orders", ("GET", "POST"), "order", True),
        _Endpoint("/v1/orders/{id}", ("GET", "PATCH", "DELETE"), "order", False),
        _Endpoint("/v1/carts/{uuid}/items", ("GET", "POST"), "cart_item", True),
        _Endpoint("/v1/customers/{id}", ("GET", "PUT", "PATCH"), "customer", False),
    ),
    "users.corp.example": (
        _Endpoint("/api/v2/users", ("GET", "POST"), "user", True),
        _Endpoint("/api/v2/users/{id}", ("GET", "GET", "PUT", "PATCH", "DELETE", "HEAD"), "user", False),
        _Endpoint("/api/v2/users/{id}/sessions", ("GET", "DELETE"), "session", True),
    ),
    "payments.example.com": (
        _Endpoint("/v3/charges", ("GET", "POST", "POST"), "charge", True),
        _Endpoint("/v3/charges/{ch}", ("GET",), "charge", False),
        _Endpoint("/v3/charges/{ch}/refunds", ("POST",), "refund", True),
        _Endpoint("/v3/customers/{cus}", ("GET", "PATCH", "DELETE"), "customer", False),
    ),
    "billing.internal.example": (
        _Endpoint("/invoices", ("GET", "POST"), "invoice", True),
        _Endpoint("/invoices/{id}", ("GET", "PUT", "DELETE", "HEAD"), "invoice", False),
    ),
    "inventory.warehouse.example": (
        _Endpoint("/api/items/{sku}", ("GET", "PUT", "PATCH", "HEAD"), "stock", False),
        _Endpoint("/api/stock", ("GET",), "stock", True),
    ),
    "search.example.org": (_Endpoint("/search", ("GET",), "search", True),),
    "auth.example.net": (
        _Endpoint("/oauth/token", ("POST",), "token", True),
        _Endpoint("/userinfo", ("GET",), "user", False),
    ),
    "graph.social.example": (_Endpoint("/graphql", ("POST",), "graphql", True),),
}
_HOSTS = tuple(_CATALOGUE)
API_HOSTS = _HOSTS  # the hosts generate_api_traffic can use
_HOST_WEIGHTS = (30.0, 15.0, 12.0, 8.0, 10.0, 8.0, 7.0, 10.0)

_REASONS = {
    200: "OK", 201: "Created", 204: "No Content", 304: "Not Modified", 400: "Bad Request",
    401: "Unauthorized", 404: "Not Found", 409: "Conflict", 422: "Unprocessable Entity",
    500: "Internal Server Error", 503: "Service Unavailable",
}  # fmt: skip

# (status, weight) by method and whether the target is a collection.
_STATUSES: dict[tuple[str, bool], tuple[tuple[int, ...], tuple[int, ...]]] = {
    ("GET", False): ((200, 304, 404, 500, 401), (80, 8, 8, 2, 2)),
    ("GET", True): ((200, 304, 400, 500), (88, 6, 3, 3)),
    ("HEAD", False): ((200, 404), (85, 15)),
    ("HEAD", True): ((200,), (1,)),
    ("POST", True): ((201, 200, 400, 422, 409, 500), (58, 20, 7, 7, 3, 5)),
    ("POST", False): ((200, 400, 500), (85, 10, 5)),
    ("PUT", False): ((200, 204, 404, 500), (70, 15, 10, 5)),
    ("PATCH", False): ((200, 204, 404, 422), (75, 10, 10, 5)),
    ("DELETE", False): ((204, 200, 404, 500), (75, 5, 15, 5)),
    ("DELETE", True): ((204, 404), (90, 10)),
}

_FIRST_NAMES = (
    "Alice", "Bob", "Chen", "Dana", "Emeka", "Fatima", "Giulia", "Hiro", "Ingrid", "José",
    "Kwame", "Lena", "Mateo", "Nadia", "Oskar", "Priya", "Quentin", "Rosa", "Sven", "Tomás",
    "Uma", "Viktor", "Wen", "Ximena", "Yusuf", "Zoë",
)  # fmt: skip
_LAST_NAMES = (
    "Adams", "Bauer", "Costa", "Dubois", "Eriksen", "Fischer", "García", "Hansen", "Ivanova",
    "Jensen", "Kowalski", "López", "Müller", "Nakamura", "O'Brien", "Patel", "Rossi", "Schmidt",
    "Tanaka", "Usman", "Novak", "Wójcik", "Yilmaz", "Zhang",
)  # fmt: skip
_MAIL_DOMAINS = ("example.com", "mail.example.org", "corp.example", "example.net")
_CITIES = (
    ("Berlin", "DE"),
    ("Lyon", "FR"),
    ("Austin", "US"),
    ("Osaka", "JP"),
    ("Porto", "PT"),
    ("Leeds", "GB"),
)
_STREETS = ("Main St", "Station Rd", "Hauptstraße", "Rue de la Paix", "Elm Ave", "Harbour Way")
_PRODUCT_WORDS = ("Widget", "Gadget", "Cable", "Adapter", "Lamp", "Kettle", "Backpack", "Headphones", "Mug")
_ADJECTIVES = ("Blue", "Compact", "Deluxe", "Eco", "Pro", "Mini", "Smart", "Classic")
_USER_AGENTS = (
    "okhttp/4.12.0",
    "python-requests/2.31.0",
    "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
    "axios/1.6.8",
    "Go-http-client/1.1",
    "curl/8.5.0",
    "ShopApp/3.14.1 (iOS 17.4; iPhone14,5)",
)
_SEARCH_TERMS = ("usb c cable", "café", "red shoes", "laptop stand", "größe 42", "gift card", "a&b test")
_BASE_EPOCH = 1_700_000_000  # fixed capture start (2023-11-14) so dates in bodies are stable


class _FastRandom(random.Random):
    """``random.Random`` with cheaper ``randint``/``choice``.

    The stdlib versions go through ``_randbelow`` (rejection sampling, ~2 µs a call); a traffic
    generator makes millions of these calls and does not care about the 2^-53 bias of scaling
    ``random()``. Still fully determined by the seed.
    """

    def randint(self, a: int, b: int) -> int:
        return a + int(self.random() * (b - a + 1))

    def choice(self, seq: Sequence[Any]) -> Any:
        return seq[int(self.random() * len(seq))]


def _pct(text: str) -> str:
    """Percent-encode a query value (RFC 3986 unreserved characters kept), spaces as '+'."""
    out = []
    for byte in text.encode("utf-8"):
        ch = chr(byte)
        if ch.isascii() and (ch.isalnum() or ch in "-._~"):
            out.append(ch)
        elif ch == " ":
            out.append("+")
        else:
            out.append(f"%{byte:02X}")
    return "".join(out)


class _Content:
    """Makes request targets, headers and JSON bodies from the shared RNG."""

    POOL_SIZE = 256

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self._date_cache: dict[int, str] = {}
        self._pools: dict[str, list[str]] = {}

    def pooled_json(self, kind: str) -> str:
        """A JSON-encoded record drawn from a per-kind pool.

        List responses carry up to 40 records; generating and encoding each one fresh made
        content the bulk of generation time, and list items need not be unique.
        """
        pool = self._pools.get(kind)
        if pool is None:
            pool = [
                json.dumps(self.record(kind), ensure_ascii=self.rng.random() < 0.5)
                for _ in range(self.POOL_SIZE)
            ]
            self._pools[kind] = pool
        return pool[int(self.rng.random() * self.POOL_SIZE)]

    # --- identifiers and values
    def uuid(self) -> str:
        h = f"{self.rng.getrandbits(128):032x}"
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}"

    def token(self, n: int = 24) -> str:
        return f"{self.rng.getrandbits(n * 4):0{n}x}"

    def person(self) -> dict[str, Any]:
        rng = self.rng
        first = rng.choice(_FIRST_NAMES)
        last = rng.choice(_LAST_NAMES)
        local = f"{first}.{last}".lower().replace("'", "").encode("ascii", "ignore").decode()
        city, country = rng.choice(_CITIES)
        return {
            "first_name": first,
            "last_name": last,
            "email": f"{local}{rng.randint(1, 999)}@{rng.choice(_MAIL_DOMAINS)}",
            "phone": f"+1-555-{rng.randint(100, 999)}-{rng.randint(1000, 9999)}",
            "address": {
                "line1": f"{rng.randint(1, 250)} {rng.choice(_STREETS)}",
                "city": city,
                "postal_code": f"{rng.randint(10000, 99999)}",
                "country": country,
            },
        }

    def iso(self) -> str:
        return time.strftime(
            "%Y-%m-%dT%H:%M:%SZ", time.gmtime(_BASE_EPOCH - self.rng.randint(0, 400 * 86400))
        )

    def http_date(self, ts_us: int) -> str:
        sec = ts_us // 1_000_000
        cached = self._date_cache.get(sec)
        if cached is None:
            cached = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(sec))
            if len(self._date_cache) > 4096:
                self._date_cache.clear()
            self._date_cache[sec] = cached
        return cached

    def record(self, kind: str) -> dict[str, Any]:
        rng = self.rng
        if kind == "product":
            return {
                "id": rng.randint(1, 999_999),
                "sku": f"{rng.choice('ABCDEFGH')}{rng.choice('KLMNPQRS')}-{rng.randint(10000, 99999)}",
                "name": f"{rng.choice(_ADJECTIVES)} {rng.choice(_PRODUCT_WORDS)}",
                "price": {"amount": rng.randint(199, 49999), "currency": rng.choice(("EUR", "USD", "GBP"))},
                "in_stock": rng.random() < 0.8,
                "tags": rng.sample(("new", "sale", "eco", "bestseller", "gift"), rng.randint(0, 3)),
                "updated_at": self.iso(),
            }
        if kind in ("user", "customer"):
            person = self.person()
            record: dict[str, Any] = {
                "id": rng.randint(1, 9_999_999) if kind == "user" else f"cus_{self.token(14)}",
                **person,
                "created_at": self.iso(),
            }
            if kind == "user":
                record["roles"] = rng.sample(("admin", "viewer", "editor", "billing"), rng.randint(1, 2))
                record["date_of_birth"] = (
                    f"{rng.randint(1950, 2004)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
                )
            return record
        if kind == "order":
            items = [
                {
                    "sku": f"SK-{rng.randint(10000, 99999)}",
                    "quantity": rng.randint(1, 5),
                    "unit_price": rng.randint(199, 9999),
                }
                for _ in range(rng.randint(1, 4))
            ]
            person = self.person()
            return {
                "id": f"ord_{self.token(12)}",
                "customer": {
                    "email": person["email"],
                    "name": f"{person['first_name']} {person['last_name']}",
                    "phone": person["phone"],
                },
                "items": items,
                "total": sum(i["quantity"] * i["unit_price"] for i in items),
                "status": rng.choice(("pending", "paid", "shipped", "cancelled")),
                "shipping_address": person["address"],
                "created_at": self.iso(),
            }
        if kind == "cart_item":
            return {
                "id": self.uuid(),
                "sku": f"SK-{rng.randint(10000, 99999)}",
                "quantity": rng.randint(1, 3),
            }
        if kind in ("charge", "refund"):
            return {
                "id": f"{'ch' if kind == 'charge' else 're'}_{self.token(16)}",
                "amount": rng.randint(100, 250000),
                "currency": rng.choice(("eur", "usd")),
                "customer": f"cus_{self.token(14)}",
                "card": {
                    "brand": rng.choice(("visa", "mastercard", "amex")),
                    "last4": f"{rng.randint(0, 9999):04d}",
                    "exp_month": rng.randint(1, 12),
                    "exp_year": rng.randint(2025, 2031),
                },
                "receipt_email": self.person()["email"],
                "status": rng.choice(("succeeded", "pending", "failed")),
            }
        if kind == "invoice":
            person = self.person()
            return {
                "id": rng.randint(100000, 999999),
                "number": f"INV-{rng.randint(2023, 2025)}-{rng.randint(1, 99999):05d}",
                "bill_to": {
                    "name": f"{person['first_name']} {person['last_name']}",
                    "email": person["email"],
                    "phone": person["phone"],
                },
                "iban": f"DE{rng.randint(10, 99)}{rng.randint(10**17, 10**18 - 1)}",
                "amount_due": rng.randint(1000, 990000),
                "status": rng.choice(("draft", "open", "paid", "void")),
                "due_date": self.iso()[:10],
            }
        if kind == "stock":
            return {
                "sku": f"SK-{rng.randint(10000, 99999)}",
                "warehouse": rng.choice(("FRA1", "AMS2", "DFW1")),
                "on_hand": rng.randint(0, 5000),
                "reserved": rng.randint(0, 100),
            }
        if kind == "session":
            return {
                "id": self.uuid(),
                "ip": f"198.51.100.{rng.randint(1, 254)}",
                "user_agent": rng.choice(_USER_AGENTS),
            }
        if kind == "search":
            return {
                "id": rng.randint(1, 999_999),
                "title": f"{rng.choice(_ADJECTIVES)} {rng.choice(_PRODUCT_WORDS)}",
                "score": round(rng.random(), 4),
            }
        if kind == "token":
            return {
                "access_token": self.token(40),
                "token_type": "Bearer",
                "expires_in": 3600,
                "scope": "read write",
            }
        if kind == "graphql":
            return {"data": {"viewer": {"id": self.token(10), "login": self.person()["email"].split("@")[0]}}}
        raise ValueError(kind)

    def fill_path(self, template: str) -> str:
        rng = self.rng
        return (
            template.replace("{id}", str(rng.randint(1, 999_999)))
            .replace("{uuid}", self.uuid())
            .replace("{sku}", f"SK-{rng.randint(10000, 99999)}")
            .replace("{ch}", f"ch_{self.token(16)}")
            .replace("{cus}", f"cus_{self.token(14)}")
        )

    def query(self, endpoint: _Endpoint, method: str) -> str:
        rng = self.rng
        if endpoint.kind == "search":
            return f"?q={_pct(rng.choice(_SEARCH_TERMS))}&page={rng.randint(1, 5)}"
        if method == "GET" and endpoint.collection and rng.random() < 0.6:
            parts = [f"page={rng.randint(1, 40)}", f"limit={rng.choice((10, 20, 50, 100))}"]
            if rng.random() < 0.3:
                parts.append(f"sort={rng.choice(('created_at', '-created_at', 'name'))}")
            if rng.random() < 0.2:
                parts.append(f"status={rng.choice(('open', 'paid', 'pending'))}")
            return "?" + "&".join(parts)
        if method == "GET" and rng.random() < 0.1:
            return "?fields=id,name,email&expand=address"
        return ""


@dataclass(slots=True)
class _Message:
    """One request/response pair as bytes plus what the truth records about it."""

    method: str
    host: str
    target: str
    status: int
    request: bytes
    response: bytes
    closes: bool = False  # request carried "Connection: close"
    expect_split: int = 0  # "Expect: 100-continue": the body starts here; 0 when not used


@dataclass(slots=True)
class _ConnPlan:
    """One connection to generate: when, to whom, how many exchanges, last one unanswered?"""

    start_us: int
    exchanges: int
    drop_last: bool
    client_index: int
    host: str
    key: int = 0  # tie-breaker for equal start times


# --------------------------------------------------------------------------------------------
# the generator


class _Generator:
    def __init__(
        self,
        writer: PcapWriter,
        rng: random.Random,
        *,
        reorder_rate: float,
        retransmit_rate: float,
        pipeline_rate: float,
        vlan_rate: float,
        ipv6_rate: float,
        chunked_rate: float,
        gzip_rate: float,
        drop_response_rate: float,
        wrap_rate: float,
        qinq_share: float,
        expect_continue_rate: float,
        request_chunked_rate: float,
        header_case_rate: float,
        midstream_rate: float,
        tcp_timestamps_rate: float,
        fragment_rate: float,
        streams: dict[tuple[str, str], tuple[bytearray, bytearray]] | None,
        stats: GenerationStats,
    ) -> None:
        self.writer = writer
        self.rng = rng
        self.reorder_rate = reorder_rate
        self.retransmit_rate = retransmit_rate
        self.pipeline_rate = pipeline_rate
        self.vlan_rate = vlan_rate
        self.ipv6_rate = ipv6_rate
        self.chunked_rate = chunked_rate
        self.gzip_rate = gzip_rate
        self.drop_response_rate = drop_response_rate
        self.wrap_rate = wrap_rate
        self.qinq_share = qinq_share
        self.expect_continue_rate = expect_continue_rate
        self.request_chunked_rate = request_chunked_rate
        self.header_case_rate = header_case_rate
        self.midstream_rate = midstream_rate
        self.tcp_timestamps_rate = tcp_timestamps_rate
        self.fragment_rate = fragment_rate
        self.streams = streams
        self.stats = stats
        self.content = _Content(rng)
        self.truth: list[TruthExchange] = []
        self.used_tuples: set[tuple[str, int, str, int]] = set()
        # Servers: each host has one IPv4 and one IPv6 address and a port.
        self.servers: dict[str, tuple[str, str, int]] = {}
        for i, host in enumerate(_HOSTS):
            port = 8080 if host.endswith(".internal.example") or host.startswith("inventory.") else 80
            self.servers[host] = (f"192.0.2.{10 + i}", f"2001:db8:100::{10 + i:x}", port)
        self.server_macs = {host: bytes((0x02, 0x10, 0, 0, 0, i + 1)) for i, host in enumerate(_HOSTS)}

    # --- clients
    def client(self, index: int) -> tuple[str, str, bytes]:
        """Client ``index``'s IPv4 address, IPv6 address and MAC."""
        return (
            f"10.{(index >> 16) & 0xFF}.{(index >> 8) & 0xFF}.{(index & 0xFF) or 1}",
            f"fd00:10::{index + 1:x}",
            bytes((0x02, 0x20, (index >> 16) & 0xFF, (index >> 8) & 0xFF, index & 0xFF, 0x01)),
        )

    # --- messages
    def make_message(
        self, host: str, t_us: int, *, idempotent_only: bool, closes: bool, allow_expect: bool = False
    ) -> _Message:
        rng = self.rng
        content = self.content
        # Optional features draw from the RNG only when enabled, so turning them on leaves the
        # traffic of captures that do not use them byte-identical.
        upper_case = bool(self.header_case_rate) and rng.random() < self.header_case_rate
        endpoint = rng.choice(_CATALOGUE[host])
        methods = endpoint.methods
        if idempotent_only:
            methods = tuple(m for m in methods if m in ("GET", "HEAD", "PUT", "DELETE")) or ("GET",)
        method = rng.choice(methods)
        target = content.fill_path(endpoint.path) + content.query(endpoint, method)
        statuses, weights = _STATUSES.get((method, endpoint.collection), ((200,), (1,)))
        status = rng.choices(statuses, weights)[0]

        headers = [
            ("Host", host),
            ("User-Agent", rng.choice(_USER_AGENTS)),
            ("Accept", "application/json"),
        ]
        accepts_gzip = rng.random() < 0.85
        if accepts_gzip:
            headers.append(("Accept-Encoding", "gzip, deflate, br" if rng.random() < 0.5 else "gzip"))
        if host != "auth.example.net" or endpoint.path != "/oauth/token":
            headers.append(("Authorization", f"Bearer {content.token(32)}"))
        headers.append(("X-Request-ID", content.uuid()))
        if status == 304:
            headers.append(("If-None-Match", f'W/"{content.token(16)}"'))
        body = b""
        if method in ("POST", "PUT", "PATCH"):
            if endpoint.kind == "token":
                body = f"grant_type=client_credentials&client_id={content.token(12)}&client_secret={content.token(32)}".encode()
                headers.append(("Content-Type", "application/x-www-form-urlencoded"))
            elif endpoint.kind == "graphql":
                body = json.dumps({"query": "query Viewer { viewer { id login } }", "variables": {}}).encode()
                headers.append(("Content-Type", "application/json"))
            else:
                record = content.record(endpoint.kind)
                if method == "PATCH":  # partial update: a few fields only
                    record = dict(list(record.items())[: rng.randint(1, 3)])
                body = json.dumps(record, ensure_ascii=rng.random() < 0.5).encode()
                headers.append(("Content-Type", "application/json; charset=utf-8"))
            if self.request_chunked_rate and rng.random() < self.request_chunked_rate:
                headers.append(("Transfer-Encoding", "chunked"))
                body = self.chunk(body)
            else:
                headers.append(("Content-Length", str(len(body))))
        expect = (
            bool(body)
            and allow_expect
            and self.expect_continue_rate
            and rng.random() < self.expect_continue_rate
        )
        if expect:
            headers.append(("Expect", "100-continue"))
        if closes:
            headers.append(("Connection", "close"))
        head = (f"{method} {target} HTTP/1.1\r\n" + _header_block(headers, upper_case) + "\r\n").encode()

        response = self.make_response(endpoint, method, status, t_us, accepts_gzip, closes)
        return _Message(
            method, host, target, status, head + body, response, closes, len(head) if expect else 0
        )

    def make_response(
        self, endpoint: _Endpoint, method: str, status: int, t_us: int, accepts_gzip: bool, closes: bool
    ) -> bytes:
        rng = self.rng
        content = self.content
        upper_case = bool(self.header_case_rate) and rng.random() < self.header_case_rate
        headers = [
            ("Date", content.http_date(t_us)),
            ("Server", rng.choice(("nginx", "envoy", "gunicorn/21.2.0", "Kestrel"))),
        ]
        body = b""
        if status in (204, 304):
            if status == 304:
                headers.append(("ETag", f'W/"{content.token(16)}"'))
        else:
            if status >= 400:
                payload: Any = {
                    "error": {
                        "code": _REASONS.get(status, "error").lower().replace(" ", "_"),
                        "message": f"{_REASONS.get(status, 'Error')}: request could not be completed",
                        "request_id": content.uuid(),
                    }
                }
            elif endpoint.collection and method == "GET":
                count = rng.choice((0, 1, 3, 5, 10, 20, 40))
                items = ", ".join([content.pooled_json(endpoint.kind) for _ in range(count)])
                total = count + rng.randint(0, 500)
                payload = None
                body = f'{{"data": [{items}], "page": {rng.randint(1, 40)}, "total": {total}}}'.encode()
            else:
                payload = content.record(endpoint.kind)
            if payload is not None:
                body = json.dumps(payload, ensure_ascii=rng.random() < 0.5).encode()
            headers.append(("Content-Type", "application/json; charset=utf-8"))

        if method == "HEAD" or status in (204, 304):
            # No body on the wire. HEAD still describes the body GET would have returned.
            if method == "HEAD" and status not in (204, 304):
                headers.append(("Content-Length", str(len(body))))
            elif status == 204 and rng.random() < 0.2:
                headers.append(("Content-Length", "0"))
            wire = b""
        else:
            if body and accepts_gzip and rng.random() < self.gzip_rate:
                body = gzip.compress(body, compresslevel=rng.choice((1, 6, 9)), mtime=0)
                headers.append(("Content-Encoding", "gzip"))
                headers.append(("Vary", "Accept-Encoding"))
            if rng.random() < self.chunked_rate:
                headers.append(("Transfer-Encoding", "chunked"))
                wire = self.chunk(body)
            else:
                headers.append(("Content-Length", str(len(body))))
                wire = body
        headers.append(("X-Request-ID", content.uuid()))
        if closes:
            headers.append(("Connection", "close"))
        reason = _REASONS.get(status, "Unknown")
        head = f"HTTP/1.1 {status} {reason}\r\n" + _header_block(headers, upper_case) + "\r\n"
        return head.encode() + wire

    def chunk(self, body: bytes) -> bytes:
        rng = self.rng
        parts = []
        pos = 0
        while pos < len(body):
            size = min(len(body) - pos, rng.choice((16, 100, 512, 1000, 4096, 8192)))
            parts.append(b"%x\r\n" % size + body[pos : pos + size] + b"\r\n")
            pos += size
        parts.append(b"0\r\n\r\n")
        return b"".join(parts)

    # --- TCP sending
    def send(
        self,
        out: list[tuple[int, bytes]],
        t_us: int,
        flow: TcpFlow,
        from_client: bool,
        data: bytes,
        *,
        receiver_acks: bool,
    ) -> int:
        """Segment ``data`` into MSS-sized frames (with reordering/retransmissions) from one side.

        Appends (timestamp µs, frame) to ``out``; returns the time after the last frame. The
        receiver sends a pure ACK after every second segment it can acknowledge in order and,
        when ``receiver_acks``, one at the end.
        """
        rng = self.rng
        mss = flow.mss
        base = flow.sent(from_client)
        length = len(data)
        segments = [(off, min(mss, length - off)) for off in range(0, length, mss)]
        order: list[tuple[int, int, bool]] = [(off, n, False) for off, n in segments]  # (offset, len, retx)
        # Out-of-order delivery: swap adjacent segments.
        if self.reorder_rate and len(order) > 1:
            i = 0
            while i < len(order) - 1:
                if rng.random() < self.reorder_rate * 2:  # per pair, so ~rate per segment
                    order[i], order[i + 1] = order[i + 1], order[i]
                    self.stats.reordered_pairs += 1
                    i += 2
                else:
                    i += 1
        # Retransmissions: a duplicate of a segment later on, sometimes repacketized so it
        # overlaps the second half of one segment and the first half of the next.
        if self.retransmit_rate:
            i = 0
            while i < len(order):
                off, n, retx = order[i]
                if not retx and rng.random() < self.retransmit_rate:
                    if rng.random() < 0.35 and n > 1:
                        start = off + n // 2
                        end = min(length, start + mss, off + n + max(1, mss // 2))
                        copy = (start, end - start, True)
                    else:
                        copy = (off, n, True)
                    order.insert(min(len(order), i + 1 + rng.randint(0, 2)), copy)
                    self.stats.retransmitted_segments += 1
                i += 1

        delivered: list[tuple[int, int]] = []
        contiguous = 0  # the receiver's in-order prefix, what its ACKs may cover
        since_ack = 0
        last_index = len(order) - 1
        for idx, (off, n, _retx) in enumerate(order):
            t_us += rng.randint(5, 60)
            frame = flow.at(t_us).data(from_client, base + off, data[off : off + n], psh=off + n == length)
            if self.fragment_rate and n >= 64 and rng.random() < self.fragment_rate:
                # The IP payload (TCP header + data) is cut at multiples of 8 into 2-3 pieces,
                # sometimes delivered last piece first.
                tcp_len = len(frame) - len(flow.c.eth) - (40 if flow.c.ipv6 else 20)
                slots = (tcp_len - 1) // 8  # cut points k*8 strictly inside the payload
                cuts = sorted(rng.sample(range(1, slots + 1), min(slots, rng.randint(1, 2))))
                pieces = flow.fragment(from_client, frame, [c * 8 for c in cuts])
                if rng.random() < 0.3:
                    pieces.reverse()
                for piece in pieces:
                    out.append((t_us, piece))
                    t_us += 1
                self.stats.fragmented_datagrams += 1
            else:
                out.append((t_us, frame))
            delivered.append((off, off + n))
            if off <= contiguous:
                delivered.sort()
                for start, end in delivered:
                    if start <= contiguous < end:
                        contiguous = end
            since_ack += 1
            if since_ack >= 2 and idx != last_index:
                since_ack = 0
                t_us += rng.randint(20, 200)
                out.append((t_us, flow.at(t_us).ack(not from_client, ack_offset=base + contiguous)))
        flow.advance(from_client, length)
        if receiver_acks:
            t_us += rng.randint(30, 400)
            out.append((t_us, flow.at(t_us).ack(not from_client)))
        if self.streams is not None:
            pair = self.streams.setdefault(
                (flow.client_endpoint, flow.server_endpoint), (bytearray(), bytearray())
            )
            pair[0 if from_client else 1].extend(data)
        return t_us

    # --- one connection
    def connection(self, plan: _ConnPlan) -> list[tuple[int, bytes]]:
        rng = self.rng
        v4, v6, client_mac = self.client(plan.client_index)
        server_v4, server_v6, server_port = self.servers[plan.host]
        ipv6 = rng.random() < self.ipv6_rate
        client_ip, server_ip = (v6, server_v6) if ipv6 else (v4, server_v4)
        while True:
            client_port = rng.randint(32768, 60999)
            key = (client_ip, client_port, server_ip, server_port)
            if key not in self.used_tuples:
                self.used_tuples.add(key)
                break
        vlan: tuple[int, ...] = ()
        if rng.random() < self.vlan_rate:
            vid = 100 + plan.client_index % 50
            vlan = (rng.choice((10, 20)), vid) if rng.random() < self.qinq_share else (vid,)
        wrap = rng.random() < self.wrap_rate
        if wrap:
            # Close enough to 2^32 that the first response or two cross it.
            client_isn = SEQ_MASK - rng.randint(0, 600)
            server_isn = SEQ_MASK - rng.randint(0, 3000)
        else:
            client_isn = rng.getrandbits(32)
            server_isn = rng.getrandbits(32)
        mss = rng.choice((1460, 1460, 1460, 1380, 536)) - (20 if ipv6 else 0)
        timestamps = None
        if self.tcp_timestamps_rate and rng.random() < self.tcp_timestamps_rate:
            timestamps = (rng.getrandbits(32), rng.getrandbits(32))
            mss -= 12  # the option rides on every segment: less room for data
        flow = TcpFlow(
            (client_ip, client_port),
            (server_ip, server_port),
            client_isn=client_isn,
            server_isn=server_isn,
            mss=mss,
            vlan=vlan,
            client_mac=client_mac,
            server_mac=self.server_macs[plan.host],
            ip_ids=(rng.getrandbits(16), rng.getrandbits(16)),
            flow_label=rng.getrandbits(20),
            timestamps=timestamps,
        )
        out: list[tuple[int, bytes]] = []
        rtt = rng.randint(200, 40_000)  # µs; capture point is next to the server
        t = plan.start_us
        out.append((t, flow.at(t).syn()))
        t += rng.randint(20, 150)
        out.append((t, flow.at(t).syn_ack()))
        t += rtt
        out.append((t, flow.at(t).ack(True)))

        n = plan.exchanges
        closes_last = not plan.drop_last and rng.random() < 0.25
        i = 0
        while i < n:
            t += rng.randint(50, 1000) if i == 0 else int(rng.expovariate(1 / 150_000)) + 100
            group = 1
            if n - i > 1 and rng.random() < self.pipeline_rate:
                group = min(n - i, rng.randint(2, 4))
                self.stats.pipelined_batches += 1
            dropped_index = group - 1 if plan.drop_last and i + group == n else -1
            messages = [
                self.make_message(
                    plan.host,
                    t,
                    idempotent_only=group > 1,
                    closes=closes_last and i + k == n - 1,
                    allow_expect=group == 1 and dropped_index < 0,
                )
                for k in range(group)
            ]
            # Requests: a pipelined batch goes out either as one write (requests share
            # segments) or as back-to-back writes; either way before any response.
            if group > 1 and rng.random() < 0.5:
                t = self.send(out, t, flow, True, b"".join(m.request for m in messages), receiver_acks=False)
            else:
                for m in messages:
                    if m.expect_split:
                        # Head, then "100 Continue" from the server, then the body.
                        t = self.send(out, t, flow, True, m.request[: m.expect_split], receiver_acks=False)
                        t += rng.randint(100, 5000)
                        t = self.send(
                            out, t, flow, False, b"HTTP/1.1 100 Continue\r\n\r\n", receiver_acks=False
                        )
                        t += rtt
                        t = self.send(out, t, flow, True, m.request[m.expect_split :], receiver_acks=False)
                        self.stats.interim_responses += 1
                    else:
                        t = self.send(out, t, flow, True, m.request, receiver_acks=False)
                    t += rng.randint(5, 80)
            if rng.random() < 0.5 or dropped_index >= 0:
                t += rng.randint(30, 300)
                out.append((t, flow.at(t).ack(False)))  # server acknowledges the request(s) promptly
            for k, m in enumerate(messages):
                complete = k != dropped_index
                self.truth.append(
                    TruthExchange(
                        flow.client_endpoint,
                        flow.server_endpoint,
                        m.method,
                        m.host,
                        m.target,
                        m.status if complete else None,
                        complete,
                    )
                )
                if not complete:
                    continue
                t += rng.randint(300, 30_000)  # server think time
                t = self.send(out, t, flow, False, m.response, receiver_acks=rng.random() < 0.7)
            i += group
            self.stats.exchanges += group

        # Closing.
        if plan.drop_last:
            t += rng.randint(2_000_000, 10_000_000)  # the client gives up waiting
            out.append((t, flow.at(t).fin(True)))
            t += rng.randint(30, 300)
            out.append((t, flow.at(t).fin(False)))
            t += rtt
            out.append((t, flow.at(t).ack(True)))
        else:
            mode = rng.random()
            if closes_last:
                t += rng.randint(20, 300)
                out.append((t, flow.at(t).fin(False)))
                t += rtt
                out.append((t, flow.at(t).fin(True)))
                t += rng.randint(20, 150)
                out.append((t, flow.at(t).ack(False)))
            elif mode < 0.05:
                pass  # still open when the capture ends
            elif mode < 0.08:
                t += rng.randint(1000, 100_000)
                out.append((t, flow.at(t).rst(True)))
            else:
                t += int(rng.expovariate(1 / 200_000)) + 100
                out.append((t, flow.at(t).fin(True)))
                t += rng.randint(20, 300)
                if rng.random() < 0.5:
                    out.append((t, flow.at(t).fin(False)))  # FIN+ACK together
                else:
                    out.append((t, flow.at(t).ack(False)))
                    t += rng.randint(20, 300)
                    out.append((t, flow.at(t).fin(False)))
                t += rtt
                out.append((t, flow.at(t).ack(True)))
        if flow.wraps():
            self.stats.wrapped_connections += 1
        if self.midstream_rate and rng.random() < self.midstream_rate:
            # The capture started after the handshake: the sensor sees the connection mid-stream.
            del out[:3]
            self.stats.midstream_connections += 1
        return out


def _header_block(headers: Sequence[tuple[str, str]], upper_case: bool) -> str:
    if upper_case:
        return "".join(f"{k.upper()}: {v}\r\n" for k, v in headers)
    return "".join(f"{k}: {v}\r\n" for k, v in headers)


def _plan_connections(
    rng: random.Random,
    exchanges: int,
    connections: int,
    drop_rate: float,
    clients: int,
    hosts: Sequence[str],
    host_weights: Sequence[float],
) -> list[_ConnPlan]:
    """Split ``exchanges`` over connections and schedule their start times."""
    connections = max(1, min(connections, exchanges))
    # Skewed connection lengths (some long-lived API clients, many short ones), each >= 1.
    weights = [rng.expovariate(1.0) + 0.05 for _ in range(connections)]
    counts = [1] * connections
    for index in rng.choices(range(connections), weights=weights, k=exchanges - connections):
        counts[index] += 1
    plans: list[_ConnPlan] = []
    # Mean gap between connection starts chosen so ~40 connections are open at a time.
    mean_gap_us = 25_000
    t = _BASE_EPOCH * 1_000_000
    pending: list[tuple[int, int, int, str]] = []  # (start, count, client, host)
    for count in counts:
        t += int(rng.expovariate(1 / mean_gap_us)) + 1
        pending.append((t, count, rng.randrange(clients), rng.choices(hosts, host_weights)[0]))
    while pending:
        start, count, client_index, host = pending.pop()
        taken = count
        drop = False
        if drop_rate:
            for k in range(count):
                if rng.random() < drop_rate:
                    taken = k + 1
                    drop = True
                    break
        plans.append(_ConnPlan(start, taken, drop, client_index, host))
        if taken < count:  # the client reconnects and carries on with the rest
            pending.append((start + rng.randint(3_000_000, 12_000_000), count - taken, client_index, host))
    for key, plan in enumerate(plans):
        plan.key = key
    plans.sort(key=lambda p: (p.start_us, p.key))
    return plans


def generate_api_traffic(
    path: str | os.PathLike[str] | BinaryIO,
    *,
    exchanges: int,
    seed: int,
    connections: int | None = None,
    reorder_rate: float = 0.02,
    retransmit_rate: float = 0.02,
    pipeline_rate: float = 0.1,
    vlan_rate: float = 0.2,
    ipv6_rate: float = 0.3,
    chunked_rate: float = 0.2,
    gzip_rate: float = 0.2,
    drop_response_rate: float = 0.0,
    wrap_rate: float = 0.02,
    qinq_share: float = 0.25,
    expect_continue_rate: float = 0.0,
    request_chunked_rate: float = 0.0,
    header_case_rate: float = 0.0,
    midstream_rate: float = 0.0,
    tcp_timestamps_rate: float = 0.0,
    fragment_rate: float = 0.0,
    clients: int = 300,
    nanosecond: bool = False,
    hosts: Sequence[str] | None = None,
    stats: GenerationStats | None = None,
    streams: dict[tuple[str, str], tuple[bytearray, bytearray]] | None = None,
) -> list[TruthExchange]:
    """Write a pcap of REST API traffic to ``path``; return every exchange sent (the truth).

    Traffic: ``exchanges`` HTTP/1.1 exchanges over ``connections`` keep-alive TCP connections
    (default ``exchanges // 5``; lengths are skewed, every connection carries at least one),
    connections starting every ~25 ms and interleaved in time, to 8 API hosts. Each connection
    has a full handshake, MSS-sized segmentation, pure ACKs, and usually a FIN close (some are
    reset, some are left open at the end, some are closed by the server after
    ``Connection: close``).

    Rates (probabilities):

    * ``reorder_rate`` -- per data segment, delivered swapped with its neighbour.
    * ``retransmit_rate`` -- per data segment, a duplicate arrives later (about a third are
      repacketized so they overlap the next segment).
    * ``pipeline_rate`` -- per request, the client pipelines it with the next 1-3 requests
      (idempotent methods), all sent before any response, sometimes in one write.
    * ``vlan_rate`` -- per connection, 802.1Q tagged; ``qinq_share`` of those are QinQ.
    * ``ipv6_rate`` -- per connection, IPv6 instead of IPv4.
    * ``chunked_rate`` / ``gzip_rate`` -- per response with a body (gzip only when the request
      accepted it).
    * ``drop_response_rate`` -- per exchange, the server never answers: the truth has
      ``status=None, complete=False``, the client closes after a timeout and reconnects for
      the rest of its exchanges (so there can be more connections than asked for).
    * ``wrap_rate`` -- per connection, ISNs just below 2^32 so sequence numbers wrap.

    Off by default (zero rates draw nothing from the RNG, so they never change a capture):

    * ``expect_continue_rate`` -- per unpipelined request with a body: ``Expect: 100-continue``;
      the client sends the head, the server ``100 Continue``, then the body follows.
    * ``request_chunked_rate`` -- per request body: chunked instead of Content-Length.
    * ``header_case_rate`` -- per message: header names in upper case (``CONTENT-LENGTH``).
    * ``midstream_rate`` -- per connection: the handshake is missing from the capture.
    * ``tcp_timestamps_rate`` -- per connection: RFC 7323 timestamp option on every segment
      (32-byte TCP headers, as Linux sends them).
    * ``fragment_rate`` -- per data segment of 64+ bytes: sent as 2-3 IPv4 fragments or IPv6
      Fragment-header fragments, a third of the time last piece first.

    ``hosts`` restricts the API hosts used (default: all of them, weighted towards the shop);
    ``clients`` is the size of the client address pool; ``nanosecond`` writes a
    nanosecond-resolution pcap.

    Statuses cover 200/201/204/304/400/401/404/409/422/500; HEAD, 204 and 304 responses carry
    no body. ``stats`` (a :class:`GenerationStats`) is filled in if given; ``streams``, if
    given, receives ``{(client, server): (client_bytes, server_bytes)}`` -- exactly the TCP
    payload each side sent, for tests. Deterministic for a given seed.
    """
    if exchanges < 1:
        raise ValueError("exchanges must be >= 1")
    rng = _FastRandom(seed)
    stats = stats if stats is not None else GenerationStats()
    if connections is None:
        connections = max(1, exchanges // 5)
    if hosts is None:
        hosts, host_weights = _HOSTS, _HOST_WEIGHTS
    else:
        unknown = set(hosts) - set(_HOSTS)
        if unknown:
            raise ValueError(f"unknown hosts {sorted(unknown)}; known: {', '.join(_HOSTS)}")
        host_weights = tuple(1.0 for _ in hosts)
    plans = _plan_connections(rng, exchanges, connections, drop_response_rate, clients, hosts, host_weights)
    with PcapWriter(path, nanosecond=nanosecond) as writer:
        generator = _Generator(
            writer,
            rng,
            reorder_rate=reorder_rate,
            retransmit_rate=retransmit_rate,
            pipeline_rate=pipeline_rate,
            vlan_rate=vlan_rate,
            ipv6_rate=ipv6_rate,
            chunked_rate=chunked_rate,
            gzip_rate=gzip_rate,
            drop_response_rate=drop_response_rate,
            wrap_rate=wrap_rate,
            qinq_share=qinq_share,
            expect_continue_rate=expect_continue_rate,
            request_chunked_rate=request_chunked_rate,
            header_case_rate=header_case_rate,
            midstream_rate=midstream_rate,
            tcp_timestamps_rate=tcp_timestamps_rate,
            fragment_rate=fragment_rate,
            streams=streams,
            stats=stats,
        )
        # Merge connections into one time-ordered capture without holding it all in memory:
        # connections are generated in start order, so every queued packet older than the
        # next connection's start can be written.
        heap: list[tuple[int, int, bytes]] = []
        counter = 0
        write_us = writer.write_us
        first_ts = plans[0].start_us
        last_ts = first_ts
        for index, plan in enumerate(plans):
            for ts, frame in generator.connection(plan):
                heapq.heappush(heap, (ts, counter, frame))
                counter += 1
            horizon = plans[index + 1].start_us if index + 1 < len(plans) else None
            while heap and (horizon is None or heap[0][0] < horizon):
                ts, _, frame = heapq.heappop(heap)
                write_us(ts, frame)
                last_ts = ts
        stats.connections = len(plans)
        stats.packets = writer.packets
        stats.bytes = writer.frame_bytes
        stats.duration = (last_ts - first_ts) / 1e6
    return generator.truth


# --------------------------------------------------------------------------------------------
# truth files


def write_truth_json(path: str | os.PathLike[str], truth: Sequence[TruthExchange], **meta: Any) -> None:
    """Write ``{"meta": {...}, "exchanges": [TruthExchange as dict, ...]}`` (stable formatting)."""
    document = {"meta": meta, "exchanges": [asdict(t) for t in truth]}
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(document, fh, indent=1, ensure_ascii=False)
        fh.write("\n")


def read_truth_json(path: str | os.PathLike[str]) -> list[TruthExchange]:
    with open(path, encoding="utf-8") as fh:
        document = json.load(fh)
    return [TruthExchange(**item) for item in document["exchanges"]]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write a synthetic HTTP API capture and its ground truth.")
    parser.add_argument("pcap")
    parser.add_argument("--exchanges", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--connections", type=int)
    parser.add_argument("--truth", help="also write the ground truth here (.truth.json)")
    args = parser.parse_args(argv)
    stats = GenerationStats()
    started = time.perf_counter()
    truth = generate_api_traffic(
        args.pcap, exchanges=args.exchanges, seed=args.seed, connections=args.connections, stats=stats
    )
    elapsed = time.perf_counter() - started
    if args.truth:
        write_truth_json(args.truth, truth, seed=args.seed, exchanges=args.exchanges)
    print(
        f"{stats.packets} packets, {stats.connections} connections, {len(truth)} exchanges, "
        f"{stats.bytes / 1e6:.1f} MB in {elapsed:.2f} s ({stats.packets / elapsed:,.0f} packets/s)",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
