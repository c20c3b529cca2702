"""Expected verdicts for sample_pcaps/*.pcap with data/shop-1.yaml, data/shop-2.yaml, data/auth.json
and data/billing.yaml imported (shop-2 after shop-1): shared by the traffic-first and the spec-first test modules."""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path
from typing import Any

from tests.inventory_api.conftest import TestClient, auth, cli

DATA = Path(__file__).resolve().parent / "data"
SPECS = [DATA / "shop-1.yaml", DATA / "shop-2.yaml", DATA / "auth.json", DATA / "billing.yaml"]
SHOP, AUTH = "api.shop.example", "auth.example.net"
PRODUCT_METHODS = ("GET", "PUT", "PATCH", "DELETE", "HEAD")

# (host, method, path) -> (documented, shadow, zombie reasons)
EXPECTED: dict[tuple[str, str, str], tuple[bool, bool, set[str]]] = {
    (SHOP, "GET", "/v1/orders"): (True, False, set()),
    (SHOP, "POST", "/v1/orders"): (True, False, set()),
    # /v1/orders/{id} documents /v1/orders/{orderId}: structure, not parameter names.
    (SHOP, "GET", "/v1/orders/{orderId}"): (True, False, set()),
    (SHOP, "PATCH", "/v1/orders/{orderId}"): (True, False, set()),
    (SHOP, "DELETE", "/v1/orders/{orderId}"): (True, False, {"deprecated"}),
    # In shop-1, not in shop-2: removed from the latest spec, so shadow and zombie at once.
    (SHOP, "GET", "/v1/carts/{cartId}/items"): (False, True, {"removed"}),
    # /v1/customers/me documented literally does not cover the observed parameter.
    (SHOP, "GET", "/v1/customers/{customerId}"): (False, True, set()),
    (SHOP, "PATCH", "/v1/customers/{customerId}"): (False, True, set()),
    (SHOP, "GET", "/v1/products"): (False, True, set()),
    # /v2/products/{sku} documented: every /v1/products/{productId} is superseded.
    **{(SHOP, m, "/v1/products/{productId}"): (False, True, {"superseded"}) for m in PRODUCT_METHODS},
    # Literal beats parameter: /oauth/token (live) wins over /oauth/{step} (deprecated).
    (AUTH, "GET", "/oauth/token"): (True, False, set()),
    (AUTH, "POST", "/oauth/token"): (True, False, set()),
    # No literal documents /userinfo: the deprecated /{page} does.
    (AUTH, "GET", "/userinfo"): (True, False, {"deprecated"}),
    # A host without a spec is entirely undocumented.
    ("search.example.org", "GET", "/search"): (False, True, set()),
    # GET documented: HEAD too; the other methods are not.
    ("billing.internal.example", "GET", "/invoices/{invoiceId}"): (True, False, set()),
    ("billing.internal.example", "HEAD", "/invoices/{invoiceId}"): (True, False, set()),
    ("billing.internal.example", "DELETE", "/invoices/{invoiceId}"): (False, True, set()),
}
ORPHANS = {
    (SHOP, "GET", "/v1/customers/me"),
    (SHOP, "GET", "/v2/products/{sku}"),
    (AUTH, "GET", "/oauth/{step}"),
}


def export(url: str) -> list[dict[str, Any]]:
    """The real ``apicensus export --format json`` (through a file: it writes bytes)."""
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "inventory.json"
        code, _ = cli("export", "--format", "json", "--db", url, "--output", str(target))
        assert code == 0
        endpoints: list[dict[str, Any]] = json.loads(target.read_bytes())["endpoints"]
    return endpoints


def shape(key: tuple[str, str, str]) -> tuple[str, str, str]:
    """Templates compared by structure: a spec imported before the traffic names the parameters
    (its templates win), traffic alone names them after the preceding literal."""
    host, method, template = key
    return host, method, re.sub(r"\{[^}]*\}", "{}", template)


# With the spec imported before the traffic, its templates win: /userinfo is a value of the
# documented /{page}, so it is observed as that endpoint (still deprecated).
SPEC_FIRST_RENAMES = {(AUTH, "GET", "/userinfo"): (AUTH, "GET", "/{page}")}


def expected(spec_first: bool) -> dict[tuple[str, str, str], tuple[bool, bool, set[str]]]:
    if not spec_first:
        return EXPECTED
    return {SPEC_FIRST_RENAMES.get(k, k): v for k, v in EXPECTED.items()}


def check_export(url: str, *, spec_first: bool = False) -> None:
    table = expected(spec_first)
    endpoints = export(url)
    by_key = {shape((e["host"], e["method"], e["path_template"])): e for e in endpoints}
    for key, (documented, shadow, reasons) in table.items():
        e = by_key[shape(key)]
        got = (e["documented"], e["shadow"], {r["reason"] for r in e["zombie_reasons"]})
        assert got == (documented, shadow, reasons), key
        assert e["zombie"] is bool(reasons) and e["orphan"] is False and e["hits"] > 0
    orphans = {shape((e["host"], e["method"], e["path_template"])) for e in endpoints if e["orphan"]}
    assert orphans == {shape(k) for k in ORPHANS}
    assert all(e["hits"] == 0 and e["documented"] and not e["shadow"] for e in endpoints if e["orphan"])
    superseded = by_key[shape((SHOP, "GET", "/v1/products/{productId}"))]["zombie_reasons"]
    assert re.search(r"/v2/products/\{[^}]+\}", superseded[0]["detail"])
    # Everything observed that is not expected above is shadow (no spec covers it).
    expected_shapes = {shape(k) for k in table}
    for key, e in by_key.items():
        if key not in expected_shapes and not e["orphan"] and key[0] not in (SHOP, AUTH, "billing.internal.example"):
            assert e["shadow"] and not e["documented"], key


def check_api(client: TestClient, key: str, *, spec_first: bool = False) -> None:
    headers = auth(key)
    SHAPED = {shape(k): v for k, v in expected(spec_first).items()}  # noqa: N806 - the EXPECTED table, by shape

    def listed(**params: Any) -> set[tuple[str, str, str]]:
        response = client.get("/api/v1/endpoints", params={"limit": 100, **params}, headers=headers)
        assert response.status_code == 200, response.text
        return {shape((i["host"], i["method"], i["path_template"])) for i in response.json()["items"]}

    zombies = {k for k, (_, _, reasons) in SHAPED.items() if reasons}
    assert listed(zombie="true") == zombies
    shadow = listed(shadow="true")
    assert {k for k, v in SHAPED.items() if v[1]} <= shadow
    assert not {k for k, v in SHAPED.items() if not v[1]} & shadow
    assert listed(shadow="true", zombie="true") == {k for k in zombies if SHAPED[k][1]}
    assert listed(orphan="true") == {shape(k) for k in ORPHANS}
    page = client.get("/api/v1/endpoints", params={"orphan": "true", "limit": 2}, headers=headers).json()
    assert len(page["items"]) == 2 and page["next_cursor"]
    rest = client.get(
        "/api/v1/endpoints",
        params={"orphan": "true", "limit": 2, "cursor": page["next_cursor"]},
        headers=headers,
    ).json()
    assert len(rest["items"]) == 1 and rest["next_cursor"] is None
    orphan = rest["items"][0]
    assert orphan["id"] is None and orphan["hits"] == 0 and orphan["orphan"] and orphan["spec_operation_id"]
    assert (
        client.get(
            "/api/v1/endpoints", params={"orphan": "true", "sort": "hits"}, headers=headers
        ).status_code
        == 422
    )
    # Detail: verdict and reasons.
    (item,) = client.get(
        "/api/v1/endpoints",
        params={"service": SHOP, "q": "/v1/orders/", "method": "DELETE"},
        headers=headers,
    ).json()["items"]
    detail = client.get(f"/api/v1/endpoints/{item['id']}", headers=headers).json()
    assert (detail["documented"], detail["shadow"], detail["zombie"], detail["orphan"]) == (
        True,
        False,
        True,
        False,
    )
    assert [r["reason"] for r in detail["zombie_reasons"]] == ["deprecated"]
    assert detail["spec_operation_id"] is not None
