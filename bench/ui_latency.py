"""Console latency: every /ui/ page on the 50,000-endpoint inventory of bench/api_latency.py.

Floor: every page's p95 < 200 ms, from the client (HTTP round trip, HTML rendering included),
against the real service (``apicensus serve``, one worker), signed in through the sign-in form.

Steps: the api_latency inventory (services, endpoints, PII findings by COPY), plus per endpoint a
few hours of ``endpoint_hourly`` traffic and client peers (the traffic charts and the actors
page read them); then each page warmed up and requested ``--requests`` times in turn over one
keep-alive connection; p50 / p95 / max per page, exit 0 when every page meets the floor.

    .venv/bin/python bench/ui_latency.py
    .venv/bin/python bench/ui_latency.py --endpoints 50000 --requests 30
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.api_latency import _copy, _pct, bench_database, build_inventory, serve  # noqa: E402

FLOOR_P95_MS = 200.0


def add_traffic(url: str, *, seed: int, hours: int = 6, clients: int = 3) -> dict[str, int]:
    """Hourly counts and client peers for every endpoint (the charts and actors read them)."""
    from sqlalchemy import text

    from analyzer.db.models import EndpointHourly, EndpointPeer
    from analyzer.db.session import make_engine

    rng = random.Random(seed)
    engine = make_engine(url)
    with engine.begin() as conn:
        rows = list(conn.execute(text("SELECT id, hits, last_seen FROM endpoints")))
        hourly: list[tuple[Any, ...]] = []
        peers: list[tuple[Any, ...]] = []
        for eid, hits, last in rows:
            last = last.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
            for h in range(rng.randint(1, hours)):
                hourly.append((eid, (last - timedelta(hours=h * rng.randint(1, 30))).isoformat(), max(1, hits // 3)))
            for c in range(rng.randint(1, clients)):
                addr = f"10.{rng.randint(0, 20)}.{rng.randint(0, 255)}.{c + 1}"
                peers.append((eid, "client", addr, max(1, hits // 2), last.isoformat(), last.isoformat()))
        cur = conn.connection.cursor()
        _copy(cur, EndpointHourly.__table__, ["endpoint_id", "hour", "count"],
              list({(r[0], r[1]): r for r in hourly}.values()))
        _copy(cur, EndpointPeer.__table__, ["endpoint_id", "kind", "address", "count", "first_seen", "last_seen"],
              list({(r[0], r[2]): r for r in peers}.values()))
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE"))
        counts = {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
                  for t in ("endpoint_hourly", "endpoint_peers")}
        big = conn.execute(text("SELECT id FROM endpoints ORDER BY hits DESC LIMIT 1")).scalar_one()
    engine.dispose()
    return {**counts, "busiest_endpoint": big}


def pages(info: dict[str, Any]) -> list[tuple[str, str]]:
    month = (info["now"] - timedelta(days=30)).date().isoformat()
    return [
        ("overview", "/ui/overview"),
        ("catalog", "/ui/catalog"),
        ("catalog service+GET+-hits", f"/ui/catalog?service={info['big_host']}&method=GET&sort=-hits"),
        ("catalog pii_type", "/ui/catalog?pii_type=EMAIL_ADDRESS&sort=-last_seen"),
        ("catalog unauth+since", f"/ui/catalog?unauthenticated=true&seen_since={month}&sort=-hits"),
        ("catalog rows q=orders (live)", "/ui/catalog/rows?q=orders"),
        ("catalog rows q=sub399 (live)", "/ui/catalog/rows?q=sub399"),
        ("endpoint (busiest)", f"/ui/endpoints/{info['busiest_endpoint']}"),
        ("findings", "/ui/findings"),
        ("findings critical", "/ui/findings?severity=critical"),
        ("findings service", f"/ui/findings?service={info['big_host']}"),
        ("actors", "/ui/actors"),
        ("pii", "/ui/pii"),
        ("specs", "/ui/specs"),
        ("changes", "/ui/changes"),
        ("settings", "/ui/settings"),
    ]


def measure(base: str, key: str, plan: list[tuple[str, str]], requests: int) -> dict[str, list[float]]:
    import httpx

    with httpx.Client(base_url=base, timeout=60, follow_redirects=False) as client:
        form = client.get("/ui/")
        token = re.search(r'name="csrf" value="([^"]+)"', form.text)
        assert token, "no sign-in form"
        signed = client.post("/ui/signin", data={"csrf": token.group(1), "key": key})
        assert signed.status_code == 303, signed.text[:300]
        for name, path in plan:
            for _ in range(2):
                response = client.get(path)
                assert response.status_code == 200, (name, response.status_code, response.text[:300])
        times: dict[str, list[float]] = {name: [] for name, _ in plan}
        for _ in range(requests):
            for name, path in plan:
                t0 = time.perf_counter()
                response = client.get(path)
                times[name].append((time.perf_counter() - t0) * 1000)
                assert response.status_code == 200, name
        return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--endpoints", type=int, default=50_000)
    parser.add_argument("--services", type=int, default=400)
    parser.add_argument("--requests", type=int, default=30, help="timed requests per page")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the bench database")
    args = parser.parse_args(argv)
    try:
        with bench_database(args.keep) as url:
            t0 = time.perf_counter()
            info = build_inventory(url, endpoints=args.endpoints, services=args.services, seed=args.seed)
            info.update(add_traffic(url, seed=args.seed))
            c = info["counts"]
            print(
                f"inventory: {c['services']:,} services, {c['endpoints']:,} endpoints, {c['pii_findings']:,} PII "
                f"findings, {info['endpoint_hourly']:,} hourly rows, {info['endpoint_peers']:,} peers, "
                f"loaded in {time.perf_counter() - t0:.1f}s"
            )
            with serve(url) as base:
                times = measure(base, info["key"], pages(info), args.requests)
    except Exception as exc:  # noqa: BLE001 - a bench reports and exits 2
        print(f"ui_latency: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    width = max(len(n) for n in times)
    print(f"\n{'page':<{width}}  {'p50 ms':>8}  {'p95 ms':>8}  {'max ms':>8}  floor p95 < {FLOOR_P95_MS:g} ms")
    failed = []
    for name, values in times.items():
        p50, p95 = statistics.median(values), _pct(values, 95)
        ok = p95 < FLOOR_P95_MS
        failed += [] if ok else [name]
        print(f"{name:<{width}}  {p50:8.1f}  {p95:8.1f}  {max(values):8.1f}  {'ok' if ok else 'FAIL'}")
    print(f"\nfloor {'met' if not failed else 'NOT met: ' + ', '.join(failed)}  ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC)")
    return 0 if not failed else 1


if __name__ == "__main__":
    sys.exit(main())
