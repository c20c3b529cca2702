"""Fuzz the sensor: mutated captures and HTTP messages through the real engine.

Each case is generated from ``(seed, index)`` alone, so any finding replays by itself
(``--replay N``). Three kinds:

- ``pcap``: a bundled capture (sample_pcaps/, their corpus copies) with bits flipped, bytes
  replaced by interesting values, records corrupted, cut, spliced or duplicated, read by
  ``pcapio`` and fed to ``Sensor.process`` frame by frame (``CaptureError`` at the damage is the
  documented outcome, not a finding);
- ``http``: request and response streams built from seed messages (keep-alive, chunked,
  compressed, pipelined, HTTP/0.9...) then mutated (bit flips, interesting bytes and tokens,
  numbers made huge, negative or superscript, heads made 66 KB or 190 KB or left unterminated,
  chunk sizes "f," and 2^64, lower-case versions, names with spaces), cut into segments of random
  sizes with losses, duplicates, reordering and either direction first, as TCP over Ethernet (or
  raw IP, VLAN, NFLOG);
- ``proto``: HTTP/2, gRPC, WebSocket, Dubbo and TLS connections (real captures, ``h2``-made
  traffic, recorded TLS sessions with their key log) garbled and truncated
  (bench/fuzz_proto.py), segmented the same way; the sensor runs with the TLS key log.
  ``--mix proto`` runs only these.

Cases run in a worker process through the real engine (compiled when the install could build
it). Findings: a traceback escaping the sensor, an error it contained (``flow_errors``: still a
bug), a record that is not JSON-serialisable, buffer accounting not back at zero after the flush,
and a hang (a case over ``--hang`` seconds: the worker is killed, the case recorded, a new worker
goes on with the next). Printed: cases, each finding's count (with the first few case numbers),
watchdog trips, the slowest case, and the worker's peak RSS.

    .venv/bin/python bench/fuzz_sensor.py                     # 20,000 cases (a few minutes)
    .venv/bin/python bench/fuzz_sensor.py --cases 200000 --seed 7
    .venv/bin/python bench/fuzz_sensor.py --replay 1234 --seed 7   # one case, verbose
    .venv/bin/python bench/fuzz_sensor.py --mix proto --cases 20000  # protocols beyond HTTP/1 only
"""

from __future__ import annotations

import argparse
import gzip
import importlib.util
import json
import os
import random
import re
import resource
import select
import subprocess
import sys
import time
import traceback
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script from anywhere: make `sensor` importable
    sys.path.insert(0, str(REPO))

_spec = importlib.util.spec_from_file_location("fuzz_quirks", REPO / "sample_pcaps" / "quirks.py")
assert _spec is not None and _spec.loader is not None
QUIRKS = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(QUIRKS)

MAX_SEED_PCAP = 120_000  # bytes: larger bundled captures make slow cases without new paths

# -- seeds ---------------------------------------------------------------------------------------


def _chunked(body: bytes, sizes: tuple[int, ...] = (5, 11, 1)) -> bytes:
    out, i, k = [], 0, 0
    while i < len(body):
        size = sizes[k % len(sizes)]
        out.append(b"%x;ext=v\r\n" % len(body[i : i + size]) + body[i : i + size] + b"\r\n")
        i, k = i + size, k + 1
    return b"".join(out) + b"0\r\nX-Trailer: t\r\n\r\n"


JSON_BODY = b'{"user":{"id":1234,"email":"a@b.example","name":"Zhao"},"items":[1,2,3],"ok":true}'
REQUESTS = [
    b"GET /api/v1/users/1234?expand=orders&q=%C3%A9 HTTP/1.1\r\nHost: api.example\r\nAccept: */*\r\n\r\n",
    b"POST /api/v1/orders HTTP/1.1\r\nHost: api.example\r\nContent-Type: application/json\r\n"
    b"Content-Length: %d\r\n\r\n" % len(JSON_BODY) + JSON_BODY,
    b"PUT /files/a.txt HTTP/1.1\r\nHost: api.example\r\nTransfer-Encoding: chunked\r\n\r\n" + _chunked(JSON_BODY),
    b"PATCH /api/v1/users/1 HTTP/1.1\r\nHost: api.example\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n"
    % len(gzip.compress(JSON_BODY, mtime=0)) + gzip.compress(JSON_BODY, mtime=0),
    b"POST /upload HTTP/1.1\r\nHost: api.example\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\nabcd",
    b"CONNECT api.example:443 HTTP/1.1\r\nHost: api.example:443\r\n\r\n",
    b"GET /chat HTTP/1.1\r\nHost: api.example\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
    b"HEAD /health HTTP/1.0\r\n\r\n",
    b"GET /old.html\r\n",
    b"DELETE /api/v1/users/1 HTTP/1.1\r\nHost: api.example\r\nCookie: s=" + b"c" * 300 + b"\r\n\r\n",
]
RESPONSES = [
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(JSON_BODY) + JSON_BODY,
    b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n" + _chunked(JSON_BODY, (7, 2)),
    b"HTTP/1.1 200 OK\r\nContent-Encoding: deflate\r\nContent-Length: %d\r\n\r\n" % len(zlib.compress(JSON_BODY))
    + zlib.compress(JSON_BODY),
    b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
    b"HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\n",
    b"HTTP/1.0 200 OK\r\nServer: close-delimited\r\n\r\nall of this until the end",
    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x05hello",
    b"HTTP/1.1 200 Connection established\r\n\r\n\x16\x03\x01\x00\x05hello",
    b"<html><body>an HTTP/0.9 answer</body></html>\n",
    b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nfail",
]
TOKENS = [b"\r\n", b"\n", b"\r", b" ", b"\t", b":", b";", b",", b"\x00", b"\xff", b"\xb2", b"\xb3", b"\xb9", b"\xa0",
          b"\x85", b"0", b"-1", b"+5", b"1_0", b"f,", b"10000000000000000", b"HTTP/1.1 ", b"http/1.1",
          b"GET / HTTP/1.1\r\n", b"HTTP/1.1 200 OK\r\n", b"\r\n\r\n", b"Transfer-Encoding: chunked\r\n",
          b"Content-Length: 99999999999999999999\r\n", b"Content-Encoding: gzip, br, zstd\r\n", b"Host : h\r\n",
          b"Bad Name: v\r\n", b" folded\r\n", b"A " * 64]
INTERESTING = [0x00, 0x0A, 0x0D, 0x20, 0x3A, 0x7F, 0x80, 0xA0, 0xB2, 0xB3, 0xB9, 0xFF]


def pcap_seeds() -> list[bytes]:
    paths = [p for folder in ("", "corpus", "quirks") for p in sorted((REPO / "sample_pcaps" / folder).glob("*.pcap*"))]
    return [p.read_bytes() for p in paths if p.stat().st_size <= MAX_SEED_PCAP]


# -- mutation ------------------------------------------------------------------------------------


def mutate_bytes(rng: random.Random, data: bytes, rounds: int) -> bytes:
    buf = bytearray(data)
    for _ in range(rounds):
        op = rng.randrange(9)
        at = rng.randrange(len(buf) + 1) if buf else 0
        if op == 0 and buf:
            buf[min(at, len(buf) - 1)] ^= 1 << rng.randrange(8)
        elif op == 1 and buf:
            buf[min(at, len(buf) - 1)] = rng.choice(INTERESTING)
        elif op == 2:
            buf[at:at] = rng.choice(TOKENS)
        elif op == 3 and buf:
            del buf[at : at + rng.randrange(1, 64)]
        elif op == 4 and buf:
            end = min(len(buf), at + rng.randrange(1, 200))
            buf[at:at] = buf[at:end] * rng.randrange(1, 4)
        elif op == 5:
            buf = bytearray(_mutate_number(rng, bytes(buf)))
        elif op == 6:
            buf[at:at] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 16)))
        elif op == 7 and buf:
            buf = buf[: rng.randrange(len(buf) + 1)]  # cut short
        else:
            buf[at:at] = rng.choice(REQUESTS + RESPONSES)  # splice another message in
    return bytes(buf)


_NUMBER = re.compile(rb"[0-9A-Fa-f]+")


def _mutate_number(rng: random.Random, data: bytes) -> bytes:
    numbers = list(_NUMBER.finditer(data))
    if not numbers:
        return data
    m = rng.choice(numbers)
    new = rng.choice([b"99999999999999999999", b"-1", b"0", b"\xb2\xb3", b"1\xb9", b"ffffffffffffffffff", b"0x10",
                      b"10000000000000000", b"f,", b"1_000", b" 12 ", b"007"])
    return data[: m.start()] + new + data[m.end() :]


def special_head(rng: random.Random, message: bytes) -> bytes:
    """The shapes issue 14 found: heads over the bound, unterminated, with big headers."""
    end = message.find(b"\r\n\r\n")
    if end < 0:
        return message
    choice = rng.randrange(5)
    if choice == 0:  # a 66,000-byte head that never ends
        return message[:end] + b"\r\nX-Pad: " + b"a" * 66_000
    if choice == 1:  # one header of 190 KB
        return message[:end] + b"\r\nCookie: " + b"c" * 190_000 + message[end:]
    if choice == 2:  # many header lines past the bound
        return message[:end] + b"\r\n" + b"X-Line: value\r\n" * 5000 + message[end:]
    if choice == 3:
        return message[:end]  # unterminated
    return message[:end].replace(b"HTTP/1.", b"http/1.") + b"\r\nName With Space: x" + message[end:]


# -- cases ---------------------------------------------------------------------------------------


@dataclass
class Case:
    index: int
    kind: str
    linktype: int = 1
    frames: list[bytes] = field(default_factory=list)
    pcap: bytes = b""

    def describe(self) -> str:
        if self.kind == "pcap":
            return f"case {self.index}: mutated capture, {len(self.pcap)} bytes"
        what = "protocol" if self.kind == "proto" else "HTTP"
        return f"case {self.index}: {what} streams, {len(self.frames)} frames, link type {self.linktype}"


MIXES = ("all", "proto")


def make_case(seed: int, index: int, seeds: list[bytes], mix: str = "all") -> Case:
    rng = random.Random(f"{seed}:{index}")
    if mix == "proto":
        return _proto_case(rng, index)
    r = rng.random()
    if r < 0.35:
        return Case(index, "pcap", pcap=_pcap_case(rng, rng.choice(seeds)))
    if r < 0.5:
        return _proto_case(rng, index)
    return _http_case(rng, index)


def _proto_case(rng: random.Random, index: int) -> Case:
    from bench.fuzz_proto import proto_streams

    client, server = proto_streams(rng)
    return Case(index, "proto", linktype=1, frames=[QUIRKS.ethernet(f) for f in _tcp_frames(rng, client, server)])


def _pcap_case(rng: random.Random, pcap: bytes) -> bytes:
    buf = bytearray(pcap)
    choice = rng.randrange(4)
    if choice == 0:  # flip bits anywhere past the global header
        for _ in range(rng.randrange(1, 40)):
            at = rng.randrange(24, len(buf))
            buf[at] ^= 1 << rng.randrange(8)
    elif choice == 1:  # interesting bytes into the payloads
        for _ in range(rng.randrange(1, 40)):
            buf[rng.randrange(24, len(buf))] = rng.choice(INTERESTING)
    elif choice == 2:  # cut, or duplicate a stretch of records
        at = rng.randrange(24, len(buf))
        buf = buf[:at] if rng.random() < 0.5 else buf[:at] + buf[24:at] + buf[at:]
    else:  # byte-level mutation of the whole stream, header included sometimes
        start = 0 if rng.random() < 0.1 else 24
        buf = bytearray(bytes(buf[:start]) + mutate_bytes(rng, bytes(buf[start:]), rng.randrange(1, 8)))
    return bytes(buf)


def _http_case(rng: random.Random, index: int) -> Case:
    client = b"".join(rng.choice(REQUESTS) for _ in range(rng.randrange(1, 4)))
    server = b"".join(rng.choice(RESPONSES) for _ in range(rng.randrange(0, 4)))
    if rng.random() < 0.3:
        client = special_head(rng, client)
    if rng.random() < 0.2:
        server = special_head(rng, server)
    if rng.random() < 0.8:
        client = mutate_bytes(rng, client, rng.randrange(1, 6))
    if rng.random() < 0.6:
        server = mutate_bytes(rng, server, rng.randrange(1, 6))
    linktype, wrap = rng.choice([(1, QUIRKS.ethernet), (1, QUIRKS.ethernet), (101, lambda p: p),
                                 (1, _vlan), (QUIRKS.LINKTYPE_NFLOG, QUIRKS.nflog)])
    frames = _tcp_frames(rng, client, server)
    return Case(index, "http", linktype=linktype, frames=[wrap(f) for f in frames])


def _vlan(packet: bytes) -> bytes:
    return b"\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x81\x00\x00\x2a\x08\x00" + packet


def _tcp_frames(rng: random.Random, client: bytes, server: bytes) -> list[bytes]:
    """The two streams as IPv4/TCP packets: random segment sizes, some lost, duplicated or swapped."""
    cport, isn_c, isn_s = rng.randrange(1024, 65535), rng.randrange(1 << 32), rng.randrange(1 << 32)
    packets: list[tuple[int, bytes]] = []
    handshake = rng.random()
    if handshake < 0.8:
        syn_data = client[: rng.randrange(0, 40)] if rng.random() < 0.1 else b""  # TCP Fast Open
        packets.append((0, QUIRKS.ipv4_tcp("10.0.0.1", "10.0.0.2", cport, 80, isn_c, 0, QUIRKS.SYN, syn_data)))
        packets.append((1, QUIRKS.ipv4_tcp("10.0.0.2", "10.0.0.1", 80, cport, isn_s, isn_c + 1 + len(syn_data),
                                          QUIRKS.SYN | QUIRKS.ACK, b"")))
        client = client[len(syn_data):]
        isn_c += len(syn_data)
    segs: list[tuple[int, bytes]] = []
    for side, data, isn, peer in ((0, client, isn_c, isn_s), (1, server, isn_s, isn_c)):
        pos = 0
        while pos < len(data):
            size = rng.choice([1, 7, 100, 536, 1460, 1460, 4096, 9000])
            piece = data[pos : pos + size]
            src, dst, sp, dp = (("10.0.0.1", "10.0.0.2", cport, 80) if side == 0 else ("10.0.0.2", "10.0.0.1", 80, cport))
            seq = isn + 1 + pos
            ack = peer + 1 + (len(server) if side == 0 and rng.random() < 0.2 else 0)
            segs.append((side, QUIRKS.ipv4_tcp(src, dst, sp, dp, seq, ack, QUIRKS.PSH | QUIRKS.ACK, piece)))
            pos += size
    # interleave the two directions, mostly request first
    segs.sort(key=lambda s: (rng.random() * (3 if s[0] else 1)))
    out: list[bytes] = []
    for _side, frame in packets + segs:
        r = rng.random()
        if r < 0.03:
            continue  # lost
        out.append(frame)
        if r < 0.06:
            out.append(frame)  # retransmitted
    if len(out) > 3 and rng.random() < 0.3:
        i = rng.randrange(len(out) - 1)
        out[i], out[i + 1] = out[i + 1], out[i]
    if rng.random() < 0.7:
        out.append(QUIRKS.ipv4_tcp("10.0.0.1", "10.0.0.2", cport, 80, isn_c + 1 + len(client), isn_s + 1 + len(server),
                                   QUIRKS.FIN | QUIRKS.ACK, b""))
    return out


# -- running -------------------------------------------------------------------------------------


def run_case(case: Case) -> dict[str, Any]:
    """One case through the engine: what happened, never raising."""
    import io

    import orjson

    from sensor import pcapio
    from sensor.config import SensorConfig
    from sensor.engine import Sensor

    records: list[Any] = []
    config = None
    if case.kind == "proto":
        from bench.fuzz_proto import keylog_path

        config = SensorConfig(tls_keylog=keylog_path())
    sensor = Sensor(records.append, config)
    started = time.perf_counter()
    result: dict[str, Any] = {"index": case.index, "traceback": None}
    try:
        if case.kind == "pcap":
            try:
                for ts, linktype, frame in pcapio.open_capture(io.BytesIO(case.pcap)):
                    sensor.process(ts, linktype, frame)
            except pcapio.CaptureError:
                result["capture_error"] = True
        else:
            for i, frame in enumerate(case.frames):
                sensor.process(1_700_000_000.0 + i * 0.001, case.linktype, frame)
        sensor.flush()
        for record in records:
            orjson.dumps(record.to_dict())
    except Exception:  # noqa: BLE001 - the finding itself
        result["traceback"] = traceback.format_exc()
    stats = sensor.stats()
    protocols = Counter(str(getattr(r, "protocol", "?")) for r in records)
    tags = Counter(t for r in records for t in getattr(r, "tags", ()))
    result.update(protocols=dict(protocols), tags=dict(tags))
    result.update(seconds=time.perf_counter() - started, exchanges=len(records),
                  flow_errors=stats.get("flow_errors", 0), last_error=getattr(sensor, "last_error", ""),
                  watchdog=stats.get("parser_watchdog", 0), buffered=getattr(sensor, "buffered", 0))
    return result


def worker(seed: int, start: int, stop: int, mix: str = "all") -> None:
    """Child process: run cases [start, stop), one JSON line each, then the peak RSS."""
    seeds = pcap_seeds()
    for index in range(start, stop):
        case = make_case(seed, index, seeds, mix)
        print(json.dumps({"started": index}), flush=True)
        print(json.dumps(run_case(case)), flush=True)
    print(json.dumps({"rss_mb": peak_rss_mb()}), flush=True)


def peak_rss_mb() -> float:
    """This process's own peak RSS. Not ``ru_maxrss``: across fork and exec Linux carries the
    parent's peak into it (a worker of a big test process would report the test process)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@dataclass
class Summary:
    cases: int = 0
    tracebacks: list[int] = field(default_factory=list)
    contained: list[int] = field(default_factory=list)
    accounting: list[int] = field(default_factory=list)
    hangs: list[int] = field(default_factory=list)
    capture_errors: int = 0
    watchdog: int = 0
    exchanges: int = 0
    slowest: tuple[float, int] = (0.0, -1)
    max_rss_mb: float = 0.0
    first_traceback: str = ""
    first_error: str = ""
    protocols: Counter[str] = field(default_factory=Counter)  # records made, by protocol
    tags: Counter[str] = field(default_factory=Counter)  # tags on them (anomalies as data)

    def clean(self) -> bool:
        return not (self.tracebacks or self.contained or self.accounting or self.hangs)


def fuzz(seed: int, cases: int, hang_seconds: float = 5.0, env: dict[str, str] | None = None,
         mix: str = "all") -> Summary:
    """Run ``cases`` cases in worker processes; a case over ``hang_seconds`` is a hang."""
    summary = Summary()
    index = 0
    while index < cases:
        proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--worker", str(seed), str(index),
                                 str(cases), "--mix", mix], stdout=subprocess.PIPE, cwd=REPO, env=env or os.environ.copy())
        assert proc.stdout is not None
        fd = proc.stdout.fileno()
        pending = b""
        current = index
        finished = False
        while not finished:
            while b"\n" not in pending:
                ready, _, _ = select.select([fd], [], [], hang_seconds)
                chunk = os.read(fd, 65536) if ready else None
                if chunk is None:  # the case in progress is over the bound
                    proc.kill()
                    summary.hangs.append(current)
                    summary.cases += 1
                    index = current + 1
                    finished = True
                    break
                if not chunk:  # the worker ended
                    if proc.wait() != 0:  # died: a crash no try in run_case could catch
                        summary.tracebacks.append(current)
                        summary.cases += 1
                        index = current + 1
                    else:
                        index = cases
                    finished = True
                    break
                pending += chunk
            while b"\n" in pending and not finished:
                line, pending = pending.split(b"\n", 1)
                msg = json.loads(line)
                if "started" in msg:
                    current = msg["started"]
                elif "rss_mb" in msg:
                    summary.max_rss_mb = max(summary.max_rss_mb, msg["rss_mb"])
                else:
                    _count(summary, msg)
                    index = msg["index"] + 1
        proc.stdout.close()
        proc.wait()
    return summary


def _count(summary: Summary, r: dict[str, Any]) -> None:
    summary.cases += 1
    summary.exchanges += r["exchanges"]
    summary.watchdog += r["watchdog"]
    summary.capture_errors += bool(r.get("capture_error"))
    summary.protocols.update(r.get("protocols") or {})
    summary.tags.update(r.get("tags") or {})
    if r["traceback"]:
        summary.tracebacks.append(r["index"])
        summary.first_traceback = summary.first_traceback or r["traceback"]
    if r["flow_errors"]:
        summary.contained.append(r["index"])
        summary.first_error = summary.first_error or r["last_error"]
    if r["buffered"]:
        summary.accounting.append(r["index"])
    if r["seconds"] > summary.slowest[0]:
        summary.slowest = (r["seconds"], r["index"])


def report(summary: Summary, seed: int, elapsed: float) -> str:
    def cases_of(found: list[int]) -> str:
        return f"{len(found):,}" + (f"  (cases {', '.join(map(str, found[:5]))})" if found else "")

    lines = [
        f"seed {seed}: {summary.cases:,} cases in {elapsed:.1f} s ({summary.exchanges:,} exchanges out, "
        f"{summary.capture_errors:,} captures read up to their damage)",
        f"  tracebacks           {cases_of(summary.tracebacks)}",
        f"  contained errors     {cases_of(summary.contained)}" + (f"  first: {summary.first_error}"
                                                                   if summary.first_error else ""),
        f"  accounting not zero  {cases_of(summary.accounting)}",
        f"  hangs                {cases_of(summary.hangs)}",
        f"  watchdog trips       {summary.watchdog:,}",
        f"  slowest case         {summary.slowest[0] * 1000:.0f} ms (case {summary.slowest[1]})",
        f"  worker peak RSS      {summary.max_rss_mb:.0f} MB",
        "  records by protocol  " + ", ".join(f"{k} {v:,}" for k, v in summary.protocols.most_common()),
        "  most frequent tags   " + ", ".join(f"{k} {v:,}" for k, v in summary.tags.most_common(12)),
    ]
    if summary.first_traceback:
        lines.append("first traceback:\n" + summary.first_traceback)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--hang", type=float, default=5.0, metavar="SECONDS", help="a case over this is a hang")
    parser.add_argument("--replay", type=int, metavar="N", help="run case N alone and print what happened")
    parser.add_argument("--mix", choices=MIXES, default="all", help="proto: protocol cases only")
    parser.add_argument("--worker", nargs=3, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(*args.worker, mix=args.mix)
        return 0
    if args.replay is not None:
        case = make_case(args.seed, args.replay, pcap_seeds(), args.mix)
        print(case.describe())
        print(json.dumps(run_case(case), indent=1))
        return 0
    from sensor import _native

    started = time.monotonic()
    summary = fuzz(args.seed, args.cases, args.hang, mix=args.mix)
    print(f"sensor: {_native.describe()}")
    print(report(summary, args.seed, time.monotonic() - started))
    return 0 if summary.clean() else 1


if __name__ == "__main__":
    sys.exit(main())
