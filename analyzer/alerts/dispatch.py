"""From alerts to outbox rows: routing, throttling and flood digests (policy applied to storage).

``AlertDispatcher.submit(alerts)`` is what a producer calls (phase 2: the analyzer after each
batch for findings/changes, the detection stage for threat events). For each alert and each
destination whose rules accept it:

1. a repeat of a dedup key enqueued within the destination's ``throttle_seconds`` is folded into
   that row (``policy.fold``): no second message, the pending one carries the updated count (a
   row already sent, or summed up in a digest, only counts the repeat);
2. otherwise, if the destination already took ``flood_limit`` alerts in the last
   ``flood_window_seconds``, the alert is *held*;
3. otherwise it is queued for delivery.

``flush_digests()`` (the worker calls it every poll) turns each destination's held rows into one
digest alert once the oldest has waited a flood window. All state lives in the outbox, so any
number of producer processes share it and a restart forgets nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from analyzer.alerts.destinations import Destination, DestinationKind
from analyzer.alerts.model import AlertEvent
from analyzer.alerts.outbox import Enqueued, Outbox
from analyzer.alerts.policy import (
    Throttle,
    build_digest,
    delivery_id,
    flood_admits,
    fold,
    route,
    throttle,
)
from analyzer.alerts.settings import AlertSettings


@dataclass(slots=True)
class DispatchReport:
    queued: int = 0
    held: int = 0
    folded: int = 0
    duplicates: int = 0
    dropped: int = 0
    unrouted: int = 0  # alerts no destination wanted
    per_destination: dict[str, int] = field(default_factory=dict)


DestinationSource = Callable[[], Sequence[Destination]]


def _as_source(destinations: Sequence[Destination] | DestinationSource) -> DestinationSource:
    if callable(destinations):
        return destinations
    fixed = tuple(destinations)
    return lambda: fixed


class AlertDispatcher:
    def __init__(
        self,
        *,
        outbox: Outbox,
        destinations: Sequence[Destination] | DestinationSource,
        settings: AlertSettings | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.outbox = outbox
        self._destinations = _as_source(destinations)
        self.settings = settings or AlertSettings()
        self.clock = clock

    def submit(self, alerts: Iterable[AlertEvent], *, now: datetime | None = None) -> DispatchReport:
        report = DispatchReport()
        destinations = self._destinations()
        for alert in alerts:
            when = now or self.clock()
            targets = route(alert, destinations)
            if not targets:
                report.unrouted += 1
            for destination in targets:
                self._submit_one(alert, destination, when, report)
        return report

    def _submit_one(
        self, alert: AlertEvent, destination: Destination, now: datetime, report: DispatchReport
    ) -> None:
        last = self.outbox.last_for_key(destination.id, alert.dedup_key)
        if last is not None and last.delivery_id == delivery_id(destination.id, alert.uid):
            report.duplicates += 1
            return
        if (
            last is not None
            and throttle(last.enqueued_at, now, destination.throttle_seconds) is Throttle.FOLD
        ):
            folded, sources = fold(last.alert, alert, last.fold_sources)
            if folded == last.alert and dict(sources) == dict(last.fold_sources):
                report.duplicates += 1  # the same event submitted again: nothing new
                return
            self.outbox.fold_into(last.id, folded, sources)
            report.folded += 1
            return
        if last is not None:
            alert = replace(alert, is_update=True)  # the same finding again after its window
        since = now - timedelta(seconds=destination.flood_window_seconds)
        held = not flood_admits(
            self.outbox.count_admitted_since(destination.id, since), destination.flood_limit
        )
        result = self.outbox.enqueue(
            destination_id=destination.id,
            alert=alert,
            now=now,
            held=held,
            max_pending=self.settings.max_pending,
        )
        if result is Enqueued.DUPLICATE:
            report.duplicates += 1
        elif result is Enqueued.REFUSED_FULL:
            report.dropped += 1
        elif held:
            report.held += 1
        else:
            report.queued += 1
            report.per_destination[destination.id] = report.per_destination.get(destination.id, 0) + 1

    def flush_digests(self, *, now: datetime | None = None) -> int:
        """Digest each destination's held rows whose flood window has passed; returns digests made."""
        now = now or self.clock()
        by_id = {d.id: d for d in self._destinations()}
        made = 0
        for destination_id in self.outbox.destinations_with_held():
            destination = by_id.get(destination_id) or Destination(
                id=destination_id, name=destination_id, kind=DestinationKind.WEBHOOK
            )
            held = self.outbox.held(destination_id)
            if not held:
                continue
            window_start = held[0].enqueued_at
            if now - window_start < timedelta(seconds=destination.flood_window_seconds):
                continue
            digest = build_digest(
                destination, [h.alert for h in held], window_start=window_start, window_end=now, now=now
            )
            if self.outbox.digest_held(
                destination_id=destination_id, held_ids=[h.id for h in held], digest=digest, now=now
            ):
                made += 1
        return made
