"""Where templating's inline time goes: observe()+match() on the template bench's traffic.

    .venv/bin/python bench/template_profile.py                 # us/request, with and without GC
    .venv/bin/python bench/template_profile.py --profile 30    # cProfile, top 30 by tottime

The traffic is generated once and pickled (``--cache``): generating it takes ~30 s, the runs a
few seconds each. Without the cyclic GC (full collections traverse every container the process
holds, the templater's state included) the inline cost was about half (22 vs 40 us/request on
2026-12-03): objects the templater keeps alive cost time on every request, not only memory.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import pickle
import pstats
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analyzer.templating import Templater  # noqa: E402
from bench.templating.gen import Request, generate  # noqa: E402

DRAIN_EVERY = 1000  # as bench/template_bench.py


def load(cache: Path, corpus: Path) -> list[Request]:
    if cache.exists():
        reqs: list[Request] = pickle.loads(cache.read_bytes())  # noqa: S301 - our own cache file
        return reqs
    reqs, _ = generate(corpus=corpus)
    cache.write_bytes(pickle.dumps(reqs))
    return reqs


def inline_us(reqs: list[Request], prof: cProfile.Profile | None = None) -> float:
    """CPU us per request of observe()+match(), drains untimed (as template_bench times it)."""
    t = Templater()
    clock, spent = time.process_time, 0.0
    for start in range(0, len(reqs), DRAIN_EVERY):
        chunk = reqs[start : start + DRAIN_EVERY]
        if prof is not None:
            prof.enable()
        t0 = clock()
        for r in chunk:
            t.observe(r.host, r.method, r.path, r.status, r.shape)
            t.match(r.host, r.method, r.path)
        spent += clock() - t0
        if prof is not None:
            prof.disable()
        t.drain_merges()
    return spent * 1e6 / len(reqs)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, default=Path("../shared/corpus"))
    ap.add_argument("--cache", type=Path, default=Path("/tmp/apicensus_template_traffic.pkl"))
    ap.add_argument("--repeat", type=int, default=3, help="best of N")
    ap.add_argument("--profile", type=int, metavar="N", help="print the top N functions by tottime")
    args = ap.parse_args()
    reqs = load(args.cache, args.corpus)
    if args.profile:
        prof = cProfile.Profile()
        inline_us(reqs, prof)
        pstats.Stats(prof).sort_stats("tottime").print_stats(args.profile)
        return 0
    with_gc = min(inline_us(reqs) for _ in range(args.repeat))
    gc.disable()
    try:
        without = min(inline_us(reqs) for _ in range(args.repeat))
    finally:
        gc.enable()
    print(
        f"observe+match: {with_gc:.1f} us/request; with the cyclic GC off: {without:.1f} (best of {args.repeat})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
