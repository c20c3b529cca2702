"""Reconstructed OpenAPI 3.1 per service (GET /api/v1/services/{host}/openapi and
`apicensus export --format openapi --host HOST`), validated with openapi-spec-validator."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

import pytest
from openapi_spec_validator import validate
from sqlalchemy import Engine

from tests.inventory_api.conftest import SAMPLE_PCAPS, TestClient, analyze, auth, cli
from tests.inventory_api.verdict_checks import AUTH, SHOP, SPECS

HOSTS = (
    SHOP,
    AUTH,
    "billing.internal.example",
    "users.corp.example",
    "search.example.org",
    "payments.example.com",
    "graph.social.example",
)


@pytest.fixture(scope="module")
def inventory(pg_url: str, engine: Engine) -> None:
    analyze(pg_url, *SAMPLE_PCAPS)
    code, _ = cli("spec", "import", *map(str, SPECS[1:]), "--db", pg_url)
    assert code == 0


def fetch(client: TestClient, key: str, host: str) -> dict[str, Any]:
    response = client.get(f"/api/v1/services/{host}/openapi", headers=auth(key))
    assert response.status_code == 200, response.text
    document: dict[str, Any] = response.json()
    return document


@pytest.mark.parametrize("host", HOSTS)
def test_every_service_is_valid_openapi_3_1(
    client: TestClient, keys: dict[str, str], inventory: None, host: str
) -> None:
    document = fetch(client, keys["viewer"], host)
    validate(document)  # raises on any violation of the OpenAPI 3.1 schema and rules
    assert document["openapi"] == "3.1.0" and document["paths"]
    assert document["servers"][0]["url"].endswith(f"://{host}")


def test_shop_paths_parameters_bodies_and_pii(
    client: TestClient, keys: dict[str, str], inventory: None
) -> None:
    doc = fetch(client, keys["analyst"], SHOP)
    paths = doc["paths"]
    assert set(paths["/v1/products/{productId}"]) == {"get", "put", "patch", "delete", "head"}
    (param,) = paths["/v1/orders/{orderId}"]["get"]["parameters"]
    assert (param["name"], param["in"], param["required"]) == ("orderId", "path", True)
    assert param["schema"]["type"] in ("integer", "string")  # the dominant observed type
    post = paths["/v1/orders"]["post"]
    request = post["requestBody"]["content"]["application/json"]["schema"]
    customer = request["properties"]["customer"]["properties"]
    assert customer["email"] == {"type": "string", "x-pii": ["EMAIL_ADDRESS"]}
    items = request["properties"]["items"]
    assert items["type"] == "array" and items["items"]["properties"]["quantity"]["type"] == "integer"
    assert "EMAIL_ADDRESS" in post["x-pii"]
    listing = paths["/v1/orders"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    data = listing["properties"]["data"]
    assert data["type"] == "array"
    assert data["items"]["properties"]["customer"]["properties"]["phone"]["x-pii"] == ["PHONE_NUMBER"]
    # Security schemes seen, referenced by the operations.
    assert doc["components"]["securitySchemes"]["bearer"] == {"type": "http", "scheme": "bearer"}
    assert {"bearer": []} in post["security"]
    # The shop spec deprecates DELETE /v1/orders/{id}: the observed operation says so.
    delete = paths["/v1/orders/{orderId}"]["delete"]
    assert delete["deprecated"] is True and delete["x-apicensus"]["zombie_reasons"] == ["deprecated"]


def test_query_parameters_typed(client: TestClient, keys: dict[str, str], inventory: None) -> None:
    doc = fetch(client, keys["viewer"], "search.example.org")
    params = {p["name"]: p for p in doc["paths"]["/search"]["get"]["parameters"]}
    assert params and all(p["in"] == "query" for p in params.values())
    assert all(p["schema"].get("type") in ("string", "integer", "number", "boolean") for p in params.values())
    # The unauthenticated token endpoint: optional security ({}), credentials annotated.
    token = fetch(client, keys["viewer"], AUTH)["paths"]["/oauth/token"]["get"]
    assert {} in token.get("security", [{}]) and "CREDENTIAL" in token["x-pii"]


def test_cli_export_openapi(pg_url: str, inventory: None, tmp_path: Path) -> None:
    target = tmp_path / "billing.json"
    code, _ = cli(
        "export",
        "--format",
        "openapi",
        "--host",
        "billing.internal.example",
        "--db",
        pg_url,
        "-o",
        str(target),
    )
    assert code == 0
    document = json.loads(target.read_bytes())
    validate(document)
    assert "/invoices/{invoiceId}" in document["paths"]
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        assert cli("export", "--format", "openapi", "--db", pg_url)[0] == 2
        assert cli("export", "--format", "openapi", "--host", "nope.example", "--db", pg_url)[0] == 2
    assert "--host" in err.getvalue() and "nope.example" in err.getvalue()


def test_roles_and_unknown_host(client: TestClient, keys: dict[str, str], inventory: None) -> None:
    assert client.get(f"/api/v1/services/{SHOP}/openapi").status_code == 401
    assert client.get(f"/api/v1/services/{SHOP}/openapi", headers=auth(keys["sensor"])).status_code == 403
    response = client.get("/api/v1/services/nope.example/openapi", headers=auth(keys["viewer"]))
    assert response.status_code == 404


def test_same_shape_templates_share_one_path(
    client: TestClient, keys: dict[str, str], engine: Engine, inventory: None
) -> None:
    """OpenAPI forbids /v1/orders/{orderId} next to /v1/orders/{id}: one path, names by position.
    (Runs last in this module: it adds an endpoint row the templater would have named alike.)"""
    from datetime import UTC, datetime

    from sqlalchemy import select

    from analyzer.db.models import Endpoint, Service

    now = datetime.now(UTC)
    with engine.begin() as conn:
        service_id = conn.scalar(select(Service.id).where(Service.host == SHOP))
        conn.execute(
            Endpoint.__table__.insert().values(
                service_id=service_id,
                method="PUT",
                path_template="/v1/orders/{id}",
                hits=1,
                first_seen=now,
                last_seen=now,
                authenticated_hits=1,
                unauthenticated_hits=0,
                unauthenticated_2xx=0,
                request_bodies=0,
                response_bodies=0,
            )
        )
    document = fetch(client, keys["viewer"], SHOP)
    validate(document)
    (path,) = [p for p in document["paths"] if p in ("/v1/orders/{id}", "/v1/orders/{orderId}")]
    name = path.rsplit("{", 1)[1].rstrip("}")
    operations = document["paths"][path]
    assert {"get", "put", "patch", "delete"} <= set(operations)
    assert all([p["name"] for p in operations[m]["parameters"]] == [name] for m in ("get", "put"))
