"""The delivery outbox: the interface, its records, and an in-memory implementation.

One row per (destination, alert): its delivery id (``policy.delivery_id``) is unique per
destination, so enqueuing the same alert twice -- a producer re-run, two analyzers, a restart --
is a no-op. Life of a row::

    held --digest--> digested                 (flood: folded into one digest row)
    queued --claim--> sending --ok--> delivered
                         |  --error--> queued (next_attempt_at later) ... --give up--> failed
                         '--lease expires (worker died)--> claimable again

At-least-once: a row leaves ``sending`` only through ``mark_delivered``/``mark_failed``/``release``
by the holder of its claim token, or by lease expiry. A worker that dies mid-send has its rows
re-claimed after ``lease_seconds``; such a re-send carries the same delivery id, so a receiver
that keeps ids for the replay window drops it. A worker that stops cleanly marks what it sent and
releases what it had not started, so a restart sends nothing twice.

Bounded: at most ``max_pending`` held+queued+sending rows per destination. At the bound the
oldest pending row of the lowest severity (not being sent) is dropped to make room for a new one
at least as severe, else the new one is refused; either way ``dropped_total`` counts it.
"""

from __future__ import annotations

import enum
import itertools
import threading
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Protocol

from analyzer.alerts.model import AlertEvent
from analyzer.alerts.policy import delivery_id as make_delivery_id


class ItemState(enum.StrEnum):
    HELD = "held"
    QUEUED = "queued"
    SENDING = "sending"
    DELIVERED = "delivered"
    FAILED = "failed"
    DIGESTED = "digested"


PENDING_STATES = frozenset({ItemState.HELD, ItemState.QUEUED, ItemState.SENDING})
# States that count as "sent to the destination" for flood accounting (held rows are not).
ADMITTED_STATES = frozenset({ItemState.QUEUED, ItemState.SENDING, ItemState.DELIVERED, ItemState.FAILED})


class Enqueued(enum.Enum):
    ENQUEUED = "enqueued"
    DUPLICATE = "duplicate"  # this delivery id is already in the outbox
    REFUSED_FULL = "refused_full"  # at the bound, and nothing less severe to drop


@dataclass(frozen=True, slots=True)
class OutboxItem:
    id: int
    destination_id: str
    delivery_id: str
    dedup_key: str
    alert: AlertEvent
    state: ItemState
    attempts: int
    enqueued_at: datetime
    next_attempt_at: datetime
    lease_until: datetime | None = None
    claim_token: str | None = None
    last_error: str | None = None
    folded: int = 0
    delivered_at: datetime | None = None
    fold_sources: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DestinationStatus:
    destination_id: str
    queued: int = 0  # waiting to be sent (incl. retries)
    held: int = 0  # waiting for the flood digest
    sending: int = 0
    failed: int = 0  # gave up (still in the outbox until pruned)
    delivered_total: int = 0
    failed_total: int = 0
    dropped_total: int = 0  # refused or evicted at the bound
    folded_total: int = 0  # repeats folded by the throttle
    last_success_at: datetime | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None
    oldest_pending_at: datetime | None = None


class Outbox(Protocol):
    """What the dispatcher and the delivery worker need from storage (memory or SQL)."""

    def enqueue(
        self,
        *,
        destination_id: str,
        alert: AlertEvent,
        now: datetime,
        held: bool = False,
        max_pending: int = 10_000,
    ) -> Enqueued: ...

    def last_for_key(self, destination_id: str, dedup_key: str) -> OutboxItem | None: ...

    def fold_into(self, item_id: int, alert: AlertEvent, sources: Mapping[str, int]) -> bool:
        """Record a folded repeat: a queued/held row takes ``alert`` (updated count and times),
        any row takes ``sources`` and counts the fold. False if the row is gone."""
        ...

    def count_admitted_since(self, destination_id: str, since: datetime) -> int: ...

    def held(self, destination_id: str, limit: int = 10_000) -> list[OutboxItem]: ...

    def destinations_with_held(self) -> list[str]: ...

    def digest_held(
        self, *, destination_id: str, held_ids: Sequence[int], digest: AlertEvent, now: datetime
    ) -> bool:
        """Atomically: the held rows become ``digested`` and ``digest`` is enqueued (queued)."""
        ...

    def claim_due(
        self, *, now: datetime, limit: int, lease_seconds: float, exclude: Sequence[str] = ()
    ) -> list[OutboxItem]: ...

    def mark_delivered(self, item: OutboxItem, *, now: datetime) -> bool: ...

    def mark_delivered_many(self, items: Sequence[OutboxItem], *, now: datetime) -> int:
        """``mark_delivered`` for a whole sent batch in one transaction; returns how many were held."""
        ...

    def mark_failed(
        self, item: OutboxItem, *, now: datetime, error: str, retry_at: datetime | None
    ) -> bool: ...

    def release(self, item: OutboxItem, *, now: datetime) -> bool: ...

    def status(self, destination_id: str) -> DestinationStatus: ...

    def prune(self, *, before: datetime) -> int:
        """Delete delivered, failed and digested rows last touched before ``before``."""
        ...


def severity_rank(alert: AlertEvent) -> int:
    return int(alert.severity)


class InMemoryOutbox:
    """The outbox in a dict, thread-safe: tests, and a single process that may lose alerts on exit."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rows: dict[int, OutboxItem] = {}
        self._by_delivery: dict[tuple[str, str], int] = {}
        self._ids = itertools.count(1)
        self._stats: dict[str, DestinationStatus] = {}

    def _stat(self, destination_id: str) -> DestinationStatus:
        return self._stats.get(destination_id) or DestinationStatus(destination_id=destination_id)

    def _bump(self, destination_id: str, **changes: object) -> None:
        current = self._stat(destination_id)
        updates = {}
        for key, value in changes.items():
            if key.endswith("_total") and isinstance(value, int):
                updates[key] = getattr(current, key) + value
            else:
                updates[key] = value
        self._stats[destination_id] = replace(current, **updates)

    def _add_row(
        self, destination_id: str, delivery: str, alert: AlertEvent, state: ItemState, now: datetime
    ) -> None:
        item_id = next(self._ids)
        self._rows[item_id] = OutboxItem(
            id=item_id,
            destination_id=destination_id,
            delivery_id=delivery,
            dedup_key=alert.dedup_key,
            alert=alert,
            state=state,
            attempts=0,
            enqueued_at=now,
            next_attempt_at=now,
        )
        self._by_delivery[(destination_id, delivery)] = item_id

    def enqueue(
        self,
        *,
        destination_id: str,
        alert: AlertEvent,
        now: datetime,
        held: bool = False,
        max_pending: int = 10_000,
    ) -> Enqueued:
        key = (destination_id, make_delivery_id(destination_id, alert.uid))
        with self._lock:
            if key in self._by_delivery:
                return Enqueued.DUPLICATE
            pending = [
                r
                for r in self._rows.values()
                if r.destination_id == destination_id and r.state in PENDING_STATES
            ]
            if len(pending) >= max_pending:
                victims = sorted(
                    (r for r in pending if r.state is not ItemState.SENDING),
                    key=lambda r: (severity_rank(r.alert), r.enqueued_at, r.id),
                )
                if not victims or severity_rank(victims[0].alert) > severity_rank(alert):
                    self._bump(destination_id, dropped_total=1)
                    return Enqueued.REFUSED_FULL
                victim = victims[0]
                del self._rows[victim.id]
                del self._by_delivery[(victim.destination_id, victim.delivery_id)]
                self._bump(destination_id, dropped_total=1)
            self._add_row(destination_id, key[1], alert, ItemState.HELD if held else ItemState.QUEUED, now)
            return Enqueued.ENQUEUED

    def last_for_key(self, destination_id: str, dedup_key: str) -> OutboxItem | None:
        with self._lock:
            rows = [
                r
                for r in self._rows.values()
                if r.destination_id == destination_id and r.dedup_key == dedup_key
            ]
            return max(rows, key=lambda r: (r.enqueued_at, r.id), default=None)

    def fold_into(self, item_id: int, alert: AlertEvent, sources: Mapping[str, int]) -> bool:
        with self._lock:
            row = self._rows.get(item_id)
            if row is None:
                return False
            pending = row.state in (ItemState.QUEUED, ItemState.HELD)
            self._rows[item_id] = replace(
                row, alert=alert if pending else row.alert, folded=row.folded + 1, fold_sources=dict(sources)
            )
            self._bump(row.destination_id, folded_total=1)
            return True

    def count_admitted_since(self, destination_id: str, since: datetime) -> int:
        with self._lock:
            return sum(
                1
                for r in self._rows.values()
                if r.destination_id == destination_id
                and r.state in ADMITTED_STATES
                and r.enqueued_at >= since
            )

    def held(self, destination_id: str, limit: int = 10_000) -> list[OutboxItem]:
        with self._lock:
            rows = [
                r
                for r in self._rows.values()
                if r.destination_id == destination_id and r.state is ItemState.HELD
            ]
            return sorted(rows, key=lambda r: (r.enqueued_at, r.id))[:limit]

    def destinations_with_held(self) -> list[str]:
        with self._lock:
            return sorted({r.destination_id for r in self._rows.values() if r.state is ItemState.HELD})

    def digest_held(
        self, *, destination_id: str, held_ids: Sequence[int], digest: AlertEvent, now: datetime
    ) -> bool:
        key = (destination_id, make_delivery_id(destination_id, digest.uid))
        with self._lock:
            if key in self._by_delivery:
                return False
            for item_id in held_ids:
                row = self._rows.get(item_id)
                if row is not None and row.state is ItemState.HELD:
                    self._rows[item_id] = replace(row, state=ItemState.DIGESTED, delivered_at=now)
            self._add_row(destination_id, key[1], digest, ItemState.QUEUED, now)
            return True

    def claim_due(
        self, *, now: datetime, limit: int, lease_seconds: float, exclude: Sequence[str] = ()
    ) -> list[OutboxItem]:
        lease = now + timedelta(seconds=lease_seconds)
        with self._lock:
            due = sorted(
                (
                    r
                    for r in self._rows.values()
                    if r.destination_id not in exclude
                    and (
                        (r.state is ItemState.QUEUED and r.next_attempt_at <= now)
                        or (
                            r.state is ItemState.SENDING
                            and r.lease_until is not None
                            and r.lease_until <= now
                        )
                    )
                ),
                key=lambda r: (r.next_attempt_at, r.id),
            )[:limit]
            claimed = []
            for row in due:
                new = replace(row, state=ItemState.SENDING, lease_until=lease, claim_token=uuid.uuid4().hex)
                self._rows[row.id] = new
                claimed.append(new)
            return claimed

    def _holder(self, item: OutboxItem) -> OutboxItem | None:
        row = self._rows.get(item.id)
        if row is None or row.state is not ItemState.SENDING or row.claim_token != item.claim_token:
            return None
        return row

    def mark_delivered(self, item: OutboxItem, *, now: datetime) -> bool:
        with self._lock:
            row = self._holder(item)
            if row is None:
                return False
            self._rows[row.id] = replace(
                row,
                state=ItemState.DELIVERED,
                attempts=row.attempts + 1,
                lease_until=None,
                claim_token=None,
                delivered_at=now,
            )
            self._bump(row.destination_id, delivered_total=1, last_success_at=now)
            return True

    def mark_delivered_many(self, items: Sequence[OutboxItem], *, now: datetime) -> int:
        return sum(self.mark_delivered(item, now=now) for item in items)

    def mark_failed(self, item: OutboxItem, *, now: datetime, error: str, retry_at: datetime | None) -> bool:
        with self._lock:
            row = self._holder(item)
            if row is None:
                return False
            final = retry_at is None
            self._rows[row.id] = replace(
                row,
                state=ItemState.FAILED if final else ItemState.QUEUED,
                attempts=row.attempts + 1,
                next_attempt_at=retry_at or now,
                lease_until=None,
                claim_token=None,
                last_error=error,
                delivered_at=now if final else None,
            )
            self._bump(
                row.destination_id, failed_total=1 if final else 0, last_error=error, last_error_at=now
            )
            return True

    def release(self, item: OutboxItem, *, now: datetime) -> bool:
        with self._lock:
            row = self._holder(item)
            if row is None:
                return False
            self._rows[row.id] = replace(
                row, state=ItemState.QUEUED, next_attempt_at=now, lease_until=None, claim_token=None
            )
            return True

    def status(self, destination_id: str) -> DestinationStatus:
        with self._lock:
            rows = [r for r in self._rows.values() if r.destination_id == destination_id]
            pending = [r.enqueued_at for r in rows if r.state in PENDING_STATES]
            return replace(
                self._stat(destination_id),
                queued=sum(r.state is ItemState.QUEUED for r in rows),
                held=sum(r.state is ItemState.HELD for r in rows),
                sending=sum(r.state is ItemState.SENDING for r in rows),
                failed=sum(r.state is ItemState.FAILED for r in rows),
                oldest_pending_at=min(pending, default=None),
            )

    def prune(self, *, before: datetime) -> int:
        done = (ItemState.DELIVERED, ItemState.FAILED, ItemState.DIGESTED)
        with self._lock:
            old = [
                r
                for r in self._rows.values()
                if r.state in done and (r.delivered_at or r.enqueued_at) < before
            ]
            for row in old:
                del self._rows[row.id]
                del self._by_delivery[(row.destination_id, row.delivery_id)]
            return len(old)

    def items(self) -> list[OutboxItem]:
        """Every row (tests and diagnostics)."""
        with self._lock:
            return sorted(self._rows.values(), key=lambda r: r.id)
