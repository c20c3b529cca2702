"""Change history of the inventory: one row per change, with before/after (table ``changes``).

| type | when | before / after |
|---|---|---|
| ``new_service`` | a host seen for the first time | - / hits, first seen |
| ``new_endpoint`` | an endpoint (method + template) seen for the first time | - / hits, unauthenticated 2xx, PII types |
| ``new_parameter`` | a path/query parameter new on a known endpoint | - / location, name, types |
| ``new_response_field`` | a response body field new on a known endpoint | - / path, types |
| ``new_pii_type`` | a PII type new on a known endpoint | types before / types after |
| ``unauthenticated_2xx`` | a known endpoint answers 2xx without credentials for the first time | 0 / count |
| ``endpoint_unseen`` | no traffic for ``APICENSUS_UNSEEN_DAYS`` (30) days, counted back from the newest observation | last seen / days |
| ``became_shadow`` | a documented endpoint no longer matches the latest spec | verdict / verdict |
| ``became_zombie`` | an endpoint became deprecated, superseded, removed or sunset | verdict / verdict, reasons |

"New" is read from the counts, with no query before the write: a key whose stored count equals
what this batch added was not there before (counts only grow, and re-analysis counts nothing
twice). Details of a new endpoint (its parameters, fields, PII) are in its ``new_endpoint`` row,
not rows of their own. ``observed_at`` is capture time; ``detected_at`` when the inventory learned
it. The table is bounded: past :data:`MAX_ROWS` the oldest rows go.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, exists, func, insert, select
from sqlalchemy.orm import Session

from analyzer.db.models import (
    ChangeEvent,
    Endpoint,
    EndpointField,
    EndpointParam,
    PiiFinding,
    Service,
    core_table,
)
from analyzer.pipeline.aggregate import Aggregate, EndpointKey

CHANGE_TYPES = (
    "new_service",
    "new_endpoint",
    "new_parameter",
    "new_response_field",
    "new_pii_type",
    "unauthenticated_2xx",
    "endpoint_unseen",
    "became_shadow",
    "became_zombie",
)
SEVERITY = {
    "new_service": "low",
    "new_endpoint": "low",
    "new_parameter": "info",
    "new_response_field": "info",
    "new_pii_type": "medium",
    "unauthenticated_2xx": "high",
    "endpoint_unseen": "info",
    "became_shadow": "medium",
    "became_zombie": "medium",
}
MAX_ROWS = int(os.environ.get("APICENSUS_CHANGES_MAX_ROWS") or 200_000)
_CHUNK = 5_000


def unseen_days() -> float:
    """``APICENSUS_UNSEEN_DAYS`` (default 30): how long without traffic makes ``endpoint_unseen``."""
    raw = os.environ.get("APICENSUS_UNSEEN_DAYS")
    try:
        value = float(raw) if raw else 30.0
    except ValueError:
        raise ValueError(f"APICENSUS_UNSEEN_DAYS must be a number of days, got {raw!r}") from None
    if value <= 0:
        raise ValueError("APICENSUS_UNSEEN_DAYS must be > 0")
    return value


def _dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _chunks(items: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def record_batch_changes(
    session: Session, batch: Aggregate, endpoint_ids: Mapping[EndpointKey, int], *, detected_at: datetime
) -> int:
    """Change rows for what ``batch`` (just written) added to the inventory; returns how many."""
    rows: list[dict[str, Any]] = []
    hosts = list(batch.services)
    service_rows: dict[str, tuple[int, int]] = {}
    for chunk in _chunks(hosts):
        for sid, host, hits in session.execute(
            select(Service.id, Service.host, Service.hits).where(Service.host.in_(chunk))
        ):
            service_rows[host] = (sid, int(hits))
    for host, values in batch.services.items():
        stored = service_rows.get(host)
        hits, first = int(values[0]), _dt(values[1])
        if stored is not None and stored[1] == hits:
            rows.append(
                _row("new_service", host, detected_at, first, service_id=stored[0],
                     after={"hits": hits, "first_seen": first.isoformat()})
            )
    ids = {eid: key for key, eid in endpoint_ids.items()}
    stored_eps: dict[int, tuple[int, int, int]] = {}
    for chunk in _chunks(list(ids)):
        for eid, sid, hits, unauth in session.execute(
            select(Endpoint.id, Endpoint.service_id, Endpoint.hits, Endpoint.unauthenticated_2xx).where(
                Endpoint.id.in_(chunk)
            )
        ):
            stored_eps[eid] = (sid, int(hits), int(unauth))
    known: dict[int, EndpointKey] = {}
    for eid, key in ids.items():
        if eid not in stored_eps:  # merged away by the templater in this batch
            continue
        sid, hits, unauth = stored_eps[eid]
        agg = batch.endpoints[key]
        host, method, template = key
        if hits == agg.hits:
            rows.append(
                _row(
                    "new_endpoint", host, detected_at, _dt(agg.first), service_id=sid, endpoint_id=eid,
                    method=method, path_template=template,
                    after={
                        "hits": agg.hits,
                        "first_seen": _dt(agg.first).isoformat(),
                        "unauthenticated_2xx": agg.unauth_2xx,
                        "parameters": sorted({f"{loc}:{name}" for loc, name, _ in agg.params})[:50],
                        "pii_types": sorted({t for t, _, _ in agg.pii})[:50],
                    },
                )
            )
            continue
        known[eid] = key
        if agg.unauth_2xx and unauth == agg.unauth_2xx:
            rows.append(
                _row(
                    "unauthenticated_2xx", host, detected_at, _dt(agg.first), service_id=sid, endpoint_id=eid,
                    method=method, path_template=template,
                    before={"unauthenticated_2xx": 0}, after={"unauthenticated_2xx": agg.unauth_2xx},
                )
            )
    if known:
        rows += _new_children(session, batch, known, stored_eps, detected_at)
    return record(session, rows)


def _new_children(
    session: Session,
    batch: Aggregate,
    known: Mapping[int, EndpointKey],
    stored_eps: Mapping[int, tuple[int, int, int]],
    detected_at: datetime,
) -> list[dict[str, Any]]:
    """New parameters, response fields and PII types on endpoints the inventory already knew."""
    rows: list[dict[str, Any]] = []
    batch_params: dict[tuple[int, str, str], int] = defaultdict(int)
    param_types: dict[tuple[int, str, str], set[str]] = defaultdict(set)
    batch_fields: dict[tuple[int, str], int] = defaultdict(int)
    field_types: dict[tuple[int, str], set[str]] = defaultdict(set)
    batch_pii: dict[tuple[int, str], int] = defaultdict(int)
    for eid, key in known.items():
        agg = batch.endpoints[key]
        for (loc, name, typ), n in agg.params.items():
            batch_params[(eid, loc, name)] += n
            param_types[(eid, loc, name)].add(typ)
        for (part, fieldset), n in agg.fieldsets.items():
            if part == "response":
                for path, typ in fieldset:
                    batch_fields[(eid, path)] += n
                    field_types[(eid, path)].add(typ)
        for (typ, _loc, _fld), values in agg.pii.items():
            batch_pii[(eid, typ)] += int(values[0])
    eids = list(known)
    stored_params: dict[tuple[int, str, str], int] = {}
    stored_fields: dict[tuple[int, str], int] = {}
    stored_pii: dict[tuple[int, str], int] = {}
    pii_before: dict[int, set[str]] = defaultdict(set)
    for chunk in _chunks(eids):
        if batch_params:
            for eid, loc, name, n in session.execute(
                select(EndpointParam.endpoint_id, EndpointParam.location, EndpointParam.name,
                       func.sum(EndpointParam.count))
                .where(EndpointParam.endpoint_id.in_(chunk))
                .group_by(EndpointParam.endpoint_id, EndpointParam.location, EndpointParam.name)
            ):
                stored_params[(eid, loc, name)] = int(n)
        if batch_fields:
            for eid, path, n in session.execute(
                select(EndpointField.endpoint_id, EndpointField.path, func.sum(EndpointField.count))
                .where(EndpointField.endpoint_id.in_(chunk), EndpointField.part == "response")
                .group_by(EndpointField.endpoint_id, EndpointField.path)
            ):
                stored_fields[(eid, path)] = int(n)
        if batch_pii:
            for eid, typ, n in session.execute(
                select(PiiFinding.endpoint_id, PiiFinding.type, func.sum(PiiFinding.count))
                .where(PiiFinding.endpoint_id.in_(chunk))
                .group_by(PiiFinding.endpoint_id, PiiFinding.type)
            ):
                stored_pii[(eid, typ)] = int(n)
    for (eid, typ), n in stored_pii.items():
        if batch_pii.get((eid, typ)) != n:
            pii_before[eid].add(typ)

    def base(eid: int) -> dict[str, Any]:
        host, method, template = known[eid]
        agg = batch.endpoints[known[eid]]
        return {"host": host, "observed_at": _dt(agg.first), "service_id": stored_eps[eid][0],
                "endpoint_id": eid, "method": method, "path_template": template}

    for (eid, loc, name), n in batch_params.items():
        if stored_params.get((eid, loc, name)) == n:
            rows.append(_row("new_parameter", detected_at=detected_at, subject=f"{loc}:{name}"[:512],
                             after={"location": loc, "name": name, "types": sorted(param_types[(eid, loc, name)])},
                             **base(eid)))
    for (eid, path), n in batch_fields.items():
        if stored_fields.get((eid, path)) == n:
            rows.append(_row("new_response_field", detected_at=detected_at, subject=path[:512],
                             after={"path": path, "types": sorted(field_types[(eid, path)])}, **base(eid)))
    new_pii: dict[int, list[str]] = defaultdict(list)
    for (eid, typ), n in batch_pii.items():
        if stored_pii.get((eid, typ)) == n:
            new_pii[eid].append(typ)
    for eid, types in new_pii.items():
        before = sorted(pii_before[eid])
        for typ in sorted(types):
            rows.append(_row("new_pii_type", detected_at=detected_at, subject=typ,
                             before={"pii_types": before},
                             after={"pii_types": sorted(set(before) | set(types)), "new": typ}, **base(eid)))
    return rows


def _row(
    change_type: str,
    host: str,
    detected_at: datetime,
    observed_at: datetime,
    *,
    service_id: int | None = None,
    endpoint_id: int | None = None,
    method: str | None = None,
    path_template: str | None = None,
    subject: str | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "type": change_type,
        "severity": SEVERITY[change_type],
        "host": host,
        "service_id": service_id,
        "endpoint_id": endpoint_id,
        "method": method,
        "path_template": path_template,
        "subject": subject,
        "before": before,
        "after": after,
        "observed_at": observed_at,
        "detected_at": detected_at,
        "dispatched_at": None,
    }


def record(session: Session, rows: Sequence[dict[str, Any]]) -> int:
    """Insert change rows and keep the table within :data:`MAX_ROWS` (oldest go first)."""
    if not rows:
        return 0
    table = core_table(ChangeEvent)
    for chunk in _chunks(list(rows)):
        session.execute(insert(table), list(chunk))
    newest = session.scalar(select(func.max(table.c.id)))
    if newest is not None and newest > MAX_ROWS:
        session.execute(delete(table).where(table.c.id <= newest - MAX_ROWS))
    return len(rows)


def record_verdict_changes(
    session: Session,
    before: Mapping[int, tuple[Any, ...]],
    after: Iterable[Mapping[str, Any]],
    *,
    detected_at: datetime | None = None,
) -> int:
    """``became_shadow`` / ``became_zombie`` from verdict rows before (``(documented, shadow,
    zombie, zombie_reasons, ...)`` by endpoint id) and after a recompute. Endpoints without a
    previous verdict are new, reported as ``new_endpoint`` already."""
    when = detected_at or datetime.now(UTC)
    transitions: list[tuple[int, str, dict[str, Any], dict[str, Any]]] = []
    for row in after:
        old = before.get(row["endpoint_id"])
        if old is None:
            continue
        old_word = "zombie" if old[2] else ("documented" if old[0] else "shadow")
        new_word = "zombie" if row["zombie"] else ("documented" if row["documented"] else "shadow")
        if row["shadow"] and not old[1]:
            transitions.append((row["endpoint_id"], "became_shadow", {"verdict": old_word}, {"verdict": new_word}))
        if row["zombie"] and not old[2]:
            reasons = [r.get("reason") for r in row.get("zombie_reasons") or []]
            transitions.append(
                (row["endpoint_id"], "became_zombie", {"verdict": old_word},
                 {"verdict": new_word, "reasons": reasons})
            )
    if not transitions:
        return 0
    eids = sorted({t[0] for t in transitions})
    where: dict[int, tuple[Any, ...]] = {}
    for chunk in _chunks(eids):
        for eid, sid, host, method, path, last in session.execute(
            select(Endpoint.id, Endpoint.service_id, Service.host, Endpoint.method, Endpoint.path_template,
                   Endpoint.last_seen)
            .join(Service, Service.id == Endpoint.service_id)
            .where(Endpoint.id.in_(chunk))
        ):
            where[eid] = (sid, host, method, path, _utc(last))
    rows = []
    for eid, change_type, old_value, new_value in transitions:
        if eid not in where:
            continue
        sid, host, method, path, last = where[eid]
        rows.append(_row(change_type, host, when, last, service_id=sid, endpoint_id=eid, method=method,
                         path_template=path, before=old_value, after=new_value))
    return record(session, rows)


def record_unseen(session: Session, *, days: float | None = None, detected_at: datetime | None = None) -> int:
    """``endpoint_unseen`` for endpoints quiet for ``days`` (counted back from the newest
    observation, as findings do), once per quiet spell (keyed by the endpoint's last seen)."""
    days = unseen_days() if days is None else days
    newest = session.scalar(select(func.max(Endpoint.last_seen)))
    if newest is None:
        return 0
    cutoff = _utc(newest) - timedelta(days=days)
    ch = core_table(ChangeEvent)
    reported = exists().where(
        and_(ch.c.endpoint_id == Endpoint.id, ch.c.type == "endpoint_unseen", ch.c.observed_at == Endpoint.last_seen)
    )
    stmt = (
        select(Endpoint.id, Endpoint.service_id, Service.host, Endpoint.method, Endpoint.path_template,
               Endpoint.last_seen)
        .join(Service, Service.id == Endpoint.service_id)
        .where(Endpoint.last_seen < cutoff, ~reported)
        .order_by(Endpoint.id)
        .limit(MAX_ROWS // 10)
    )
    when = detected_at or datetime.now(UTC)
    rows = [
        _row("endpoint_unseen", host, when, last, service_id=sid, endpoint_id=eid, method=method,
             path_template=path, before={"last_seen": _utc(last).isoformat()},
             after={"unseen_days": round((_utc(newest) - _utc(last)).total_seconds() / 86400, 1)})
        for eid, sid, host, method, path, last in session.execute(stmt)
    ]
    return record(session, rows)


def change_dict(row: Any) -> dict[str, Any]:
    """A stored change as the API, the alerts and the CLI show it."""
    return {
        "id": int(row.id),
        "type": row.type,
        "severity": row.severity,
        "host": row.host,
        "service_id": row.service_id,
        "endpoint_id": row.endpoint_id,
        "method": row.method,
        "path_template": row.path_template,
        "subject": row.subject,
        "before": row.before,
        "after": row.after,
        "observed_at": _utc(row.observed_at),
        "detected_at": _utc(row.detected_at),
    }


def count_since(session: Session, since: datetime) -> dict[str, int]:
    """Changes learned at or after ``since``, by type (the CLI's "new this run")."""
    ch = core_table(ChangeEvent)
    return {
        t: int(n)
        for t, n in session.execute(
            select(ch.c.type, func.count()).where(ch.c.detected_at >= since).group_by(ch.c.type)
        )
    }


__all__ = [
    "CHANGE_TYPES",
    "change_dict",
    "count_since",
    "record",
    "record_batch_changes",
    "record_unseen",
    "record_verdict_changes",
]
