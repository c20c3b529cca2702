"""``GET /api/v1/findings`` per page on a generated inventory in PostgreSQL (in-process client,
response cache off, so every request reaches the route).

The inventory is api_latency's (``--endpoints`` endpoints with PII rows), plus spec verdicts (a
third shadow, one in 17 a zombie) so every endpoint rule has findings. One walk of ``--pages``
pages of ``--limit`` findings; the first page and the pages after it are reported apart (the
first builds the findings for this inventory version, the others should not).

    .venv/bin/python bench/findings_pages.py --endpoints 50000 --pages 40
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.api_latency import _pct, bench_database, build_inventory  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--endpoints", type=int, default=50_000)
    parser.add_argument("--services", type=int, default=400)
    parser.add_argument("--pages", type=int, default=40)
    parser.add_argument("--limit", type=int, default=50)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    from sqlalchemy import text

    from analyzer.db.session import make_engine
    from inventory_api.app import create_app
    from inventory_api.settings import ApiSettings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    with bench_database(keep=False) as url:
        info = build_inventory(url, endpoints=args.endpoints, services=args.services, seed=args.seed)
        engine = make_engine(url)
        with engine.begin() as conn:
            conn.execute(text(
                "INSERT INTO endpoint_verdicts (endpoint_id, documented, shadow, zombie, zombie_reasons) "
                "SELECT id, id % 3 <> 0, id % 3 = 0, id % 17 = 0, CASE WHEN id % 17 = 0 THEN "
                "'[{\"reason\": \"deprecated\", \"detail\": \"bench\"}]'::json ELSE '[]'::json END FROM endpoints"
            ))
        engine.dispose()
        app = create_app(ApiSettings(database_url=url, max_page_size=max(100, args.limit), response_cache_seconds=0))
        times: list[float] = []
        with TestClient(app) as client:
            headers = {"Authorization": f"Bearer {info['key']}"}
            cursor = None
            for _ in range(args.pages):
                params = {"limit": args.limit, **({"cursor": cursor} if cursor else {})}
                t0 = time.perf_counter()
                response = client.get("/api/v1/findings", params=params, headers=headers)
                times.append((time.perf_counter() - t0) * 1000)
                response.raise_for_status()
                body = response.json()
                cursor = body["next_cursor"]
                if cursor is None:
                    break
    rest = times[1:] or times
    print(f"{info['counts']['endpoints']:,} endpoints, {sum(body['counts'].values()):,} findings; "
          f"first page {times[0]:.1f} ms; pages 2..{len(times)}: p50 {statistics.median(rest):.1f} ms, "
          f"p95 {_pct(rest, 95):.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
