"""Threat detection benchmark: labelled incidents and traps through the detection engine.

Builds an hour of shop API traffic with ``bench/attacks/gen.py`` (>= 150 benign users whose
objects are learnable from their own responses, the look-alike traps, one incident of every type
after the learning period, planted posture problems), feeds it in order through
``DetectionEngine`` and scores:

* incident recall per type (an incident is found when an event of its type names its address);
* alert precision, alerts grouped by (type, actor, service): an alert is true when its actor is
  an incident's and its type is what that incident is (or also is: an enumeration that gets 2xx
  on other users' objects is a BOLA too -- each incident lists those types);
* false alerts per 10,000 benign exchanges, and trap alerts (alerts naming a trap's address);
* posture findings expected vs found;
* cost: engine CPU per exchange; memory: traced heap and state size after each hour of ``--hours``
  hours of traffic (flat = bounded).

Two generators, scored side by side in one run (``--generator shop|styles|both``, default both):
``gen.py`` (one shop API, written with the engine) and ``gen_styles.py`` (three services of other
styles on one sensor: nested REST with UUIDs and session cookies, ids in queries and JSON bodies
with OAuth form logins, RPC methods with API keys/Basic and enveloped answers), written
independently of the rules to find where they do not generalise.

Floors (issue 11): recall >= 0.95 per type, precision >= 0.95, trap alerts 0, for each generator.

    .venv/bin/python bench/threat_bench.py                 # one hour of each generator, scores, cost
    .venv/bin/python bench/threat_bench.py --generator styles --show
    .venv/bin/python bench/threat_bench.py --hours 10      # also memory over 10x the traffic
    .venv/bin/python bench/threat_bench.py --budget 20000  # also CPU vs apicensus analyze (PostgreSQL)
"""

from __future__ import annotations

import argparse
import sys
import time
import tracemalloc
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from analyzer.detect.engine import DetectionEngine  # noqa: E402
from analyzer.detect.model import Event  # noqa: E402
from analyzer.detect.settings import DetectSettings  # noqa: E402
from bench.attacks.gen import Traffic, generate, hours  # noqa: E402
from bench.attacks.gen_styles import generate as generate_styles  # noqa: E402

RECALL_FLOOR = 0.95
PRECISION_FLOOR = 0.95
SECRET = b"threat-bench-secret"


def alert_type(event: Event) -> str:
    return f"injection:{event.subtype}" if event.type == "injection" else event.type


def score(traffic: Traffic, events: list[Event]) -> dict[str, object]:
    by_ip = {inc.ip: inc for inc in traffic.incidents}
    alerts: dict[tuple[str, str, str], list[Event]] = defaultdict(list)
    posture: set[tuple[str, str]] = set()
    for event in events:
        if event.type == "posture":
            posture.add((event.subtype or "", event.path_template or ""))
            continue
        actor = event.actor.key or event.actor.ip or ""
        alerts[(alert_type(event), actor, event.host)].append(event)
    true_alerts, false_alerts, trap_alerts = [], [], []
    found: set[tuple[str, str]] = set()
    for key, group in sorted(alerts.items()):
        ip = group[0].actor.ip or ""
        inc = by_ip.get(ip)
        if inc is not None and (key[0] == inc.type or key[0] in inc.acceptable):
            true_alerts.append(key)
            found.add((inc.ip, key[0]))
        else:
            false_alerts.append((key, group[0]))
            if ip in traffic.trap_ips:
                trap_alerts.append((traffic.trap_ips[ip], key, group[0]))
    recall: dict[str, list[bool]] = defaultdict(list)
    for inc in traffic.incidents:
        recall[inc.type].append((inc.ip, inc.type) in found)
    benign = sum(1 for x in traffic.exchanges if x.client_ip not in by_ip)
    return {
        "recall": recall,
        "precision": len(true_alerts) / max(1, len(true_alerts) + len(false_alerts)),
        "alerts": len(true_alerts) + len(false_alerts),
        "false_alerts": false_alerts,
        "false_per_10k": len(false_alerts) / max(1, benign) * 10_000,
        "trap_alerts": trap_alerts,
        "posture_found": posture & traffic.posture_expected,
        "posture_missing": traffic.posture_expected - posture,
        "benign": benign,
        "found": found,
    }


def run_once(traffic: Traffic, settings: DetectSettings) -> tuple[DetectionEngine, float]:
    engine = DetectionEngine(settings)
    start = time.process_time()
    engine.feed_many(traffic.exchanges)
    engine.close()
    return engine, time.process_time() - start


def memory_over(n_hours: int, settings: DetectSettings, users: int) -> list[tuple[int, int, float, int]]:
    """(hour, exchanges so far, traced MiB after the hour, state bytes) for n hours of traffic."""
    engine = DetectionEngine(settings)
    rows = []
    tracemalloc.start()
    fed = 0
    hour_end = None
    for x in hours(n_hours, users=users):
        if hour_end is None:
            hour_end = x.ts + 3600
        if x.ts >= hour_end:
            engine.drain()
            rows.append((len(rows) + 1, fed, tracemalloc.get_traced_memory()[0] / 2**20, len(engine.state())))
            hour_end += 3600
        engine.feed(x)
        fed += 1
    engine.close()
    engine.drain()
    rows.append((len(rows) + 1, fed, tracemalloc.get_traced_memory()[0] / 2**20, len(engine.state())))
    tracemalloc.stop()
    return rows


def budget(exchanges: int, settings: DetectSettings) -> None:
    """Detection CPU vs ``apicensus analyze`` CPU on bench/analyze_speed.py's capture (PostgreSQL, PII on)."""
    import shutil
    import tempfile

    import orjson

    from analyzer.detect.model import from_record
    from bench.analyze_speed import drop_database, fresh_database, run_timed
    from devtools.synth import generate_api_traffic

    work = Path(tempfile.mkdtemp(prefix="apicensus-threat-budget-"))
    try:
        capture, jsonl = work / "capture.pcap", work / "capture.jsonl"
        generate_api_traffic(str(capture), exchanges=exchanges, seed=20_24)
        cli = [sys.executable, "-m", "apicensus_cli"]
        if run_timed([*cli, "sensor", "--pcap", str(capture), "--output", str(jsonl)])[2] != 0:
            print("sensor failed: budget not measured")
            return
        name, url = fresh_database()
        try:
            _wall, analyze_cpu, rc = run_timed([*cli, "analyze", str(capture), "--db", url])
        finally:
            drop_database(name)
        if rc != 0:
            print("analyze failed: budget not measured")
            return
        records = [orjson.loads(line) for line in jsonl.read_bytes().splitlines() if line.strip()]
        xs = []
        for record in records:
            body = ((record.get("response_body") or {}).get("data") or "")
            # The pipeline passes the PII detector's findings; an "@" stands in for them here.
            xs.append(from_record(record, pii=(("EMAIL", body.count("@")),) if "@" in body else ()))
        engine = DetectionEngine(settings)
        start = time.process_time()
        engine.feed_many(xs)
        engine.close()
        detect_cpu = time.process_time() - start
        print(f"\nbudget on bench/analyze_speed.py's capture ({len(xs):,} exchanges):")
        print(f"  apicensus analyze CAPTURE (PostgreSQL, PII): {analyze_cpu:.2f} s CPU ({analyze_cpu / len(xs) * 1e6:.0f} µs/exchange)")
        print(f"  detection engine over the same exchanges:   {detect_cpu:.2f} s CPU ({detect_cpu / len(xs) * 1e6:.0f} µs/exchange)")
        print(f"  detection adds {detect_cpu / analyze_cpu:.0%} to analyze (budget 25%)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


GENERATORS: dict[str, Callable[[int, int], Traffic]] = {"shop": generate, "styles": generate_styles}


def evaluate(name: str, traffic: Traffic, settings: DetectSettings, show: bool) -> tuple[bool, dict[str, object], list[str]]:
    """Feed one generator's hour, score it; (floors met, scores, report lines)."""
    engine, cpu = run_once(traffic, settings)
    events = engine.events()
    result = score(traffic, events)
    lines = []
    recall: dict[str, list[bool]] = result["recall"]  # type: ignore[assignment]
    ok = all(sum(h) / len(h) >= RECALL_FLOOR for h in recall.values())
    precision: float = result["precision"]  # type: ignore[assignment]
    trap_alerts: list[tuple[str, tuple[str, str, str], Event]] = result["trap_alerts"]  # type: ignore[assignment]
    ok &= precision >= PRECISION_FLOOR and not trap_alerts
    n = len(traffic.exchanges)
    result["cpu_us"] = cpu / n * 1e6
    result["errors"] = engine.stats["errors"]
    result["state_kib"] = len(engine.state()) / 1024
    for key, event in result["false_alerts"]:  # type: ignore[attr-defined]
        trap = traffic.trap_ips.get(event.actor.ip or "")
        lines.append(f"  [{name}] FALSE {key[0]} host={event.host} actor={event.actor.ip}/{event.actor.identity} {event.method} "
                     f"{event.path_template} {event.evidence}" + (f"  (trap: {trap})" if trap else ""))
    found_ips = {ip for ip, _kind in result["found"]}  # type: ignore[attr-defined]
    for inc in traffic.incidents:
        if inc.ip not in found_ips or (inc.ip, inc.type) not in result["found"]:  # type: ignore[operator]
            lines.append(f"  [{name}] MISSED {inc.type} ({inc.name}, {inc.ip})")
    found: set[object] = result["posture_found"]  # type: ignore[assignment]
    missing: set[object] = result["posture_missing"]  # type: ignore[assignment]
    if found or missing:
        lines.append(f"  [{name}] posture findings expected and found: {len(found)}/{len(found) + len(missing)}"
                     + (f"  missing: {sorted(missing)}" if missing else ""))  # type: ignore[type-var]
    if show:
        lines.extend(f"  [{name}] {event.to_json()}" for event in sorted(events, key=lambda e: (e.type, e.first_seen)))
    return ok, result, lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--users", type=int, default=160)
    parser.add_argument("--generator", "--style", choices=[*GENERATORS, "both"], default="both",
                        help="shop (bench/attacks/gen.py), styles (bench/attacks/gen_styles.py) or both side by side")
    parser.add_argument("--hours", type=int, default=0, help="also measure memory over this many hours (shop generator)")
    parser.add_argument("--show", action="store_true", help="print every event")
    parser.add_argument("--budget", type=int, default=0, metavar="N",
                        help="also time detection against apicensus analyze on bench/analyze_speed.py's N-exchange capture")
    args = parser.parse_args(argv)
    settings = DetectSettings(secret=SECRET)
    names = list(GENERATORS) if args.generator == "both" else [args.generator]
    results: dict[str, dict[str, object]] = {}
    ok = True
    details: list[str] = []
    for name in names:
        traffic = GENERATORS[name](args.seed, args.users)
        print(f"{name}: {len(traffic.exchanges)} exchanges, {args.users} users, {len(traffic.incidents)} incidents, "
              f"{len(traffic.trap_ips)} trap actors, {len({x.host for x in traffic.exchanges})} services")
        met, results[name], lines = evaluate(name, traffic, settings, args.show)
        ok &= met
        details += lines
    kinds = sorted({k for r in results.values() for k in r["recall"]})  # type: ignore[attr-defined]
    print(f"\n{'incident type':<26}" + "".join(f"{n + ' found':>14}{'recall':>8}" for n in names))
    for kind in kinds:
        row = f"{kind:<26}"
        for name in names:
            hits = results[name]["recall"].get(kind, [])  # type: ignore[attr-defined]
            rate = sum(hits) / len(hits) if hits else float("nan")
            row += f"{sum(hits):>10}/{len(hits):<3}{rate:>8.2f}" + ("!" if hits and rate < RECALL_FLOOR else " ")
        print(row)
    print()
    for label, fmt in (("alerts (type, actor, service)", "{alerts}"), ("precision (floor 0.95)", "{precision:.3f}"),
                       ("false alerts", "{n_false}"), ("false per 10k benign", "{false_per_10k:.2f}"), ("trap alerts", "{n_traps}"),
                       ("engine µs CPU / exchange", "{cpu_us:.0f}"), ("engine errors", "{errors}"), ("state KiB", "{state_kib:.0f}")):
        cells = []
        for name in names:
            r = dict(results[name])
            r["n_false"], r["n_traps"] = len(r["false_alerts"]), len(r["trap_alerts"])  # type: ignore[arg-type]
            cells.append(f"{fmt.format(**r):>22}")
        print(f"{label:<26}" + "".join(cells))
    for line in details:
        print(line)
    if args.hours:
        print(f"\nmemory over {args.hours} hours of shop traffic (benign + traps, {args.users} users/hour):")
        print(f"{'hour':>5}{'exchanges':>11}{'traced MiB':>12}{'state KiB':>11}")
        for hour, fed, mib, state in memory_over(args.hours, settings, args.users):
            print(f"{hour:>5}{fed:>11}{mib:>12.1f}{state / 1024:>11.0f}")
    if args.budget:
        budget(args.budget, settings)
    print("\nfloors met" if ok else "\nfloors NOT met")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
