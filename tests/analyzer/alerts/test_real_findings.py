"""Alerts from a real inventory: the analyzer's findings on the sample captures plus records with
PII and a live-looking API key in URLs, rendered to every format: valid OCSF, and no raw value."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import pytest

from analyzer.alerts import cef, slack, syslog
from analyzer.alerts.model import AlertEvent, ServiceRef, alert_from_finding
from analyzer.alerts.ocsf import to_ocsf
from tests.analyzer.alerts.conftest import NOW
from tests.analyzer.alerts.ocsf_schema import assert_valid
from tests.conftest import make_exchange
from tests.inventory_api.conftest import SAMPLE_PCAPS, analyze

RAW = ("jane.doe@example.com", "sk_live_4eC39HqLyjWDarjtT1zdp7dc", "4eC39HqLyjWDarjtT1zdp7dc")


@pytest.fixture(scope="module")
def findings(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, object]]:
    from analyzer.db.session import make_engine, make_session_factory
    from inventory_api.findings import build_findings

    tmp = tmp_path_factory.mktemp("real")
    url = f"sqlite:///{tmp / 'inventory.db'}"
    target = "/v1/lookup?email=jane.doe@example.com&api_key=sk_live_4eC39HqLyjWDarjtT1zdp7dc"
    records = [
        make_exchange(host="leaky.example", target=target, ts=1_700_000_000 + i, response_body='{"ok": 1}')
        for i in range(3)
    ]
    records += [
        make_exchange(
            host="leaky.example",
            target="/v1/people/1",
            ts=1_700_000_100,
            response_body='{"email": "jane.doe@example.com"}',
        )
    ]
    jsonl = Path(tmp / "leaky.jsonl")
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in records))
    analyze(url, *SAMPLE_PCAPS, jsonl)
    engine = make_engine(url)
    with make_session_factory(engine)() as session:
        items = build_findings(session=session, full_samples=True)
    engine.dispose()
    return items


def _alerts(findings: list[dict[str, object]]) -> list[AlertEvent]:
    out = []
    for item in findings:
        host = item["endpoint"]["host"]  # type: ignore[index]
        out.append(
            alert_from_finding(item, service=ServiceRef(host=host, owner="owner@example"), detected_at=NOW)
        )
    return out


def test_the_inventory_has_findings_of_several_kinds(findings: list[dict[str, object]]) -> None:
    kinds = {f["kind"] for f in findings}
    assert {"credentials_in_url", "pii_in_url", "pii_unauthenticated"} <= kinds


def test_every_real_finding_renders_valid_ocsf(findings: list[dict[str, object]]) -> None:
    for alert in _alerts(findings):
        assert_valid(to_ocsf(alert))


def test_no_raw_value_reaches_any_format(findings: list[dict[str, object]]) -> None:
    for alert in _alerts(findings):
        rendered = [
            orjson.dumps(to_ocsf(alert)).decode(),
            cef.to_cef(alert),
            json.dumps(slack.render(alert)),
            syslog.build_message(alert, cef.to_cef(alert), delivery_id="d", facility=16, now=NOW).decode(
                "utf-8", "replace"
            ),
        ]
        for text in rendered:
            for raw in RAW:
                assert raw not in text, f"{raw} in {alert.type}"
