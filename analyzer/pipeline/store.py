"""Stage 4, store: the one writer. A batch's aggregate goes into the inventory inside the
caller's transaction: bulk upserts of services, endpoints and their counter tables, noise,
unmatched-request statistics, then
the templater's merges (they re-home counts of earlier batches and of this one alike), the
templater state as of the batch, and the batch's exchange uids (so a re-run counts nothing twice).

Also the templater's load from the stored state and the imported specs that guide it.

A later stage with tables of its own (threat events, change history) writes them right after
:func:`store_batch`, in the same transaction, with the endpoint ids it returns
(:class:`Stored`): run.py's ``Analyzer._complete`` and ingest.py's ``_write_locked`` are the two
call sites, the one place each for such a consumer (it reads ``Aggregate.items``, ``matches`` and
``pii_results``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from analyzer.db import crud
from analyzer.db.models import (
    GRAPHQL_COUNTERS,
    MAX_PATH_CHARS,
    EndpointAuth,
    EndpointContentType,
    EndpointField,
    EndpointGraphql,
    EndpointHourly,
    EndpointParam,
    EndpointPeer,
    EndpointResponseHeader,
    EndpointStatus,
    PiiFinding,
    SpecOperation,
)
from analyzer.db.session import session_scope
from analyzer.observation import clean_text
from analyzer.pipeline.aggregate import Aggregate, EndpointKey


def _dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


@dataclass(frozen=True, slots=True)
class Stored:
    merges: int  # templater merges that re-homed stored endpoints
    # The batch's endpoints as stored (before merges re-homed any), for rows of later stages.
    endpoint_ids: dict[EndpointKey, int]


def store_batch(session: Session, batch: Aggregate, uids: Iterable[str]) -> Stored:
    """Write ``batch`` and mark ``uids`` seen, in ``session``'s transaction; what the batch
    changed in the inventory goes into the change history in the same transaction."""
    from analyzer.inventory.changes import record_batch_changes

    learned = datetime.now(UTC)
    stored = _write(session, batch, learned)
    record_batch_changes(session, batch, stored.endpoint_ids, detected_at=learned)
    crud.mark_seen(session=session, uids=uids)
    return stored


def _write(session: Session, batch: Aggregate, learned: datetime) -> Stored:
    services, endpoints, noise, merges = batch.services, batch.endpoints, batch.noise, batch.merges
    service_ids = crud.upsert_services(
        session=session,
        rows=[
            {"host": host, "hits": int(v[0]), "first_seen": _dt(v[1]), "last_seen": _dt(v[2])}
            for host, v in services.items()
        ],
    )
    endpoint_rows = []
    for (host, method, template), agg in endpoints.items():
        endpoint_rows.append(
            {
                "service_id": service_ids[host],
                "method": method,
                "path_template": template,
                "template_id": agg.template_id,
                "hits": agg.hits,
                "first_seen": _dt(agg.first),
                "last_seen": _dt(agg.last),
                "authenticated_hits": agg.authenticated,
                "unauthenticated_hits": agg.unauthenticated,
                "unauthenticated_2xx": agg.unauth_2xx,
                "request_bodies": agg.request_bodies,
                "response_bodies": agg.response_bodies,
            }
        )
    endpoint_ids = crud.upsert_endpoints(session=session, rows=endpoint_rows)
    children: dict[type[Any], list[dict[str, Any]]] = {
        m: []
        for m in (
            EndpointStatus,
            EndpointHourly,
            EndpointPeer,
            EndpointAuth,
            EndpointParam,
            EndpointContentType,
            EndpointField,
            EndpointResponseHeader,
            EndpointGraphql,
            PiiFinding,
        )
    }
    for (host, method, template), agg in endpoints.items():
        eid = endpoint_ids[(service_ids[host], method, template)]
        children[EndpointStatus] += [
            {"endpoint_id": eid, "status": k, "count": v} for k, v in agg.status.items()
        ]
        children[EndpointHourly] += [
            {"endpoint_id": eid, "hour": _dt(k), "count": v} for k, v in agg.hourly.items()
        ]
        children[EndpointPeer] += [
            {
                "endpoint_id": eid,
                "kind": kind,
                "address": clean_text(addr, 64),
                "count": int(v[0]),
                "first_seen": _dt(v[1]),
                "last_seen": _dt(v[2]),
            }
            for (kind, addr), v in agg.peers.items()
        ]
        children[EndpointAuth] += [
            {"endpoint_id": eid, "scheme": k, "count": v} for k, v in agg.auth.items()
        ]
        # Parameters and fields carry the endpoint's time range within the batch (per-item
        # timestamps would cost the hot aggregation loop; a batch spans seconds to minutes).
        seen = {"first_seen": _dt(agg.first), "last_seen": _dt(agg.last), "learned_at": learned}
        children[EndpointParam] += [
            {"endpoint_id": eid, "location": loc, "name": name, "type": typ, "count": v, **seen}
            for (loc, name, typ), v in agg.params.items()
        ]
        children[EndpointContentType] += [
            {"endpoint_id": eid, "part": part, "content_type": ct, "count": v}
            for (part, ct), v in agg.content_types.items()
        ]
        fields: Counter[tuple[str, str, str]] = Counter()
        for (part, fieldset), n in agg.fieldsets.items():
            for path, typ in fieldset:
                fields[(part, path, typ)] += n
        children[EndpointField] += [
            {"endpoint_id": eid, "part": part, "path": path, "type": typ, "count": v, **seen}
            for (part, path, typ), v in fields.items()
        ]
        children[EndpointResponseHeader] += [
            {"endpoint_id": eid, "name": name, "count": v} for name, v in agg.response_headers.items()
        ]
        if agg.graphql is not None:
            children[EndpointGraphql].append(dict(zip(GRAPHQL_COUNTERS, agg.graphql, strict=True), endpoint_id=eid))
        children[PiiFinding] += [
            {
                "endpoint_id": eid,
                "type": typ,
                "location": loc,
                "field": fld,
                "count": v[0],
                "sample": v[1],
                "first_seen": _dt(v[2]),
                "last_seen": _dt(v[3]),
            }
            for (typ, loc, fld), v in agg.pii.items()
        ]
    crud.upsert_endpoint_children(session=session, rows_by_model=children)
    crud.upsert_noise(
        session=session,
        rows=[
            {
                "host": host,
                "method": method,
                "path": path,
                "status": status,
                "count": int(v[0]),
                "first_seen": _dt(v[1]),
                "last_seen": _dt(v[2]),
            }
            for (host, method, path, status), v in noise.items()
        ],
    )
    crud.upsert_unmatched(
        session=session,
        rows=[
            {
                "host": host,
                "method": method,
                "kind": kind,
                "sample": sample,
                "count": int(v[0]),
                "first_seen": _dt(v[1]),
                "last_seen": _dt(v[2]),
            }
            for (host, method, kind, sample), v in batch.unmatched.items()
        ],
    )
    # Merges after this batch's rows are in: they re-home earlier batches and this one alike.
    merged = _rehome(session, merges)
    # The state as of this batch (the next one may already be observed): a crash after this
    # commit resumes with templates and counts that agree.
    crud.save_templater_state(session=session, state=batch.templater_state)
    ids = {(host, method, template): endpoint_ids[(service_ids[host], method, template)]
           for host, method, template in endpoints}
    return Stored(merges=merged, endpoint_ids=ids)


def _rehome(session: Session, merges: Iterable[tuple[str, str, str, str]]) -> int:
    merged = 0
    for host, method, old, new in merges:
        if crud.rehome_endpoint(
            session=session,
            host=host,
            method=method,
            old_template=clean_text(old, MAX_PATH_CHARS),
            new_template=clean_text(new, MAX_PATH_CHARS),
        ):
            merged += 1
    return merged


def store_consolidation(session: Session, templater: Any, *, state: bytes | None = None) -> tuple[int, bytes | None]:
    """End of a batch analyze or a stream pause: ``templater.consolidate()`` (every host folded
    to a fixed point), the counts of the merges it returns re-homed and the state saved, in
    ``session``'s transaction. Returns (merges that re-homed stored endpoints, the state as now
    saved, or None when consolidating changed nothing and nothing was written).

    ``state`` is the stored state's JSON as the caller knows it (shared ingestion): when the
    consolidated state is the same bytes, nothing is written, so idle writers that consolidate
    in turn do not bump the state's generation and make each other reload it.
    """
    merges = templater.consolidate()
    saved = orjson.dumps(templater.to_state())
    if not merges and state is not None and saved == state:
        return 0, None
    merged = _rehome(session, merges)
    crud.save_templater_state(session=session, state=saved)
    return merged, saved


# ------------------------------------------------------------------------------ the templater


def load_templater(engine: Engine, on_error: Callable[[str], None] | None = None) -> Any:
    """The templater as the database stores it (a fresh one when there is none)."""
    from analyzer.templating import Templater

    with session_scope(engine) as session:
        state = crud.load_templater_state(session=session)
    if not state:
        return Templater()
    try:
        return Templater.from_state(state)
    except Exception as exc:  # noqa: BLE001 - e.g. a state written by an older templater
        # Template ids are a pure function of (host, method, template), so a fresh templater
        # re-learns the same templates for the same traffic; stored counts are untouched.
        if on_error is not None:
            on_error(
                f"templating state in the database could not be loaded ({type(exc).__name__}: {exc}); "
                "templates are re-learned from this run"
            )
        return Templater()


def load_spec_templates(engine: Engine, templater: Any) -> None:
    """Imported OpenAPI operations guide templating: a host's documented templates win.

    Every imported version counts (an operation removed from the latest spec still names the
    template its old traffic had); ``load_spec`` ignores what it already knows.
    """
    with session_scope(engine) as session:
        rows = session.execute(
            select(SpecOperation.host, SpecOperation.method, SpecOperation.path_template)
            .where(SpecOperation.host.is_not(None))
            .order_by(SpecOperation.id)
        ).all()
    by_host: dict[str, list[tuple[str, str]]] = {}
    for host, method, template in rows:
        if host is not None:
            by_host.setdefault(host, []).append((method, template))
    for host, operations in by_host.items():
        templater.load_spec(host, operations)
