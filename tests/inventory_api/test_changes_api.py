"""GET /api/v1/changes on analyzer-built data, and the admin-only integrations routes (in process)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine

from tests.conftest import make_exchange
from tests.inventory_api.conftest import SAMPLE_PCAPS, TestClient, analyze, auth


@pytest.fixture(scope="module")
def inventory(pg_url: str, engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> datetime:
    analyze(pg_url, *SAMPLE_PCAPS)
    between = datetime.now(UTC)
    path = tmp_path_factory.mktemp("changes") / "more.jsonl"
    records = [make_exchange(host="later.example", target="/v2/items?sort=asc", ts=1_800_000_000.0)]
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    analyze(pg_url, path)
    return between


def test_changes_pages_filters_and_roles(client: TestClient, keys: dict[str, str], inventory: datetime) -> None:
    url = "/api/v1/changes"
    assert client.get(url).status_code == 401
    assert client.get(url, headers=auth(keys["sensor"])).status_code == 403
    everything = client.get(url, params={"limit": 100}, headers=auth(keys["viewer"]))
    assert everything.status_code == 200
    items = everything.json()["items"]
    assert {i["type"] for i in items} >= {"new_service", "new_endpoint"}
    assert [i["id"] for i in items] == sorted(i["id"] for i in items)
    # Keyset pages: every row once, in order.
    seen: list[int] = []
    cursor = None
    while True:
        params: dict[str, object] = {"limit": 7}
        if cursor:
            params["cursor"] = cursor
        page = client.get(url, params=params, headers=auth(keys["viewer"])).json()
        seen += [i["id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == [i["id"] for i in items]
    # since: only what the second run learned.
    later = client.get(url, params={"since": inventory.isoformat()}, headers=auth(keys["viewer"])).json()["items"]
    new = {(i["type"], i["host"]) for i in later if i["type"].startswith("new_")}
    assert new == {("new_service", "later.example"), ("new_endpoint", "later.example")}
    # Traffic years after the sample captures: every sample endpoint is now unseen for > 30 days.
    unseen = [i for i in later if i["type"] == "endpoint_unseen"]
    assert unseen and all(i["host"] != "later.example" and i["after"]["unseen_days"] > 30 for i in unseen)
    endpoint = next(i for i in later if i["type"] == "new_endpoint")
    assert endpoint["path_template"] == "/v2/items" and endpoint["after"]["hits"] == 1
    assert endpoint["observed_at"].startswith("2027-01-15")
    # The endpoint's parameters carry capture-time first/last seen and when they were learned.
    detail = client.get(f"/api/v1/endpoints/{endpoint['endpoint_id']}", headers=auth(keys["viewer"])).json()
    (sort,) = [p for p in detail["parameters"] if p["name"] == "sort"]
    assert sort["first_seen"].startswith("2027-01-15") and sort["last_seen"] == sort["first_seen"]
    assert datetime.fromisoformat(sort["learned_at"]) >= inventory
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    assert client.get(url, params={"since": future}, headers=auth(keys["viewer"])).json()["items"] == []
    only = client.get(url, params={"type": "new_service", "service": "later.example"}, headers=auth(keys["viewer"]))
    assert [i["host"] for i in only.json()["items"]] == ["later.example"]
    assert client.get(url, params={"type": "nope"}, headers=auth(keys["viewer"])).status_code == 422
    assert client.get(url, params={"cursor": "forged"}, headers=auth(keys["viewer"])).status_code == 422


def test_integrations_are_admin_only_and_never_show_secrets(client: TestClient, keys: dict[str, str]) -> None:
    url = "/api/v1/integrations"
    body = {"id": "team-a", "kind": "slack", "url": "https://hooks.slack.example/services/T000/B000/XXXXSECRET"}
    for role in ("analyst", "viewer", "sensor"):
        assert client.post(url, json=body, headers=auth(keys[role])).status_code == 403
        assert client.get(url, headers=auth(keys[role])).status_code == 403
        assert client.delete(f"{url}/team-a", headers=auth(keys[role])).status_code == 403
    created = client.post(url, json=body, headers=auth(keys["admin"]))
    assert created.status_code == 201 and "XXXXSECRET" not in created.text
    splunk = {"id": "hec", "kind": "splunk_hec", "url": "https://splunk.example:8088/services/collector",
              "token": "hec-token-value"}
    assert client.post(url, json=splunk, headers=auth(keys["admin"])).status_code == 201
    listed = client.get(url, headers=auth(keys["admin"]))
    assert "hec-token-value" not in listed.text and "XXXXSECRET" not in listed.text
    assert {row["id"] for row in listed.json()} >= {"team-a", "hec"}
    assert client.post(url, content=b"{not json", headers=auth(keys["admin"])).status_code == 400
    bad = client.post(url, json={"kind": "webhook", "url": "ftp://x"}, headers=auth(keys["admin"]))
    assert bad.status_code == 422
    assert client.post(url, content=b"x" * 70_000, headers=auth(keys["admin"])).status_code == 413
    test = client.post(f"{url}/hec/test", headers=auth(keys["admin"]))
    assert test.status_code == 202 and test.json()["queued"] == 1
    status = client.get(f"{url}/hec/status", headers=auth(keys["admin"])).json()["status"]
    assert status["queued"] == 1
    assert client.delete(f"{url}/hec", headers=auth(keys["admin"])).status_code == 204
    assert client.delete(f"{url}/hec", headers=auth(keys["admin"])).status_code == 404
    assert client.get(f"{url}/../x/status", headers=auth(keys["admin"])).status_code == 404
