"""Alerts end to end: destinations configured through the API of a real ``apicensus serve`` (two
worker processes, one delivery worker between them), traffic analysed by the real CLI, and real
receivers on 127.0.0.1 (an HTTP server and a syslog listener) checking signatures and formats,
retries after the receiver was down, and nothing delivered twice across a restart of serve."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, func, select

from analyzer.alerts import verify_signature
from analyzer.db.models import (
    AlertCursor,
    AlertOutboxRow,
    ChangeEvent,
    FindingAnnouncement,
    ThreatEvent,
    WorkerLease,
)
from analyzer.db.session import session_scope
from tests.analyzer.alerts.parsers import parse_5424, parse_cef
from tests.conftest import make_exchange
from tests.inventory_api.conftest import SAMPLE_PCAPS, analyze, serving
from tests.receivers import HttpReceiver, SyslogReceiver

SECRET = "a-webhook-secret-of-some-length"
OCSF_CLASSES = {2004, 2006, 2007, 5023}
FAST = {
    "APICENSUS_ALERT_PUBLISH_SECONDS": "0.3",
    "APICENSUS_ALERT_WORKER_LEASE_SECONDS": "3",
    "APICENSUS_ALERT_POLL_SECONDS": "0.2",
    "APICENSUS_ALERT_RETRY_BASE_SECONDS": "0.2",
    "APICENSUS_ALERT_RETRY_CAP_SECONDS": "0.5",
}


def wait_until(check: Callable[[], Any], timeout: float = 120.0, what: str | Callable[[], str] = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what() if callable(what) else what}")


def diagnosis(engine: Engine, http: HttpReceiver) -> str:
    """What a timed-out wait saw: deliveries, the outbox by destination and state, the lease."""
    with session_scope(engine) as session:
        outbox = session.execute(
            select(AlertOutboxRow.destination_id, AlertOutboxRow.state, func.count(), func.sum(AlertOutboxRow.folded))
            .group_by(AlertOutboxRow.destination_id, AlertOutboxRow.state)
        ).all()
        leases = session.execute(select(WorkerLease)).scalars().all()
        cursors = session.execute(select(AlertCursor)).scalars().all()
        errors = set(session.scalars(select(AlertOutboxRow.last_error).where(AlertOutboxRow.last_error.is_not(None))
                                     .limit(20)))
        undispatched = session.scalar(select(func.count()).select_from(ChangeEvent).where(ChangeEvent.dispatched_at.is_(None)))
        return (f"received {len(http.snapshot())}; outbox {[tuple(r) for r in outbox]}; "
                f"leases {[(lease.name, lease.holder, lease.lease_until) for lease in leases]}; "
                f"cursors {[(c.name, c.position) for c in cursors]}; changes not handed on {undispatched}; "
                f"errors {sorted(errors)[:5]}")


@pytest.fixture(scope="module")
def receivers() -> Iterator[tuple[HttpReceiver, SyslogReceiver]]:
    http, syslog = HttpReceiver(), SyslogReceiver("tcp")
    yield http, syslog
    http.close()
    syslog.close()


def expected_alerts(engine: Engine) -> int:
    with session_scope(engine) as session:
        changes = session.scalar(select(func.count()).select_from(ChangeEvent)) or 0
        findings = session.scalar(select(func.count()).select_from(FindingAnnouncement)) or 0
        threats = session.scalar(select(func.count()).select_from(ThreatEvent)) or 0  # detection's events
    return int(changes) + int(findings) + int(threats)


def jsonl(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def test_destinations_receive_signed_ocsf_and_cef_once_across_outage_and_restart(
    pg_url: str, engine: Engine, keys: dict[str, str], receivers: tuple[HttpReceiver, SyslogReceiver],
    tmp_path: Path,
) -> None:
    http, syslog = receivers
    admin = {"Authorization": f"Bearer {keys['admin']}"}
    viewer = {"Authorization": f"Bearer {keys['viewer']}"}
    hook = {"id": "soc-hook", "kind": "webhook", "url": f"{http.url}/hooks/apicensus", "secret": SECRET,
            "flood_limit": 100_000}
    with serving(pg_url, "--workers", "2", env=FAST) as (base, _proc):
        api = f"{base}/api/v1/integrations"
        # Administrators only; input checked by parse_destination; secrets never come back.
        assert httpx.post(api, json=hook, headers=viewer, timeout=10).status_code == 403
        assert httpx.get(api, headers=viewer, timeout=10).status_code == 403
        bad = httpx.post(api, json={**hook, "secret": "short"}, headers=admin, timeout=10)
        assert bad.status_code == 422 and "16 characters" in bad.json()["detail"]
        created = httpx.post(api, json=hook, headers=admin, timeout=10)
        assert created.status_code == 201, created.text
        assert SECRET not in created.text and created.json()["has_secret"] is True
        assert httpx.post(api, json=hook, headers=admin, timeout=10).status_code == 409
        sys_dest = {"id": "siem", "kind": "syslog", "host": "127.0.0.1", "port": syslog.port, "transport": "tcp",
                    "flood_limit": 100_000}
        assert httpx.post(api, json=sys_dest, headers=admin, timeout=10).status_code == 201
        listed = httpx.get(api, headers=admin, timeout=10)
        assert {d["id"] for d in listed.json()} == {"soc-hook", "siem"} and SECRET not in listed.text

        body = json.dumps({"id": 7, "email": "jane.roe@example.org", "name": "Jane Roe"})
        pii = [make_exchange(target=f"/v1/customers/{i}", host="crm.example", response_body=body,
                             ts=1_700_000_000.0 + i) for i in range(3)]
        analyze(pg_url, *SAMPLE_PCAPS, jsonl(tmp_path / "pii.jsonl", pii))
        with session_scope(engine) as session:
            kinds = set(session.scalars(select(FindingAnnouncement.kind)))
        assert "pii_unauthenticated" in kinds  # a Data Security Finding among the alerts
        total = expected_alerts(engine)
        assert total > 5
        wait_until(lambda: len(http.snapshot()) >= total,
                   what=lambda: f"{total} webhook deliveries; {diagnosis(engine, http)}")
        syslog.wait_for(total, timeout=120)

        # Webhook: signed, OCSF, one delivery id each; every change and finding once.
        seen: set[str] = set()
        classes = set()
        for request in http.snapshot():
            delivery = verify_signature(request.body, request.headers, secret=SECRET, now=time.time())
            assert delivery not in seen
            seen.add(delivery)
            event = json.loads(request.body)
            classes.add(event["class_uid"])
            assert request.path == "/hooks/apicensus"
        assert len(seen) == total and classes <= OCSF_CLASSES and {2006, 5023} <= classes
        assert not any(b"jane.roe@example.org" in r.body for r in http.snapshot())  # masked only
        # Syslog: RFC 5424 with CEF in MSG, one per alert.
        messages = syslog.wait_for(total)
        assert len(messages) == total and not syslog.errors
        parsed = [parse_5424(m) for m in messages]
        assert all(p.app_name == "apicensus" for p in parsed)
        cef = [parse_cef(p.msg) for p in parsed]
        assert all(c.vendor == "APICensus" for c in cef)
        # Syslog carries the same delivery ids as the webhook's alerts (SD id), each once.
        sd_ids = [p.structured_data["apicensus@32473"]["id"] for p in parsed]
        assert len(set(sd_ids)) == total

        status = httpx.get(f"{api}/soc-hook/status", headers=admin, timeout=10).json()["status"]
        assert status["delivered_total"] == total and status["last_error"] is None

        # The receiver goes down: new changes wait and are retried; the status says why.
        http.down()
        before = len(http.snapshot())
        fresh = [make_exchange(target="/v9/brand-new", host="outage.example", ts=1_800_000_000.0 + i)
                 for i in range(3)]
        analyze(pg_url, jsonl(tmp_path / "outage.jsonl", fresh))
        pending = expected_alerts(engine) - total
        assert pending >= 2  # new service, new endpoint (+ findings if any)

        def errored() -> bool:
            s = httpx.get(f"{api}/soc-hook/status", headers=admin, timeout=10).json()["status"]
            return bool(s["last_error"]) and s["queued"] + s["failed"] + s["sending"] >= 1

        wait_until(errored, what="the delivery error in the status")
    # serve stopped while the receiver is down: what waits is in the outbox, not in memory.
    with serving(pg_url, "--workers", "2", env=FAST) as (base, _proc):
        http.up()
        wait_until(lambda: len(http.snapshot()) >= before + pending, what="deliveries after the outage")
        time.sleep(2.0)  # any duplicate would arrive by now (poll 0.2 s)
        requests = http.snapshot()
        ids = [r.headers["X-APICensus-Delivery"] for r in requests]
        assert len(ids) == len(set(ids)) == total + pending
        status = httpx.get(f"{base}/api/v1/integrations/soc-hook/status", headers=admin, timeout=10).json()
        assert status["status"]["delivered_total"] == total + pending
        assert status["status"]["failed_total"] == 0 and status["status"]["last_success_at"]
        assert httpx.delete(f"{base}/api/v1/integrations/siem", headers=admin, timeout=10).status_code == 204
        assert httpx.get(f"{base}/api/v1/integrations/siem/status", headers=admin, timeout=10).status_code == 404
