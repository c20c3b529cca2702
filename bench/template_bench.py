"""Endpoint templating benchmark: realistic traffic from OpenAPI specs, scored against the truth.

    .venv/bin/python bench/template_bench.py            # traffic only (main number) and spec-guided
    .venv/bin/python bench/template_bench.py --mode traffic --examples

Feeds every generated request through Templater.observe() then match() (timed, CPU time: the
inline cost the analyzer pays), calling drain_merges() every 1000 requests as storage does and
flush() once at the end of the capture (timed separately), then asks match() once more for every request after the whole run (the final
inventory, which is what storage holds after re-homing merges) and scores that. Scoring is
defined in bench/templating/score.py. Exit status 1 when a floor is missed (overall endpoint
F1 >= 0.95, every service >= 0.85, average observe+match < 30 us).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analyzer.templating import Templater  # noqa: E402
from bench.templating.gen import Request, generate, normalise  # noqa: E402
from bench.templating.score import Report, score  # noqa: E402

FLOOR_OVERALL = 0.95
FLOOR_SERVICE = 0.85
FLOOR_US = 30.0
DRAIN_EVERY = 1000  # requests between drain_merges() calls, as the storage layer would do


def run(
    requests: list[Request], guidance: dict[str, list[tuple[str, str]]] | None
) -> tuple[Report, float, float, int]:
    t = Templater()
    if guidance:
        for host, ops in guidance.items():
            t.load_spec(host, ops)
    observe, match = t.observe, t.match
    # CPU time, not wall time: the benchmark often shares its cores with other work.
    clock = time.process_time
    inline = drain = 0.0
    merges = 0
    for start_i in range(0, len(requests), DRAIN_EVERY):
        chunk = requests[start_i : start_i + DRAIN_EVERY]
        t0 = clock()
        for r in chunk:
            observe(r.host, r.method, r.path, r.status, r.shape)
            match(r.host, r.method, r.path)
        t1 = clock()
        merges += len(t.drain_merges())  # storage re-homes counts periodically
        inline += t1 - t0
        drain += clock() - t1
    # End of the capture: the pipeline folds what is still pending before reporting.
    t1 = clock()
    t.flush()
    merges += len(t.drain_merges())
    drain += clock() - t1
    preds: list[str | None] = []
    for r in requests:
        m = t.match(r.host, r.method, r.path)
        preds.append(normalise(m.template) if m is not None else None)
    return score(requests, preds), inline * 1e6 / len(requests), drain * 1e6 / len(requests), merges


def print_report(title: str, rep: Report, us: float, drain_us: float, merges: int, examples: bool) -> bool:
    print(f"\n=== {title} ===")
    print(
        f"{'service':28} {'ep P':>6} {'ep R':>6} {'ep F1':>6} {'#true':>6} {'#pred':>6}   {'rq P':>6} {'rq R':>6} {'rq F1':>6}"
    )
    ok = True
    for host, ep in rep.endpoint.items():
        rq = rep.request[host]
        low = ep.n_true > 0 and ep.f1 < FLOOR_SERVICE
        ok = ok and not low
        flag = "  <-- below floor" if low else ""
        print(
            f"{host:28} {ep.precision:6.3f} {ep.recall:6.3f} {ep.f1:6.3f} {ep.n_true:6d} {ep.n_pred:6d}   "
            f"{rq.precision:6.3f} {rq.recall:6.3f} {rq.f1:6.3f}{flag}"
        )
    oe, orq = rep.overall_endpoint, rep.overall_request
    print(
        f"{'OVERALL':28} {oe.precision:6.3f} {oe.recall:6.3f} {oe.f1:6.3f} {oe.n_true:6d} {oe.n_pred:6d}   "
        f"{orq.precision:6.3f} {orq.recall:6.3f} {orq.f1:6.3f}"
    )
    ok = ok and oe.f1 >= FLOOR_OVERALL and us < FLOOR_US
    print(
        f"observe+match: {us:.1f} us/request CPU (inline); drain_merges every {DRAIN_EVERY}: "
        f"+{drain_us:.1f} us/request amortised (incl. final flush); merges reported: {merges}"
    )
    print("per-class misses (requests / distinct true endpoints):")
    if not rep.class_requests:
        print("  none")
    for cls, n in rep.class_requests.most_common():
        print(f"  {cls:55} {n:6d} / {len(rep.class_endpoints[cls]):4d}")
        if examples:
            for ex in rep.examples[cls]:
                print(f"      {ex}")
    if examples:
        print("false endpoints (sample):")
        for host, eps in rep.false_endpoints.items():
            for e in eps[:12]:
                print(f"   {host} {e}")
    return ok


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--scale", type=float, default=1.0, help="multiply every service's request count")
    ap.add_argument("--mode", choices=("traffic", "spec", "both"), default="both")
    ap.add_argument("--service", action="append", help="spec file name(s) to include (default: all)")
    ap.add_argument("--examples", action="store_true", help="print example misses and false endpoints")
    ap.add_argument(
        "--no-shapes", action="store_true", help="drop response shapes (a sensor that cannot parse bodies)"
    )
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    requests, guidance = generate(seed=args.seed, scale=args.scale, services=args.service)
    if args.no_shapes:
        requests = [dataclasses.replace(r, shape=None) for r in requests]
    n_real = sum(r.truth is not None for r in requests)
    print(
        f"generated {len(requests)} requests ({n_real} real, {len(requests) - n_real} scanner noise) "
        f"for {len({r.host for r in requests})} hosts in {time.perf_counter() - t0:.1f}s, seed {args.seed}"
    )
    ok = True
    if args.mode in ("traffic", "both"):
        rep, us, drain_us, merges = run(requests, None)
        ok = (
            print_report("traffic only (no spec): the main number", rep, us, drain_us, merges, args.examples)
            and ok
        )
    if args.mode in ("spec", "both"):
        rep, us, drain_us, merges = run(requests, guidance)
        title = "spec-guided (load_spec with each host's operations)"
        ok = print_report(title, rep, us, drain_us, merges, args.examples) and ok
    print(
        f"\ntotal {time.perf_counter() - t0:.1f}s; floors (overall ep F1 >= {FLOOR_OVERALL}, each service >= {FLOOR_SERVICE}, < {FLOOR_US} us): {'MET' if ok else 'MISSED'}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
