"""Inventory API latency: ``GET /api/v1/endpoints`` on a 50,000-endpoint inventory in PostgreSQL.

Floor: every query's p95 < 50 ms, measured from the client (HTTP round trip included) against
the real service (``apicensus serve`` in a subprocess, one uvicorn worker).

Steps:

1. a fresh database (dropped afterwards unless ``--keep``), schema from both Alembic chains
   (``analyzer.db.session.run_migrations``: the one chain, including the catalog's indexes);
2. services, endpoints and PII findings bulk-loaded with COPY into the models' tables
   (columns named from the SQLAlchemy models), then ANALYZE; one admin key through the real CRUD;
3. ``apicensus serve`` on a free port; each query warmed up, then sent ``--requests`` times in
   turn (queries interleaved so background load hits them alike) over one keep-alive connection;
4. p50 / p95 per query and over all requests, against the floor. Exit status 0 when every
   query meets it, 1 when not, 2 when something could not run.

    .venv/bin/python bench/api_latency.py
    .venv/bin/python bench/api_latency.py --endpoints 50000 --requests 60 --explain

``--concurrent N`` instead measures N concurrent readers (one keep-alive connection each, every
query in random order) against ``serve --workers W``, for ``--duration`` seconds alone and again
while a sensor posts ``--batch``-record batches back to back; both columns side by side, floor
read p95 < 100 ms in each:

    .venv/bin/python bench/api_latency.py --endpoints 5000 --services 50 --concurrent 20 --duration 20

``--matrix`` measures the whole grid on one inventory: 1 and 20 concurrent readers, alone and
during ingest, against ``serve`` with 1 worker and with ``--workers 2``; read p95 (and reads/s,
ingest rate) side by side, floor read p95 < 100 ms at 20 readers in every column. The readers are
a minimal HTTP/1.1 client by default (``--client httpx``: httpx, which spent more CPU per read
than the service on the same 2 cores):

    .venv/bin/python bench/api_latency.py --endpoints 5000 --services 50 --matrix --duration 10
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import random
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

FLOOR_P95_MS = 50.0
ADMIN_URL = os.environ.get("APICENSUS_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")

PII_TYPES = (
    ("EMAIL_ADDRESS", 0.12),
    ("PHONE_NUMBER", 0.06),
    ("PERSON", 0.08),
    ("CREDENTIAL", 0.25),
    ("LOCATION", 0.05),
    ("DATE_OF_BIRTH", 0.02),
    ("IBAN_CODE", 0.004),
    ("CREDIT_CARD", 0.002),
)
LOCATIONS = ("request", "response", "query", "header")
RESOURCES = (
    "users", "orders", "invoices", "payments", "accounts", "products", "carts", "sessions",
    "tokens", "reports", "files", "messages", "devices", "tenants", "shipments", "refunds",
)  # fmt: skip
METHODS = (("GET", 0.55), ("POST", 0.2), ("PUT", 0.1), ("DELETE", 0.08), ("PATCH", 0.07))


def _pick(rng: random.Random, weighted: tuple[tuple[str, float], ...]) -> str:
    return rng.choices([v for v, _ in weighted], weights=[w for _, w in weighted])[0]


# --- database ---------------------------------------------------------------------------------


@contextmanager
def bench_database(keep: bool) -> Iterator[str]:
    import psycopg2
    from sqlalchemy.engine import make_url

    admin = make_url(ADMIN_URL)
    name = f"apicensus_bench_{uuid.uuid4().hex[:10]}"
    conn = psycopg2.connect(
        host=admin.host or "127.0.0.1",
        port=admin.port or 5432,
        user=admin.username or "postgres",
        password=admin.password,
        dbname=admin.database or "postgres",
        connect_timeout=5,
    )
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    try:
        yield admin.set(drivername="postgresql+psycopg2", database=name).render_as_string(hide_password=False)
    finally:
        if keep:
            print(f"kept database {name}")
        else:
            with conn.cursor() as cur:
                cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            print(f"dropped database {name}")
        conn.close()


def _copy(cur: Any, table: Any, columns: list[str], rows: list[tuple[Any, ...]]) -> None:
    for column in columns:
        assert column in table.c, f"{table.name}.{column} is not in the model"
    buf = io.StringIO()
    for row in rows:
        buf.write("\t".join("\\N" if v is None else str(v) for v in row))
        buf.write("\n")
    buf.seek(0)
    cur.copy_expert(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN", buf)


def build_inventory(url: str, *, endpoints: int, services: int, seed: int) -> dict[str, Any]:
    """Bulk-load the inventory; what the queries need to pick realistic filter values."""
    from sqlalchemy import text

    from analyzer.db.models import Endpoint, PiiFinding, Service
    from analyzer.db.session import make_engine, make_session_factory, run_migrations
    from inventory_api import crud
    from inventory_api.schemas import ApiKeyCreate
    from inventory_api.security import Role

    rng = random.Random(seed)
    now = datetime.now(UTC).replace(microsecond=0)
    start = now - timedelta(days=90)
    engine = make_engine(url)
    run_migrations(engine)
    hosts = [f"svc{i:04d}.{rng.choice(('corp', 'internal', 'shop', 'pay'))}.example" for i in range(services)]

    ep_rows: list[tuple[Any, ...]] = []
    seen: set[tuple[int, str, str]] = set()
    while len(ep_rows) < endpoints:
        sid = int(rng.paretovariate(1.2)) % services + 1  # a few big services, a long tail
        res = rng.choice(RESOURCES)
        depth = rng.randint(0, 3)
        parts = [f"v{rng.randint(1, 3)}", res] + [
            rng.choice(("{id}", rng.choice(RESOURCES), f"sub{rng.randint(0, 400)}", "{uuid}"))
            for _ in range(depth)
        ]
        path = "/" + "/".join(parts)
        method = _pick(rng, METHODS)
        if (sid, method, path) in seen:
            continue
        seen.add((sid, method, path))
        first = start + timedelta(seconds=rng.randint(0, 80 * 86400))
        last = min(now, first + timedelta(seconds=rng.randint(0, 20 * 86400)))
        hits = int(rng.paretovariate(1.1) * 3)
        unauth = hits // 3 if rng.random() < 0.1 else 0
        ep_rows.append(
            (
                sid,
                method,
                path,
                hits,
                first.isoformat(),
                last.isoformat(),
                hits - unauth,
                unauth,
                unauth,
                hits // 2,
                hits // 2,
                rng.choice(("team-a", "team-b", None, None, None)),
                rng.choice(("reviewed", "unreviewed", None, None)),
            )
        )
    with engine.begin() as conn:
        cur = conn.connection.cursor()
        svc_first, svc_last = start.isoformat(), now.isoformat()
        _copy(
            cur,
            Service.__table__,
            ["host", "hits", "first_seen", "last_seen"],
            [(h, 0, svc_first, svc_last) for h in hosts],
        )
        ep_columns = [
            "service_id", "method", "path_template", "hits", "first_seen", "last_seen",
            "authenticated_hits", "unauthenticated_hits", "unauthenticated_2xx",
            "request_bodies", "response_bodies", "owner", "review_state",
        ]  # fmt: skip
        _copy(cur, Endpoint.__table__, ep_columns, ep_rows)
        ids = [r[0] for r in conn.execute(text("SELECT id FROM endpoints ORDER BY id"))]
        pii_rows: list[tuple[Any, ...]] = []
        for eid, row in zip(ids, ep_rows, strict=True):
            for typ, share in PII_TYPES:
                if rng.random() < share:
                    for n in range(rng.randint(1, 3)):
                        loc = rng.choice(LOCATIONS)
                        pii_rows.append(
                            (eid, typ, loc, f"{typ.lower()}_{n}", rng.randint(1, 500), "****", row[4], row[5])
                        )
        _copy(
            cur,
            PiiFinding.__table__,
            ["endpoint_id", "type", "location", "field", "count", "sample", "first_seen", "last_seen"],
            pii_rows,
        )
        conn.execute(
            text(
                "UPDATE services s SET hits = e.h FROM "
                "(SELECT service_id, sum(hits) h FROM endpoints GROUP BY service_id) e WHERE e.service_id = s.id"
            )
        )
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        conn.execute(text("VACUUM ANALYZE"))
    with make_session_factory(engine)() as session:
        _row, key = crud.create_api_key(session=session, key_in=ApiKeyCreate(role=Role.ADMIN, name="bench"))
    with engine.connect() as conn:
        counts = {
            t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
            for t in ("services", "endpoints", "pii_findings")
        }
        big = conn.execute(
            text(
                "SELECT s.id, s.host FROM services s JOIN endpoints e ON e.service_id = s.id "
                "GROUP BY s.id ORDER BY count(*) DESC LIMIT 1"
            )
        ).one()
        medium = conn.execute(
            text(
                "SELECT s.host FROM services s JOIN endpoints e ON e.service_id = s.id "
                "GROUP BY s.id ORDER BY count(*) DESC, s.id OFFSET 5 LIMIT 1"
            )
        ).scalar_one()
        small = conn.execute(
            text(
                "SELECT s.host FROM services s JOIN endpoints e ON e.service_id = s.id "
                "GROUP BY s.id ORDER BY count(*), s.id LIMIT 1"
            )
        ).scalar_one()
    engine.dispose()
    return {
        "key": key,
        "counts": counts,
        "big_service_id": big[0],
        "big_host": big[1],
        "medium_host": medium,
        "small_host": small,
        "now": now,
    }


# --- service ----------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


_SERVING: dict[str, int] = {}  # base URL -> pid of its apicensus serve process


def tree_cpu_seconds(pid: int | None) -> float:
    """User + system CPU of ``pid`` and its live descendants (workers, ingest children)."""
    total, todo, tick = 0.0, [pid] if pid else [], os.sysconf("SC_CLK_TCK")
    while todo:
        p = todo.pop()
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
            for task in Path(f"/proc/{p}/task").iterdir():
                todo.extend(int(c) for c in (task / "children").read_text().split())
    return total


@contextmanager
def serve(url: str, *extra: str) -> Iterator[str]:
    import httpx

    port = _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "apicensus_cli",
            "serve",
            "--bind",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
            *extra,
        ],
        cwd=REPO,
        env={**os.environ, "APICENSUS_DATABASE_URL": url},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{base}/health", timeout=1)
                break
            except httpx.TransportError:
                if proc.poll() is not None:
                    raise RuntimeError((proc.stderr.read() if proc.stderr else b"").decode()) from None
                if time.monotonic() > deadline:
                    raise RuntimeError("apicensus serve did not start") from None
                time.sleep(0.1)
        _SERVING[base] = proc.pid
        yield base
    finally:
        _SERVING.pop(base, None)
        proc.terminate()
        proc.wait(timeout=30)


def queries(info: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    day = (info["now"] - timedelta(days=1)).isoformat()
    month = (info["now"] - timedelta(days=30)).isoformat()
    early = (info["now"] - timedelta(days=80)).isoformat()
    return [
        ("default (sort=path)", {}),
        ("service (big)", {"service": info["big_host"]}),
        ("service (6th largest)", {"service": info["medium_host"]}),
        ("service (small)", {"service": info["small_host"]}),
        ("service_id", {"service_id": info["big_service_id"]}),
        ("method=DELETE", {"method": "DELETE"}),
        ("method=PUT&PATCH", {"method": ["PUT", "PATCH"]}),
        ("pii_type=EMAIL", {"pii_type": "EMAIL_ADDRESS"}),
        ("pii_type=CREDIT_CARD (rare)", {"pii_type": "CREDIT_CARD"}),
        ("pii_type+location", {"pii_type": "CREDENTIAL", "pii_location": "header"}),
        ("pii_location=query", {"pii_location": "query"}),
        ("unauthenticated=true", {"unauthenticated": "true"}),
        ("unauthenticated=false", {"unauthenticated": "false"}),
        ("seen_since 1 day", {"seen_since": day}),
        ("seen_since 30 days", {"seen_since": month}),
        ("seen_before 80 days", {"seen_before": early}),
        ("q=orders", {"q": "orders"}),
        ("q=rare (sub399)", {"q": "sub399"}),
        ("q=no match", {"q": "zzzz-nothing"}),
        ("sort=-hits", {"sort": "-hits"}),
        ("sort=-last_seen", {"sort": "-last_seen"}),
        ("sort=first_seen", {"sort": "first_seen"}),
        ("sort=method", {"sort": "method"}),
        ("limit=500", {"limit": 500}),
        ("service+method+-hits", {"service": info["big_host"], "method": "GET", "sort": "-hits"}),
        ("pii_type + -last_seen", {"pii_type": "PHONE_NUMBER", "sort": "-last_seen"}),
        ("q + -hits", {"q": "invoices", "sort": "-hits"}),
        ("unauth + seen_since + -hits", {"unauthenticated": "true", "seen_since": month, "sort": "-hits"}),
        ("owner + review_state", {"owner": "team-a", "review_state": "reviewed"}),
    ]


def _cursor_at(client: Any, params: dict[str, Any], page: int) -> str:
    """The cursor of page ``page`` (following next_cursor from the first)."""
    cursor = None
    for _ in range(page - 1):
        body = client.get(
            "/api/v1/endpoints", params={**params, **({"cursor": cursor} if cursor else {})}
        ).json()
        cursor = body["next_cursor"]
    assert cursor is not None
    return cursor


def _pct(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered) + 0.5) - 1))]


def measure(base: str, key: str, info: dict[str, Any], requests: int) -> dict[str, list[float]]:
    import httpx

    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=30) as client:
        plan = queries(info)
        plan.append(("page 20 (cursor, sort=path)", {"cursor": _cursor_at(client, {}, 20)}))
        plan.append(
            (
                "page 20 (cursor, sort=-hits)",
                {"sort": "-hits", "cursor": _cursor_at(client, {"sort": "-hits"}, 20)},
            )
        )
        for _name, params in plan:  # warm-up, and every query must answer 200
            for _ in range(3):
                response = client.get("/api/v1/endpoints", params=params)
                response.raise_for_status()
        unauth = httpx.get(f"{base}/api/v1/endpoints", timeout=10)
        assert unauth.status_code == 401
        times: dict[str, list[float]] = {name: [] for name, _ in plan}
        for _ in range(requests):
            for name, params in plan:
                t0 = time.perf_counter()
                response = client.get("/api/v1/endpoints", params=params)
                elapsed = (time.perf_counter() - t0) * 1000
                response.raise_for_status()
                times[name].append(elapsed)
        return times


def sensor_key(url: str) -> str:
    from analyzer.db.session import make_engine, make_session_factory
    from inventory_api import crud
    from inventory_api.schemas import ApiKeyCreate
    from inventory_api.security import Role

    engine = make_engine(url)
    with make_session_factory(engine)() as session:
        _row, secret = crud.create_api_key(session=session, key_in=ApiKeyCreate(role=Role.SENSOR, name="bench"))
    engine.dispose()
    return secret


def _ingest_batches(info: dict[str, Any], size: int, seed: int) -> Iterator[bytes]:
    """Endless sensor batches (zstd JSON lines) of new exchanges on the inventory's big service,
    with PII in query strings and bodies, as ``apicensus sensor --ship http://...`` sends them."""
    import orjson

    from sensor.plumbing.wire import encode_batch

    rng = random.Random(seed)
    n = 0
    while True:
        lines = []
        for _ in range(size):
            n += 1
            resource = rng.choice(RESOURCES)
            body = orjson.dumps({"id": n, "email": f"user{n % 997}@example.com", "name": "Ann Smith"}).decode()
            lines.append(orjson.dumps({
                "uid": f"bench-{seed}-{n}", "ts": time.time(), "method": rng.choice(["GET", "POST"]),
                "target": f"/bench/{resource}/{n % 5000}?email=u{n % 50}@example.com",
                "host": info["big_host"], "status": 200, "client": f"10.1.{n % 200}.{n % 250}:5000",
                "server": "192.0.2.1:443",
                "request_headers": [["host", info["big_host"]], ["authorization", "Bearer abc"]],
                "response_headers": [["content-type", "application/json"]],
                "response_body": {"data": body, "b64": False, "captured": len(body), "length": len(body),
                                  "wire_length": len(body), "content_encoding": []},
            }))
        yield encode_batch(lines)


async def _raw_get(reader: Any, writer: Any, request: bytes) -> tuple[int, bytes, bool]:
    """One HTTP/1.1 exchange on a keep-alive connection: (status, body, server closes)."""
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    fields = {}
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        fields[name.strip().lower()] = value.strip().lower()
    if fields.get(b"transfer-encoding") == b"chunked":
        chunks = []
        while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
            chunks.append(await reader.readexactly(size + 2))
        await reader.readuntil(b"\r\n")
        body = b"".join(c[:-2] for c in chunks)
    else:
        body = await reader.readexactly(int(fields.get(b"content-length", b"0")))
    return status, body, fields.get(b"connection") == b"close"


def measure_concurrent(
    base: str, key: str, info: dict[str, Any], *, clients: int, duration: float, ingest_key: str | None,
    batch_size: int, client: str = "raw",
) -> dict[str, Any]:
    """``clients`` concurrent readers cycling through every query for ``duration`` seconds (one
    keep-alive connection each); with ``ingest_key``, a sensor posting batches back to back meanwhile.

    ``client="raw"``: each reader is a minimal HTTP/1.1 client on asyncio streams (requests built
    once, ~0.1 ms of CPU per read); ``"httpx"``: httpx.AsyncClient, 1.0-1.4 ms per read, which on
    a 2-core machine is CPU the service it measures does not get (both report it as client CPU)."""
    import asyncio
    from urllib.parse import urlencode, urlsplit

    import httpx

    plan = queries(info)
    where = urlsplit(base)
    raw_requests = [
        (f"GET /api/v1/endpoints?{urlencode(params, doseq=True)} HTTP/1.1\r\nHost: {where.netloc}\r\n"
         f"Authorization: Bearer {key}\r\nAccept: */*\r\n\r\n").encode()
        for _name, params in plan
    ]

    async def raw_reader(i: int, stop: float, times: list[float], errors: list[int]) -> None:
        rng = random.Random(i)
        connection = await asyncio.open_connection(where.hostname, where.port)
        try:
            while time.monotonic() < stop:
                request = rng.choice(raw_requests)
                t0 = time.perf_counter()
                status, _body, closing = await asyncio.wait_for(_raw_get(*connection, request), 30)
                times.append((time.perf_counter() - t0) * 1000)
                if status != 200:
                    errors.append(status)
                if closing:
                    connection[1].close()
                    connection = await asyncio.open_connection(where.hostname, where.port)
        finally:
            connection[1].close()

    async def httpx_reader(i: int, stop: float, times: list[float], errors: list[int]) -> None:
        rng = random.Random(i)
        async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=30) as c:
            while time.monotonic() < stop:
                _name, params = rng.choice(plan)
                t0 = time.perf_counter()
                response = await c.get("/api/v1/endpoints", params=params)
                times.append((time.perf_counter() - t0) * 1000)
                if response.status_code != 200:
                    errors.append(response.status_code)

    reader = {"raw": raw_reader, "httpx": httpx_reader}[client]

    async def sensor(stop: float, done: list[tuple[int, float]], errors: list[int]) -> None:
        assert ingest_key is not None
        batches = _ingest_batches(info, batch_size, seed=int(time.time()))
        headers = {"Authorization": f"Bearer {ingest_key}", "Content-Encoding": "zstd",
                   "Content-Type": "application/x-ndjson"}
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=120) as c:
            while time.monotonic() < stop:
                t0 = time.perf_counter()
                response = await c.post("/api/v1/ingest", content=next(batches))
                if response.status_code == 200:
                    done.append((response.json()["new"], (time.perf_counter() - t0) * 1000))
                else:
                    errors.append(response.status_code)

    async def run() -> dict[str, Any]:
        times: list[float] = []
        errors: list[int] = []
        ingested: list[tuple[int, float]] = []
        ingest_errors: list[int] = []
        if ingest_key:  # every worker's ingest child starts (presidio loads) before the clock does
            warm = _ingest_batches(info, 10, seed=1)
            for _ in range(8):  # a new connection each: the kernel spreads them over the workers
                async with httpx.AsyncClient(base_url=base, timeout=300) as c:
                    await c.post("/api/v1/ingest", content=next(warm), headers={
                        "Authorization": f"Bearer {ingest_key}", "Content-Encoding": "zstd"})
        stop = time.monotonic() + duration
        tasks = [reader(i, stop, times, errors) for i in range(clients)]
        if ingest_key:
            tasks.append(sensor(stop, ingested, ingest_errors))
        cpu, load = tree_cpu_seconds(_SERVING.get(base)), os.getloadavg()[0]
        client_cpu = time.process_time()
        started = time.monotonic()
        await asyncio.gather(*tasks)
        elapsed = time.monotonic() - started
        return {"times": times, "errors": errors, "elapsed": elapsed, "ingested": ingested,
                "ingest_errors": ingest_errors, "cpu_s": tree_cpu_seconds(_SERVING.get(base)) - cpu,
                "client_cpu_s": time.process_time() - client_cpu,
                "load": (load + os.getloadavg()[0]) / 2}

    return asyncio.run(run())


def report_concurrent(results: dict[str, dict[str, Any]], clients: int, floor: float) -> bool:
    labels = list(results)
    print(f"\n{clients} concurrent readers, GET /api/v1/endpoints (every query of the plan, random order)")
    print(f"{'':<24}" + "".join(f"{label:>22}" for label in labels))

    def row(name: str, fn: Any) -> None:
        print(f"{name:<24}" + "".join(f"{fn(results[label]):>22}" for label in labels))

    row("reads", lambda r: f"{len(r['times']):,}")
    row("reads/s", lambda r: f"{len(r['times']) / r['elapsed']:.0f}")
    row("read p50 ms", lambda r: f"{statistics.median(r['times']):.1f}")
    row("read p95 ms", lambda r: f"{_pct(r['times'], 95):.1f}")
    row("read p99 ms", lambda r: f"{_pct(r['times'], 99):.1f}")
    row("read max ms", lambda r: f"{max(r['times']):.1f}")
    row("read errors", lambda r: f"{len(r['errors'])}")
    row("batches ingested", lambda r: f"{len(r['ingested'])}" if r["ingested"] else "-")
    row("exchanges ingested/s", lambda r: f"{sum(n for n, _ in r['ingested']) / r['elapsed']:.0f}"
        if r["ingested"] else "-")
    row("ingest p50 ms", lambda r: f"{statistics.median([t for _, t in r['ingested']]):.0f}"
        if r["ingested"] else "-")
    row("ingest errors", lambda r: f"{len(r['ingest_errors'])}" if r["ingested"] else "-")
    row("serve CPU ms/read", lambda r: f"{1000 * r['cpu_s'] / len(r['times']):.1f}")
    row("client CPU ms/read", lambda r: f"{1000 * r['client_cpu_s'] / len(r['times']):.1f}")
    row("load avg (1 min)", lambda r: f"{r['load']:.1f}")
    ok = all(_pct(r["times"], 95) < floor and not r["errors"] for r in results.values())
    print(f"\nfloor read p95 < {floor:g} ms in every column: {'met' if ok else 'NOT met'}")
    return ok


def explain(url: str, info: dict[str, Any]) -> None:
    """EXPLAIN ANALYZE of the catalog's SQL for each query (built by the real crud code)."""
    from sqlalchemy import text
    from sqlalchemy.dialects import postgresql

    from analyzer.db.session import make_engine
    from inventory_api import crud
    from inventory_api.pagination import parse_sort

    engine = make_engine(url)
    captured: list[Any] = []

    class Capture:
        def execute(self, stmt: Any) -> Any:
            captured.append(stmt)
            raise StopIteration

    for name, params in queries(info):
        methods = params.get("method", ())
        f = crud.EndpointFilters(
            service_id=params.get("service_id"),
            host=params.get("service"),
            methods=(methods,) if isinstance(methods, str) else tuple(methods),
            pii_type=params.get("pii_type"),
            pii_location=params.get("pii_location"),
            unauthenticated=None if "unauthenticated" not in params else params["unauthenticated"] == "true",
            seen_since=datetime.fromisoformat(params["seen_since"]) if "seen_since" in params else None,
            seen_before=datetime.fromisoformat(params["seen_before"]) if "seen_before" in params else None,
            q=params.get("q"),
            owner=params.get("owner"),
            review_state=params.get("review_state"),
        )
        captured.clear()
        with contextlib.suppress(StopIteration):
            crud.list_endpoints(
                session=Capture(),  # type: ignore[arg-type]
                filters=f,
                sort=parse_sort(params.get("sort", "path"), crud.ENDPOINT_SORTS),
                limit=int(params.get("limit", 50)),
                cursor=None,
            )
        sql = str(captured[0].compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))
        with engine.connect() as conn:
            plan = [r[0] for r in conn.execute(text("EXPLAIN (ANALYZE, BUFFERS OFF, COSTS OFF) " + sql))]
        print(f"\n== {name}\n" + "\n".join(plan))
    engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--endpoints", type=int, default=50_000)
    parser.add_argument("--services", type=int, default=400)
    parser.add_argument("--requests", type=int, default=60, help="timed requests per query")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--explain", action="store_true", help="print EXPLAIN ANALYZE of each query")
    parser.add_argument("--keep", action="store_true", help="keep the bench database")
    parser.add_argument(
        "--concurrent", type=int, metavar="N",
        help="instead: N concurrent readers, alone and during ingest, side by side (floor p95 < 100 ms)",
    )
    parser.add_argument(
        "--matrix", action="store_true",
        help="instead: 1 and 20 readers x alone/during ingest x 1 and 2 workers, side by side",
    )
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per concurrent phase")
    parser.add_argument("--workers", type=int, default=2, help="apicensus serve --workers (concurrent mode)")
    parser.add_argument("--batch", type=int, default=500, help="records per ingested batch (concurrent mode)")
    parser.add_argument(
        "--client", choices=("raw", "httpx"), default="raw",
        help="concurrent readers: a minimal HTTP/1.1 client (default) or httpx (5-10x its CPU per read)",
    )
    args = parser.parse_args(argv)
    if args.matrix:
        return main_matrix(args)
    if args.concurrent:
        return main_concurrent(args)

    try:
        with bench_database(args.keep) as url:
            t0 = time.perf_counter()
            info = build_inventory(url, endpoints=args.endpoints, services=args.services, seed=args.seed)
            c = info["counts"]
            print(
                f"inventory: {c['services']:,} services, {c['endpoints']:,} endpoints, "
                f"{c['pii_findings']:,} PII findings, loaded in {time.perf_counter() - t0:.1f}s"
            )
            if args.explain:
                explain(url, info)
            with serve(url) as base:
                times = measure(base, info["key"], info, args.requests)
    except Exception as exc:  # noqa: BLE001 - a bench reports and exits 2
        print(f"api_latency: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2

    width = max(len(n) for n in times)
    print(
        f"\n{'query':<{width}}  {'p50 ms':>8}  {'p95 ms':>8}  {'max ms':>8}  floor p95 < {FLOOR_P95_MS:g} ms"
    )
    failed = []
    for name, values in times.items():
        p50, p95 = statistics.median(values), _pct(values, 95)
        ok = p95 < FLOOR_P95_MS
        failed += [] if ok else [name]
        print(f"{name:<{width}}  {p50:8.1f}  {p95:8.1f}  {max(values):8.1f}  {'ok' if ok else 'FAIL'}")
    every = [v for values in times.values() for v in values]
    print(
        f"{'overall (' + str(len(every)) + ' requests)':<{width}}  {statistics.median(every):8.1f}  "
        f"{_pct(every, 95):8.1f}  {max(every):8.1f}  {'ok' if _pct(every, 95) < FLOOR_P95_MS else 'FAIL'}"
    )
    print(f"\nfloor {'met' if not failed else 'NOT met: ' + ', '.join(failed)}")
    return 0 if not failed else 1


CONCURRENT_FLOOR_P95_MS = 100.0


def main_concurrent(args: argparse.Namespace) -> int:
    try:
        with bench_database(args.keep) as url:
            info = build_inventory(url, endpoints=args.endpoints, services=args.services, seed=args.seed)
            c = info["counts"]
            print(f"inventory: {c['services']:,} services, {c['endpoints']:,} endpoints, "
                  f"{c['pii_findings']:,} PII findings; serve --workers {args.workers}")
            ingest_key = sensor_key(url)
            results = {}
            with serve(url, "--workers", str(args.workers)) as base:
                measure(base, info["key"], info, 1)  # warm-up: every query answers 200
                results["reads alone"] = measure_concurrent(
                    base, info["key"], info, clients=args.concurrent, duration=args.duration,
                    ingest_key=None, batch_size=args.batch, client=args.client)
                results["reads + ingest"] = measure_concurrent(
                    base, info["key"], info, clients=args.concurrent, duration=args.duration,
                    ingest_key=ingest_key, batch_size=args.batch, client=args.client)
    except Exception as exc:  # noqa: BLE001 - a bench reports and exits 2
        print(f"api_latency: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    return 0 if report_concurrent(results, args.concurrent, CONCURRENT_FLOOR_P95_MS) else 1


MATRIX_CLIENTS = (1, 20)
MATRIX_WORKERS = (1, 2)


def main_matrix(args: argparse.Namespace) -> int:
    """Every (workers, clients, ingest) phase on one inventory; one table."""
    results: dict[tuple[int, int, bool], dict[str, Any]] = {}
    try:
        with bench_database(args.keep) as url:
            info = build_inventory(url, endpoints=args.endpoints, services=args.services, seed=args.seed)
            c = info["counts"]
            print(f"inventory: {c['services']:,} services, {c['endpoints']:,} endpoints, "
                  f"{c['pii_findings']:,} PII findings; {args.duration:g} s per phase, {args.batch}-record batches, "
                  f"{args.client} readers")
            ingest_key = sensor_key(url)
            for workers in MATRIX_WORKERS:
                with serve(url, "--workers", str(workers)) as base:
                    measure(base, info["key"], info, 1)  # warm-up: every query answers 200
                    for clients in MATRIX_CLIENTS:
                        for ingest in (False, True):
                            results[workers, clients, ingest] = measure_concurrent(
                                base, info["key"], info, clients=clients, duration=args.duration,
                                ingest_key=ingest_key if ingest else None, batch_size=args.batch,
                                client=args.client)
                            r = results[workers, clients, ingest]
                            print(f"  workers {workers}, {clients:>2} readers, {'during ingest' if ingest else 'alone'}:"
                                  f" read p95 {_pct(r['times'], 95):.1f} ms", flush=True)
    except Exception as exc:  # noqa: BLE001 - a bench reports and exits 2
        print(f"api_latency: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    return 0 if report_matrix(results, CONCURRENT_FLOOR_P95_MS) else 1


def report_matrix(results: dict[tuple[int, int, bool], dict[str, Any]], floor: float) -> bool:
    columns = [(w, ingest) for w in MATRIX_WORKERS for ingest in (False, True)]
    width = 18
    print("\nGET /api/v1/endpoints, every query of the plan in random order, one keep-alive connection per reader")
    print(f"{'':<30}" + "".join(f"{f'workers {w}':>{width}}{'':>{width}}" for w in MATRIX_WORKERS))
    print(f"{'':<30}" + "".join(f"{'+ ingest' if i else 'alone':>{width}}" for _w, i in columns))

    def row(name: str, clients: int, fn: Any) -> None:
        cells = []
        for w, i in columns:
            r = results.get((w, clients, i))
            cells.append(fn(r) if r and r["times"] else "-")
        print(f"{name:<30}" + "".join(f"{cell:>{width}}" for cell in cells))

    for clients in MATRIX_CLIENTS:
        label = f"{clients} reader{'s' if clients > 1 else ''}"
        row(f"{label}: read p50 ms", clients, lambda r: f"{statistics.median(r['times']):.1f}")
        row(f"{label}: read p95 ms", clients, lambda r: f"{_pct(r['times'], 95):.1f}")
        row(f"{label}: read p99 ms", clients, lambda r: f"{_pct(r['times'], 99):.1f}")
        row(f"{label}: reads/s", clients, lambda r: f"{len(r['times']) / r['elapsed']:.0f}")
        row(f"{label}: read errors", clients, lambda r: f"{len(r['errors'])}")
        row(f"{label}: exchanges in/s", clients,
            lambda r: f"{sum(n for n, _ in r['ingested']) / r['elapsed']:.0f}" if r["ingested"] else "-")
        row(f"{label}: ingest errors", clients,
            lambda r: f"{len(r['ingest_errors'])}" if r["ingested"] else "-")
        # Load-independent: what the service spent (ingest children included during ingest).
        row(f"{label}: serve CPU ms/read", clients, lambda r: f"{1000 * r['cpu_s'] / len(r['times']):.1f}")
        # The readers (this process, httpx) share the same cores: their CPU is part of every latency.
        row(f"{label}: client CPU ms/read", clients,
            lambda r: f"{1000 * r.get('client_cpu_s', 0.0) / len(r['times']):.1f}")
        row(f"{label}: load avg (1 min)", clients, lambda r: f"{r['load']:.1f}")
    print(f"(machine: {os.cpu_count()} cores; a load average above that means the figures share the CPU)")
    top = max(MATRIX_CLIENTS)
    misses = [f"workers {w} {'+ ingest' if i else 'alone'}" for w, i in columns
              if (r := results.get((w, top, i))) is None or not r["times"] or _pct(r["times"], 95) >= floor
              or r["errors"]]
    print(f"\nfloor read p95 < {floor:g} ms at {top} readers, alone and during ingest: "
          + ("met in every column" if not misses else "NOT met: " + ", ".join(misses)))
    return not misses


if __name__ == "__main__":
    sys.exit(main())
