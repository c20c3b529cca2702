"""Inventory API settings: one class, read from the environment, overridable per call."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import Any

DEFAULT_DATABASE_URL = "sqlite:///apicensus.db"  # the analyzer's default: same inventory
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000


def parse_bind(value: str) -> tuple[str, int]:
    """``HOST:PORT``, ``[v6]:PORT`` or ``:PORT`` (all interfaces) -> (host, port); ValueError if not."""
    text = value.strip()
    if text.startswith("["):
        host, sep, port_text = text[1:].partition("]:")
        if not sep:
            raise ValueError(f"expected [IPv6]:PORT, got {value!r}")
    else:
        host, sep, port_text = text.rpartition(":")
        if not sep:
            raise ValueError(f"expected HOST:PORT, got {value!r}")
        if ":" in host:
            raise ValueError(f"an IPv6 address needs brackets: [{host}]:{port_text}")
    host = host or "0.0.0.0"
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"invalid port {port_text!r} in {value!r}")
    return host, int(port_text)


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
