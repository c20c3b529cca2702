"""Alerts wired to the inventory database: destinations in ``integrations``, producers (change
history, findings, threat events) into the outbox, and one delivery worker across processes.

- :func:`create_integration` / :func:`list_integrations` / :func:`delete_integration`: admin
  input checked by :func:`parse_destination`; secrets (``secret``, ``previous_secret``,
  ``token``) stored in a column of their own, never returned (``Destination.public()``).
- :func:`publish`: change rows not yet handed on (``changes.dispatched_at IS NULL``) and findings
  new since the last pass (``finding_announcements``) become alerts, submitted to the dispatcher, then
  marked; a crash in between submits them again, which the outbox ignores (enqueue is idempotent
  per destination and alert uid, and alert uids are derived from stored values only).
- :func:`submit_threat_events`: the detection stage's events (issue 11 shape).
- :class:`DeliveryService`: in every ``apicensus serve`` process; the one holding the
  ``alert-delivery`` lease (table ``worker_leases``) runs the :class:`DeliveryWorker` and the
  producers' periodic :func:`publish`; the others stand by and take over when the lease lapses.
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, delete, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from analyzer.alerts.destinations import Destination, DestinationError, parse_destination
from analyzer.alerts.dispatch import AlertDispatcher
from analyzer.alerts.model import (
    AlertEvent,
    ServiceRef,
    alert_from_change_event,
    alert_from_finding,
    alert_from_threat_event,
)
from analyzer.alerts.outbox_sql import OUTBOX, SqlOutbox
from analyzer.alerts.settings import AlertSettings
from analyzer.alerts.worker import DeliveryWorker, status_table
from analyzer.db.models import (
    AlertCursor,
    ChangeEvent,
    FindingAnnouncement,
    Integration,
    Service,
    ThreatEvent,
    WorkerLease,
    core_table,
)
from analyzer.db.session import make_session_factory
from analyzer.db.threats import event_json
from analyzer.inventory.changes import change_dict
from analyzer.inventory.workflow import Triage, endpoint_keys, triage

log = logging.getLogger("apicensus.alerts")

SECRET_FIELDS = ("secret", "previous_secret", "token")
LEASE_NAME = "alert-delivery"
MAX_INTEGRATIONS = 100  # destinations per inventory (each is a queue of up to max_pending rows)
_PUBLISH_CHUNK = 2_000
_SEVERITY_RANK = {"info": 0, "low": 1, "medium": 2, "high": 3, "critical": 4}


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# ------------------------------------------------------------------------------ destinations


def create_integration(session: Session, body: Mapping[str, Any]) -> Destination:
    """Check and store a destination (``DestinationError`` with the reason when invalid)."""
    if not isinstance(body, Mapping):
        raise DestinationError("a destination is a JSON object")
    ident = str(body.get("id") or uuid.uuid4().hex[:12])
    if not ident.replace("-", "").replace("_", "").isalnum() or len(ident) > 64:
        raise DestinationError("id must be 1-64 letters, digits, '-' or '_'")
    destination = parse_destination(body, destination_id=ident)
    if session.get(Integration, ident) is not None:
        raise DestinationError(f"an integration with id {ident!r} exists already")
    if (session.scalar(select(func.count()).select_from(Integration)) or 0) >= MAX_INTEGRATIONS:
        raise DestinationError(f"at most {MAX_INTEGRATIONS} integrations; delete one first")
    config = {k: v for k, v in body.items() if k not in SECRET_FIELDS and k != "id"}
    secrets = {k: body[k] for k in SECRET_FIELDS if body.get(k)}
    now = datetime.now(UTC)
    session.add(
        Integration(
            id=ident, name=destination.name, kind=destination.kind.value, config=config,
            secrets=secrets or None, created_at=now, updated_at=now,
        )
    )
    session.flush()
    return destination


def _destination(row: Integration) -> Destination:
    return parse_destination({**row.config, **(row.secrets or {})}, destination_id=row.id)


def list_integrations(session: Session) -> list[Destination]:
    """Every stored destination that still parses (one that does not is logged and skipped)."""
    out = []
    for row in session.scalars(select(Integration).order_by(Integration.created_at, Integration.id)):
        try:
            out.append(_destination(row))
        except DestinationError as exc:
            log.warning("stored integration is invalid; skipped", extra={"fields": {"id": row.id, "error": str(exc)}})
    return out


def get_integration(session: Session, ident: str) -> Destination | None:
    row = session.get(Integration, ident)
    return None if row is None else _destination(row)


def delete_integration(session: Session, ident: str) -> bool:
    """Remove a destination and what still waits for it (its totals stay in the status table)."""
    row = session.get(Integration, ident)
    if row is None:
        return False
    session.delete(row)
    session.execute(
        delete(OUTBOX).where(OUTBOX.c.destination_id == ident, OUTBOX.c.state.in_(("queued", "held", "failed")))
    )
    return True


def destination_source(engine: Engine) -> Any:
    """A zero-argument callable returning the current destinations (read at most every 2 s)."""
    factory = make_session_factory(engine)
    cache: dict[str, Any] = {"at": None, "value": ()}
    lock = threading.Lock()

    def current() -> Sequence[Destination]:
        with lock:
            now = datetime.now(UTC)
            if cache["at"] is None or now - cache["at"] > timedelta(seconds=2):
                with factory() as session:
                    cache["value"] = tuple(list_integrations(session))
                cache["at"] = now
            value: Sequence[Destination] = cache["value"]
            return value

    return current


def integration_status(engine: Engine, ident: str) -> Mapping[str, object] | None:
    with make_session_factory(engine)() as session:
        destination = get_integration(session, ident)
    if destination is None:
        return None
    return status_table(SqlOutbox(engine), [destination])[0]


# ------------------------------------------------------------------------------ producers


def _services(session: Session, hosts: Iterable[str]) -> dict[str, ServiceRef]:
    wanted = sorted(set(hosts))
    out: dict[str, ServiceRef] = {}
    for start in range(0, len(wanted), 5_000):
        for sid, host, owner, unit, application in session.execute(
            select(Service.id, Service.host, Service.owner, Service.business_unit, Service.application).where(
                Service.host.in_(wanted[start : start + 5_000])
            )
        ):
            out[host] = ServiceRef(host=host, owner=owner, team=unit, application=application, id=sid)
    return out


def sync_findings(session: Session, *, now: datetime | None = None) -> list[dict[str, Any]]:
    """Findings new since the last pass (or whose severity rose), recorded in ``finding_announcements``;
    findings that went away are marked resolved (and count as new when they come back).
    Flushed in ``session``, not committed."""
    fresh, apply = diff_findings(session, now=now)
    apply(session)
    return fresh


def diff_findings(session: Session, *, now: datetime | None = None) -> tuple[list[dict[str, Any]], Any]:
    """What :func:`sync_findings` does, in two steps: read (the new findings) and a function that
    writes the states, so alerts can be enqueued between (a write lock held on SQLite would keep
    the outbox's own connection waiting)."""
    from analyzer.inventory.findings import build_findings

    now = now or datetime.now(UTC)
    items = build_findings(session=session, full_samples=False)
    states = {s.id: (s.severity, s.resolved_at) for s in session.scalars(select(FindingAnnouncement))}
    fresh: list[dict[str, Any]] = []
    inserts: list[dict[str, Any]] = []
    updates: list[tuple[str, dict[str, Any]]] = []
    current = set()
    seen: list[str] = []
    for item in items:
        fid = str(item["id"])[:255]
        current.add(fid)
        state = states.get(fid)
        if state is None:
            inserts.append({"id": fid, "kind": item["kind"], "severity": item["severity"],
                            "endpoint_id": (item.get("endpoint") or {}).get("id"),
                            "first_detected_at": now, "last_detected_at": now, "resolved_at": None})
            fresh.append({**item, "_first": now})
            continue
        raised = _SEVERITY_RANK.get(item["severity"], 0) > _SEVERITY_RANK.get(state[0], 0)
        if state[1] is not None or raised:
            fresh.append({**item, "_first": now})
            updates.append((fid, {"severity": item["severity"], "first_detected_at": now, "resolved_at": None}))
        elif item["severity"] != state[0]:
            updates.append((fid, {"severity": item["severity"]}))
        else:
            seen.append(fid)
    resolved = [fid for fid, state in states.items() if fid not in current and state[1] is None]

    def apply(target: Session) -> None:
        table = core_table(FindingAnnouncement)
        if inserts:
            # Another process (analyze beside serve) may record the same finding first.
            dialect = target.get_bind().dialect.name
            stmt = (postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)).on_conflict_do_nothing()
            target.execute(stmt, inserts)
        for fid, values in updates:
            target.execute(update(table).where(table.c.id == fid).values(**values))
        changed = [fid for fid, _ in updates]
        for start in range(0, len(seen), 5_000):
            target.execute(update(table).where(table.c.id.in_(seen[start : start + 5_000])).values(last_detected_at=now))
        for start in range(0, len(changed), 5_000):
            target.execute(
                update(table).where(table.c.id.in_(changed[start : start + 5_000])).values(last_detected_at=now)
            )
        for start in range(0, len(resolved), 5_000):
            target.execute(
                update(table).where(table.c.id.in_(resolved[start : start + 5_000])).values(resolved_at=now)
            )
        target.flush()

    return fresh, apply


def _finding_alert(item: Mapping[str, Any], services: Mapping[str, ServiceRef]) -> AlertEvent:
    host = (item.get("endpoint") or {}).get("host") or ""
    first = item["_first"]
    return alert_from_finding(item, service=services.get(host), first_seen=first, last_seen=first, detected_at=first)


def _change_alert(change: Mapping[str, Any], services: Mapping[str, ServiceRef]) -> AlertEvent:
    data = {**change, "ts": change["detected_at"]}
    if change["type"] == "new_pii_type" and change.get("subject"):
        data["pii_types"] = [change["subject"]]
    return alert_from_change_event(data, service=services.get(change["host"]), detected_at=change["detected_at"])


def publish(engine: Engine, *, settings: AlertSettings | None = None, findings: bool = True) -> dict[str, int]:
    """Hand pending change rows and new findings to the outbox; returns counts by kind.

    Without any destination, change rows are still marked handed on (a destination added later
    does not receive the history) and findings are still recorded (the "new this run" count)."""
    factory = make_session_factory(engine)
    source = destination_source(engine)
    destinations = source()
    dispatcher = AlertDispatcher(outbox=SqlOutbox(engine), destinations=source, settings=settings)
    counts = {"changes": 0, "findings": 0, "threats": 0, "queued": 0, "silenced": 0}
    table = core_table(ChangeEvent)
    while True:
        with factory() as session:
            rows = list(
                session.execute(
                    select(table).where(table.c.dispatched_at.is_(None)).order_by(table.c.id).limit(_PUBLISH_CHUNK)
                )
            )
            if not rows:
                break
            changes = [change_dict(r) for r in rows]
            services = _services(session, (c["host"] for c in changes)) if destinations else {}
            session.commit()  # no transaction open while the outbox writes (SQLite: one writer)
            if destinations:
                report = dispatcher.submit([_change_alert(c, services) for c in changes])
                counts["queued"] += report.queued
            session.execute(
                update(table).where(table.c.id.in_([c["id"] for c in changes])).values(dispatched_at=datetime.now(UTC))
            )
            session.commit()
            counts["changes"] += len(changes)
    handed, queued, silenced = _publish_threats(factory, dispatcher, bool(destinations))
    counts["threats"] += handed
    counts["queued"] += queued
    counts["silenced"] += silenced
    if findings:
        with factory() as session:
            fresh, apply = diff_findings(session)
            services = _services(session, ((f.get("endpoint") or {}).get("host") or "" for f in fresh))
            silencer = Silencer.read(session) if destinations and fresh else None
            session.commit()
            if destinations and fresh:
                loud = [f for f in fresh if silencer is None or not silencer.finding(f)]
                counts["silenced"] += len(fresh) - len(loud)
                if loud:
                    report = dispatcher.submit([_finding_alert(f, services) for f in loud])
                    counts["queued"] += report.queued
            apply(session)  # after the enqueue: a crash in between re-announces, never loses
            session.commit()
            counts["findings"] = len(fresh)
    return counts


# ------------------------------------------------------------------------------ the workflow's say


@dataclass(frozen=True, slots=True)
class Silencer:
    """What the findings workflow keeps from alerting (read once per publish pass): live
    suppression rules (a finding kind or event type on an endpoint or a whole service) and
    findings triaged as false positive or accepted risk. Silenced items are still recorded as
    handed on, so lifting a rule does not replay the history."""

    triage: Triage
    endpoint_rules: frozenset[tuple[str, str, str, str]]  # (event type, host, method, template)

    @classmethod
    def read(cls, session: Session) -> Silencer:
        tri = triage(session=session)
        where = endpoint_keys(session=session, endpoint_ids=(eid for _kind, eid in tri.on_endpoint))
        rules = frozenset((kind, *where[eid]) for kind, eid in tri.on_endpoint if eid in where)
        return cls(tri, rules)

    def finding(self, item: Mapping[str, Any]) -> bool:
        """True when the finding must not alert."""
        data = dict(item)
        if self.triage.state(data) in _SILENT_STATES:
            return True
        return self.triage.suppressed_by(data) is not None

    def event(self, event: Mapping[str, Any]) -> bool:
        """True when the threat event must not alert."""
        kind, host = str(event.get("type") or ""), str(event.get("host") or "")
        if (kind, host) in self.triage.on_host:
            return True
        return (kind, host, str(event.get("method") or ""), str(event.get("path_template") or "")) in self.endpoint_rules


_SILENT_STATES = frozenset({"false_positive", "accepted_risk"})


THREAT_CURSOR = "threat_events"


def _publish_threats(factory: Any, dispatcher: AlertDispatcher, deliver: bool) -> tuple[int, int, int]:
    """New threat events (ids past the cursor) to the outbox, less those the workflow silences;
    returns (handed on, queued, silenced).

    The cursor moves after the enqueue, so a crash in between re-submits (the dispatcher folds
    repeats by their dedup key): at least once, never lost. Without destinations the events are
    still marked handed on, as change rows are."""
    handed = queued = silenced = 0
    while True:
        with factory() as session:
            cursor = session.get(AlertCursor, THREAT_CURSOR)
            after = cursor.position if cursor is not None else 0
            rows = list(
                session.scalars(
                    select(ThreatEvent).where(ThreatEvent.id > after).order_by(ThreatEvent.id).limit(_PUBLISH_CHUNK)
                )
            )
            if not rows:
                break
            events = [event_json(r) for r in rows]
            last = rows[-1].id
            services = _services(session, (str(e.get("host") or "") for e in events)) if deliver else {}
            silencer = Silencer.read(session) if deliver else None
            session.commit()  # no transaction open while the outbox writes (SQLite: one writer)
            if deliver:
                loud = [e for e in events if silencer is None or not silencer.event(e)]
                silenced += len(events) - len(loud)
                alerts = [alert_from_threat_event(e, service=services.get(str(e.get("host") or ""))) for e in loud]
                if alerts:
                    queued += dispatcher.submit(alerts).queued
            if cursor is None:
                session.add(AlertCursor(name=THREAT_CURSOR, position=last))
            else:
                session.execute(update(AlertCursor).where(AlertCursor.name == THREAT_CURSOR).values(position=last))
            session.commit()
            handed += len(rows)
    return handed, queued, silenced


def submit_threat_events(events: Iterable[Mapping[str, Any]], *, engine: Engine) -> int:
    """Threat events (issue 11's shape: id, type, subtype, severity, host, method, path_template,
    actor, first_seen, last_seen, count, evidence) to every destination that wants them; returns
    how many were queued. Safe to call again with the same events (throttled and folded)."""
    batch = list(events)
    if not batch:
        return 0
    source = destination_source(engine)
    if not source():
        return 0
    with make_session_factory(engine)() as session:
        services = _services(session, (str(e.get("host") or "") for e in batch))
    alerts = [alert_from_threat_event(e, service=services.get(str(e.get("host") or ""))) for e in batch]
    return AlertDispatcher(outbox=SqlOutbox(engine), destinations=source).submit(alerts).queued


def submit_alerts(alerts: Iterable[AlertEvent], *, engine: Engine) -> int:
    """Ready-made alerts (e.g. ``analyzer/pipeline/detect.py::events_to_alerts``) to the outbox."""
    batch = list(alerts)
    source = destination_source(engine)
    if not batch or not source():
        return 0
    return AlertDispatcher(outbox=SqlOutbox(engine), destinations=source).submit(batch).queued


# ------------------------------------------------------------------------------ one worker


def take_lease(engine: Engine, holder: str, *, seconds: float, name: str = LEASE_NAME) -> bool:
    """Take or renew the named lease for ``holder``; False while another holder's is current."""
    table = core_table(WorkerLease)
    now = datetime.now(UTC)
    until = now + timedelta(seconds=seconds)
    with engine.begin() as conn:
        taken = conn.execute(
            update(table)
            .where(table.c.name == name, or_(table.c.holder == holder, table.c.lease_until < now))
            .values(holder=holder, lease_until=until)
        ).rowcount
        if taken:
            return True
        if conn.execute(select(table.c.name).where(table.c.name == name)).first() is not None:
            return False
    try:
        with engine.begin() as conn:
            conn.execute(insert(table).values(name=name, holder=holder, lease_until=until))
        return True
    except Exception:  # noqa: BLE001 - another process inserted it first
        return False


def release_lease(engine: Engine, holder: str, *, name: str = LEASE_NAME) -> None:
    table = core_table(WorkerLease)
    with engine.begin() as conn:
        conn.execute(delete(table).where(table.c.name == name, table.c.holder == holder))


class DeliveryService:
    """One per server process: the lease holder delivers and publishes, the rest stand by."""

    def __init__(
        self,
        engine: Engine,
        *,
        settings: AlertSettings | None = None,
        lease_seconds: float | None = None,
        publish_seconds: float | None = None,
    ) -> None:
        self.engine = engine
        self.settings = settings or AlertSettings.from_env()
        self.lease_seconds = lease_seconds or float(os.environ.get("APICENSUS_ALERT_WORKER_LEASE_SECONDS") or 15)
        self.publish_seconds = publish_seconds or float(os.environ.get("APICENSUS_ALERT_PUBLISH_SECONDS") or 10)
        self.holder = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.worker: DeliveryWorker | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_publish: datetime | None = None
        self._last_findings: datetime | None = None
        self._changed = False

    @property
    def active(self) -> bool:
        return self.worker is not None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="alert-delivery-lease", daemon=True)
        self._thread.start()

    def notify(self) -> None:
        if self.worker is not None:
            self.worker.notify()

    def _loop(self) -> None:
        interval = max(self.lease_seconds / 3, 0.2)
        while not self._stop.is_set():
            try:
                self._round()
            except Exception:  # the database away: stand by, try again
                log.exception("alert delivery lease round failed")
                self._stop_worker()
            self._stop.wait(interval)

    def _round(self) -> None:
        if not take_lease(self.engine, self.holder, seconds=self.lease_seconds):
            self._stop_worker()
            return
        if self.worker is None:
            self.worker = DeliveryWorker(
                outbox=SqlOutbox(self.engine), destinations=destination_source(self.engine), settings=self.settings
            )
            self.worker.start()
            log.info("alert delivery worker started", extra={"fields": {"holder": self.holder}})
        now = datetime.now(UTC)
        if self._last_publish is None or now - self._last_publish >= timedelta(seconds=self.publish_seconds):
            self._last_publish = now
            # Findings are re-read over the whole inventory: after changes, else every 5 minutes.
            due = self._last_findings is None or now - self._last_findings >= timedelta(minutes=5)
            with_findings = due or self._changed
            counts = publish(self.engine, settings=self.settings, findings=with_findings)
            # Changes handed on now: their findings are read in this pass and the next one.
            self._changed = counts["changes"] > 0
            if with_findings:
                self._last_findings = now
            if counts["queued"]:
                self.worker.notify()

    def _stop_worker(self) -> None:
        worker, self.worker = self.worker, None
        if worker is not None:
            worker.stop()

    def stop(self) -> None:
        """Let in-flight sends finish and be recorded, release the rest and the lease."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        was_active = self.worker is not None
        self._stop_worker()
        if was_active:
            try:
                release_lease(self.engine, self.holder)
            except Exception:  # noqa: BLE001 - the lease lapses by itself
                log.warning("alert delivery lease not released; it lapses by itself")
