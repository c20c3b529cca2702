"""OpenAPI import: POST /api/v1/specs and `apicensus spec import`, on analyzer-built data."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from analyzer.db.models import ApiSpec, Endpoint, Service, SpecOperation
from tests.inventory_api.conftest import SAMPLE_PCAPS, TestClient, analyze, auth, cli, spec_rows

SHOP_YAML = """
openapi: 3.0.3
info: {title: Shop, version: "1.2", x-released: 2024-01-31}
servers:
  - url: https://{env}.shop.example/v1
    variables: {env: {default: api}}
paths:
  /orders:
    get: {responses: {200: {description: ok}}}
    post: {responses: {"201": {description: created}}}
  /orders/{id}:
    get: {responses: {"200": {description: ok}}}
    delete: {deprecated: true, responses: {"204": {description: gone}}}
  /never/seen:
    get: {responses: {"200": {description: ok}}}
"""

BILLING_SWAGGER = {
    "swagger": "2.0",
    "info": {"title": "Billing", "version": "7"},
    "host": "billing.internal.example:80",
    "basePath": "/",
    "paths": {
        "/invoices": {"get": {"responses": {}}, "post": {"responses": {}}},
        "/invoices/{invoice}": {"get": {"responses": {}}, "options": {"responses": {}}},
    },
}

USERS_31 = {
    "openapi": "3.1.0",
    "info": {"title": "Users", "version": "2"},
    "servers": [{"url": "/api/v2"}],
    "paths": {"/users": {"get": {"responses": {}}}, "/users/{userId}": {"get": {}, "delete": {}}},
}


@pytest.fixture(scope="module")
def inventory(pg_url: str, engine: Engine) -> None:
    analyze(pg_url, *SAMPLE_PCAPS)


def verdict(engine: Engine, host: str, method: str, path: str) -> str | None:
    with engine.connect() as conn:
        return conn.scalar(
            select(Endpoint.spec_verdict)
            .join(Service, Service.id == Endpoint.service_id)
            .where(Service.host == host, Endpoint.method == method, Endpoint.path_template == path)
        )


def test_post_yaml_openapi_3_0_matches_observed_endpoints(
    client: TestClient, keys: dict[str, str], engine: Engine, inventory: None
) -> None:
    response = client.post(
        "/api/v1/specs",
        content=SHOP_YAML.encode(),
        headers={**auth(keys["analyst"]), "Content-Type": "application/yaml"},
        params={"name": "shop.yaml"},
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["name"], body["version"], body["openapi_version"], body["host"]) == (
        "Shop",
        "1.2",
        "3.0.3",
        "api.shop.example",
    )
    assert body["service_id"] is not None
    assert (body["operations"], body["matched"], body["orphans"], body["deprecated_seen"]) == (5, 4, 1, 1)
    assert verdict(engine, "api.shop.example", "GET", "/v1/orders/{orderId}") == "documented"
    assert verdict(engine, "api.shop.example", "DELETE", "/v1/orders/{orderId}") == "zombie"
    # Observed, not in the spec: shadow (stored since verdicts are recomputed on every import).
    assert verdict(engine, "api.shop.example", "GET", "/v1/products") == "shadow"
    with engine.connect() as conn:
        ops = conn.execute(
            select(SpecOperation.method, SpecOperation.path_template, SpecOperation.verdict).where(
                SpecOperation.spec_id == body["spec_id"]
            )
        ).all()
    assert ("GET", "/v1/never/seen", "orphan") in ops
    # Visible through the catalog, to every reader.
    listed = client.get("/api/v1/specs", headers=auth(keys["viewer"])).json()
    assert any(
        s["id"] == body["spec_id"] and s["verdicts"] == {"observed": 3, "zombie": 1, "orphan": 1}
        for s in listed
    )


def test_verdict_filters(client: TestClient, keys: dict[str, str], engine: Engine) -> None:
    """After the shop spec: documented, zombie and shadow (not in any spec, whatever the host)."""
    key = auth(keys["viewer"])

    def listed(verdict: str) -> set[tuple[str, str, str]]:
        body = client.get(
            "/api/v1/endpoints", params={"spec_verdict": verdict, "limit": 100}, headers=key
        ).json()
        assert all(i["spec_verdict"] == verdict for i in body["items"])
        return {(i["host"], i["method"], i["path_template"]) for i in body["items"]}

    documented, zombie, shadow = listed("documented"), listed("zombie"), listed("shadow")
    assert ("api.shop.example", "GET", "/v1/orders/{orderId}") in documented
    assert zombie == {("api.shop.example", "DELETE", "/v1/orders/{orderId}")}
    assert ("api.shop.example", "GET", "/v1/products") in shadow
    assert {host for host, _, _ in documented | zombie} == {"api.shop.example"}
    assert ("search.example.org", "GET", "/search") in shadow  # a host without a spec
    assert client.get("/api/v1/endpoints", params={"spec_verdict": "orphan"}, headers=key).status_code == 422


def test_post_swagger_2_json_and_openapi_3_1_with_host(
    client: TestClient, keys: dict[str, str], engine: Engine, inventory: None
) -> None:
    admin = auth(keys["admin"])
    body = client.post("/api/v1/specs", json=BILLING_SWAGGER, headers=admin).json()
    assert (body["openapi_version"], body["host"], body["operations"], body["matched"]) == (
        "2.0",
        "billing.internal.example",
        4,
        3,
    )
    assert verdict(engine, "billing.internal.example", "GET", "/invoices/{invoiceId}") == "documented"
    body = client.post(
        "/api/v1/specs", json=USERS_31, params={"host": "users.corp.example"}, headers=admin
    ).json()
    assert (body["openapi_version"], body["host"], body["matched"], body["orphans"]) == (
        "3.1.0",
        "users.corp.example",
        3,
        0,
    )


@pytest.mark.parametrize("role", ["viewer", "sensor"])
def test_only_admin_and_analyst_import(
    client: TestClient, keys: dict[str, str], engine: Engine, role: str
) -> None:
    before = spec_rows(engine)
    assert client.post("/api/v1/specs", json=USERS_31, headers=auth(keys[role])).status_code == 403
    assert client.post("/api/v1/specs", json=USERS_31).status_code == 401
    assert spec_rows(engine) == before
    assert client.get("/api/v1/specs", headers=auth(keys["sensor"])).status_code == 403


INVALID: list[tuple[bytes, str]] = [
    (b"{not json", "invalid JSON"),
    (b"key: [unclosed", "invalid YAML"),
    (b"- a\n- b\n", "not list"),
    (b"\xff\xfe\x00", "not UTF-8"),
    (json.dumps({"info": {"title": "x"}, "paths": {}}).encode(), "no 'openapi' or 'swagger'"),
    (
        json.dumps({"openapi": "4.0.0", "info": {"title": "x"}, "paths": {}}).encode(),
        "unsupported OpenAPI version",
    ),
    (
        json.dumps({"swagger": "1.2", "info": {"title": "x"}, "paths": {}}).encode(),
        "unsupported Swagger version",
    ),
    (json.dumps({"openapi": "3.0.0", "info": {}, "paths": {}}).encode(), "info.title"),
    (json.dumps({"openapi": "3.0.0", "info": {"title": "x"}}).encode(), "'paths' must be an object"),
    (
        json.dumps({"openapi": "3.0.0", "info": {"title": "x"}, "paths": {"users": {}}}).encode(),
        "must start with '/'",
    ),
    (
        json.dumps(
            {"openapi": "3.0.0", "info": {"title": "x"}, "paths": {"/u": {"get": {"deprecated": "yes"}}}}
        ).encode(),
        "'deprecated' must be true or false",
    ),
    (
        json.dumps({"openapi": "3.0.0", "info": {"title": "x"}, "servers": {}, "paths": {}}).encode(),
        "'servers'",
    ),
    (b'{"a":' * 50_000 + b"1" + b"}" * 50_000, "nested too deeply"),
    (b"[" * 100_000, "maximum nesting depth"),
    (b"openapi: 3.0.0\ninfo: {title: x, x-n: .nan}\npaths: {}\n", "cannot be stored as JSON"),
    (b"openapi: 3.0.0\ninfo: {title: x}\nx: &a [1, 2]\ny: [*a, *a]\npaths: {}\n", "aliases"),
    (
        json.dumps({"openapi": "3.0.0", "info": {"title": "x\u0000"}, "paths": {}}).encode(),
        "cannot be stored",
    ),
]


@pytest.mark.parametrize(("document", "message"), INVALID)
def test_invalid_documents_are_422_and_import_nothing(
    client: TestClient, keys: dict[str, str], engine: Engine, document: bytes, message: str
) -> None:
    before = spec_rows(engine)
    response = client.post("/api/v1/specs", content=document, headers=auth(keys["admin"]))
    assert response.status_code == 422, response.text
    assert message in response.json()["detail"]
    assert spec_rows(engine) == before


def test_empty_and_bad_host_are_4xx(client: TestClient, keys: dict[str, str]) -> None:
    admin = auth(keys["admin"])
    assert client.post("/api/v1/specs", content=b"  ", headers=admin).status_code == 400
    response = client.post("/api/v1/specs", json=USERS_31, params={"host": "a b'--"}, headers=admin)
    assert response.status_code == 422


def _run(*argv: str) -> tuple[int, str, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code, out = cli(*argv)
    return code, out, err.getvalue()


def test_cli_imports_all_or_nothing(tmp_path: Path, pg_url: str, engine: Engine, inventory: None) -> None:
    good = tmp_path / "users.json"
    good.write_text(json.dumps(USERS_31))
    shop = tmp_path / "shop.yaml"
    shop.write_text(SHOP_YAML)
    bad = tmp_path / "bad.yaml"
    bad.write_text("openapi: 3.0.0\ninfo: {title: x}\npaths: [1]\n")
    before = spec_rows(engine)
    code, out, err = _run(
        "spec", "import", str(good), str(bad), str(tmp_path / "missing.json"), "--db", pg_url
    )
    assert code == 2 and out == ""
    assert f"{bad}: 'paths' must be an object" in err and "missing.json" in err and "nothing imported" in err
    assert spec_rows(engine) == before
    code, out, err = _run(
        "spec", "import", str(good), str(shop), "--host", "users.corp.example", "--db", pg_url
    )
    assert code == 0, err
    lines = out.splitlines()
    assert len(lines) == 2 and "3 observed" in lines[0] and "users.corp.example" in lines[1]
    assert spec_rows(engine)[0] == before[0] + 2
    code, out, _ = _run("spec", "import", str(shop), "--db", pg_url)
    assert (
        code == 0 and "api.shop.example" in out and "4 observed, 1 never seen, 1 deprecated but seen" in out
    )


def test_document_is_stored(
    engine: Engine, inventory: None, client: TestClient, keys: dict[str, str]
) -> None:
    body: dict[str, Any] = client.post(
        "/api/v1/specs", json=BILLING_SWAGGER, headers=auth(keys["admin"])
    ).json()
    with engine.connect() as conn:
        stored = conn.scalar(select(ApiSpec.document).where(ApiSpec.id == body["spec_id"]))
    assert stored == BILLING_SWAGGER


STRUCTURALLY_INVALID = {
    "openapi": "3.0.3",
    "info": {"title": "Broken", "version": "1"},
    "paths": {"/things": {"get": {"parameters": [{"in": "query"}], "responses": {"200": {"description": "ok"}}}}},
}


def test_a_structurally_invalid_document_is_refused_by_the_api_and_the_cli(
    client: TestClient, keys: dict[str, str], engine: Engine, tmp_path: Path, pg_url: str
) -> None:
    before = spec_rows(engine)
    response = client.post("/api/v1/specs", json=STRUCTURALLY_INVALID, headers=auth(keys["admin"]))
    assert response.status_code == 422
    assert "not a valid OpenAPI 3.0.3 document" in response.json()["detail"]
    assert "/paths/~1things/get/parameters/0" in response.json()["detail"]
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(STRUCTURALLY_INVALID))
    code, out, err = _run("spec", "import", str(path), "--db", pg_url)
    assert code == 2 and out == "" and "not a valid OpenAPI 3.0.3 document" in err and "nothing imported" in err
    assert spec_rows(engine) == before


def test_deviations_are_imported_with_warnings(client: TestClient, keys: dict[str, str]) -> None:
    lax = {"openapi": "3.0.3", "info": {"title": "Lax", "logo": {"url": "x"}},
           "paths": {"/lax": {"get": {"responses": {}}}}}
    response = client.post("/api/v1/specs", json=lax, headers=auth(keys["admin"]), params={"host": "lax.example"})
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["operations"] == 1 and body["warning_count"] >= 2 and body["warnings"]
