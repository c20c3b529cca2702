"""Data access for threat detection: events, actors, data flows and the engine's state.

Writes are bulk ``INSERT ... ON CONFLICT DO UPDATE`` (as in :mod:`analyzer.db.crud`), called by
:mod:`analyzer.pipeline.detect` inside the batch's transaction, under the inventory lock. The
engine keeps cumulative values while a row is in its bounded memory; after an eviction it starts
again from zero, so counters merge with ``greatest`` (never lowered) and time ranges widen.
"""

from __future__ import annotations

import hashlib
import math
import secrets
import zlib
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import JSON, DateTime, Float, Table, Text, bindparam, cast, func, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from analyzer.db.crud import _bulk, _conflict_set, _insert, _upsert
from analyzer.db.models import MAX_PATH_CHARS, DataFlow, DetectorState, ThreatActor, ThreatEvent, core_table
from analyzer.observation import clean_text

DETECTOR_STATE_ID = 1
SECRET_BYTES = 32
MAX_EVIDENCE_TEXT = 512  # characters of one evidence string (snippets are short already)

_EVENT_MERGE = {
    "severity": "replace",
    "title": "replace",
    "actor_ip": "replace",
    "actor_identity": "replace",
    "first_seen": "least",
    "last_seen": "greatest",
    "count": "greatest",
    "evidence": "replace",
}
_ACTOR_MERGE = {
    "ip": "replace",
    "identity": "replace",
    "first_seen": "least",
    "last_seen": "greatest",
    "requests": "greatest",
    "endpoints": "greatest",
    "pii_types": "replace",
    "risk": "replace",
}
_FLOW_MERGE = {
    "actor_ip": "replace",
    "actor_identity": "replace",
    "records": "greatest",
    "responses": "greatest",
    "first_seen": "least",
    "last_seen": "greatest",
}


def dt(ts: float) -> datetime:
    """Epoch seconds (the stream's clock) -> an aware UTC datetime, clamped to what SQL stores."""
    if math.isnan(ts) or ts < 0:  # NaN or before 1970: an unknown time
        ts = 0.0
    return datetime.fromtimestamp(min(ts, 253_402_300_799.0), UTC)


def _clamped(ts: float) -> float:
    """:func:`dt`'s clamp, kept as epoch seconds (the bulk upserts convert in the database)."""
    if math.isnan(ts) or ts < 0:
        return 0.0
    return min(ts, 253_402_300_799.0)


def _text(value: str | None, limit: int) -> str | None:
    if value is None:
        return None
    if not value.isascii():  # lone surrogates out (ASCII has none)
        value = value.encode("utf-8", "replace").decode("utf-8")
    return clean_text(value, limit)


def clean_json(value: Any, depth: int = 0) -> Any:
    """Evidence as JSON both databases accept: no NUL or lone surrogate, bounded strings."""
    if isinstance(value, str):
        return _text(value, MAX_EVIDENCE_TEXT)
    if depth > 8:
        return None
    if isinstance(value, Mapping):
        return {str(_text(str(k), 128)): clean_json(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean_json(v, depth + 1) for v in list(value)[:64]]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def upsert_events(*, session: Session, events: Iterable[Any]) -> int:
    """Events drained from the engine (``analyzer.detect.model.Event``), upserted by ``Event.id``."""
    rows = []
    for e in events:
        rows.append(
            {
                "event_id": e.id,
                "type": _text(e.type, 32),
                "subtype": _text(e.subtype, 64),
                "severity": _text(e.severity, 16),
                "title": _text(e.title, 255),
                "actor_key": _text(e.actor.key or f"ip:{e.actor.ip}", 80),
                "actor_ip": _text(e.actor.ip, 64),
                "actor_identity": _text(e.actor.identity, 64),
                "host": _text(e.host, 255),
                "method": _text(e.method, 32),
                "path_template": _text(e.path_template, MAX_PATH_CHARS),
                "window_start": dt(e.window_start),
                "window_seconds": float(e.window_seconds),
                "first_seen": dt(e.first_seen),
                "last_seen": dt(e.last_seen),
                "count": int(e.count),
                "evidence": clean_json(e.evidence),
            }
        )
    if rows:
        table = core_table(ThreatEvent)
        _bulk(session, _upsert(session, table, keys=["event_id"], merge=_EVENT_MERGE), rows)
    return len(rows)


def _texts(values: Iterable[str | None], limit: int) -> list[str | None]:
    """:func:`_text` of a column: values already clean (ASCII, no NUL, short: nearly all of
    them) pass without a call per value."""
    return [
        v if v is None or (v.isascii() and len(v) <= limit and "\x00" not in v) else _text(v, limit)
        for v in values
    ]


def _clamps(values: Iterable[float]) -> list[float]:
    """:func:`_clamped` of a column (finite, non-negative, storable epoch seconds pass as they are)."""
    return [v if 0.0 <= v <= 253_402_300_799.0 else _clamped(v) for v in values]


def upsert_actors(*, session: Session, actors: Iterable[Any]) -> int:
    """``analyzer.detect.engine.ActorSummary`` rows, upserted by key.

    Built column by column (one list per column, no dict per row): a batch of 1,000 one-request
    actors is mostly this conversion."""
    batch = list(actors)
    if not batch:
        return 0
    columns: dict[str, list[Any]] = {
        "key": _texts([a.key for a in batch], 80),
        "ip": _texts([a.ip for a in batch], 64),
        "identity": _texts([a.identity for a in batch], 64),
        "first_seen": _clamps([a.first_seen for a in batch]),
        "last_seen": _clamps([a.last_seen for a in batch]),
        "requests": [int(a.requests) for a in batch],
        "endpoints": [int(a.endpoints) for a in batch],
        "pii_types": [{str(_text(k, 64)): int(v) for k, v in a.pii_types.items()} for a in batch],
        "risk": [int(a.risk) for a in batch],
    }
    _bulk_upsert(session, core_table(ThreatActor), key="key", merge=_ACTOR_MERGE, columns=columns)
    return len(batch)


def flow_key(actor_key: str, host: str, template: str, pii_type: str) -> str:
    return hashlib.blake2b("\x1f".join((actor_key, host, template, pii_type)).encode(), digest_size=12).hexdigest()


def upsert_flows(*, session: Session, flows: Iterable[Any]) -> int:
    """``analyzer.detect.rules.harvest.DataFlow`` rows, upserted by (actor, host, template, type)."""
    batch_flows = list(flows)
    if not batch_flows:
        return 0
    columns: dict[str, list[Any]] = {
        "flow_key": [flow_key(f.actor_key, f.host, f.path_template, f.pii_type) for f in batch_flows],
        "actor_key": _texts([f.actor_key for f in batch_flows], 80),
        "actor_ip": _texts([f.actor_ip for f in batch_flows], 64),
        "actor_identity": _texts([f.actor_identity for f in batch_flows], 64),
        "host": _texts([f.host for f in batch_flows], 255),
        "path_template": _texts([f.path_template for f in batch_flows], MAX_PATH_CHARS),
        "pii_type": _texts([f.pii_type for f in batch_flows], 64),
        "records": [int(f.records) for f in batch_flows],
        "responses": [int(f.responses) for f in batch_flows],
        "first_seen": _clamps([f.first_seen for f in batch_flows]),
        "last_seen": _clamps([f.last_seen for f in batch_flows]),
    }
    _bulk_upsert(session, core_table(DataFlow), key="flow_key", merge=_FLOW_MERGE, columns=columns)
    return len(batch_flows)


def _bulk_upsert(session: Session, table: Table, *, key: str, merge: Mapping[str, str], columns: dict[str, list[Any]]) -> None:
    """Upsert the rows of ``columns`` (column name -> one value per row, all the same length;
    date-time columns as epoch seconds) in one statement.

    PostgreSQL: ``INSERT ... SELECT FROM unnest(array per column) ON CONFLICT ...`` -- one bound
    array per column instead of one bound value per cell: a batch of 20,000 one-request actors
    costs ~0.1 s of client CPU instead of ~0.6 s of SQLAlchemy's multi-row VALUES compilation.
    JSON columns travel as text and are cast, date-times as epoch seconds (``to_timestamp``; half
    the adaptation cost of datetime objects). Elsewhere (SQLite): the multi-row VALUES upsert.
    A key listed twice (an actor evicted and seen again in one batch) is applied in rounds, in
    order, as one statement cannot update a row twice.
    """
    keys = columns[key]
    if len(set(keys)) == len(keys):
        _upsert_round(session, table, [key], merge, columns)
        return
    rounds: list[list[int]] = [[]]
    seen: dict[Any, int] = {}
    for i, k in enumerate(keys):
        n = seen[k] = seen.get(k, -1) + 1
        if n == len(rounds):
            rounds.append([])
        rounds[n].append(i)
    for part in rounds:
        if part:
            _upsert_round(session, table, [key], merge, {name: [values[i] for i in part] for name, values in columns.items()})


def _upsert_round(
    session: Session, table: Table, keys: list[str], merge: Mapping[str, str], data: dict[str, list[Any]]
) -> None:
    names = list(data)
    times = [name for name in names if isinstance(table.c[name].type, DateTime)]
    if session.get_bind().dialect.name != "postgresql":
        converted = {name: [datetime.fromtimestamp(v, UTC) for v in data[name]] if name in times else data[name] for name in names}
        rows = [dict(zip(names, values, strict=True)) for values in zip(*converted.values(), strict=True)]
        _bulk(session, _upsert(session, table, keys=keys, merge=merge), rows)
        return
    columns = []
    params: dict[str, str] = {}
    for name in names:
        column_type = table.c[name].type
        values = data[name]
        # One array literal per column, bound as text: psycopg2 adapting a list does it element
        # by element (~1 us each, ~400,000 elements for a batch of 20,000 actors and flows).
        array = bindparam(f"a_{name}", type_=Text)
        if name in times:
            columns.append(func.to_timestamp(func.unnest(cast(array, postgresql.ARRAY(Float(precision=53))))).label(name))
        elif isinstance(column_type, JSON) or isinstance(getattr(column_type, "impl", None), JSON):
            values = [None if v is None else orjson.dumps(v).decode() for v in values]
            columns.append(cast(func.unnest(cast(array, postgresql.ARRAY(Text))), postgresql.JSONB).label(name))
        else:
            columns.append(cast(func.unnest(cast(array, postgresql.ARRAY(Text))), column_type).label(name))
        params[f"a_{name}"] = _array_literal(values)
    stmt = postgresql.insert(table).from_select(names, select(*columns))
    stmt = stmt.on_conflict_do_update(index_elements=keys, set_=_conflict_set(session, table, stmt, merge))
    session.execute(stmt, params)


def _array_literal(values: list[Any]) -> str:
    """A PostgreSQL array literal of ``values`` (str, int, finite float or None), read back as
    the same values: strings double-quoted with backslash and quote escaped, numbers as Python
    writes them (``repr`` of a float round-trips, as psycopg2's own adaptation does).

    Fast path: the JSON array orjson writes (in C) *is* that literal when it holds no backslash
    -- JSON escapes only quotes, backslashes and control characters, each with a backslash, so
    without one every string went out verbatim in double quotes; ``null`` is PostgreSQL's NULL
    (case-insensitive), and orjson's floats are shortest round-trip forms like ``repr``'s. A
    batch of 20,000 actors + flows: ~400 columns x 1,000 values, ~0.1 s of client CPU in Python.
    """
    kinds = set(map(type, values))
    if kinds <= _FAST_KINDS:
        try:
            dumped = orjson.dumps(values)
        except orjson.JSONEncodeError:  # e.g. a lone surrogate, an int over 64 bits
            dumped = b"\\"
        # A non-finite float is written null by orjson ("nan"/"inf" here): only a column with
        # no None may hold floats on this path, and then a null means one of those.
        if b"\\" not in dumped and (float not in kinds or (type(None) not in kinds and b"null" not in dumped)):
            return "{" + dumped[1:-1].decode() + "}"
    return _array_literal_escaped(values)


_FAST_KINDS = frozenset({str, int, float, type(None)})


def _array_literal_escaped(values: list[Any]) -> str:
    """:func:`_array_literal` one value at a time (values with quotes, backslashes, controls)."""
    parts = []
    for v in values:
        if v is None:
            parts.append("NULL")
        elif type(v) is str:
            parts.append('"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"')
        elif type(v) is float:
            parts.append(repr(v))
        elif isinstance(v, int):
            parts.append(str(int(v)))
        else:
            raise TypeError(f"no array literal for {type(v).__name__}")
    return "{" + ",".join(parts) + "}"


# ------------------------------------------------------------------------------ engine state


def stored_secret(*, session: Session) -> bytes:
    """The deployment secret generated once for this inventory (created on first use).

    Call under the inventory lock: the first analyzer creates it, every later one reads it.
    """
    table = core_table(DetectorState)
    secret = session.scalar(select(table.c.secret).where(table.c.id == DETECTOR_STATE_ID))
    if secret:
        return bytes(secret)
    fresh = secrets.token_bytes(SECRET_BYTES)
    stmt = _insert(session, table)
    stmt = stmt.on_conflict_do_update(
        index_elements=["id"], set_={"secret": func.coalesce(table.c.secret, stmt.excluded.secret)}
    )
    session.execute(stmt, [{"id": DETECTOR_STATE_ID, "secret": fresh, "generation": 0}])
    secret = session.scalar(select(table.c.secret).where(table.c.id == DETECTOR_STATE_ID))
    return bytes(secret or fresh)


def load_state(*, session: Session) -> tuple[bytes | None, int]:
    """(engine state bytes or None, generation)."""
    row = session.execute(
        select(DetectorState.state, DetectorState.generation).where(DetectorState.id == DETECTOR_STATE_ID)
    ).first()
    if row is None:
        return None, 0
    blob, generation = row
    return (zlib.decompress(blob) if blob else None), int(generation or 0)


def state_generation(*, session: Session) -> int:
    gen = session.scalar(select(DetectorState.generation).where(DetectorState.id == DETECTOR_STATE_ID))
    return int(gen or 0)


def save_state(*, session: Session, state: bytes) -> None:
    """Store ``DetectionEngine.state()``; bumps the generation (other analyzers then reload)."""
    table = core_table(DetectorState)
    blob = zlib.compress(state, 1)
    stmt = _insert(session, table)
    stmt = stmt.on_conflict_do_update(
        index_elements=["id"],
        set_={"state": stmt.excluded.state, "generation": table.c.generation + 1, "updated_at": func.now()},
    )
    session.execute(stmt, [{"id": DETECTOR_STATE_ID, "state": blob, "generation": 1}])


def event_rows_since(*, session: Session, since: datetime | None) -> Iterable[ThreatEvent]:
    """Every stored event (last seen at or after ``since``), in id order, streamed."""
    stmt = select(ThreatEvent).order_by(ThreatEvent.id)
    if since is not None:
        stmt = stmt.where(ThreatEvent.last_seen >= since)
    return session.scalars(stmt.execution_options(yield_per=1000))


def event_json(row: ThreatEvent) -> dict[str, Any]:
    """The ``export --format events`` line of a stored event (issue 11's contract)."""
    return {
        "id": row.event_id,
        "type": row.type,
        "subtype": row.subtype,
        "severity": row.severity,
        "title": row.title,
        "actor": {"ip": row.actor_ip, "identity": row.actor_identity},
        "host": row.host,
        "method": row.method,
        "path_template": row.path_template,
        "first_seen": _epoch(row.first_seen),
        "last_seen": _epoch(row.last_seen),
        "count": row.count,
        "evidence": row.evidence,
    }


def _epoch(value: datetime) -> float:
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()
