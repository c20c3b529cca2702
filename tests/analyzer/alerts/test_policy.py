"""Delivery policy: rules and routing, throttle folding, floods, back-off, destination parsing."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from analyzer.alerts.destinations import (
    Destination,
    DestinationError,
    DestinationKind,
    Rule,
    parse_destination,
)
from analyzer.alerts.model import AlertKind, ServiceRef, Severity
from analyzer.alerts.policy import (
    MAX_FOLD_SOURCES,
    Outcome,
    RetryPolicy,
    SendResult,
    Throttle,
    accepts,
    backoff_seconds,
    build_digest,
    classify_http,
    delivery_id,
    flood_admits,
    fold,
    retry_decision,
    route,
    rule_matches,
    throttle,
)
from tests.analyzer.alerts.conftest import NOW, change_alert, finding_alert, threat_alert


def dest(ident: str = "d1", *rules: Rule, **kw: object) -> Destination:
    return Destination(
        id=ident, name=ident, kind=DestinationKind.WEBHOOK, url="http://127.0.0.1:9/", rules=rules, **kw
    )  # type: ignore[arg-type]


# -- rules -------------------------------------------------------------------------------------


def test_a_destination_without_rules_receives_everything(alerts: list) -> None:
    assert all(accepts(dest(), a) for a in alerts)
    assert not any(accepts(dest(enabled=False), a) for a in alerts)


@pytest.mark.parametrize(
    ("rule", "finding", "threat", "change"),
    [
        (Rule(kinds=frozenset({AlertKind.THREAT})), False, True, False),
        (Rule(min_severity=Severity.HIGH), True, True, False),  # critical, high, medium
        (Rule(min_severity=Severity.CRITICAL), True, False, False),
        (Rule(types=frozenset({"bola", "new_pii_type"})), False, True, True),
        (Rule(services=frozenset({"other.example.com"})), False, False, False),
        (Rule(owners=frozenset({"alice@payments"})), True, True, True),
        (Rule(teams=frozenset({"identity"})), False, False, False),
        (
            Rule(kinds=frozenset({AlertKind.FINDING, AlertKind.CHANGE}), min_severity=Severity.MEDIUM),
            True,
            False,
            True,
        ),
    ],
)
def test_rule_fields_and_together(rule: Rule, finding: bool, threat: bool, change: bool) -> None:
    assert rule_matches(rule, finding_alert()) is finding
    assert rule_matches(rule, threat_alert()) is threat
    assert rule_matches(rule, change_alert()) is change


def test_subtype_rules_match_type_or_type_slash_subtype() -> None:
    sqli = threat_alert(type="injection", subtype="sqli")
    assert rule_matches(Rule(types=frozenset({"injection"})), sqli)
    assert rule_matches(Rule(types=frozenset({"injection/sqli"})), sqli)
    assert not rule_matches(Rule(types=frozenset({"injection/xss"})), sqli)


def test_routing_by_owner_and_team_with_a_catch_all_for_unowned() -> None:
    payments = dest("payments", Rule(teams=frozenset({"payments"})))
    identity = dest("identity", Rule(teams=frozenset({"identity"})))
    unowned = dest("unowned", Rule(owners=frozenset({None})))
    soc = dest("soc", Rule(min_severity=Severity.CRITICAL))
    destinations = [payments, identity, unowned, soc]
    owned = finding_alert()
    orphan = replace(threat_alert(), service=ServiceRef(host="legacy.example.com"))
    assert [d.id for d in route(owned, destinations)] == ["payments", "soc"]
    assert [d.id for d in route(orphan, destinations)] == ["unowned"]


def test_delivery_ids_are_stable_and_per_destination() -> None:
    assert delivery_id("a", "u1") == delivery_id("a", "u1") != delivery_id("b", "u1")


# -- throttle and fold --------------------------------------------------------------------------


def test_throttle_window() -> None:
    assert throttle(None, NOW, 3600) is Throttle.SEND
    assert throttle(NOW - timedelta(seconds=3599), NOW, 3600) is Throttle.FOLD
    assert throttle(NOW - timedelta(seconds=3600), NOW, 3600) is Throttle.SEND
    assert throttle(NOW, NOW, 0) is Throttle.SEND


def test_fold_counts_sources_not_submissions() -> None:
    first = threat_alert()  # id ev-bola-1, count 40
    updated_same_window = threat_alert(count=55, last_seen=first.last_seen.timestamp() + 60)
    next_window = threat_alert(id="ev-bola-2", count=7, last_seen=first.last_seen.timestamp() + 3600)
    folded, sources = fold(first, updated_same_window, {})
    assert folded.count == 55 and sources == {"ev-bola-1": 55}
    again, same = fold(folded, updated_same_window, sources)
    assert again == folded and same == sources  # idempotent
    folded, sources = fold(folded, next_window, sources)
    assert (
        folded.count == 62
        and folded.last_seen == next_window.last_seen
        and folded.first_seen == first.first_seen
    )


def test_fold_keeps_the_worst_severity_and_bounds_sources() -> None:
    low = threat_alert(severity="low")
    folded, _ = fold(low, threat_alert(id="x", severity="critical"), {})
    assert folded.severity is Severity.CRITICAL
    sources: dict[str, int] = {}
    alert = low
    for i in range(MAX_FOLD_SOURCES * 2):
        alert, sources = fold(alert, threat_alert(id=f"e{i}", count=1), sources)
    assert (
        len(sources) <= MAX_FOLD_SOURCES
        and alert.count == sum(sources.values()) == low.count + MAX_FOLD_SOURCES * 2
    )


def test_flood_and_digest() -> None:
    assert flood_admits(29, 30) and not flood_admits(30, 30)
    members = [
        threat_alert(id=f"e{i}", type="scanner" if i % 2 else "injection", severity="low" if i else "high")
        for i in range(40)
    ]
    digest = build_digest(dest(), members, window_start=NOW, window_end=NOW + timedelta(seconds=60), now=NOW)
    assert digest.type == "digest" and digest.severity is Severity.HIGH and digest.digest is not None
    assert digest.digest.members == 40 and dict(digest.digest.by_type) == {"scanner": 20, "injection": 20}
    assert digest.title.startswith("40 alerts in 60 s for d1")
    assert build_digest(dest(), members, window_start=NOW, window_end=NOW, now=NOW).uid == digest.uid
    with pytest.raises(ValueError):
        build_digest(dest(), [], window_start=NOW, window_end=NOW, now=NOW)


# -- retries ----------------------------------------------------------------------------------------


def test_backoff_grows_is_capped_jittered_and_deterministic() -> None:
    policy = RetryPolicy(base_seconds=2, cap_seconds=900, jitter=0.5, seed=7)
    delays = [backoff_seconds(policy, n, "dlv") for n in range(1, 15)]
    for n, delay in enumerate(delays, start=1):
        exponential = min(900, 2 * 2 ** (n - 1))
        assert exponential * 0.5 <= delay <= exponential
    assert delays == [backoff_seconds(policy, n, "dlv") for n in range(1, 15)]
    assert delays != [backoff_seconds(replace(policy, seed=8), n, "dlv") for n in range(1, 15)]
    other = [backoff_seconds(policy, n, "other") for n in range(1, 15)]
    assert other != delays  # deliveries spread out
    assert max(delays) <= 900


def test_retry_decisions() -> None:
    policy = RetryPolicy(max_age_seconds=3600)
    ok = retry_decision(policy, SendResult(ok=True), attempts=1, enqueued_at=NOW, now=NOW, delivery="d")
    assert ok.outcome is Outcome.DELIVERED
    again = retry_decision(
        policy, SendResult(ok=False, error="down"), attempts=1, enqueued_at=NOW, now=NOW, delivery="d"
    )
    assert (
        again.outcome is Outcome.RETRY and again.next_attempt_at is not None and again.next_attempt_at > NOW
    )
    permanent = retry_decision(
        policy, SendResult(ok=False, retryable=False), attempts=1, enqueued_at=NOW, now=NOW, delivery="d"
    )
    assert permanent.outcome is Outcome.GIVE_UP
    late = NOW + timedelta(seconds=3599)
    expired = retry_decision(
        policy, SendResult(ok=False), attempts=20, enqueued_at=NOW, now=late, delivery="d"
    )
    assert expired.outcome is Outcome.GIVE_UP
    honoured = retry_decision(
        policy, SendResult(ok=False, retry_after=120), attempts=1, enqueued_at=NOW, now=NOW, delivery="d"
    )
    assert honoured.next_attempt_at == NOW + timedelta(seconds=120)


@pytest.mark.parametrize(
    ("status", "ok", "retryable"),
    [(200, True, True), (204, True, True), (301, False, True), (400, False, False), (401, False, True),
     (403, False, True), (404, False, True), (413, False, False), (422, False, False), (429, False, True),
     (500, False, True), (503, False, True)],
)  # fmt: skip
def test_http_status_classes(status: int, ok: bool, retryable: bool) -> None:
    result = classify_http(status, "7")
    assert result.ok is ok
    if not ok:
        assert result.retryable is retryable and result.retry_after == 7


# -- destination configuration -------------------------------------------------------------------------


def test_parse_webhook_with_rules() -> None:
    d = parse_destination(
        {
            "id": "w1",
            "kind": "webhook",
            "url": "https://hooks.example.com/apicensus",
            "secret": "0123456789abcdef",
            "rules": [
                {"kinds": ["threat_events", "findings"], "min_severity": "high", "owners": ["alice", None]}
            ],
        }
    )
    assert d.kind is DestinationKind.WEBHOOK and d.secret == "0123456789abcdef"
    rule = d.rules[0]
    assert rule.kinds == {AlertKind.THREAT, AlertKind.FINDING} and rule.min_severity is Severity.HIGH
    assert rule.owners == {"alice", None}
    public = d.public()
    assert "secret" not in public and public["has_secret"] is True and "0123456789abcdef" not in str(public)


def test_parse_syslog_defaults() -> None:
    d = parse_destination({"id": "s", "kind": "syslog", "host": "siem.example.com"})
    assert (d.transport.value, d.port, d.facility, d.syslog_format) == ("tls", 6514, 16, "cef")
    udp = parse_destination(
        {"id": "s", "kind": "syslog", "host": "10.1.1.1", "transport": "udp", "facility": "authpriv"}
    )
    assert (udp.port, udp.facility) == (514, 10)


def test_slack_url_is_redacted_in_the_public_view() -> None:
    d = parse_destination(
        {"id": "sl", "kind": "slack", "url": "https://hooks.slack.com/services/T000/B000/XXXXSECRET"}
    )
    assert "XXXXSECRET" not in str(d.public())


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"id": "x", "kind": "pager"}, "kind must be one of"),
        ({"id": "x", "kind": "webhook", "url": "https://h/x"}, "secret is required"),
        ({"id": "x", "kind": "webhook", "url": "https://h/x", "secret": "short"}, "at least 16"),
        (
            {"id": "x", "kind": "webhook", "url": "file:///etc/passwd", "secret": "0123456789abcdef"},
            "http:// or https://",
        ),
        (
            {"id": "x", "kind": "webhook", "url": "gopher://h/", "secret": "0123456789abcdef"},
            "http:// or https://",
        ),
        (
            {"id": "x", "kind": "webhook", "url": "https://u:p@h/", "secret": "0123456789abcdef"},
            "user:password",
        ),
        ({"id": "x", "kind": "splunk_hec", "url": "https://h/"}, "token is required"),
        ({"id": "x", "kind": "syslog"}, "host is required"),
        ({"id": "x", "kind": "syslog", "host": "h", "transport": "sctp"}, "udp, tcp or tls"),
        ({"id": "x", "kind": "syslog", "host": "h", "port": 70000}, "port"),
        ({"id": "x", "kind": "syslog", "host": "h", "facility": "bogus"}, "facility"),
        ({"id": "x", "kind": "slack", "url": "https://h/", "rules": [{"kinds": ["alarms"]}]}, "unknown kind"),
        (
            {"id": "x", "kind": "slack", "url": "https://h/", "rules": [{"min_severity": "urgent"}]},
            "min_severity",
        ),
        (
            {"id": "x", "kind": "slack", "url": "https://h/", "rules": [{"owner": ["a"]}]},
            "unknown fields: owner",
        ),
        (
            {"id": "x", "kind": "slack", "url": "https://h/", "rules": [{"teams": "payments"}]},
            "must be a list",
        ),
        ({"kind": "slack", "url": "https://h/"}, "id is required"),
        ({"id": "x", "kind": "slack", "url": "https://h/", "timeout_seconds": 0}, "timeout_seconds"),
    ],
)
def test_bad_destinations_are_refused_with_the_field_named(body: dict, message: str) -> None:
    with pytest.raises(DestinationError, match=message):
        parse_destination(body)
