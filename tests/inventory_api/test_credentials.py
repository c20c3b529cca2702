"""Credentials (issue 14): the schema is a read (403 for a sensor key), ambiguous credentials are
refused instead of first-wins."""

from __future__ import annotations

import httpx
import pytest

from tests.inventory_api.conftest import TestClient, auth, serving


def test_a_sensor_key_cannot_read_the_schema(client: TestClient, keys: dict[str, str]) -> None:
    assert client.get("/api/v1/openapi.json", headers=auth(keys["sensor"])).status_code == 403
    assert client.get("/api/v1/openapi.json", headers={"X-API-Key": keys["sensor"]}).status_code == 403
    assert client.get("/api/v1/openapi.json", headers=auth(keys["viewer"])).status_code == 200
    for path in ("/docs", "/redoc", "/openapi.json", "/api/v1/docs", "/api/v1/redoc"):
        assert client.get(path, headers=auth(keys["admin"])).status_code == 404, path


@pytest.mark.parametrize(
    "headers",
    [
        [("Authorization", "Bearer {viewer}"), ("Authorization", "Bearer {admin}")],
        [("Authorization", "Bearer {admin}"), ("Authorization", "Bearer {viewer}")],
        [("Authorization", "Bearer {viewer}"), ("Authorization", "Bearer {viewer}")],
        [("X-API-Key", "{viewer}"), ("X-API-Key", "{admin}")],
        [("Authorization", "Bearer {viewer}"), ("X-API-Key", "{admin}")],
        [("Authorization", "Bearer {sensor}"), ("X-API-Key", "{admin}")],
    ],
)
def test_ambiguous_credentials_are_refused(keys: dict[str, str], headers: list[tuple[str, str]], pg_url: str,
                                           serve_base: str) -> None:
    sent = [(name, value.format(**keys)) for name, value in headers]
    # Over a real socket (repeated headers are kept as sent).
    response = httpx.get(f"{serve_base}/api/v1/services", headers=sent, timeout=10)
    assert response.status_code == 401, response.text
    assert "ambiguous credentials" in response.json()["detail"]


def test_agreeing_credentials_and_a_proxy_scheme_are_accepted(keys: dict[str, str], serve_base: str) -> None:
    url = f"{serve_base}/api/v1/services"
    same = [("Authorization", f"Bearer {keys['viewer']}"), ("X-API-Key", keys["viewer"])]
    assert httpx.get(url, headers=same, timeout=10).status_code == 200
    proxied = [("Authorization", "Basic dXNlcjpwYXNz"), ("X-API-Key", keys["viewer"])]
    assert httpx.get(url, headers=proxied, timeout=10).status_code == 200


@pytest.fixture(scope="module")
def serve_base(pg_url: str, keys: dict[str, str]):  # type: ignore[no-untyped-def]
    with serving(pg_url) as (base, _proc):
        yield base
