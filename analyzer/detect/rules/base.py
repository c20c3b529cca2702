"""The rule contract: what every detection rule is, and how it reports.

A rule is an object with ``kind``, ``severity``, ``window`` (seconds) and ``title``, fed every
exchange (:meth:`Rule.observe`) and told when time passes (:meth:`Rule.expire`). It reports
through :class:`Sink` with a :class:`Hit`; the engine groups hits into events (one per type,
subtype, actor, endpoint and window). Its state is JSON-able (:meth:`Rule.to_state`), so N
analyzers can share it through the inventory.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from analyzer.detect.context import Seen
from analyzer.detect.model import ActorRef
from analyzer.detect.settings import DetectSettings
from analyzer.detect.windows import window_start

Hasher = Callable[[str], int]


@dataclass(frozen=True, slots=True)
class Hit:
    """One observation that a rule's condition holds (the engine turns hits into events)."""

    kind: str
    subtype: str | None
    severity: str
    title: str
    actor: ActorRef
    host: str
    method: str | None
    template: str | None
    window_start: float
    window_seconds: float
    ts: float
    evidence: dict[str, Any] = field(default_factory=dict)


Sink = Callable[[Hit], None]


class Rule:
    """Base class: subclasses set the class attributes and override ``observe``."""

    kind: str = ""
    severity: str = "medium"
    title: str = ""
    window: float = 3600.0

    def __init__(self, settings: DetectSettings, hasher: Hasher) -> None:
        self.settings = settings
        self.hash = hasher

    def observe(self, seen: Seen, sink: Sink) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def expire(self, watermark: float, sink: Sink) -> None:
        """Called as the stream's clock moves: drop (or score) windows that ended."""

    def to_state(self) -> Any:
        return None

    def load_state(self, data: Any) -> None:
        """Restore what ``to_state`` returned."""

    def hit(
        self,
        seen: Seen,
        sink: Sink,
        *,
        subtype: str | None = None,
        severity: str | None = None,
        evidence: dict[str, Any] | None = None,
        window: float | None = None,
        per_actor: bool = True,
        title: str | None = None,
        any_endpoint: bool = False,
    ) -> None:
        """Report ``seen`` (``any_endpoint``: one event per actor and host, not per endpoint)."""
        size = self.window if window is None else window
        x = seen.x
        sink(
            Hit(
                kind=self.kind,
                subtype=subtype,
                severity=severity or self.severity,
                title=title or self.title,
                actor=seen.actor.ref() if per_actor else ActorRef(ip=None),
                host=x.host,
                method=None if any_endpoint else x.method,
                template="*" if any_endpoint else seen.template,
                window_start=window_start(x.ts, size) if size > 0 else 0.0,
                window_seconds=size,
                ts=x.ts,
                evidence=evidence or {},
            )
        )


_FAILED_STATUS = frozenset({"error", "fail", "failed", "failure"})


def envelope_failed(seen: Seen) -> bool:
    """A 2xx whose JSON envelope says the call failed: RPC APIs (``{"ok": false}``), JSON-RPC
    (``{"error": {...}}``), GraphQL (``{"errors": [...]}`` without data) and JSend
    (``{"status": "fail"}``) answer errors with 200, so the status alone calls them served."""
    body = seen.response_json
    if not seen.ok or type(body) is not dict:
        return False
    if body.get("ok") is False or body.get("success") is False:
        return True
    status = body.get("status")
    if type(status) is str and status.lower() in _FAILED_STATUS:
        return True
    if body.get("error") or body.get("errors"):
        return not (body.get("data") or body.get("result"))
    return False


def expired(start: float, size: float, watermark: float, lateness: float) -> bool:
    return start + size + lateness < watermark
