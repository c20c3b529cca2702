"""Service CPU per read request, in-process: the inventory app driven through httpx's
ASGITransport (no sockets, no uvicorn), so the figure is the app's own CPU (routing, key check,
queries, serialisation) and does not depend on how loaded the machine is.

Builds the same inventory as ``bench/api_latency.py`` (PostgreSQL, COPY), then sends every
query of its plan ``--rounds`` times and prints CPU ms per request (process time) per route.
Run twice: with the read cache off (``response_cache_seconds=0``: every request does the work)
and on (the default; a repeated query within its TTL is answered from memory); both printed.
``--profile`` prints the top functions by cumulative time (cProfile) of the uncached run.

    .venv/bin/python bench/api_cpu.py --endpoints 5000 --services 50 --rounds 20 --only /api/v1/endpoints

(``/api/v1/findings`` costs far more than a second, so without ``--only`` each round outlasts the
cache's 1 s TTL and the "on" figures are misses too.)
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.api_latency import bench_database, build_inventory, queries  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--endpoints", type=int, default=5000)
    parser.add_argument("--services", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--only", default="", help="only routes whose path starts with this")
    args = parser.parse_args(argv)
    with bench_database(args.keep) as url:
        info = build_inventory(url, endpoints=args.endpoints, services=args.services, seed=args.seed)
        for ttl in (0.0, None):
            print(f"\nresponse cache {'off' if ttl == 0 else 'on (default TTL)'}:")
            asyncio.run(_run(url, info, args, response_cache_seconds=ttl))
            args.profile = False
    return 0


async def _run(
    url: str, info: dict[str, Any], args: argparse.Namespace, response_cache_seconds: float | None = None
) -> None:
    import httpx

    from inventory_api.app import create_app
    from inventory_api.settings import ApiSettings

    settings = ApiSettings(database_url=url)
    if response_cache_seconds is not None:
        settings = replace(settings, response_cache_seconds=response_cache_seconds)
    app = create_app(settings)
    headers = {"Authorization": f"Bearer {info['key']}"}
    plan = [("/api/v1/endpoints", p, name) for name, p in queries(info)]
    plan += [("/api/v1/services", {}, "services"), ("/api/v1/findings", {}, "findings")]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t", headers=headers) as c:
        first = (await c.get("/api/v1/endpoints", params={"limit": 5})).json()["items"]
        plan += [(f"/api/v1/endpoints/{first[0]['id']}", {}, "endpoint detail")]
        plan = [p for p in plan if p[0].startswith(args.only)]
        for path, params, _name in plan:  # warm-up
            assert (await c.get(path, params=params)).status_code == 200, path
        profiler = cProfile.Profile() if args.profile else None
        per: dict[str, float] = {}
        total_cpu, count = 0.0, 0
        for _ in range(args.rounds):
            for path, params, _name in plan:
                t0 = time.process_time()
                if profiler:
                    profiler.enable()
                r = await c.get(path, params=params)
                if profiler:
                    profiler.disable()
                dt = time.process_time() - t0
                assert r.status_code == 200, (path, r.status_code)
                group = path if not path.startswith("/api/v1/endpoints/") else "/api/v1/endpoints/{id}"
                per[group] = per.get(group, 0.0) + dt
                total_cpu += dt
                count += 1
        n_list = sum(1 for p in plan if p[0] == "/api/v1/endpoints")
        print(f"requests: {count}  CPU ms/request (all): {total_cpu / count * 1000:.2f}")
        for group, cpu in per.items():
            n = n_list if group == "/api/v1/endpoints" else 1
            print(f"  {group:28s} {cpu / (n * args.rounds) * 1000:6.2f} ms CPU/request")
        if profiler:
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(45)


if __name__ == "__main__":
    raise SystemExit(main())
