"""Tests of the synthetic traffic generator itself (devtools/synth.py).

The generator is the yardstick for the sensor's accuracy benchmark, so it is checked against an
independent decoder (dpkt) and independent checksum/reassembly code: if these pass, a sensor
disagreeing with the ground truth is the sensor's fault.
"""

from __future__ import annotations

import io
import socket
import struct
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import dpkt
import pytest

from devtools.synth import (
    GenerationStats,
    PcapWriter,
    TcpFlow,
    TruthExchange,
    format_endpoint,
    generate_api_traffic,
    read_truth_json,
    write_truth_json,
)

SEQ_MOD = 1 << 32

# A small capture with every impairment turned well up, shared by most tests.
HARSH = dict(
    reorder_rate=0.2,
    retransmit_rate=0.2,
    pipeline_rate=0.3,
    vlan_rate=0.5,
    ipv6_rate=0.5,
    chunked_rate=0.4,
    gzip_rate=0.4,
    drop_response_rate=0.05,
    wrap_rate=0.2,
    tcp_timestamps_rate=0.5,
)


@dataclass
class Segment:
    ts: float
    src: str
    dst: str
    seq: int
    ack: int
    flags: int
    payload: bytes
    vlan: tuple[int, ...]
    options: bytes


@dataclass
class Capture:
    path: Path
    truth: list[TruthExchange]
    stats: GenerationStats
    streams: dict[tuple[str, str], tuple[bytearray, bytearray]]
    segments: list[Segment]


def ones_complement_checksum(data: bytes) -> int:
    """Textbook RFC 1071 checksum, deliberately not the generator's big-integer shortcut."""
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def decode(path: Path, counts: Counter[str] | None = None) -> list[Segment]:
    """Decode every frame with dpkt, verifying IPv4 and TCP checksums on the way.

    IP fragments are reassembled here (dpkt does not); a reassembled segment takes the time of
    its last fragment. ``counts`` receives how many IPv4/IPv6 fragments were seen.
    """
    segments = []
    pending: dict[tuple[bytes, bytes, int], list[tuple[int, bytes, bool]]] = defaultdict(list)
    with open(path, "rb") as fh:
        for ts, buf in dpkt.pcap.Reader(fh):
            eth = dpkt.ethernet.Ethernet(buf)
            vlan = tuple(tag.id for tag in getattr(eth, "vlan_tags", []))
            ip = eth.data
            # The generator's frames carry no Ethernet padding, so the IP datagram is the tail.
            if isinstance(ip, dpkt.ip.IP):
                family = socket.AF_INET
                raw_ip = buf[len(buf) - ip.len :]
                assert ones_complement_checksum(raw_ip[: ip.hl * 4]) == 0, "bad IPv4 header checksum"
                (flags_offset,) = struct.unpack_from("!H", raw_ip, 6)
                offset, more = (flags_offset & 0x1FFF) * 8, bool(flags_offset & 0x2000)
                is_fragment = bool(offset or more)
                ident, body = ip.id, raw_ip[ip.hl * 4 :]
                assert is_fragment or flags_offset & 0x4000, "unfragmented IPv4 should say DF"
            else:
                assert isinstance(ip, dpkt.ip6.IP6)
                family = socket.AF_INET6
                raw_ip = buf[len(buf) - 40 - ip.plen :]
                is_fragment = raw_ip[6] == 44
                if is_fragment:
                    next_header, _, offset_more, ident = struct.unpack_from("!BBHI", raw_ip, 40)
                    assert next_header == 6
                    offset, more, body = offset_more & ~7, bool(offset_more & 1), raw_ip[48:]
                else:
                    assert raw_ip[6] == 6
                    ident, body = 0, raw_ip[40:]
            if is_fragment:
                if counts is not None:
                    counts["ipv4" if family == socket.AF_INET else "ipv6"] += 1
                key = (ip.src, ip.dst, ident)
                pending[key].append((offset, body, more))
                pieces = sorted(pending[key])
                covered = 0
                for piece_offset, data, _ in pieces:
                    if piece_offset != covered:
                        break
                    covered += len(data)
                if covered != sum(len(d) for _, d, _ in pieces) or pieces[-1][2]:
                    continue  # holes or the last piece not seen yet
                del pending[key]
                body = b"".join(d for _, d, _ in pieces)
            tcp = dpkt.tcp.TCP(body)
            if family == socket.AF_INET:
                pseudo = ip.src + ip.dst + struct.pack("!BBH", 0, 6, len(body))
            else:
                pseudo = ip.src + ip.dst + struct.pack("!IxxxB", len(body), 6)
            assert ones_complement_checksum(pseudo + body) == 0, "bad TCP checksum"
            src = format_endpoint(socket.inet_ntop(family, ip.src), tcp.sport)
            dst = format_endpoint(socket.inet_ntop(family, ip.dst), tcp.dport)
            segments.append(
                Segment(ts, src, dst, tcp.seq, tcp.ack, tcp.flags, bytes(tcp.data), vlan, bytes(tcp.opts))
            )
    assert not pending, "incomplete fragment sets"
    return segments


def build(
    tmp_path: Path, name: str = "harsh.pcap", *, exchanges: int = 300, seed: int = 7, **rates: float
) -> Capture:
    path = tmp_path / name
    stats = GenerationStats()
    streams: dict[tuple[str, str], tuple[bytearray, bytearray]] = {}
    params = {**HARSH, **rates}
    truth = generate_api_traffic(path, exchanges=exchanges, seed=seed, stats=stats, streams=streams, **params)
    return Capture(path, truth, stats, streams, decode(path))


@pytest.fixture(scope="module")
def harsh(tmp_path_factory: pytest.TempPathFactory) -> Capture:
    return build(tmp_path_factory.mktemp("synth"))


def reassemble(segments: list[Segment]) -> dict[tuple[str, str], tuple[int, bytes, bool]]:
    """Per direction: (ISN, reassembled bytes, FIN seen), placing payloads by sequence number.

    Checks on the way: a SYN opens each direction, overlapping bytes (retransmissions) agree,
    there are no holes, a FIN sits right after the last byte, and no ACK acknowledges bytes the
    peer has not sent yet.
    """
    isn: dict[tuple[str, str], int] = {}
    data: dict[tuple[str, str], bytearray] = defaultdict(bytearray)
    filled: dict[tuple[str, str], bytearray] = defaultdict(bytearray)
    fin_at: dict[tuple[str, str], int] = {}
    sent_end: dict[tuple[str, str], int] = defaultdict(int)  # highest relative seq sent so far
    for seg in segments:
        key = (seg.src, seg.dst)
        if seg.flags & dpkt.tcp.TH_SYN:
            assert key not in isn, f"second SYN on {key}"
            isn[key] = seg.seq
            if seg.flags & dpkt.tcp.TH_ACK:  # SYN-ACK acknowledges exactly the client's SYN
                assert seg.ack == (isn[(seg.dst, seg.src)] + 1) % SEQ_MOD
            continue
        assert key in isn, f"data before SYN on {key}"
        rel = (seg.seq - isn[key] - 1) % SEQ_MOD
        assert rel < 1 << 30, f"sequence number before the ISN on {key}"
        if seg.flags & dpkt.tcp.TH_ACK:
            peer = (seg.dst, seg.src)
            acked = (seg.ack - isn[peer] - 1) % SEQ_MOD
            assert acked <= sent_end[peer], f"{key} acknowledges bytes {peer} has not sent"
        if seg.payload:
            end = rel + len(seg.payload)
            buf, have = data[key], filled[key]
            if len(buf) < end:
                buf.extend(b"\0" * (end - len(buf)))
                have.extend(b"\0" * (end - len(have)))
            for i in range(rel, end):
                if have[i]:
                    assert buf[i] == seg.payload[i - rel], f"retransmission disagrees on {key} at {i}"
            buf[rel:end] = seg.payload
            have[rel:end] = b"\1" * len(seg.payload)
            sent_end[key] = max(sent_end[key], end)
        if seg.flags & dpkt.tcp.TH_FIN:
            fin_at[key] = rel + len(seg.payload)
            sent_end[key] = max(sent_end[key], fin_at[key] + 1)
    result = {}
    for key, start in isn.items():
        assert all(filled[key]), f"hole in the stream of {key}"
        if key in fin_at:
            assert fin_at[key] == len(data[key]), f"FIN not right after the last byte on {key}"
        result[key] = (start, bytes(data[key]), key in fin_at)
    return result


def split_messages(
    stream: bytes, *, requests: bool, methods: list[str] | None = None
) -> list[tuple[str, str, str]]:
    """Minimal HTTP/1.1 framing: requests -> (method, target, host); responses -> (status, "", "")."""
    out = []
    pos = 0
    index = 0
    while pos < len(stream):
        head_end = stream.index(b"\r\n\r\n", pos)
        lines = stream[pos:head_end].decode("latin-1").split("\r\n")
        headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
        pos = head_end + 4
        first = lines[0].split(" ")
        if requests:
            out.append((first[0], first[1], headers["host"]))
        else:
            status = int(first[1])
            if 100 <= status < 200:  # interim response: no body, not an exchange of its own
                continue
            out.append((str(status), "", ""))
            assert methods is not None
            if methods[index] == "HEAD" or status in (204, 304):
                index += 1
                continue
        index += 1
        if headers.get("transfer-encoding") == "chunked":
            while True:
                line_end = stream.index(b"\r\n", pos)
                size = int(stream[pos:line_end], 16)
                pos = line_end + 2 + size + 2
                if size == 0:
                    break
        else:
            pos += int(headers.get("content-length", "0"))
    assert pos == len(stream), "stream does not end on a message boundary"
    return out


def test_frames_decode_with_dpkt_and_checksums_hold(harsh: Capture) -> None:
    assert len(harsh.segments) == harsh.stats.packets
    timestamps = [s.ts for s in harsh.segments]
    assert timestamps == sorted(timestamps), "capture is not in time order"
    vlans = Counter(len(s.vlan) for s in harsh.segments)
    assert vlans[1] and vlans[2], f"expected 802.1Q and QinQ frames, got {vlans}"
    assert any(s.src.startswith("[") for s in harsh.segments), "expected IPv6"
    assert any(not s.src.startswith("[") for s in harsh.segments), "expected IPv4"
    assert {len(s.options) for s in harsh.segments} >= {0, 12, 20}, "expected TCP timestamp options"


def test_handshake_and_reassembly_give_exactly_the_http_bytes(harsh: Capture) -> None:
    directions = reassemble(harsh.segments)
    assert len(directions) == 2 * len(harsh.streams)
    for (client, server), (client_bytes, server_bytes) in harsh.streams.items():
        c_isn, c_data, _ = directions[(client, server)]
        s_isn, s_data, _ = directions[(server, client)]
        assert c_data == bytes(client_bytes)
        assert s_data == bytes(server_bytes)
    # Handshake order: the first three packets of a connection are SYN, SYN-ACK, ACK.
    first: dict[frozenset[str], list[Segment]] = defaultdict(list)
    for seg in harsh.segments:
        bucket = first[frozenset((seg.src, seg.dst))]
        if len(bucket) < 3:
            bucket.append(seg)
    for bucket in first.values():
        syn, syn_ack, ack = bucket
        assert syn.flags == dpkt.tcp.TH_SYN
        assert syn_ack.flags == dpkt.tcp.TH_SYN | dpkt.tcp.TH_ACK and syn_ack.ack == (syn.seq + 1) % SEQ_MOD
        assert ack.flags == dpkt.tcp.TH_ACK and ack.ack == (syn_ack.seq + 1) % SEQ_MOD and not ack.payload


def check_truth_against_streams(capture: Capture) -> None:
    """The truth lists exactly the requests on each connection and the final status of each answer."""
    by_conn: dict[tuple[str, str], list[TruthExchange]] = defaultdict(list)
    for t in capture.truth:
        by_conn[(t.client, t.server)].append(t)
    assert set(by_conn) == set(capture.streams)
    for key, (client_bytes, server_bytes) in capture.streams.items():
        truths = by_conn[key]
        requests = split_messages(bytes(client_bytes), requests=True)
        assert requests == [(t.method, t.target, t.host) for t in truths]
        answered = [t for t in truths if t.complete]
        responses = split_messages(bytes(server_bytes), requests=False, methods=[t.method for t in answered])
        assert [int(r[0]) for r in responses] == [t.status for t in answered]
        # Only the last exchange of a connection can go unanswered.
        assert all(t.complete for t in truths[:-1])


def test_truth_matches_the_http_on_the_wire(harsh: Capture) -> None:
    check_truth_against_streams(harsh)
    assert len(harsh.truth) == 300
    assert any(not t.complete for t in harsh.truth)
    assert {t.method for t in harsh.truth} >= {"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD"}
    assert {t.status for t in harsh.truth} >= {200, 201, 204, 404}


def test_impairments_are_present(harsh: Capture) -> None:
    stats = harsh.stats
    assert stats.retransmitted_segments > 0
    assert stats.reordered_pairs > 0
    assert stats.pipelined_batches > 0
    # Reordering shows on the wire: some direction has a data segment below the highest seen.
    highest: dict[tuple[str, str], int] = {}
    out_of_order = 0
    for seg in harsh.segments:
        if seg.payload and not seg.flags & dpkt.tcp.TH_SYN:
            key = (seg.src, seg.dst)
            if key in highest and (seg.seq - highest[key]) % SEQ_MOD > 1 << 31:
                out_of_order += 1
            else:
                highest[key] = seg.seq
    assert out_of_order > 0
    body_text = b"".join(bytes(s) for _, s in harsh.streams.values())
    assert b"Transfer-Encoding: chunked" in body_text and b"Content-Encoding: gzip" in body_text


def test_wraparound_isn_when_requested(tmp_path: Path) -> None:
    capture = build(tmp_path, "wrap.pcap", exchanges=40, seed=3, wrap_rate=1.0)
    assert capture.stats.wrapped_connections > 0
    directions = reassemble(capture.segments)  # also proves the wrapped streams reassemble
    wrapped = [
        key
        for key, (isn, data, _) in directions.items()
        if isn + 1 + len(data) > SEQ_MOD  # the stream runs past 2^32
    ]
    assert wrapped
    # At least one stream has segments on both sides of 2^32, not just one straddling it.
    straddling = 0
    for key in wrapped:
        seqs = [s.seq for s in capture.segments if (s.src, s.dst) == key and s.payload]
        straddling += max(seqs) > SEQ_MOD - 70_000 and min(seqs) < 70_000
    assert straddling


def test_optional_http_features(tmp_path: Path) -> None:
    capture = build(
        tmp_path,
        "opt.pcap",
        exchanges=150,
        seed=13,
        expect_continue_rate=0.6,
        request_chunked_rate=0.5,
        header_case_rate=0.3,
    )
    assert capture.stats.interim_responses > 0
    reassemble(capture.segments)
    check_truth_against_streams(capture)
    client_text = b"".join(bytes(c) for c, _ in capture.streams.values())
    server_text = b"".join(bytes(s) for _, s in capture.streams.values())
    assert b"Expect: 100-continue" in client_text and b"HTTP/1.1 100 Continue\r\n\r\n" in server_text
    assert b"Transfer-Encoding: chunked" in client_text
    assert b"\r\nCONTENT-TYPE: " in client_text and b"\r\nCONTENT-TYPE: " in server_text


def test_midstream_connections_lack_the_handshake(tmp_path: Path) -> None:
    capture = build(
        tmp_path,
        "mid.pcap",
        exchanges=100,
        seed=17,
        midstream_rate=0.5,
        reorder_rate=0.0,
        retransmit_rate=0.0,
    )
    stats = capture.stats
    assert 0 < stats.midstream_connections < stats.connections
    syns = sum(1 for s in capture.segments if s.flags == dpkt.tcp.TH_SYN)
    assert syns == stats.connections - stats.midstream_connections
    # Without retransmissions every stream byte is on the wire exactly once, handshake or not.
    payload = Counter()
    for seg in capture.segments:
        payload[(seg.src, seg.dst)] += len(seg.payload)
    for (client, server), (client_bytes, server_bytes) in capture.streams.items():
        assert payload[(client, server)] == len(client_bytes)
        assert payload[(server, client)] == len(server_bytes)


def test_ip_fragments_reassemble_to_the_streams(tmp_path: Path) -> None:
    path = tmp_path / "frag.pcap"
    stats = GenerationStats()
    streams: dict[tuple[str, str], tuple[bytearray, bytearray]] = {}
    params = {**HARSH, "fragment_rate": 0.3}
    generate_api_traffic(path, exchanges=80, seed=19, stats=stats, streams=streams, **params)
    counts: Counter[str] = Counter()
    directions = reassemble(decode(path, counts))
    assert stats.fragmented_datagrams > 0 and counts["ipv4"] > 0 and counts["ipv6"] > 0
    for (client, server), (client_bytes, server_bytes) in streams.items():
        assert directions[(client, server)][1] == bytes(client_bytes)
        assert directions[(server, client)][1] == bytes(server_bytes)


def test_deterministic_for_a_seed(tmp_path: Path) -> None:
    a = generate_api_traffic(tmp_path / "a.pcap", exchanges=120, seed=11, **HARSH)
    b = generate_api_traffic(tmp_path / "b.pcap", exchanges=120, seed=11, **HARSH)
    c = generate_api_traffic(tmp_path / "c.pcap", exchanges=120, seed=12, **HARSH)
    assert a == b
    assert (tmp_path / "a.pcap").read_bytes() == (tmp_path / "b.pcap").read_bytes()
    assert a != c
    assert (tmp_path / "a.pcap").read_bytes() != (tmp_path / "c.pcap").read_bytes()


def test_connections_and_drop_response(tmp_path: Path) -> None:
    truth = generate_api_traffic(
        tmp_path / "k.pcap", exchanges=60, seed=5, connections=4, drop_response_rate=0.0
    )
    conns = Counter((t.client, t.server) for t in truth)
    assert len(conns) == 4 and sum(conns.values()) == 60 and all(t.complete for t in truth)


def test_pcap_writer_microsecond_and_nanosecond(tmp_path: Path) -> None:
    flow = TcpFlow(("10.0.0.1", 40000), ("192.0.2.1", 80), client_isn=SEQ_MOD - 1, server_isn=5, vlan=(7,))
    frames = [flow.syn(), flow.syn_ack(), flow.ack(True)]
    for nanosecond in (False, True):
        buf = io.BytesIO()
        writer = PcapWriter(buf, nanosecond=nanosecond)
        writer.write(1_700_000_000.123456, frames[0])
        writer.write(1_700_000_000.9999996, frames[1])  # rounds up into the next second
        writer.write_us(1_700_000_001_000_250, frames[2])
        writer.close()
        buf.seek(0)
        reader = dpkt.pcap.Reader(buf)
        records = list(reader)
        assert [bytes(f) for _, f in records] == frames
        got = [float(ts) for ts, _ in records]  # dpkt gives Decimal for nanosecond files
        expected = [
            1_700_000_000.123456,
            1_700_000_000.9999996 if nanosecond else 1_700_000_001.0,
            1_700_000_001.00025,
        ]
        assert got == pytest.approx(expected, abs=1e-6)
    # The ISN of 2^32 - 1 makes the client's first data byte sequence number 0.
    tcp = dpkt.ethernet.Ethernet(frames[2]).data.data
    assert tcp.seq == 0 and tcp.ack == 6


def test_truth_json_round_trip(tmp_path: Path, harsh: Capture) -> None:
    path = tmp_path / "t.truth.json"
    write_truth_json(path, harsh.truth, seed=7)
    assert read_truth_json(path) == harsh.truth
