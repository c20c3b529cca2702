"""Detection engine CPU per exchange, two source trees side by side, and whether they agree.

The exchanges are the pipeline's own: ``apicensus analyze CAPTURE`` is run once in-process
(SQLite, PII on) with ``DetectionEngine.feed`` wrapped to record every ``DetectExchange`` it is
given; the list is pickled next to the capture (``CAPTURE.detect.pickle``) and reused. (Or
``--threat-bench SEED``: the labelled traffic of ``bench/threat_bench.py``.) Then, for each tree
(``--tree``, default this one and ``--base``), interleaved ``--repeat`` times, a fresh
subprocess imports that tree's engine, feeds every exchange in stream order (cyclic GC paused,
as the pipeline's detect stage runs), drains every 1,000 exchanges (a batch), closes, and
reports:

* feeding CPU (``time.process_time``) per exchange -- best of the repeats;
* the batch work the pipeline does after feeding: ``actors(seen_since=)``,
  ``data_flows(seen_since=)`` and ``state()`` at the end;
* a fingerprint (sha256) of everything the engine handed out: drained events, listed actors and
  flows, and the final state. Equal fingerprints = identical results.

    .venv/bin/python -m bench.detect_engine_cpu --capture /tmp/as/capture.pcap --base /tmp/base-tree
    .venv/bin/python -m bench.detect_engine_cpu --threat-bench 1 --base /tmp/base-tree --repeat 5

``--base`` is a plain export of another commit (``git archive COMMIT | tar -x -C DIR``).
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BATCH = 1000

# Run in a subprocess with the tree under test first on sys.path.
_CHILD = r"""
import gc, hashlib, pickle, sys, time, json
import orjson
from analyzer.detect.engine import DetectionEngine
from analyzer.detect.settings import DetectSettings

xs = pickle.loads(open(sys.argv[1], "rb").read())
batch = int(sys.argv[2])
engine = DetectionEngine(DetectSettings(secret=b"detect-engine-cpu-bench"))
digest = hashlib.sha256()
feed = listing = 0.0
gc.collect()
gc.disable()
for start in range(0, len(xs), batch):
    chunk = xs[start:start + batch]
    t0 = time.process_time()
    for x in chunk:
        engine.feed(x)
    t1 = time.process_time()
    events = engine.drain()
    oldest = min(x.ts for x in chunk)
    touched = {e.actor.key or f"ip:{e.actor.ip}" for e in events}
    actors = engine.actors(seen_since=oldest, keys=touched)
    flows = engine.data_flows(seen_since=oldest)
    t2 = time.process_time()
    feed += t1 - t0
    listing += t2 - t1
    for e in events:
        digest.update(orjson.dumps(e.to_json()))
    for row in sorted(actors, key=lambda a: a.key):
        digest.update(repr(row).encode())
    for row in sorted(flows, key=lambda f: (f.actor_key, f.host, f.path_template, f.pii_type)):
        digest.update(repr(row).encode())
t0 = time.process_time()
engine.close()
events = engine.drain()
t1 = time.process_time()
blob = engine.state()
t2 = time.process_time()
for e in events:
    digest.update(orjson.dumps(e.to_json()))
gc.enable()
print(json.dumps({
    "n": len(xs), "feed": feed, "listing": listing, "close": t1 - t0, "state": t2 - t1,
    "state_bytes": len(blob), "outputs": digest.hexdigest()[:16],
    "state_sha": hashlib.sha256(blob).hexdigest()[:16], "events": len(engine.events()),
    "errors": engine.stats["errors"],
}))
"""


def record_capture(capture: Path) -> Path:
    """The DetectExchanges the pipeline feeds for ``capture`` (recorded once, then cached)."""
    cache = capture.with_suffix(capture.suffix + ".detect.pickle")
    if cache.exists() and cache.stat().st_mtime >= capture.stat().st_mtime:
        return cache
    sys.path.insert(0, str(REPO))
    import apicensus_cli
    from analyzer.pipeline import detect, detect_worker

    # apicensus analyze feeds the engine in a forked worker, out of reach of a wrapper there:
    # record the exchange fields where the main process builds them (for the worker or the
    # in-process stage alike), and build the DetectExchanges from them as the engine gets them.
    recorded: list[object] = []
    original = detect.batch_fields

    def recording_batch_fields(batch: object) -> tuple[list[detect.ExchangeFields], int]:
        fields, failed = original(batch)  # type: ignore[arg-type]
        recorded.extend(map(detect.from_fields, fields))
        return fields, failed

    for module in (detect, detect_worker):
        setattr(module, "batch_fields", recording_batch_fields)  # noqa: B010 - patched for the run
    with tempfile.TemporaryDirectory(prefix="detect-engine-cpu-") as work:
        os.environ.setdefault("APICENSUS_DETECT_SECRET", "detect-engine-cpu-bench")
        rc = apicensus_cli.main(["analyze", str(capture), "--db", f"sqlite:///{work}/inv.db", "--no-progress"])
    for module in (detect, detect_worker):
        setattr(module, "batch_fields", original)  # noqa: B010
    if rc != 0 or not recorded:
        raise SystemExit(f"analyze of {capture} failed (exit {rc}, {len(recorded)} exchanges recorded)")
    cache.write_bytes(pickle.dumps(recorded, protocol=pickle.HIGHEST_PROTOCOL))
    return cache


def record_threat_bench(seed: int, users: int, work: Path) -> Path:
    sys.path.insert(0, str(REPO))
    from bench.attacks.gen import generate

    path = work / f"threat-bench-{seed}.pickle"
    path.write_bytes(pickle.dumps(generate(seed, users).exchanges, protocol=pickle.HIGHEST_PROTOCOL))
    return path


def run_tree(tree: Path, exchanges: Path) -> dict[str, float | str | int]:
    env = dict(os.environ, PYTHONPATH=str(tree))
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, str(exchanges), str(BATCH)], cwd=tree, env=env, capture_output=True, text=True
    )
    if out.returncode != 0:
        raise SystemExit(f"engine run in {tree} failed:\n{out.stderr[-2000:]}")
    result: dict[str, float | str | int] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    source = ap.add_mutually_exclusive_group(required=True)
    source.add_argument("--capture", type=Path, help="a pcap: the exchanges apicensus analyze feeds for it")
    source.add_argument("--threat-bench", type=int, metavar="SEED", help="bench/threat_bench.py's traffic")
    ap.add_argument("--users", type=int, default=160)
    ap.add_argument("--base", type=Path, action="append", default=[], help="another source tree to compare")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    trees = [*args.base, REPO]
    with tempfile.TemporaryDirectory(prefix="detect-engine-cpu-") as work:
        exchanges = record_capture(args.capture) if args.capture else record_threat_bench(args.threat_bench, args.users, Path(work))
        runs: dict[Path, list[dict[str, float | str | int]]] = {t: [] for t in trees}
        for _ in range(args.repeat):
            for tree in trees:
                runs[tree].append(run_tree(tree, exchanges))
    n = int(runs[REPO][0]["n"])
    print(f"{n:,} exchanges ({args.capture or f'threat bench seed {args.threat_bench}'}); CPU, best of {args.repeat}")
    print(f"{'tree':<28}{'feed us/x':>10}{'all feeds':>22}{'list s':>8}{'state s':>8}{'state KB':>9}  outputs / state")
    for tree in trees:
        rs = runs[tree]
        feeds = sorted(float(r["feed"]) / n * 1e6 for r in rs)
        best = min(rs, key=lambda r: float(r["feed"]))
        print(
            f"{str(tree)[-28:]:<28}{feeds[0]:>10.1f}{' '.join(f'{f:.0f}' for f in feeds):>22}"
            f"{min(float(r['listing']) for r in rs):>8.2f}{min(float(r['state']) for r in rs):>8.2f}"
            f"{int(best['state_bytes']) / 1024:>9.0f}  {best['outputs']} / {best['state_sha']}"
            f" ({best['events']} events, {best['errors']} errors)"
        )
    fingerprints = {str(r["outputs"]) for rs in runs.values() for r in rs}
    print("outputs identical across trees" if len(fingerprints) == 1 else "OUTPUTS DIFFER between trees")
    return 0 if len(fingerprints) == 1 else 1


if __name__ == "__main__":
    sys.exit(main())
