"""The read fast paths: pre-serialised list pages match the response model exactly, and the
verified-key cache (bounded, keyed by an HMAC, revocation in this process at once, elsewhere
within its TTL)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, select, update

from analyzer.db.models import ApiKey, Endpoint, EndpointVerdict
from analyzer.db.session import make_session_factory
from inventory_api import crud
from inventory_api.keycache import CachedKey, KeyCache, current_epoch, revoked_here
from inventory_api.schemas import ApiKeyCreate, EndpointDetail, EndpointsPage
from inventory_api.security import Role
from tests.inventory_api.conftest import SAMPLE_PCAPS, TestClient, analyze, auth


@pytest.fixture(scope="module")
def zombie_id(pg_url: str, engine: Engine) -> int:
    """The sample inventory, one endpoint given a zombie verdict with two reasons."""
    analyze(pg_url, *SAMPLE_PCAPS)
    with make_session_factory(engine)() as session:
        eid = session.scalars(select(Endpoint.id).order_by(Endpoint.id)).first()
        assert eid is not None
        session.merge(
            EndpointVerdict(
                endpoint_id=eid, documented=True, shadow=False, zombie=True, spec_operation_id=None,
                zombie_reasons=[{"reason": "deprecated", "detail": "GET /x is deprecated"},
                                {"reason": "sunset_header", "detail": "responses carry Sunset headers"}],
            )
        )  # fmt: skip
        session.commit()
        return eid


@pytest.mark.parametrize(
    "params",
    [{}, {"sort": "-hits"}, {"sort": "-last_seen", "limit": 3}, {"zombie": "true"}, {"pii_type": "EMAIL_ADDRESS"}],
)
@pytest.mark.parametrize("role", ["admin", "viewer"])
def test_list_pages_are_exactly_the_response_model(
    client: TestClient, keys: dict[str, str], zombie_id: int, params: dict[str, Any], role: str
) -> None:
    params = dict(params)
    seen = 0
    while True:
        response = client.get("/api/v1/endpoints", params=params, headers=auth(keys[role]))
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "application/json"
        body = response.json()
        # Valid, and nothing the model would drop, rename or reformat (datetimes as pydantic writes them).
        assert EndpointsPage.model_validate(body).model_dump(mode="json") == body
        seen += len(body["items"])
        if body["next_cursor"] is None:
            break
        params["cursor"] = body["next_cursor"]
    assert seen > 0


def test_zombie_reasons_and_detail_survive_the_fast_path(
    client: TestClient, keys: dict[str, str], zombie_id: int
) -> None:
    body = client.get("/api/v1/endpoints", params={"zombie": "true"}, headers=auth(keys["admin"])).json()
    item = next(i for i in body["items"] if i["id"] == zombie_id)
    assert [r["reason"] for r in item["zombie_reasons"]] == ["deprecated", "sunset_header"]
    assert item["first_seen"].endswith("Z")
    detail = client.get(f"/api/v1/endpoints/{zombie_id}", headers=auth(keys["viewer"]))
    assert detail.status_code == 200
    assert EndpointDetail.model_validate(detail.json()).model_dump(mode="json") == detail.json()
    assert client.get("/api/v1/endpoints/2147483647", headers=auth(keys["viewer"])).status_code == 404


def _new_key(engine: Engine, role: Role = Role.VIEWER) -> tuple[int, str]:
    with make_session_factory(engine)() as session:
        row, secret = crud.create_api_key(session=session, key_in=ApiKeyCreate(role=role, name="cache-test"))
        return row.id, secret


def test_revocation_in_this_process_is_immediate(client: TestClient, engine: Engine) -> None:
    key_id, secret = _new_key(engine)
    assert client.get("/api/v1/services", headers=auth(secret)).status_code == 200  # now cached
    with make_session_factory(engine)() as session:
        assert crud.revoke_api_key(session=session, key_id=key_id)
    assert client.get("/api/v1/services", headers=auth(secret)).status_code == 401


def test_revocation_elsewhere_is_honoured_within_the_ttl(pg_url: str, engine: Engine) -> None:
    from inventory_api.app import create_app
    from inventory_api.settings import ApiSettings

    key_id, secret = _new_key(engine)
    with TestClient(create_app(ApiSettings(database_url=pg_url, key_cache_seconds=0.5))) as c:
        assert c.get("/api/v1/services", headers=auth(secret)).status_code == 200
        with engine.begin() as conn:  # as another process would: straight to the database
            conn.execute(update(ApiKey).where(ApiKey.id == key_id).values(revoked_at=datetime.now(UTC)))
        start = time.monotonic()
        while c.get("/api/v1/services", headers=auth(secret)).status_code == 200:
            assert time.monotonic() - start < 2.0, "a revoked key outlived the cache TTL"
            time.sleep(0.05)
        assert time.monotonic() - start <= 0.5 + 0.3


def test_unknown_keys_are_not_cached_and_new_keys_work_at_once(client: TestClient, engine: Engine) -> None:
    assert client.get("/api/v1/services", headers=auth("apc_not-a-key")).status_code == 401
    _key_id, secret = _new_key(engine, Role.SENSOR)
    assert client.get("/api/v1/services", headers=auth(secret)).status_code == 403  # role from the row
    cache: KeyCache = client.app.state.key_cache  # type: ignore[attr-defined]
    assert cache.get("apc_not-a-key") is None and cache.get(secret) is not None


def test_the_cache_is_bounded_and_holds_no_key() -> None:
    cache = KeyCache(ttl=60, size=8)
    for i in range(100):
        cache.put(f"apc_secret{i}", CachedKey(key_id=i, role="viewer"), epoch=current_epoch())
    assert len(cache) == 8
    assert cache.get("apc_secret0") is None and cache.get("apc_secret99") == CachedKey(99, "viewer")
    slots = list(cache._entries)
    assert all(b"apc_secret" not in slot and len(slot) == 32 for slot in slots)
    revoked_here()  # any revocation in this process empties it
    assert cache.get("apc_secret99") is None
    off = KeyCache(ttl=0)
    off.put("x", CachedKey(1, "admin"), epoch=current_epoch())
    assert off.get("x") is None


# --- the response cache --------------------------------------------------------------------------


def test_cached_reads_are_per_role(
    pg_url: str, client: TestClient, keys: dict[str, str], zombie_id: int
) -> None:
    """Each role gets what an uncached service answers it, whichever role asked first."""
    from inventory_api.app import create_app
    from inventory_api.settings import ApiSettings

    paths = [f"/api/v1/endpoints/{zombie_id}", "/api/v1/endpoints?limit=5", "/api/v1/services"]
    with TestClient(create_app(ApiSettings(database_url=pg_url, response_cache_seconds=0))) as plain:
        for path in paths:
            for role in ("analyst", "viewer", "analyst", "viewer", "admin"):
                got = client.get(path, headers=auth(keys[role]))
                assert got.status_code == 200
                assert got.json() == plain.get(path, headers=auth(keys[role])).json(), (path, role)
    assert client.app.state.response_cache.hits > 0  # type: ignore[attr-defined]
    # A sensor key is refused as before (never served from the cache).
    assert client.get(paths[1], headers=auth(keys["sensor"])).status_code == 403
    assert client.get(paths[1]).status_code == 401


def test_a_write_here_is_read_back_at_once(client: TestClient, keys: dict[str, str], zombie_id: int) -> None:
    path = f"/api/v1/endpoints/{zombie_id}"
    before = client.get(path, headers=auth(keys["admin"])).json()
    client.get(path, headers=auth(keys["admin"]))  # cached now
    owner = "team-" + str(time.monotonic_ns())
    patched = client.patch(path, json={"owner": owner}, headers=auth(keys["admin"]))
    assert patched.status_code == 200, patched.text
    assert before["owner"] != owner
    assert client.get(path, headers=auth(keys["admin"])).json()["owner"] == owner
    listed = client.get("/api/v1/endpoints", params={"owner": owner}, headers=auth(keys["viewer"])).json()
    assert [i["id"] for i in listed["items"]] == [zombie_id]


def test_a_write_elsewhere_shows_within_the_ttl(pg_url: str, engine: Engine, keys: dict[str, str], zombie_id: int) -> None:
    from inventory_api.app import create_app
    from inventory_api.settings import ApiSettings

    path = f"/api/v1/endpoints/{zombie_id}"
    with TestClient(create_app(ApiSettings(database_url=pg_url, response_cache_seconds=0.5))) as c:
        c.get(path, headers=auth(keys["admin"]))
        owner = "elsewhere-" + str(time.monotonic_ns())
        with engine.begin() as conn:  # as another worker would
            conn.execute(update(Endpoint).where(Endpoint.id == zombie_id).values(owner=owner))
        start = time.monotonic()
        while c.get(path, headers=auth(keys["admin"])).json()["owner"] != owner:
            assert time.monotonic() - start < 2.0, "a cached read outlived its TTL"
            time.sleep(0.05)


def test_the_response_cache_is_bounded() -> None:
    from inventory_api.readcache import ResponseCache, _Entry

    cache = ResponseCache(ttl=60, max_entries=10, max_bytes=1000, max_entry_bytes=300)
    for i in range(50):
        cache.put(("viewer", f"/p{i}", b""), _Entry(time.monotonic() + 60, 0, 200, [], b"x" * 200))
    assert len(cache) == 5 and cache._bytes == 1000
    cache.put(("viewer", "/big", b""), _Entry(time.monotonic() + 60, 0, 200, [], b"x" * 301))
    assert cache.get(("viewer", "/big", b"")) is None
    assert cache.get(("viewer", "/p49", b"")) is not None and cache.get(("analyst", "/p49", b"")) is None
    cache.invalidate()
    assert len(cache) == 0 and cache.get(("viewer", "/p49", b"")) is None


def test_concurrent_identical_misses_query_once(pg_url: str, keys: dict[str, str], zombie_id: int) -> None:
    import asyncio

    import httpx
    from sqlalchemy import event

    from inventory_api.app import create_app
    from inventory_api.settings import ApiSettings

    app = create_app(ApiSettings(database_url=pg_url))
    listings: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "FROM endpoints JOIN services" in statement:
            listings.append(statement)

    event.listen(app.state.engine, "before_cursor_execute", count)

    async def run() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t", headers=auth(keys["viewer"])) as c:
            assert (await c.get("/api/v1/services")).status_code == 200  # the key is verified (cached) now
            return await asyncio.gather(*(c.get("/api/v1/endpoints", params={"sort": "-hits"}) for _ in range(12)))

    answers = asyncio.run(run())
    assert all(a.status_code == 200 for a in answers)
    assert len({a.content for a in answers}) == 1
    assert len(listings) == 1, f"{len(listings)} listing queries for 12 identical concurrent reads"
    app.state.engine.dispose()


def test_ingested_batches_do_not_empty_the_cache(pg_url: str, keys: dict[str, str], zombie_id: int) -> None:
    """A sensor posts batches back to back: each one emptying the cache kept it empty for as long
    as ingest ran. Batches show within the TTL instead; other writes still empty it at once."""
    from inventory_api.app import create_app
    from inventory_api.settings import ApiSettings
    from sensor.plumbing.wire import encode_batch

    path = "/api/v1/endpoints?limit=5"
    with TestClient(create_app(ApiSettings(database_url=pg_url, response_cache_seconds=30))) as c:
        cache = c.app.state.response_cache  # type: ignore[attr-defined]
        assert c.get("/api/v1/services", headers=auth(keys["viewer"])).status_code == 200  # key verified
        for _ in range(100):  # until a read hits: the app's start-up writes may empty the cache first
            before = cache.hits
            assert c.get(path, headers=auth(keys["viewer"])).status_code == 200
            if cache.hits > before:
                break
            time.sleep(0.05)
        generation, hits = cache.generation, cache.hits
        batch = encode_batch([b'{"method": "GET", "target": "/cache-probe", "uid": "cache-probe-1", "status": 200}'])
        posted = c.post(
            "/api/v1/ingest", content=batch, headers={**auth(keys["sensor"]), "Content-Encoding": "zstd"}
        )
        assert posted.status_code == 200, posted.text
        assert cache.generation == generation
        assert c.get(path, headers=auth(keys["viewer"])).status_code == 200
        assert cache.hits == hits + 1
        patched = c.patch(f"/api/v1/endpoints/{zombie_id}", json={"tags": ["probe"]}, headers=auth(keys["admin"]))
        assert patched.status_code == 200 and cache.generation > generation and len(cache) == 0


def test_the_ingest_child_runs_at_the_configured_niceness(pg_url: str) -> None:
    import os

    from analyzer.ingest_process import IngestProcess

    child = IngestProcess(pg_url, niceness=7)
    try:
        assert child._executor().submit(os.nice, 0).result(timeout=60) == os.nice(0) + 7
    finally:
        child.close()


def test_a_hot_entry_is_refreshed_before_it_expires(
    pg_url: str, engine: Engine, keys: dict[str, str], zombie_id: int
) -> None:
    """A hit late in an entry's TTL re-reads it in the background: the reader is answered from
    the entry (no older than the TTL), the next ones get the new read without a miss."""
    from inventory_api.app import create_app
    from inventory_api.readcache import REFRESH_AT
    from inventory_api.settings import ApiSettings

    ttl = 3.0
    path = f"/api/v1/endpoints/{zombie_id}"
    with TestClient(create_app(ApiSettings(database_url=pg_url, response_cache_seconds=ttl))) as c:
        cache = c.app.state.response_cache  # type: ignore[attr-defined]
        assert c.get("/api/v1/services", headers=auth(keys["admin"])).status_code == 200  # key verified
        before = c.get(path, headers=auth(keys["admin"])).json()["owner"]
        cached_at = time.monotonic()  # the entry was made by now: its refresh is due by this + REFRESH_AT * ttl
        owner = "refreshed-" + str(time.monotonic_ns())
        with engine.begin() as conn:  # as another worker would
            conn.execute(update(Endpoint).where(Endpoint.id == zombie_id).values(owner=owner))
        assert c.get(path, headers=auth(keys["admin"])).json()["owner"] == before  # early: a plain hit
        assert cache.refreshes == 0
        time.sleep(max(0.0, cached_at + REFRESH_AT * ttl + 0.05 - time.monotonic()))
        misses = cache.misses
        assert c.get(path, headers=auth(keys["admin"])).json()["owner"] == before  # answered at once...
        assert cache.refreshes == 1
        while (got := c.get(path, headers=auth(keys["admin"])).json()["owner"]) != owner:  # ...then re-read
            assert got == before and time.monotonic() < cached_at + ttl, "the refresh did not land in time"
            time.sleep(0.02)
        assert cache.misses == misses, "a reader waited for the refresh"
        assert cache.refreshes == 1  # one background read, however many hits meanwhile


def test_a_verdict_refresh_has_entries_re_read_not_dropped(
    pg_url: str, engine: Engine, keys: dict[str, str], zombie_id: int
) -> None:
    """The verdict refresher (every 5 s during ingest) marks the cache instead of emptying it: each
    entry's next hit re-reads it in the background, and no reader waits."""
    from inventory_api.app import create_app
    from inventory_api.settings import ApiSettings

    path = f"/api/v1/endpoints/{zombie_id}"
    with TestClient(create_app(ApiSettings(database_url=pg_url, response_cache_seconds=30))) as c:
        cache = c.app.state.response_cache  # type: ignore[attr-defined]
        assert c.get("/api/v1/services", headers=auth(keys["admin"])).status_code == 200  # key verified
        before = c.get(path, headers=auth(keys["admin"])).json()["owner"]
        owner = "verdicts-" + str(time.monotonic_ns())
        with engine.begin() as conn:  # as the ingest child would
            conn.execute(update(Endpoint).where(Endpoint.id == zombie_id).values(owner=owner))
        assert c.get(path, headers=auth(keys["admin"])).json()["owner"] == before and cache.refreshes == 0
        cache.refresh_all()
        misses, generation = cache.misses, cache.generation
        assert c.get(path, headers=auth(keys["admin"])).json()["owner"] == before and cache.refreshes == 1
        start = time.monotonic()
        while c.get(path, headers=auth(keys["admin"])).json()["owner"] != owner:
            assert time.monotonic() - start < 10, "the refresh did not land"
            time.sleep(0.02)
        assert cache.misses == misses and cache.generation == generation and cache.refreshes == 1
