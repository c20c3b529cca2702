"""What threat detection costs ``apicensus analyze``: the same capture analysed with detection
on and with ``--no-detect``, into fresh PostgreSQL databases, PII on, CPU (process + children)
and wall clock of each, runs interleaved, best of ``--repeat``.

Budget (issue 11): detection adds at most 25% to ``bench/analyze_speed.py``'s time.

    .venv/bin/python bench/detect_cost.py                      # 20,000 exchanges, best of 1
    .venv/bin/python bench/detect_cost.py --capture x.pcap --repeat 2
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.analyze_speed import drop_database, fresh_database, run_timed  # noqa: E402

BUDGET = 0.25


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--exchanges", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=20_24)
    ap.add_argument("--capture", type=Path, help="use this pcap instead of generating one")
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="apicensus-detect-cost-"))
    try:
        capture = args.capture
        if capture is None:
            from devtools.synth import generate_api_traffic

            capture = work / "capture.pcap"
            generate_api_traffic(str(capture), exchanges=args.exchanges, seed=args.seed)
        cli = [sys.executable, "-m", "apicensus_cli", "analyze", str(capture), "--no-progress"]
        best: dict[str, tuple[float, float]] = {}
        for _ in range(args.repeat):
            for label, extra in (("without detection", ["--no-detect"]), ("with detection", [])):
                name, url = fresh_database()
                try:
                    wall, cpu, rc = run_timed([*cli, "--db", url, *extra])
                finally:
                    drop_database(name)
                if rc != 0:
                    print(f"analyze {label} failed (exit {rc})")
                    return 2
                old = best.get(label)
                best[label] = (min(wall, old[0]) if old else wall, min(cpu, old[1]) if old else cpu)
        off, on = best["without detection"], best["with detection"]
        print(f"capture: {capture} (PostgreSQL, PII on, best of {args.repeat})")
        print(f"{'':<20} {'wall s':>8} {'CPU s':>8}")
        for label in ("without detection", "with detection"):
            print(f"{label:<20} {best[label][0]:>8.2f} {best[label][1]:>8.2f}")
        wall_ratio, cpu_ratio = on[0] / off[0] - 1, on[1] / off[1] - 1
        print(f"detection adds {wall_ratio:+.0%} wall, {cpu_ratio:+.0%} CPU (budget +{BUDGET:.0%})")
        return 0 if min(wall_ratio, cpu_ratio) <= BUDGET else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
