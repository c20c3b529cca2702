"""GET /api/v1/findings on analyzer-built data: sample_pcaps plus a few sensor records with PII in
URLs, with the shop and auth specs imported (see verdict_checks)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from inventory_api.settings import ApiSettings
from tests.conftest import make_exchange
from tests.inventory_api.conftest import SAMPLE_PCAPS, TestClient, analyze, auth, cli
from tests.inventory_api.verdict_checks import AUTH, SHOP, SPECS

LEAKY = "leaky.example"
LEGACY = "legacy.example"
T0 = 1_700_000_000.0  # the sample captures' time


def _jsonl(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


@pytest.fixture(scope="module")
def inventory(pg_url: str, engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> None:
    tmp = tmp_path_factory.mktemp("findings")
    secret = "/v1/lookup?email=jane.doe@example.com&api_key=sk_live_4eC39HqLyjWDarjtT1zdp7dc"
    emails = ["jane.doe@example.com", "john.roe@example.org", "max.mustermann@example.net"]
    records = [
        make_exchange(host=LEAKY, target=secret, ts=T0 + i, response_body='{"ok": true}') for i in range(3)
    ]
    records += [
        make_exchange(host=LEAKY, target=f"/v1/people/{e}/profile", ts=T0 + 10 + i, response_body='{"ok": 1}')
        for i, e in enumerate(emails)
    ]
    # An old API announcing its end: Deprecation and Sunset response headers (RFC 9745 / 8594).
    sunset = [
        ("Content-Type", "application/json"),
        ("Deprecation", "@1688169599"),
        ("Sunset", "Sun, 30 Jun 2024 23:59:59 GMT"),
    ]
    records += [
        make_exchange(
            host=LEGACY, target="/reports", ts=T0 + 20 + i, response_headers=sunset, response_body="[]"
        )
        for i in range(2)
    ]
    records.append(make_exchange(host=LEGACY, target="/status", ts=T0 + 30, response_body='{"ok": 1}'))
    analyze(pg_url, *SAMPLE_PCAPS, _jsonl(tmp / "leaky.jsonl", records))
    code, _ = cli("spec", "import", *map(str, SPECS[1:]), "--db", pg_url)  # shop-2, auth, billing
    assert code == 0


def findings(client: TestClient, key: str, **params: Any) -> dict[str, Any]:
    """Every page of the listing: ``items`` all of them in order, ``counts`` as each page says."""
    params.setdefault("limit", 100)
    items: list[dict[str, Any]] = []
    while True:
        response = client.get("/api/v1/findings", params=params, headers=auth(key))
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        items += body["items"]
        if body["next_cursor"] is None:
            return {**body, "items": items}
        params = {**params, "cursor": body["next_cursor"]}


def keyed(items: list[dict[str, Any]]) -> dict[tuple[str, str, str, str], dict[str, Any]]:
    return {
        (i["kind"], i["endpoint"]["host"], i["endpoint"]["method"], i["endpoint"]["path_template"]): i
        for i in items
    }


def test_findings_kinds_and_severities(client: TestClient, keys: dict[str, str], inventory: None) -> None:
    body = findings(client, keys["analyst"])
    items = keyed(body["items"])
    # PII served without authentication: the token endpoint hands out access tokens to anyone.
    for method in ("GET", "POST"):
        item = items[("pii_unauthenticated", AUTH, method, "/oauth/token")]
        assert item["severity"] == "critical" and "CREDENTIAL" in item["pii_types"]
        assert all(e["location"] == "response" for e in item["evidence"])
    # Credentials and PII in URLs (query and path).
    creds = items[("credentials_in_url", LEAKY, "GET", "/v1/lookup")]
    assert creds["severity"] == "critical" and creds["evidence"][0]["location"] == "query"
    assert items[("pii_in_url", LEAKY, "GET", "/v1/lookup")]["severity"] == "high"
    path_pii = [i for k, i in items.items() if k[0] == "pii_in_url" and "/v1/people/" in k[3]]
    assert len(path_pii) == 1 and path_pii[0]["evidence"][0]["location"] == "path"
    # Shadow endpoints carrying PII: high; documented ones never are.
    assert items[("shadow_pii", "billing.internal.example", "POST", "/invoices")]["severity"] == "high"
    assert items[("shadow_pii", SHOP, "GET", "/v1/customers/{customerId}")]["severity"] == "high"
    assert ("shadow_pii", SHOP, "POST", "/v1/orders") not in items  # documented by shop-2
    assert ("shadow_pii", "search.example.org", "GET", "/search") not in items  # only its auth header
    # Zombies still receiving traffic: medium, with the reasons.
    zombie = items[("zombie_traffic", SHOP, "DELETE", "/v1/orders/{orderId}")]
    assert zombie["severity"] == "medium" and zombie["zombie_reasons"][0]["reason"] == "deprecated"
    assert items[("zombie_traffic", SHOP, "GET", "/v1/products/{productId}")]["severity"] == "medium"
    assert items[("zombie_traffic", AUTH, "GET", "/userinfo")]["severity"] == "medium"
    # Ordered by severity; counts add up; every item links to its endpoint.
    order = ["critical", "high", "medium", "low"]
    ranks = [order.index(i["severity"]) for i in body["items"]]
    assert ranks == sorted(ranks)
    assert sum(body["counts"].values()) == len(body["items"])
    for item in body["items"][:5]:
        endpoint = item["endpoint"]
        assert endpoint["url"].endswith(f"/api/v1/endpoints/{endpoint['id']}")
        detail = client.get(endpoint["url"], headers=auth(keys["analyst"])).json()
        assert (detail["host"], detail["path_template"]) == (endpoint["host"], endpoint["path_template"])


def test_deprecation_and_sunset_headers_make_zombies(
    client: TestClient, keys: dict[str, str], inventory: None
) -> None:
    key = auth(keys["viewer"])
    items = client.get("/api/v1/endpoints", params={"service": LEGACY}, headers=key).json()["items"]
    by_path = {i["path_template"]: i for i in items}
    reports, status = by_path["/reports"], by_path["/status"]
    assert reports["zombie"] and reports["shadow"]  # no spec for the host: both at once
    assert [r["reason"] for r in reports["zombie_reasons"]] == ["sunset_header"]
    assert "Deprecation and Sunset" in reports["zombie_reasons"][0]["detail"]
    assert not status["zombie"]
    finding = keyed(findings(client, keys["viewer"], service=LEGACY)["items"])
    assert finding[("zombie_traffic", LEGACY, "GET", "/reports")]["severity"] == "medium"


def test_filters(client: TestClient, keys: dict[str, str], inventory: None) -> None:
    key = keys["viewer"]
    critical = findings(client, key, severity="critical")["items"]
    assert critical and {i["severity"] for i in critical} == {"critical"}
    both = findings(client, key, kind=["pii_in_url", "credentials_in_url"], service=LEAKY)["items"]
    assert {i["kind"] for i in both} == {"pii_in_url", "credentials_in_url"}
    assert {i["endpoint"]["host"] for i in both} == {LEAKY}
    response = client.get("/api/v1/findings", params={"severity": "urgent"}, headers=auth(key))
    assert response.status_code == 422


def test_roles_and_masking(client: TestClient, keys: dict[str, str], inventory: None) -> None:
    analyst = keyed(findings(client, keys["analyst"])["items"])
    viewer = keyed(findings(client, keys["viewer"])["items"])
    assert analyst.keys() == viewer.keys()
    k = ("pii_in_url", LEAKY, "GET", "/v1/lookup")
    assert analyst[k]["evidence"][0]["sample"] == "j***@e***.com"
    masked = viewer[k]["evidence"][0]["sample"]
    assert masked != analyst[k]["evidence"][0]["sample"] and not any(c.isalnum() and c != "*" for c in masked)
    assert client.get("/api/v1/findings", headers=auth(keys["sensor"])).status_code == 403
    assert client.get("/api/v1/findings").status_code == 401


def test_stale_zombies_are_low(
    client: TestClient, keys: dict[str, str], pg_url: str, inventory: None, tmp_path: Path
) -> None:
    """Forty days of newer traffic elsewhere: the zombies unseen since then drop to low."""
    later = make_exchange(host=LEAKY, target="/v1/health", ts=T0 + 40 * 86400, response_body='{"ok": 1}')
    analyze(pg_url, _jsonl(tmp_path / "later.jsonl", [later]))
    items = keyed(findings(client, keys["viewer"], kind="zombie_traffic")["items"])
    assert items and {i["severity"] for i in items.values()} == {"low"}
    # A write by another process (this analyze) shows in the service's read cache within its TTL
    # (inventory_api/readcache.py): the next tests of the module read this inventory, and a page
    # another test cached less than a TTL ago would still answer from before the write.
    time.sleep(ApiSettings(database_url=pg_url).response_cache_seconds)


def test_pages_walk_the_whole_list_once(client: TestClient, keys: dict[str, str], inventory: None) -> None:
    whole = findings(client, keys["analyst"])
    assert len(whole["items"]) > 7, "the inventory should hold enough findings to page"
    first = client.get("/api/v1/findings", params={"limit": 3}, headers=auth(keys["analyst"])).json()
    assert len(first["items"]) == 3 and first["next_cursor"]
    assert first["counts"] == whole["counts"]  # counted over everything that matches, not the page
    walked = findings(client, keys["analyst"], limit=3)
    assert [i["id"] for i in walked["items"]] == [i["id"] for i in whole["items"]]
    assert len({i["id"] for i in walked["items"]}) == len(walked["items"])
    # Default page size (the API settings' 50) applies without a limit.
    default = client.get("/api/v1/findings", headers=auth(keys["analyst"])).json()
    assert len(default["items"]) == min(50, len(whole["items"]))
    # A filter keeps its order and pages too.
    high = findings(client, keys["viewer"], severity="high", limit=2)
    assert [i["id"] for i in high["items"]] == [i["id"] for i in whole["items"] if i["severity"] == "high"]


@pytest.mark.parametrize(
    "cursor",
    [
        "x",
        "e30",  # {}
        "eyJzIjoiZmluZGluZ3MiLCJrIjpbMSwyXX0",  # right scope, key too short
        "eyJzIjoiZXZlbnRzIiwiayI6WzAsMCwiYSIsImIiLCJjIiwiZCJdfQ",  # another list's cursor
        "eyJzIjoiZmluZGluZ3MiLCJrIjpbIjAiLDAsImEiLCJiIiwiYyIsImQiXX0",  # a string where an int goes
    ],
)
def test_forged_cursors_are_422(client: TestClient, keys: dict[str, str], cursor: str) -> None:
    response = client.get("/api/v1/findings", params={"cursor": cursor}, headers=auth(keys["viewer"]))
    assert response.status_code == 422, response.text
