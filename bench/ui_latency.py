"""Console latency: every /ui/ page on the 50,000-endpoint inventory of bench/api_latency.py.

Floor: every page's p95 < 200 ms, from the client (HTTP round trip, HTML rendering included),
against the real service (``apicensus serve``, one worker), signed in through the sign-in form.

Steps: the api_latency inventory (services, endpoints, PII findings by COPY), plus per endpoint a
few hours of ``endpoint_hourly`` traffic and client peers (the traffic charts and the actors
page read them), and threat events with workflow states and suppression rules naming event types
(the queue, the event and the endpoint pages list them); then each page warmed up and requested ``--requests`` times in turn over one
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


def add_events(url: str, *, seed: int, events: int, busiest: int) -> dict[str, Any]:
    """Threat events on random endpoints (some on the busiest), a tenth of them moved in the
    workflow (finding_states ``event:<id>``), and suppression rules naming event types, so the
    queue's state join and suppression predicate run at size."""
    from sqlalchemy import text

    from analyzer.db.models import FindingState, SuppressionRule, ThreatEvent
    from analyzer.db.session import make_engine
    from analyzer.detect.model import EVENT_TYPES, SEVERITIES

    rng = random.Random(seed + 1)
    engine = make_engine(url)
    with engine.begin() as conn:
        targets = list(conn.execute(text(
            "SELECT e.id, s.id, s.host, e.method, e.path_template, e.last_seen FROM endpoints e "
            "JOIN services s ON s.id = e.service_id"
        )))
        chosen = [t for t in targets if t[0] == busiest] * 30 + rng.choices(targets, k=max(0, events - 30))
        rows: list[tuple[Any, ...]] = []
        states: list[tuple[Any, ...]] = []
        for n, (_eid, _sid, host, method, path, last) in enumerate(chosen):
            event_id = f"{n:08x}{rng.getrandbits(64):016x}"
            seen = last.astimezone(UTC) - timedelta(minutes=rng.randint(0, 7 * 1440))
            ip = f"198.51.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
            rows.append((event_id, rng.choice(EVENT_TYPES), rng.choice(SEVERITIES), f"bench event {n}", f"ip:{ip}", ip,
                         host, method, path, seen.isoformat(), 60.0, seen.isoformat(), seen.isoformat(),
                         rng.randint(1, 50), '{"param": "id"}'))
            if rng.random() < 0.1:
                states.append((f"event:{event_id}", rng.choice(("acknowledged", "resolved", "false_positive")),
                               "bench", seen.isoformat()))
        cur = conn.connection.cursor()
        _copy(cur, ThreatEvent.__table__, ["event_id", "type", "severity", "title", "actor_key", "actor_ip", "host",
                                           "method", "path_template", "window_start", "window_seconds",
                                           "first_seen", "last_seen", "count", "evidence"], rows)
        _copy(cur, FindingState.__table__, ["finding_id", "state", "assignee", "updated_at"], states)
        now = datetime.now(UTC)
        rules = [(typ, None, sid, "bench rule", (now + timedelta(days=30)).isoformat(), now.isoformat())
                 for typ, (_e, sid, *_rest) in zip(EVENT_TYPES[:3], rng.sample(targets, 3), strict=True)]
        rules += [(typ, eid, None, "bench rule", (now + timedelta(days=30)).isoformat(), now.isoformat())
                  for typ, (eid, *_rest) in zip(EVENT_TYPES[3:6], rng.sample(targets, 3), strict=True)]
        _copy(cur, SuppressionRule.__table__, ["kind", "endpoint_id", "service_id", "reason", "expires_at",
                                               "created_at"], rules)
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE"))
        some = conn.execute(text("SELECT event_id FROM events ORDER BY last_seen DESC LIMIT 1")).scalar_one()
    engine.dispose()
    return {"events": len(rows), "event_states": len(states), "some_event": some}


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
        ("findings events kind=injection", "/ui/findings?kind=injection"),
        ("findings events closed page 3", "/ui/findings?state=closed&event_offset=100"),
        ("event", f"/ui/events/{info['some_event']}"),
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
    parser.add_argument("--events", type=int, default=20_000, help="threat events (min 30)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the bench database")
    args = parser.parse_args(argv)
    try:
        with bench_database(args.keep) as url:
            t0 = time.perf_counter()
            info = build_inventory(url, endpoints=args.endpoints, services=args.services, seed=args.seed)
            info.update(add_traffic(url, seed=args.seed))
            info.update(add_events(url, seed=args.seed, events=args.events, busiest=info["busiest_endpoint"]))
            c = info["counts"]
            print(
                f"inventory: {c['services']:,} services, {c['endpoints']:,} endpoints, {c['pii_findings']:,} PII "
                f"findings, {info['endpoint_hourly']:,} hourly rows, {info['endpoint_peers']:,} peers, "
                f"{info['events']:,} threat events ({info['event_states']:,} moved in the workflow), "
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
