"""The delivery worker: drains the outbox with bounded concurrency, retries with back-off.

Each round it (1) turns flood-held rows into digests, (2) claims due rows (leased), (3) sends
each destination's rows in order, in batches of the destination's ``max_batch``, with at most
``concurrency`` destinations in flight, and (4) records every result: delivered, retry at
``policy.retry_decision``'s time, or failed for good. Rows are rendered at send time from the
stored alert and the destination's *current* configuration, so fixing a wrong URL or token
delivers what waited.

``start()`` runs rounds on a thread (``notify()`` wakes it early after an enqueue); ``stop()``
lets in-flight sends finish and be recorded and releases claimed rows it had not started, so a
restarted worker picks them up at once and sends nothing twice. ``run_once(now=...)`` runs one
round synchronously (tests drive it with their own clock).
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from analyzer.alerts.destinations import Destination
from analyzer.alerts.dispatch import AlertDispatcher
from analyzer.alerts.outbox import Outbox, OutboxItem
from analyzer.alerts.policy import Outcome, SendResult, retry_decision
from analyzer.alerts.senders import Sender, make_sender
from analyzer.alerts.settings import AlertSettings

# How long a row waits for its destination to appear in the (cached) list before failing.
MISSING_DESTINATION_GRACE_SECONDS = 60.0

log = logging.getLogger("apicensus.alerts")

DestinationLookup = Callable[[], Sequence[Destination]]


@dataclass(slots=True)
class RoundReport:
    claimed: int = 0
    delivered: int = 0
    retried: int = 0
    failed: int = 0
    released: int = 0
    digests: int = 0

    def add(self, other: RoundReport) -> None:
        for name in ("claimed", "delivered", "retried", "failed", "released", "digests"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


class DeliveryWorker:
    def __init__(
        self,
        *,
        outbox: Outbox,
        destinations: Sequence[Destination] | DestinationLookup,
        settings: AlertSettings | None = None,
        sender_factory: Callable[[Destination], Sender] = make_sender,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.outbox = outbox
        fixed = None if callable(destinations) else tuple(destinations)
        self._destinations: DestinationLookup = (
            destinations if callable(destinations) else (lambda: fixed or ())
        )
        self.settings = settings or AlertSettings()
        self.clock = clock
        self.dispatcher = AlertDispatcher(
            outbox=outbox, destinations=self._destinations, settings=self.settings, clock=clock
        )
        self._sender_factory = sender_factory
        self._senders: dict[str, tuple[Destination, Sender]] = {}
        self._senders_lock = threading.Lock()
        self._pool = ThreadPoolExecutor(
            max_workers=self.settings.concurrency, thread_name_prefix="alert-send"
        )
        self._stopping = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_prune: datetime | None = None
        self.totals = RoundReport()

    # -- one round ---------------------------------------------------------------------------------

    def run_once(self, *, now: datetime | None = None) -> RoundReport:
        now = now or self.clock()
        report = RoundReport(digests=self.dispatcher.flush_digests(now=now))
        destinations = {d.id: d for d in self._destinations()}
        disabled = [d.id for d in destinations.values() if not d.enabled]
        items = self.outbox.claim_due(
            now=now,
            limit=self.settings.claim_limit,
            lease_seconds=self.settings.lease_seconds,
            exclude=disabled,
        )
        report.claimed = len(items)
        groups: dict[str, list[OutboxItem]] = defaultdict(list)
        for item in items:
            groups[item.destination_id].append(item)
        futures = [
            self._pool.submit(self._deliver_group, destinations.get(dest_id), group, now)
            for dest_id, group in groups.items()
        ]
        for future in futures:
            report.add(future.result())
        self._maybe_prune(now)
        self.totals.add(report)
        return report

    def _deliver_group(
        self, destination: Destination | None, items: list[OutboxItem], now: datetime
    ) -> RoundReport:
        report = RoundReport()
        if destination is None:
            # The list of destinations is read at most every few seconds, so a destination
            # created a moment ago (by another process) may not be in it yet: such rows go back
            # to the queue for a grace period (no attempt counted, no error on the destination's
            # status) before failing. A deleted destination's rows are removed with it.
            for item in items:
                if now - item.enqueued_at < timedelta(seconds=MISSING_DESTINATION_GRACE_SECONDS):
                    if self.outbox.release(item, now=now + timedelta(seconds=1)):
                        report.released += 1
                elif self.outbox.mark_failed(item, now=now, error="destination no longer configured", retry_at=None):
                    report.failed += 1
            return report
        try:
            sender = self._sender(destination)
        except Exception as exc:  # e.g. a CA or client-certificate file that cannot be read
            failure = SendResult(
                ok=False, retryable=True, error=f"cannot set up {destination.kind.value}: {exc}"[:500]
            )
            for item in items:
                self._record(item, failure, report)
            return report
        batch_size = max(1, destination.max_batch)
        for start in range(0, len(items), batch_size):
            batch = items[start : start + batch_size]
            if self._stopping.is_set():
                for item in items[start:]:
                    if self.outbox.release(item, now=self.clock()):
                        report.released += 1
                break
            try:
                results = sender.send(batch, now=self.clock())
            except Exception as exc:  # a bug in a renderer must not kill the worker or lose rows
                log.exception("alert delivery to %s raised", destination.id)
                results = [
                    SendResult(ok=False, retryable=True, error=f"{exc.__class__.__name__}: {exc}"[:500])
                ] * len(batch)
            sent = [item for item, result in zip(batch, results, strict=True) if result.ok]
            report.delivered += self.outbox.mark_delivered_many(sent, now=self.clock())
            for item, result in zip(batch, results, strict=True):
                if not result.ok:
                    self._record(item, result, report)
            if any(not r.ok and r.retryable for r in results):
                # The destination is failing: the rest of its rows wait for their own retry time.
                for item in items[start + batch_size :]:
                    self._record(item, results[-1], report)
                break
        return report

    def _record(self, item: OutboxItem, result: SendResult, report: RoundReport) -> None:
        now = self.clock()
        decision = retry_decision(
            self.settings.retry,
            result,
            attempts=item.attempts + 1,
            enqueued_at=item.enqueued_at,
            now=now,
            delivery=item.delivery_id,
        )
        if decision.outcome is Outcome.DELIVERED:
            if self.outbox.mark_delivered(item, now=now):
                report.delivered += 1
            return
        error = result.error or "delivery failed"
        if decision.outcome is Outcome.RETRY:
            if self.outbox.mark_failed(item, now=now, error=error, retry_at=decision.next_attempt_at):
                report.retried += 1
            log.info(
                "alert delivery to %s failed, retry at %s: %s",
                item.destination_id,
                decision.next_attempt_at,
                error,
            )
            return
        if self.outbox.mark_failed(item, now=now, error=error, retry_at=None):
            report.failed += 1
        log.warning(
            "alert delivery to %s gave up after %d attempts: %s",
            item.destination_id,
            item.attempts + 1,
            error,
        )

    def _sender(self, destination: Destination) -> Sender:
        with self._senders_lock:
            cached = self._senders.get(destination.id)
            if cached is not None and cached[0] == destination:
                return cached[1]
            if cached is not None:
                cached[1].close()  # the destination was reconfigured
            sender = self._sender_factory(destination)
            self._senders[destination.id] = (destination, sender)
            return sender

    def _maybe_prune(self, now: datetime) -> None:
        if self._last_prune is not None and now - self._last_prune < timedelta(hours=1):
            return
        self._last_prune = now
        self.outbox.prune(before=now - timedelta(seconds=self.settings.retention_seconds))

    # -- background loop -------------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("worker already started")
        self._thread = threading.Thread(target=self._loop, name="alert-worker", daemon=True)
        self._thread.start()

    def notify(self) -> None:
        """Wake the loop now (after enqueuing) instead of at the next poll."""
        self._wake.set()

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                report = self.run_once()
            except Exception:  # the database away, ...: keep the loop alive, try again next poll
                log.exception("alert delivery round failed")
                report = RoundReport()
            if report.claimed == 0 and not self._stopping.is_set():
                self._wake.wait(self.settings.poll_seconds)
                self._wake.clear()

    def stop(self, timeout: float = 30.0) -> None:
        """Finish in-flight sends, release unstarted claims, close connections."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self.close()

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        with self._senders_lock:
            for _, sender in self._senders.values():
                sender.close()
            self._senders.clear()


def status_table(outbox: Outbox, destinations: Sequence[Destination]) -> list[Mapping[str, object]]:
    """Per destination: its public configuration and delivery status (the settings page's rows)."""
    rows: list[Mapping[str, object]] = []
    for destination in destinations:
        status = outbox.status(destination.id)
        rows.append(
            {
                **destination.public(),
                "status": {
                    "queued": status.queued,
                    "held": status.held,
                    "sending": status.sending,
                    "failed": status.failed,
                    "delivered_total": status.delivered_total,
                    "failed_total": status.failed_total,
                    "dropped_total": status.dropped_total,
                    "folded_total": status.folded_total,
                    "last_success_at": status.last_success_at.isoformat() if status.last_success_at else None,
                    "last_error": status.last_error,
                    "last_error_at": status.last_error_at.isoformat() if status.last_error_at else None,
                    "oldest_pending_at": status.oldest_pending_at.isoformat()
                    if status.oldest_pending_at
                    else None,
                },
            }
        )
    return rows
