"""GET /api/v1/findings pages come from one build per inventory version (inventory_api.findings_cache):
the same findings, order, counts and masking as building them for the request, on PostgreSQL and
SQLite, and a write to the inventory shows on the next page."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from analyzer.inventory.findings import build_findings, severity_counts
from inventory_api.findings_cache import FindingsCache
from tests.conftest import make_exchange
from tests.inventory_api.conftest import SAMPLE_PCAPS, TestClient, analyze, auth, cli
from tests.inventory_api.verdict_checks import SHOP, SPECS

T0 = 1_700_000_000.0
LEAKY = "leaky.example"


@pytest.fixture(scope="module", params=["postgresql", "sqlite"])
def db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if request.param == "postgresql":
        yield request.getfixturevalue("pg_url")
    else:
        yield f"sqlite:///{tmp_path_factory.mktemp('findings_pages') / 'inventory.db'}"


@pytest.fixture(scope="module")
def inventory(db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, Engine, dict[str, str]]]:
    from analyzer.db.session import make_engine, make_session_factory, run_migrations
    from inventory_api import crud
    from inventory_api.app import create_app
    from inventory_api.schemas import ApiKeyCreate
    from inventory_api.security import Role
    from inventory_api.settings import ApiSettings

    tmp = tmp_path_factory.mktemp("findings_pages_records")
    records = [
        make_exchange(host=LEAKY, target=f"/v1/people/{who}@example.com/profile?token=sk_live_4eC39HqLyjWDarjtT1zdp7d{n}",
                      ts=T0 + n, response_body=json.dumps({"email": f"{who}@example.com"}))
        for n, who in enumerate(("jane.doe", "john.roe", "max.mustermann"))
    ]
    (tmp / "leaky.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    analyze(db_url, *SAMPLE_PCAPS, tmp / "leaky.jsonl")
    assert cli("spec", "import", *map(str, SPECS[1:]), "--db", db_url)[0] == 0
    engine = make_engine(db_url)
    run_migrations(engine)
    keys: dict[str, str] = {}
    with make_session_factory(engine)() as session:
        for role in ("analyst", "viewer"):
            keys[role] = crud.create_api_key(session=session, key_in=ApiKeyCreate(role=Role(role), name=role))[1]
    # No response cache: every request reaches the route.
    app = create_app(ApiSettings(database_url=db_url, max_page_size=100, response_cache_seconds=0))
    with TestClient(app) as client:
        yield client, engine, keys
    engine.dispose()


def walk(client: TestClient, key: str, **params: Any) -> tuple[list[dict[str, Any]], list[dict[str, int]]]:
    """Every page's items, and the counts each page gave."""
    items: list[dict[str, Any]] = []
    counts: list[dict[str, int]] = []
    while True:
        response = client.get("/api/v1/findings", params=params, headers=auth(key))
        assert response.status_code == 200, response.text
        body = response.json()
        items += body["items"]
        counts.append(body["counts"])
        if body["next_cursor"] is None:
            return items, counts
        params = {**params, "cursor": body["next_cursor"]}


def built(engine: Engine, **filters: Any) -> list[dict[str, Any]]:
    """What building the findings for the request gives (the route before the cache)."""
    from analyzer.db.session import make_session_factory

    with make_session_factory(engine)() as session:
        return build_findings(session=session, **filters)


def unlinked(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for item in items:
        item = dict(item)
        for ref in ("endpoint", "tls_service"):
            if item.get(ref) is not None:
                item[ref] = {k: v for k, v in item[ref].items() if k != "url"}
        out.append(item)
    return out


FILTERS: list[dict[str, Any]] = [
    {},
    {"severity": ["high"]},
    {"kind": ["pii_in_url", "credentials_in_url"]},
    {"service": LEAKY},
    {"severity": ["critical", "medium"], "service": SHOP},
]


def _as_build(params: dict[str, Any]) -> dict[str, Any]:
    return {"severities": params.get("severity", ()), "kinds": params.get("kind", ()), "host": params.get("service")}


def test_pages_are_what_a_build_per_request_gave(inventory: tuple[TestClient, Engine, dict[str, str]]) -> None:
    client, engine, keys = inventory
    cache: FindingsCache = client.app.state.findings_cache  # type: ignore[attr-defined]
    before = cache.builds
    assert len(built(engine, full_samples=True)) > 8, "the inventory should hold enough findings to page"
    for role, full in (("analyst", True), ("viewer", False)):
        for params in FILTERS:
            items, counts = walk(client, keys[role], limit=3, **params)
            expected = built(engine, full_samples=full, **_as_build(params))
            assert unlinked(items) == expected, (role, params)
            assert all(c == severity_counts(expected) for c in counts), (role, params)
    # One build served every page, filter and role; the route never wrote into it.
    assert cache.builds - before <= 1
    assert cache._build is not None
    assert all("url" in i["endpoint"] for i in items if i["endpoint"])
    assert not any("url" in (i["endpoint"] or {}) for i in cache._build.everything.items)


def test_a_write_shows_on_the_next_page(
    inventory: tuple[TestClient, Engine, dict[str, str]], db_url: str, tmp_path: Path
) -> None:
    client, engine, keys = inventory
    cache: FindingsCache = client.app.state.findings_cache  # type: ignore[attr-defined]
    walk(client, keys["analyst"], limit=50)
    builds = cache.builds
    walk(client, keys["analyst"], limit=50)
    assert cache.builds == builds  # nothing changed: no build
    later = make_exchange(host="fresh.example", target="/v2/lookup?email=ann.lee@example.com", ts=T0 + 100,
                          response_body='{"ok": 1}')
    (tmp_path / "later.jsonl").write_text(json.dumps(later) + "\n")
    analyze(db_url, tmp_path / "later.jsonl")
    items, _ = walk(client, keys["analyst"], limit=50, service="fresh.example")
    assert {i["kind"] for i in items} >= {"pii_in_url"}
    assert cache.builds == builds + 1
    assert unlinked(walk(client, keys["analyst"], limit=50)[0]) == built(engine, full_samples=True)


def test_a_verdict_swap_that_keeps_the_counts_shows(inventory: tuple[TestClient, Engine, dict[str, str]]) -> None:
    """One shadow endpoint documented while a documented one turns shadow: the same number of
    shadow endpoints, other findings (the version must tell which endpoints, not only how many)."""
    client, engine, keys = inventory
    walk(client, keys["analyst"])
    with engine.begin() as conn:
        rows = conn.execute(text(
            "SELECT v.endpoint_id, v.shadow FROM endpoint_verdicts v JOIN pii_findings p ON p.endpoint_id = v.endpoint_id "
            "WHERE p.location IN ('request', 'response', 'path', 'query') ORDER BY v.endpoint_id"
        )).all()
        shadow = next(r.endpoint_id for r in rows if r.shadow)
        documented = next(r.endpoint_id for r in rows if not r.shadow)
        conn.execute(text("UPDATE endpoint_verdicts SET shadow = NOT shadow WHERE endpoint_id IN (:a, :b)"),
                     {"a": shadow, "b": documented})
    items, _ = walk(client, keys["analyst"], kind="shadow_pii")
    ids = {i["endpoint"]["id"] for i in items}
    assert documented in ids and shadow not in ids
    assert unlinked(items) == built(engine, full_samples=True, kinds=["shadow_pii"])
