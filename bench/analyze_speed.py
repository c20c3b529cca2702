"""Analyzer speed benchmark: ``apicensus analyze`` into PostgreSQL (PII on) against tshark.

Floor (issue): ``apicensus analyze CAPTURE`` for a ~20,000-exchange capture, into PostgreSQL
with PII detection, takes at most 1.5x the time of
``tshark -r CAPTURE -Y http -T fields -e http.host -e http.request.uri -e http.response.code``.

Steps, each timed as a subprocess (wall clock, and CPU = user + system of the process and its
children from ``os.wait4``), best of ``--repeat``, tools interleaved so background load hits
them alike:

1. build the capture with ``devtools.synth.generate_api_traffic`` (or reuse ``--capture``);
   without the synth module, fall back to a JSONL of generated records (no pcap/tshark rows);
2. ``apicensus sensor --pcap CAPTURE --output CAPTURE.jsonl``;
3. ``apicensus analyze CAPTURE.jsonl --db postgresql://...`` into a fresh database;
4. ``apicensus analyze CAPTURE --db postgresql://...`` into a fresh database;
5. the tshark command above.

Prints exchanges/s for each and the ratio of (4) to (5) against the 1.5x floor. Exit status 0
when the floor is met (by wall clock, or by CPU time with ``--judge cpu``, which barely moves
when the two cores are shared with other work), 1 when not, 2 when something could not run.

    .venv/bin/python bench/analyze_speed.py
    .venv/bin/python bench/analyze_speed.py --exchanges 20000 --repeat 3 --keep bench/out
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(REPO))

FLOOR = 1.5
TSHARK = "/usr/bin/tshark"
PG_ADMIN = os.environ.get("APICENSUS_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


@dataclass
class Timing:
    wall: float = float("inf")
    cpu: float = float("inf")

    def keep_best(self, wall: float, cpu: float) -> None:
        self.wall = min(self.wall, wall)
        self.cpu = min(self.cpu, cpu)


def run_timed(cmd: Sequence[str], *, stdout: int | None = subprocess.DEVNULL) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds incl. children, exit status) of one subprocess."""
    started = time.perf_counter()
    proc = subprocess.Popen(list(cmd), stdout=stdout, stderr=subprocess.PIPE, cwd=REPO)
    assert proc.stderr is not None
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        sys.stderr.write(
            f"  ! {' '.join(cmd[:4])}... exited {proc.returncode}: {err.decode(errors='replace')[-500:]}\n"
        )
    return wall, usage.ru_utime + usage.ru_stime, proc.returncode


def fresh_database() -> tuple[str, str]:
    import psycopg2
    from sqlalchemy.engine import make_url

    admin = make_url(PG_ADMIN)
    name = f"apicensus_bench_{uuid.uuid4().hex[:10]}"
    conn = psycopg2.connect(
        host=admin.host,
        port=admin.port or 5432,
        user=admin.username,
        password=admin.password,
        dbname=admin.database,
    )
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    conn.close()
    return name, admin.set(drivername="postgresql+psycopg2", database=name).render_as_string(
        hide_password=False
    )


def drop_database(name: str) -> None:
    import psycopg2
    from sqlalchemy.engine import make_url

    admin = make_url(PG_ADMIN)
    conn = psycopg2.connect(
        host=admin.host,
        port=admin.port or 5432,
        user=admin.username,
        password=admin.password,
        dbname=admin.database,
    )
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    conn.close()


def fallback_jsonl(path: Path, exchanges: int) -> None:
    """Realistic records without the synth module: a few hosts, ids, JSON bodies with PII."""
    import random

    import orjson

    rng = random.Random(7)
    hosts = ["api.shop.example", "users.corp.example", "payments.example.com"]
    with path.open("wb") as fh:
        for i in range(exchanges):
            uid = 1000 + rng.randrange(5000)
            body = orjson.dumps(
                {"id": uid, "email": f"user{uid}@mail.example.org", "items": [{"sku": "A", "qty": 1}]}
            )
            record = {
                "schema": 1,
                "uid": f"B{i:08d}",
                "ts": 1_700_000_000 + i * 0.05,
                "client": f"10.0.{i % 50}.1:40000",
                "server": "192.0.2.10:80",
                "method": "GET",
                "host": rng.choice(hosts),
                "target": f"/v1/users/{uid}?limit=10",
                "version": "1.1",
                "status": 200,
                "request_headers": [["Authorization", "Bearer t"]],
                "response_headers": [["Content-Type", "application/json"]],
                "request_body": {"data": "", "b64": False, "captured": 0, "length": 0},
                "response_body": {
                    "data": body.decode(),
                    "b64": False,
                    "captured": len(body),
                    "length": len(body),
                },
            }
            fh.write(orjson.dumps(record) + b"\n")


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--exchanges", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=20_24)
    ap.add_argument("--capture", type=Path, help="use this pcap instead of generating one")
    ap.add_argument("--repeat", type=int, default=1, help="best of N runs per tool")
    ap.add_argument("--keep", type=Path, help="keep the capture and JSONL in this directory")
    ap.add_argument("--judge", choices=["wall", "cpu"], default="wall")
    ap.add_argument("--no-pii", action="store_true", help="analyze with --no-pii (the floor is with PII)")
    args = ap.parse_args(argv)

    workdir = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="apicensus-analyze-speed-"))
    workdir.mkdir(parents=True, exist_ok=True)
    apicensus = [sys.executable, "-m", "apicensus_cli"]
    capture: Path | None = args.capture
    jsonl = workdir / "capture.jsonl"
    try:
        if capture is None:
            try:
                from devtools.synth import generate_api_traffic
            except ImportError:
                print("devtools.synth not available: generating JSONL directly (no capture / tshark rows)")
                fallback_jsonl(jsonl, args.exchanges)
            else:
                capture = workdir / "capture.pcap"
                t = time.perf_counter()
                generate_api_traffic(str(capture), exchanges=args.exchanges, seed=args.seed)
                print(
                    f"capture: {capture} ({capture.stat().st_size / 1e6:.1f} MB, {time.perf_counter() - t:.1f}s to build)"
                )
        results: dict[str, Timing] = {}
        if capture is not None:
            wall, cpu, rc = run_timed([*apicensus, "sensor", "--pcap", str(capture), "--output", str(jsonl)])
            if rc != 0:
                return 2
            results["sensor -> JSONL"] = Timing(wall, cpu)
        with jsonl.open("rb") as fh:
            exchanges = sum(1 for line in fh if line.strip())
        print(f"exchanges: {exchanges:,}")
        pii = ["--no-pii"] if args.no_pii else []
        tshark_ok = capture is not None and shutil.which(TSHARK) is not None
        if capture is not None and not tshark_ok:
            print(f"{TSHARK} not found: tshark row skipped")
        for _ in range(args.repeat):
            for label, source in (("analyze JSONL", jsonl), ("analyze capture", capture)):
                if source is None:
                    continue
                name, url = fresh_database()
                try:
                    wall, cpu, rc = run_timed([*apicensus, "analyze", str(source), "--db", url, *pii])
                finally:
                    drop_database(name)
                if rc != 0:
                    return 2
                results.setdefault(label, Timing()).keep_best(wall, cpu)
            if tshark_ok:
                cmd = [
                    TSHARK,
                    "-r",
                    str(capture),
                    "-Y",
                    "http",
                    "-T",
                    "fields",
                    "-e",
                    "http.host",
                    "-e",
                    "http.request.uri",
                    "-e",
                    "http.response.code",
                ]
                wall, cpu, rc = run_timed(cmd)
                results.setdefault("tshark", Timing()).keep_best(wall, cpu)

        print(f"\n{'step':<18} {'wall s':>8} {'cpu s':>8} {'exch/s wall':>12} {'exch/s cpu':>11}")
        for label, t in results.items():
            print(
                f"{label:<18} {t.wall:>8.2f} {t.cpu:>8.2f} {exchanges / t.wall:>12,.0f} {exchanges / t.cpu:>11,.0f}"
            )
        if "analyze capture" not in results or "tshark" not in results:
            print("\nfloor not measurable (needs a capture and tshark)")
            return 2
        ours, theirs = results["analyze capture"], results["tshark"]
        ratio_wall, ratio_cpu = ours.wall / theirs.wall, ours.cpu / theirs.cpu
        print(
            f"\nanalyze capture / tshark: {ratio_wall:.2f}x wall, {ratio_cpu:.2f}x cpu (floor: <= {FLOOR}x wall)"
        )
        ratio = ratio_cpu if args.judge == "cpu" else ratio_wall
        ok = ratio <= FLOOR
        print(f"{'PASS' if ok else 'FAIL'} ({args.judge}): {ratio:.2f}x vs {FLOOR}x")
        return 0 if ok else 1
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
