"""Encapsulation decoding, checked against frames built independently with scapy."""

from __future__ import annotations

import socket

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.contrib.erspan import ERSPAN_II, ERSPAN_III
from scapy.contrib.mpls import MPLS
from scapy.layers.inet import GRE, IP, TCP, UDP, fragment
from scapy.layers.inet6 import IPv6, IPv6ExtHdrDestOpt, IPv6ExtHdrFragment, IPv6ExtHdrHopByHop
from scapy.layers.l2 import CookedLinux, Dot1AD, Dot1Q, Ether, Loopback
from scapy.layers.ppp import PPP, PPPoE
from scapy.layers.vxlan import VXLAN

from sensor import pcapio
from sensor.decode import Decoder

PAYLOAD = b"GET /x HTTP/1.1\r\nHost: h\r\n\r\n"


def inner4() -> IP:
    return IP(src="10.1.2.3", dst="10.9.8.7") / TCP(sport=40000, dport=80, seq=1000, ack=5, flags="PA") / PAYLOAD


def check(seg, src: str = "10.1.2.3", dst: str = "10.9.8.7", family: int = socket.AF_INET) -> None:
    assert seg is not None
    assert socket.inet_ntop(family, seg[0]) == src and socket.inet_ntop(family, seg[1]) == dst
    assert seg[2:5] == (40000, 80, 1000) and seg[7] == PAYLOAD


CASES = {
    "ethernet": (pcapio.LINKTYPE_ETHERNET, lambda: Ether() / inner4()),
    "vlan": (pcapio.LINKTYPE_ETHERNET, lambda: Ether() / Dot1Q(vlan=42) / inner4()),
    "qinq": (pcapio.LINKTYPE_ETHERNET, lambda: Ether() / Dot1AD(vlan=100) / Dot1Q(vlan=42) / inner4()),
    "mpls": (pcapio.LINKTYPE_ETHERNET, lambda: Ether(type=0x8847) / MPLS(label=16, s=0) / MPLS(label=17, s=1) / inner4()),
    "pppoe": (pcapio.LINKTYPE_ETHERNET, lambda: Ether() / PPPoE(sessionid=7) / PPP(proto=0x0021) / inner4()),
    "sll": (pcapio.LINKTYPE_LINUX_SLL, lambda: CookedLinux(proto=0x0800) / inner4()),
    "raw": (pcapio.LINKTYPE_RAW, inner4),
    "loopback": (pcapio.LINKTYPE_NULL, lambda: Loopback(type=2) / inner4()),
    "gre": (pcapio.LINKTYPE_ETHERNET, lambda: Ether() / IP(src="1.1.1.1", dst="2.2.2.2") / GRE() / inner4()),
    "erspan2": (pcapio.LINKTYPE_ETHERNET,
                lambda: Ether() / IP(src="1.1.1.1", dst="2.2.2.2") / GRE(seqnum_present=1, sequence_number=1)
                / ERSPAN_II(session_id=3) / Ether() / inner4()),
    "erspan3": (pcapio.LINKTYPE_ETHERNET,
                lambda: Ether() / IP(src="1.1.1.1", dst="2.2.2.2") / GRE(seqnum_present=1, sequence_number=1)
                / ERSPAN_III(session_id=3) / Ether() / inner4()),
    "vxlan": (pcapio.LINKTYPE_ETHERNET,
              lambda: Ether() / IP(src="1.1.1.1", dst="2.2.2.2") / UDP(sport=50000, dport=4789) / VXLAN(vni=9)
              / Ether() / inner4()),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_encapsulations_reach_the_tcp_segment(name: str) -> None:
    linktype, build = CASES[name]
    frame = bytes(build())
    seg = Decoder().decode(linktype, frame)
    check(seg)
    if name == "vlan":
        assert seg[8] == (42,)
    if name == "qinq":
        assert seg[8] == (100, 42)


def test_linux_sll2() -> None:
    inner = bytes(inner4())
    header = (0x0800).to_bytes(2, "big") + b"\0\0" + (1).to_bytes(4, "big") + (1).to_bytes(2, "big") + b"\0\x06" + b"\0" * 8
    check(Decoder().decode(pcapio.LINKTYPE_LINUX_SLL2, header + inner))


def test_ipv6_with_extension_headers() -> None:
    pkt = Ether() / IPv6(src="2001:db8::1", dst="2001:db8::2") / IPv6ExtHdrHopByHop() / IPv6ExtHdrDestOpt() / TCP(
        sport=40000, dport=80, seq=1000, flags="PA") / PAYLOAD
    check(Decoder().decode(pcapio.LINKTYPE_ETHERNET, bytes(pkt)), "2001:db8::1", "2001:db8::2", socket.AF_INET6)


def test_ipv4_fragments_reassemble_in_any_order() -> None:
    big = IP(src="10.1.2.3", dst="10.9.8.7", id=77) / TCP(sport=40000, dport=80, seq=1000, flags="PA") / (PAYLOAD * 40)
    frags = fragment(big, fragsize=256)
    assert len(frags) > 3
    decoder = Decoder()
    results = [decoder.decode(pcapio.LINKTYPE_RAW, bytes(f)) for f in reversed(frags)]
    assert results[:-1] == [None] * (len(frags) - 1)
    assert results[-1][7] == PAYLOAD * 40


def test_ipv6_fragments_reassemble() -> None:
    tcp = bytes(TCP(sport=40000, dport=80, seq=1000, flags="PA") / (PAYLOAD * 10))
    half = 136
    base = IPv6(src="2001:db8::1", dst="2001:db8::2")
    f1 = base / IPv6ExtHdrFragment(nh=6, offset=0, m=1, id=5) / tcp[:half]
    f2 = base / IPv6ExtHdrFragment(nh=6, offset=half // 8, m=0, id=5) / tcp[half:]
    decoder = Decoder()
    assert decoder.decode(pcapio.LINKTYPE_RAW, bytes(f2)) is None
    seg = decoder.decode(pcapio.LINKTYPE_RAW, bytes(f1))
    assert seg is not None and seg[7] == PAYLOAD * 10


def test_fragment_table_is_bounded() -> None:
    decoder = Decoder(max_fragment_sets=10)
    for i in range(100):
        first = fragment(IP(src="10.0.0.1", dst="10.0.0.2", id=i) / TCP() / (b"x" * 600), fragsize=256)[0]
        decoder.decode(pcapio.LINKTYPE_RAW, bytes(first), ts=float(i))
    assert len(decoder._frags) <= 10
    assert decoder.counters["fragments_expired"] >= 90


@settings(max_examples=400, deadline=None)
@given(frame=st.binary(max_size=200), linktype=st.sampled_from(
    [pcapio.LINKTYPE_ETHERNET, pcapio.LINKTYPE_RAW, pcapio.LINKTYPE_LINUX_SLL, pcapio.LINKTYPE_LINUX_SLL2,
     pcapio.LINKTYPE_NULL, pcapio.LINKTYPE_IEEE802_11, pcapio.LINKTYPE_IEEE802_11_RADIOTAP, 9999]))
def test_any_bytes_decode_without_exceptions(frame: bytes, linktype: int) -> None:
    Decoder().decode(linktype, frame)


@settings(max_examples=300, deadline=None)
@given(cut=st.integers(min_value=0, max_value=200), flip=st.integers(min_value=0, max_value=199))
def test_truncated_or_corrupted_real_frames_are_safe(cut: int, flip: int) -> None:
    frame = bytearray(bytes(CASES["erspan3"][1]()))
    if flip < len(frame):
        frame[flip] ^= 0xFF
    Decoder().decode(pcapio.LINKTYPE_ETHERNET, bytes(frame[:cut]))
