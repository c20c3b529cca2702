"""The canonical alert: adapters from the producers' shapes, the versioned record, scrubbing."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analyzer.alerts.model import (
    MAX_EVIDENCE_ITEMS,
    AlertEvent,
    AlertKind,
    Severity,
    make_evidence,
    scrub,
    utc,
)
from tests.analyzer.alerts.conftest import (
    CHANGE,
    NOW,
    SERVICE,
    THREAT,
    change_alert,
    finding_alert,
    threat_alert,
)

# Planted raw value -> the part that must never reach a destination.
PLANTED = {
    "email": ("jane.doe@example.org", "jane.doe"),
    "jwt": (
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
        "eyJzdWIiOiIxMjM0NTY3ODkwIn0",
    ),
    "bearer": ("Authorization: Bearer sk_live_4eC39HqLyjWDarjtT1zdp7dc", "4eC39HqLyjWDarjtT1zdp7dc"),
    "card": ("4111 1111 1111 1111", "4111 1111 1111"),  # the last four may show, as PCI DSS allows
    "apikey": ("ghp_16C7e42F292c6912E7710c838347Ae178B4a", "16C7e42F292c6912E7710c838347Ae178B4a"),
    "url": ("/login?user=bob&password=hunter2hunter2", "hunter2hunter2"),
}


def test_finding_adapter_carries_service_endpoint_and_masked_evidence() -> None:
    alert = finding_alert()
    assert alert.kind is AlertKind.FINDING
    assert alert.type == "pii_unauthenticated" and alert.severity is Severity.CRITICAL
    assert alert.service == SERVICE
    assert (alert.endpoint.method, alert.endpoint.path_template, alert.endpoint.id) == (
        "GET",
        "/users/{id}",
        42,
    )
    assert alert.dedup_key == "finding:pii_unauthenticated:42"
    assert alert.pii_types == ("EMAIL_ADDRESS", "PHONE_NUMBER")
    assert dict(alert.evidence)["pii[0]"] == "EMAIL_ADDRESS response email j***@e***.com"
    assert alert.remediation and "authentication" in alert.remediation


def test_threat_adapter_dedups_across_windows_but_not_across_actors() -> None:
    first = threat_alert()
    next_window = threat_alert(
        id="ev-bola-2", first_seen=THREAT["first_seen"] + 3600, last_seen=THREAT["last_seen"] + 3600
    )
    other_actor = threat_alert(actor={"ip": "203.0.113.9", "identity": None, "key": None})
    assert first.dedup_key == next_window.dedup_key != other_actor.dedup_key
    assert first.uid != next_window.uid
    assert first.actor is not None and first.actor.identity == "jwt:acme/al…42"
    assert first.count == 40
    assert first.first_seen == datetime.fromtimestamp(THREAT["first_seen"], UTC)


def test_change_adapter_keeps_before_and_after() -> None:
    alert = change_alert()
    assert alert.kind is AlertKind.CHANGE and alert.severity is Severity.MEDIUM  # new_pii_type default
    assert dict(alert.before or ()) == {"pii_types": "EMAIL_ADDRESS"}
    assert dict(alert.after or ()) == {"pii_types": "EMAIL_ADDRESS, US_SSN"}
    assert "new pii type" in alert.title
    assert change_alert(severity="critical").severity is Severity.CRITICAL


def test_record_round_trips_through_json(alerts: list[AlertEvent]) -> None:
    for alert in alerts:
        record = json.loads(json.dumps(alert.to_record()))
        assert AlertEvent.from_record(record) == alert


def test_record_from_a_newer_release_is_refused_clearly() -> None:
    record = finding_alert().to_record() | {"v": 99}
    with pytest.raises(ValueError, match="newer than this release"):
        AlertEvent.from_record(record)
    with pytest.raises(ValueError, match="not an alert record"):
        AlertEvent.from_record({"kind": "finding"})


def test_invalid_alerts_are_refused() -> None:
    alert = finding_alert()
    with pytest.raises(ValueError, match="timezone-aware"):
        replace(alert, first_seen=datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="count"):
        replace(alert, count=0)
    with pytest.raises(ValueError, match="unknown severity"):
        Severity.parse("urgent")


@pytest.mark.parametrize("name", sorted(PLANTED))
def test_planted_raw_values_never_survive_an_adapter(name: str) -> None:
    raw, secret_part = PLANTED[name]
    threat = threat_alert(title=f"seen {raw}", evidence={"header": raw, "nested": {"list": [raw, 1]}})
    change = change_alert(before={"value": raw}, after={"value": raw})
    finding = finding_alert(
        evidence=[{"type": "EMAIL_ADDRESS", "location": "response", "field": "x", "count": 1, "sample": raw}]
    )
    for alert in (threat, change, finding):
        text = json.dumps(alert.to_record())
        assert secret_part not in text, f"{name} leaked from {alert.kind}"


def test_evidence_is_flattened_and_bounded() -> None:
    evidence = make_evidence({"a": {"b": [1, 2], "c": [{"d": "x"}]}, **{f"k{i}": i for i in range(100)}})
    assert evidence[:2] == (("a.b", "1, 2"), ("a.c[0].d", "x"))
    assert len(evidence) == MAX_EVIDENCE_ITEMS
    long = make_evidence({"v": "y" * 10_000})
    assert len(str(long[0][1])) <= 256


@settings(max_examples=200, deadline=None)
@given(
    local=st.from_regex(r"[a-z][a-z0-9._]{2,20}", fullmatch=True),
    domain=st.from_regex(r"[a-z][a-z0-9]{2,15}\.(com|org|net|io)", fullmatch=True),
    noise=st.text(max_size=40),
)
def test_scrub_never_leaves_an_email_address(local: str, domain: str, noise: str) -> None:
    address = f"{local}@{domain}"
    out = scrub(f"{noise} {address} {noise}")
    assert address not in out


@settings(max_examples=200, deadline=None)
@given(token=st.from_regex(r"[A-Za-z0-9]{20,30}[0-9][A-Za-z]{3,10}", fullmatch=True))
def test_scrub_hides_long_secret_tokens(token: str) -> None:
    assert token not in scrub(f"key {token} end")


def test_scrub_keeps_ordinary_text() -> None:
    text = "GET /users/{id} returned 404 for 12 ids; O'Brien searched <b>notes</b>"
    assert scrub(text) == text


def test_utc_accepts_epoch_iso_and_naive() -> None:
    assert utc(0) == datetime(1970, 1, 1, tzinfo=UTC)
    assert utc("2026-03-01T12:00:00Z") == NOW
    assert utc(datetime(2026, 3, 1, 12)) == NOW
    assert CHANGE["ts"] == change_alert().first_seen.timestamp()
