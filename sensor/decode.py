"""Link-layer to TCP segment decoding, through the encapsulations seen on SPAN/TAP and cloud mirrors.

Ethernet, 802.1Q / QinQ, MPLS, PPPoE, PPP, Cisco HDLC, Linux SLL / SLL2, NFLOG, raw IP,
null/loopback, 802.11 (plain and radiotap), GRE (with ERSPAN I/II/III and transparent Ethernet),
VXLAN, GENEVE, Teredo, IP-in-IP, IPv6 extension headers, and IPv4 / IPv6 fragments (reassembled,
bounded in sets, bytes and age). A link type not listed is counted per type
(``unsupported_linktype_<n>``) so the operator is told, not left with an empty output.

Hand-written with ``struct.unpack_from`` over the frame instead of dpkt objects: the sensor only
needs a handful of fields per packet and building dpkt's object tree costs most of the time. A
malformed packet yields ``None`` and a reason counter, never an exception.
"""

from __future__ import annotations

import struct
from collections import Counter, OrderedDict
from typing import Any

from sensor import pcapio

# (src ip bytes, dst ip bytes, src port, dst port, seq, ack, flags, payload, vlan ids)
Segment = tuple[bytes, bytes, int, int, int, int, int, bytes, tuple[int, ...]]

TH_FIN = 0x01
TH_SYN = 0x02
TH_RST = 0x04
TH_ACK = 0x10

_u16 = struct.Struct("!H").unpack_from
_u32 = struct.Struct("!I").unpack_from
_tcp_head = struct.Struct("!HHIIBB").unpack_from  # ports, seq, ack, data offset, flags
_ipv4_head = struct.Struct("!BBHHHBB").unpack_from  # ver/ihl, tos, total len, id, frag, ttl, proto

VXLAN_PORTS = frozenset((4789, 8472))
GENEVE_PORT = 6081
TEREDO_PORT = 3544
MAX_DEPTH = 8  # nested encapsulations beyond this are treated as malformed


class Decoder:
    """Stateful only for fragment reassembly; everything else is a pure function of the frame."""

    __slots__ = ("counters", "_frags", "_max_frag_sets", "_frag_timeout", "now", "_max_frag_bytes", "_frag_bytes")

    def __init__(self, max_fragment_sets: int = 4096, fragment_timeout: float = 30.0,
                 max_fragment_bytes: int = 32 * 1024 * 1024) -> None:
        self.counters: Counter[str] = Counter()
        # key -> [first seen ts, {offset: bytes}, total length or -1, bytes held]
        self._frags: OrderedDict[tuple[object, ...], list[Any]] = OrderedDict()
        self._max_frag_sets = max_fragment_sets
        self._max_frag_bytes = max_fragment_bytes
        self._frag_bytes = 0
        self._frag_timeout = fragment_timeout
        self.now = 0.0

    # -- entry point -------------------------------------------------------------------------
    def decode(self, linktype: int, frame: bytes, ts: float = 0.0) -> Segment | None:
        self.now = ts
        try:
            if linktype == pcapio.LINKTYPE_ETHERNET:
                # Fast paths, inlined: Ethernet (optionally one 802.1Q tag), then IPv4 without
                # options or fragmentation, or IPv6 with TCP as first header. Anything else
                # takes the general path below.
                etype = frame[12:14]
                off = 14
                vlan: tuple[int, ...] = ()
                if etype == b"\x81\x00":
                    vlan = (((frame[14] << 8) | frame[15]) & 0x0FFF,)
                    etype = frame[16:18]
                    off = 18
                if etype == b"\x08\x00":
                    if frame[off] == 0x45 and frame[off + 9] == 6 and not (frame[off + 6] & 0x3F or frame[off + 7]):
                        (total,) = _u16(frame, off + 2)
                        end = off + total
                        if end > len(frame) or total < 40:
                            end = len(frame)
                        sport, dport, seq, ack, doff, flags = _tcp_head(frame, off + 20)
                        hlen = (doff >> 4) * 4
                        if hlen >= 20 and off + 20 + hlen <= end:
                            return (frame[off + 12 : off + 16], frame[off + 16 : off + 20], sport, dport, seq, ack,
                                    flags, frame[off + 20 + hlen : end], vlan)
                    if off == 14:
                        return self._ipv4(frame, 14, ())
                elif etype == b"\x86\xdd" and frame[off + 6] == 6:
                    (plen,) = _u16(frame, off + 4)
                    end = off + 40 + plen
                    if end > len(frame) or not plen:
                        end = len(frame)
                    sport, dport, seq, ack, doff, flags = _tcp_head(frame, off + 40)
                    hlen = (doff >> 4) * 4
                    if hlen >= 20 and off + 40 + hlen <= end:
                        return (frame[off + 8 : off + 24], frame[off + 24 : off + 40], sport, dport, seq, ack, flags,
                                frame[off + 40 + hlen : end], vlan)
                return self._ether(frame, 0, (), 0)
            if linktype in (pcapio.LINKTYPE_RAW, pcapio.LINKTYPE_IPV4, pcapio.LINKTYPE_IPV6,
                            pcapio.DLT_RAW_ALT, pcapio.DLT_RAW_ALT2):
                return self._ip_by_nibble(frame, 0, (), 0)
            if linktype == pcapio.LINKTYPE_LINUX_SLL:
                return self._ethertype(_u16(frame, 14)[0], frame, 16, (), 0)
            if linktype == pcapio.LINKTYPE_LINUX_SLL2:
                return self._ethertype(_u16(frame, 0)[0], frame, 20, (), 0)
            if linktype in (pcapio.LINKTYPE_NULL, pcapio.LINKTYPE_LOOP):
                return self._null(frame, linktype)
            if linktype == pcapio.LINKTYPE_IEEE802_11:
                return self._wlan(frame, 0)
            if linktype == pcapio.LINKTYPE_IEEE802_11_RADIOTAP:
                (rt_len,) = struct.unpack_from("<H", frame, 2)
                return self._wlan(frame, rt_len)
            if linktype == pcapio.LINKTYPE_C_HDLC:
                # Address (0x0F unicast, 0x8F broadcast), control, then an Ethertype.
                return self._ethertype(_u16(frame, 2)[0], frame, 4, (), 0)
            if linktype == pcapio.LINKTYPE_NFLOG:
                return self._nflog(frame)
            if linktype in (pcapio.LINKTYPE_PPP, pcapio.LINKTYPE_PPP_HDLC):
                return self._ppp(frame)
        except (struct.error, IndexError, ValueError):
            self.counters["malformed"] += 1
            return None
        self.counters["unsupported_linktype"] += 1
        self.counters[f"unsupported_linktype_{linktype}"] += 1
        return None

    # -- link layers -------------------------------------------------------------------------
    def _ether(self, frame: bytes, off: int, vlan: tuple[int, ...], depth: int) -> Segment | None:
        (etype,) = _u16(frame, off + 12)
        return self._ethertype(etype, frame, off + 14, vlan, depth)

    def _ethertype(self, etype: int, frame: bytes, off: int, vlan: tuple[int, ...], depth: int) -> Segment | None:
        while etype in (0x8100, 0x88A8, 0x9100, 0x9200):  # 802.1Q, 802.1ad (QinQ), legacy QinQ
            (tci,) = _u16(frame, off)
            vlan = (*vlan, tci & 0x0FFF)
            (etype,) = _u16(frame, off + 2)
            off += 4
        if etype == 0x0800:
            return self._ipv4(frame, off, vlan)
        if etype == 0x86DD:
            return self._ipv6(frame, off, vlan, depth)
        if etype in (0x8847, 0x8848):  # MPLS unicast / multicast
            return self._mpls(frame, off, vlan, depth)
        if etype == 0x8864:  # PPPoE session: 6-byte header, then a PPP protocol number
            ppp_off = off + 6
            if frame[ppp_off] & 1:  # protocol-field compression: a one-byte protocol
                ppp, body = frame[ppp_off], ppp_off + 1
            else:
                (ppp,) = _u16(frame, ppp_off)
                body = ppp_off + 2
            if ppp == 0x0021:
                return self._ipv4(frame, body, vlan)
            if ppp == 0x0057:
                return self._ipv6(frame, body, vlan, depth)
            self.counters["not_ip"] += 1
            return None
        self.counters["not_ip"] += 1
        return None

    def _mpls(self, frame: bytes, off: int, vlan: tuple[int, ...], depth: int) -> Segment | None:
        for _ in range(16):
            (entry,) = _u32(frame, off)
            off += 4
            if entry & 0x100:  # bottom of stack
                break
        nibble = frame[off] >> 4
        if nibble in (4, 6):
            return self._ip_by_nibble(frame, off, vlan, depth)
        # Ethernet pseudowire, with the 4-byte control word when the first nibble is zero.
        return self._ether(frame, off + 4 if nibble == 0 else off, vlan, depth + 1)

    def _null(self, frame: bytes, linktype: int) -> Segment | None:
        # DLT_NULL stores the address family in host byte order; DLT_LOOP in network order.
        family = struct.unpack_from("<I" if linktype == pcapio.LINKTYPE_NULL else "!I", frame, 0)[0]
        if family > 0xFFFF:  # written on a host of the other byte order
            family = struct.unpack_from(">I" if linktype == pcapio.LINKTYPE_NULL else "<I", frame, 0)[0]
        if family == 2:
            return self._ipv4(frame, 4, ())
        if family in (10, 23, 24, 28, 30):
            return self._ipv6(frame, 4, (), 0)
        self.counters["not_ip"] += 1
        return None

    def _wlan(self, frame: bytes, off: int) -> Segment | None:
        fc = frame[off]
        ftype = (fc >> 2) & 0x3
        if ftype != 2:  # management / control frames carry no IP
            self.counters["not_ip"] += 1
            return None
        flags = frame[off + 1]
        hdr = 24
        if flags & 0x03 == 0x03:  # to-DS and from-DS: a fourth address
            hdr += 6
        if (fc >> 4) & 0x8:  # QoS data subtype
            hdr += 2
        if flags & 0x40:  # protected: encrypted payload
            self.counters["encrypted_80211"] += 1
            return None
        llc = off + hdr
        if frame[llc : llc + 3] != b"\xaa\xaa\x03":
            self.counters["not_ip"] += 1
            return None
        return self._ethertype(_u16(frame, llc + 6)[0], frame, llc + 8, (), 0)

    def _nflog(self, frame: bytes) -> Segment | None:
        """NFLOG: family, version, resource id, then TLVs (length and type in the capturing
        host's byte order, lengths counting the 4-byte TLV header, padded to 4); type 9 is the
        packet from its network header on."""
        family = frame[0]
        off = 4
        end = len(frame)
        order = "<"
        if end >= 8:
            (first,) = struct.unpack_from("<H", frame, 4)
            if first < 4 or first > end - 4:
                order = ">"  # written on a big-endian host
        while off + 4 <= end:
            length, tlv_type = struct.unpack_from(order + "HH", frame, off)
            if length < 4 or off + length > end:
                break
            if tlv_type == 9:  # NFULA_PAYLOAD
                if family == 2:
                    return self._ipv4(frame[off + 4 : off + length], 0, ())
                if family == 10:
                    return self._ipv6(frame[off + 4 : off + length], 0, (), 0)
                return self._ip_by_nibble(frame[off + 4 : off + length], 0, (), 0)
            off += (length + 3) & ~3
        self.counters["not_ip"] += 1
        return None

    def _ppp(self, frame: bytes) -> Segment | None:
        off = 2 if frame[:2] == b"\xff\x03" else 0  # address and control, when not compressed away
        if frame[off] & 1:  # protocol-field compression: a one-byte protocol
            ppp, body = frame[off], off + 1
        else:
            (ppp,) = _u16(frame, off)
            body = off + 2
        if ppp == 0x0021:
            return self._ipv4(frame, body, ())
        if ppp == 0x0057:
            return self._ipv6(frame, body, (), 0)
        self.counters["not_ip"] += 1
        return None

    # -- network layer -----------------------------------------------------------------------
    def _ip_by_nibble(self, frame: bytes, off: int, vlan: tuple[int, ...], depth: int) -> Segment | None:
        nibble = frame[off] >> 4
        if nibble == 4:
            return self._ipv4(frame, off, vlan, depth)
        if nibble == 6:
            return self._ipv6(frame, off, vlan, depth)
        self.counters["not_ip"] += 1
        return None

    def _ipv4(self, frame: bytes, off: int, vlan: tuple[int, ...], depth: int = 0) -> Segment | None:
        verihl, _tos, total, ident, frag, _ttl, proto = _ipv4_head(frame, off)
        ihl = (verihl & 0x0F) * 4
        if verihl >> 4 != 4 or ihl < 20 or total < ihl:
            self.counters["malformed"] += 1
            return None
        src = frame[off + 12 : off + 16]
        dst = frame[off + 16 : off + 20]
        end = off + total
        if end > len(frame):  # snapped capture or a lying length: take what is there
            end = len(frame)
        if frag & 0x3FFF:  # more-fragments set or a non-zero offset
            payload = self._reassemble(
                (4, src, dst, ident, proto), (frag & 0x1FFF) * 8, bool(frag & 0x2000), frame[off + ihl : end]
            )
            if payload is None:
                return None
            return self._transport(proto, src, dst, payload, 0, vlan, depth)
        if proto == 6:
            return self._tcp(src, dst, frame, off + ihl, end, vlan)
        return self._transport(proto, src, dst, frame, off + ihl, vlan, depth, end)

    def _ipv6(self, frame: bytes, off: int, vlan: tuple[int, ...], depth: int) -> Segment | None:
        if frame[off] >> 4 != 6:
            self.counters["malformed"] += 1
            return None
        (plen,) = _u16(frame, off + 4)
        nxt = frame[off + 6]
        src = frame[off + 8 : off + 24]
        dst = frame[off + 24 : off + 40]
        pos = off + 40
        end = pos + plen if plen else len(frame)  # plen 0: jumbogram; use the frame
        if end > len(frame):
            end = len(frame)
        for _ in range(16):
            if nxt in (0, 43, 60, 135, 139, 140):  # hop-by-hop, routing, dest opts, mobility, HIP, shim6
                nxt = frame[pos]
                pos += (frame[pos + 1] + 1) * 8
            elif nxt == 51:  # AH: length in 4-octet units, minus 2
                nxt = frame[pos]
                pos += (frame[pos + 1] + 2) * 4
            elif nxt == 44:  # fragment
                frag_nxt = frame[pos]
                (offm,) = _u16(frame, pos + 2)
                (ident,) = _u32(frame, pos + 4)
                pos += 8
                if offm & 0xFFF9 == 0:  # atomic fragment (offset 0, M clear): no reassembly needed
                    nxt = frag_nxt
                    continue
                payload = self._reassemble((6, src, dst, ident, frag_nxt), offm & 0xFFF8, bool(offm & 1),
                                           frame[pos:end])
                if payload is None:
                    return None
                return self._transport(frag_nxt, src, dst, payload, 0, vlan, depth)
            else:
                break
        if pos > end:
            self.counters["malformed"] += 1
            return None
        if nxt == 6:
            return self._tcp(src, dst, frame, pos, end, vlan)
        return self._transport(nxt, src, dst, frame, pos, vlan, depth, end)

    def _transport(self, proto: int, src: bytes, dst: bytes, frame: bytes, off: int,
                   vlan: tuple[int, ...], depth: int, end: int | None = None) -> Segment | None:
        if end is None:
            end = len(frame)
        if proto == 6:
            return self._tcp(src, dst, frame, off, end, vlan)
        if depth >= MAX_DEPTH:
            self.counters["too_deep"] += 1
            return None
        if proto == 17:
            sport, dport = struct.unpack_from("!HH", frame, off)
            body = off + 8
            if dport in VXLAN_PORTS or sport in VXLAN_PORTS:
                if frame[body] & 0x08:  # VNI-valid flag
                    return self._ether(frame, body + 8, vlan, depth + 1)
            elif dport == GENEVE_PORT:
                optlen = (frame[body] & 0x3F) * 4
                (ptype,) = _u16(frame, body + 2)
                if ptype == 0x6558:  # transparent Ethernet
                    return self._ether(frame, body + 8 + optlen, vlan, depth + 1)
                return self._ethertype(ptype, frame, body + 8 + optlen, vlan, depth + 1)
            elif dport == TEREDO_PORT or sport == TEREDO_PORT:
                return self._teredo(frame, body, vlan, depth)
            self.counters["udp"] += 1
            return None
        if proto == 47:
            return self._gre(frame, off, vlan, depth)
        if proto == 4:  # IP-in-IP
            return self._ipv4(frame, off, vlan, depth + 1)
        if proto == 41:  # IPv6-in-IPv4 (6in4)
            return self._ipv6(frame, off, vlan, depth + 1)
        self.counters["not_tcp"] += 1
        return None

    def _teredo(self, frame: bytes, off: int, vlan: tuple[int, ...], depth: int) -> Segment | None:
        # Optional authentication (0x0001) and origin indication (0x0000) headers precede IPv6.
        if frame[off : off + 2] == b"\x00\x01":
            id_len, auth_len = frame[off + 2], frame[off + 3]
            off += 4 + id_len + auth_len + 9
        if frame[off : off + 2] == b"\x00\x00":
            off += 8
        if frame[off] >> 4 != 6:
            self.counters["udp"] += 1
            return None
        return self._ipv6(frame, off, vlan, depth + 1)

    def _gre(self, frame: bytes, off: int, vlan: tuple[int, ...], depth: int) -> Segment | None:
        flags, ptype = struct.unpack_from("!HH", frame, off)
        pos = off + 4
        if flags & 0x8000:  # checksum present (+ reserved)
            pos += 4
        if flags & 0x2000:  # key present
            pos += 4
        has_seq = bool(flags & 0x1000)
        if has_seq:
            pos += 4
        if ptype == 0x0800:
            return self._ipv4(frame, pos, vlan, depth + 1)
        if ptype == 0x86DD:
            return self._ipv6(frame, pos, vlan, depth + 1)
        if ptype == 0x6558:  # transparent Ethernet bridging
            return self._ether(frame, pos, vlan, depth + 1)
        if ptype == 0x88BE:  # ERSPAN type II (8-byte header); type I has no sequence and no header
            return self._ether(frame, pos + 8 if has_seq else pos, vlan, depth + 1)
        if ptype == 0x22EB:  # ERSPAN type III: 12-byte header, +8 with the platform sub-header
            o_bit = frame[pos + 11] & 0x01
            return self._ether(frame, pos + 12 + (8 if o_bit else 0), vlan, depth + 1)
        if ptype == 0x8847:
            return self._mpls(frame, pos, vlan, depth + 1)
        self.counters["gre_other"] += 1
        return None

    def _tcp(self, src: bytes, dst: bytes, frame: bytes, off: int, end: int,
             vlan: tuple[int, ...]) -> Segment | None:
        sport, dport, seq, ack, doff, flags = _tcp_head(frame, off)
        hlen = (doff >> 4) * 4
        if hlen < 20 or off + hlen > end:
            self.counters["malformed"] += 1
            return None
        return src, dst, sport, dport, seq, ack, flags, frame[off + hlen : end], vlan

    # -- fragments ---------------------------------------------------------------------------
    def _reassemble(self, key: tuple[object, ...], offset: int, more: bool, data: bytes) -> bytes | None:
        """Collect fragments; return the whole payload once it is complete, else None."""
        self.counters["fragments"] += 1
        entry = self._frags.get(key)
        if entry is None:
            self._expire_fragments()
            entry = [self.now, {}, -1, 0]
            self._frags[key] = entry
        pieces: dict[int, bytes] = entry[1]
        if offset not in pieces:  # first copy wins for overlapping duplicates
            pieces[offset] = data
            entry[3] += len(data)
            self._frag_bytes += len(data)
            if self._frag_bytes > self._max_frag_bytes:
                self._expire_fragments()
                if key not in self._frags:
                    return None  # this set was the oldest: dropped with the others
        if not more:
            entry[2] = offset + len(data)
        total = entry[2]
        if total < 0:
            return None
        # Complete when the pieces cover [0, total) with no hole.
        covered = 0
        for start in sorted(pieces):
            if start > covered:
                return None
            covered = max(covered, start + len(pieces[start]))
        if covered < total:
            return None
        del self._frags[key]
        self._frag_bytes -= entry[3]
        out = bytearray(total)
        for start in sorted(pieces, reverse=True):  # lower offsets written last: first copy wins
            chunk = pieces[start][: max(0, total - start)]
            out[start : start + len(chunk)] = chunk
        self.counters["reassembled"] += 1
        return bytes(out)

    def _expire_fragments(self) -> None:
        frags = self._frags
        while frags:
            key, entry = next(iter(frags.items()))
            if (len(frags) < self._max_frag_sets and self._frag_bytes <= self._max_frag_bytes
                    and self.now - entry[0] < self._frag_timeout):
                break
            del frags[key]
            self._frag_bytes -= entry[3]
            self.counters["fragments_expired"] += 1
