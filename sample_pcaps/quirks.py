"""Write the small crafted captures ``quirks/quirks-*.pcap``: one HTTP oddity of real captures each.

They live in their own folder so that ``sample_pcaps/*.pcap`` stays the realistic API traffic the
analyzer and inventory tests (and the README's quick start) feed on.

Deterministic (fixed addresses, sequence numbers and timestamps; no checksums), so the files are
kept in the repository, golden-tested (tests/sensor/test_golden.py) and checked one by one
(tests/sensor/test_quirks.py, which also checks that this script still writes them byte for byte).
Frames are packed with ``struct`` only, independently of the sensor's decoder.

    .venv/bin/python sample_pcaps/quirks.py
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent / "quirks"

LINKTYPE_ETHERNET = 1
LINKTYPE_C_HDLC = 104
LINKTYPE_NFLOG = 239
FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10


def ipv4_tcp(src: str, dst: str, sport: int, dport: int, seq: int, ack: int, flags: int, payload: bytes) -> bytes:
    """An IPv4 packet holding one TCP segment (checksums left zero: sensors do not check them)."""
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, 5 << 4, flags, 65535, 0, 0)
    total = 20 + len(tcp) + len(payload)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, 0, 0x4000, 64, 6, 0, _ip(src), _ip(dst))
    return ip + tcp + payload


def _ip(text: str) -> bytes:
    return bytes(int(part) for part in text.split("."))


def ethernet(packet: bytes) -> bytes:
    return b"\x02\x00\x00\x00\x00\x02" + b"\x02\x00\x00\x00\x00\x01" + b"\x08\x00" + packet


def cisco_hdlc(packet: bytes) -> bytes:
    return b"\x0f\x00\x08\x00" + packet  # unicast address, control 0, Ethertype IPv4


def nflog(packet: bytes) -> bytes:
    """NFLOG: AF_INET, version 0, resource id 5; a prefix TLV, then the payload TLV (type 9).
    TLV lengths and types little-endian, as a little-endian host writes them."""
    prefix = b"http-mirror\x00"

    def tlv(kind: int, value: bytes) -> bytes:
        raw = struct.pack("<HH", 4 + len(value), kind) + value
        return raw + b"\x00" * (-len(raw) % 4)

    return struct.pack("!BBH", 2, 0, 5) + tlv(10, prefix) + tlv(9, packet)


class Flow:
    """One TCP connection written packet by packet, sequence numbers kept."""

    def __init__(self, capture: Capture, cport: int, *, client: str = "10.0.0.1", server: str = "10.0.0.2",
                 sport: int = 80) -> None:
        self.capture, self.cport, self.sport = capture, cport, sport
        self.client, self.server = client, server
        self.cseq, self.sseq = 1000, 50000  # next sequence number of each side

    def send(self, from_client: bool, flags: int, payload: bytes = b"", *, deliver: bool = True,
             ack: int | None = None) -> None:
        if from_client:
            packet = ipv4_tcp(self.client, self.server, self.cport, self.sport, self.cseq,
                              self.sseq if ack is None else ack, flags, payload)
        else:
            packet = ipv4_tcp(self.server, self.client, self.sport, self.cport, self.sseq,
                              self.cseq if ack is None else ack, flags, payload)
        if deliver:
            self.capture.add(packet)
        step = len(payload) + (1 if flags & (SYN | FIN) else 0)
        if from_client:
            self.cseq += step
        else:
            self.sseq += step

    def handshake(self, syn_data: bytes = b"") -> None:
        self.send(True, SYN, syn_data)
        self.send(False, SYN | ACK)
        self.send(True, ACK)

    def request(self, data: bytes, **kwargs: object) -> None:
        self.send(True, PSH | ACK, data, **kwargs)  # type: ignore[arg-type]

    def response(self, data: bytes, **kwargs: object) -> None:
        self.send(False, PSH | ACK, data, **kwargs)  # type: ignore[arg-type]

    def close(self) -> None:
        self.send(True, FIN | ACK)
        self.send(False, FIN | ACK)
        self.send(True, ACK)


class Capture:
    """Packets of one pcap file: a link type and a frame builder, timestamps 1 ms apart."""

    def __init__(self, linktype: int = LINKTYPE_ETHERNET, frame: Callable[[bytes], bytes] = ethernet) -> None:
        self.linktype, self.frame = linktype, frame
        self.packets: list[bytes] = []

    def add(self, packet: bytes) -> None:
        self.packets.append(self.frame(packet))

    def flow(self, cport: int, **kwargs: object) -> Flow:
        return Flow(self, cport, **kwargs)  # type: ignore[arg-type]

    def pcap(self) -> bytes:
        out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, self.linktype)]
        for i, frame in enumerate(self.packets):
            usec = 1_700_000_000_000_000 + i * 1000
            out.append(struct.pack("<IIII", usec // 1_000_000, usec % 1_000_000, len(frame), len(frame)) + frame)
        return b"".join(out)


def get(path: str, host: str = "api.example", extra: str = "") -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: {host}\r\n{extra}\r\n".encode()


def ok(body: bytes = b'{"ok":true}', status: str = "HTTP/1.1 200 OK") -> bytes:
    return f"{status}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body


# -- the captures ---------------------------------------------------------------------------------

def tcp_fast_open() -> Capture:
    """The request travels in the SYN (TCP Fast Open): its first byte must not be lost."""
    cap = Capture()
    flow = cap.flow(40001)
    flow.handshake(syn_data=get("/fast-open"))
    flow.response(ok())
    flow.close()
    return cap


def http09() -> Capture:
    """HTTP/0.9: a GET and a POST (no version, no headers) answered by raw bodies until close; on
    the third connection the answer is captured before its request (as a SPAN port may merge)."""
    cap = Capture()
    for port, line in ((40010, b"GET /old.html\r\n"), (40011, b"POST /form\r\n")):
        flow = cap.flow(port)
        flow.handshake()
        flow.request(line)
        flow.response(b"<html><body>simple answer</body></html>\n")
        flow.send(False, FIN | ACK)
        flow.send(True, FIN | ACK)
    flow = cap.flow(40012)
    flow.handshake()
    request = b"GET /reordered.html\r\n"
    answer = b"<html>answered first in the capture</html>\n"
    request_seq = flow.cseq
    flow.cseq += len(request)  # the server has the request...
    flow.response(answer)  # ...and answers; the capture shows the answer first
    flow.cseq = request_seq
    flow.request(request, ack=flow.sseq - len(answer))
    flow.send(False, FIN | ACK)
    flow.send(True, FIN | ACK)
    return cap


def lower_case_version() -> Capture:
    cap = Capture()
    flow = cap.flow(40020)
    flow.handshake()
    flow.request(get("/lower"))
    flow.response(ok(status="http/1.1 200 OK"))
    flow.close()
    return cap


def early_answer() -> Capture:
    """The server answers 400 after the first segment of a request head, then the rest comes."""
    cap = Capture()
    flow = cap.flow(40030)
    flow.handshake()
    flow.request(b"GET /too-long?q=" + b"x" * 200 + b" HTTP/1.1\r\nHost: api.example\r\n")
    flow.response(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    flow.request(b"User-Agent: slow\r\n\r\n")
    flow.close()
    return cap


def header_name_spaces() -> Capture:
    cap = Capture()
    flow = cap.flow(40040)
    flow.handshake()
    flow.request(get("/spaces", extra="Bad Name: x\r\nX-Api-Key : k\r\n"))
    flow.response(ok())
    flow.close()
    return cap


def lost_client_segment() -> Capture:
    """A POST in three segments, the middle one lost by the capture (only one segment past the
    hole); the server's answer acknowledges all of it. Then a second exchange on the connection."""
    cap = Capture()
    flow = cap.flow(40050)
    flow.handshake()
    body = b'{"items":[' + b'"abcdefgh",' * 30 + b'"end"]}'
    flow.request(b"POST /orders HTTP/1.1\r\nHost: api.example\r\nContent-Type: application/json\r\n"
                 + f"Content-Length: {len(body)}\r\n\r\n".encode())
    flow.request(body[:150], deliver=False)
    flow.request(body[150:])
    flow.response(ok(b'{"id":1}', status="HTTP/1.1 201 Created"))
    flow.request(get("/orders/1"))
    flow.response(ok(b'{"id":1,"state":"new"}'))
    flow.close()
    return cap


def chunk_sizes() -> Capture:
    """Chunk-size lines tshark and Zeek read best effort ("f,") and one of 2^64."""
    cap = Capture()
    flow = cap.flow(40060)
    flow.handshake()
    flow.request(get("/chunky"))
    flow.response(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nf,\r\n0123456789abcde\r\n0\r\n\r\n")
    flow.request(get("/huge-chunk"))
    flow.response(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\nabc")
    flow.close()
    return cap


def head_response_only() -> Capture:
    """Only the server's direction was captured: a HEAD's answer (a length, no body), then a GET's."""
    cap = Capture()
    flow = cap.flow(40070)
    flow.response(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 4096\r\n\r\n")
    flow.response(ok(b'{"answer":2}'))
    flow.send(False, FIN | ACK)
    return cap


def _one_exchange(cap: Capture) -> Capture:
    flow = cap.flow(40080)
    flow.handshake()
    flow.request(get("/link-layer"))
    flow.response(ok())
    flow.close()
    return cap


def cisco_hdlc_link() -> Capture:
    return _one_exchange(Capture(LINKTYPE_C_HDLC, cisco_hdlc))


def nflog_link() -> Capture:
    return _one_exchange(Capture(LINKTYPE_NFLOG, nflog))


def unknown_link() -> Capture:
    return _one_exchange(Capture(147, ethernet))  # DLT_USER0: private, nothing to decode


CAPTURES: dict[str, Callable[[], Capture]] = {
    "quirks-tcp-fast-open.pcap": tcp_fast_open,
    "quirks-http09.pcap": http09,
    "quirks-lower-case-version.pcap": lower_case_version,
    "quirks-early-answer.pcap": early_answer,
    "quirks-header-name-spaces.pcap": header_name_spaces,
    "quirks-lost-client-segment.pcap": lost_client_segment,
    "quirks-chunk-sizes.pcap": chunk_sizes,
    "quirks-head-response-only.pcap": head_response_only,
    "quirks-cisco-hdlc.pcap": cisco_hdlc_link,
    "quirks-nflog.pcap": nflog_link,
    "quirks-unknown-linktype.pcap": unknown_link,
}


def main() -> None:
    for name, build in CAPTURES.items():
        (HERE / name).write_bytes(build().pcap())
        print(name)


if __name__ == "__main__":
    main()
