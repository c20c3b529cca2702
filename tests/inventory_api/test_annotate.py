"""Writes: PATCH on services and endpoints (validated, persisted, kept across re-analysis), and
cursor pagination that stays stable while the analyzer inserts rows between two pages."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from analyzer.db import crud as analyzer_crud
from analyzer.db.models import Endpoint, Service
from analyzer.db.session import session_scope
from tests.inventory_api.conftest import REPO, TestClient, analyze, auth

PCAPS = REPO / "sample_pcaps"
FIRST = PCAPS / "keepalive-api.pcap"
LATER: tuple[Path, ...] = (PCAPS / "edge-wrap-noresponse.pcap", PCAPS / "pipelined-vlan-ipv6.pcap")
ANNOTATION = {
    "owner": "billing-team",
    "application": "invoicing",
    "business_unit": "finance",
    "tags": ["pci", "external", "pci"],
    "review_state": "reviewed",
}


@pytest.fixture(scope="module")
def first_pass(pg_url: str, engine: Engine) -> None:
    analyze(pg_url, FIRST)


def _ids(engine: Engine, host: str, method: str, path: str) -> tuple[int, int, int]:
    with engine.connect() as conn:
        row = conn.execute(
            select(Service.id, Endpoint.id, Endpoint.hits)
            .join(Endpoint, Endpoint.service_id == Service.id)
            .where(Service.host == host, Endpoint.method == method, Endpoint.path_template == path)
        ).one()
    return row[0], row[1], row[2]


def test_patch_persists_and_survives_reanalysis(
    client: TestClient, keys: dict[str, str], engine: Engine, pg_url: str, first_pass: None
) -> None:
    sid, eid, hits_before = _ids(engine, "billing.internal.example", "GET", "/invoices/{invoiceId}")
    analyst = auth(keys["analyst"])
    response = client.patch(f"/api/v1/endpoints/{eid}", json=ANNOTATION, headers=analyst)
    assert response.status_code == 200, response.text
    assert response.json()["tags"] == ["pci", "external"]  # duplicates dropped, order kept
    response = client.patch(
        f"/api/v1/services/{sid}", json={"owner": "billing-team"}, headers=auth(keys["admin"])
    )
    assert response.status_code == 200 and response.json()["owner"] == "billing-team"

    analyze(pg_url, *LATER, FIRST)  # more traffic for the same service and endpoint; FIRST is skipped

    _sid, _eid, hits_after = _ids(engine, "billing.internal.example", "GET", "/invoices/{invoiceId}")
    assert (_sid, _eid) == (sid, eid) and hits_after > hits_before
    detail = client.get(f"/api/v1/endpoints/{eid}", headers=auth(keys["viewer"])).json()
    assert detail["hits"] == hits_after
    assert {k: detail[k] for k in ANNOTATION} == {**ANNOTATION, "tags": ["pci", "external"]}
    service = client.get(f"/api/v1/services/{sid}", headers=auth(keys["viewer"])).json()
    assert service["owner"] == "billing-team" and service["application"] is None
    # The annotations are filters too.
    key = keys["viewer"]
    listed = client.get("/api/v1/endpoints", params={"owner": "billing-team"}, headers=auth(key)).json()
    assert [i["id"] for i in listed["items"]] == [eid]
    listed = client.get("/api/v1/endpoints", params={"review_state": "reviewed"}, headers=auth(key)).json()
    assert [i["id"] for i in listed["items"]] == [eid]
    listed = client.get("/api/v1/services", params={"owner": "billing-team"}, headers=auth(key)).json()
    assert [i["id"] for i in listed["items"]] == [sid]


def test_patch_changes_only_what_is_sent_and_null_clears(
    client: TestClient, keys: dict[str, str], engine: Engine, first_pass: None
) -> None:
    _sid, eid, _ = _ids(engine, "api.shop.example", "GET", "/v1/products")
    key = auth(keys["analyst"])
    client.patch(f"/api/v1/endpoints/{eid}", json={"owner": "  shop  ", "tags": ["a"]}, headers=key)
    body = client.patch(f"/api/v1/endpoints/{eid}", json={"application": "store"}, headers=key).json()
    assert (body["owner"], body["application"], body["tags"]) == ("shop", "store", ["a"])
    body = client.patch(f"/api/v1/endpoints/{eid}", json={"owner": None, "tags": None}, headers=key).json()
    assert (body["owner"], body["application"], body["tags"]) == (None, "store", None)
    with engine.connect() as conn:
        assert conn.execute(select(Endpoint.owner, Endpoint.application).where(Endpoint.id == eid)).one() == (
            None,
            "store",
        )


@pytest.mark.parametrize(
    "body",
    [
        {"review_state": "done"},
        {"owner": ""},
        {"owner": "x" * 256},
        {"owner": 42},
        {"tags": "pci"},
        {"tags": [""]},
        {"tags": ["x" * 65]},
        {"tags": [f"t{i}" for i in range(51)]},
        {"spec_verdict": "shadow"},  # not writable
        {"hits": 0},
        {"path_template": "/x"},
    ],
)
def test_bad_patch_bodies_are_422(
    client: TestClient, keys: dict[str, str], engine: Engine, first_pass: None, body: dict[str, Any]
) -> None:
    sid, eid, _ = _ids(engine, "api.shop.example", "GET", "/v1/products")
    key = auth(keys["admin"])
    assert client.patch(f"/api/v1/endpoints/{eid}", json=body, headers=key).status_code == 422
    assert client.patch(f"/api/v1/services/{sid}", json=body, headers=key).status_code == 422


def test_patch_needs_a_json_object(
    client: TestClient, keys: dict[str, str], engine: Engine, first_pass: None
) -> None:
    _sid, eid, _ = _ids(engine, "api.shop.example", "GET", "/v1/products")
    key = auth(keys["admin"])
    assert client.patch(f"/api/v1/endpoints/{eid}", content=b"owner=x", headers=key).status_code == 422
    assert client.patch(f"/api/v1/endpoints/{eid}", json=["owner"], headers=key).status_code == 422


def _insert_endpoints(engine: Engine, paths: list[str], hits: int) -> set[int]:
    """New endpoints written by the analyzer's own CRUD, as a concurrent analysis would."""
    now = datetime.now(UTC)
    with session_scope(engine) as session:
        sid = analyzer_crud.upsert_services(
            session=session,
            rows=[{"host": "concurrent.example", "hits": hits, "first_seen": now, "last_seen": now}],
        )["concurrent.example"]
        rows = [
            {
                "service_id": sid,
                "method": "GET",
                "path_template": path,
                "template_id": None,
                "hits": hits,
                "first_seen": now,
                "last_seen": now,
                "authenticated_hits": 0,
                "unauthenticated_hits": hits,
                "unauthenticated_2xx": hits,
                "request_bodies": 0,
                "response_bodies": 0,
            }
            for path in paths
        ]
        return set(analyzer_crud.upsert_endpoints(session=session, rows=rows).values())


@pytest.mark.parametrize("sort", ["path", "-hits"])
def test_pagination_is_stable_when_rows_arrive_between_pages(
    client: TestClient, keys: dict[str, str], engine: Engine, first_pass: None, sort: str
) -> None:
    key = auth(keys["viewer"])
    with engine.connect() as conn:
        before = set(conn.scalars(select(Endpoint.id)))
    seen: list[int] = []
    params: dict[str, Any] = {"sort": sort, "limit": 5}
    page = client.get("/api/v1/endpoints", params=params, headers=key).json()
    seen += [i["id"] for i in page["items"]]
    # Between pages: rows that sort before the cursor (already passed) and after it.
    tag = sort.strip("-")
    early = _insert_endpoints(engine, [f"/000-early-{tag}-{i}" for i in range(3)], hits=10**6)
    late = _insert_endpoints(engine, [f"/zzz-late-{tag}-{i}" for i in range(3)], hits=0)
    while page["next_cursor"]:
        page = client.get(
            "/api/v1/endpoints", params={**params, "cursor": page["next_cursor"]}, headers=key
        ).json()
        seen += [i["id"] for i in page["items"]]
        if len(seen) == 10:  # and more in the middle of the walk
            late |= _insert_endpoints(engine, [f"/zzz-later-{tag}-{i}" for i in range(2)], hits=0)
    assert len(seen) == len(set(seen)), "a row was served twice"
    assert before <= set(seen), "a row that existed before the walk was skipped"
    assert not (early & set(seen)), "rows inserted before the cursor must not shift into later pages"
    assert late <= set(seen)
