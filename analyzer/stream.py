"""``apicensus analyzer --from nats://...``: a scaled-out analyzer consuming sensor batches.

Every analyzer of one deployment pulls from the same durable JetStream consumer, so each batch
goes to one of them (at least once: a batch whose analyzer died before acknowledging it is
delivered again after ``ack_wait``). Per batch:

1. decode and *prepare* it outside any lock (uids, skip of what is already stored, PII
   detection) — the costly part, which the analyzers share between them;
2. *apply* it through :meth:`SharedIngestor.apply_in_order`: batches are templated and written
   strictly in stream-sequence order under the inventory lock, one sensor batch at a time, so
   N analyzers build exactly what one analyzer reading the stream would build;
3. acknowledge it only after the transaction committed (a crash in between redelivers a batch
   whose uids are already stored: it is skipped, nothing counts twice).

An analyzer holding batch n+1 while another holds batch n prepares more batches meanwhile; if
batch n no longer exists in the stream (purged by an operator), the gap is skipped after a check.
Whenever the stream pauses (nothing to fetch, nothing held) after batches were applied, the
inventory is consolidated (:meth:`SharedIngestor.consolidate`): every host's templates folded to
a fixed point, merges re-homed. Database errors (PostgreSQL restarting) are retried with backoff, the held batches kept alive
with in-progress acknowledgements; a lost NATS connection is re-established by the client.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from analyzer.db.session import error_reason
from analyzer.ingest import IngestResult, PreparedBatch, SharedIngestor
from sensor.plumbing.wire import BatchFormatError, connect_jetstream, decode_batch, ensure_stream, subject_for

log = logging.getLogger("apicensus.analyzer.stream")


@dataclass(frozen=True, slots=True)
class StreamOptions:
    url: str
    stream: str = "apicensus"
    durable: str = "apicensus-analyzer"
    idle_exit: float | None = None  # seconds with nothing to consume, then exit
    fetch: int = 4  # messages per pull
    max_held: int = 16  # prepared batches held waiting for their turn
    ack_wait: float = 30.0
    wait_check: float = 3.0  # waiting this long for batch n, check it still exists
    verdict_interval: float = 5.0  # recompute spec verdicts at most this often when idle
    dedupe_days: float | None = None  # forget exchange uids counted longer ago than this
    prune_interval: float = 600.0


@dataclass(slots=True)
class _Held:
    msg: Any
    prepared: PreparedBatch
    since: float
    touched: float
    sent_at: float | None


@dataclass(slots=True)
class WorkerCounters:
    values: dict[str, float] = field(
        default_factory=lambda: {
            "messages_received": 0,
            "messages_redelivered": 0,
            "batches_applied": 0,
            "exchanges_received": 0,
            "exchanges_new": 0,
            "exchanges_duplicate": 0,
            "exchanges_noise": 0,
            "pii_findings": 0,
            "bad_batches": 0,  # unreadable, too large, truncated, or refused by the database
            "exchanges_rejected": 0,
            "database_errors": 0,
            "nats_errors": 0,
            "gaps_skipped": 0,
            "uids_pruned": 0,
            "consolidations": 0,  # stream pauses that ended the inventory consolidated
            "merges_on_pause": 0,
            "pending": 0,
            "batch_lag_seconds": 0.0,
            "stream_lag": 0,
        }
    )

    def add(self, name: str, value: float = 1) -> None:
        self.values[name] = self.values.get(name, 0) + value


class StreamWorker:
    def __init__(self, options: StreamOptions, ingestor: SharedIngestor, counters: WorkerCounters) -> None:
        self.o = options
        self.ingestor = ingestor
        self.counters = counters
        self.held: dict[int, _Held] = {}
        self._stream_key: str | None = None
        self._first_seq = 1
        self._verdicts_dirty = False
        self._consolidate_due = False  # batches applied since the last consolidation
        self._last_verdicts = 0.0
        self._last_prune = 0.0
        self._db_backoff = 0.0
        self._waiting_since: float | None = None
        self._stop = asyncio.Event()

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> int:
        o = self.o
        last_activity = time.monotonic()
        connected = False
        nc = js = psub = None
        try:
            while not self._stop.is_set():
                if psub is None:
                    try:
                        nc, js, psub = await self._subscribe()
                        connected = True
                    except Exception as exc:  # noqa: BLE001 - server down: retry, idle clock runs
                        self.counters.add("nats_errors")
                        reason = f"{type(exc).__name__}: {exc}".rstrip(": ")
                        log.warning("cannot reach NATS; retrying", extra={"fields": {"url": o.url, "error": reason}})
                        if o.idle_exit is not None and time.monotonic() - last_activity >= o.idle_exit:
                            break
                        await self._sleep(2.0)
                        continue
                msgs: list[Any] = []
                if len(self.held) < o.max_held:
                    try:
                        msgs = await psub.fetch(batch=min(o.fetch, o.max_held - len(self.held)), timeout=1.0)
                    except TimeoutError:
                        msgs = []
                    except Exception as exc:  # noqa: BLE001 - connection trouble: the client reconnects
                        self.counters.add("nats_errors")
                        log.warning("fetch failed", extra={"fields": {"error": f"{type(exc).__name__}: {exc}"}})
                        if nc is not None and nc.is_closed:
                            psub = None
                        await self._sleep(1.0)
                else:
                    await self._sleep(0.2)
                for msg in msgs:
                    await self._take(msg)
                if msgs or self.held:
                    last_activity = time.monotonic()
                if self.held:
                    await self._apply(js)
                    await self._keep_alive()
                elif not msgs:
                    await self._idle_work()
                    if o.idle_exit is not None and time.monotonic() - last_activity >= o.idle_exit:
                        log.info("nothing to consume; exiting", extra={"fields": {"idle_exit": o.idle_exit}})
                        break
            await self._idle_work(force=True)
            if not connected:
                log.error("never reached NATS; exiting", extra={"fields": {"url": o.url}})
                return 1
        finally:
            # Held batches were not applied: let another analyzer have them now.
            for held in self.held.values():
                with contextlib.suppress(Exception):
                    await held.msg.nak()
            if nc is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(nc.close(), 5.0)
        return 0

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._stop.wait(), seconds)

    async def _subscribe(self) -> tuple[Any, Any, Any]:
        from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

        o = self.o
        # Reconnects forever once connected; the first connection is bounded here, so a server
        # that is not up yet is retried by run() (with the idle clock running).
        nc, js = await asyncio.wait_for(
            connect_jetstream(o.url, max_reconnect_attempts=-1, reconnect_time_wait=1.0), timeout=5.0
        )
        try:
            info = await ensure_stream(js, o.stream)
            # A stream deleted and created again restarts its sequences: progress is per instance.
            created = info.created.isoformat() if info.created else "0"
            self._stream_key = f"{o.stream}@{created}"
            self._first_seq = int(info.state.first_seq or 1)
            config = ConsumerConfig(
                durable_name=o.durable,
                ack_policy=AckPolicy.EXPLICIT,
                deliver_policy=DeliverPolicy.ALL,
                ack_wait=o.ack_wait,
                max_deliver=-1,
                max_ack_pending=4096,
                filter_subject=subject_for(o.stream),
            )
            psub = await js.pull_subscribe(subject_for(o.stream), durable=o.durable, stream=o.stream, config=config)
            # An existing durable consumer keeps the settings it was created with; the ack wait
            # is editable, and the analyzer started last says what it should be.
            current = await psub.consumer_info()
            if current.config.ack_wait is not None and abs(float(current.config.ack_wait) - o.ack_wait) > 0.01:
                await js.add_consumer(o.stream, current.config.evolve(ack_wait=o.ack_wait))
                log.info("consumer ack wait updated", extra={"fields": {
                    "durable": o.durable, "from": current.config.ack_wait, "to": o.ack_wait}})
        except BaseException:
            with contextlib.suppress(Exception):
                await nc.close()
            raise
        log.info("consuming", extra={"fields": {"url": o.url, "stream": o.stream, "durable": o.durable,
                                                "stream_key": self._stream_key}})
        return nc, js, psub

    async def _take(self, msg: Any) -> None:
        meta = msg.metadata
        seq = int(meta.sequence.stream)
        self.counters.add("messages_received")
        if meta.num_delivered and meta.num_delivered > 1:
            self.counters.add("messages_redelivered")
        if seq in self.held:  # redelivered while we hold it: the held copy gets the ack
            return
        sent = None
        headers = msg.headers or {}
        with contextlib.suppress(ValueError, TypeError):
            sent = float(headers.get("Apicensus-Sent", ""))
        try:
            records = await asyncio.to_thread(decode_batch, msg.data)  # CPU work, off the loop
        except BatchFormatError as exc:
            # Applied as an empty batch in its turn (order stays whole), then acknowledged.
            self.counters.add("bad_batches")
            log.error("unreadable batch skipped", extra={"fields": {"seq": seq, "error": str(exc)}})
            records = []
        self.counters.add("exchanges_received", len(records))
        prepared = await self._db_call(self.ingestor.prepare, records)
        now = time.monotonic()
        self.held[seq] = _Held(msg=msg, prepared=prepared, since=now, touched=now, sent_at=sent)
        self.counters.values["pending"] = len(self.held)

    async def _db_call(self, func: Any, *args: Any, **kwargs: Any) -> Any:
        """Run a database step in a thread; retry with backoff while the database is away."""
        while True:
            try:
                result = await asyncio.to_thread(func, *args, **kwargs)
                self._db_backoff = 0.0
                return result
            except SQLAlchemyError as exc:
                self.counters.add("database_errors")
                self._db_backoff = min(max(self._db_backoff * 2, 0.5), 10.0)
                reason = error_reason(exc)
                log.warning("database unavailable; retrying", extra={"fields": {"error": reason,
                                                                              "retry_in": self._db_backoff}})
                await self._keep_alive()
                await asyncio.sleep(self._db_backoff)

    async def _apply(self, js: Any) -> None:
        assert self._stream_key is not None
        batches = {seq: held.prepared for seq, held in self.held.items()}
        done = await self._db_call(self.ingestor.apply_in_order, self._stream_key, batches, first_seq=self._first_seq)
        now_wall = time.time()
        for seq in done:
            held = self.held.pop(seq)
            await held.msg.ack()
            result: IngestResult = held.prepared.result
            c = self.counters
            c.add("batches_applied")
            c.add("exchanges_new", result.new)
            c.add("exchanges_duplicate", result.duplicates)
            c.add("exchanges_noise", result.noise)
            c.add("pii_findings", result.pii_findings)
            if held.prepared.rejected_reason is not None:
                # Refused by the database (a data error): rejected whole, never retried forever.
                c.add("bad_batches")
                c.add("exchanges_rejected", result.rejected)
                log.error("batch rejected by the database", extra={"fields": {
                    "seq": seq, "error": held.prepared.rejected_reason}})
            if held.sent_at is not None:
                c.values["batch_lag_seconds"] = round(max(now_wall - held.sent_at, 0.0), 3)
            self._verdicts_dirty = True
            self._consolidate_due = True
        self.counters.values["pending"] = len(self.held)
        if done or not self.held:
            self._waiting_since = None
            return
        # Our lowest batch waits for an earlier one: held by another analyzer, due for
        # redelivery, or gone from the stream. Check the last case now and then.
        now = time.monotonic()
        if self._waiting_since is None:
            self._waiting_since = now
            return
        if now - self._waiting_since < self.o.wait_check:
            return
        self._waiting_since = now
        await self._skip_missing(js)
        if len(self.held) >= self.o.max_held:
            # Full while waiting: hand back the newest half so the missing batch can reach
            # someone (redeliveries need a consumer with room to pull).
            for seq in sorted(self.held)[len(self.held) // 2 :]:
                held = self.held.pop(seq)
                with contextlib.suppress(Exception):
                    await held.msg.nak(delay=1.0)
            self.counters.values["pending"] = len(self.held)

    async def _skip_missing(self, js: Any) -> None:
        from nats.js.errors import NotFoundError

        assert self._stream_key is not None
        last = await self._db_call(self.ingestor.progress, self._stream_key)
        next_seq = (last if last is not None else self._first_seq - 1) + 1
        try:
            await js.get_msg(self.o.stream, seq=next_seq)
            return  # it exists: someone holds it or it will be redelivered
        except NotFoundError:
            pass
        except Exception as exc:  # noqa: BLE001 - cannot tell now; try again later
            log.debug("stream lookup failed: %s", exc)
            return
        info = await js.stream_info(self.o.stream)
        first = int(info.state.first_seq or next_seq + 1)
        target = first if first > next_seq else next_seq + 1
        target = min(target, min(self.held))
        log.warning("stream sequences missing (purged?); skipping", extra={"fields": {"from": next_seq, "to": target - 1}})
        self.counters.add("gaps_skipped", target - next_seq)
        await self._db_call(self.ingestor.skip_to, self._stream_key, target)

    async def _keep_alive(self) -> None:
        now = time.monotonic()
        for held in self.held.values():
            if now - held.touched > self.o.ack_wait / 3:
                with contextlib.suppress(Exception):
                    await held.msg.in_progress()
                held.touched = now

    async def _idle_work(self, force: bool = False) -> None:
        now = time.monotonic()
        if self._consolidate_due:
            # A stream pause: the inventory ends consolidated (issue 10, class 7), before the
            # verdicts are computed from it.
            try:
                merged = await asyncio.to_thread(self.ingestor.consolidate)
                self._consolidate_due = False
                self.counters.add("consolidations")
                self.counters.add("merges_on_pause", merged)
            except SQLAlchemyError as exc:
                self.counters.add("database_errors")
                log.warning("consolidation failed; will retry", extra={"fields": {"error": str(exc)[:200]}})
        if self.o.dedupe_days is not None and now - self._last_prune >= self.o.prune_interval:
            self._last_prune = now
            try:
                pruned = await asyncio.to_thread(self.ingestor.prune_seen, self.o.dedupe_days)
                self.counters.add("uids_pruned", pruned)
                if pruned:
                    log.info("dedupe window: forgot old exchange uids", extra={"fields": {"pruned": pruned}})
            except SQLAlchemyError as exc:
                self.counters.add("database_errors")
                log.warning("pruning old uids failed; will retry", extra={"fields": {"error": str(exc)[:200]}})
        if self._verdicts_dirty and (force or now - self._last_verdicts >= self.o.verdict_interval):
            try:
                await asyncio.to_thread(self.ingestor.recompute_verdicts)
                self._verdicts_dirty = False
                self._last_verdicts = now
            except SQLAlchemyError as exc:
                self.counters.add("database_errors")
                log.warning("verdict recompute failed; will retry", extra={"fields": {"error": str(exc)[:200]}})


def run_worker(options: StreamOptions, ingestor: SharedIngestor, counters: WorkerCounters) -> int:
    """Blocking: consume until idle-exit or SIGTERM/SIGINT."""
    import signal

    async def main() -> int:
        worker = StreamWorker(options, ingestor, counters)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, worker.stop)
        return await worker.run()

    return asyncio.run(main())
