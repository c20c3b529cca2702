"""``/api/v1/events``, ``/actors``, ``/actors/{id}``, ``/data-flows`` on a PostgreSQL inventory the
real analyzer filled from the generated capture (BOLA walk + SQL injection), with a key per role."""

from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from analyzer.db.models import Endpoint
from analyzer.db.session import make_engine, run_migrations, session_scope
from tests.analyzer.detect import capture
from tests.analyzer.detect.capture import ATTACKER_IP, INJECTOR_IP

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

ROLES = ("admin", "analyst", "viewer", "sensor")


@pytest.fixture(scope="module")
def engine(pg_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    from apicensus_cli import main

    eng = make_engine(pg_url)
    run_migrations(eng)
    pcap = capture.write_capture(tmp_path_factory.mktemp("api") / "shop.pcap")
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["analyze", str(pcap), "--db", pg_url, "--no-progress"]) == 0
    yield eng
    eng.dispose()


@pytest.fixture(scope="module")
def keys(engine: Engine) -> dict[str, str]:
    from analyzer.db.session import make_session_factory
    from inventory_api import crud
    from inventory_api.schemas import ApiKeyCreate
    from inventory_api.security import Role

    out: dict[str, str] = {}
    with make_session_factory(engine)() as session:
        for role in ROLES:
            _row, secret = crud.create_api_key(session=session, key_in=ApiKeyCreate(role=Role(role), name=role))
            out[role] = secret
    return out


@pytest.fixture(scope="module")
def client(pg_url: str, engine: Engine) -> Iterator[TestClient]:
    from inventory_api.app import create_app
    from inventory_api.settings import ApiSettings

    with TestClient(create_app(ApiSettings(database_url=pg_url, max_page_size=100))) as test_client:
        yield test_client


def get(client: TestClient, key: str | None, path: str, **params: Any) -> Any:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return client.get(f"/api/v1{path}", headers=headers, params=params)


def test_events_are_listed_with_their_actor_and_filtered(client: TestClient, keys: dict[str, str]) -> None:
    r = get(client, keys["analyst"], "/events")
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    kinds = {(e["type"], e["actor"]["ip"]) for e in items}
    assert {("bola", ATTACKER_IP), ("injection", INJECTOR_IP)} <= kinds
    assert [e["last_seen"] for e in items] == sorted((e["last_seen"] for e in items), reverse=True)
    bola = next(e for e in items if e["type"] == "bola")
    assert bola["actor"]["id"] is not None and bola["actor"]["identity"].startswith("jwt:")
    # Filters: type, severity, actor, service, since; each bound, each narrowing.
    only = get(client, keys["analyst"], "/events", type="injection").json()["items"]
    assert only and {e["type"] for e in only} == {"injection"}
    crit = get(client, keys["analyst"], "/events", severity=["critical"]).json()["items"]
    assert {e["id"] for e in crit} == {e["id"] for e in items if e["severity"] == "critical"}
    by_actor = get(client, keys["analyst"], "/events", actor=bola["actor"]["id"]).json()["items"]
    assert by_actor and {e["actor"]["ip"] for e in by_actor} == {ATTACKER_IP}
    assert get(client, keys["analyst"], "/events", service="nowhere.example").json()["items"] == []
    assert len(get(client, keys["analyst"], "/events", service="SHOP.example").json()["items"]) == len(items)
    later = get(client, keys["analyst"], "/events", since="2100-01-01T00:00:00Z").json()["items"]
    assert later == []
    assert get(client, keys["analyst"], "/events", actor=2**31 - 1).status_code == 404
    assert get(client, keys["analyst"], "/events", type="not-a-type").status_code == 422
    assert get(client, keys["analyst"], "/events", sort="title").status_code == 422


def test_events_of_one_endpoint(client: TestClient, keys: dict[str, str], engine: Engine) -> None:
    with session_scope(engine) as session:
        endpoint_id = session.scalar(select(Endpoint.id).where(Endpoint.path_template == "/api/orders/{orderId}"))
    items = get(client, keys["viewer"], "/events", endpoint=endpoint_id).json()["items"]
    assert items and {(e["method"], e["path_template"]) for e in items} == {("GET", "/api/orders/{orderId}")}
    assert get(client, keys["viewer"], "/events", endpoint=2**31 - 1).status_code == 404


def test_keyset_pages_cover_every_event_once(client: TestClient, keys: dict[str, str]) -> None:
    everything = [e["id"] for e in get(client, keys["admin"], "/events", sort="id").json()["items"]]
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"sort": "id", "limit": 1}
        if cursor:
            params["cursor"] = cursor
        page = get(client, keys["admin"], "/events", **params).json()
        seen += [e["id"] for e in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == everything and len(everything) >= 2
    assert get(client, keys["admin"], "/events", cursor="bm90LWEtY3Vyc29y").status_code == 422


def test_viewers_see_excerpts_masked_sensors_and_strangers_nothing(client: TestClient, keys: dict[str, str]) -> None:
    def injection(role: str) -> dict[str, Any]:
        items = get(client, keys[role], "/events", type="injection").json()["items"]
        return items[0]["evidence"]

    admin, viewer = injection("admin"), injection("viewer")
    assert "union" in admin["snippet"].lower()
    assert viewer["snippet"] == "[masked]" and viewer["signature"] == admin["signature"]
    for path in ("/events", "/actors", "/data-flows"):
        assert get(client, keys["sensor"], path).status_code == 403
        assert get(client, None, path).status_code == 401
        assert get(client, "apc_not-a-key", path).status_code == 401


def test_actors_ranked_by_risk_with_detail(client: TestClient, keys: dict[str, str]) -> None:
    page = get(client, keys["viewer"], "/actors").json()
    actors = page["items"]
    assert actors[0]["ip"] in (ATTACKER_IP, INJECTOR_IP) and actors[0]["risk"] > 0
    assert [a["risk"] for a in actors] == sorted((a["risk"] for a in actors), reverse=True)
    assert all("key" not in a for a in actors)  # the keyed hash stays inside
    mallory = next(a for a in actors if a["ip"] == ATTACKER_IP)
    detail = get(client, keys["viewer"], f"/actors/{mallory['id']}").json()
    assert detail["events"].get("bola") == 1
    assert detail["pii_types"] == {"EMAIL_ADDRESS": len(capture.USERS)}
    assert [(f["path_template"], f["pii_type"]) for f in detail["data_flows"]] == [
        ("/api/orders/{orderId}", "EMAIL_ADDRESS")
    ]
    assert get(client, keys["viewer"], "/actors/99999").status_code == 404
    risky = get(client, keys["viewer"], "/actors", min_risk=1).json()["items"]
    assert {a["ip"] for a in risky} == {ATTACKER_IP, INJECTOR_IP}


def test_data_flows_say_who_received_which_pii(client: TestClient, keys: dict[str, str]) -> None:
    flows = get(client, keys["viewer"], "/data-flows", pii_type="email_address").json()["items"]
    assert flows and {f["pii_type"] for f in flows} == {"EMAIL_ADDRESS"}
    assert [f["records"] for f in flows] == sorted((f["records"] for f in flows), reverse=True)
    # Each benign user received the e-mail addresses of its own orders: 4 per listing x 3 + 2 x 3.
    alice = [f for f in flows if f["actor"]["ip"] == "10.1.0.10"]
    assert sorted((f["path_template"], f["records"]) for f in alice) == [("/api/orders", 12), ("/api/orders/{orderId}", 6)]
    mallory_id = next(f["actor"]["id"] for f in flows if f["actor"]["ip"] == ATTACKER_IP)
    mine = get(client, keys["viewer"], "/data-flows", actor=mallory_id).json()["items"]
    assert [(f["path_template"], f["records"]) for f in mine] == [("/api/orders/{orderId}", len(capture.USERS))]
    assert get(client, keys["viewer"], "/data-flows", actor=2**31 - 1).status_code == 404


def test_http_ingest_runs_detection(client: TestClient, keys: dict[str, str], tmp_path: Path) -> None:
    import orjson

    from tests.conftest import make_exchange

    before = {e["id"] for e in get(client, keys["admin"], "/events", type="injection").json()["items"]}
    record = make_exchange(host=capture.HOST, target="/api/search?q=%3Cscript%3Ealert(1)%3C/script%3E",
                           client="203.0.113.77:5555", ts=capture.T0 + 900, uid="ingest-xss-1")
    r = client.post("/api/v1/ingest", headers={"Authorization": f"Bearer {keys['sensor']}",
                                                "Content-Type": "application/x-ndjson"},
                    content=orjson.dumps(record) + b"\n")
    assert r.status_code == 200, r.text
    after = get(client, keys["admin"], "/events", type="injection").json()["items"]
    new = [e for e in after if e["id"] not in before]
    assert [(e["subtype"], e["actor"]["ip"]) for e in new] == [("xss", "203.0.113.77")]
