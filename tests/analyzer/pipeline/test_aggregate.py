"""Normalise and aggregate without a database: the counts a batch produces are a function of its
observations and the templater state."""

from __future__ import annotations

import json

import orjson

from analyzer.db.settings import AnalyzerSettings
from analyzer.observation import from_record
from analyzer.pipeline.aggregate import add_pii, aggregate
from analyzer.pipeline.normalise import normalise, pii_view
from analyzer.templating import Templater
from tests.conftest import make_exchange

SETTINGS = AnalyzerSettings(pii_enabled=False)


def items_of(records: list[dict]) -> list:
    out = [normalise(from_record(r), SETTINGS) for r in records]
    return [i for i in out if i is not None]


def traffic() -> list[dict]:
    records = [
        make_exchange(
            target=f"/api/users/{1000 + i}?limit={i}",
            ts=1_700_000_000.0 + i * 600,
            client=f"10.0.0.{i % 3}:{40000 + i}",
            status=200 if i % 4 else 500,
            request_headers=[("Authorization", "Bearer t")] if i % 2 else [],
            response_body=json.dumps({"id": i, "name": "x"}),
        )
        for i in range(12)
    ]
    records += [make_exchange(target="/.env", status=404) for _ in range(3)]
    return records


def test_a_batch_aggregates_without_a_database() -> None:
    batch = aggregate(items_of(traffic()), Templater())
    assert batch.analysed == 12 and batch.noise_count == 3
    ((host, method, template), agg), = batch.endpoints.items()
    assert (host, method, template) == ("api.example.com", "GET", "/api/users/{userId}")
    assert agg.hits == 12 and agg.status == {200: 9, 500: 3}
    assert agg.authenticated == 6 and agg.auth == {"bearer": 6, "none": 6} and agg.unauth_2xx == 3
    assert len([p for p in agg.peers if p[0] == "client"]) == 3
    assert agg.params[("query", "limit", "integer")] == 12
    assert agg.content_types == {("response", "application/json"): 12}
    assert batch.noise == {("api.example.com", "GET", "/.env", 404): [3, 1_700_000_000.0, 1_700_000_000.0]}
    assert batch.keys.count(None) == 3 and len(batch.matches) == 15
    assert orjson.loads(batch.templater_state)  # the state to store travels with the batch


def test_the_same_observations_and_state_give_the_same_batch() -> None:
    first = aggregate(items_of(traffic()), Templater())
    again = aggregate(items_of(traffic()), Templater())
    assert first.endpoints == again.endpoints and first.noise == again.noise
    # From a stored state: what a restarted analyzer would do.
    resumed = Templater.from_state(orjson.loads(first.templater_state))
    later = aggregate(items_of([make_exchange(target="/api/users/77")]), resumed)
    assert list(later.endpoints) == [("api.example.com", "GET", "/api/users/{userId}")]


def test_pii_results_attach_to_their_exchanges_endpoint() -> None:
    batch = aggregate(items_of(traffic()), Templater())
    results = [[("EMAIL_ADDRESS", "response", "email", "a***@b.c")] for _ in batch.items]
    results[0] = "ValueError: broken"
    outcome = add_pii(batch, results)
    assert batch.pii_results is results  # per exchange, for a later per-exchange consumer
    assert outcome.findings == 11 and outcome.errors == 1 and "broken" in (outcome.first_error or "")
    agg = batch.endpoints[("api.example.com", "GET", "/api/users/{userId}")]
    assert agg.pii[("EMAIL_ADDRESS", "response", "email")][0] == 11  # noise exchanges attach to nothing


def test_response_only_exchanges_are_not_normalised_and_pii_sees_a_thin_view() -> None:
    record = make_exchange(target="/x")
    record["method"], record["target"] = None, None
    assert normalise(from_record(record), SETTINGS) is None
    view = pii_view(from_record(make_exchange(response_body=b"\xff\xfe", request_body="hi")))
    assert view["request_body"] == {"data": "hi", "b64": False}
    assert view["response_body"]["b64"] is True
    assert all(name.lower() not in ("host", "user-agent", "accept") for name, _ in view["request_headers"])
