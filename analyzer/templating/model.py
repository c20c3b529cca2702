"""What templating hands out: a template match with its path parameters, and stable ids."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True, slots=True)
class PathParam:
    name: str
    type: str
    index: int  # segment position (0 = first segment after the leading "/")


@dataclass(frozen=True, slots=True)
class TemplateMatch:
    template: str
    params: tuple[PathParam, ...]
    template_id: str


def template_id(host: str, method: str, template: str) -> str:
    """Stable id: same host, method and template give the same id in every process, forever."""
    return hashlib.sha1(f"{host}|{method}|{template}".encode()).hexdigest()[:16]


@lru_cache(maxsize=4096)
def service_name(host: str) -> str:
    """The service a Host names: lower-cased, default port (80/443) and trailing dot dropped.

    Callers pass the Host header, or the server address ("10.0.0.5:8080") when there is none.
    """
    h = host.strip().lower()
    if h.endswith((":80", ":443")):
        h = h.rsplit(":", 1)[0]
    if h.endswith("."):
        h = h[:-1]
    return h
