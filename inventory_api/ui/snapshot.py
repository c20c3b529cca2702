"""Inventory-wide views of the console, computed off the request path.

Findings (``analyzer.inventory.findings.build_findings``) are evaluated rule by rule over every
endpoint: seconds on a 50,000-endpoint inventory, far beyond a page's budget. So the console keeps
one snapshot per process of what is derived from the whole inventory (findings, overview counts,
PII aggregates, PII recipients, the traffic series), rebuilt by a background thread when the
inventory's fingerprint (row counts, newest observation, spec and verdict counts) has changed,
checked at most every ``REFRESH`` seconds. Requests read the current snapshot; only the very first
waits for one to exist. Workflow states and suppressions are applied per request, never cached.
Pages show when their snapshot was taken.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from fastapi import Request
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from analyzer.db.models import (
    ApiSpec,
    Endpoint,
    EndpointHourly,
    EndpointVerdict,
    PiiFinding,
    SpecOperation,
    TlsService,
)
from analyzer.inventory.findings import build_findings
from analyzer.inventory.workflow import CLOSED, STATES, Triage, item_host
from inventory_api.ui import data

REFRESH = 10.0  # seconds between fingerprint checks
log = logging.getLogger("apicensus.console")


@dataclass(slots=True)
class Snapshot:
    fingerprint: tuple[Any, ...]
    taken_at: datetime
    findings: list[dict[str, Any]]  # samples as stored (the detector's mask); viewers get mask_fully on top
    by_endpoint: dict[int, list[dict[str, Any]]]
    by_host: dict[str, list[dict[str, Any]]]
    by_id: dict[str, dict[str, Any]]
    by_severity: dict[str, list[dict[str, Any]]]
    by_kind: dict[str, list[dict[str, Any]]]
    overview: data.Overview
    pii: dict[str, Any]
    recipients: list[dict[str, Any]]
    traffic: list[tuple[datetime, int]]
    hosts: list[tuple[int, str]]  # the filter forms' choices
    pii_types: list[str]
    checked: float = field(default_factory=time.monotonic)
    build_seconds: float = 0.0


def fingerprint(session: Session) -> tuple[Any, ...]:
    """Changes whenever analysis, ingest, a spec import/delete or a verdict recompute changed
    what the snapshot is built from (cheap aggregates, no row is read into Python)."""
    endpoints = session.execute(
        select(func.count(Endpoint.id), func.max(Endpoint.last_seen), func.sum(Endpoint.hits),
               func.sum(Endpoint.unauthenticated_2xx))
    ).one()
    pii = session.execute(select(func.count(), func.sum(PiiFinding.count), func.max(PiiFinding.last_seen))).one()
    verdicts = session.execute(
        select(func.count(), func.count().filter(EndpointVerdict.shadow), func.count().filter(EndpointVerdict.zombie))
    ).one()
    specs = session.execute(select(func.count(ApiSpec.id), func.max(ApiSpec.id))).one()
    ops = session.scalar(select(func.count()).select_from(SpecOperation).where(SpecOperation.verdict == "orphan"))
    hourly = session.scalar(select(func.max(EndpointHourly.hour)))
    tls = session.execute(select(func.count(TlsService.id), func.max(TlsService.last_seen))).one()
    return (*endpoints, *pii, *verdicts, *specs, ops, hourly, *tls)


def build(session: Session, stamp: tuple[Any, ...] | None = None) -> Snapshot:
    started = time.monotonic()
    stamp = stamp if stamp is not None else fingerprint(session)
    findings = build_findings(session=session, full_samples=True)
    by_endpoint: dict[int, list[dict[str, Any]]] = {}
    by_host: dict[str, list[dict[str, Any]]] = {}
    by_severity: dict[str, list[dict[str, Any]]] = {}
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for item in findings:
        if item["endpoint"] is not None:  # TLS posture findings name a TLS service instead
            by_endpoint.setdefault(item["endpoint"]["id"], []).append(item)
        by_host.setdefault(item_host(item), []).append(item)
        by_severity.setdefault(item["severity"], []).append(item)
        by_kind.setdefault(item["kind"], []).append(item)
    return Snapshot(
        fingerprint=stamp,
        taken_at=datetime.now(UTC),
        findings=findings,
        by_endpoint=by_endpoint,
        by_host=by_host,
        by_id={item["id"]: item for item in findings},
        by_severity=by_severity,
        by_kind=by_kind,
        overview=data.overview(session),
        pii=data.pii_summary(session),
        recipients=data.pii_recipients(session),
        traffic=data.traffic(session, days=14),
        hosts=[(sid, host) for sid, host in data.services_choice(session)],
        pii_types=list(session.scalars(select(PiiFinding.type).distinct().order_by(PiiFinding.type).limit(100))),
        build_seconds=time.monotonic() - started,
    )


class SnapshotKeeper:
    """The process's current snapshot, refreshed in the background (one refresh at a time)."""

    def __init__(self, session_factory: Callable[[], Session]) -> None:
        self._factory = session_factory
        self._current: Snapshot | None = None
        self._lock = threading.Lock()
        self._refreshing = False
        self._stale = False
        self._closed = False
        self._thread: threading.Thread | None = None

    def close(self, timeout: float = 30.0) -> None:
        """No refresh from now on, the one in flight finished (the engine is going away)."""
        with self._lock:
            self._closed = True
            thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def get(self) -> Snapshot:
        current = self._current
        if current is None:
            with self._lock:  # the first request builds it; others wait for that one
                if self._current is None:
                    with self._factory() as session:
                        self._current = build(session)
                current = self._current
        # A busy inventory changes all the time: rebuilds are spaced by five times their own
        # duration, so they take at most a fifth of a core while someone uses the console (and
        # nothing when nobody does: only page views start them).
        if self._stale or time.monotonic() - current.checked > max(REFRESH, 5 * current.build_seconds):
            self._start_refresh()
        return current

    def warm(self) -> None:
        """Build the first snapshot in the background (the sign-in page calls this, so it is
        ready by the time the key is typed)."""
        with self._lock:
            if self._current is not None or self._closed or self._thread is not None:
                return
            self._thread = threading.Thread(target=self._warm, name="console-snapshot-warm", daemon=True)
            self._thread.start()

    def _warm(self) -> None:
        try:
            self.get()
        except Exception:  # noqa: BLE001 - the first page view retries (and reports the error)
            log.warning("console snapshot warm-up failed", exc_info=True)

    def invalidate(self) -> None:
        """Something the snapshot shows has changed (e.g. a spec import): rebuild soon."""
        self._stale = True
        self._start_refresh()

    def _start_refresh(self) -> None:
        with self._lock:
            if self._refreshing or self._closed:
                return
            self._refreshing = True
            self._thread = threading.Thread(target=self._refresh, name="console-snapshot", daemon=True)
            self._thread.start()

    def _refresh(self) -> None:
        try:
            forced, self._stale = self._stale, False
            with self._factory() as session:
                stamp = fingerprint(session)
                current = self._current
                if current is not None and current.fingerprint == stamp and not forced:
                    current.checked = time.monotonic()
                    return
                self._current = build(session, stamp)
        except Exception:  # noqa: BLE001 - the current snapshot stays; the next page view retries
            log.warning("console snapshot refresh failed", exc_info=True)
        finally:
            with self._lock:
                self._refreshing = False



def for_role(item: dict[str, Any], *, full_samples: bool) -> dict[str, Any]:
    """A finding as this caller may see it (viewers: evidence samples reduced to their shape)."""
    if full_samples:
        return item
    from analyzer.inventory.samples import mask_fully

    return {**item, "evidence": [{**e, "sample": mask_fully(e["sample"])} for e in item["evidence"]]}


def current(request: Request) -> Snapshot:
    """The app's snapshot (a dependency: sync, so a first build runs in the thread pool)."""
    keeper: SnapshotKeeper = request.app.state.console_snapshots
    return keeper.get()


def suppressed_ids(snap: Snapshot, tri: Triage) -> set[str]:
    """Findings of the snapshot silenced by a live rule: read from the rules' side (few rules,
    indexed findings), never by testing every finding."""
    out: set[str] = set()
    for (kind, endpoint_id), _rule in tri.on_endpoint.items():
        out.update(i["id"] for i in snap.by_endpoint.get(endpoint_id, ()) if i["kind"] == kind)
    for (kind, host), _rule in tri.on_host.items():
        out.update(i["id"] for i in snap.by_host.get(host, ()) if i["kind"] == kind)
    return out


def select_findings(
    snap: Snapshot, tri: Triage, *, state: str, severity: str = "", kind: str = "", host: str = "",
    show_suppressed: bool = False,
) -> list[dict[str, Any]]:
    """The queue's findings in order: ``state`` is active (open + acknowledged), closed, all, or
    one state; a pass over the filtered findings with one set lookup each."""
    # The smallest index that applies, then the other filters over it (lists keep the findings' order).
    indexes = [idx.get(key, []) for idx, key in ((snap.by_host, host), (snap.by_severity, severity),
                                                 (snap.by_kind, kind)) if key]
    candidates = min(indexes, key=len) if indexes else snap.findings
    if len(indexes) > 1:
        candidates = [
            i for i in candidates
            if (not host or item_host(i) == host) and (not severity or i["severity"] == severity)
            and (not kind or i["kind"] == kind)
        ]
    hidden = set() if show_suppressed else suppressed_ids(snap, tri)
    if state in ("active", "all", "open"):
        if state == "active":
            hidden |= tri.ids_in(CLOSED)
        elif state == "open":
            hidden |= tri.ids_in(frozenset(STATES) - {"open"})
        return [i for i in candidates if i["id"] not in hidden] if hidden else list(candidates)
    wanted = tri.ids_in(CLOSED if state == "closed" else frozenset({state})) - hidden
    return [i for i in candidates if i["id"] in wanted]
