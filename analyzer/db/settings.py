"""Analyzer settings: one class, read from the environment, overridable per call (CLI flags, tests)."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import Any

DEFAULT_DATABASE_URL = "sqlite:///apicensus.db"


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() not in {"0", "false", "no", "off"}


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


@dataclass(frozen=True, slots=True)
class AnalyzerSettings:
    # SQLite in the working directory is the embedded default; PostgreSQL is production.
    database_url: str = DEFAULT_DATABASE_URL
    # Exchanges aggregated in memory before one bulk write: big enough to amortise round trips,
    # small enough that a crash loses little and memory stays flat.
    batch_size: int = 5000
    pii_enabled: bool = True
    # Runtime threat detection (analyzer/pipeline/detect.py); ``--no-detect`` turns it off.
    detect_enabled: bool = True
    # ``apicensus analyze`` holds the inventory for its whole run: the detection state is saved
    # at most this often (and at the end) instead of with every batch. A crash loses at most
    # this much detection learning (stored events stay; re-analysis skips counted exchanges).
    detect_checkpoint_seconds: float = 30.0
    # Helper processes for PII detection (the costliest step); None = one when a second core exists.
    pii_workers: int | None = None
    # Bodies larger than this are not parsed for schema inference (the sensor caps them anyway;
    # this bounds the analyzer's own CPU per exchange).
    max_body_bytes: int = 256 * 1024
    # Field paths kept per body and array elements sampled: bounds work on huge documents.
    max_fields_per_body: int = 500
    max_array_items: int = 20
    max_depth: int = 16

    @classmethod
    def from_env(cls, **overrides: Any) -> AnalyzerSettings:
        """Settings from ``APICENSUS_*`` variables; explicit non-None overrides win."""
        defaults = cls()
        base = cls(
            database_url=os.environ.get("APICENSUS_DATABASE_URL") or DEFAULT_DATABASE_URL,
            batch_size=_env_int("APICENSUS_BATCH_SIZE", defaults.batch_size),
            pii_enabled=_env_bool("APICENSUS_PII", True),
            detect_enabled=_env_bool("APICENSUS_DETECT", True),
            pii_workers=int(os.environ["APICENSUS_PII_WORKERS"])
            if os.environ.get("APICENSUS_PII_WORKERS")
            else None,
            max_body_bytes=_env_int("APICENSUS_MAX_BODY_BYTES", defaults.max_body_bytes),
        )
        return replace(base, **{k: v for k, v in overrides.items() if v is not None})
