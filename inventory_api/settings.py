"""Inventory API settings: one class, read from the environment, overridable per call."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import Any

from sensor.plumbing.bind import parse_bind

DEFAULT_DATABASE_URL = "sqlite:///apicensus.db"  # the analyzer's default: same inventory
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000


@dataclass(frozen=True, slots=True)
class ApiSettings:
    database_url: str = DEFAULT_DATABASE_URL
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    # Page sizes for the catalog listings (``limit`` query parameter).
    default_page_size: int = 50
    max_page_size: int = 500
    # Database connection pool per process.
    pool_size: int = 5

    @classmethod
    def from_env(cls, **overrides: Any) -> ApiSettings:
        """Settings from ``APICENSUS_*`` variables; explicit non-None overrides win.

        ``APICENSUS_DATABASE_URL`` (shared with the analyzer), ``APICENSUS_API_BIND`` (HOST:PORT).
        """
        values: dict[str, Any] = {
            "database_url": os.environ.get("APICENSUS_DATABASE_URL") or DEFAULT_DATABASE_URL
        }
        bind = os.environ.get("APICENSUS_API_BIND")
        if bind:
            values["host"], values["port"] = parse_bind(bind)
        base = cls(**values)
        return replace(base, **{k: v for k, v in overrides.items() if v is not None})
