"""Protocol seeds and mutations for bench/fuzz_sensor.py's ``proto`` cases: HTTP/2 (h2c prior
knowledge and Upgrade), gRPC, WebSocket, Dubbo and TLS connections, garbled and truncated.

Seeds (deterministic, so a case replays from ``(seed, index)`` alone):

- the real captures in tests/sensor/proto/data (gRPC unary / streaming / undecodable, h2
  CONTINUATION, h2c Upgrade, WebSocket control frames and a too-big message, Dubbo hessian2),
  each connection's two byte streams read back through the sensor's own decoder;
- HTTP/2 + gRPC made by the ``h2`` library (an independent endpoint): unary calls with trailers,
  a GraphQL POST, a stream reset;
- WebSocket upgrades with masked, fragmented, control and permessage-deflate frames;
- TLS 1.2 (AES-GCM, ChaCha20) and TLS 1.3 sessions recorded from python ssl on 127.0.0.1
  (tests/sensor/proto/data/tls_sessions.json, with the key log: the cases run with it, so the
  decryption paths and a wrong key's are fuzzed too; regenerate with ``--write-tls-seeds``).

Mutations work on the streams before TCP segmentation: frame headers rewritten (lengths made huge
or zero, types and flags replaced, stream ids changed), bytes flipped or replaced, stretches cut,
duplicated or swapped, and streams truncated anywhere. The expected outcome is tags and counters,
never a traceback, a contained error, a hang or unreleased buffers.

    .venv/bin/python bench/fuzz_sensor.py --mix proto --cases 20000
    .venv/bin/python bench/fuzz_proto.py --write-tls-seeds   # re-record the TLS sessions
"""

from __future__ import annotations

import atexit
import json
import os
import random
import sys
import tempfile
import zlib
from functools import cache
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

DATA = REPO / "tests" / "sensor" / "proto" / "data"
TLS_SEEDS = DATA / "tls_sessions.json"
TLS_CASES = [("1.2", "ECDHE-RSA-AES128-GCM-SHA256"), ("1.2", "ECDHE-RSA-CHACHA20-POLY1305"),
             ("1.3", "TLS_AES_128_GCM_SHA256"), ("1.3", "TLS_CHACHA20_POLY1305_SHA256")]
INTERESTING = (0x00, 0x01, 0x04, 0x08, 0x7F, 0x80, 0xFF)
Stream = tuple[bytes, bytes]  # (client bytes, server bytes)


# -- seeds -----------------------------------------------------------------------------------------


def _capture_streams(path: Path) -> list[Stream]:
    """Each TCP connection of a capture as its two byte streams (in sequence order, no repeats)."""
    from sensor import pcapio
    from sensor.decode import Decoder

    decoder = Decoder()
    flows: dict[tuple[bytes, int, bytes, int], dict[int, bytes]] = {}
    first_sender: dict[frozenset[tuple[bytes, int]], tuple[bytes, int]] = {}
    with path.open("rb") as fh:
        for ts, linktype, frame in pcapio.open_capture(fh):
            seg = decoder.decode(linktype, frame, ts)
            if seg is None:
                continue
            src, dst, sport, dport, seq, _ack, flags, payload, _vlan = seg
            pair = frozenset(((src, sport), (dst, dport)))
            if flags & 0x02 and not flags & 0x10:  # SYN: this side is the client
                first_sender[pair] = (src, sport)
            first_sender.setdefault(pair, (src, sport))
            if payload:
                flows.setdefault((src, sport, dst, dport), {}).setdefault(seq, payload)
    out: list[Stream] = []
    for pair, client in first_sender.items():
        (a, b) = sorted(pair)
        server = b if client == a else a
        sides = []
        for s, d in ((client, server), (server, client)):
            segs = flows.get((s[0], s[1], d[0], d[1]), {})
            sides.append(b"".join(segs[k] for k in sorted(segs)))
        if sides[0] or sides[1]:
            out.append((sides[0], sides[1]))
    return out


def _h2_streams() -> list[Stream]:
    import h2.config
    import h2.connection

    c = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
    s = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False, header_encoding="utf-8"))
    client, server = bytearray(), bytearray()

    def pump() -> None:
        for _ in range(4):
            out_c, out_s = c.data_to_send(), s.data_to_send()
            client.extend(out_c)
            server.extend(out_s)
            if out_c:
                s.receive_data(out_c)
            if out_s:
                c.receive_data(out_s)
            if not out_c and not out_s:
                return

    c.initiate_connection()
    s.initiate_connection()
    pump()
    message = bytes([0x08, 0x96, 0x01, 0x12, 0x05]) + b"alice" + bytes([0x1A, 0x03]) + b"a@b"
    for i, (path, status) in enumerate((("/shop.v1.Orders/Get", 0), ("/shop.v1.Users/List", 16),
                                        ("/graphql", None), ("/shop.v1.Orders/Watch", 0))):
        sid = c.get_next_available_stream_id()
        grpc = status is not None
        c.send_headers(sid, [(":method", "POST"), (":path", path), (":scheme", "http"), (":authority", "svc.test"),
                             ("content-type", "application/grpc" if grpc else "application/json")])
        body = (b"\x00" + len(message).to_bytes(4, "big") + message) if grpc else b'{"query":"{ me { id } }"}'
        c.send_data(sid, body, end_stream=True)
        pump()
        s.send_headers(sid, [(":status", "200"), ("content-type", "application/grpc" if grpc else "application/json")])
        if i == 3:
            s.reset_stream(sid)
        elif grpc:
            s.send_data(sid, b"\x00" + len(message).to_bytes(4, "big") + message)
            s.send_headers(sid, [("grpc-status", str(status))], end_stream=True)
        else:
            s.send_data(sid, b'{"data":{"me":{"id":1}}}', end_stream=True)
        pump()
    return [(bytes(client), bytes(server))]


def _ws_frame(opcode: int, payload: bytes, *, fin: bool = True, mask: bytes | None = None, rsv1: bool = False) -> bytes:
    head = bytes([(0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode])
    n = len(payload)
    mbit = 0x80 if mask else 0
    if n < 126:
        head += bytes([mbit | n])
    elif n < 65536:
        head += bytes([mbit | 126]) + n.to_bytes(2, "big")
    else:
        head += bytes([mbit | 127]) + n.to_bytes(8, "big")
    if mask:
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        head += mask
    return head + payload


def _ws_streams() -> list[Stream]:
    key = b"\x11\x22\x33\x44"
    upgrade = (b"GET /live/feed HTTP/1.1\r\nHost: ws.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               b"Sec-WebSocket-Key: dGhlIHNhbXBsZQ==\r\nSec-WebSocket-Version: 13\r\n"
               b"Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n")
    accept = (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n")
    deflater = zlib.compressobj(wbits=-15)
    compressed = deflater.compress(b'{"email":"x@y.example","seq":3}') + deflater.flush(zlib.Z_SYNC_FLUSH)
    client = upgrade + b"".join([
        _ws_frame(1, b'{"op":"subscribe","topic":"orders"}', mask=key),
        _ws_frame(1, b'{"part":', fin=False, mask=key), _ws_frame(9, b"ping", mask=key),
        _ws_frame(0, b'"two"}', mask=key),
        _ws_frame(1, compressed[:-4], mask=key, rsv1=True),
        _ws_frame(8, b"\x03\xe8bye", mask=key),
    ])
    server = accept + b"".join([
        _ws_frame(1, b'{"ok":true,"user":{"email":"a@b.example"}}'), _ws_frame(10, b"ping"),
        _ws_frame(2, bytes(range(200))), _ws_frame(1, b"x" * 70_000), _ws_frame(8, b"\x03\xe8"),
    ])
    return [(client, server)]


@cache
def tls_seeds() -> tuple[list[Stream], str]:
    """The recorded TLS sessions (client and server bytes) and their key log."""
    if not TLS_SEEDS.is_file():
        return [], ""
    doc = json.loads(TLS_SEEDS.read_text())
    streams = []
    for session in doc["sessions"]:
        sides = [b"", b""]
        for side, data in session["wire"]:
            sides[side] += bytes.fromhex(data)
        streams.append((sides[0], sides[1]))
    return streams, doc["keylog"]


@cache
def proto_seeds() -> list[Stream]:
    out: list[Stream] = []
    for path in sorted(DATA.glob("*.pcap*")):
        out.extend(_capture_streams(path))
    out.extend(_h2_streams())
    out.extend(_ws_streams())
    out.extend(tls_seeds()[0])
    return out


_KEYLOG: list[str] = []


def keylog_path() -> str | None:
    """A file holding the TLS seeds' key log, written once per process (removed at exit)."""
    if _KEYLOG:
        return _KEYLOG[0]
    text = tls_seeds()[1]
    if not text:
        return None
    fd, path = tempfile.mkstemp(prefix="apicensus-fuzz-keylog-", suffix=".txt")
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    atexit.register(lambda: os.path.exists(path) and os.remove(path))
    _KEYLOG.append(path)
    return path


# -- mutation --------------------------------------------------------------------------------------


def mutate_stream(rng: random.Random, data: bytes, rounds: int) -> bytes:
    """Frame-aware and blind damage to one direction's bytes."""
    buf = bytearray(data)
    for _ in range(rounds):
        if not buf:
            buf.extend(rng.randbytes(rng.randrange(1, 64)))
            continue
        op = rng.randrange(8)
        at = rng.randrange(len(buf))
        if op == 0:  # a plausible frame header's length: huge, zero or off by a little
            buf[at: at + 3] = rng.choice([b"\xff\xff\xff", b"\x00\x00\x00", b"\x00\x40\x01", b"\x01\x00\x00"])
        elif op == 1:  # type / flags / opcode / TLS content type replaced
            buf[at] = rng.choice(INTERESTING + (0x09, 0x14, 0x15, 0x16, 0x17, 0x24, 0xDA, 0xBB))
        elif op == 2:
            buf[at] ^= 1 << rng.randrange(8)
        elif op == 3:  # stream id / request id changed
            buf[at: at + 4] = rng.choice([b"\x7f\xff\xff\xff", b"\x00\x00\x00\x00", b"\x00\x00\x00\x03"])
        elif op == 4:
            del buf[at: at + rng.randrange(1, 200)]
        elif op == 5:
            end = min(len(buf), at + rng.randrange(1, 300))
            buf[at:at] = buf[at:end] * rng.randrange(1, 3)
        elif op == 6 and len(buf) > 20:  # swap two stretches
            j = rng.randrange(len(buf))
            a, b = sorted((at, j))
            n = min(rng.randrange(1, 64), b - a)
            buf[a: a + n], buf[b: b + n] = buf[b: b + n], buf[a: a + n]
        else:
            buf[at:at] = rng.randbytes(rng.randrange(1, 24))
    if rng.random() < 0.3:
        buf = buf[: rng.randrange(len(buf) + 1)]  # truncated
    return bytes(buf)


def proto_streams(rng: random.Random) -> Stream:
    """One case's two streams: a seed, damaged (sometimes only one side, sometimes neither)."""
    seeds = proto_seeds()
    client, server = rng.choice(seeds)
    if rng.random() < 0.85:
        client = mutate_stream(rng, client, rng.randrange(1, 6))
    if rng.random() < 0.7:
        server = mutate_stream(rng, server, rng.randrange(1, 6))
    return client, server


# -- TLS seed recording ----------------------------------------------------------------------------


def write_tls_seeds() -> None:
    from tests.sensor.proto.tls_recorder import record

    sessions, keylog = [], []
    for version, cipher in TLS_CASES:
        with tempfile.TemporaryDirectory() as tmp:
            wire, log, plain = record(Path(tmp), version, cipher)
        sessions.append({"version": version, "cipher": plain["cipher"],
                         "wire": [[side, data.hex()] for side, data in wire]})
        keylog.append(log)
    TLS_SEEDS.write_text(json.dumps({"sessions": sessions, "keylog": "".join(keylog)}, indent=0) + "\n")
    print(f"wrote {TLS_SEEDS} ({TLS_SEEDS.stat().st_size:,} bytes, {len(sessions)} sessions)")


if __name__ == "__main__":
    if sys.argv[1:] == ["--write-tls-seeds"]:
        write_tls_seeds()
    else:
        seeds = proto_seeds()
        print(f"{len(seeds)} protocol seed connections, {sum(len(a) + len(b) for a, b in seeds):,} bytes; "
              f"TLS key log: {keylog_path()}")
