"""Issue-10 families where no telling field name helps, each both ways: credentials named after
what they authenticate ("sentry_key", "writeKey"), people in tracking payloads ("traits.name"),
and field-only values inside search-syntax query terms ("q=last_name:Smith")."""

from __future__ import annotations

import json
from typing import Any

import pytest

from analyzer.pii import PiiDetector, default_detector
from analyzer.pii.detector import field_terms


@pytest.fixture(scope="module")
def detector() -> PiiDetector:
    return default_detector()


def record(target: str, *, req: Any = None, method: str = "GET") -> dict[str, Any]:
    return {
        "method": method,
        "target": target,
        "request_headers": [["Content-Type", "application/json"]] if req is not None else [],
        "response_headers": [],
        "request_body": {"data": "" if req is None else json.dumps(req), "b64": False},
        "response_body": {"data": "", "b64": False},
    }


def types_at(detector: PiiDetector, rec: dict[str, Any], location: str) -> set[str]:
    return {f.type for f in detector.detect_exchange(rec) if f.location == location}


KEY = "3f2b9c0e1d4a5b6c7d8e9f0a1b2c3d4e"


@pytest.mark.parametrize("name", ["sentry_key", "writeKey", "license_key", "client_key", "app_key"])
def test_keys_named_after_what_they_authenticate(detector: PiiDetector, name: str) -> None:
    assert types_at(detector, record(f"/api/7/store/?{name}={KEY}&sentry_version=7"), "query") == {"CREDENTIAL"}


@pytest.mark.parametrize("name", ["sort_key", "cache_key", "idempotency_key", "routing_key", "partition_key"])
def test_handle_keys_stay_quiet(detector: PiiDetector, name: str) -> None:
    assert types_at(detector, record(f"/api/items?{name}={KEY}"), "query") == set()


@pytest.mark.parametrize("value", ["Default", "production", "my-app-key", "12345678901234567890"])
def test_a_key_name_with_a_word_or_number_is_no_credential(detector: PiiDetector, value: str) -> None:
    assert "CREDENTIAL" not in types_at(detector, record(f"/api/x?client_key={value}"), "query")


def test_a_person_in_tracking_traits(detector: PiiDetector) -> None:
    body = {"event": "Order Completed", "traits": {"name": "Maria Lopez"}}
    assert "PERSON" in types_at(detector, record("/v1/track", req=body, method="POST"), "request")


def test_things_in_tracking_payloads_stay_quiet(detector: PiiDetector) -> None:
    body = {
        "context": {"library": {"name": "analytics.js"}},
        "properties": {"products": [{"name": "Monopoly: 3rd Edition"}]},
        "traits": {"name": "Premium Plan"},
    }
    assert "PERSON" not in types_at(detector, record("/v1/track", req=body, method="POST"), "request")


@pytest.mark.parametrize(
    "query", ["q=last_name%3ASmith", "q=author%3A%22Chris+Sanders%22+AND+state%3Aopen", "filter=surname:Novak"]
)
def test_field_only_values_in_search_terms(detector: PiiDetector, query: str) -> None:
    assert types_at(detector, record(f"/people/_search?{query}"), "query") == {"PERSON"}


@pytest.mark.parametrize(
    "query", ["q=status%3Aopen+label%3Abug", "q=name%3Aredis", "q=author%3Acba", "q=created%3A2024-01-01"]
)
def test_search_terms_without_people_stay_quiet(detector: PiiDetector, query: str) -> None:
    assert types_at(detector, record(f"/repos/_search?{query}"), "query") == set()


def test_field_terms_skip_urls_and_times() -> None:
    assert field_terms("https://example.com/a:b") == []
    assert field_terms('last_name:Smith AND author:"Chris Sanders"') == [
        ("last_name", "Smith"),
        ("author", "Chris Sanders"),
    ]


@pytest.mark.parametrize(
    "text", ["I would like to stop receiving messages to 079 0442 1744", "please dial 0489 25 37 29 now"]
)
def test_a_national_number_where_it_is_texted_or_dialled(detector: PiiDetector, text: str) -> None:
    assert [t for t, _ in detector.detect_value(text)] == ["PHONE_NUMBER"]


@pytest.mark.parametrize(
    "text",
    [
        "Fix a bro-cut error message.\n\n0.23 | 2012-01-11 12:16:11 -0800",  # a changelog's timestamp
        "3 messages in 2024 12 31 queue",
        "call back on 2012-01-11 12",
    ],
)
def test_timestamps_near_phone_words_are_no_phones(detector: PiiDetector, text: str) -> None:
    assert "PHONE_NUMBER" not in {t for t, _ in detector.detect_value(text)}


@pytest.mark.parametrize(
    "target", ["/api/contacts/search?q=Claire+St-Jean&limit=20", "/v1/customers?name=Grace+Hopper"]
)
def test_a_search_of_people_for_a_person(detector: PiiDetector, target: str) -> None:
    assert types_at(detector, record(target), "query") == {"PERSON"}


@pytest.mark.parametrize(
    "target",
    [
        "/api/products/search?q=Claire+St-Jean",  # products hold no people
        "/api/contacts/search?q=New+York",
        "/api/contacts/search?q=redis",
        "/api/users?q=Admin+Team",
    ],
)
def test_other_searches_stay_quiet(detector: PiiDetector, target: str) -> None:
    assert types_at(detector, record(target), "query") == set()
