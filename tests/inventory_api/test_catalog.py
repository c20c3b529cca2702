"""The read side of the catalog on an inventory built by the real analyzer from sample_pcaps/:
who may call what, every filter, sorting, cursor pagination, endpoint detail, 401/403/422."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import Engine, select

from analyzer.db.models import Endpoint, PiiFinding, Service
from tests.inventory_api.conftest import SAMPLE_PCAPS, TestClient, analyze, auth


@pytest.fixture(scope="module")
def inventory(pg_url: str, engine: Engine) -> list[dict[str, Any]]:
    """Analyse every sample capture; the endpoints as rows straight from the database."""
    analyze(pg_url, *SAMPLE_PCAPS)
    with engine.connect() as conn:
        rows = conn.execute(
            select(Endpoint.__table__, Service.host).join(Service, Service.id == Endpoint.service_id)
        ).mappings()
        return [dict(row) for row in rows]


def pages(client: TestClient, key: str, path: str, **params: Any) -> Iterator[dict[str, Any]]:
    """Every page of a listing, following next_cursor."""
    params = dict(params)
    while True:
        response = client.get(path, params=params, headers=auth(key))
        assert response.status_code == 200, response.text
        body = response.json()
        yield body
        if body["next_cursor"] is None:
            return
        params["cursor"] = body["next_cursor"]


def ids(client: TestClient, key: str, path: str = "/api/v1/endpoints", **params: Any) -> list[int]:
    return [item["id"] for body in pages(client, key, path, **params) for item in body["items"]]


def ts(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(value.replace("Z", "+00:00"))


# --- Access control --------------------------------------------------------------------------


def test_inventory_is_not_empty(inventory: list[dict[str, Any]]) -> None:
    assert len(inventory) > 20 and len({row["host"] for row in inventory}) > 5


@pytest.mark.parametrize("role", ["admin", "analyst", "viewer"])
def test_readers_can_read_everything(
    client: TestClient, keys: dict[str, str], inventory: list[dict[str, Any]], role: str
) -> None:
    eid = inventory[0]["id"]
    sid = inventory[0]["service_id"]
    for path in (
        "/api/v1/services",
        f"/api/v1/services/{sid}",
        "/api/v1/endpoints",
        f"/api/v1/endpoints/{eid}",
    ):
        assert client.get(path, headers=auth(keys[role])).status_code == 200, (role, path)


def test_sensor_key_reads_nothing(
    client: TestClient, keys: dict[str, str], inventory: list[dict[str, Any]]
) -> None:
    eid, sid = inventory[0]["id"], inventory[0]["service_id"]
    for path in (
        "/api/v1/services",
        f"/api/v1/services/{sid}",
        "/api/v1/endpoints",
        f"/api/v1/endpoints/{eid}",
    ):
        response = client.get(path, headers=auth(keys["sensor"]))
        assert response.status_code == 403, path
        assert "sensor" in response.json()["detail"]
    assert (
        client.patch(
            f"/api/v1/endpoints/{eid}", json={"owner": "x"}, headers=auth(keys["sensor"])
        ).status_code
        == 403
    )


def test_viewer_may_not_annotate(
    client: TestClient, keys: dict[str, str], inventory: list[dict[str, Any]]
) -> None:
    eid, sid = inventory[0]["id"], inventory[0]["service_id"]
    viewer = auth(keys["viewer"])
    assert client.patch(f"/api/v1/endpoints/{eid}", json={"owner": "x"}, headers=viewer).status_code == 403
    assert client.patch(f"/api/v1/services/{sid}", json={"owner": "x"}, headers=viewer).status_code == 403
    # Nothing was written.
    assert client.get(f"/api/v1/endpoints/{eid}", headers=viewer).json()["owner"] is None


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer "},
        {"Authorization": "Bearer apc_not-a-real-key"},
        {"Authorization": "Basic YWRtaW46YWRtaW4="},
        {"X-API-Key": "apc_wrong"},
        {"X-API-Key": ""},
    ],
)
def test_missing_or_wrong_key_is_401(
    client: TestClient, inventory: list[dict[str, Any]], headers: dict[str, str]
) -> None:
    response = client.get("/api/v1/endpoints", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


def test_both_key_headers_work(client: TestClient, keys: dict[str, str]) -> None:
    proxied = {"Authorization": "Basic YWRtaW46YWRtaW4=", "X-API-Key": keys["viewer"]}
    assert client.get("/api/v1/services", headers=proxied).status_code == 200
    assert client.get("/api/v1/services", headers={"X-API-Key": keys["viewer"]}).status_code == 200
    assert (
        client.get("/api/v1/services", headers={"Authorization": f"bearer {keys['viewer']}"}).status_code
        == 200
    )


def test_no_key_is_401_before_any_validation(client: TestClient) -> None:
    assert client.get("/api/v1/endpoints", params={"limit": "zero", "sort": "x"}).status_code == 401
    assert client.get("/api/v1/endpoints/not-an-id").status_code == 401
    assert client.patch("/api/v1/endpoints/1", json={"review_state": "??"}).status_code == 401


def test_viewer_gets_fully_masked_samples_analyst_the_detector_mask(
    client: TestClient, keys: dict[str, str], engine: Engine, inventory: list[dict[str, Any]]
) -> None:
    with engine.connect() as conn:
        eid = conn.scalar(select(PiiFinding.endpoint_id).where(PiiFinding.type == "EMAIL_ADDRESS").limit(1))
    analyst = client.get(f"/api/v1/endpoints/{eid}", headers=auth(keys["analyst"])).json()["pii"]
    viewer = client.get(f"/api/v1/endpoints/{eid}", headers=auth(keys["viewer"])).json()["pii"]
    email = next(p["sample"] for p in analyst if p["type"] == "EMAIL_ADDRESS")
    assert "@" in email and any(ch.isalnum() for ch in email)
    assert len(viewer) == len(analyst)
    for finding in viewer:
        assert finding["sample"] is None or not any(ch.isalnum() for ch in finding["sample"])


# --- Listings and filters --------------------------------------------------------------------


def test_services_list_with_counts(
    client: TestClient, keys: dict[str, str], inventory: list[dict[str, Any]]
) -> None:
    items = [
        item for body in pages(client, keys["viewer"], "/api/v1/services", limit=2) for item in body["items"]
    ]
    hosts = [item["host"] for item in items]
    assert hosts == sorted({row["host"] for row in inventory})
    for item in items:
        assert item["endpoint_count"] == sum(row["host"] == item["host"] for row in inventory)
    found = client.get("/api/v1/services", params={"q": "BILLING"}, headers=auth(keys["viewer"])).json()[
        "items"
    ]
    assert [s["host"] for s in found] == ["billing.internal.example"]


def _expect(inventory: list[dict[str, Any]], predicate: Any) -> set[int]:
    return {row["id"] for row in inventory if predicate(row)}


def test_filter_by_service(client: TestClient, keys: dict[str, str], inventory: list[dict[str, Any]]) -> None:
    key = keys["viewer"]
    sid = inventory[0]["service_id"]
    host = inventory[0]["host"]
    assert set(ids(client, key, service_id=sid)) == _expect(inventory, lambda r: r["service_id"] == sid)
    assert set(ids(client, key, service=host)) == _expect(inventory, lambda r: r["host"] == host)
    assert ids(client, key, service="no.such.host") == []


def test_filter_by_method(client: TestClient, keys: dict[str, str], inventory: list[dict[str, Any]]) -> None:
    key = keys["viewer"]
    assert set(ids(client, key, method="delete")) == _expect(inventory, lambda r: r["method"] == "DELETE")
    both = set(ids(client, key, method=["GET", "POST"]))
    assert both == _expect(inventory, lambda r: r["method"] in ("GET", "POST"))


def test_filter_by_pii_type_and_location(
    client: TestClient, keys: dict[str, str], engine: Engine, inventory: list[dict[str, Any]]
) -> None:
    key = keys["viewer"]
    with engine.connect() as conn:
        findings = conn.execute(select(PiiFinding.endpoint_id, PiiFinding.type, PiiFinding.location)).all()
    emails = {eid for eid, typ, _ in findings if typ == "EMAIL_ADDRESS"}
    headers = {eid for eid, _, loc in findings if loc == "header"}
    email_in_request = {eid for eid, typ, loc in findings if typ == "EMAIL_ADDRESS" and loc == "request"}
    assert emails and headers and email_in_request and email_in_request != emails
    assert set(ids(client, key, pii_type="EMAIL_ADDRESS")) == emails
    assert set(ids(client, key, pii_type="email_address")) == emails
    assert set(ids(client, key, pii_location="header")) == headers
    assert set(ids(client, key, pii_type="EMAIL_ADDRESS", pii_location="request")) == email_in_request
    listed = client.get("/api/v1/endpoints", params={"pii_type": "EMAIL_ADDRESS"}, headers=auth(key)).json()
    assert all("EMAIL_ADDRESS" in item["pii_types"] for item in listed["items"])


def test_filter_unauthenticated(
    client: TestClient, keys: dict[str, str], inventory: list[dict[str, Any]]
) -> None:
    key = keys["viewer"]
    open_ids = _expect(inventory, lambda r: r["unauthenticated_2xx"] > 0)
    assert open_ids
    assert set(ids(client, key, unauthenticated="true")) == open_ids
    assert set(ids(client, key, unauthenticated="false")) == _expect(
        inventory, lambda r: r["id"] not in open_ids
    )


def test_filter_seen_since_and_before(
    client: TestClient, keys: dict[str, str], inventory: list[dict[str, Any]]
) -> None:
    key = keys["viewer"]
    last = sorted(row["last_seen"] for row in inventory)
    first = sorted(row["first_seen"] for row in inventory)
    since, before = last[len(last) // 2], first[len(first) // 2]
    expected_since = _expect(inventory, lambda r: r["last_seen"] >= since)
    expected_before = _expect(inventory, lambda r: r["first_seen"] < before)
    assert 0 < len(expected_since) < len(inventory) and 0 < len(expected_before) < len(inventory)
    assert set(ids(client, key, seen_since=since.isoformat())) == expected_since
    assert set(ids(client, key, seen_before=before.isoformat())) == expected_before
    # Without an offset the timestamp is UTC.
    naive = since.replace(tzinfo=None)
    assert set(ids(client, key, seen_since=naive.isoformat())) == expected_since
    both = set(ids(client, key, seen_since=since.isoformat(), seen_before=before.isoformat()))
    assert both == expected_since & expected_before


def test_free_text_on_the_path_is_literal(
    client: TestClient, keys: dict[str, str], inventory: list[dict[str, Any]]
) -> None:
    key = keys["viewer"]
    assert set(ids(client, key, q="INVOICE")) == _expect(
        inventory, lambda r: "invoice" in r["path_template"].lower()
    )
    assert set(ids(client, key, q="{")) == _expect(inventory, lambda r: "{" in r["path_template"])
    # LIKE wildcards and SQL are matched as text, never interpreted.
    for text in ("%", "_", "' OR '1'='1", "\\", "x'); DROP TABLE endpoints; --"):
        assert ids(client, key, q=text) == [], text
    assert len(ids(client, key)) == len(inventory)


@pytest.mark.parametrize(
    "sort", ["path", "-path", "method", "hits", "-hits", "first_seen", "-last_seen", "id", "-id"]
)
def test_sorting_and_pagination_cover_everything_once(
    client: TestClient, keys: dict[str, str], inventory: list[dict[str, Any]], sort: str
) -> None:
    column = {"path": "path_template"}.get(sort.lstrip("-"), sort.lstrip("-"))
    descending = sort.startswith("-")
    expected = sorted(inventory, key=lambda r: (r[column], r["id"]), reverse=descending)
    got = ids(client, keys["viewer"], sort=sort, limit=4)
    assert got == [row["id"] for row in expected]


def test_services_sorting(client: TestClient, keys: dict[str, str]) -> None:
    items = [
        i
        for b in pages(client, keys["viewer"], "/api/v1/services", sort="-hits", limit=3)
        for i in b["items"]
    ]
    assert [(i["hits"], i["id"]) for i in items] == sorted(
        ((i["hits"], i["id"]) for i in items), reverse=True
    )


# --- Detail ----------------------------------------------------------------------------------


def test_endpoint_detail(
    client: TestClient, keys: dict[str, str], engine: Engine, inventory: list[dict[str, Any]]
) -> None:
    row = max(inventory, key=lambda r: r["hits"])
    detail = client.get(f"/api/v1/endpoints/{row['id']}", headers=auth(keys["analyst"])).json()
    assert (detail["host"], detail["method"], detail["path_template"], detail["hits"]) == (
        row["host"],
        row["method"],
        row["path_template"],
        row["hits"],
    )
    assert sum(detail["status_codes"].values()) == row["hits"]
    assert sum(h["count"] for h in detail["hourly"]) == row["hits"]
    assert detail["servers"] and all(":" in s["address"] for s in detail["servers"])
    assert sum(s["count"] for s in detail["servers"]) == row["hits"]
    assert {"parameters", "request_body", "response_body", "pii", "content_types", "auth"} <= detail.keys()
    # An endpoint with a JSON response body and a path parameter.
    with_body = next(
        r for r in inventory if r["response_bodies"] and "{" in r["path_template"] and r["method"] == "GET"
    )
    detail = client.get(f"/api/v1/endpoints/{with_body['id']}", headers=auth(keys["analyst"])).json()
    assert detail["response_body"] and all(0 < f["presence"] <= 1 for f in detail["response_body"])
    assert any(p["location"] == "path" for p in detail["parameters"])
    with engine.connect() as conn:
        n_pii = len(
            conn.execute(select(PiiFinding.type).where(PiiFinding.endpoint_id == with_body["id"])).all()
        )
    assert len(detail["pii"]) == n_pii


def test_unknown_ids_are_404(client: TestClient, keys: dict[str, str]) -> None:
    key = auth(keys["admin"])
    assert client.get("/api/v1/endpoints/999999", headers=key).status_code == 404
    assert client.get("/api/v1/services/999999", headers=key).status_code == 404
    assert client.patch("/api/v1/endpoints/999999", json={"owner": "x"}, headers=key).status_code == 404
    assert client.patch("/api/v1/services/999999", json={"owner": "x"}, headers=key).status_code == 404


# --- 422 ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 0},
        {"limit": 101},  # above max_page_size
        {"limit": "ten"},
        {"sort": "password"},
        {"sort": "-"},
        {"cursor": "not-a-cursor"},
        {"cursor": "eyJzIjoiLWhpdHMiLCJ2IjoxNSwiaWQiOjEwfQ"},  # a -hits cursor with the default sort
        {"method": "GET;DROP"},
        {"pii_type": "EMAIL ADDRESS"},
        {"pii_location": "Request'"},
        {"unauthenticated": "maybe"},
        {"seen_since": "yesterday"},
        {"seen_before": "2024-13-01"},
        {"service_id": 0},
        {"service_id": "1 OR 1=1"},
        {"q": "x" * 201},
        {"review_state": "done"},
    ],
)
def test_bad_parameters_are_422(client: TestClient, keys: dict[str, str], params: dict[str, Any]) -> None:
    response = client.get("/api/v1/endpoints", params=params, headers=auth(keys["viewer"]))
    assert response.status_code == 422, (params, response.text)


def test_bad_ids_and_cursors_are_422(client: TestClient, keys: dict[str, str]) -> None:
    key = auth(keys["viewer"])
    assert client.get("/api/v1/endpoints/abc", headers=key).status_code == 422
    assert client.get("/api/v1/endpoints/0", headers=key).status_code == 422
    assert client.get("/api/v1/services", params={"sort": "path"}, headers=key).status_code == 422
    first = client.get("/api/v1/endpoints", params={"limit": 1, "sort": "hits"}, headers=key).json()
    tampered = first["next_cursor"][:-2] + "!!"
    assert (
        client.get("/api/v1/endpoints", params={"sort": "hits", "cursor": tampered}, headers=key).status_code
        == 422
    )
