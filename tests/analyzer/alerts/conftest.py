"""Alerts as the three producers publish them: an inventory finding, a threat event, a change."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from analyzer.alerts.model import (
    AlertEvent,
    ServiceRef,
    alert_from_change_event,
    alert_from_finding,
    alert_from_threat_event,
)

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
SERVICE = ServiceRef(
    host="api.example.com", owner="alice@payments", team="payments", application="billing", id=3
)

FINDING: dict[str, Any] = {
    "id": "pii_unauthenticated:42",
    "kind": "pii_unauthenticated",
    "severity": "critical",
    "title": "GET api.example.com/users/{id} served PII without authentication (12 responses)",
    "endpoint": {"id": 42, "host": "api.example.com", "method": "GET", "path_template": "/users/{id}"},
    "pii_types": ["EMAIL_ADDRESS", "PHONE_NUMBER"],
    "evidence": [
        {
            "type": "EMAIL_ADDRESS",
            "location": "response",
            "field": "email",
            "count": 12,
            "sample": "j***@e***.com",
        },
        {
            "type": "PHONE_NUMBER",
            "location": "response",
            "field": "phone",
            "count": 9,
            "sample": "+1 ****2671",
        },
    ],
}

THREAT: dict[str, Any] = {
    "id": "ev-bola-1",
    "type": "bola",
    "subtype": None,
    "severity": "high",
    "title": "jwt:acme/al…42 read 40 objects it never received on GET /users/{id}",
    "actor": {"ip": "198.51.100.7", "identity": "jwt:acme/al…42", "key": "8f3a9c"},
    "host": "api.example.com",
    "method": "GET",
    "path_template": "/users/{id}",
    "first_seen": 1_772_366_000.0,
    "last_seen": 1_772_366_300.5,
    "count": 40,
    "evidence": {"distinct_ids": 40, "status_2xx": 38, "sample_ids": [101, 102, 103]},
}

CHANGE: dict[str, Any] = {
    "id": "chg-7",
    "type": "new_pii_type",
    "host": "api.example.com",
    "method": "GET",
    "path_template": "/users/{id}",
    "before": {"pii_types": ["EMAIL_ADDRESS"]},
    "after": {"pii_types": ["EMAIL_ADDRESS", "US_SSN"]},
    "ts": 1_772_366_400.0,
    "pii_types": ["US_SSN"],
}


def finding_alert(**overrides: Any) -> AlertEvent:
    return alert_from_finding(
        {**FINDING, **overrides},
        service=SERVICE,
        detected_at=NOW,
        url="https://console.example/ui/findings/42",
    )


def threat_alert(**overrides: Any) -> AlertEvent:
    return alert_from_threat_event({**THREAT, **overrides}, service=SERVICE, detected_at=NOW)


def change_alert(**overrides: Any) -> AlertEvent:
    return alert_from_change_event({**CHANGE, **overrides}, service=SERVICE, detected_at=NOW)


@pytest.fixture
def alerts() -> list[AlertEvent]:
    return [finding_alert(), threat_alert(), change_alert()]


@pytest.fixture(scope="module")
def pg_engine(pg_url: str):  # type: ignore[no-untyped-def]
    from analyzer.alerts.outbox_sql import create_tables
    from analyzer.db.session import make_engine

    engine = make_engine(pg_url)
    create_tables(engine)
    yield engine
    engine.dispose()


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def outbox(request: pytest.FixtureRequest, tmp_path):  # type: ignore[no-untyped-def]
    """The same outbox contract on every backend: in memory, SQLite file, real PostgreSQL."""
    from sqlalchemy import delete

    from analyzer.alerts.outbox import InMemoryOutbox
    from analyzer.alerts.outbox_sql import OUTBOX, STATUS, SqlOutbox, create_tables
    from analyzer.db.session import make_engine

    if request.param == "memory":
        yield InMemoryOutbox()
        return
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'alerts.db'}")
        create_tables(engine)
        yield SqlOutbox(engine)
        engine.dispose()
        return
    engine = request.getfixturevalue("pg_engine")
    with engine.begin() as conn:
        conn.execute(delete(OUTBOX))
        conn.execute(delete(STATUS))
    yield SqlOutbox(engine)
