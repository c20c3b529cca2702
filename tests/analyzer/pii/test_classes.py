"""Issue-10 PII classes on variants the other tests do not spell out: other id field names, other
version field names, other person resource nouns, other query parameters. Each class both ways
(the look-alike is not reported, the real thing still is)."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from analyzer.pii import PiiDetector, default_detector
from analyzer.pii.validators import luhn_ok


@pytest.fixture(scope="module")
def detector() -> PiiDetector:
    return default_detector()


def record(target: str, *, resp: Any = None, req: Any = None, method: str = "GET") -> dict[str, Any]:
    def body(data: Any) -> dict[str, Any]:
        return {"data": "" if data is None else json.dumps(data), "b64": False}

    json_type = [["Content-Type", "application/json"]]
    return {
        "method": method,
        "target": target,
        "request_headers": json_type if req is not None else [],
        "response_headers": json_type if resp is not None else [],
        "request_body": body(req),
        "response_body": body(resp),
    }


def types_at(detector: PiiDetector, rec: dict[str, Any], location: str) -> set[str]:
    return {f.type for f in detector.detect_exchange(rec) if f.location == location}


def luhn_id(rng: random.Random, first: str, length: int) -> str:
    while True:
        value = first + "".join(rng.choice("0123456789") for _ in range(length - len(first)))
        if luhn_ok(value):
            return value


@pytest.mark.parametrize("name", ["tracking_no", "out_trade_no", "transaction_id", "fileId", "msgid"])
@pytest.mark.parametrize(("first", "length"), [("4", 16), ("51", 16), ("4", 19)])
def test_luhn_passing_ids_are_not_cards(detector: PiiDetector, name: str, first: str, length: int) -> None:
    value = luhn_id(random.Random(f"{name}{first}{length}"), first, length)
    assert "CREDIT_CARD" not in types_at(detector, record("/v1/payments/9", resp={name: value}), "response")


def test_a_card_under_a_card_name_is_still_a_card(detector: PiiDetector) -> None:
    rec = record("/v1/payment_methods", method="POST", req={"card_number": "4111 1111 1111 1111"})
    assert "CREDIT_CARD" in types_at(detector, rec, "request")


@pytest.mark.parametrize("name", ["min_version", "max_version", "lower", "upper", "firmware"])
def test_dotted_versions_are_not_ips(detector: PiiDetector, name: str) -> None:
    rec = record("/v1/devices/9", resp={name: "3.3.101.7"})
    assert "IP_ADDRESS" not in types_at(detector, rec, "response")


def test_an_address_holding_an_ip_is_an_ip_not_a_location(detector: PiiDetector) -> None:
    assert types_at(detector, record("/v1/hosts/12", resp={"address": "10.2.3.4"}), "response") == {
        "IP_ADDRESS"
    }


def test_a_nonce_in_the_query_is_not_a_card(detector: PiiDetector) -> None:
    assert types_at(detector, record("/oauth/authorize?nonce=4111111111111111"), "query") == set()


@pytest.mark.parametrize(
    ("target", "body"),
    [
        ("/v1/datasets/12", {"name": "Sales Forecast 2024", "id": 12}),
        ("/v1/repos/12", {"name": "grace", "owner": "octo"}),
        ("/v1/apps/12", {"displayName": "xyz"}),
    ],
)
def test_names_of_things_are_not_people(detector: PiiDetector, target: str, body: dict[str, Any]) -> None:
    assert "PERSON" not in types_at(detector, record(target, resp=body), "response")


@pytest.mark.parametrize("noun", ["employees", "drivers", "members", "patients"])
def test_bare_name_of_a_person_resource(detector: PiiDetector, noun: str) -> None:
    rec = record(f"/v1/{noun}/12", resp={"id": 12, "name": "Maria Lopez"})
    assert "PERSON" in types_at(detector, rec, "response")


@pytest.mark.parametrize(
    "query", ["author=Chris%20Sanders", "reviewer=Maria+Lopez", "assignee=John%20Smith&state=open"]
)
def test_people_in_query_strings(detector: PiiDetector, query: str) -> None:
    assert types_at(detector, record(f"/v1/items?{query}"), "query") == {"PERSON"}


def test_a_person_in_free_text(detector: PiiDetector) -> None:
    rec = record(
        "/v1/tickets/3/comments", method="POST", req={"body": "Called Chris Sanders back about the refund."}
    )
    assert "PERSON" in types_at(detector, rec, "request")


# -- versions read as IP addresses (real captures: "_v=2.8.2.1", "/editor/3.1.2.3/themes/...") ----


@pytest.mark.parametrize("name", ["v", "_v", "appv", "sdkver", "osVer", "client_v", "app_version"])
def test_version_parameters_are_not_ips(detector: PiiDetector, name: str) -> None:
    assert "IP_ADDRESS" not in types_at(detector, record(f"/api/messages?{name}=2.8.2.1"), "query")


@pytest.mark.parametrize("name", ["ip", "client_ip", "server", "driver", "resolver", "peer"])
def test_address_parameters_still_are(detector: PiiDetector, name: str) -> None:
    assert "IP_ADDRESS" in types_at(detector, record(f"/api/lookup?{name}=92.219.17.2"), "query")


def test_a_version_inside_a_url_valued_header_is_not_an_ip(detector: PiiDetector) -> None:
    rec = record("/c/35/13277")
    rec["response_headers"] = [["Location", "http://m.example.com/detail?id=27159&_v=2.8.2.1&_pkg=x"]]
    assert "IP_ADDRESS" not in types_at(detector, rec, "header")
    rec["response_headers"] = [["X-Client-Address", "92.219.17.2"]]
    assert "IP_ADDRESS" in types_at(detector, rec, "header")


@pytest.mark.parametrize(
    "path", ["/light/editor/3.1.2.3/themes/advanced/img/icons.gif", "/static/jquery/1.12.4.1/jquery.min.js"]
)
def test_a_release_directory_of_static_files_is_not_an_ip(detector: PiiDetector, path: str) -> None:
    assert "IP_ADDRESS" not in types_at(detector, record(path), "path")


@pytest.mark.parametrize("path", ["/hosts/10.0.0.1/metrics", "/geo/92.219.17.2", "/v1/ips/8.8.4.4"])
def test_addresses_in_api_paths_still_are(detector: PiiDetector, path: str) -> None:
    assert "IP_ADDRESS" in types_at(detector, record(path), "path")


def test_decimal_runs_joined_by_colons_are_not_ipv6(detector: PiiDetector) -> None:
    rec = record("/log?ft=j&addata=2206:73821:473959:73821|858:65::|1034:65::|3345:65::")
    assert "IP_ADDRESS" not in types_at(detector, rec, "query")
    assert "IP_ADDRESS" in types_at(detector, record("/api?peer=2001:db8::8a2e:370:7334"), "query")
