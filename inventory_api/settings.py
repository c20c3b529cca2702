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
    # A verified API key is trusted this long without a lookup (inventory_api/keycache.py); 0: off.
    key_cache_seconds: float = 5.0
    # A catalog read is answered from this process's memory this long (inventory_api/readcache.py); 0: off.
    response_cache_seconds: float = 1.0
    # ``apicensus serve``: worker processes, and what one connection may hold (inventory_api/server.py).
    workers: int = 1
    head_timeout: float = 10.0  # a request head must be complete this long after its first byte
    body_timeout: float = 30.0  # longest silence while a body is being received
    max_connections: int = 256  # open connections per worker process; more get 503 and are closed
    # The ingest child's CPU priority below the service's (os.nice): reads get the cores first, at
    # ingest's expense on a busy machine (10 on 2 shared cores: one 500-record batch in 10 s).
    ingest_niceness: int = 0

    @classmethod
    def from_env(cls, **overrides: Any) -> ApiSettings:
        """Settings from ``APICENSUS_*`` variables; explicit non-None overrides win.

        ``APICENSUS_DATABASE_URL`` (shared with the analyzer), ``APICENSUS_API_BIND`` (HOST:PORT),
        ``APICENSUS_API_WORKERS``, ``_HEAD_TIMEOUT``, ``_BODY_TIMEOUT``, ``_MAX_CONNECTIONS``, ``_POOL_SIZE``,
        ``_KEY_CACHE_SECONDS``, ``_RESPONSE_CACHE_SECONDS``, ``_INGEST_NICENESS``.
        """
        values: dict[str, Any] = {
            "database_url": os.environ.get("APICENSUS_DATABASE_URL") or DEFAULT_DATABASE_URL
        }
        bind = os.environ.get("APICENSUS_API_BIND")
        if bind:
            try:
                values["host"], values["port"] = parse_bind(bind)
            except ValueError as exc:
                raise ValueError(f"APICENSUS_API_BIND: {exc}") from exc
        for name, convert in _ENV_FIELDS.items():
            raw = os.environ.get(f"APICENSUS_API_{name.upper()}")
            if raw:
                try:
                    values[name] = convert(raw)
                except ValueError as exc:
                    raise ValueError(f"APICENSUS_API_{name.upper()}={raw!r}: not a number") from exc
        base = cls(**values)
        settings = replace(base, **{k: v for k, v in overrides.items() if v is not None})
        settings.check()
        return settings

    def check(self) -> None:
        if self.workers < 1 or self.max_connections < 1 or self.pool_size < 1:
            raise ValueError("workers, max_connections and pool_size must be at least 1")
        if self.head_timeout <= 0 or self.body_timeout <= 0:
            raise ValueError("head_timeout and body_timeout must be > 0")
        if not 0 <= self.key_cache_seconds <= 60:
            raise ValueError("key_cache_seconds must be between 0 and 60")
        if not 0 <= self.response_cache_seconds <= 60:
            raise ValueError("response_cache_seconds must be between 0 and 60")
        if not 0 <= self.ingest_niceness <= 19:
            raise ValueError("ingest_niceness must be between 0 and 19")

    def to_env(self) -> dict[str, str]:
        """The variables :meth:`from_env` reads back as these settings (for worker processes)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        env = {"APICENSUS_DATABASE_URL": self.database_url, "APICENSUS_API_BIND": f"{host}:{self.port}"}
        for name in _ENV_FIELDS:
            env[f"APICENSUS_API_{name.upper()}"] = str(getattr(self, name))
        return env


_ENV_FIELDS: dict[str, Any] = {
    "pool_size": int,
    "workers": int,
    "head_timeout": float,
    "body_timeout": float,
    "max_connections": int,
    "key_cache_seconds": float,
    "response_cache_seconds": float,
    "ingest_niceness": int,
}
