"""Inputs the README documents as 422 (issue 14: each of these was an unhandled 500): forged
pagination cursors, lone surrogates in PATCH bodies, timestamps PostgreSQL cannot hold."""

from __future__ import annotations

import base64
import json

import pytest

from tests.inventory_api.conftest import SAMPLE_PCAPS, TestClient, analyze, auth


@pytest.fixture(scope="module", autouse=True)
def inventory(pg_url: str, engine: object) -> None:
    analyze(pg_url, *SAMPLE_PCAPS)


def forge(payload: object | str) -> str:
    raw = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


FORGED = {
    "nul in a text value": ("path", {"s": "path", "v": "/a\u0000b", "id": 1}),
    "lone surrogate (JSON escape)": ("path", '{"s": "path", "v": "\\ud800", "id": 1}'),
    "offset beyond 15:59 at year 1": ("first_seen", {"s": "first_seen", "v": "0001-01-01T00:00:00+23:59", "id": 1}),
    "offset beyond 15:59 at year 9999": ("last_seen", {"s": "last_seen", "v": "9999-12-31T23:59:59-23:59", "id": 1}),
    "deep nesting": ("path", "[" * 100_000 + "]" * 100_000),
    "deep nesting in the value": ("path", '{"s": "path", "v": ' + "[" * 5_000 + "]" * 5_000 + ', "id": 1}'),
    "id beyond 64 bits": ("path", {"s": "path", "v": "/a", "id": 2**64}),
    "hits beyond 64 bits": ("hits", {"s": "hits", "v": -(2**70), "id": 1}),
    "id of 5,000 digits": ("path", '{"s": "path", "v": "/a", "id": ' + "9" * 5_000 + "}"),
    "not base64": ("path", "%%%"),
    "a float id": ("path", {"s": "path", "v": "/a", "id": 1.5}),
}


@pytest.mark.parametrize("case", FORGED)
@pytest.mark.parametrize("listing", ["/api/v1/endpoints", "/api/v1/services"])
def test_forged_cursors_are_422(client: TestClient, keys: dict[str, str], case: str, listing: str) -> None:
    sort, payload = FORGED[case]
    if listing.endswith("services") and sort == "path":
        sort = "host"
        if isinstance(payload, dict):
            payload = {**payload, "s": "host"}
        else:
            payload = payload.replace('"path"', '"host"')
    cursor = payload if case == "not base64" else forge(payload)
    response = client.get(listing, params={"sort": sort, "cursor": cursor[:8192]}, headers=auth(keys["viewer"]))
    assert response.status_code == 422, (case, response.status_code, response.text[:300])
    assert response.json()["detail"]


def test_a_cursor_with_a_far_offset_still_pages_as_its_utc_instant(client: TestClient, keys: dict[str, str]) -> None:
    viewer = auth(keys["viewer"])
    cursor = forge({"s": "first_seen", "v": "1999-12-31T00:01:00+23:59", "id": 0})  # 2000-01-01T00:00Z
    response = client.get("/api/v1/endpoints", params={"sort": "first_seen", "cursor": cursor}, headers=viewer)
    assert response.status_code == 200, response.text
    everything = client.get("/api/v1/endpoints", params={"sort": "first_seen", "limit": 100}, headers=viewer)
    assert response.json()["items"] == everything.json()["items"][: len(response.json()["items"])]


@pytest.mark.parametrize("value", ["\ud800", "ok\udfff", "\udbff\udbff"])
@pytest.mark.parametrize("field", ["owner", "application", "business_unit", "tags"])
def test_patch_with_a_lone_surrogate_is_422(client: TestClient, keys: dict[str, str], field: str, value: str) -> None:
    admin = auth(keys["admin"])
    endpoint = client.get("/api/v1/endpoints", params={"limit": 1}, headers=admin).json()["items"][0]
    service_id = endpoint["service_id"]
    # json.dumps writes the lone surrogate as the escape "\ud800", as an attacker's client would.
    body = json.dumps({field: [value] if field == "tags" else value})
    headers = {**admin, "Content-Type": "application/json"}
    for url in (f"/api/v1/endpoints/{endpoint['id']}", f"/api/v1/services/{service_id}"):
        response = client.patch(url, content=body, headers=headers)
        assert response.status_code == 422, (url, response.text)
        assert response.json()["detail"][0]["type"] == "string_unicode"
    assert client.get(f"/api/v1/endpoints/{endpoint['id']}", headers=admin).status_code == 200


@pytest.mark.parametrize("value", ["2024-01-01T00:00:00+23:59", "0001-01-01T00:00:00+23:59", "9999-12-31T23:59:59-23:59"])
@pytest.mark.parametrize("param", ["seen_since", "seen_before"])
def test_filters_with_far_offsets_are_answered(client: TestClient, keys: dict[str, str], param: str, value: str) -> None:
    response = client.get("/api/v1/endpoints", params={param: value}, headers=auth(keys["viewer"]))
    assert response.status_code in (200, 422), response.text
