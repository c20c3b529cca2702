"""Throughput of the distributed path: sensor -> NATS JetStream -> N analyzers -> PostgreSQL.

For each N (default 1 and 2): a fresh PostgreSQL database and a fresh JetStream stream; N
``apicensus analyzer`` processes are started and waited for (until each logs "consuming"), then
the clock starts, ``apicensus sensor --pcap CAPTURE --ship nats://...`` ships the capture, and the
clock stops when the last batch is applied (``stream_progress`` reaches the last sequence). The
rate printed is exchanges per second end to end; the sensor's own shipping time is printed too.
Afterwards the exports of every N are compared: they must be the same inventory.

Needs NATS with JetStream (default nats://127.0.0.1:4222) and PostgreSQL (trust auth).

    .venv/bin/python bench/pipeline_scale.py [--exchanges 20000] [--workers 1 2] [--no-pii]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from analyze_speed import drop_database, fresh_database  # bench/ is on sys.path when run as a script
from sqlalchemy import create_engine, text

REPO = Path(__file__).resolve().parents[1]
APICENSUS = [sys.executable, "-m", "apicensus_cli"]


def applied(db: str) -> int:
    engine = create_engine(db)
    try:
        with engine.connect() as conn:
            return int(
                conn.execute(text("SELECT coalesce(max(last_seq), 0) FROM stream_progress")).scalar() or 0
            )
    except Exception:  # noqa: BLE001 - not migrated yet
        return 0
    finally:
        engine.dispose()


def run_once(capture: Path, n: int, args: argparse.Namespace, workdir: Path) -> dict[str, float]:
    stream = f"bench{uuid.uuid4().hex[:8]}"
    db_name, db = fresh_database()  # the same throwaway databases as bench/analyze_speed.py
    env = {**os.environ, "PYTHONPATH": str(REPO), "APICENSUS_LOG_FORMAT": "json"}
    procs: list[subprocess.Popen[bytes]] = []
    logs: list[Path] = []
    try:
        subprocess.run([*APICENSUS, "migrate", "--db", db], check=True, env=env, capture_output=True)
        for i in range(n):
            log = workdir / f"analyzer-{n}-{i}.log"
            logs.append(log)
            cmd = [*APICENSUS, "analyzer", "--from", args.nats, "--stream", stream, "--db", db]
            if args.no_pii:
                cmd.append("--no-pii")
            procs.append(subprocess.Popen(cmd, stdout=log.open("wb"), stderr=subprocess.STDOUT, env=env))
        deadline = time.monotonic() + 60
        while not all('"consuming"' in p.read_text() for p in logs):
            if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                raise SystemExit(
                    "analyzers did not start:\n" + "\n".join(p.read_text()[-2000:] for p in logs)
                )
            time.sleep(0.1)
        time.sleep(1.0)  # PII detectors load after "consuming" on the first batch; give them a head start
        batches = -(-args.exchanges // args.batch)
        started = time.monotonic()
        sensor = subprocess.run(
            [
                *APICENSUS,
                "sensor",
                "--pcap",
                str(capture),
                "--ship",
                args.nats,
                "--stream",
                stream,
                "--ship-batch",
                str(args.batch),
                "--spool-dir",
                str(workdir / f"spool-{n}"),
            ],
            env=env,
            capture_output=True,
            check=True,
        )
        shipped = time.monotonic() - started
        while applied(db) < batches:
            if any(p.poll() is not None for p in procs):
                raise SystemExit("an analyzer died:\n" + "\n".join(p.read_text()[-2000:] for p in logs))
            time.sleep(0.05)
        total = time.monotonic() - started
        del sensor
        export = subprocess.run(
            [*APICENSUS, "export", "--db", db], env=env, capture_output=True, check=True
        ).stdout
        (workdir / f"export-{n}.json").write_bytes(export)
        return {"seconds": total, "rate": args.exchanges / total, "sensor_seconds": shipped}
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
        drop_database(db_name)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--exchanges", type=int, default=20_000)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--batch", type=int, default=500, help="exchanges per shipped batch")
    ap.add_argument("--nats", default="nats://127.0.0.1:4222")
    ap.add_argument("--no-pii", action="store_true")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    from sensor.synth import generate_api_traffic

    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        workdir = Path(tmp)
        capture = workdir / "api.pcap"
        generate_api_traffic(str(capture), exchanges=args.exchanges, seed=args.seed)
        print(
            f"capture: {args.exchanges} exchanges, batches of {args.batch}; PII {'off' if args.no_pii else 'on'}; "
            f"{os.cpu_count()} cores"
        )
        results = {n: run_once(capture, n, args, workdir) for n in args.workers}
        base = results[args.workers[0]]["rate"]
        print(
            f"{'analyzers':>9}  {'exchanges/s':>11}  {'seconds':>8}  {'sensor ship s':>13}  {'vs N=' + str(args.workers[0]):>8}"
        )
        for n, r in results.items():
            print(
                f"{n:>9}  {r['rate']:>11,.0f}  {r['seconds']:>8.2f}  {r['sensor_seconds']:>13.2f}  {r['rate'] / base:>7.2f}x"
            )
        exports = {n: json.loads((workdir / f"export-{n}.json").read_text()) for n in args.workers}
        first = exports[args.workers[0]]

        def counts(doc: dict) -> list:
            return sorted((e["host"], e["method"], e["path_template"], e["hits"]) for e in doc["endpoints"])

        same = all(counts(doc) == counts(first) for doc in exports.values())
        print(f"same inventory (endpoints and hit counts) for every N: {'yes' if same else 'NO'}")
        return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
