"""Fuzz the inventory service: mutated ingest batches and HTTP request heads sent to a real
``apicensus serve`` over 127.0.0.1.

Each case is generated from ``(seed, index)`` alone, so any finding replays by itself
(``--replay N``). Two kinds:

- ``batch``: a sensor batch (``POST /api/v1/ingest``, a sensor key) built from real exchange
  records (the sensor run on ``sample_pcaps``), then damaged as a network or a hostile sensor
  would: zstd and gzip frames truncated, bit-flipped, concatenated with garbage or labelled with
  the wrong ``Content-Encoding``; record counts past the bound and decompression bombs; records of
  the wrong schema (fields of the wrong type, unknown ``schema`` versions); JSON nested hundreds
  or thousands deep (in the record and inside captured bodies); lone surrogates (escaped and raw);
  integers of 20 to 5,000 digits; statuses of 2^31, 2^63, -1; random bytes between the lines;
- ``head``: a raw request on its own connection (a valid key, or none), built from real API
  requests then mutated (bit flips, interesting bytes and tokens, numbers made huge or
  superscript, heads of 66 KB or 190 KB, unterminated, duplicate or conflicting framing headers,
  lone-surrogate percent escapes, NUL bytes, HTTP/2 preface...).

Findings: a traceback in the service's log (every process: workers and ingest children), any
5xx answer (503 included: the database is up throughout, so the documented 503s cannot apply),
a hang (no answer and no close within the service's head timeout plus a margin), the service not
answering ``/health`` afterwards, a clean batch not taken afterwards (bad input lost something
else), and the peak RSS of each service process (``VmHWM``) over ``--rss-mb``.
Printed: cases, answers by status per kind, each finding's count (with the first case numbers),
the slowest case, peak RSS of the serving and the ingest processes.

    .venv/bin/python bench/fuzz_ingest.py                         # 5,000 cases (minutes)
    .venv/bin/python bench/fuzz_ingest.py --cases 20000 --seed 7 --workers 2 --concurrency 8
    .venv/bin/python bench/fuzz_ingest.py --replay 1234 --seed 7  # one case, verbose
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import os
import random
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(REPO))

from bench.fuzz_sensor import TOKENS, mutate_bytes, special_head  # noqa: E402

ADMIN_URL = os.environ.get("APICENSUS_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
HEAD_TIMEOUT = 1.0  # serve --head-timeout and --body-timeout for the run: stalled requests end quickly
BODY_TIMEOUT = 2.0
HANG_MARGIN = 8.0  # seconds past those timeouts that make a hang
BATCH_HANG = 60.0  # a batch unanswered this long (decoding and analysis included) is a hang
SEED_PCAPS = ("keepalive-api.pcap", "pipelined-vlan-ipv6.pcap", "edge-wrap-noresponse.pcap")

# -- seeds ---------------------------------------------------------------------------------------


_seed_records: list[dict[str, Any]] = []


def seed_records() -> list[dict[str, Any]]:
    """Real exchange records: the sensor on the bundled captures (cached)."""
    if not _seed_records:
        from sensor.engine import iter_exchanges

        for name in SEED_PCAPS:
            _seed_records.extend(e.to_dict() for e in iter_exchanges(REPO / "sample_pcaps" / name))
        assert _seed_records, "no exchange in the seed captures"
    return _seed_records


def _zstd(data: bytes) -> bytes:
    import zstandard

    return zstandard.ZstdCompressor(level=3).compress(data)


_cache: dict[str, bytes] = {}


def _compressed(plain: bytes, encoding: str, repeat: int) -> bytes:
    """``plain`` * ``repeat`` as ``repeat`` concatenated zstd frames or gzip members (one stream
    to the decoder, and cheap to build however large it decodes)."""
    one = _zstd(plain) if encoding == "zstd" else gzip.compress(plain, 6, mtime=0)
    return one * repeat


def _bomb(encoding: str, lines: bool) -> bytes:
    """65 MiB of newlines, or one 65 MiB line, compressed (past the 64 MiB decoded bound)."""
    key = f"bomb:{encoding}:{lines}"
    if key not in _cache:
        chunk = b"\n" * (1 << 20) if lines else b"x" * (1 << 20)
        _cache[key] = _compressed(chunk, encoding, 65)
    return _cache[key]


def _many_records(count: int, encoding: str) -> bytes:
    """``count`` tiny records (rounded up to 10,000s): past the 50,000-record bound."""
    key = f"many:{count}:{encoding}"
    if key not in _cache:
        _cache[key] = _compressed(b'{"method":"GET","target":"/x"}\n' * 10_000, encoding, -(-count // 10_000))
    return _cache[key]


# -- values a hostile record carries ----------------------------------------------------------


def _deep(rng: random.Random, depth: int) -> bytes:
    if rng.random() < 0.5:
        return b"[" * depth + b"1" + b"]" * depth
    return b'{"a":' * depth + b"1" + b"}" * depth


def _huge_int(rng: random.Random) -> bytes:
    digits = rng.choice((20, 40, 310, 4301, 5000))
    return (b"-" if rng.random() < 0.3 else b"") + b"9" + b"".join(
        b"%d" % rng.randrange(10) for _ in range(digits - 1)
    )


def _surrogate_string(rng: random.Random) -> bytes:
    pick = rng.choice((b'"\\ud800"', b'"a\\udfff b"', b'"\\udc00\\ud800"', b'"\\ud83d"', b'"x\xed\xa0\x80y"',
                       b'"\xff\xfe"', b'"\\u0000"', b'"\\ud800\\u0041"'))
    return pick


def hostile_value(rng: random.Random) -> bytes:
    """One JSON value (as raw bytes, which may not be valid JSON) a record field gets."""
    choice = rng.randrange(12)
    if choice == 0:
        return _deep(rng, rng.choice((10, 200, 600, 1020, 1030, 5000)))
    if choice == 1:
        return _huge_int(rng)
    if choice == 2:
        return _surrogate_string(rng)
    if choice == 3:
        return rng.choice((b"2147483648", b"2147483647", b"-2147483649", b"4294967296", b"9223372036854775807",
                           b"9223372036854775808", b"18446744073709551616", b"-1", b"1e308", b"-0.0", b"1e-400"))
    if choice == 4:
        return rng.choice((b"null", b"true", b"[]", b"{}", b'""', b"0", b'"0"', b"[null]", b'[[1,2]]', b'{"":""}'))
    if choice == 5:
        return b'"' + b"x" * rng.choice((1000, 100_000, 1_000_000)) + b'"'
    if choice == 6:
        return b"[" + b",".join([b'["a","b"]'] * rng.choice((10, 5000, 60_000))) + b"]"
    if choice == 7:
        return rng.choice((b"NaN", b"Infinity", b"-Infinity", b"1e999", b"0x10", b"01", b"+1", b".5"))
    if choice == 8:  # a body whose captured data is itself hostile JSON
        inner = _deep(rng, rng.choice((100, 900, 3000))).decode()
        return b'{"data":"' + inner.replace('"', '\\"').encode() + b'","b64":false,"captured":10,"length":10}'
    if choice == 9:
        return b'{"data":' + _huge_int(rng) + b',"b64":' + rng.choice((b"true", b'"yes"', b"2")) + b"}"
    if choice == 10:
        return b'"' + rng.choice((b"\\u0000", b"\x7f", b"%00", b"\\r\\n", b"\\t")) * rng.randrange(1, 50) + b'"'
    return b'{"data":"' + b"QUFB" * rng.randrange(1, 2000) + b'==!","b64":true,"captured":-5,"length":99999999999}'


FIELDS = ("uid", "ts", "method", "target", "host", "status", "client", "server", "request_headers",
          "response_headers", "request_body", "response_body", "response_ts", "end_ts", "version", "reason",
          "trans_depth", "interim_statuses", "vlan", "tags", "protocol", "stream_id", "proto", "schema")


def _record_line(rng: random.Random, record: dict[str, Any], hostile: bool) -> bytes:
    import orjson

    if not hostile:
        return orjson.dumps(record)
    fields = [b'"%s":%s' % (k.encode(), orjson.dumps(v)) for k, v in record.items()]
    for _ in range(rng.randrange(1, 4)):
        name = rng.choice(FIELDS).encode()
        fields = [f for f in fields if not f.startswith(b'"%s":' % name)]
        fields.insert(rng.randrange(len(fields) + 1), b'"%s":%s' % (name, hostile_value(rng)))
    if rng.random() < 0.1:  # a header list with one hostile name or value
        pair = b'[%s,%s]' % (hostile_value(rng), rng.choice((b'"v"', hostile_value(rng))))
        fields.append(b'"request_headers":[%s]' % pair)
    return b"{" + b",".join(fields) + b"}"


def hostile_lines(rng: random.Random, tag: str) -> bytes:
    """A few JSON lines of real records, most with hostile fields (for other fuzzers: schemathesis)."""
    return b"\n".join(_lines(rng, tag, 0.7)) + b"\n"


def _lines(rng: random.Random, tag: str, hostile: float) -> list[bytes]:
    records = seed_records()
    out = []
    for i in range(rng.choice((1, 2, 5, 20, 60))):
        record = dict(rng.choice(records))
        record["uid"] = f"fz-{tag}-{i}"
        out.append(_record_line(rng, record, rng.random() < hostile))
    return out


# -- cases ---------------------------------------------------------------------------------------


@dataclass
class Case:
    index: int
    kind: str  # "batch" or "head"
    mutation: str
    payload: bytes
    encoding: str = ""  # batch: the Content-Encoding header sent ("" for none)
    keyed: bool = True  # head: carries a valid key

    def describe(self) -> str:
        if self.kind == "batch":
            return f"case {self.index}: batch ({self.mutation}), {len(self.payload):,} bytes, encoding {self.encoding!r}"
        return f"case {self.index}: request head ({self.mutation}), {len(self.payload):,} bytes"


BATCH_MUTATIONS = ("clean", "zstd_truncated", "zstd_bitflip", "gzip_truncated", "gzip_bitflip", "garbage_after",
                   "wrong_encoding", "huge_count", "bomb", "wrong_schema", "deep_json", "surrogates", "huge_ints",
                   "status_2_31", "line_bytes", "junk_lines")


def make_case(seed: int, index: int, tag: str = "") -> Case:
    """Even cases are batches, odd ones heads; batch mutations in turn (every one in 32 cases)."""
    rng = random.Random(f"{seed}:{index}")
    if index % 2 == 0:
        return _batch_case(rng, index, f"{tag}{seed}-{index}", BATCH_MUTATIONS[index // 2 % len(BATCH_MUTATIONS)])
    return _head_case(rng, index)


def _batch_case(rng: random.Random, index: int, tag: str, mutation: str) -> Case:
    hostile = {"clean": 0.0, "wrong_schema": 0.7, "deep_json": 0.0, "surrogates": 0.0, "huge_ints": 0.0,
               "status_2_31": 0.0}.get(mutation, 0.2)
    lines = _lines(rng, tag, hostile)
    if mutation == "deep_json":
        lines[rng.randrange(len(lines))] = b'{"uid":"fz-%s-deep","method":"GET","target":"/d","proto":%s}' % (
            tag.encode(), _deep(rng, rng.choice((100, 900, 1025, 20_000))))
        if rng.random() < 0.5:
            lines.append(_deep(rng, rng.choice((500, 1100, 100_000))))
    elif mutation == "surrogates":
        for _ in range(rng.randrange(1, 4)):
            at = rng.randrange(len(lines))
            line = lines[at]
            cut = line.find(b'":"') + 3
            lines[at] = line[:cut] + rng.choice((b"\\ud800", b"\\udfff", b"\xed\xa0\x80", b"\\udc00\\ud800")) + line[cut:]
    elif mutation in ("huge_ints", "status_2_31"):
        for _ in range(rng.randrange(1, 4)):
            at = rng.randrange(len(lines))
            value = _huge_int(rng) if mutation == "huge_ints" else rng.choice(
                (b"2147483648", b"2147483647", b"-2147483648", b"4294967296", b"9223372036854775808", b"-1", b"1000"))
            name = rng.choice((b"status", b"status", b"ts", b"trans_depth", b"stream_id", b"response_ts", b"schema"))
            lines[at] = lines[at][:-1] + b',"%s":%s}' % (name, value)
    elif mutation == "junk_lines":
        for _ in range(rng.randrange(1, 6)):
            lines.insert(rng.randrange(len(lines) + 1), rng.choice(
                (bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300))), b"[1,2,3]", b'"a string"',
                 b"\xef\xbb\xbf{}", b"\x00" * 50, b"{" * 2000, b"null", b"{}", b"\r")))
    plain = b"\n".join(lines) + (b"\n" if rng.random() < 0.8 else b"")
    if mutation == "line_bytes":
        plain = mutate_bytes(rng, plain, rng.randrange(1, 12))
    encoding = rng.choice(("zstd", "zstd", "gzip", ""))
    body = _zstd(plain) if encoding == "zstd" else gzip.compress(plain, 6, mtime=0) if encoding == "gzip" else plain
    if mutation in ("zstd_truncated", "gzip_truncated", "zstd_bitflip", "gzip_bitflip"):
        encoding = mutation.split("_")[0]
        body = _zstd(plain) if encoding == "zstd" else gzip.compress(plain, 6, mtime=0)
        if mutation.endswith("truncated"):
            body = body[: rng.randrange(1, len(body))]
        else:
            buf = bytearray(body)
            for _ in range(rng.randrange(1, 9)):
                buf[rng.randrange(len(buf))] ^= 1 << rng.randrange(8)
            body = bytes(buf)
    elif mutation == "garbage_after":
        encoding = rng.choice(("zstd", "gzip"))
        body = (_zstd(plain) if encoding == "zstd" else gzip.compress(plain, 6, mtime=0)) + rng.choice(
            (b"\x00", b"garbage", b"\x28\xb5\x2f\xfd", b"\x1f\x8b\x08", bytes(rng.randrange(256) for _ in range(64))))
    elif mutation == "wrong_encoding":
        encoding = rng.choice(("gzip", "zstd", "br", "deflate", "zstd, gzip", "ZSTD", " gzip ", "identity", "x\x00"))
    elif mutation == "huge_count":
        encoding = rng.choice(("zstd", "gzip"))
        body = _many_records(rng.choice((50_001, 200_000, 1_000_000, 5_000_000)), encoding)
    elif mutation == "bomb":
        encoding = rng.choice(("zstd", "gzip"))
        body = _bomb(encoding, lines=rng.random() < 0.5)
    return Case(index, "batch", mutation, body, encoding)


def _api_requests(rng: random.Random) -> list[bytes]:
    body = b'{"tags":["a","b"],"owner":"team-a"}'
    return [
        b"GET /api/v1/endpoints?sort=-hits&limit=5&q=users HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {KEY}\r\n\r\n",
        b"GET /api/v1/services?limit=2 HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: {KEY}\r\nAccept: */*\r\n\r\n",
        b"GET /api/v1/findings?service=a&cursor=eyJrIjpbMV19 HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer {KEY}\r\n\r\n",
        b"PATCH /api/v1/services/1 HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer {KEY}\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n" % len(body) + body,
        b"POST /api/v1/ingest HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer {SENSOR}\r\nContent-Encoding: gzip\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n5\r\n\x1f\x8b\x08\x00\x00\r\n0\r\n\r\n",
        b"POST /api/v1/specs HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer {KEY}\r\nContent-Type: application/yaml\r\n"
        b"Content-Length: 42\r\n\r\nopenapi: 3.0.0\ninfo: {title: t, version: 1}",
        b"GET /health HTTP/1.1\r\nHost: h\r\n\r\n",
        b"GET /api/v1/openapi.json HTTP/1.0\r\nAuthorization: Bearer {KEY}\r\n\r\n",
        b"GET /api/v1/reports/pii.csv HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer {KEY}\r\nConnection: close\r\n\r\n",
        b"DELETE /api/v1/specs/999999 HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer {KEY}\r\n\r\n",
    ]


HEAD_TOKENS = [b"%ED%A0%80", b"%00", b"%C0%AF", b"%", b"%zz", b"\xb2", b"\x00", b"\xff", b"\r\n", b"\n", b"?a=1&a=2",
               b"Content-Length: 5\r\n", b"Content-Length: \xb2\r\n", b"Transfer-Encoding: chunked\r\n",
               b"Transfer-Encoding: gzip, chunked\r\n", b"Authorization: Bearer {KEY}\r\n", b"Authorization: Basic x\r\n",
               b"X-API-Key: apc_0000\r\n", b"Expect: 100-continue\r\n", b"Connection: upgrade\r\nUpgrade: h2c\r\n",
               b"cursor=%ED%A0%80", b"seen_since=2001-02-30T00:00:00Z", b"seen_before=0000-01-01", b"limit=2147483648",
               b"sort=-\xb2", b"q=" + b"a" * 9000, b"Host: \r\n", b"Host: a\r\nHost: b\r\n", b"\t", b" ", b"HTTP/1.1"]


def _head_case(rng: random.Random, index: int) -> Case:
    message = rng.choice(_api_requests(rng))
    choice = rng.randrange(10)
    if choice < 5:
        mutation = "bytes"
        buf = bytearray(message)
        for _ in range(rng.randrange(1, 8)):
            at = rng.randrange(len(buf) + 1)
            if rng.random() < 0.5:
                buf[at:at] = rng.choice(HEAD_TOKENS + TOKENS)
            else:
                buf = bytearray(mutate_bytes(rng, bytes(buf), 1))
        message = bytes(buf)
    elif choice < 7:
        mutation = "special"
        message = special_head(rng, message)
    elif choice == 7:
        mutation = "framing"
        end = message.find(b"\r\n\r\n")
        extra = rng.choice((b"Content-Length: 3\r\nContent-Length: 4", b"Content-Length: 4\r\nTransfer-Encoding: chunked",
                            b"Content-Length: 99999999999999999999", b"Content-Length: -1", b"Content-Length: \xb2\xb3",
                            b"Transfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\n", b"Content-Length: 1_0"))
        message = message[:end] + b"\r\n" + extra + message[end:] if end >= 0 else message
    elif choice == 8:
        mutation = "line"
        message = rng.choice((b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", b"GET http://evil.example/api/v1/endpoints HTTP/1.1\r\n\r\n",
                              b"GET /" + b"a/" * 40_000 + b" HTTP/1.1\r\n\r\n", b"\r\n\r\n\r\n", b"GET\r\n\r\n",
                              b"G\x00T / HTTP/1.1\r\n\r\n", b"GET /api/v1/endpoints HTTP/9.9\r\n\r\n",
                              b"GET /api/v1/endpoints?" + b"&".join(b"x%d=1" % i for i in range(5000)) + b" HTTP/1.1\r\nHost: h\r\n\r\n",
                              b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(40)))
    else:
        mutation = "query"
        value = rng.choice((b"%ED%A0%80", b"%00", b"2001-02-30", b"0000-01-01T00:00:00Z", b"2000-01-01T00:00:00%2B16:00",
                            b"9" * 5000, b"-1", b"%FF%FE", b"\xb2", b"eyJ" + b"A" * 3000, b"%5B" * 2000))
        name = rng.choice((b"cursor", b"seen_since", b"seen_before", b"limit", b"sort", b"q", b"service_id", b"method",
                           b"pii_type", b"unauthenticated"))
        path = rng.choice((b"/api/v1/endpoints", b"/api/v1/services", b"/api/v1/findings", b"/api/v1/specs"))
        message = b"GET %s?%s=%s HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer {KEY}\r\n\r\n" % (path, name, value)
    return Case(index, "head", mutation, message, keyed=rng.random() < 0.9)


# -- the service under test ---------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def fresh_database() -> Iterator[str]:
    import psycopg2
    from sqlalchemy.engine import make_url

    admin = make_url(ADMIN_URL)
    name = f"apicensus_fuzz_{uuid.uuid4().hex[:10]}"
    conn = psycopg2.connect(host=admin.host or "127.0.0.1", port=admin.port or 5432, user=admin.username or "postgres",
                            password=admin.password, dbname=admin.database or "postgres", connect_timeout=5)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    try:
        yield admin.set(drivername="postgresql+psycopg2", database=name).render_as_string(hide_password=False)
    finally:
        with conn.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.close()


def make_keys(url: str) -> dict[str, str]:
    """An admin and a sensor key, through the real CRUD (the schema is serve's: it migrates first)."""
    from analyzer.db.session import make_engine, make_session_factory
    from inventory_api import crud
    from inventory_api.schemas import ApiKeyCreate
    from inventory_api.security import Role

    engine = make_engine(url)
    keys = {}
    with make_session_factory(engine)() as session:
        for role in (Role.ADMIN, Role.SENSOR):
            _row, keys[role.value] = crud.create_api_key(session=session, key_in=ApiKeyCreate(role=role, name="fuzz"))
    engine.dispose()
    return keys


class RssWatch:
    """Peak RSS (``VmHWM``) of a process and every descendant, sampled while it runs."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peaks: dict[int, tuple[str, float]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _tree(self) -> list[int]:
        out, todo = [], [self.pid]
        while todo:
            pid = todo.pop()
            out.append(pid)
            with contextlib.suppress(OSError):
                for task in Path(f"/proc/{pid}/task").iterdir():
                    todo.extend(int(c) for c in (task / "children").read_text().split())
        return out

    def sample(self) -> None:
        for pid in self._tree():
            with contextlib.suppress(OSError, ValueError, IndexError):
                status = Path(f"/proc/{pid}/status").read_text()
                hwm = next(line for line in status.splitlines() if line.startswith("VmHWM:"))
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
                role = "ingest child" if b"multiprocessing" in cmd and pid != self.pid else "serve"
                mb = int(hwm.split()[1]) / 1024
                self.peaks[pid] = (role, max(mb, self.peaks.get(pid, (role, 0.0))[1]))

    def _run(self) -> None:
        while not self._stop.wait(0.25):
            self.sample()

    def __enter__(self) -> RssWatch:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.sample()
        self._stop.set()
        self._thread.join()

    def peak(self, role: str) -> float:
        return max((mb for r, mb in self.peaks.values() if r == role), default=0.0)


@contextlib.contextmanager
def serving(url: str, log: Path, workers: int = 1, env: dict[str, str] | None = None
            ) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A real ``apicensus serve`` (stderr, every process's log, to ``log``), terminated after."""
    import httpx

    port = _free_port()
    with log.open("wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "apicensus_cli", "serve", "--db", url, "--bind", f"127.0.0.1:{port}",
             "--log-level", "warning", "--workers", str(workers), "--head-timeout", str(HEAD_TIMEOUT),
             "--body-timeout", str(BODY_TIMEOUT)],
            cwd=REPO, env={**os.environ, **(env or {})}, stdout=subprocess.DEVNULL, stderr=err,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{base}/health", timeout=1)
                break
            except httpx.TransportError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("apicensus serve did not start:\n" + log.read_text()[-2000:]) from None
                time.sleep(0.1)
        yield base, proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


# -- running cases ------------------------------------------------------------------------------


def _status_of(head: bytes) -> int | None:
    parts = head.split(b" ", 2)
    if len(parts) >= 2 and parts[0].startswith(b"HTTP/") and parts[1].isdigit() and parts[1].isascii():
        return int(parts[1])
    return None


def send_raw(port: int, message: bytes, timeout: float) -> tuple[str, int | None, bytes]:
    """``message`` on a new connection: ("answered", status, head), ("closed", None, b"") when the
    service closed without an answer, ("hang", None, b"") when neither happened within ``timeout``."""
    deadline = time.monotonic() + timeout
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        with contextlib.suppress(OSError):  # the service may answer and close before all is sent
            sock.sendall(message)
        got = b""
        while b"\r\n\r\n" not in got:
            left = deadline - time.monotonic()
            if left <= 0:
                return "hang", None, got[:200]
            sock.settimeout(left)
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                return "hang", None, got[:200]
            except OSError:
                chunk = b""
            if not chunk:
                break
            got += chunk
    status = _status_of(got)
    return ("answered", status, got[:300]) if status is not None else ("closed", None, got[:200])


def send_batch(port: int, case: Case, key: str, timeout: float) -> tuple[str, int | None, bytes]:
    head = (b"POST /api/v1/ingest HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n"
            b"Content-Type: application/x-ndjson\r\nContent-Length: %d\r\nConnection: close\r\n"
            % (key.encode(), len(case.payload)))
    if case.encoding:
        head += b"Content-Encoding: " + case.encoding.encode("latin-1") + b"\r\n"
    return send_raw(port, head + b"\r\n" + case.payload, timeout)


def run_case(case: Case, port: int, keys: dict[str, str]) -> dict[str, Any]:
    started, wall = time.perf_counter(), time.time()
    if case.kind == "batch":
        outcome, status, head = send_batch(port, case, keys["sensor"], timeout=BATCH_HANG)
    else:
        message = case.payload.replace(b"{KEY}", keys["admin"].encode() if case.keyed else b"apc_wrong")
        message = message.replace(b"{SENSOR}", keys["sensor"].encode())
        outcome, status, head = send_raw(port, message, timeout=max(HEAD_TIMEOUT, BODY_TIMEOUT) + HANG_MARGIN)
    return {"index": case.index, "kind": case.kind, "mutation": case.mutation, "outcome": outcome,
            "status": status, "head": head, "seconds": time.perf_counter() - started, "span": (wall, time.time())}


@dataclass
class Summary:
    cases: int = 0
    statuses: dict[str, Counter[str]] = field(default_factory=lambda: {"batch": Counter(), "head": Counter()})
    mutations: Counter[str] = field(default_factory=Counter)
    server_errors: list[int] = field(default_factory=list)
    hangs: list[int] = field(default_factory=list)
    tracebacks: int = 0
    error_lines: int = 0
    first_traceback: str = ""
    first_5xx: str = ""
    health_after: bool = False
    clean_batch_after: bool = False
    slowest: tuple[float, int] = (0.0, -1)
    serve_rss_mb: float = 0.0
    ingest_rss_mb: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)
    timings: list[tuple[float, int, str]] = field(default_factory=list)  # (seconds, case, kind:mutation)
    spans: list[tuple[float, float, int]] = field(default_factory=list)  # (wall start, end, case)
    error_kinds: Counter[str] = field(default_factory=Counter)
    error_cases: set[int] = field(default_factory=set)

    def clean(self) -> bool:
        return (not self.server_errors and not self.hangs and not self.tracebacks and not self.error_lines
                and self.health_after and self.clean_batch_after)


def _count(summary: Summary, r: dict[str, Any]) -> None:
    summary.cases += 1
    summary.mutations[f"{r['kind']}:{r['mutation']}"] += 1
    label = str(r["status"]) if r["outcome"] == "answered" else r["outcome"]
    summary.statuses[r["kind"]][label] += 1
    if r["outcome"] == "hang":
        summary.hangs.append(r["index"])
    if r["status"] is not None and r["status"] >= 500:
        summary.server_errors.append(r["index"])
        summary.first_5xx = summary.first_5xx or f"case {r['index']}: {r['head'][:200]!r}"
    summary.timings.append((r["seconds"], r["index"], f"{r['kind']}:{r['mutation']}"))
    summary.spans.append((*r["span"], r["index"]))
    if r["seconds"] > summary.slowest[0]:
        summary.slowest = (r["seconds"], r["index"])


def _scan_log(summary: Summary, log: Path) -> None:
    """Tracebacks and error lines in the service's log; each error's kind (message and exception
    line) counted, and the cases in flight at its time named (``ts`` against each case's span)."""
    import json
    from datetime import datetime

    text = log.read_text(errors="replace")
    summary.tracebacks = text.count("Traceback (most recent call last)")
    lines = [line for line in text.splitlines() if '"level":"error"' in line or '"level":"critical"' in line]
    summary.error_lines = len(lines)
    for line in lines:
        try:
            entry = json.loads(line)
            at = datetime.strptime(entry["ts"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC).timestamp()
        except (ValueError, KeyError):
            summary.error_kinds[line[:200]] += 1
            continue
        error = str(entry.get("error", "")).strip().splitlines()
        summary.error_kinds[f"{entry.get('msg', '').strip()} | {error[-1] if error else ''}"[:300]] += 1
        summary.error_cases.update(i for t0, t1, i in summary.spans if t0 - 0.05 <= at <= t1 + 0.05)
    if summary.tracebacks or lines:
        at = text.find("Traceback (most recent call last)")
        summary.first_traceback = (text[max(0, at - 300) : at + 3000] if at >= 0 else lines[0])[:3000]


def _clean_batch_taken(base: str, keys: dict[str, str]) -> bool:
    """After the fuzz: a clean batch of new records is taken whole, and sent again counts as
    duplicates (bad input lost nothing else, and the service still counts right)."""
    import httpx
    import orjson

    records = [dict(r, uid=f"after-{uuid.uuid4().hex}") for r in seed_records()[:10]]
    payload = _zstd(b"\n".join(orjson.dumps(r) for r in records) + b"\n")
    headers = {"Authorization": f"Bearer {keys['sensor']}", "Content-Encoding": "zstd"}
    first = httpx.post(f"{base}/api/v1/ingest", content=payload, headers=headers, timeout=60)
    again = httpx.post(f"{base}/api/v1/ingest", content=payload, headers=headers, timeout=60)
    return (first.status_code == again.status_code == 200 and first.json()["new"] == len(records)
            and again.json()["duplicates"] == len(records))


def fuzz(seed: int, cases: int, *, workers: int = 1, concurrency: int = 2, start: int = 0,
         env: dict[str, str] | None = None) -> Summary:
    """``cases`` cases against a fresh service on a fresh database, ``concurrency`` at a time."""
    import tempfile

    summary = Summary()
    seed_records()
    started = time.monotonic()
    with fresh_database() as url, tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "serve.log"
        with serving(url, log, workers, env) as (base, proc), RssWatch(proc.pid) as rss:
            keys = make_keys(url)
            port = int(base.rsplit(":", 1)[1])
            summary.extra["startup_s"] = time.monotonic() - started
            plan = (make_case(seed, i, tag=uuid.uuid4().hex[:6]) for i in range(start, start + cases))
            with ThreadPoolExecutor(concurrency) as pool:
                for result in pool.map(lambda c: run_case(c, port, keys), plan):
                    _count(summary, result)
            import httpx

            summary.health_after = httpx.get(f"{base}/health", timeout=10).status_code == 200
            summary.clean_batch_after = _clean_batch_taken(base, keys)
            rss.sample()
            summary.serve_rss_mb, summary.ingest_rss_mb = rss.peak("serve"), rss.peak("ingest child")
        _scan_log(summary, log)
    summary.extra["elapsed_s"] = time.monotonic() - started
    return summary


def report(summary: Summary, seed: int) -> str:
    def cases_of(found: list[int]) -> str:
        return f"{len(found)}" + (f" (cases {', '.join(map(str, sorted(found)[:8]))})" if found else "")

    kinds = ("batch", "head")
    labels = sorted({k for c in summary.statuses.values() for k in c}, key=lambda s: (not s.isdigit(), s))
    lines = [f"seed {seed}: {summary.cases:,} cases in {summary.extra.get('elapsed_s', 0):.1f}s "
             f"(service up in {summary.extra.get('startup_s', 0):.1f}s)",
             f"{'answer':<12}" + "".join(f"{k:>10}" for k in kinds)]
    for label in labels:
        lines.append(f"{label:<12}" + "".join(f"{summary.statuses[k][label]:>10,}" for k in kinds))
    lines.append(f"{'total':<12}" + "".join(f"{sum(summary.statuses[k].values()):>10,}" for k in kinds))
    lines += [
        f"5xx answers:            {cases_of(summary.server_errors)}",
        f"hangs:                  {cases_of(summary.hangs)}",
        f"tracebacks in the log:  {summary.tracebacks} (error lines {summary.error_lines})",
        f"health after:           {'200' if summary.health_after else 'FAILED'}",
        f"clean batch after:      {'taken whole' if summary.clean_batch_after else 'NOT taken'}",
        f"slowest case:           {summary.slowest[0]:.2f}s (case {summary.slowest[1]})",
        f"peak RSS (VmHWM):       serve {summary.serve_rss_mb:.0f} MB, ingest child {summary.ingest_rss_mb:.0f} MB",
        f"verdict:                {'clean' if summary.clean() else 'FINDINGS'}",
    ]
    for kind, count in summary.error_kinds.most_common(6):
        lines.append(f"  {count:>5} x {kind}")
    if summary.error_cases:
        lines.append(f"cases in flight at those errors: {', '.join(map(str, sorted(summary.error_cases)[:20]))}")
    if summary.first_5xx:
        lines.append("first 5xx: " + summary.first_5xx)
    if summary.first_traceback:
        lines.append("first traceback:\n" + summary.first_traceback)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--workers", type=int, default=1, help="apicensus serve --workers")
    parser.add_argument("--concurrency", type=int, default=4, help="cases in flight at a time")
    parser.add_argument("--rss-mb", type=float, default=1024.0, help="bound on each process's peak RSS")
    parser.add_argument("--replay", type=int, metavar="N", help="run case N alone, verbosely")
    args = parser.parse_args(argv)
    if args.replay is not None:
        case = make_case(args.seed, args.replay)
        print(case.describe())
        print(repr(case.payload[:600]))
        summary = fuzz(args.seed, 1, start=args.replay, concurrency=1)
    else:
        summary = fuzz(args.seed, args.cases, workers=args.workers, concurrency=args.concurrency)
    print(report(summary, args.seed))
    bounded = max(summary.serve_rss_mb, summary.ingest_rss_mb) < args.rss_mb
    if not bounded:
        print(f"peak RSS over the {args.rss_mb:g} MB bound")
    return 0 if summary.clean() and bounded else 1


if __name__ == "__main__":
    sys.exit(main())
