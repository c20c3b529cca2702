"""The outbox contract on memory, SQLite and PostgreSQL: idempotent enqueue, leases, bound, status."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import timedelta

from analyzer.alerts.model import AlertEvent
from analyzer.alerts.outbox import Enqueued, ItemState, Outbox
from analyzer.alerts.policy import delivery_id
from tests.analyzer.alerts.conftest import NOW, threat_alert


def alert_n(n: int, severity: str = "high") -> AlertEvent:
    return threat_alert(id=f"ev{n}", actor={"ip": f"198.51.100.{n % 250}", "key": f"k{n}"}, severity=severity)


def test_enqueue_is_idempotent_per_destination(outbox: Outbox) -> None:
    alert = alert_n(1)
    assert outbox.enqueue(destination_id="a", alert=alert, now=NOW) is Enqueued.ENQUEUED
    assert outbox.enqueue(destination_id="a", alert=alert, now=NOW) is Enqueued.DUPLICATE
    assert outbox.enqueue(destination_id="b", alert=alert, now=NOW) is Enqueued.ENQUEUED
    assert outbox.status("a").queued == 1 and outbox.status("b").queued == 1


def test_claim_lease_and_transitions(outbox: Outbox) -> None:
    for n in range(3):
        outbox.enqueue(destination_id="a", alert=alert_n(n), now=NOW)
    claimed = outbox.claim_due(now=NOW, limit=10, lease_seconds=30)
    assert len(claimed) == 3 and all(i.state is ItemState.SENDING and i.claim_token for i in claimed)
    assert claimed[0].delivery_id == delivery_id("a", claimed[0].alert.uid)
    assert claimed[0].alert == alert_n(0)  # the stored alert reads back equal
    assert outbox.claim_due(now=NOW, limit=10, lease_seconds=30) == []  # leased
    first, second, third = claimed
    assert outbox.mark_delivered(first, now=NOW)
    assert not outbox.mark_delivered(first, now=NOW)  # only once
    retry_at = NOW + timedelta(seconds=10)
    assert outbox.mark_failed(second, now=NOW, error="HTTP 503", retry_at=retry_at)
    assert outbox.mark_failed(third, now=NOW, error="HTTP 400", retry_at=None)
    status = outbox.status("a")
    assert (status.queued, status.failed, status.delivered_total, status.failed_total) == (1, 1, 1, 1)
    assert status.last_error == "HTTP 400" and status.last_success_at == NOW
    assert outbox.claim_due(now=NOW + timedelta(seconds=9), limit=10, lease_seconds=30) == []
    again = outbox.claim_due(now=retry_at, limit=10, lease_seconds=30)
    assert (
        [i.id for i in again] == [second.id] and again[0].attempts == 1 and again[0].last_error == "HTTP 503"
    )


def test_expired_lease_is_reclaimed_and_the_old_holder_can_no_longer_write(outbox: Outbox) -> None:
    outbox.enqueue(destination_id="a", alert=alert_n(1), now=NOW)
    (stale,) = outbox.claim_due(now=NOW, limit=1, lease_seconds=30)
    (fresh,) = outbox.claim_due(now=NOW + timedelta(seconds=31), limit=1, lease_seconds=30)
    assert fresh.id == stale.id and fresh.claim_token != stale.claim_token
    assert not outbox.mark_delivered(stale, now=NOW)
    assert not outbox.release(stale, now=NOW)
    assert outbox.mark_delivered(fresh, now=NOW)
    assert outbox.status("a").delivered_total == 1


def test_release_makes_rows_claimable_at_once(outbox: Outbox) -> None:
    outbox.enqueue(destination_id="a", alert=alert_n(1), now=NOW)
    (item,) = outbox.claim_due(now=NOW, limit=1, lease_seconds=300)
    assert outbox.release(item, now=NOW)
    assert len(outbox.claim_due(now=NOW, limit=1, lease_seconds=300)) == 1


def test_concurrent_claimers_never_share_a_row(outbox: Outbox) -> None:
    for n in range(60):
        outbox.enqueue(destination_id="a", alert=alert_n(n), now=NOW)
    got: list[list[int]] = []
    lock = threading.Lock()

    def claim() -> None:
        mine: list[int] = []
        while True:
            batch = outbox.claim_due(now=NOW, limit=7, lease_seconds=60)
            if not batch:
                break
            mine += [i.id for i in batch]
        with lock:
            got.append(mine)

    threads = [threading.Thread(target=claim) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ids = [i for part in got for i in part]
    assert len(ids) == 60 and len(set(ids)) == 60


def test_bound_drops_the_oldest_least_severe_and_counts_it(outbox: Outbox) -> None:
    outbox.enqueue(destination_id="a", alert=alert_n(1, "low"), now=NOW, max_pending=3)
    outbox.enqueue(destination_id="a", alert=alert_n(2, "high"), now=NOW, max_pending=3)
    outbox.enqueue(destination_id="a", alert=alert_n(3, "low"), now=NOW + timedelta(seconds=1), max_pending=3)
    assert (
        outbox.enqueue(destination_id="a", alert=alert_n(4, "critical"), now=NOW, max_pending=3)
        is Enqueued.ENQUEUED
    )
    kept = {
        i.alert.source_id for i in outbox.claim_due(now=NOW + timedelta(seconds=5), limit=10, lease_seconds=1)
    }
    assert kept == {"ev2", "ev3", "ev4"}  # ev1 (low, oldest) made room
    # Everything pending is now "sending" (not evictable): a new alert is refused, and counted.
    assert (
        outbox.enqueue(destination_id="a", alert=alert_n(5, "critical"), now=NOW, max_pending=3)
        is Enqueued.REFUSED_FULL
    )
    assert outbox.status("a").dropped_total == 2


def test_bound_never_evicts_something_more_severe(outbox: Outbox) -> None:
    for n in range(2):
        outbox.enqueue(destination_id="a", alert=alert_n(n, "critical"), now=NOW, max_pending=2)
    assert (
        outbox.enqueue(destination_id="a", alert=alert_n(9, "low"), now=NOW, max_pending=2)
        is Enqueued.REFUSED_FULL
    )
    assert outbox.status("a").queued == 2


def test_fold_updates_a_pending_row_and_only_counts_a_sent_one(outbox: Outbox) -> None:
    outbox.enqueue(destination_id="a", alert=alert_n(1), now=NOW)
    last = outbox.last_for_key("a", alert_n(1).dedup_key)
    assert last is not None
    bigger = replace(last.alert, count=99)
    assert outbox.fold_into(last.id, bigger, {"ev1": 99})
    row = outbox.last_for_key("a", alert_n(1).dedup_key)
    assert (
        row is not None
        and row.alert.count == 99
        and row.folded == 1
        and dict(row.fold_sources) == {"ev1": 99}
    )
    (item,) = outbox.claim_due(now=NOW, limit=1, lease_seconds=30)
    outbox.mark_delivered(item, now=NOW)
    assert outbox.fold_into(item.id, replace(bigger, count=120), {"ev1": 120})
    row = outbox.last_for_key("a", alert_n(1).dedup_key)
    assert row is not None and row.alert.count == 99 and row.folded == 2  # sent: the record stays as sent
    assert outbox.status("a").folded_total == 2
    assert not outbox.fold_into(10_000_000, bigger, {})


def test_held_rows_become_one_digest(outbox: Outbox) -> None:
    for n in range(5):
        outbox.enqueue(destination_id="a", alert=alert_n(n), now=NOW + timedelta(seconds=n), held=True)
    assert outbox.destinations_with_held() == ["a"]
    assert (
        outbox.claim_due(now=NOW + timedelta(hours=1), limit=10, lease_seconds=1) == []
    )  # held is not deliverable
    held = outbox.held("a")
    assert [h.alert.source_id for h in held] == [f"ev{n}" for n in range(5)]
    assert outbox.count_admitted_since("a", NOW) == 0
    digest = replace(alert_n(100), type="digest", dedup_key="digest:a:1", uid="digest-uid-1")
    assert outbox.digest_held(destination_id="a", held_ids=[h.id for h in held], digest=digest, now=NOW)
    assert not outbox.digest_held(destination_id="a", held_ids=[h.id for h in held], digest=digest, now=NOW)
    assert outbox.destinations_with_held() == []
    (item,) = outbox.claim_due(now=NOW, limit=10, lease_seconds=1)
    assert item.alert.type == "digest"
    assert outbox.count_admitted_since("a", NOW) == 1


def test_prune_keeps_pending_rows(outbox: Outbox) -> None:
    for n in range(3):
        outbox.enqueue(destination_id="a", alert=alert_n(n), now=NOW)
    a, b, _ = outbox.claim_due(now=NOW, limit=3, lease_seconds=30)
    outbox.mark_delivered(a, now=NOW)
    outbox.mark_failed(b, now=NOW, error="x", retry_at=None)
    assert outbox.prune(before=NOW + timedelta(days=1)) == 2
    assert outbox.status("a").sending == 1
    assert outbox.status("a").delivered_total == 1  # totals outlive the rows


def test_status_of_an_unknown_destination_is_empty(outbox: Outbox) -> None:
    status = outbox.status("nobody")
    assert status.queued == 0 and status.last_success_at is None and status.oldest_pending_at is None


def test_a_sent_batch_is_marked_in_one_call_and_stale_claims_are_skipped(outbox: Outbox) -> None:
    for n in range(4):
        outbox.enqueue(destination_id="a", alert=alert_n(n), now=NOW)
    claimed = outbox.claim_due(now=NOW, limit=4, lease_seconds=30)
    stale = replace(claimed[0], claim_token="not-the-holder")
    assert outbox.mark_delivered_many([stale, *claimed[1:]], now=NOW) == 3
    status = outbox.status("a")
    assert status.delivered_total == 3 and status.sending == 1 and status.last_success_at == NOW
