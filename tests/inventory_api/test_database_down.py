"""The database away: every /api/v1 route answers the documented 503 (issue 14), never 500."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from tests.inventory_api.conftest import TestClient, auth, serving


def api_routes() -> Iterator[tuple[str, str]]:
    """(method, path with its parameters filled in) of every route under /api/v1: the schema's,
    and the schema itself."""
    from inventory_api.app import create_app
    from inventory_api.settings import ApiSettings

    app = create_app(ApiSettings(database_url="sqlite://"))
    yield "GET", "/api/v1/openapi.json"
    for path, item in app.openapi()["paths"].items():
        if path.startswith("/api/v1"):
            for method in item:
                yield method.upper(), re.sub(r"\{[^}]*\}", "1", path)


ROUTES = sorted(set(api_routes()))


def test_every_route_is_listed() -> None:
    assert len(ROUTES) >= 10 and ("POST", "/api/v1/ingest") in ROUTES and ("PATCH", "/api/v1/endpoints/1") in ROUTES


def _answers(request: object, key: str) -> dict[tuple[str, str], int]:
    out = {}
    for method, path in ROUTES:
        body = b'{"method": "GET"}\n' if path.endswith("ingest") else b"{}"
        response = request(method, path, content=body, headers={**auth(key), "Content-Type": "application/json"})
        assert response.headers["content-type"].startswith("application/json"), (method, path)
        assert response.json()["detail"], (method, path)
        out[(method, path)] = response.status_code
    return out


def test_a_port_nothing_listens_on_is_503_everywhere() -> None:
    from inventory_api.app import create_app
    from inventory_api.settings import ApiSettings

    url = "postgresql+psycopg2://postgres@127.0.0.1:1/nothing"
    with TestClient(create_app(ApiSettings(database_url=url))) as client:
        answers = _answers(client.request, "apc_" + "x" * 43)
        assert client.get("/health").status_code == 503
    assert set(answers.values()) == {503}, {k: v for k, v in answers.items() if v != 503}


def test_a_dropped_database_is_503_everywhere_from_a_real_serve(pg_url: str, keys: dict[str, str]) -> None:
    import psycopg2
    from sqlalchemy.engine import make_url

    with serving(pg_url) as (base, _proc), httpx.Client(base_url=base, timeout=10) as http:
        assert http.get("/api/v1/services", headers=auth(keys["viewer"])).status_code == 200
        url = make_url(pg_url)
        conn = psycopg2.connect(host=url.host, port=url.port or 5432, user=url.username, dbname="postgres")
        conn.autocommit = True
        conn.cursor().execute(f'DROP DATABASE "{url.database}" WITH (FORCE)')
        conn.close()
        answers = _answers(http.request, keys["admin"])
        assert http.get("/health").status_code == 503
        assert "apicensus_inventory_database_unavailable_total" in http.get("/metrics").text
    assert set(answers.values()) == {503}, {k: v for k, v in answers.items() if v != 503}


@pytest.fixture(scope="module", autouse=True)
def _keys_first(keys: dict[str, str]) -> None:
    """Keys exist before the database goes (the module drops it)."""
