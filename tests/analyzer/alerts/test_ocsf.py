"""Rendered OCSF events checked against the OCSF 1.7.0 schema (see ocsf_schema.py)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

import pytest

from analyzer.alerts.destinations import Destination, DestinationKind
from analyzer.alerts.model import AlertEvent
from analyzer.alerts.ocsf import (
    APPLICATION_SECURITY_POSTURE_FINDING,
    CLOUD_RESOURCES_INVENTORY_INFO,
    DATA_SECURITY_FINDING,
    DETECTION_FINDING,
    ocsf_class,
    to_ocsf,
)
from analyzer.alerts.policy import build_digest
from tests.analyzer.alerts.conftest import NOW, change_alert, finding_alert, threat_alert
from tests.analyzer.alerts.ocsf_schema import assert_valid, validate_event

CASES = {
    "pii finding -> data security": (finding_alert(), DATA_SECURITY_FINDING),
    "credentials in url -> data security": (
        finding_alert(id="credentials_in_url:1", kind="credentials_in_url", severity="critical"),
        DATA_SECURITY_FINDING,
    ),
    "zombie finding -> posture": (
        finding_alert(
            id="zombie_traffic:9",
            kind="zombie_traffic",
            severity="medium",
            evidence=[],
            pii_types=[],
            zombie_reasons=[{"reason": "deprecated", "detail": "spec"}],
        ),
        APPLICATION_SECURITY_POSTURE_FINDING,
    ),
    "bola -> detection": (threat_alert(), DETECTION_FINDING),
    "injection with subtype -> detection": (
        threat_alert(type="injection", subtype="sqli", actor={"ip": "2001:db8::7"}),
        DETECTION_FINDING,
    ),
    "posture check from the detector -> posture": (
        threat_alert(type="jwt_alg_none", actor={}),
        APPLICATION_SECURITY_POSTURE_FINDING,
    ),
    "new endpoint -> inventory info": (
        change_alert(type="new_endpoint", before=None, after={"hits": 3}),
        CLOUD_RESOURCES_INVENTORY_INFO,
    ),
    "new pii type -> data security": (change_alert(), DATA_SECURITY_FINDING),
    "became shadow -> posture": (
        change_alert(type="became_shadow", before={"shadow": False}, after={"shadow": True}),
        APPLICATION_SECURITY_POSTURE_FINDING,
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_alert_kind_renders_a_schema_valid_event_of_the_right_class(name: str) -> None:
    alert, expected_class = CASES[name]
    assert ocsf_class(alert) == expected_class
    event = to_ocsf(alert)
    assert event["class_uid"] == expected_class
    assert_valid(event)
    json.dumps(event)  # JSON-serialisable as is


def test_repeat_after_the_throttle_window_is_an_update_activity() -> None:
    event = to_ocsf(replace(threat_alert(), is_update=True))
    assert (event["activity_id"], event["type_uid"], event["activity_name"]) == (2, 200402, "Update")
    assert_valid(event)


def test_digest_renders_with_related_events() -> None:
    destination = Destination(id="d1", name="soc", kind=DestinationKind.WEBHOOK)
    members = [threat_alert(id=f"ev{i}", actor={"ip": f"198.51.100.{i}"}) for i in range(5)]
    digest = build_digest(
        destination, members, window_start=NOW, window_end=NOW + timedelta(seconds=60), now=NOW
    )
    event = to_ocsf(digest)
    assert_valid(event)
    assert event["finding_info"]["related_events_count"] == 5
    assert len(event["finding_info"]["related_events"]) == 5


def test_detection_finding_fields() -> None:
    event = to_ocsf(threat_alert())
    assert event["severity_id"] == 4 and event["severity"] == "High"
    assert event["finding_info"]["types"] == ["bola"]
    assert event["finding_info"]["first_seen_time"] < event["finding_info"]["last_seen_time"]
    evidence = event["evidences"][0]
    assert evidence["src_endpoint"] == {"ip": "198.51.100.7"}
    assert evidence["actor"]["user"] == {"name": "jwt:acme/al…42", "uid": "8f3a9c"}
    assert evidence["http_request"] == {
        "http_method": "GET",
        "url": {"hostname": "api.example.com", "path": "/users/{id}"},
    }
    resource = event["resources"][0]
    assert resource["owner"] == {"name": "alice@payments"} and resource["group"] == {"name": "payments"}
    assert event["metadata"]["correlation_uid"] == threat_alert().dedup_key
    assert event["unmapped"]["apicensus"]["count"] == 40


def test_data_security_finding_fields() -> None:
    event = to_ocsf(finding_alert())
    assert event["data_security"]["data_lifecycle_state_id"] == 2
    assert event["data_security"]["detection_pattern"] == "EMAIL_ADDRESS, PHONE_NUMBER"
    assert event["dst_endpoint"] == {"hostname": "api.example.com"}
    assert event["finding_info"]["src_url"] == "https://console.example/ui/findings/42"
    assert "remediation" not in event  # not an attribute of class 2006


def test_change_event_carries_before_and_after_in_the_resource() -> None:
    event = to_ocsf(change_alert(type="new_endpoint", before=None, after={"hits": 3}))
    assert event["resources"][0]["data"] == {"after": {"hits": 3}}
    assert event["activity_name"] == "Log"


# The checker must itself catch what it is there to catch.


def _valid() -> dict[str, object]:
    return to_ocsf(threat_alert())


def test_checker_refuses_a_bad_enum_value() -> None:
    event = _valid() | {"severity_id": 42}
    assert any("severity_id" in p for p in validate_event(event, "detection_finding"))


def test_checker_refuses_an_unknown_attribute() -> None:
    event = _valid() | {"severity_label": "High"}
    assert any("severity_label" in p for p in validate_event(event, "detection_finding"))
    nested = _valid()
    nested["finding_info"] = {**nested["finding_info"], "titel": "typo"}  # type: ignore[dict-item]
    assert any("titel" in p for p in validate_event(nested, "detection_finding"))


def test_checker_refuses_missing_required_and_bad_type_uid() -> None:
    event = {k: v for k, v in _valid().items() if k != "finding_info"}
    assert any("finding_info" in p for p in validate_event(event, "detection_finding"))
    assert any("type_uid" in p for p in validate_event(_valid() | {"type_uid": 200499}, "detection_finding"))
    assert any(
        "at least one" in p
        for p in validate_event(
            {
                k: v
                for k, v in to_ocsf(finding_alert(id="zombie_traffic:9", kind="zombie_traffic")).items()
                if k not in ("application", "remediation")
            },
            "application_security_posture_finding",
        )
    )


def test_checker_refuses_wrong_scalar_types() -> None:
    event = _valid() | {"time": "yesterday"}
    assert any("time" in p for p in validate_event(event, "detection_finding"))


def _all_alerts() -> list[AlertEvent]:
    return [case[0] for case in CASES.values()]


def test_no_event_carries_a_null() -> None:
    def walk(value: object, path: str) -> None:
        assert value is not None, path
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, f"{path}.{k}")
        elif isinstance(value, list):
            for i, v in enumerate(value):
                walk(v, f"{path}[{i}]")

    for alert in _all_alerts():
        event = to_ocsf(alert)
        unmapped = event.pop("unmapped")
        walk(event, "event")
        assert unmapped["apicensus"]["kind"] == alert.kind.value
