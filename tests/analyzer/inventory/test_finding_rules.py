"""The findings rules registry, without a database: each rule on crafted endpoint facts, and the
API's kinds and counts read from the registry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from analyzer.db.models import PiiFinding
from analyzer.inventory.findings import (
    KINDS,
    RULES,
    SEVERITIES,
    TLS_RULES,
    EndpointFacts,
    GraphqlFacts,
    GraphqlLimits,
    TlsFacts,
    severity_counts,
)

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def pii(type_: str, location: str, field: str = "f") -> PiiFinding:
    return PiiFinding(type=type_, location=location, field=field, count=1, sample="***", first_seen=NOW, last_seen=NOW)


def facts(**changes: Any) -> EndpointFacts:
    base: dict[str, Any] = dict(
        id=1, host="h", method="GET", path_template="/p", hits=3, last_seen=NOW, unauthenticated_2xx=0,
        shadow=False, zombie=False, zombie_reasons=(), pii=(), now=NOW,
    )
    return EndpointFacts(**{**base, **changes})


def kinds_of(ep: EndpointFacts) -> dict[str, str]:
    out = {}
    for rule in RULES:
        hit = rule.applies(ep)
        if hit is not None:
            out[rule.kind] = hit.severity or rule.severity
    return out


def test_each_rule_fires_on_its_facts_only() -> None:
    assert kinds_of(facts()) == {}
    served = (pii("EMAIL_ADDRESS", "response"),)
    assert kinds_of(facts(pii=served)) == {}  # authenticated and documented: nothing to act on
    assert kinds_of(facts(pii=served, unauthenticated_2xx=2)) == {"pii_unauthenticated": "critical"}
    assert kinds_of(facts(pii=(pii("API_KEY", "query"),))) == {"credentials_in_url": "critical"}
    assert kinds_of(facts(pii=(pii("EMAIL_ADDRESS", "path"),))) == {"pii_in_url": "high"}
    # A shadow endpoint whose only PII is the caller's credentials header carries none.
    assert kinds_of(facts(shadow=True, pii=(pii("CREDENTIAL", "header"),))) == {}
    assert kinds_of(facts(shadow=True, pii=served)) == {"shadow_pii": "high"}
    zombie = facts(zombie=True, zombie_reasons=({"reason": "deprecated", "detail": "x"},))
    assert kinds_of(zombie) == {"zombie_traffic": "medium"}
    stale = facts(zombie=True, last_seen=NOW - timedelta(days=31))
    assert kinds_of(stale) == {"zombie_traffic": "low"}
    assert kinds_of(facts(zombie=True, hits=0)) == {}


def test_the_api_reads_kinds_and_counts_from_the_registry() -> None:
    from inventory_api.routers.findings import Kind, Severity

    rules = RULES + TLS_RULES
    assert tuple(rule.kind for rule in rules) == KINDS and len(set(KINDS)) == len(KINDS)
    assert [k.value for k in Kind] == list(KINDS)
    assert [s.value for s in Severity] == list(SEVERITIES)
    assert all(rule.severity in SEVERITIES and rule.when for rule in rules)
    assert severity_counts([{"severity": "high"}, {"severity": "high"}]) == {
        "critical": 0, "high": 2, "medium": 0, "low": 0
    }


def gql(**changes: Any) -> GraphqlFacts:
    base: dict[str, Any] = dict(operations=10, errors=0, errored_operations=0, introspection=0,
                                introspection_unauthenticated=0, max_depth=3, max_width=4, max_fields=8)
    return GraphqlFacts(**{**base, **changes})


def test_graphql_rules_fire_on_their_counters_and_limits() -> None:
    ep = {"method": "POST", "path_template": "/graphql#query GetUser"}
    assert kinds_of(facts(**ep, graphql=gql())) == {}
    # Introspection with credentials is how tools work; without them the schema is public.
    assert kinds_of(facts(**ep, graphql=gql(introspection=4))) == {}
    assert kinds_of(facts(**ep, graphql=gql(introspection=4, introspection_unauthenticated=1))) == {
        "graphql_introspection_unauthenticated": "high"}
    assert kinds_of(facts(**ep, graphql=gql(max_depth=11))) == {"graphql_deep_query": "medium"}
    assert kinds_of(facts(**ep, graphql=gql(max_depth=10))) == {}  # at the limit is allowed
    assert kinds_of(facts(**ep, graphql=gql(max_fields=201))) == {"graphql_wide_query": "medium"}
    tight = GraphqlLimits(max_depth=2, max_fields=5)
    assert kinds_of(facts(**ep, graphql=gql(), limits=tight)) == {
        "graphql_deep_query": "medium", "graphql_wide_query": "medium"}
    hit = RULES[KINDS.index("graphql_errors")].applies(facts(**ep, graphql=gql(errors=7, errored_operations=3)))
    assert hit is not None and "3 of 10 operations" in hit.title and hit.extra["graphql"]["errors"] == 7


def test_graphql_limits_from_the_environment(monkeypatch: Any) -> None:
    monkeypatch.setenv("APICENSUS_GRAPHQL_MAX_DEPTH", "4")
    monkeypatch.setenv("APICENSUS_GRAPHQL_MAX_FIELDS", "not a number")
    assert GraphqlLimits.from_env() == GraphqlLimits(max_depth=4, max_fields=200)


def tls(**changes: Any) -> TlsFacts:
    base: dict[str, Any] = dict(
        id=1, server="10.0.0.1:443", sni="api.example", connections=5,
        negotiated={"TLSv1.3 TLS_AES_128_GCM_SHA256": 5}, cert_subject="CN=api.example", cert_issuer="CN=CA",
        cert_not_before=NOW - timedelta(days=10), cert_not_after=NOW + timedelta(days=10),
        cert_self_signed=False, last_seen=NOW,
    )
    return TlsFacts(**{**base, **changes})


def tls_kinds(t: TlsFacts) -> dict[str, str]:
    out = {}
    for rule in TLS_RULES:
        hit = rule.applies(t)
        if hit is not None:
            out[rule.kind] = hit.severity or rule.severity
    return out


def test_tls_rules_fire_on_their_facts_only() -> None:
    assert tls_kinds(tls()) == {}
    assert tls_kinds(tls(negotiated={"TLSv1.2 TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA": 3})) == {}
    assert tls_kinds(tls(negotiated={"TLSv1.1 TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256": 1})) == {
        "tls_deprecated_version": "high"}
    assert tls_kinds(tls(negotiated={"SSLv3 TLS_RSA_WITH_RC4_128_SHA": 1})) == {
        "tls_deprecated_version": "critical", "tls_weak_cipher": "high"}
    # CBC with SHA-1 is weak on TLS 1.0 only (BEAST); TLS 1.0 is deprecated anyway.
    assert tls_kinds(tls(negotiated={"TLSv1.0 TLS_RSA_WITH_AES_128_CBC_SHA": 2})) == {
        "tls_deprecated_version": "high", "tls_weak_cipher": "high"}
    for weak in ("TLS_RSA_WITH_3DES_EDE_CBC_SHA", "TLS_RSA_WITH_NULL_SHA256", "TLS_RSA_EXPORT_WITH_RC4_40_MD5",
                 "TLS_ECDHE_RSA_WITH_RC4_128_SHA"):
        assert tls_kinds(tls(negotiated={f"TLSv1.2 {weak}": 1})) == {"tls_weak_cipher": "high"}, weak
    assert tls_kinds(tls(cert_not_after=NOW - timedelta(seconds=1))) == {"tls_certificate_expired": "high"}
    assert tls_kinds(tls(cert_not_before=NOW + timedelta(days=1))) == {"tls_certificate_expired": "high"}
    assert tls_kinds(tls(cert_self_signed=True)) == {"tls_certificate_self_signed": "medium"}
    assert tls_kinds(tls(cert_not_after=None, cert_not_before=None, cert_self_signed=None)) == {}
