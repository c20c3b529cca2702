"""End to end: dispatcher -> SQL outbox -> delivery worker -> real receivers on 127.0.0.1.

Receivers check what they get with code of their own: HMAC signatures recomputed with hmac,
RFC 5424 and CEF parsed by the spec parsers in parsers.py, Splunk tokens compared. Outboxes are
SQLite files and real PostgreSQL databases; "restart" means a new engine and worker on the same
database.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, delete

from analyzer.alerts import webhook
from analyzer.alerts.destinations import Destination, parse_destination
from analyzer.alerts.dispatch import AlertDispatcher
from analyzer.alerts.model import AlertEvent
from analyzer.alerts.outbox import ItemState
from analyzer.alerts.outbox_sql import OUTBOX, STATUS, SqlOutbox, create_tables
from analyzer.alerts.senders import make_sender
from analyzer.alerts.settings import AlertSettings
from analyzer.alerts.worker import DeliveryWorker, status_table
from analyzer.db.session import make_engine
from tests.analyzer.alerts.conftest import NOW, change_alert, finding_alert, threat_alert
from tests.analyzer.alerts.ocsf_schema import assert_valid
from tests.analyzer.alerts.parsers import parse_5424, parse_cef
from tests.receivers import Certificates, HttpReceiver, ReceivedRequest, SyslogReceiver, make_certificates

SECRET = "webhook-secret-0123456789"
FAST = AlertSettings(
    retry_base_seconds=1.0, retry_cap_seconds=30.0, retry_jitter=0.5, lease_seconds=30, seed=1
)


class Clock:
    def __init__(self, start: datetime = NOW) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], Engine]]:
    """A factory of engines on one fresh database: each call is a new "process"."""
    engines: list[Engine] = []
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'alerts.db'}"
    else:
        url = request.getfixturevalue("pg_url")

    def factory() -> Engine:
        engine = make_engine(url)
        engines.append(engine)
        return engine

    factory.url = url  # type: ignore[attr-defined]
    first = factory()
    create_tables(first)
    with first.begin() as conn:
        conn.execute(delete(OUTBOX))
        conn.execute(delete(STATUS))
    yield factory
    for engine in engines:
        engine.dispose()


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return make_certificates(tmp_path_factory.mktemp("certs"))


def verifying_responder(
    received_ids: Counter[str],
) -> Callable[[ReceivedRequest], tuple[int, dict[str, str], bytes]]:
    """A webhook receiver as a customer writes it: recompute the HMAC, check the window, dedupe."""

    def respond(request: ReceivedRequest) -> tuple[int, dict[str, str], bytes]:
        headers = {k.lower(): v for k, v in request.headers.items()}
        ts, delivery = headers["x-apicensus-timestamp"], headers["x-apicensus-delivery"]
        expected = hmac.new(
            SECRET.encode(), f"{ts}.{delivery}.".encode() + request.body, hashlib.sha256
        ).hexdigest()
        if f"v1={expected}" not in headers["x-apicensus-signature"].split(","):
            return 401, {}, b"bad signature"
        received_ids[delivery] += 1
        return 200, {}, b"ok"

    return respond


def webhook_destination(url: str, **extra: object) -> Destination:
    return parse_destination(
        {"id": "hook", "kind": "webhook", "url": f"{url}/alerts", "secret": SECRET, **extra}
    )


def many_alerts(n: int) -> list[AlertEvent]:
    return [
        threat_alert(id=f"ev{i}", actor={"ip": f"198.51.100.{i % 250}", "key": f"actor{i}"}) for i in range(n)
    ]


def drain(worker: DeliveryWorker, clock: Clock | None = None, rounds: int = 50) -> None:
    for _ in range(rounds):
        report = worker.run_once(now=clock() if clock else None)
        if report.claimed == 0 and report.digests == 0:
            return


def test_webhook_deliveries_are_signed_ocsf_and_verified_by_the_receiver(db: Callable[[], Engine]) -> None:
    ids: Counter[str] = Counter()
    receiver = HttpReceiver(responder=verifying_responder(ids))
    try:
        destination = webhook_destination(receiver.url)
        outbox = SqlOutbox(db())
        alerts = [finding_alert(), threat_alert(), change_alert()]
        report = AlertDispatcher(outbox=outbox, destinations=[destination]).submit(alerts)
        assert report.queued == 3
        worker = DeliveryWorker(outbox=outbox, destinations=[destination], settings=FAST)
        drain(worker)
        worker.close()
        requests = receiver.snapshot()
        assert len(requests) == 3 and sorted(ids.values()) == [1, 1, 1]
        for request in requests:
            assert request.path == "/alerts" and request.headers["Content-Type"] == "application/json"
            webhook.verify_signature(request.body, request.headers, secret=SECRET, now=time.time())
            assert_valid(json.loads(request.body))
        classes = sorted(json.loads(r.body)["class_uid"] for r in requests)
        assert classes == [2004, 2006, 2006]  # bola; PII finding; new PII type change
        (row,) = status_table(outbox, [destination])
        assert row["status"]["delivered_total"] == 3 and row["status"]["queued"] == 0  # type: ignore[index]
        assert SECRET not in json.dumps(row)
    finally:
        receiver.close()


def test_slack_and_splunk_receivers(db: Callable[[], Engine]) -> None:
    tokens: list[str] = []

    def hec(request: ReceivedRequest) -> tuple[int, dict[str, str], bytes]:
        tokens.append(request.headers.get("Authorization", ""))
        if request.headers.get("Authorization") != "Splunk good-token":
            return 403, {}, b'{"text":"Invalid token","code":4}'
        return 200, {}, b'{"text":"Success","code":0}'

    slack_rx = HttpReceiver(responder=lambda r: (200, {}, b"ok"))
    splunk_rx = HttpReceiver(responder=hec)
    clock = Clock()
    try:
        slack = parse_destination({"id": "slack", "kind": "slack", "url": f"{slack_rx.url}/services/T/B/X"})
        bad = parse_destination(
            {
                "id": "splunk",
                "kind": "splunk_hec",
                "url": f"{splunk_rx.url}/services/collector/event",
                "token": "bad-token",
            }
        )
        good = replace(bad, token="good-token")
        current = {"splunk": bad}
        outbox = SqlOutbox(db())
        destinations = lambda: [slack, current["splunk"]]  # noqa: E731 - re-read every round
        AlertDispatcher(outbox=outbox, destinations=destinations, clock=clock).submit(
            [threat_alert(), finding_alert()]
        )
        worker = DeliveryWorker(outbox=outbox, destinations=destinations, settings=FAST, clock=clock)
        drain(worker, clock)
        slack_bodies = [json.loads(r.body) for r in slack_rx.snapshot()]
        assert len(slack_bodies) == 2 and all(b["blocks"][0]["type"] == "header" for b in slack_bodies)
        status = outbox.status("splunk")
        assert status.queued == 2 and status.delivered_total == 0 and "HTTP 403" in (status.last_error or "")
        current["splunk"] = good  # the admin fixes the token: what waited is delivered
        clock.advance(60)
        drain(worker, clock)
        worker.close()
        assert outbox.status("splunk").delivered_total == 2
        last = splunk_rx.snapshot()[-1]
        envelopes = [json.loads(line) for line in last.body.split(b"\n")]
        assert len(envelopes) == 2  # one batched request
        for envelope in envelopes:
            assert envelope["sourcetype"] == "apicensus:ocsf"
            assert_valid(envelope["event"])
    finally:
        slack_rx.close()
        splunk_rx.close()


@pytest.mark.parametrize("transport", ["udp", "tcp", "tls"])
def test_syslog_cef_over_each_transport(
    db: Callable[[], Engine], certs: Certificates, transport: str
) -> None:
    receiver = SyslogReceiver(transport, certs=certs)
    try:
        destination = parse_destination(
            {
                "id": f"siem-{transport}",
                "kind": "syslog",
                "host": "127.0.0.1",
                "port": receiver.port,
                "transport": transport,
                "tls_ca_file": str(certs.ca_file),
                "facility": "local4",
            }
        )
        outbox = SqlOutbox(db())
        alerts = [threat_alert(), replace(finding_alert(), title="multi\nline | title = x"), change_alert()]
        AlertDispatcher(outbox=outbox, destinations=[destination]).submit(alerts)
        worker = DeliveryWorker(outbox=outbox, destinations=[destination], settings=FAST)
        drain(worker)
        worker.close()
        raw = receiver.wait_for(3)
        assert len(raw) == 3 and not receiver.errors
        messages = [parse_5424(m) for m in raw]
        delivered_ids = {m.structured_data["apicensus@32473"]["id"] for m in messages}
        assert len(delivered_ids) == 3
        assert all(m.facility == 20 and m.app_name == "apicensus" for m in messages)
        cefs = {parse_cef(m.msg).signature_id: parse_cef(m.msg) for m in messages}
        assert set(cefs) == {"bola", "pii_unauthenticated", "new_pii_type"}
        assert cefs["pii_unauthenticated"].extensions["msg"] == "multi\nline | title = x"
        assert cefs["bola"].extensions["src"] == "198.51.100.7"
        assert outbox.status(destination.id).delivered_total == 3
    finally:
        receiver.close()


def test_tls_with_an_untrusted_certificate_is_refused_and_retried(
    db: Callable[[], Engine], certs: Certificates, tmp_path: Path
) -> None:
    receiver = SyslogReceiver("tls", certs=certs)
    other_ca = make_certificates(tmp_path / "other").ca_file
    clock = Clock()
    try:
        destination = parse_destination(
            {
                "id": "siem",
                "kind": "syslog",
                "host": "127.0.0.1",
                "port": receiver.port,
                "tls_ca_file": str(other_ca),
            }
        )
        outbox = SqlOutbox(db())
        AlertDispatcher(outbox=outbox, destinations=[destination], clock=clock).submit([threat_alert()])
        worker = DeliveryWorker(outbox=outbox, destinations=[destination], settings=FAST, clock=clock)
        worker.run_once()
        status = outbox.status("siem")
        assert status.queued == 1 and "CERTIFICATE_VERIFY_FAILED" in (status.last_error or "")
        assert receiver.wait_for(1, timeout=0.3) == []
        worker.close()
    finally:
        receiver.close()


def test_a_receiver_that_was_down_gets_everything_once_within_the_bound(db: Callable[[], Engine]) -> None:
    ids: Counter[str] = Counter()
    receiver = HttpReceiver(responder=verifying_responder(ids))
    receiver.down()
    clock = Clock()
    try:
        destination = webhook_destination(receiver.url, flood_limit=1000)
        outbox = SqlOutbox(db())
        alerts = many_alerts(25)
        AlertDispatcher(outbox=outbox, destinations=[destination], clock=clock).submit(alerts)
        worker = DeliveryWorker(outbox=outbox, destinations=[destination], settings=FAST, clock=clock)
        for _ in range(4):  # four rounds while down: each fails and backs off
            worker.run_once()
            clock.advance(40)
        status = outbox.status("hook")
        assert status.queued == 25 and status.delivered_total == 0
        assert "ConnectError" in (status.last_error or "") and status.oldest_pending_at == NOW
        receiver.up()
        clock.advance(40)
        drain(worker, clock)
        worker.close()
        assert len(ids) == 25 and set(ids.values()) == {1}
        assert outbox.status("hook").delivered_total == 25 and outbox.status("hook").queued == 0
    finally:
        receiver.close()


def test_a_restarted_worker_delivers_the_rest_and_nothing_twice(db: Callable[[], Engine]) -> None:
    ids: Counter[str] = Counter()
    lock = threading.Lock()
    respond = verifying_responder(ids)

    def slow(request: ReceivedRequest) -> tuple[int, dict[str, str], bytes]:
        time.sleep(0.01)
        with lock:
            return respond(request)

    receiver = HttpReceiver(responder=slow)
    try:
        destination = webhook_destination(receiver.url, flood_limit=1000, max_batch=5)
        settings = replace(FAST, poll_seconds=0.05, claim_limit=10)
        first = SqlOutbox(db())
        AlertDispatcher(outbox=first, destinations=[destination]).submit(many_alerts(60))
        worker = DeliveryWorker(outbox=first, destinations=[destination], settings=settings)
        worker.start()
        deadline = time.monotonic() + 10
        while sum(ids.values()) < 15 and time.monotonic() < deadline:
            time.sleep(0.01)
        worker.stop()  # mid-stream: in-flight finish and are marked, unstarted claims are released
        delivered_before = first.status("hook").delivered_total
        assert 15 <= delivered_before < 60
        assert first.status("hook").sending == 0
        restarted = SqlOutbox(db())  # a new process on the same database
        again = DeliveryWorker(outbox=restarted, destinations=[destination], settings=settings)
        again.start()
        deadline = time.monotonic() + 20
        while restarted.status("hook").delivered_total < 60 and time.monotonic() < deadline:
            time.sleep(0.02)
        again.stop()
        assert restarted.status("hook").delivered_total == 60
        assert len(ids) == 60 and set(ids.values()) == {1}, "a delivery id arrived twice"
    finally:
        receiver.close()


def test_a_crashed_worker_is_covered_by_the_lease_and_repeats_carry_the_same_id(
    db: Callable[[], Engine],
) -> None:
    ids: Counter[str] = Counter()
    receiver = HttpReceiver(responder=verifying_responder(ids))
    clock = Clock()
    try:
        destination = webhook_destination(receiver.url)
        outbox = SqlOutbox(db())
        AlertDispatcher(outbox=outbox, destinations=[destination], clock=clock).submit(many_alerts(4))
        # Worker A claims all four and dies: two before sending, two after sending but before marking.
        claimed = outbox.claim_due(now=clock(), limit=10, lease_seconds=FAST.lease_seconds)
        sender = make_sender(destination)
        sender.send(claimed[2:], now=clock())
        sender.close()
        worker = DeliveryWorker(
            outbox=SqlOutbox(db()), destinations=[destination], settings=FAST, clock=clock
        )
        assert worker.run_once().claimed == 0  # leases still valid: nobody steals them
        clock.advance(FAST.lease_seconds + 1)
        drain(worker, clock)
        worker.close()
        assert outbox.status("hook").delivered_total == 4
        # At least once: the two sent-but-unmarked arrive twice, with the same delivery id each time.
        assert sorted(ids.values()) == [1, 1, 2, 2]
        twice = {k for k, v in ids.items() if v == 2}
        assert twice == {c.delivery_id for c in claimed[2:]}
    finally:
        receiver.close()


def test_a_flood_is_digested(db: Callable[[], Engine]) -> None:
    receiver = HttpReceiver()
    clock = Clock()
    try:
        destination = webhook_destination(receiver.url, flood_limit=5, flood_window_seconds=60)
        outbox = SqlOutbox(db())
        dispatcher = AlertDispatcher(outbox=outbox, destinations=[destination], clock=clock)
        report = dispatcher.submit(many_alerts(30))
        assert (report.queued, report.held) == (5, 25)
        worker = DeliveryWorker(outbox=outbox, destinations=[destination], settings=FAST, clock=clock)
        drain(worker, clock)
        assert len(receiver.snapshot()) == 5 and outbox.status("hook").held == 25
        clock.advance(61)
        drain(worker, clock)
        worker.close()
        requests = receiver.snapshot()
        assert len(requests) == 6
        digest = json.loads(requests[-1].body)
        assert_valid(digest)
        assert (
            digest["finding_info"]["types"] == ["digest"]
            and digest["finding_info"]["related_events_count"] == 25
        )
        assert digest["message"].startswith("25 alerts in 61 s")
        assert outbox.status("hook").held == 0
    finally:
        receiver.close()


def test_one_alert_per_finding_per_window(db: Callable[[], Engine]) -> None:
    receiver = HttpReceiver()
    clock = Clock()
    try:
        destination = webhook_destination(receiver.url, throttle_seconds=3600)
        outbox = SqlOutbox(db())
        dispatcher = AlertDispatcher(outbox=outbox, destinations=[destination], clock=clock)
        worker = DeliveryWorker(outbox=outbox, destinations=[destination], settings=FAST, clock=clock)
        base = threat_alert()
        dispatcher.submit([base])
        clock.advance(10)
        report = dispatcher.submit([threat_alert(count=70, last_seen=base.last_seen.timestamp() + 10)])
        assert report.folded == 1
        assert (
            dispatcher.submit([threat_alert(count=70, last_seen=base.last_seen.timestamp() + 10)]).duplicates
            == 1
        )
        drain(worker, clock)
        first = json.loads(receiver.snapshot()[0].body)
        assert first["count"] == 70 and first["activity_id"] == 1
        clock.advance(60)
        assert (
            dispatcher.submit([threat_alert(id="ev-bola-2", count=5)]).folded == 1
        )  # within the hour: no message
        drain(worker, clock)
        assert len(receiver.snapshot()) == 1
        clock.advance(3600)
        dispatcher.submit([threat_alert(id="ev-bola-3", count=3)])
        drain(worker, clock)
        worker.close()
        second = json.loads(receiver.snapshot()[1].body)
        assert (
            len(receiver.snapshot()) == 2 and second["activity_id"] == 2 and second["count"] == 3
        )  # an Update
        assert outbox.status("hook").folded_total == 2
    finally:
        receiver.close()


def test_concurrency_is_bounded(db: Callable[[], Engine]) -> None:
    in_flight = 0
    peak = 0
    lock = threading.Lock()

    def slow(_request: ReceivedRequest) -> tuple[int, dict[str, str], bytes]:
        nonlocal in_flight, peak
        with lock:
            in_flight += 1
            peak = max(peak, in_flight)
        time.sleep(0.05)
        with lock:
            in_flight -= 1
        return 200, {}, b"ok"

    receiver = HttpReceiver(responder=slow)
    try:
        destinations = [
            parse_destination(
                {"id": f"d{i}", "kind": "webhook", "url": f"{receiver.url}/d{i}", "secret": SECRET}
            )
            for i in range(6)
        ]
        outbox = SqlOutbox(db())
        AlertDispatcher(outbox=outbox, destinations=destinations).submit(many_alerts(3))
        worker = DeliveryWorker(
            outbox=outbox, destinations=destinations, settings=replace(FAST, concurrency=2)
        )
        drain(worker)
        worker.close()
        assert len(receiver.snapshot()) == 18
        assert 1 <= peak <= 2
    finally:
        receiver.close()


def test_a_destination_that_cannot_be_set_up_keeps_its_rows_and_says_why(
    db: Callable[[], Engine], tmp_path: Path
) -> None:
    outbox = SqlOutbox(db())
    broken = webhook_destination("https://127.0.0.1:9", tls_ca_file=str(tmp_path / "missing-ca.pem"))
    AlertDispatcher(outbox=outbox, destinations=[broken]).submit([threat_alert()])
    worker = DeliveryWorker(outbox=outbox, destinations=[broken], settings=FAST)
    worker.run_once()
    worker.close()
    status = outbox.status("hook")
    assert status.queued == 1 and "cannot set up webhook" in (status.last_error or "")


def test_a_removed_destination_fails_its_rows_with_a_reason_after_a_grace_period(db: Callable[[], Engine]) -> None:
    """The worker's list of destinations may be a few seconds old: a row whose destination is not
    in it waits (another process may just have created it), and fails once it is a minute old."""
    outbox = SqlOutbox(db())
    gone = webhook_destination("http://127.0.0.1:9")
    AlertDispatcher(outbox=outbox, destinations=[gone]).submit([threat_alert()])
    worker = DeliveryWorker(outbox=outbox, destinations=[], settings=FAST)
    worker.run_once()
    worker.close()
    status = outbox.status("hook")
    assert status.queued == 1 and status.failed == 0 and status.last_error is None
    later = datetime.now(UTC) + timedelta(seconds=61)
    worker = DeliveryWorker(outbox=outbox, destinations=[], settings=FAST, clock=lambda: later)
    worker.run_once()
    worker.close()
    status = outbox.status("hook")
    assert status.failed == 1 and status.last_error == "destination no longer configured"


def test_a_destination_created_after_its_first_alert_still_receives_it(db: Callable[[], Engine]) -> None:
    receiver = HttpReceiver()
    try:
        outbox = SqlOutbox(db())
        fresh = webhook_destination(receiver.url)
        AlertDispatcher(outbox=outbox, destinations=[fresh]).submit([threat_alert()])
        stale = DeliveryWorker(outbox=outbox, destinations=[], settings=FAST)  # listed before it existed
        stale.run_once()
        stale.close()
        soon = datetime.now(UTC) + timedelta(seconds=2)
        current = DeliveryWorker(outbox=outbox, destinations=[fresh], settings=FAST, clock=lambda: soon)
        current.run_once()
        current.close()
        assert outbox.status("hook").delivered_total == 1 and len(receiver.snapshot()) == 1
    finally:
        receiver.close()


def test_a_disabled_destination_keeps_its_rows(db: Callable[[], Engine]) -> None:
    outbox = SqlOutbox(db())
    paused = replace(webhook_destination("http://127.0.0.1:9"), enabled=False)
    outbox.enqueue(destination_id="hook", alert=threat_alert(), now=datetime.now(UTC))
    worker = DeliveryWorker(outbox=outbox, destinations=[paused], settings=FAST)
    assert worker.run_once().claimed == 0
    worker.close()
    assert outbox.status("hook").queued == 1
    assert ItemState.QUEUED.value == "queued"


REPO = Path(__file__).resolve().parents[3]


def _spawn_worker(url: str, destination: dict[str, object], lease: float = 120.0) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.alert_worker_proc", url, json.dumps(destination), str(lease)],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc


def _wait(predicate: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@pytest.mark.parametrize("how", ["sigterm", "sigkill"])
def test_a_worker_process_restart(db: Callable[[], Engine], how: str) -> None:
    """SIGTERM (a service restart): nothing delivered twice. SIGKILL (a crash): nothing lost, and
    only the few in flight may arrive again, with their same delivery ids."""
    ids: Counter[str] = Counter()
    lock = threading.Lock()
    respond = verifying_responder(ids)

    def slow(request: ReceivedRequest) -> tuple[int, dict[str, str], bytes]:
        time.sleep(0.01)
        with lock:
            return respond(request)

    receiver = HttpReceiver(responder=slow)
    url: str = db.url  # type: ignore[attr-defined]
    spec = {
        "id": "hook",
        "kind": "webhook",
        "url": f"{receiver.url}/alerts",
        "secret": SECRET,
        "flood_limit": 1000,
        "max_batch": 5,
    }
    outbox = SqlOutbox(db())
    AlertDispatcher(outbox=outbox, destinations=[parse_destination(spec)]).submit(many_alerts(80))
    lease = 1.0 if how == "sigkill" else 120.0
    try:
        first = _spawn_worker(url, spec, lease)
        _wait(lambda: sum(ids.values()) >= 20, 20)
        first.send_signal(signal.SIGTERM if how == "sigterm" else signal.SIGKILL)
        code = first.wait(20)
        if how == "sigterm":
            assert code == 0, first.stderr.read() if first.stderr else ""
            assert outbox.status("hook").sending == 0  # everything claimed was recorded or released
        before = sum(ids.values())
        assert before < 80
        second = _spawn_worker(url, spec, lease)
        _wait(lambda: outbox.status("hook").delivered_total == 80, 30)
        second.send_signal(signal.SIGTERM)
        assert second.wait(20) == 0
    finally:
        receiver.close()
    assert len(ids) == 80, "an alert was lost"
    if how == "sigterm":
        assert set(ids.values()) == {1}, "a delivery arrived twice after a clean restart"
    else:
        assert sum(ids.values()) - 80 <= 10  # at most one claim's worth in flight when killed


def test_a_repeat_of_an_alert_summed_up_in_a_digest_is_not_sent_again(db: Callable[[], Engine]) -> None:
    receiver = HttpReceiver()
    clock = Clock()
    try:
        destination = webhook_destination(receiver.url, flood_limit=2, flood_window_seconds=60)
        outbox = SqlOutbox(db())
        dispatcher = AlertDispatcher(outbox=outbox, destinations=[destination], clock=clock)
        worker = DeliveryWorker(outbox=outbox, destinations=[destination], settings=FAST, clock=clock)
        batch = many_alerts(5)
        dispatcher.submit(batch)  # 2 queued, 3 held
        clock.advance(61)
        drain(worker, clock)  # 2 alerts + 1 digest of 3
        assert len(receiver.snapshot()) == 3
        repeat = replace(batch[4], uid="repeat", count=batch[4].count + 1, source_id="ev4-next")
        assert dispatcher.submit([repeat]).folded == 1
        drain(worker, clock)
        worker.close()
        assert len(receiver.snapshot()) == 3
    finally:
        receiver.close()
