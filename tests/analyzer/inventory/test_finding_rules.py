"""The findings rules registry, without a database: each rule on crafted endpoint facts, and the
API's kinds and counts read from the registry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from analyzer.db.models import PiiFinding
from analyzer.inventory.findings import KINDS, RULES, SEVERITIES, EndpointFacts, severity_counts

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

    assert tuple(rule.kind for rule in RULES) == KINDS and len(set(KINDS)) == len(KINDS)
    assert [k.value for k in Kind] == list(KINDS)
    assert [s.value for s in Severity] == list(SEVERITIES)
    assert all(rule.severity in SEVERITIES and rule.when for rule in RULES)
    assert severity_counts([{"severity": "high"}, {"severity": "high"}]) == {
        "critical": 0, "high": 2, "medium": 0, "low": 0
    }
