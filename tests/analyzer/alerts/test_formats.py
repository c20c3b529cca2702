"""CEF, RFC 5424, Slack, Splunk HEC and webhook signing, each parsed back by an independent parser."""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analyzer.alerts import cef, slack, splunk, syslog, webhook
from analyzer.alerts.destinations import parse_destination
from analyzer.alerts.model import make_evidence
from tests.analyzer.alerts.conftest import NOW, change_alert, finding_alert, threat_alert
from tests.analyzer.alerts.parsers import parse_5424, parse_cef

# -- CEF ------------------------------------------------------------------------------------------


def test_cef_line_fields() -> None:
    alert = threat_alert()
    parsed = parse_cef(cef.to_cef(alert))
    assert (parsed.version, parsed.vendor, parsed.product) == ("0", "APICensus", "APICensus")
    assert parsed.signature_id == "bola" and parsed.severity == "8"
    ext = parsed.extensions
    assert ext["src"] == "198.51.100.7" and ext["suser"] == "jwt:acme/al…42"
    assert (
        ext["requestMethod"] == "GET"
        and ext["request"] == "/users/{id}"
        and ext["dhost"] == "api.example.com"
    )
    assert ext["cnt"] == "40" and int(ext["start"]) < int(ext["end"])
    labels = {ext[f"cs{i}Label"]: ext[f"cs{i}"] for i in range(1, 7) if f"cs{i}" in ext}
    assert labels["Owner"] == "alice@payments" and labels["Team"] == "payments"
    assert "distinct_ids=40" in labels["Evidence"]


def test_cef_ipv6_source_goes_to_c6a2() -> None:
    ext = parse_cef(cef.to_cef(threat_alert(actor={"ip": "2001:db8::7"}))).extensions
    assert "src" not in ext and ext["c6a2"] == "2001:db8::7"


HOSTILE = 'a|b\\c=d\ne\r\nf]g"h'


def test_cef_escapes_hostile_header_and_extension_values() -> None:
    alert = replace(threat_alert(), title=HOSTILE, evidence=make_evidence({"k": HOSTILE}))
    alert = replace(alert, endpoint=replace(alert.endpoint, path_template="/a=b|c\\d"))
    line = cef.to_cef(alert)
    assert "\n" not in line and "\r" not in line
    parsed = parse_cef(line)
    assert parsed.name == HOSTILE.replace("\r\n", "  ").replace("\n", " ").replace("\r", " ")
    assert parsed.extensions["msg"] == HOSTILE.replace("\r\n", "\n")
    assert parsed.extensions["request"] == "/a=b|c\\d"


@settings(max_examples=300, deadline=None)
@given(title=st.text(max_size=80), value=st.text(max_size=80))
def test_cef_round_trips_any_text(title: str, value: str) -> None:
    alert = replace(
        threat_alert(),
        title=title or "x",
        endpoint=replace(threat_alert().endpoint, path_template=value or "/"),
    )
    parsed = parse_cef(cef.to_cef(alert))
    assert parsed.extensions["request"] == (value or "/").replace("\r\n", "\n")
    assert parsed.name == (title or "x").replace("\r", " ").replace("\n", " ")


# -- RFC 5424 ---------------------------------------------------------------------------------------


def test_rfc5424_structure() -> None:
    alert = threat_alert()
    raw = syslog.build_message(
        alert, cef.to_cef(alert), delivery_id="d-1", facility=16, hostname="sensor-1", procid="77", now=NOW
    )
    msg = parse_5424(raw)
    assert msg.version == 1 and msg.facility == 16 and msg.severity == 3  # high -> error
    assert msg.timestamp == "2026-03-01T12:00:00.000Z"
    assert (msg.hostname, msg.app_name, msg.procid, msg.msgid) == ("sensor-1", "apicensus", "77", "bola")
    sd = msg.structured_data["apicensus@32473"]
    assert sd["id"] == "d-1" and sd["kind"] == "threat" and sd["type"] == "bola" and sd["severity"] == "high"
    assert parse_cef(msg.msg).signature_id == "bola"
    assert msg.had_bom  # the identity hint has a "…": a UTF-8 MSG starts with the BOM
    ascii_alert = threat_alert(actor={"ip": "198.51.100.7", "identity": "basic:bob", "key": "k"}, title="t")
    plain = parse_5424(
        syslog.build_message(ascii_alert, cef.to_cef(ascii_alert), delivery_id="d", facility=1, now=NOW)
    )
    assert not plain.had_bom  # ASCII: MSG-ANY, no BOM


def test_rfc5424_escapes_params_and_marks_utf8_with_bom() -> None:
    alert = replace(threat_alert(), type='we"ird]\\', title="Zoë 测试")
    raw = syslog.build_message(
        alert, cef.to_cef(alert), delivery_id='x"]\\y', facility=4, hostname="h o st", now=NOW
    )
    msg = parse_5424(raw)
    assert msg.structured_data["apicensus@32473"]["id"] == 'x"]\\y'
    assert msg.structured_data["apicensus@32473"]["type"] == 'we"ird]\\'
    assert msg.hostname == "h_o_st" and msg.had_bom and "Zoë 测试" in msg.msg


@pytest.mark.parametrize(
    ("severity", "code"), [("critical", 2), ("high", 3), ("medium", 4), ("low", 5), ("info", 6)]
)
def test_rfc5424_severity_mapping(severity: str, code: int) -> None:
    alert = threat_alert(severity=severity)
    assert parse_5424(syslog.build_message(alert, "m", delivery_id="d", facility=1, now=NOW)).severity == code


def test_octet_counting_and_utf8_truncation() -> None:
    message = "é".encode() * 5
    assert syslog.frame_octet_counting(message) == b"10 " + message
    cut = syslog.truncate_utf8(message, 5)
    assert cut == "é".encode() * 2 and cut.decode("utf-8")


# -- Slack ---------------------------------------------------------------------------------------------


def test_slack_message_shape_and_limits() -> None:
    alert = replace(finding_alert(), title="x" * 5000)
    payload = slack.render(alert, console_url="https://console.example/ui/")
    blocks = payload["blocks"]
    assert blocks[0]["type"] == "header" and len(blocks[0]["text"]["text"]) <= 150
    assert all(len(b["text"]["text"]) <= 3000 for b in blocks if b["type"] == "section" and "text" in b)
    fields = next(b["fields"] for b in blocks if "fields" in b)
    assert len(fields) <= 10 and all(len(f["text"]) <= 2000 for f in fields)
    assert blocks[-1]["elements"][0]["url"] == "https://console.example/ui/findings/42"
    assert len(blocks) <= 50 and payload["text"].startswith("[CRITICAL]")
    json.dumps(payload)


def test_slack_escapes_mentions_and_links_from_traffic() -> None:
    alert = replace(threat_alert(), title="<!channel> <https://evil|click> & co")
    payload = slack.render(alert)
    text = json.dumps(payload)
    assert "<!channel>" not in text and "<https://evil" not in text
    assert "&lt;!channel&gt;" in payload["blocks"][1]["text"]["text"]


def test_slack_change_event_shows_before_and_after() -> None:
    text = json.dumps(slack.render(change_alert()))
    assert "before: pii_types=EMAIL_ADDRESS" in text and "US_SSN" in text


# -- Splunk HEC ------------------------------------------------------------------------------------------


def test_splunk_envelope() -> None:
    destination = parse_destination(
        {
            "id": "s1",
            "kind": "splunk_hec",
            "url": "https://splunk:8088/services/collector/event",
            "token": "t0k",
            "index": "soc",
        }
    )
    body = splunk.batch_body([(threat_alert(), "d1"), (finding_alert(), "d2")], destination)
    first, second = (json.loads(line) for line in body.split(b"\n"))
    assert (
        first["index"] == "soc" and first["sourcetype"] == "apicensus:ocsf" and first["source"] == "apicensus"
    )
    assert first["time"] == NOW.timestamp() and first["event"]["class_uid"] == 2004
    assert first["fields"] == {
        "severity": "high",
        "kind": "threat",
        "alert_type": "bola",
        "service": "api.example.com",
        "delivery_id": "d1",
    }
    assert second["event"]["class_uid"] == 2006
    assert splunk.headers(destination)["Authorization"] == "Splunk t0k"


# -- webhook signatures ----------------------------------------------------------------------------------

SECRET = "s3cret-s3cret-s3cret"


def _signed(now_ts: int = 1_772_366_400) -> tuple[bytes, dict[str, str]]:
    from datetime import UTC, datetime

    return webhook.request(
        threat_alert(), secrets=(SECRET,), delivery_id="dlv-1", now=datetime.fromtimestamp(now_ts, UTC)
    )


def test_signature_is_hmac_sha256_over_timestamp_id_and_body() -> None:
    body, headers = _signed()
    expected = hmac.new(SECRET.encode(), b"1772366400.dlv-1." + body, hashlib.sha256).hexdigest()
    assert headers[webhook.SIGNATURE_HEADER] == f"v1={expected}"
    assert headers[webhook.TIMESTAMP_HEADER] == "1772366400" and headers[webhook.DELIVERY_HEADER] == "dlv-1"
    assert json.loads(body)["class_uid"] == 2004
    assert webhook.verify_signature(body, headers, secret=SECRET, now=1_772_366_400 + 10) == "dlv-1"


def test_verification_refuses_tampering_wrong_secret_and_stale_timestamps() -> None:
    body, headers = _signed()
    now = 1_772_366_400
    with pytest.raises(webhook.SignatureError, match="does not match"):
        webhook.verify_signature(body + b" ", headers, secret=SECRET, now=now)
    with pytest.raises(webhook.SignatureError, match="does not match"):
        webhook.verify_signature(body, headers, secret="another-secret-value", now=now)
    with pytest.raises(webhook.SignatureError, match="does not match"):
        webhook.verify_signature(body, headers | {webhook.DELIVERY_HEADER: "dlv-2"}, secret=SECRET, now=now)
    with pytest.raises(webhook.SignatureError, match="replay window"):
        webhook.verify_signature(body, headers, secret=SECRET, now=now + 301)
    with pytest.raises(webhook.SignatureError, match="missing"):
        webhook.verify_signature(body, {}, secret=SECRET, now=now)


def test_verification_refuses_a_replay_inside_the_window() -> None:
    body, headers = _signed()
    seen: set[str] = set()

    def check(delivery: str) -> bool:
        if delivery in seen:
            return True
        seen.add(delivery)
        return False

    webhook.verify_signature(body, headers, secret=SECRET, now=1_772_366_400, seen=check)
    with pytest.raises(webhook.SignatureError, match="replay"):
        webhook.verify_signature(body, headers, secret=SECRET, now=1_772_366_401, seen=check)


def test_key_rotation_signs_with_both_secrets() -> None:
    from datetime import UTC, datetime

    body, headers = webhook.request(
        threat_alert(),
        secrets=("new-secret-0123456", "old-secret-0123456"),
        delivery_id="d",
        now=datetime.fromtimestamp(100, UTC),
    )
    assert headers[webhook.SIGNATURE_HEADER].count("v1=") == 2
    for secret in ("new-secret-0123456", "old-secret-0123456"):
        assert webhook.verify_signature(body, headers, secret=secret, now=100) == "d"


@settings(max_examples=300, deadline=None)
@given(value=st.text(min_size=1, max_size=60))
def test_rfc5424_param_values_round_trip_any_text(value: str) -> None:
    alert = replace(threat_alert(), type=value, subtype=None)
    msg = parse_5424(syslog.build_message(alert, "m", delivery_id=value, facility=1, hostname=value, now=NOW))
    params = msg.structured_data["apicensus@32473"]
    assert params["id"] == value and params["type"] == value
    assert all(33 <= ord(c) <= 126 for c in msg.hostname + msg.msgid)
