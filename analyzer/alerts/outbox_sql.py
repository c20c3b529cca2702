"""The outbox in the inventory database (PostgreSQL, or SQLite embedded), with SQLAlchemy 2.

Two tables on their own metadata (``ALERTS_METADATA``; phase 2 moves them into the one metadata
and the Alembic chain): ``alert_outbox`` (one row per alert per destination) and
``alert_delivery_status`` (per-destination totals and last success/error, which outlive pruning).

Claiming is safe with any number of workers and processes: candidate rows are selected (on
PostgreSQL ``FOR UPDATE SKIP LOCKED``, so workers do not queue behind each other), then taken
with one conditional ``UPDATE ... WHERE id IN (...) AND <still claimable>`` that stamps a fresh
claim token; only rows carrying that token are returned. Every later transition checks the
token, so a worker whose lease expired cannot overwrite the row's new holder. Enqueue is an
``INSERT ... ON CONFLICT (destination_id, delivery_id) DO NOTHING``: duplicates are no-ops.
Timestamps are stored in UTC (SQLite keeps them naive; they are read back as UTC).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    Engine,
    Table,
    and_,
    delete,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from analyzer.alerts.model import AlertEvent
from analyzer.alerts.outbox import (
    ADMITTED_STATES,
    PENDING_STATES,
    DestinationStatus,
    Enqueued,
    ItemState,
    OutboxItem,
    severity_rank,
)
from analyzer.alerts.policy import delivery_id as make_delivery_id
from analyzer.db.models import AlertDeliveryStatusRow, AlertOutboxRow, Base

# The tables are models of the one metadata (analyzer/db/models.py, migration 0005_alerts).
ALERTS_METADATA = Base.metadata
AlertsBase = Base


OUTBOX = cast(Table, AlertOutboxRow.__table__)
STATUS = cast(Table, AlertDeliveryStatusRow.__table__)
MAX_ERROR = 1000


def create_tables(engine: Engine) -> None:
    """Create the two outbox tables if missing: for standalone use and tests of the outbox
    alone. The inventory database gets them from the Alembic chain (revision 0005_alerts)."""
    Base.metadata.create_all(engine, tables=[OUTBOX, STATUS])


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _put(value: datetime) -> datetime:
    """A UTC datetime as stored: naive UTC on SQLite would compare as text, so normalise always."""
    return value.astimezone(UTC)


def _item(row: Any) -> OutboxItem:
    return OutboxItem(
        id=row.id,
        destination_id=row.destination_id,
        delivery_id=row.delivery_id,
        dedup_key=row.dedup_key,
        alert=AlertEvent.from_record(row.alert),
        state=ItemState(row.state),
        attempts=row.attempts,
        enqueued_at=_utc(row.enqueued_at) or datetime.now(UTC),
        next_attempt_at=_utc(row.next_attempt_at) or datetime.now(UTC),
        lease_until=_utc(row.lease_until),
        claim_token=row.claim_token,
        last_error=row.last_error,
        folded=row.folded,
        delivered_at=_utc(row.delivered_at),
        fold_sources=dict(row.fold_sources or {}),
    )


class SqlOutbox:
    """:class:`analyzer.alerts.outbox.Outbox` on a SQLAlchemy engine (PostgreSQL or SQLite)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._pg = engine.dialect.name == "postgresql"

    def _insert(self, table: Any) -> Any:
        return postgresql.insert(table) if self._pg else sqlite.insert(table)

    def _bump(self, conn: Connection, destination_id: str, **values: Any) -> None:
        totals = {k: v for k, v in values.items() if k.endswith("_total")}
        others = {k: v for k, v in values.items() if not k.endswith("_total")}
        stmt = self._insert(STATUS).values(destination_id=destination_id, **{k: 0 for k in (
            "delivered_total", "failed_total", "dropped_total", "folded_total")} | totals, **others)  # fmt: skip
        set_: dict[str, Any] = {k: getattr(STATUS.c, k) + v for k, v in totals.items()}
        set_.update(others)
        conn.execute(stmt.on_conflict_do_update(index_elements=[STATUS.c.destination_id], set_=set_))

    def _insert_row(
        self, conn: Connection, destination_id: str, alert: AlertEvent, state: ItemState, now: datetime
    ) -> bool:
        """Insert one row unless its (destination, delivery id) exists; True when inserted."""
        result = conn.execute(
            self._insert(OUTBOX)
            .values(
                destination_id=destination_id,
                delivery_id=make_delivery_id(destination_id, alert.uid),
                dedup_key=alert.dedup_key[:512],
                state=state.value,
                severity=severity_rank(alert),
                alert=alert.to_record(),
                attempts=0,
                folded=0,
                enqueued_at=now,
                next_attempt_at=now,
            )
            .on_conflict_do_nothing(index_elements=[OUTBOX.c.destination_id, OUTBOX.c.delivery_id])
        )
        return bool(result.rowcount == 1)

    def enqueue(
        self,
        *,
        destination_id: str,
        alert: AlertEvent,
        now: datetime,
        held: bool = False,
        max_pending: int = 10_000,
    ) -> Enqueued:
        now = _put(now)
        delivery = make_delivery_id(destination_id, alert.uid)
        with self.engine.begin() as conn:
            exists = conn.scalar(
                select(OUTBOX.c.id).where(
                    OUTBOX.c.destination_id == destination_id, OUTBOX.c.delivery_id == delivery
                )
            )
            if exists is not None:
                return Enqueued.DUPLICATE
            pending = conn.scalar(
                select(func.count()).where(
                    OUTBOX.c.destination_id == destination_id,
                    OUTBOX.c.state.in_([s.value for s in PENDING_STATES]),
                )
            )
            if (pending or 0) >= max_pending:
                victim_q = (
                    select(OUTBOX.c.id, OUTBOX.c.severity)
                    .where(
                        OUTBOX.c.destination_id == destination_id,
                        OUTBOX.c.state.in_([ItemState.HELD.value, ItemState.QUEUED.value]),
                    )
                    .order_by(OUTBOX.c.severity, OUTBOX.c.enqueued_at, OUTBOX.c.id)
                    .limit(1)
                )
                if self._pg:
                    victim_q = victim_q.with_for_update(skip_locked=True)
                victim = conn.execute(victim_q).first()
                self._bump(conn, destination_id, dropped_total=1)
                if victim is None or victim.severity > severity_rank(alert):
                    return Enqueued.REFUSED_FULL
                conn.execute(delete(OUTBOX).where(OUTBOX.c.id == victim.id))
            inserted = self._insert_row(
                conn, destination_id, alert, ItemState.HELD if held else ItemState.QUEUED, now
            )
            return Enqueued.ENQUEUED if inserted else Enqueued.DUPLICATE

    def last_for_key(self, destination_id: str, dedup_key: str) -> OutboxItem | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(OUTBOX)
                .where(
                    OUTBOX.c.destination_id == destination_id,
                    OUTBOX.c.dedup_key == dedup_key[:512],
                )
                .order_by(OUTBOX.c.enqueued_at.desc(), OUTBOX.c.id.desc())
                .limit(1)
            ).first()
            return None if row is None else _item(row)

    def fold_into(self, item_id: int, alert: AlertEvent, sources: Mapping[str, int]) -> bool:
        with self.engine.begin() as conn:
            destination_id = conn.scalar(select(OUTBOX.c.destination_id).where(OUTBOX.c.id == item_id))
            if destination_id is None:
                return False
            updated = conn.execute(
                update(OUTBOX)
                .where(
                    OUTBOX.c.id == item_id, OUTBOX.c.state.in_([ItemState.QUEUED.value, ItemState.HELD.value])
                )
                .values(
                    alert=alert.to_record(),
                    severity=severity_rank(alert),
                    folded=OUTBOX.c.folded + 1,
                    fold_sources=dict(sources),
                )
            ).rowcount
            if not updated:
                conn.execute(
                    update(OUTBOX)
                    .where(OUTBOX.c.id == item_id)
                    .values(folded=OUTBOX.c.folded + 1, fold_sources=dict(sources))
                )
            self._bump(conn, destination_id, folded_total=1)
            return True

    def count_admitted_since(self, destination_id: str, since: datetime) -> int:
        with self.engine.connect() as conn:
            return int(
                conn.scalar(
                    select(func.count()).where(
                        OUTBOX.c.destination_id == destination_id,
                        OUTBOX.c.state.in_([s.value for s in ADMITTED_STATES]),
                        OUTBOX.c.enqueued_at >= _put(since),
                    )
                )
                or 0
            )

    def held(self, destination_id: str, limit: int = 10_000) -> list[OutboxItem]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(OUTBOX)
                .where(OUTBOX.c.destination_id == destination_id, OUTBOX.c.state == ItemState.HELD.value)
                .order_by(OUTBOX.c.enqueued_at, OUTBOX.c.id)
                .limit(limit)
            )
            return [_item(r) for r in rows]

    def destinations_with_held(self) -> list[str]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(OUTBOX.c.destination_id).where(OUTBOX.c.state == ItemState.HELD.value).distinct()
            )
            return sorted(r.destination_id for r in rows)

    def digest_held(
        self, *, destination_id: str, held_ids: Sequence[int], digest: AlertEvent, now: datetime
    ) -> bool:
        now = _put(now)
        with self.engine.begin() as conn:
            inserted = self._insert_row(conn, destination_id, digest, ItemState.QUEUED, now)
            if not inserted:
                return False
            ids = list(held_ids)
            for start in range(0, len(ids), 500):
                conn.execute(
                    update(OUTBOX)
                    .where(OUTBOX.c.id.in_(ids[start : start + 500]), OUTBOX.c.state == ItemState.HELD.value)
                    .values(state=ItemState.DIGESTED.value, delivered_at=now)
                )
            return True

    def claim_due(
        self, *, now: datetime, limit: int, lease_seconds: float, exclude: Sequence[str] = ()
    ) -> list[OutboxItem]:
        now = _put(now)
        claimable = or_(
            and_(OUTBOX.c.state == ItemState.QUEUED.value, OUTBOX.c.next_attempt_at <= now),
            and_(OUTBOX.c.state == ItemState.SENDING.value, OUTBOX.c.lease_until <= now),
        )
        token = uuid.uuid4().hex
        with self.engine.begin() as conn:
            candidates = (
                select(OUTBOX.c.id)
                .where(claimable)
                .order_by(OUTBOX.c.next_attempt_at, OUTBOX.c.id)
                .limit(limit)
            )
            if exclude:
                candidates = candidates.where(OUTBOX.c.destination_id.not_in(list(exclude)))
            if self._pg:
                candidates = candidates.with_for_update(skip_locked=True)
            ids = [r.id for r in conn.execute(candidates)]
            if not ids:
                return []
            conn.execute(
                update(OUTBOX)
                .where(OUTBOX.c.id.in_(ids), claimable)
                .values(
                    state=ItemState.SENDING.value,
                    claim_token=token,
                    lease_until=now + timedelta(seconds=lease_seconds),
                )
            )
            rows = conn.execute(
                select(OUTBOX)
                .where(OUTBOX.c.claim_token == token)
                .order_by(OUTBOX.c.next_attempt_at, OUTBOX.c.id)
            )
            return [_item(r) for r in rows]

    def _transition(self, conn: Connection, item: OutboxItem, **values: Any) -> bool:
        result = conn.execute(
            update(OUTBOX)
            .where(
                OUTBOX.c.id == item.id,
                OUTBOX.c.claim_token == item.claim_token,
                OUTBOX.c.state == ItemState.SENDING.value,
            )
            .values(lease_until=None, claim_token=None, **values)
        )
        return bool(result.rowcount == 1)

    def mark_delivered(self, item: OutboxItem, *, now: datetime) -> bool:
        now = _put(now)
        with self.engine.begin() as conn:
            if not self._transition(
                conn, item, state=ItemState.DELIVERED.value, attempts=OUTBOX.c.attempts + 1, delivered_at=now
            ):
                return False
            self._bump(conn, item.destination_id, delivered_total=1, last_success_at=now)
            return True

    def mark_delivered_many(self, items: Sequence[OutboxItem], *, now: datetime) -> int:
        now = _put(now)
        done: dict[str, int] = {}
        with self.engine.begin() as conn:
            for item in items:
                if self._transition(
                    conn,
                    item,
                    state=ItemState.DELIVERED.value,
                    attempts=OUTBOX.c.attempts + 1,
                    delivered_at=now,
                ):
                    done[item.destination_id] = done.get(item.destination_id, 0) + 1
            for destination_id, count in done.items():
                self._bump(conn, destination_id, delivered_total=count, last_success_at=now)
        return sum(done.values())

    def mark_failed(self, item: OutboxItem, *, now: datetime, error: str, retry_at: datetime | None) -> bool:
        now = _put(now)
        error = error[:MAX_ERROR]
        final = retry_at is None
        with self.engine.begin() as conn:
            if not self._transition(
                conn,
                item,
                state=(ItemState.FAILED if final else ItemState.QUEUED).value,
                attempts=OUTBOX.c.attempts + 1,
                next_attempt_at=_put(retry_at) if retry_at is not None else now,
                last_error=error,
                delivered_at=now if final else None,
            ):
                return False
            self._bump(
                conn, item.destination_id, failed_total=1 if final else 0, last_error=error, last_error_at=now
            )
            return True

    def release(self, item: OutboxItem, *, now: datetime) -> bool:
        with self.engine.begin() as conn:
            return self._transition(conn, item, state=ItemState.QUEUED.value, next_attempt_at=_put(now))

    def status(self, destination_id: str) -> DestinationStatus:
        with self.engine.connect() as conn:
            counts = {
                r.state: r.n
                for r in conn.execute(
                    select(OUTBOX.c.state, func.count().label("n"))
                    .where(OUTBOX.c.destination_id == destination_id)
                    .group_by(OUTBOX.c.state)
                )
            }
            oldest = conn.scalar(
                select(func.min(OUTBOX.c.enqueued_at)).where(
                    OUTBOX.c.destination_id == destination_id,
                    OUTBOX.c.state.in_([s.value for s in PENDING_STATES]),
                )
            )
            stat = conn.execute(select(STATUS).where(STATUS.c.destination_id == destination_id)).first()
        return DestinationStatus(
            destination_id=destination_id,
            queued=counts.get(ItemState.QUEUED.value, 0),
            held=counts.get(ItemState.HELD.value, 0),
            sending=counts.get(ItemState.SENDING.value, 0),
            failed=counts.get(ItemState.FAILED.value, 0),
            delivered_total=stat.delivered_total if stat else 0,
            failed_total=stat.failed_total if stat else 0,
            dropped_total=stat.dropped_total if stat else 0,
            folded_total=stat.folded_total if stat else 0,
            last_success_at=_utc(stat.last_success_at) if stat else None,
            last_error=stat.last_error if stat else None,
            last_error_at=_utc(stat.last_error_at) if stat else None,
            oldest_pending_at=_utc(oldest),
        )

    def prune(self, *, before: datetime) -> int:
        done = [ItemState.DELIVERED.value, ItemState.FAILED.value, ItemState.DIGESTED.value]
        with self.engine.begin() as conn:
            result = conn.execute(
                delete(OUTBOX).where(
                    OUTBOX.c.state.in_(done),
                    func.coalesce(OUTBOX.c.delivered_at, OUTBOX.c.enqueued_at) < _put(before),
                )
            )
            return int(result.rowcount)
