"""Alert delivery settings: one class, read from the environment, overridable per call."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import Any

from analyzer.alerts.policy import RetryPolicy


def _env_float(name: str, default: float) -> float:
    value = os.environ.get(name)
    return float(value) if value else default


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


@dataclass(frozen=True, slots=True)
class AlertSettings:
    # Destinations sent to at once (each destination's batch is sent in order by one thread).
    concurrency: int = 4
    # Rows claimed per poll; a destination gets at most its max_batch of them per round.
    claim_limit: int = 200
    poll_seconds: float = 1.0
    # A claimed row is re-claimable after this long: longer than the slowest send (timeouts).
    lease_seconds: float = 120.0
    # Pending rows (held + queued + sending) kept per destination while it is down.
    max_pending: int = 10_000
    # Delivered/failed/digested rows kept this long for status and forensics, then pruned.
    retention_seconds: float = 7 * 86400.0
    retry_base_seconds: float = 2.0
    retry_cap_seconds: float = 900.0
    retry_jitter: float = 0.5
    # A delivery still failing after this long gives up (the outage a destination may have).
    max_age_seconds: float = 72 * 3600.0
    seed: int = 0

    @property
    def retry(self) -> RetryPolicy:
        return RetryPolicy(
            base_seconds=self.retry_base_seconds,
            cap_seconds=self.retry_cap_seconds,
            jitter=self.retry_jitter,
            max_age_seconds=self.max_age_seconds,
            seed=self.seed,
        )

    @classmethod
    def from_env(cls, **overrides: Any) -> AlertSettings:
        """``APICENSUS_ALERT_*`` variables; explicit non-None overrides win."""
        d = cls()
        base = cls(
            concurrency=_env_int("APICENSUS_ALERT_CONCURRENCY", d.concurrency),
            poll_seconds=_env_float("APICENSUS_ALERT_POLL_SECONDS", d.poll_seconds),
            lease_seconds=_env_float("APICENSUS_ALERT_LEASE_SECONDS", d.lease_seconds),
            max_pending=_env_int("APICENSUS_ALERT_MAX_PENDING", d.max_pending),
            retention_seconds=_env_float("APICENSUS_ALERT_RETENTION_SECONDS", d.retention_seconds),
            retry_base_seconds=_env_float("APICENSUS_ALERT_RETRY_BASE_SECONDS", d.retry_base_seconds),
            retry_cap_seconds=_env_float("APICENSUS_ALERT_RETRY_CAP_SECONDS", d.retry_cap_seconds),
            max_age_seconds=_env_float("APICENSUS_ALERT_MAX_AGE_SECONDS", d.max_age_seconds),
            seed=_env_int("APICENSUS_ALERT_SEED", d.seed),
        )
        return replace(base, **{k: v for k, v in overrides.items() if v is not None})
