"""PII on the shapes of real APIs (issue 10): each false-positive and miss family, both ways.

Families: long numeric ids that pass Luhn (issuer ranges, URLs, field names, a field's population
across a batch), version strings read as IPs, OAuth nonces read as cards, network addresses under
``address`` read as LOCATION, names of things read as PERSON; and people no field name announces
(the bare ``name`` of ``/customers/{id}``, ``author=``, search queries, free text).
"""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from analyzer.pii import PiiDetector, default_detector
from analyzer.pii.classify import classify_value
from analyzer.pii.fields import resource_noun
from analyzer.pii.validators import card_number_ok, luhn_ok


@pytest.fixture(scope="module")
def detector() -> PiiDetector:
    return default_detector()


def record(
    target: str, *, resp: Any = None, req: Any = None, headers: list[list[str]] | None = None
) -> dict[str, Any]:
    def body(data: Any) -> dict[str, Any]:
        if data is None:
            return {"data": "", "b64": False}
        text = data if isinstance(data, str) else json.dumps(data)
        return {"data": text, "b64": False}

    json_type = [["Content-Type", "application/json"]]
    return {
        "method": "GET",
        "target": target,
        "request_headers": (headers or [])
        + (json_type if req is not None and not isinstance(req, str) else []),
        "response_headers": json_type if resp is not None and not isinstance(resp, str) else [],
        "request_body": body(req),
        "response_body": body(resp),
    }


def found(
    detector: PiiDetector, rec: dict[str, Any], template: str | None = None
) -> set[tuple[str, str, str]]:
    return {(f.type, f.location, f.field) for f in detector.detect_exchange(rec, template=template)}


def types_at(detector: PiiDetector, rec: dict[str, Any], location: str) -> set[str]:
    return {t for t, loc, _ in found(detector, rec) if loc == location}


def luhn_id(rng: random.Random, first: str = "4", length: int = 16) -> str:
    """A random id that happens to pass Luhn (as one in ten does)."""
    while True:
        value = first + "".join(rng.choice("0123456789") for _ in range(length - len(first)))
        if luhn_ok(value):
            return value


# --- numbers that are ids -------------------------------------------------------------------------


def test_issuer_ranges_decide_before_luhn(detector: PiiDetector) -> None:
    rng = random.Random(1)
    for first in "0789":  # no issuer uses these first digits at 16 digits
        value = luhn_id(rng, first)
        assert not card_number_ok(value)
        assert "CREDIT_CARD" not in {t for t, _ in detector.detect_value(value)}, value
    assert not card_number_ok(luhn_id(rng, "20"))  # "2024..." date-stamped ids: below Mastercard's 2221
    for card in (
        "4111111111111111",
        "5555555555554444",
        "2221000000000009",
        "378282246310005",
        "6011111111111117",
    ):
        assert card_number_ok(card), card


def test_luhn_passing_ids_under_id_like_names(detector: PiiDetector) -> None:
    rng = random.Random(2)
    body = {
        "orders": [{"out_trade_no": luhn_id(rng), "openid": "oUpF8u" + "x" * 22, "tradeNo": luhn_id(rng)}]
    }
    assert types_at(detector, record("/pay/orderquery", resp=body), "response") == set()
    for name in ("out_trade_no", "transaction_id", "fileId", "objectKey_id", "prodversion", "mchid", "state"):
        assert "CREDIT_CARD" not in {t for t, _ in detector.detect_value(luhn_id(rng), name)}, name


def test_card_length_numbers_in_urls_are_ids(detector: PiiDetector) -> None:
    rng = random.Random(3)
    value = luhn_id(rng)
    assert "CREDIT_CARD" not in types_at(detector, record(f"/api/v2/files/{value}/content"), "path")
    assert "CREDIT_CARD" not in types_at(detector, record(f"/feed?t={value}&rev={luhn_id(rng)}"), "query")
    # Under a name that says card, or formatted like a card, it is one.
    assert "CREDIT_CARD" in types_at(detector, record("/api/cards/4111111111111111"), "path")
    assert "CREDIT_CARD" in types_at(detector, record("/pay?card_number=4111111111111111"), "query")
    assert "CREDIT_CARD" in types_at(detector, record("/pay?pan=4111-1111-1111-1111"), "query")


def test_a_field_of_sequential_numbers_is_a_counter(detector: PiiDetector) -> None:
    start = 4_000_000_000_000_000
    items = [{"number": str(start + i), "status": "open"} for i in range(12)]
    assert any(card_number_ok(item["number"]) for item in items)  # some pass by chance
    assert types_at(detector, record("/api/v1/invoices", resp={"items": items}), "response") == set()


def test_a_field_whose_values_mostly_fail_luhn_is_an_id_field(detector: PiiDetector) -> None:
    # One id per exchange, so only the batch shows the field: 2 in 20 pass Luhn, as ids do.
    rng = random.Random(4)
    values = [luhn_id(rng) for _ in range(2)]
    while len(values) < 20:
        candidate = "4" + "".join(rng.choice("0123456789") for _ in range(15))
        if not luhn_ok(candidate):
            values.append(candidate)
    rng.shuffle(values)
    records = [record("/api/v1/tx", resp={"value": v, "amount": 3}) for v in values]
    batch = default_detector().detect_batch(records)
    assert not any(f.type == "CREDIT_CARD" for findings in batch for f in findings)
    # Alone, the Luhn-passing ones would have been cards: the population is what decides.
    singles = [default_detector().detect_exchange(r) for r in records]
    assert any(f.type == "CREDIT_CARD" for findings in singles for f in findings)
    # A field of real card numbers (all pass) keeps them.
    cards = [luhn_id(rng, "51") for _ in range(20)]
    kept = default_detector().detect_batch([record("/api/v1/tx", resp={"value": c}) for c in cards])
    assert all(any(f.type == "CREDIT_CARD" for f in findings) for findings in kept)


def test_detect_batch_is_detect_exchange_per_record_otherwise(detector: PiiDetector) -> None:
    records = [
        record("/users/alice%40example.com", resp={"email": "bob@example.org", "phone": "+44 7911 123456"}),
        record("/api/v1/health", resp={"status": "ok"}),
    ]
    batch = detector.detect_batch(records)
    assert [sorted((f.type, f.location, f.field) for f in fs) for fs in batch] == [
        sorted(found(detector, r)) for r in records
    ]
    with pytest.raises(ValueError, match="one entry per record"):
        detector.detect_batch(records, templates=["/x"])


# --- versions are not IP addresses ----------------------------------------------------------------


def test_versions_in_version_fields(detector: PiiDetector) -> None:
    body = {
        "range": {"lower": "3.3.101.7", "upper": "3.3.102.0"},
        "min_version": "10.2.4.1",
        "build": "1.1.23.0",
    }
    assert types_at(detector, record("/update", resp=body), "response") == set()
    assert types_at(detector, record("/update?prodversion=4.2.10.3&fw=1.0.0.12"), "query") == set()


def test_versions_inside_text(detector: PiiDetector) -> None:
    texts = [
        "UpdateAgent/4.2.10.3 (Windows NT 10.0; Win64; x64)",
        "<d:Version>1.1.23.0</d:Version><d:Dependencies>Microsoft.CSharp:4.5.1.2:net45</d:Dependencies>",
        "built 2024.10.24.16.53.42 from main",
        "firmware v10.2.4.1 installed",
        "release 7.1.0.13 is out",
    ]
    for text in texts:
        assert "IP_ADDRESS" not in {t for t, _ in detector.detect_value(text)}, text
    # An OData atom feed cut short by the body cap is scanned as text: still no IP.
    xml = (
        "<feed><entry><id>https://www.nuget.org/api/v2/Packages(Id='Serilog',Version='2.10.0.1')</id>"
        "<m:properties><d:Version>2.10.0.1</d:Version><d:NormalizedVersion>2.10.0.1</d:NormalizedVersion><d:Down"
    )
    rec = record("/api/v2/Packages(Id='Serilog',Version='2.10.0.1')", resp=xml)
    rec["response_headers"] = [["Content-Type", "application/atom+xml"]]
    assert found(detector, rec) == set()


def test_real_ips_still_found(detector: PiiDetector) -> None:
    assert "IP_ADDRESS" in {t for t, _ in detector.detect_value("login from 203.0.113.7 failed")}
    assert "IP_ADDRESS" in {t for t, _ in detector.detect_value("client_ip=203.0.113.7 user=bob")}
    assert "IP_ADDRESS" in types_at(detector, record("/geo?ip=198.51.100.23"), "query")
    assert "IP_ADDRESS" in {t for t, _ in detector.detect_value("10.1.2.3", "lastLoginIp")}


# --- nonces are not cards -------------------------------------------------------------------------


def test_oauth1_nonce_in_the_authorization_header(detector: PiiDetector) -> None:
    header = (
        'OAuth oauth_consumer_key="xvz1evFS4wEEPTGEFPHBog", oauth_nonce="4916338506082832", '
        'oauth_signature="tnnArxj06cWHq44gCs1OSKk%2FjLY%3D", oauth_timestamp="1318622958", '
        'oauth_token="370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb"'
    )
    assert luhn_ok("4916338506082832")
    rec = record(
        "/1.1/statuses/home_timeline.json?oauth_nonce=4916338506082832", headers=[["Authorization", header]]
    )
    assert found(detector, rec) == {("CREDENTIAL", "header", "authorization")}


def test_oidc_nonce_and_state_in_a_form(detector: PiiDetector) -> None:
    form = "grant_type=authorization_code&nonce=4916338506082832&state=5105105105105100&client_secret=s3cr3tS3cr3t"
    rec = record("/oauth/token", req=form)
    rec["request_headers"] = [["Content-Type", "application/x-www-form-urlencoded"]]
    assert found(detector, rec) == {("CREDENTIAL", "request", "client_secret")}


# --- network addresses are not postal ones --------------------------------------------------------


def test_addresses_that_are_network_addresses(detector: PiiDetector) -> None:
    node = {
        "status": {
            "addresses": [
                {"type": "InternalIP", "address": "10.0.1.15"},
                {"type": "Hostname", "address": "ip-10-0-1-15.ec2.internal"},
            ]
        },
        "peers": [{"address": "10.0.0.5:9094"}],
        "IPv4Address": "172.17.0.2/16",
        "listen_address": "[::1]:8080",
        "wallet": {"address": "0x52908400098527886E0F7030069857D2E4169EE7"},
    }
    assert types_at(detector, record("/api/v1/nodes/node-1", resp=node), "response") == {"IP_ADDRESS"}


def test_postal_addresses_still_found(detector: PiiDetector) -> None:
    body = {
        "address": "Obere Str. 57",
        "billing": {"address_line_1": "500 Electric Ave", "locality": "New York"},
    }
    assert found(detector, record("/x", resp=body)) == {
        ("LOCATION", "response", "address"),
        ("LOCATION", "response", "billing.address_line_1"),
        ("LOCATION", "response", "billing.locality"),
    }
    fhir = {"address": [{"line": ["534 Erewhon St"], "city": "PleasantVille"}]}
    assert ("LOCATION", "response", "address[].line[]") in found(
        detector, record("/fhir/Patient/p1", resp=fhir)
    )


# --- names of things are not people ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "body"),
    [
        ("/api/v1/repos/octocat/hello-world", {"name": "hello-world", "full_name": "octocat/hello-world"}),
        ("/v2/apps/7", {"name": "Billing Portal", "displayName": "cba", "client": {"name": "Acme Mobile"}}),
        ("/v2/accounts/acc-1", {"accountName": "Acme Corp", "planName": "Business Pro"}),
        ("/api/v2.0/projects/library", {"name": "library", "owner_name": "admin"}),
        ("/v1/artists/0TnOY", {"name": "Daft Punk", "top_track": {"name": "Get Lucky"}}),
        ("/api/v1/teams/3", {"owner": {"type": "team", "name": "Platform Team"}, "name": "SRE"}),
        ("/api/products/9", {"name": "Jordan Max", "title": "Grace Hopper Mug"}),
        ("/api/v1/user-groups/4", {"userGroup": {"name": "Maria Garcia"}}),
    ],
)
def test_names_of_things(detector: PiiDetector, target: str, body: dict[str, Any]) -> None:
    assert "PERSON" not in types_at(detector, record(target, resp=body), "response"), body


def test_display_names_of_people_still_found(detector: PiiDetector) -> None:
    for body in ({"displayName": "Eugen Rochko"}, {"display_name": "Wei Zhang"}, {"nickname": "张伟"}):
        assert "PERSON" in types_at(detector, record("/api/v1/accounts/1", resp=body), "response"), body
    assert "PERSON" not in {t for t, _ in detector.detect_value("cba", "displayName")}


# --- people without a telling field name ----------------------------------------------------------


def test_bare_name_at_the_top_of_a_person_resource(detector: PiiDetector) -> None:
    for target in ("/api/customers/42", "/patients/p-7", "/api/v1/users/9", "/api/me", "/v2/members/123"):
        assert ("PERSON", "response", "name") in found(
            detector, record(target, resp={"id": 1, "name": "Maria Garcia"})
        ), target
    wrapped = record("/api/v1/users/9", resp={"data": {"id": 9, "name": "Maria Garcia"}})
    assert ("PERSON", "response", "data.name") in found(detector, wrapped)
    listed = record("/api/patients?ward=A", resp={"results": [{"name": "Peter Chalmers"}]})
    assert ("PERSON", "response", "results[].name") in found(detector, listed)
    # The same body under a resource that is no person, or a name that is no person's.
    assert "PERSON" not in types_at(
        detector, record("/api/products/42", resp={"name": "Maria Garcia"}), "response"
    )
    assert "PERSON" not in types_at(
        detector, record("/api/customers/42", resp={"name": "Acme Corp"}), "response"
    )


def test_the_template_names_the_resource(detector: PiiDetector) -> None:
    assert resource_noun("/api/customers/42") == "customers"
    assert resource_noun("/users/alice") == "users"
    assert resource_noun("/fhir/Patient/example") == "Patient"
    assert resource_noun("/Northwind.svc/Customers('ALFKI')") == "Customers"
    assert resource_noun("/api/customers/42/orders") == "orders"
    rec = record("/u/octo-cat", resp={"name": "Monalisa Octocat"})
    assert "PERSON" not in types_at(detector, rec, "response")
    assert ("PERSON", "response", "name") in found(detector, rec, template="/users/{username}")


def test_fhir_human_names(detector: PiiDetector) -> None:
    patient = {
        "resourceType": "Patient",
        "name": [{"use": "official", "family": "Chalmers", "given": ["Peter", "James"]}],
    }
    got = found(detector, record("/fhir/Patient/example", resp=patient))
    assert {("PERSON", "response", "name[].family"), ("PERSON", "response", "name[].given[]")} <= got


def test_people_in_query_strings(detector: PiiDetector) -> None:
    assert "PERSON" in types_at(
        detector, record("/svc/books/v3/reviews.json?author=Chris%20Sanders"), "query"
    )
    assert "PERSON" in types_at(detector, record("/api/contacts/search?q=Amelia+Earhart&limit=20"), "query")
    assert "PERSON" in types_at(detector, record("/issues?assignee=Maria+Garcia"), "query")
    for q in ("blue widgets", "New York", "Release Notes", "Black Friday", "Chase Bank"):
        assert "PERSON" not in types_at(detector, record(f"/api/search?q={q.replace(' ', '+')}"), "query"), q
    assert "PERSON" not in types_at(detector, record("/issues?assignee=jsmith"), "query")


def test_people_in_free_text(detector: PiiDetector) -> None:
    for text in (
        "Hi team, Chris Sanders reported that the export fails since Monday.",
        "Thanks to Amelia Earhart for the detailed report.",
        "Your driver John F. Kennedy is arriving in 5 minutes.",
    ):
        assert "PERSON" in {t for t, _ in detector.detect_value(text, "comment")}, text
    for text in (
        "Deploy to Production failed on Monday, rolling back.",
        "The New York office is closed for Black Friday.",
        "Please review the Release Notes before the Customer Support call.",
        "I moved, the new delivery address is 123 Park Lane, Leeds.",
        "Ship to 40 rue Victor Hugo, Paris",
        "Boston Consulting Group and Rand Corporation signed",
        "Austin Texas office",
    ):
        assert "PERSON" not in {t for t, _ in detector.detect_value(text, "comment")}, text


def test_masked_samples_of_new_findings_hold_no_raw_value(detector: PiiDetector) -> None:
    rec = record(
        "/api/customers/42?author=Chris%20Sanders",
        resp={"name": "Maria Garcia", "note": "ask Amelia Earhart"},
    )
    for finding in detector.detect_exchange(rec):
        for raw in ("Maria", "Garcia", "Chris", "Sanders", "Amelia", "Earhart"):
            assert raw not in finding.sample, finding


# --- the templater's classifier -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "context", "expected"),
    [
        ("wei.zhang@example.com", None, "EMAIL_ADDRESS"),
        ("536-90-4821", "people", "US_SSN"),
        ("4111-1111-1111-1111", None, "CREDIT_CARD"),
        ("4111111111111111", "cards", "CREDIT_CARD"),
        ("4111111111111111", "files", None),
        ("11010519491231002X", None, "CN_RESIDENT_ID"),
        ("GB82WEST12345698765432", None, "IBAN_CODE"),
        ("+447911123456", None, "PHONE_NUMBER"),
        ("13800138000", "contacts", "PHONE_NUMBER"),
        ("13800138000", "orders", None),
        ("203.0.113.7", None, "IP_ADDRESS"),
        ("2001:db8::1", None, "IP_ADDRESS"),
        ("sk_live_4eC39HqLyjWDarjtT1zdp7dc", None, "CREDENTIAL"),
        ("1.2.3.4.5", None, None),
        ("550e8400-e29b-41d4-a716-446655440000", None, None),
        ("1700000000", None, None),
        ("alice", "users", None),
        ("Albert_Einstein", None, None),
    ],
)
def test_classify_value(value: str, context: str | None, expected: str | None) -> None:
    assert classify_value(value, context=context) == expected


def test_classify_value_does_not_import_presidio() -> None:
    import subprocess
    import sys

    code = "import sys, analyzer.pii.classify as c; c.classify_value('a@example.com'); print('presidio_analyzer' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "False"


# --- the bench's real-API sets, small: the issue-10 floors hold ------------------------------------


def test_real_api_sets_meet_the_floors(detector: PiiDetector) -> None:
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    if str(root) not in sys.path:  # bench/ is not an installed package
        sys.path.insert(0, str(root))
    from bench.pii import holdout, realapi
    from bench.pii_bench import floors_met, score

    for name, samples in (("realapi", realapi.generate(400)), ("holdout", holdout.generate(300))):
        board, _ = score(detector, samples)
        ok, detail = floors_met(board)
        assert ok, (name, detail, board.errors[:10])
