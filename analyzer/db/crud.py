"""Data access for the analyzer: keyword-only functions over a ``Session``.

Every write is a bulk ``INSERT ... ON CONFLICT DO UPDATE`` built for the session's dialect
(PostgreSQL in production, SQLite embedded), so a batch costs a few statements whatever its size.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, cast

import orjson
from sqlalchemy import ARRAY, ColumnElement, String, Table, bindparam, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session

from analyzer.db.models import (
    Endpoint,
    EndpointAuth,
    EndpointContentType,
    EndpointField,
    EndpointGraphql,
    EndpointHourly,
    EndpointParam,
    EndpointPeer,
    EndpointResponseHeader,
    EndpointStatus,
    NoisePath,
    PiiFinding,
    SeenExchange,
    Service,
    SpecOperation,
    TemplaterState,
    ThreatEvent,
    TlsService,
    UnmatchedRequest,
    core_table,
)

TEMPLATER_STATE_ID = 1

# Per child table: primary-key columns besides endpoint_id, and how the other columns merge.
# Parameters and body fields: capture-time range widened, when the inventory learned it kept.
_SEEN_MERGE = {"count": "add", "first_seen": "least", "last_seen": "greatest", "learned_at": "keep"}
_CHILD_TABLES: tuple[tuple[type[Any], tuple[str, ...], dict[str, str]], ...] = (
    (EndpointStatus, ("status",), {"count": "add"}),
    (EndpointHourly, ("hour",), {"count": "add"}),
    (EndpointPeer, ("kind", "address"), {"count": "add", "first_seen": "least", "last_seen": "greatest"}),
    (EndpointAuth, ("scheme",), {"count": "add"}),
    (EndpointParam, ("location", "name", "type"), _SEEN_MERGE),
    (EndpointContentType, ("part", "content_type"), {"count": "add"}),
    (EndpointField, ("part", "path", "type"), _SEEN_MERGE),
    (EndpointResponseHeader, ("name",), {"count": "add"}),
    (
        EndpointGraphql,
        (),
        {"operations": "add", "errors": "add", "errored_operations": "add", "introspection": "add",
         "introspection_unauthenticated": "add", "max_depth": "greatest", "max_width": "greatest",
         "max_fields": "greatest"},
    ),
    (
        PiiFinding,
        ("type", "location", "field"),
        {"count": "add", "first_seen": "least", "last_seen": "greatest", "sample": "keep"},
    ),
)

_ENDPOINT_MERGE = {
    "hits": "add",
    "first_seen": "least",
    "last_seen": "greatest",
    "authenticated_hits": "add",
    "unauthenticated_hits": "add",
    "unauthenticated_2xx": "add",
    "request_bodies": "add",
    "response_bodies": "add",
    "template_id": "replace",
}
_SERVICE_MERGE = {"hits": "add", "first_seen": "least", "last_seen": "greatest"}
_OWNERSHIP = ("owner", "application", "business_unit", "tags", "review_state", "spec_verdict")


def _insert(session: Session, table: Table) -> Any:
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"unsupported database dialect {dialect!r} (use PostgreSQL or SQLite)")


def _merge_expr(session: Session, how: str, current: Any, incoming: Any) -> ColumnElement[Any]:
    is_pg = session.get_bind().dialect.name == "postgresql"
    if how == "add":
        added: ColumnElement[Any] = current + incoming
        return added
    if how == "least":
        # SQLite's two-argument min()/max() are the scalar LEAST/GREATEST.
        return func.least(current, incoming) if is_pg else func.min(current, incoming)
    if how == "greatest":
        return func.greatest(current, incoming) if is_pg else func.max(current, incoming)
    if how == "keep":
        return func.coalesce(current, incoming)
    if how == "replace":
        return func.coalesce(incoming, current)
    raise ValueError(how)


def _upsert(session: Session, table: Table, *, keys: Sequence[str], merge: Mapping[str, str]) -> Any:
    stmt = _insert(session, table)
    return stmt.on_conflict_do_update(
        index_elements=list(keys), set_=_conflict_set(session, table, stmt, merge)
    )


def _bulk(session: Session, stmt: Any, rows: Sequence[Mapping[str, Any]]) -> None:
    """Execute a bulk upsert as multi-row VALUES statements.

    SQLAlchemy's "insertmanyvalues" batching applies to ON CONFLICT statements only when they have
    RETURNING; without it psycopg2 falls back to one round trip per row (~50x slower here).
    """
    table = stmt.table
    first_key = next(iter(table.primary_key.columns))
    session.execute(stmt.returning(first_key), list(rows)).close()


def filter_unseen_uids(*, session: Session, uids: Sequence[str]) -> set[str]:
    """The subset of ``uids`` not yet analysed."""
    if not uids:
        return set()
    table = core_table(SeenExchange)
    seen: set[str] = set()
    if session.get_bind().dialect.name == "postgresql":
        # One array parameter: compiling an IN list of thousands of bound values costs more
        # CPU than the query itself.
        stmt = select(table.c.uid).where(table.c.uid == func.any(bindparam("uids", type_=ARRAY(String))))
        seen.update(session.scalars(stmt, {"uids": list(uids)}))
        return set(uids) - seen
    # SQLite: chunked, it caps bound parameters per statement.
    for start in range(0, len(uids), 10_000):
        chunk = list(uids[start : start + 10_000])
        seen.update(session.scalars(select(table.c.uid).where(table.c.uid.in_(chunk))))
    return set(uids) - seen


def mark_seen(*, session: Session, uids: Iterable[str]) -> None:
    uid_list = list(uids)
    if not uid_list:
        return
    table = core_table(SeenExchange)
    if session.get_bind().dialect.name == "postgresql":
        # The biggest insert of a batch (one row per exchange): one array parameter unnested
        # server-side instead of thousands of bound values.
        source = select(func.unnest(bindparam("uids", type_=ARRAY(String))), func.now())
        stmt = postgresql.insert(table).from_select(["uid", "seen_at"], source).on_conflict_do_nothing()
        session.execute(stmt, {"uids": uid_list})
        return
    now = datetime.now(UTC)
    _bulk(
        session,
        _insert(session, table).on_conflict_do_nothing(),
        [{"uid": uid, "seen_at": now} for uid in uid_list],
    )


def prune_seen_uids(*, session: Session, older_than: datetime, limit: int = 50_000) -> int:
    """Forget up to ``limit`` uids counted before ``older_than``; returns how many went.
    Re-analysing those exchanges afterwards would count them again: callers choose the window."""
    table = core_table(SeenExchange)
    victims = select(table.c.uid).where(table.c.seen_at < older_than).limit(limit).scalar_subquery()
    result = cast(CursorResult[Any], session.execute(delete(table).where(table.c.uid.in_(victims))))
    return int(result.rowcount or 0)


def upsert_services(*, session: Session, rows: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """Rows: host, hits, first_seen, last_seen. Returns host -> service id."""
    if not rows:
        return {}
    table = core_table(Service)
    stmt = _upsert(session, table, keys=("host",), merge=_SERVICE_MERGE).returning(table.c.id, table.c.host)
    return {host: sid for sid, host in session.execute(stmt, list(rows))}


def upsert_endpoints(
    *, session: Session, rows: Sequence[Mapping[str, Any]]
) -> dict[tuple[int, str, str], int]:
    """Rows: service_id, method, path_template + counters. Returns key -> endpoint id."""
    if not rows:
        return {}
    table = core_table(Endpoint)
    stmt = _upsert(
        session, table, keys=("service_id", "method", "path_template"), merge=_ENDPOINT_MERGE
    ).returning(table.c.id, table.c.service_id, table.c.method, table.c.path_template)
    return {(sid, method, path): eid for eid, sid, method, path in session.execute(stmt, list(rows))}


def upsert_endpoint_children(
    *, session: Session, rows_by_model: Mapping[type[Any], list[dict[str, Any]]]
) -> None:
    """Counters of the child tables (status histogram, hourly, peers, params, fields, PII...)."""
    for model, keys, merge in _CHILD_TABLES:
        rows = rows_by_model.get(model)
        if rows:
            stmt = _upsert(session, core_table(model), keys=("endpoint_id", *keys), merge=merge)
            _bulk(session, stmt, rows)


def upsert_noise(*, session: Session, rows: Sequence[Mapping[str, Any]]) -> None:
    if rows:
        stmt = _upsert(
            session,
            core_table(NoisePath),
            keys=("host", "method", "path", "status"),
            merge={"count": "add", "first_seen": "least", "last_seen": "greatest"},
        )
        _bulk(session, stmt, rows)


def upsert_unmatched(*, session: Session, rows: Sequence[Mapping[str, Any]]) -> None:
    """Unmatched-request statistics (malformed targets, bare query values), masked samples."""
    if rows:
        stmt = _upsert(
            session,
            core_table(UnmatchedRequest),
            keys=("host", "method", "kind", "sample"),
            merge={"count": "add", "first_seen": "least", "last_seen": "greatest"},
        )
        _bulk(session, stmt, rows)


def rehome_endpoint(
    *, session: Session, host: str, method: str, old_template: str, new_template: str
) -> bool:
    """Move everything counted under ``old_template`` to ``new_template`` (templater merge).

    Counters are added, first/last seen widened, ownership kept (the target's wins when both
    are set). Returns False when there was nothing stored under the old template.
    """
    if old_template == new_template:
        return False
    service_id = session.scalar(select(Service.id).where(Service.host == host))
    if service_id is None:
        return False
    ep = core_table(Endpoint)
    key = (ep.c.service_id == service_id) & (ep.c.method == method)
    old_id = session.scalar(select(ep.c.id).where(key & (ep.c.path_template == old_template)))
    if old_id is None:
        return False
    new_id = session.scalar(select(ep.c.id).where(key & (ep.c.path_template == new_template)))
    if new_id is None:
        # Nothing under the new name yet: a rename keeps every row and every id.
        session.execute(update(ep).where(ep.c.id == old_id).values(path_template=new_template))
        return True
    old = ep.alias("old_ep")
    values: dict[str, Any] = {}
    for col, how in _ENDPOINT_MERGE.items():
        old_val = select(old.c[col]).where(old.c.id == old_id).scalar_subquery()
        if how == "replace":
            values[col] = func.coalesce(ep.c[col], old_val)
        else:
            values[col] = _merge_expr(session, how, ep.c[col], old_val)
    for col in _OWNERSHIP:
        values[col] = func.coalesce(ep.c[col], select(old.c[col]).where(old.c.id == old_id).scalar_subquery())
    session.execute(update(ep).where(ep.c.id == new_id).values(**values))
    for model, keys, merge in _CHILD_TABLES:
        table = core_table(model)
        cols = ["endpoint_id", *keys, *merge]
        source = select(
            func.cast(new_id, table.c.endpoint_id.type).label("endpoint_id"),
            *(table.c[c] for c in cols[1:]),
        ).where(table.c.endpoint_id == old_id)
        ins = _insert(session, table).from_select(cols, source)
        ins = ins.on_conflict_do_update(
            index_elements=["endpoint_id", *keys], set_=_conflict_set(session, table, ins, merge)
        )
        session.execute(ins)
    so = core_table(SpecOperation)
    session.execute(update(so).where(so.c.endpoint_id == old_id).values(endpoint_id=new_id))
    session.execute(delete(ep).where(ep.c.id == old_id))
    return True


def _conflict_set(session: Session, table: Table, stmt: Any, merge: Mapping[str, str]) -> dict[str, Any]:
    # "keep": the stored value wins (e.g. the first masked PII sample), so it is not in SET at all
    # unless NULL, which coalesce handles.
    return {col: _merge_expr(session, how, table.c[col], stmt.excluded[col]) for col, how in merge.items()}


def load_templater_state(*, session: Session) -> dict[str, Any] | None:
    blob = session.scalar(select(TemplaterState.state).where(TemplaterState.id == TEMPLATER_STATE_ID))
    return None if blob is None else orjson.loads(zlib.decompress(blob))


def save_templater_state(*, session: Session, state: dict[str, Any] | bytes) -> None:
    """Store ``Templater.to_state()``, given as a dict or already serialised to JSON bytes."""
    table = core_table(TemplaterState)
    # Level 1: the state is rewritten every batch, so speed matters more than the last bytes.
    blob = zlib.compress(state if isinstance(state, bytes) else orjson.dumps(state), 1)
    stmt = _insert(session, table)
    stmt = stmt.on_conflict_do_update(
        index_elements=["id"],
        set_={
            "state": stmt.excluded.state,
            "generation": table.c.generation + 1,
            "updated_at": func.now(),
        },
    )
    session.execute(stmt, [{"id": TEMPLATER_STATE_ID, "state": blob, "generation": 1}])


def templater_state_generation(*, session: Session) -> int:
    """The stored state's generation (0 when there is none yet)."""
    gen = session.scalar(select(TemplaterState.generation).where(TemplaterState.id == TEMPLATER_STATE_ID))
    return int(gen or 0)


def inventory_totals(*, session: Session) -> dict[str, int]:
    """Whole-database totals for the CLI summary."""
    return {
        "services": session.scalar(select(func.count()).select_from(Service)) or 0,
        "endpoints": session.scalar(select(func.count()).select_from(Endpoint)) or 0,
        "exchanges": session.scalar(select(func.count()).select_from(SeenExchange)) or 0,
        "pii_findings": session.scalar(select(func.count()).select_from(PiiFinding)) or 0,
        "unauthenticated": session.scalar(
            select(func.count()).select_from(Endpoint).where(Endpoint.unauthenticated_2xx > 0)
        )
        or 0,
        "noise_requests": session.scalar(select(func.coalesce(func.sum(NoisePath.count), 0))) or 0,
        "events": session.scalar(select(func.count()).select_from(ThreatEvent)) or 0,
        "malformed_requests": session.scalar(
            select(func.coalesce(func.sum(UnmatchedRequest.count), 0)).where(
                UnmatchedRequest.kind == "malformed_target"
            )
        )
        or 0,
        "tls_services": session.scalar(select(func.count()).select_from(TlsService)) or 0,
    }


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:  # SQLite hands back naive datetimes; they were stored as UTC
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def dominant_type(types: Mapping[str, int]) -> str:
    """The most frequent non-null type of a field or parameter; "null" only when nothing else was seen."""
    ranked = sorted(types.items(), key=lambda kv: (kv[0] == "null", -kv[1], kv[0]))
    return ranked[0][0] if ranked else "unknown"


def export_inventory(*, session: Session) -> dict[str, Any]:
    """The whole inventory as plain JSON-able data (``apicensus export --format json``)."""
    ep, svc = core_table(Endpoint), core_table(Service)
    by_endpoint: dict[int, dict[str, Any]] = {}
    rows = session.execute(
        select(ep, svc.c.host)
        .join(svc, svc.c.id == ep.c.service_id)
        .order_by(svc.c.host, ep.c.path_template, ep.c.method)
    ).mappings()
    for row in rows:
        by_endpoint[row["id"]] = {
            "id": row["id"],
            "host": row["host"],
            "method": row["method"],
            "path_template": row["path_template"],
            "template_id": row["template_id"],
            "hits": row["hits"],
            "first_seen": _iso(row["first_seen"]),
            "last_seen": _iso(row["last_seen"]),
            "status_codes": {},
            "unauthenticated": row["unauthenticated_2xx"] > 0,
            "authenticated_hits": row["authenticated_hits"],
            "unauthenticated_hits": row["unauthenticated_hits"],
            "unauthenticated_2xx": row["unauthenticated_2xx"],
            "auth": {},
            "clients": 0,
            "servers": [],
            "hourly": {},
            "parameters": [],
            # Body schemas: field path -> {type, types, count, presence}; presence is relative to
            # the bodies parsed (request_bodies / response_bodies), not to hits.
            "request_body": {},
            "response_body": {},
            "request_bodies": row["request_bodies"],
            "response_bodies": row["response_bodies"],
            "content_types": {"request": {}, "response": {}},
            "pii": [],
            **{
                k: row[k]
                for k in ("owner", "application", "business_unit", "tags", "review_state", "spec_verdict")
            },
        }

    def each(model: type[Any]) -> Iterable[tuple[dict[str, Any], Any]]:
        table = core_table(model)
        for child in session.execute(select(table)).mappings():
            target = by_endpoint.get(child["endpoint_id"])
            if target is not None:
                yield target, child

    for target, row in each(EndpointStatus):
        # 0 is our marker for "no response captured"; export it under a readable key.
        target["status_codes"][str(row["status"]) if row["status"] else "none"] = row["count"]
    for target, row in each(EndpointAuth):
        target["auth"][row["scheme"]] = row["count"]
    for target, row in each(EndpointPeer):
        if row["kind"] == "client":
            target["clients"] += 1
        else:
            target["servers"].append(row["address"])
    for target, row in each(EndpointHourly):
        target["hourly"][_iso(row["hour"])] = row["count"]
    params: dict[tuple[int, str, str], dict[str, int]] = {}
    for target, row in each(EndpointParam):
        params.setdefault((target["id"], row["location"], row["name"]), {})[row["type"]] = row["count"]
    for (eid, location, name), types in params.items():
        target = by_endpoint[eid]
        count = sum(types.values())
        target["parameters"].append(
            {
                "name": name,
                "in": location,
                "type": dominant_type(types),
                "types": types,
                "count": count,
                "presence": round(count / target["hits"], 4) if target["hits"] else 0.0,
            }
        )
    for target, row in each(EndpointContentType):
        target["content_types"][row["part"]][row["content_type"]] = row["count"]
    fields: dict[tuple[int, str, str], dict[str, int]] = {}
    for target, row in each(EndpointField):
        fields.setdefault((target["id"], row["part"], row["path"]), {})[row["type"]] = row["count"]
    for (eid, part, path), types in sorted(fields.items()):
        endpoint = by_endpoint[eid]
        bodies = endpoint[f"{part}_bodies"]
        # A field seen with two types in one body (e.g. a mixed array) counts once per type:
        # presence is capped at 1.
        count = min(sum(types.values()), bodies) if bodies else sum(types.values())
        endpoint[f"{part}_body"][path] = {
            "type": dominant_type(types),
            "types": types,
            "count": count,
            "presence": round(count / bodies, 4) if bodies else 0.0,
        }
    for target, row in each(PiiFinding):
        target["pii"].append(
            {
                "type": row["type"],
                "location": row["location"],
                "field": row["field"],
                "count": row["count"],
                "sample": row["sample"],
                "first_seen": _iso(row["first_seen"]),
                "last_seen": _iso(row["last_seen"]),
            }
        )
    for target, row in each(EndpointGraphql):  # GraphQL operation endpoints only
        target["graphql"] = {k: row[k] for k in row if k != "endpoint_id"}
    endpoints = list(by_endpoint.values())
    for endpoint in endpoints:
        endpoint["parameters"].sort(key=lambda p: (p["in"] != "path", p["name"]))
        endpoint["pii"].sort(key=lambda p: (p["location"], p["field"], p["type"]))
        endpoint["servers"].sort()
        del endpoint["id"]
    services = [
        {
            "host": row["host"],
            "hits": row["hits"],
            "first_seen": _iso(row["first_seen"]),
            "last_seen": _iso(row["last_seen"]),
            **{k: row[k] for k in ("owner", "application", "business_unit", "tags", "review_state")},
        }
        for row in session.execute(select(svc).order_by(svc.c.host)).mappings()
    ]
    noise = [
        {
            "host": row["host"],
            "method": row["method"],
            "path": row["path"],
            "status": row["status"] or None,
            "count": row["count"],
            "first_seen": _iso(row["first_seen"]),
            "last_seen": _iso(row["last_seen"]),
        }
        for row in session.execute(
            select(core_table(NoisePath))
            .order_by(NoisePath.count.desc(), NoisePath.host, NoisePath.path)
            .limit(1000)
        ).mappings()
    ]
    unmatched = [
        {
            "host": row["host"],
            "method": row["method"],
            "kind": row["kind"],
            "sample": row["sample"],
            "count": row["count"],
            "first_seen": _iso(row["first_seen"]),
            "last_seen": _iso(row["last_seen"]),
        }
        for row in session.execute(
            select(core_table(UnmatchedRequest))
            .order_by(UnmatchedRequest.count.desc(), UnmatchedRequest.host, UnmatchedRequest.sample)
            .limit(1000)
        ).mappings()
    ]
    return {"endpoints": endpoints, "services": services, "noise": noise, "unmatched": unmatched}
