"""Shipping exchange records off the sensor: compressed batches, a bounded disk spool, two transports.

``apicensus sensor ... --ship URL`` hands every record to a :class:`Shipper`. Records are cut into
batches (zstd-compressed JSON lines, one uid per record, an id per batch) and sent by one
background thread, so a slow or absent destination never stalls packet processing:

- ``nats://HOST:PORT`` publishes to a JetStream stream (subject ``<stream>.exchanges``) and waits
  for its acknowledgement; the batch id goes in ``Nats-Msg-Id`` so a batch re-sent after a lost
  acknowledgement is dropped by JetStream's duplicate window;
- ``http(s)://.../api/v1/ingest`` POSTs to the inventory service with a ``sensor`` key.

When the destination is down (or the in-memory queue is full) batches go to a spool directory,
bounded in bytes: when the bound is hit the oldest batches are dropped and counted. Spooled
batches are replayed oldest first once the destination answers again, and on the next start.
Delivery is at least once; the analyzers drop duplicates by exchange uid.
"""

from __future__ import annotations

import asyncio
import bisect
import builtins
import contextlib
import logging
import os
import queue
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sensor.plumbing.wire import (
    BATCH_CONTENT_TYPE,
    connect_jetstream,
    encode_batch,
    ensure_stream,
    subject_for,
)

log = logging.getLogger("apicensus.sensor.ship")

REDACTED = "<redacted>"


# ---------------------------------------------------------------------------------- redaction


@dataclass(frozen=True, slots=True)
class Redactor:
    """What must not leave the segment: bodies, and header values outside an allow-list.

    Header names are kept (the analyzer counts them, and ``Authorization``'s scheme word says
    how a caller authenticates); the request-target stays whole, so templating and PII in paths
    and query strings still work downstream.
    """

    redact_bodies: bool = False
    keep_headers: frozenset[str] | None = None  # lower-case names whose values are kept; None = all

    @property
    def active(self) -> bool:
        return self.redact_bodies or self.keep_headers is not None

    def __call__(self, record: dict[str, Any]) -> dict[str, Any]:
        if self.redact_bodies:
            for part in ("request_body", "response_body"):
                body = record.get(part)
                if body is not None:
                    # Length and encoding stay (schema-free evidence); the bytes do not.
                    record[part] = {k: v for k, v in body.items() if k != "data"} | {"data": "", "redacted": True}
        if self.keep_headers is not None:
            keep = self.keep_headers
            for part in ("request_headers", "response_headers"):
                headers = record.get(part)
                if headers:
                    record[part] = [
                        [name, value] if name.lower() in keep else [name, _redact_value(name, value)]
                        for name, value in headers
                    ]
        return record


def _redact_value(name: str, value: str) -> str:
    lower = name.lower()
    if lower in ("authorization", "proxy-authorization"):
        scheme, _, rest = value.strip().partition(" ")
        return f"{scheme} {REDACTED}" if rest else REDACTED
    return REDACTED


# -------------------------------------------------------------------------------------- spool


@dataclass(frozen=True, slots=True)
class SpooledBatch:
    path: Path
    batch_id: str
    count: int
    size: int


def _seq_of(item: SpooledBatch) -> int:
    return int(item.path.name.split("-", 1)[0])


class Spool:
    """Batches on disk, oldest first, bounded in bytes. Thread-safe.

    One file per batch, ``<seq>-<count>-<batch id>.zst``, written to a temporary name and
    renamed, so a crash leaves whole batches only; sequence numbers continue across restarts.
    """

    def __init__(self, directory: str | os.PathLike[str], max_bytes: int) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        self.dropped_batches = 0
        self.dropped_exchanges = 0
        self._lock = threading.Lock()
        self._items: list[SpooledBatch] = []
        for tmp in self.directory.glob("*.tmp"):
            tmp.unlink(missing_ok=True)
        for path in sorted(self.directory.glob("*.zst")):
            parsed = self._parse(path)
            if parsed is not None:
                self._items.append(parsed)
        self._items.sort(key=_seq_of)
        self._bytes = sum(b.size for b in self._items)
        # Batches of this run sort after every batch left by earlier runs.
        self._base = _seq_of(self._items[-1]) + 1 if self._items else 1
        self._seq = self._base

    @staticmethod
    def _parse(path: Path) -> SpooledBatch | None:
        try:
            seq, count, batch_id = path.stem.split("-", 2)
            int(seq)
            return SpooledBatch(path=path, batch_id=batch_id, count=int(count), size=path.stat().st_size)
        except (ValueError, OSError):
            return None

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    @property
    def bytes(self) -> int:
        with self._lock:
            return self._bytes

    @property
    def exchanges(self) -> int:
        with self._lock:
            return sum(b.count for b in self._items)

    def push(self, batch_id: str, count: int, payload: builtins.bytes, *, order: int | None = None) -> None:
        """Add a batch. ``order`` (the shipper's batch number in this run) keeps the spool in
        the order batches were made, whichever path reached the disk first: a batch whose send
        failed is older than the ones queued meanwhile, and must stay ahead of them."""
        with self._lock:
            # Make room first: the bound holds at every moment, the newest data wins.
            while self._items and self._bytes + len(payload) > self.max_bytes:
                self._drop_oldest()
            if len(payload) > self.max_bytes:
                self.dropped_batches += 1
                self.dropped_exchanges += count
                log.error("batch %s (%d bytes) is larger than the whole spool bound; dropped", batch_id, len(payload))
                return
            seq = self._base + order if order is not None else max(self._seq, self._base)
            self._seq = max(self._seq, seq + 1)
            name = f"{seq:012d}-{count}-{batch_id}.zst"
            path = self.directory / name
            tmp = path.with_suffix(".tmp")
            try:
                tmp.write_bytes(payload)
                os.replace(tmp, path)
            except OSError as exc:
                tmp.unlink(missing_ok=True)
                self.dropped_batches += 1
                self.dropped_exchanges += count
                log.error("cannot spool batch %s to %s: %s; dropped", batch_id, self.directory, exc)
                return
            item = SpooledBatch(path=path, batch_id=batch_id, count=count, size=len(payload))
            position = bisect.bisect(self._items, seq, key=_seq_of)
            self._items.insert(position, item)
            self._bytes += len(payload)

    def _drop_oldest(self) -> None:
        oldest = self._items.pop(0)
        self._bytes -= oldest.size
        self.dropped_batches += 1
        self.dropped_exchanges += oldest.count
        oldest.path.unlink(missing_ok=True)
        log.warning(
            "spool full (%d bytes): dropped the oldest batch %s (%d exchanges)",
            self.max_bytes,
            oldest.batch_id,
            oldest.count,
        )

    def peek(self) -> tuple[SpooledBatch, builtins.bytes] | None:
        with self._lock:
            while self._items:
                item = self._items[0]
                try:
                    return item, item.path.read_bytes()
                except OSError:  # removed under us: forget it
                    self._items.pop(0)
                    self._bytes -= item.size
            return None

    def remove(self, item: SpooledBatch) -> None:
        with self._lock:
            if self._items and self._items[0] is item:
                self._items.pop(0)
                self._bytes -= item.size
            item.path.unlink(missing_ok=True)


# --------------------------------------------------------------------------------- transports


class TransportError(Exception):
    """The destination did not take the batch; ``permanent`` means re-sending cannot help."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class HttpTransport:
    """POST batches to the inventory service's ``/api/v1/ingest`` with a sensor key."""

    def __init__(self, url: str, key: str | None, *, timeout: float = 60.0) -> None:
        import httpx

        self.url = url
        self.key = key
        self._client = httpx.Client(timeout=timeout)

    def describe(self) -> str:
        return self.url

    def send(self, batch_id: str, count: int, payload: bytes) -> None:
        import httpx

        headers = {
            "Content-Type": BATCH_CONTENT_TYPE,
            "Content-Encoding": "zstd",
            "Apicensus-Batch": batch_id,
        }
        if self.key:
            headers["Authorization"] = f"Bearer {self.key}"
        try:
            response = self._client.post(self.url, content=payload, headers=headers)
        except httpx.HTTPError as exc:
            raise TransportError(f"{self.url}: {type(exc).__name__}: {exc}") from exc
        if response.status_code < 300:
            return
        detail = response.text[:200]
        if response.status_code in (401, 403):
            # A wrong or missing key: keep spooling (nothing is lost) and say so loudly.
            raise TransportError(f"{self.url}: HTTP {response.status_code} (check APICENSUS_SENSOR_KEY): {detail}")
        if response.status_code in (400, 413, 415, 422):
            raise TransportError(f"{self.url}: batch rejected, HTTP {response.status_code}: {detail}", permanent=True)
        raise TransportError(f"{self.url}: HTTP {response.status_code}: {detail}")

    def close(self) -> None:
        self._client.close()


class NatsTransport:
    """Publish batches to a JetStream stream and wait for the stream's acknowledgement.

    nats-py is asyncio-only: the transport owns a private event loop, driven from the shipper
    thread. The stream is created when missing (work-queue retention: a batch is removed once an
    analyzer acknowledged it; a full stream refuses new batches, which then wait in the spool).
    """

    def __init__(self, url: str, stream: str, *, timeout: float = 5.0, stream_max_bytes: int = -1) -> None:
        self.url = url
        self.stream = stream
        self.subject = subject_for(stream)
        self.timeout = timeout
        self.stream_max_bytes = stream_max_bytes
        self._loop = asyncio.new_event_loop()
        self._nc: Any = None
        self._js: Any = None

    def describe(self) -> str:
        return f"{self.url} stream {self.stream}"

    def send(self, batch_id: str, count: int, payload: bytes) -> None:
        try:
            self._loop.run_until_complete(self._send(batch_id, count, payload))
        except TransportError:
            raise
        except Exception as exc:  # noqa: BLE001 - any client error means "not delivered"
            self._loop.run_until_complete(self._drop_connection())
            raise TransportError(f"{self.url}: {type(exc).__name__}: {exc or 'no answer'}") from exc

    async def _send(self, batch_id: str, count: int, payload: bytes) -> None:
        if self._nc is None or self._nc.is_closed:
            self._nc, self._js = await connect_jetstream(self.url, timeout=self.timeout)
            await ensure_stream(self._js, self.stream, max_bytes=self.stream_max_bytes)
        await self._js.publish(
            self.subject,
            payload,
            timeout=self.timeout,
            headers={"Nats-Msg-Id": batch_id, "Apicensus-Count": str(count), "Apicensus-Sent": f"{time.time():.3f}"},
        )

    async def _drop_connection(self) -> None:
        nc, self._nc, self._js = self._nc, None, None
        if nc is not None:
            # Best effort: the connection is already broken.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(nc.close(), 2.0)

    def close(self) -> None:
        try:
            self._loop.run_until_complete(self._drop_connection())
        finally:
            self._loop.close()


def make_transport(url: str, *, stream: str, key: str | None) -> HttpTransport | NatsTransport:
    scheme = urlsplit(url).scheme.lower()
    if scheme in ("nats", "tls"):
        return NatsTransport(url, stream)
    if scheme in ("http", "https"):
        return HttpTransport(url, key)
    raise ValueError(f"--ship {url!r}: expected nats://HOST:PORT or http(s)://HOST/api/v1/ingest")


# ------------------------------------------------------------------------------------ shipper


@dataclass(slots=True)
class ShipperStats:
    batches_sent: int = 0
    exchanges_sent: int = 0
    bytes_sent: int = 0
    send_failures: int = 0
    batches_rejected: int = 0  # refused as malformed by the destination: dropped
    exchanges_rejected: int = 0
    batches_spooled: int = 0
    last_batch_lag_s: float = 0.0  # first record queued -> destination acknowledged
    destination_up: bool = True


class Shipper:
    """Batches records and sends them from a background thread; never blocks the caller.

    ``add`` takes a record's JSON bytes. A batch is closed at ``batch_size`` records,
    ``batch_bytes`` bytes or ``batch_wait`` seconds after its first record.
    """

    def __init__(
        self,
        transport: Any,
        spool: Spool,
        *,
        sensor_id: str,
        batch_size: int = 500,
        batch_bytes: int = 4 * 1024 * 1024,
        batch_wait: float = 1.0,
        queue_batches: int = 16,
        retry_max: float = 10.0,
    ) -> None:
        self.transport = transport
        self.spool = spool
        self.sensor_id = sensor_id
        self.batch_size = batch_size
        self.batch_bytes = batch_bytes
        self.batch_wait = batch_wait
        self.retry_max = retry_max
        self.stats = ShipperStats()
        self._run_id = uuid.uuid4().hex[:12]
        self._seq = 0
        self._lines: list[bytes] = []
        self._size = 0
        self._opened = 0.0
        self._lock = threading.Lock()
        self._queue: queue.Queue[tuple[str, int, bytes, float, int]] = queue.Queue(maxsize=queue_batches)
        self._stop = threading.Event()  # no more records: deliver everything, then end
        self._abort = threading.Event()  # out of time: end after the batch in flight
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name="apicensus-shipper", daemon=True)
        self._thread.start()
        self._ticker = threading.Thread(target=self._tick, name="apicensus-batch-timer", daemon=True)
        self._ticker.start()

    # -------------------------------------------------------------------------- producer side

    def add(self, line: bytes) -> None:
        with self._lock:
            if not self._lines:
                self._opened = time.monotonic()
            self._lines.append(line)
            self._size += len(line) + 1
            if len(self._lines) >= self.batch_size or self._size >= self.batch_bytes:
                self._close_batch()

    def _tick(self) -> None:
        while not self._abort.wait(min(self.batch_wait, 0.25)):
            with self._lock:
                if self._lines and time.monotonic() - self._opened >= self.batch_wait:
                    self._close_batch()

    def _close_batch(self) -> None:
        lines, self._lines, self._size = self._lines, [], 0
        self._seq += 1
        batch_id = f"{self.sensor_id}.{self._run_id}.{self._seq}"
        payload = encode_batch(lines)
        item = (batch_id, len(lines), payload, self._opened, self._seq)
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            # The destination is slow or down: memory stays bounded, the disk takes it.
            self.spool.push(batch_id, len(lines), payload, order=self._seq)
            self.stats.batches_spooled += 1
        self._wake.set()

    def flush(self) -> None:
        with self._lock:
            if self._lines:
                self._close_batch()

    # -------------------------------------------------------------------------- sender side

    def _run(self) -> None:
        delay = 0.0
        while not self._abort.is_set():
            if delay:
                # Down: park what arrives meanwhile on disk, so memory stays bounded and the
                # oldest batches are still sent first.
                deadline = time.monotonic() + delay
                while time.monotonic() < deadline and not self._abort.is_set():
                    self._spill_queue()
                    self._wake.wait(0.2)
                    self._wake.clear()
                if self._abort.is_set():
                    return
            if len(self.spool):
                # Replaying: queued batches may be older than spooled ones (the producer spools
                # directly when the queue is full), so they join the spool, which keeps order.
                self._spill_queue()
            spooled = self.spool.peek()
            if spooled is not None:
                item, payload = spooled
                ok = self._send(item.batch_id, item.count, payload, None)
                if ok is not False:
                    self.spool.remove(item)
                delay = 0.0 if ok is not False else min(max(delay * 2, 0.5), self.retry_max)
                continue
            try:
                batch_id, count, payload, opened, order = self._queue.get(timeout=0.2)
            except queue.Empty:
                if self._stop.is_set():  # the producer is done and everything went out
                    return
                continue
            ok = self._send(batch_id, count, payload, opened)
            if ok is False:
                self.spool.push(batch_id, count, payload, order=order)
                self.stats.batches_spooled += 1
                delay = min(max(delay * 2, 0.5), self.retry_max)
            else:
                delay = 0.0

    def _spill_queue(self) -> None:
        while True:
            try:
                queued = self._queue.get_nowait()
            except queue.Empty:
                return
            batch_id, count, payload, _, order = queued
            self.spool.push(batch_id, count, payload, order=order)
            self.stats.batches_spooled += 1

    def _send(self, batch_id: str, count: int, payload: bytes, opened: float | None) -> bool | None:
        """True sent, None rejected for good (dropped, counted), False not delivered."""
        stats = self.stats
        try:
            self.transport.send(batch_id, count, payload)
        except TransportError as exc:
            if exc.permanent:
                stats.batches_rejected += 1
                stats.exchanges_rejected += count
                log.error("batch %s dropped: %s", batch_id, exc)
                return None
            stats.send_failures += 1
            if stats.destination_up:
                log.warning("destination down, spooling to %s: %s", self.spool.directory, exc)
            stats.destination_up = False
            return False
        if not stats.destination_up:
            log.info("destination %s back; replaying %d spooled batches", self.transport.describe(), len(self.spool))
        stats.destination_up = True
        stats.batches_sent += 1
        stats.exchanges_sent += count
        stats.bytes_sent += len(payload)
        if opened is not None:
            stats.last_batch_lag_s = time.monotonic() - opened
        return True

    # -------------------------------------------------------------------------------- closing

    def close(self, timeout: float = 30.0) -> int:
        """Flush, then give the sender up to ``timeout`` seconds to deliver the queue and the
        spool. Whatever is still undelivered stays in the spool (replayed on the next start).
        Returns the number of batches left in the spool."""
        self.flush()
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=timeout)
        self._abort.set()
        self._thread.join(timeout=self.transport_timeout() + 5.0)
        self._spill_queue()  # what the sender did not get to goes to disk, not to waste
        try:
            self.transport.close()
        except Exception:  # noqa: BLE001 - closing a broken connection
            log.debug("transport close failed", exc_info=True)
        return len(self.spool)

    def transport_timeout(self) -> float:
        return float(getattr(self.transport, "timeout", 10.0))

    def snapshot(self) -> dict[str, Any]:
        s = self.stats
        return {
            "batches_sent": s.batches_sent,
            "exchanges_sent": s.exchanges_sent,
            "bytes_sent": s.bytes_sent,
            "send_failures": s.send_failures,
            "batches_rejected": s.batches_rejected,
            "exchanges_rejected": s.exchanges_rejected,
            "batches_spooled": s.batches_spooled,
            "spool_batches": len(self.spool),
            "spool_bytes": self.spool.bytes,
            "spool_exchanges": self.spool.exchanges,
            "spool_dropped_batches": self.spool.dropped_batches,
            "spool_dropped_exchanges": self.spool.dropped_exchanges,
            "batch_lag_seconds": round(s.last_batch_lag_s, 3),
            "destination_up": int(s.destination_up),
        }
