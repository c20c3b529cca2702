"""Delivery policy as pure functions: who gets an alert, when it is folded, when it is retried.

Nothing here does I/O or reads a clock; the dispatcher and the worker pass ``now`` and the facts
they read from the outbox, so every decision is unit-testable and deterministic.

- **Rules** (:func:`rule_matches`, :func:`accepts`, :func:`route`): a destination without rules
  receives everything; otherwise an alert goes to it when any rule matches.
- **Throttle** (:func:`throttle`): one alert per dedup key per destination per window: a repeat
  inside ``throttle_seconds`` of the last enqueued one is folded into it (its count and last seen
  updated while still queued), not sent again.
- **Flood** (:func:`flood_admits`, :func:`build_digest`): a destination takes at most
  ``flood_limit`` alerts per ``flood_window_seconds``; the rest wait and go out as one digest per
  window, so a scan that trips hundreds of rules pages the SOC once.
- **Retry** (:func:`backoff_seconds`, :func:`retry_decision`): exponential back-off from
  ``base`` doubling up to ``cap``, each delay scaled by a jitter factor drawn from a generator
  seeded by (seed, delivery id, attempt): deterministic under a seed, yet different per delivery
  so retries of many alerts spread out. ``Retry-After`` from the receiver is honoured up to the cap.
  Permanent failures and deliveries older than ``max_age`` give up.
"""

from __future__ import annotations

import enum
import hashlib
import random
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from analyzer.alerts.destinations import Destination, Rule
from analyzer.alerts.model import (
    MAX_DIGEST_MEMBERS,
    AlertEvent,
    AlertKind,
    DigestInfo,
    Severity,
    stable_hash,
)

# -- rules and routing ---------------------------------------------------------------------------


def rule_matches(rule: Rule, alert: AlertEvent) -> bool:
    if alert.severity < rule.min_severity:
        return False
    if rule.kinds and alert.kind not in rule.kinds:
        return False
    if rule.types and alert.type not in rule.types and alert.type_label not in rule.types:
        return False
    if rule.services and alert.service.host not in rule.services:
        return False
    if rule.owners and alert.service.owner not in rule.owners:
        return False
    return not (rule.teams and alert.service.team not in rule.teams)


def accepts(destination: Destination, alert: AlertEvent) -> bool:
    if not destination.enabled:
        return False
    if not destination.rules:
        return True
    return any(rule_matches(rule, alert) for rule in destination.rules)


def route(alert: AlertEvent, destinations: Sequence[Destination]) -> tuple[Destination, ...]:
    """The destinations that receive ``alert``, in configuration order."""
    return tuple(d for d in destinations if accepts(d, alert))


def delivery_id(destination_id: str, alert_uid: str) -> str:
    """The idempotency key of one alert to one destination: stable across retries and restarts."""
    return stable_hash("delivery", destination_id, alert_uid)


# -- throttle and flood ----------------------------------------------------------------------------


class Throttle(enum.Enum):
    SEND = "send"
    FOLD = "fold"  # fold into the previous alert of the same dedup key


def throttle(last_enqueued_at: datetime | None, now: datetime, window_seconds: float) -> Throttle:
    if last_enqueued_at is None or window_seconds <= 0:
        return Throttle.SEND
    return Throttle.FOLD if now - last_enqueued_at < timedelta(seconds=window_seconds) else Throttle.SEND


MAX_FOLD_SOURCES = 64


def fold(
    previous: AlertEvent, repeat: AlertEvent, sources: Mapping[str, int]
) -> tuple[AlertEvent, dict[str, int]]:
    """The earlier alert of a dedup key updated by a repeat inside the throttle window.

    ``sources`` maps each folded producer id to the largest count it reported: producers update
    one event in place with a cumulative count (threat events within a detection window), so
    counts are the sum over sources of their latest count, not a sum over submissions, and
    submitting the same event twice changes nothing. Bounded: past ``MAX_FOLD_SOURCES`` sources
    the smallest are merged into one ``"…"`` entry.
    """
    merged = dict(sources) or {previous.source_id: previous.count}
    merged[repeat.source_id] = max(merged.get(repeat.source_id, 0), repeat.count)
    if len(merged) > MAX_FOLD_SOURCES:
        overflow = merged.pop("…", 0)
        ranked = sorted(merged.items(), key=lambda kv: -kv[1])
        keep, dropped = ranked[: MAX_FOLD_SOURCES - 1], ranked[MAX_FOLD_SOURCES - 1 :]
        merged = dict(keep) | {"…": overflow + sum(v for _, v in dropped)}
    newer = repeat.last_seen >= previous.last_seen
    updated = replace(
        previous,
        count=max(1, sum(merged.values())),
        first_seen=min(previous.first_seen, repeat.first_seen),
        last_seen=max(previous.last_seen, repeat.last_seen),
        severity=max(previous.severity, repeat.severity),
        evidence=(repeat.evidence or previous.evidence) if newer else previous.evidence,
        title=repeat.title if newer else previous.title,
    )
    return updated, merged


def flood_admits(enqueued_in_window: int, limit: int) -> bool:
    """True while the destination has taken fewer than ``limit`` alerts in the flood window."""
    return enqueued_in_window < limit


def build_digest(
    destination: Destination,
    members: Sequence[AlertEvent],
    *,
    window_start: datetime,
    window_end: datetime,
    now: datetime,
) -> AlertEvent:
    """One alert standing for ``members`` (held during a flood), as severe as the worst of them."""
    if not members:
        raise ValueError("a digest needs members")
    by_type = Counter(m.type_label for m in members)
    by_severity = Counter(m.severity.label for m in members)
    worst = max(members, key=lambda m: (m.severity, m.last_seen))
    kinds = {m.kind for m in members}
    hosts = sorted({m.service.host for m in members})
    member_uids = tuple(m.uid for m in members[:MAX_DIGEST_MEMBERS])
    total = sum(m.count for m in members)
    top = ", ".join(f"{n} {t}" for t, n in by_type.most_common(3))
    title = f"{len(members)} alerts in {int((window_end - window_start).total_seconds())} s for {destination.name}: {top}"
    service = (
        worst.service
        if len(hosts) == 1
        else replace(worst.service, host=", ".join(hosts[:5]) + ("…" if len(hosts) > 5 else ""))
    )
    key = stable_hash("digest", destination.id, window_start.isoformat(), *member_uids)
    return AlertEvent(
        kind=worst.kind if len(kinds) == 1 else AlertKind.THREAT if AlertKind.THREAT in kinds else worst.kind,
        type="digest",
        severity=worst.severity,
        title=title[:300],
        service=service,
        first_seen=min(m.first_seen for m in members),
        last_seen=max(m.last_seen for m in members),
        detected_at=now,
        source_id=f"digest:{key}",
        dedup_key=f"digest:{destination.id}:{key}",
        uid=key,
        count=total,
        evidence=tuple((f"{t}", n) for t, n in by_type.most_common(16)),
        digest=DigestInfo(
            members=len(members),
            by_type=tuple(by_type.most_common()),
            by_severity=tuple(sorted(by_severity.items(), key=lambda kv: -Severity.parse(kv[0]))),
            member_uids=member_uids,
            sample_titles=tuple(m.title for m in sorted(members, key=lambda m: -m.severity)[:10]),
            window_start=window_start,
            window_end=window_end,
        ),
    )


# -- retries -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    base_seconds: float = 2.0
    cap_seconds: float = 900.0
    jitter: float = 0.5  # each delay is scaled by a factor drawn from [1 - jitter, 1]
    max_age_seconds: float = 72 * 3600.0  # give up on a delivery this old (the outage bound)
    seed: int = 0


def backoff_seconds(policy: RetryPolicy, attempt: int, delivery: str) -> float:
    """Delay before retry number ``attempt`` (1 = first retry) of ``delivery``."""
    if attempt < 1:
        raise ValueError("attempt counts from 1")
    exponential = min(policy.cap_seconds, policy.base_seconds * (2 ** min(attempt - 1, 62)))
    seed = hashlib.sha256(f"{policy.seed}:{delivery}:{attempt}".encode()).digest()
    factor = 1.0 - policy.jitter * random.Random(seed).random()
    return float(exponential * factor)


class Outcome(enum.Enum):
    DELIVERED = "delivered"
    RETRY = "retry"
    GIVE_UP = "give_up"


@dataclass(frozen=True, slots=True)
class SendResult:
    """What a transport reports for one delivery."""

    ok: bool
    retryable: bool = True
    error: str | None = None
    retry_after: float | None = None  # seconds, from the receiver (HTTP Retry-After)


@dataclass(frozen=True, slots=True)
class RetryDecision:
    outcome: Outcome
    next_attempt_at: datetime | None = None


def retry_decision(
    policy: RetryPolicy,
    result: SendResult,
    *,
    attempts: int,
    enqueued_at: datetime,
    now: datetime,
    delivery: str,
) -> RetryDecision:
    """After attempt number ``attempts`` (1-based) of a delivery: done, retry when, or give up."""
    if result.ok:
        return RetryDecision(Outcome.DELIVERED)
    if not result.retryable:
        return RetryDecision(Outcome.GIVE_UP)
    delay = backoff_seconds(policy, attempts, delivery)
    if result.retry_after is not None:
        delay = max(delay, min(result.retry_after, policy.cap_seconds))
    when = now + timedelta(seconds=delay)
    if (when - enqueued_at).total_seconds() > policy.max_age_seconds:
        return RetryDecision(Outcome.GIVE_UP)
    return RetryDecision(Outcome.RETRY, when)


def classify_http(status: int, retry_after: str | None = None) -> SendResult:
    """An HTTP answer as a send result.

    2xx delivered. 408/425/429/5xx are transient. 401/403/404 and 3xx are configuration errors
    (bad token, wrong URL, a redirect we refuse to follow): retried, because a destination is
    re-read at every attempt, so fixing it delivers what waited. Other 4xx (400, 413, 422, ...)
    mean this payload will never be accepted: give up, with the error recorded.
    """
    if 200 <= status < 300:
        return SendResult(ok=True)
    after: float | None = None
    if retry_after:
        try:
            after = max(0.0, float(retry_after))
        except ValueError:
            after = None
    transient = status in (408, 425, 429) or status >= 500
    config = status in (401, 403, 404) or 300 <= status < 400
    return SendResult(ok=False, retryable=transient or config, error=f"HTTP {status}", retry_after=after)
