"""The analyzer pipeline: exchange records in, API inventory rows out.

Records (the sensor's ``Exchange.to_dict()`` form, from a pcap through the sensor in-process or
from its JSONL) are read in batches. Per batch, records whose uid is already in the database are
dropped (re-analysis is idempotent), the rest are templated, aggregated in memory, and written in
one transaction of bulk upserts together with the templater state and the batch's uids, so a crash
mid-run leaves the database consistent and a re-run completes it without double counting.

Two cores are kept busy: PII detection (the costliest step) runs in a forked helper process
(``analyzer.pipeline_pii``) while this process reads and aggregates the next batch, so one batch
is always aggregated but unwritten; its uids are excluded from the next batch like stored ones.
Templater merges (``drain_merges``) are applied after the batch's own rows are written, so they
re-home counts of earlier batches and of this one alike.
"""

from __future__ import annotations

import hashlib
import io
import os
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO, Any

import orjson
from sqlalchemy import Engine

from analyzer import auth, schema_infer
from analyzer.db import crud
from analyzer.db.models import (
    MAX_PATH_CHARS,
    EndpointAuth,
    EndpointContentType,
    EndpointField,
    EndpointHourly,
    EndpointParam,
    EndpointPeer,
    EndpointResponseHeader,
    EndpointStatus,
    PiiFinding,
)
from analyzer.db.session import session_scope
from analyzer.db.settings import AnalyzerSettings
from analyzer.pii.headers import scanned_headers
from analyzer.pipeline_pii import PendingPii, PiiScheduler, start_pii
from sensor.records import body_bytes

ErrorSink = Callable[[str], None]

_PCAP_MAGICS = (
    b"\xd4\xc3\xb2\xa1",
    b"\xa1\xb2\xc3\xd4",
    b"\x4d\x3c\xb2\xa1",
    b"\xa1\xb2\x3c\x4d",
    b"\x0a\x0d\x0d\x0a",  # pcapng section header block
)
_DEFAULT_PORTS = (":80", ":443")
_MAX_TS = 32503680000.0  # year 3000
_FIRST_BATCH = 1000
# Field paths of a response passed to the templater as its "shape" (bounded: similarity only).
_MAX_SHAPE_TOKENS = 64


# --------------------------------------------------------------------------------------- inputs


def sniff_format(head: bytes) -> str | None:
    """``"pcap"``, ``"jsonl"`` or None from a file's first bytes."""
    if head[:4] in _PCAP_MAGICS:
        return "pcap"
    if head.lstrip()[:1] == b"{":
        return "jsonl"
    return None


class _CountingReader(io.RawIOBase):
    """Wraps a binary stream to expose bytes consumed (for the progress bar) on any stream."""

    def __init__(self, raw: IO[bytes]) -> None:
        self._raw = raw
        self.consumed = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._raw.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        self.consumed += n
        return n


@dataclass(slots=True)
class InputProgress:
    """Where reading stands: the CLI's progress bar polls this."""

    name: str = ""
    total_bytes: int | None = None
    reader: _CountingReader | None = None

    @property
    def consumed(self) -> int:
        return self.reader.consumed if self.reader else 0


def read_records(
    source: str,
    *,
    on_error: ErrorSink,
    progress: InputProgress | None = None,
    sensor_config: Any = None,
) -> Iterator[dict[str, Any]]:
    """Exchange dicts from a pcap/pcapng capture or the sensor's JSONL (``-`` = stdin).

    Problems are reported through ``on_error`` with a one-line message and reading goes on with
    what is usable: a bad JSONL line is skipped, a truncated capture yields what came before.
    """
    try:
        if source == "-":
            raw: IO[bytes] = sys.stdin.buffer
            total = None
        else:
            raw = open(source, "rb")  # noqa: SIM115 - closed in the finally below
            total = os.fstat(raw.fileno()).st_size
    except OSError as exc:
        on_error(f"{source}: cannot open: {exc.strerror or exc}")
        return
    counting = _CountingReader(raw)
    stream = io.BufferedReader(counting, buffer_size=1 << 20)
    if progress is not None:
        progress.name, progress.total_bytes, progress.reader = source, total, counting
    try:
        kind = sniff_format(stream.peek(64)[:64])
        if kind == "jsonl":
            yield from _read_jsonl(source, stream, on_error)
        elif kind == "pcap":
            yield from _read_pcap(source, stream, on_error, sensor_config)
        elif not stream.peek(1):
            on_error(f"{source}: empty file")
        else:
            on_error(f"{source}: not a pcap/pcapng capture or the sensor's JSONL output; skipped")
    finally:
        if raw is not sys.stdin.buffer:
            raw.close()


def _read_jsonl(source: str, stream: IO[bytes], on_error: ErrorSink) -> Iterator[dict[str, Any]]:
    bad = 0
    for lineno, line in enumerate(stream, 1):
        if not line.strip():
            continue
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            record, reason = None, f"invalid JSON ({exc.msg})"
        else:
            reason = "not an exchange record"
        if not isinstance(record, dict) or "method" not in record:
            bad += 1
            if bad <= 5:  # enough to diagnose; more is noise
                on_error(f"{source}:{lineno}: {reason}; line skipped")
            continue
        yield record
    if bad > 5:
        on_error(f"{source}: {bad} unusable lines skipped in total")


def _read_pcap(source: str, stream: IO[bytes], on_error: ErrorSink, config: Any) -> Iterator[dict[str, Any]]:
    try:
        from sensor.engine import iter_exchanges
    except ImportError as exc:
        on_error(f"{source}: cannot read captures: the sensor is not available ({exc})")
        return
    count = 0
    try:
        for exchange in iter_exchanges(stream, config):
            count += 1
            yield exchange.to_dict()
    except Exception as exc:  # noqa: BLE001 - any sensor failure: keep what was read, no traceback
        on_error(f"{source}: capture damaged or cut short after {count} exchanges, which were kept ({exc})")


# ----------------------------------------------------------------------------------- normalise


def service_name(host: str | None, server: str | None) -> str:
    """Host header, lower-cased, default port dropped; the server address when there is none."""
    name = (host or "").strip().lower().rstrip(".")
    if not name:
        name = (server or "").strip().lower()
    for port in _DEFAULT_PORTS:
        if name.endswith(port):
            name = name[: -len(port)]
            break
    return _clean(name, 255) or "unknown"


def split_target(target: str) -> tuple[str, str]:
    """Request-target -> (path, query). Absolute-form targets lose scheme and authority."""
    if "#" in target:
        target = target.split("#", 1)[0]
    path, _, query = target.partition("?")
    if path.startswith(("http://", "https://")):
        rest = path.split("://", 1)[1]
        slash = rest.find("/")
        path = rest[slash:] if slash >= 0 else "/"
    return path or "/", query


def _clean(value: str, limit: int) -> str:
    # PostgreSQL text cannot hold NUL; keys must stay inside the btree limit.
    if "\x00" in value:
        value = value.replace("\x00", "")
    return value[:limit]


def _client_ip(address: str | None) -> str:
    if not address:
        return ""
    if address.startswith("["):
        return address[1 : address.find("]")] if "]" in address else address
    return address.rsplit(":", 1)[0] if address.count(":") == 1 else address


def _headers_ok(headers: Any) -> bool:
    """Headers as the sensor writes them: pairs of strings (hand-made JSONL may not be)."""
    if type(headers) not in _SEQUENCES:
        return False
    for h in headers:
        if type(h) not in _SEQUENCES or len(h) != 2 or type(h[0]) is not str or type(h[1]) is not str:
            return False
    return True


_SEQUENCES = (list, tuple)


def _header(headers: Iterable[Any], name: str) -> str | None:
    for h in headers:
        if h[0].lower() == name:
            return h[1]
    return None


def _pii_view(record: dict[str, Any]) -> dict[str, Any]:
    """What PII detection reads of a record (``PiiDetector.detect_exchange``: target, headers,
    bodies), taken when it is fed, before ``_aggregate`` normalises the record in place (the
    worker's copy is serialised in a background thread). Malformed header lists are empty, as
    ``_aggregate`` makes them; headers the detector skips are left out (it would skip them)."""
    view = {"target": record.get("target")}
    for name in ("request_headers", "response_headers"):
        headers = record.get(name)
        if headers:
            headers = scanned_headers(headers) if _headers_ok(headers) else ()
        view[name] = headers
    view["request_body"] = record.get("request_body")
    view["response_body"] = record.get("response_body")
    return view


def _dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def record_uid(record: dict[str, Any]) -> str:
    uid = record.get("uid")
    if isinstance(uid, str) and uid:
        return _clean(uid, 128)
    # No uid: a content hash keeps re-ingest idempotent all the same.
    return "h:" + hashlib.sha1(orjson.dumps(record, option=orjson.OPT_SORT_KEYS)).hexdigest()


# ---------------------------------------------------------------------------------- aggregates


@dataclass(slots=True)
class _EndpointAgg:
    template_id: str | None = None
    hits: int = 0
    first: float = float("inf")
    last: float = float("-inf")
    authenticated: int = 0
    unauthenticated: int = 0
    unauth_2xx: int = 0
    request_bodies: int = 0
    response_bodies: int = 0
    status: Counter[int] = field(default_factory=Counter)
    hourly: Counter[int] = field(default_factory=Counter)
    peers: dict[tuple[str, str], list[float]] = field(default_factory=dict)  # -> [count, first, last]
    auth: Counter[str] = field(default_factory=Counter)
    params: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    content_types: Counter[tuple[str, str]] = field(default_factory=Counter)
    # Bodies of one endpoint mostly share a handful of field sets: counting whole sets and
    # expanding them at write time does one update per body instead of one per field.
    fieldsets: Counter[tuple[str, frozenset[tuple[str, str]]]] = field(default_factory=Counter)
    # (type, location, field) -> [count, masked sample, first, last]
    pii: dict[tuple[str, str, str], list[Any]] = field(default_factory=dict)
    # Response header names (lower-case), once per exchange: Deprecation / Sunset mark zombies.
    response_headers: Counter[str] = field(default_factory=Counter)


@dataclass(slots=True)
class _PendingBatch:
    records: list[dict[str, Any]]
    uids: set[str]
    services: dict[str, list[float]]
    endpoints: dict[tuple[str, str, str], _EndpointAgg]
    noise: dict[tuple[str, str, str, int], list[float]]
    merges: list[tuple[str, str, str, str]]
    keys: list[tuple[str, str, str] | None]  # endpoint of each record (None: noise / skipped)
    pii: PendingPii | None
    # Positions of ``records`` in the batch as fed (and submitted to PII detection), when
    # records already in the database were dropped; None when every record is fresh.
    pii_positions: list[int] | None
    templater_state: bytes  # JSON of Templater.to_state() as of this batch


@dataclass(slots=True)
class RunStats:
    records: int = 0  # read from the inputs
    duplicates: int = 0  # already in the database (or repeated within the run)
    analysed: int = 0  # counted into endpoints
    noise: int = 0  # classed as noise by the templater
    skipped: int = 0  # no request line (response-only), nothing to inventory
    pii_findings: int = 0
    pii_errors: int = 0  # exchanges the PII detector failed on (reported once, run goes on)
    merges: int = 0
    batches: int = 0


class Analyzer:
    """Feeds records into the database in batches. Not thread-safe; one per process and DB."""

    def __init__(
        self,
        engine: Engine,
        settings: AnalyzerSettings,
        *,
        templater: Any = None,
        detector: Any = None,
        pii: PiiScheduler | None = None,
        on_error: ErrorSink | None = None,
    ) -> None:
        self.engine = engine
        self.on_error = on_error
        self.settings = settings
        self.stats = RunStats()
        # One batch is kept aggregated but unwritten while the next one is read, so PII detection
        # of a batch (in the helper process) overlaps reading and aggregating the next.
        self._pending: _PendingBatch | None = None
        self._batch: list[dict[str, Any]] = []
        self._batch_uids: set[str] = set()
        # PII detection of the batch being filled: chunks go to the worker as they fill.
        self._batch_pii: PendingPii | None = None
        self._pii_chunk: list[dict[str, Any]] = []
        # Batches ramp up (1000, 2000, ... batch_size): the PII worker gets its first work about
        # when it has loaded its detector instead of idling until a full batch was read.
        self._batch_limit = min(_FIRST_BATCH, settings.batch_size)
        # Forked before the first database use here unless the caller started it even earlier
        # (the CLI does, so presidio loads in the worker while the main process migrates).
        self._pii: PiiScheduler | None = None
        if settings.pii_enabled:
            self._pii = pii if pii is not None else start_pii(settings, detector=detector, engine=engine)
        self.templater = templater if templater is not None else self._load_templater()
        self._load_spec_templates()

    def _load_templater(self) -> Any:
        from analyzer.templating import Templater

        with session_scope(self.engine) as session:
            state = crud.load_templater_state(session=session)
        if not state:
            return Templater()
        try:
            return Templater.from_state(state)
        except Exception as exc:  # noqa: BLE001 - e.g. a state written by an older templater
            # Template ids are a pure function of (host, method, template), so a fresh templater
            # re-learns the same templates for the same traffic; stored counts are untouched.
            if self.on_error is not None:
                self.on_error(
                    f"templating state in the database could not be loaded ({type(exc).__name__}: {exc}); "
                    "templates are re-learned from this run"
                )
            return Templater()

    def _load_spec_templates(self) -> None:
        """Imported OpenAPI operations guide templating: a host's documented templates win.

        Every imported version counts (an operation removed from the latest spec still names
        the template its old traffic had); ``load_spec`` ignores what it already knows.
        """
        from sqlalchemy import select

        from analyzer.db.models import SpecOperation

        with session_scope(self.engine) as session:
            rows = session.execute(
                select(SpecOperation.host, SpecOperation.method, SpecOperation.path_template)
                .where(SpecOperation.host.is_not(None))
                .order_by(SpecOperation.id)
            ).all()
        by_host: dict[str, list[tuple[str, str]]] = {}
        for host, method, template in rows:
            by_host.setdefault(host, []).append((method, template))
        for host, operations in by_host.items():
            self.templater.load_spec(host, operations)

    # ---------------------------------------------------------------------------- public API

    def feed(
        self, records: Iterable[dict[str, Any]], on_progress: Callable[[RunStats], None] | None = None
    ) -> None:
        stats = self.stats
        for record in records:
            stats.records += 1
            if on_progress is not None and not stats.records & 0xFF:
                on_progress(stats)
            uid = record_uid(record)
            if uid in self._batch_uids:
                stats.duplicates += 1
                continue
            record["uid"] = uid
            self._batch_uids.add(uid)
            self._batch.append(record)
            if self._pii is not None:
                self._pii_chunk.append(_pii_view(record))
                if len(self._pii_chunk) >= self._pii.chunk_size:
                    self._submit_pii_chunk()
            if len(self._batch) >= self._batch_limit:
                self._advance()
                self._batch_limit = min(self._batch_limit * 2, self.settings.batch_size)

    def flush(self) -> None:
        """Analyse and write everything fed so far (each batch in one transaction)."""
        self._advance()
        self._advance()

    def close(self) -> None:
        """Stop the PII helper process (call after ``flush``, or after an error)."""
        if self._pii is not None:
            self._pii.close()
            self._pii = None

    def _submit_pii_chunk(self) -> None:
        assert self._pii is not None
        if self._batch_pii is None:
            self._batch_pii = self._pii.begin()
        self._pii.add(self._batch_pii, self._pii_chunk)
        self._pii_chunk = []

    def _advance(self) -> None:
        """Aggregate the batch being filled (PII submitted) and write the one before it."""
        if self._pii_chunk:
            self._submit_pii_chunk()
        batch, self._batch, self._batch_uids = self._batch, [], set()
        pii, self._batch_pii = self._batch_pii, None
        prepared = self._prepare(batch, pii) if batch else None
        previous, self._pending = self._pending, prepared
        if previous is not None:
            self._complete(previous)

    def _prepare(self, batch: list[dict[str, Any]], pii: PendingPii | None) -> _PendingBatch | None:
        with session_scope(self.engine) as session:
            unseen = crud.filter_unseen_uids(session=session, uids=[r["uid"] for r in batch])
        if self._pending is not None:  # not written yet, so not in the database either
            unseen -= self._pending.uids
        fresh = [r for r in batch if r["uid"] in unseen]
        self.stats.duplicates += len(batch) - len(fresh)
        if not fresh:
            if pii is not None and self._pii is not None:
                self._pii.discard(pii)
            return None
        positions = None
        if len(fresh) != len(batch):
            positions = [i for i, r in enumerate(batch) if r["uid"] in unseen]
        return self._aggregated(fresh, unseen, pii=pii, pii_positions=positions)

    def _aggregated(
        self,
        records: list[dict[str, Any]],
        uids: set[str],
        *,
        pii: PendingPii | None = None,
        pii_positions: list[int] | None = None,
        inferred: list[tuple[Any, ...]] | None = None,
    ) -> _PendingBatch:
        """Template and aggregate ``records`` (their uids: ``uids``) into a batch to store."""
        services, endpoints, noise, merges, keys = self._aggregate(records, inferred)
        return _PendingBatch(
            records=records,
            uids=uids,
            services=services,
            endpoints=endpoints,
            noise=noise,
            merges=merges,
            keys=keys,
            pii=pii,
            pii_positions=pii_positions,
            # Serialised now: to_state() shares live dicts that the next batch keeps changing.
            templater_state=orjson.dumps(self.templater.to_state()),
        )

    def _store(self, session: Any, batch: _PendingBatch) -> None:
        """Write a batch's rows, the templater state and its uids in ``session``'s transaction."""
        self._write(session, batch)
        crud.mark_seen(session=session, uids=batch.uids)

    def _complete(self, batch: _PendingBatch) -> None:
        if batch.pii is not None and self._pii is not None:
            results = self._pii.collect(batch.pii)
            if batch.pii_positions is not None:
                results = [results[i] for i in batch.pii_positions]
            self._add_pii(batch, results)
        with session_scope(self.engine) as session:
            self._store(session, batch)
        self.stats.batches += 1

    def _add_pii(self, batch: _PendingBatch, results: list[Any]) -> None:
        for rec, key, result in zip(batch.records, batch.keys, results, strict=True):
            if key is None:  # noise or no request line: no endpoint to attach findings to
                continue
            if isinstance(result, str):
                self.stats.pii_errors += 1
                if self.stats.pii_errors == 1 and self.on_error is not None:
                    self.on_error(f"PII detection failed on exchange {rec['uid']}: {result}")
                continue
            if not result:
                continue
            agg = batch.endpoints[key]
            ts = rec.get("ts") or rec.get("response_ts") or 0.0
            for ftype, location, fld, sample in result:
                self.stats.pii_findings += 1
                pkey = (_clean(ftype, 64), _clean(location, 32), _clean(fld, 512))
                pentry = agg.pii.get(pkey)
                if pentry is None:
                    agg.pii[pkey] = [1, None if sample is None else _clean(sample, 255), ts, ts]
                else:
                    pentry[0] += 1
                    pentry[2] = min(pentry[2], ts)
                    pentry[3] = max(pentry[3], ts)

    # ------------------------------------------------------------------------------ internals

    def infer_bodies(self, rec: dict[str, Any]) -> tuple[Any, ...]:
        """(request headers, request content type, request fields, response content type,
        response fields) of a record; malformed header lists become empty in the record.
        Order-free: shared ingestion runs it before taking the inventory lock."""
        req_headers = rec.get("request_headers") or ()
        if not _headers_ok(req_headers):
            req_headers = rec["request_headers"] = ()
        resp_headers = rec.get("response_headers") or ()
        if not _headers_ok(resp_headers):
            rec["response_headers"] = ()
            resp_headers = ()
        req_ct = _header(req_headers, "content-type")
        resp_ct = _header(resp_headers, "content-type")
        return (
            req_headers,
            req_ct,
            self._infer(req_ct, rec.get("request_body")),
            resp_ct,
            self._infer(resp_ct, rec.get("response_body")),
        )

    def _aggregate(
        self, records: list[dict[str, Any]], inferred: list[tuple[Any, ...]] | None = None
    ) -> tuple[Any, ...]:
        templater = self.templater
        prepared: list[tuple[Any, ...]] = []
        # Pass 1: parse, infer body schemas and let the templater see the whole batch before
        # matching, so siblings of /users/1 seen later in the batch template it at once instead
        # of via a merge. The response's field paths are the "shape" the templater compares.
        keys: list[tuple[str, str, str] | None] = [None] * len(records)
        shapes: dict[frozenset[tuple[str, str]], str] = {}
        for index, rec in enumerate(records):
            method = rec.get("method")
            target = rec.get("target")
            if not method or not isinstance(method, str) or not isinstance(target, str):
                self.stats.skipped += 1
                continue
            # Hand-made or foreign JSONL: wrong types degrade to "unknown", never to a crash.
            host, server = rec.get("host"), rec.get("server")
            host = service_name(
                host if isinstance(host, str) else None, server if isinstance(server, str) else None
            )
            path, query = split_target(target)
            path = _clean(path, MAX_PATH_CHARS)
            method = _clean(method.upper(), 32)
            status = rec.get("status")
            if type(status) is not int:
                status = None
            ts = rec.get("ts") or rec.get("response_ts") or 0.0
            if not isinstance(ts, int | float) or not 0.0 <= ts < _MAX_TS:
                ts = 0.0  # hand-made JSONL: a time no datetime (or database) can hold is unknown
            rec["ts"] = ts
            if not isinstance(rec.get("client"), str):
                rec["client"] = None
            if not isinstance(server, str):
                rec["server"] = None
            if inferred is not None:
                req_headers, req_ct, req_fields, resp_ct, resp_fields = inferred[index]
            else:
                req_headers, req_ct, req_fields, resp_ct, resp_fields = self.infer_bodies(rec)
            shape = None
            if resp_fields:
                shape = shapes.get(resp_fields)
                if shape is None:
                    shape = shapes[resp_fields] = " ".join(
                        sorted({p for p, _ in resp_fields})[:_MAX_SHAPE_TOKENS]
                    )
            templater.observe(host, method, path, status, shape)
            prepared.append(
                (
                    index,
                    rec,
                    host,
                    method,
                    path,
                    query,
                    status,
                    ts,
                    req_headers,
                    req_ct,
                    req_fields,
                    resp_ct,
                    resp_fields,
                )
            )

        services: dict[str, list[float]] = {}  # host -> [hits, first, last]
        endpoints: dict[tuple[str, str, str], _EndpointAgg] = {}
        noise: dict[tuple[str, str, str, int], list[float]] = {}
        for (
            index,
            rec,
            host,
            method,
            path,
            query,
            status,
            ts,
            req_headers,
            req_ct,
            req_fields,
            resp_ct,
            resp_fields,
        ) in prepared:
            match = templater.match(host, method, path)
            if match is None:
                self.stats.noise += 1
                key_n = (host, method, path, status or 0)
                entry = noise.get(key_n)
                if entry is None:
                    noise[key_n] = [1, ts, ts]
                else:
                    entry[0] += 1
                    entry[1] = min(entry[1], ts)
                    entry[2] = max(entry[2], ts)
                continue
            self.stats.analysed += 1
            svc = services.get(host)
            if svc is None:
                services[host] = [1, ts, ts]
            else:
                svc[0] += 1
                svc[1] = min(svc[1], ts)
                svc[2] = max(svc[2], ts)
            template = _clean(match.template, MAX_PATH_CHARS)
            key = (host, method, template)
            agg = endpoints.get(key)
            if agg is None:
                agg = endpoints[key] = _EndpointAgg()
            agg.template_id = None if match.template_id is None else str(match.template_id)
            agg.hits += 1
            agg.first = min(agg.first, ts)
            agg.last = max(agg.last, ts)
            agg.status[status or 0] += 1
            agg.hourly[int(ts // 3600) * 3600] += 1
            for peer in (("client", _client_ip(rec["client"])), ("server", rec["server"] or "")):
                if peer[1]:
                    p = agg.peers.get(peer)
                    if p is None:
                        agg.peers[peer] = [1, ts, ts]
                    else:
                        p[0] += 1
                        p[1] = min(p[1], ts)
                        p[2] = max(p[2], ts)
            for param in match.params:
                agg.params[("path", param.name, str(param.type))] += 1
            qparams = schema_infer.query_params(query) if query else []
            for name, typ in qparams:
                agg.params[("query", _clean(name, 255), typ)] += 1
            schemes = auth.credential_schemes(req_headers, (n for n, _ in qparams))
            if schemes:
                agg.authenticated += 1
                for scheme in schemes:
                    agg.auth[scheme] += 1
            else:
                agg.unauthenticated += 1
                agg.auth[auth.SCHEME_NONE] += 1
                if status is not None and 200 <= status < 300:
                    agg.unauth_2xx += 1
            names = rec.get("response_headers")  # pairs, or () once pass 1 found them malformed
            if names:
                agg.response_headers.update({_clean(h[0].lower(), 128) for h in names})
            if req_fields is not None:
                agg.request_bodies += 1
                agg.content_types[("request", schema_infer.media_type(req_ct) or "unknown")] += 1
                agg.fieldsets[("request", req_fields)] += 1
            if resp_fields is not None:
                agg.response_bodies += 1
                agg.content_types[("response", schema_infer.media_type(resp_ct) or "unknown")] += 1
                agg.fieldsets[("response", resp_fields)] += 1
            keys[index] = key
        merges = list(templater.drain_merges())
        return services, endpoints, noise, merges, keys

    def _infer(self, content_type: str | None, body: dict[str, Any] | None) -> schema_infer.FieldSet | None:
        if not isinstance(body, dict) or not isinstance(body.get("data"), str) or not body["data"]:
            return None
        if len(body["data"]) > self.settings.max_body_bytes:
            return None
        s = self.settings
        try:
            data = body_bytes(body)
        except ValueError:  # bad base64 from a hand-made JSONL
            return None
        return schema_infer.infer_body(
            content_type,
            data,
            max_fields=s.max_fields_per_body,
            max_items=s.max_array_items,
            max_depth=s.max_depth,
        )

    def _write(self, session: Any, batch: _PendingBatch) -> None:
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
                    "address": _clean(addr, 64),
                    "count": int(v[0]),
                    "first_seen": _dt(v[1]),
                    "last_seen": _dt(v[2]),
                }
                for (kind, addr), v in agg.peers.items()
            ]
            children[EndpointAuth] += [
                {"endpoint_id": eid, "scheme": k, "count": v} for k, v in agg.auth.items()
            ]
            children[EndpointParam] += [
                {"endpoint_id": eid, "location": loc, "name": name, "type": typ, "count": v}
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
                {"endpoint_id": eid, "part": part, "path": path, "type": typ, "count": v}
                for (part, path, typ), v in fields.items()
            ]
            children[EndpointResponseHeader] += [
                {"endpoint_id": eid, "name": name, "count": v} for name, v in agg.response_headers.items()
            ]
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
        # Merges after this batch's rows are in: they re-home earlier batches and this one alike.
        for host, method, old, new in merges:
            if crud.rehome_endpoint(
                session=session,
                host=host,
                method=method,
                old_template=_clean(old, MAX_PATH_CHARS),
                new_template=_clean(new, MAX_PATH_CHARS),
            ):
                self.stats.merges += 1
        # The state as of this batch (the next one may already be observed): a crash after this
        # commit resumes with templates and counts that agree.
        crud.save_templater_state(session=session, state=batch.templater_state)


def analyze(
    sources: Iterable[str],
    *,
    engine: Engine,
    settings: AnalyzerSettings,
    on_error: ErrorSink,
    progress: InputProgress | None = None,
    on_progress: Callable[[RunStats], None] | None = None,
    templater: Any = None,
    detector: Any = None,
    pii: PiiScheduler | None = None,
) -> RunStats:
    """Analyse every source into the database; returns this run's statistics.

    The run holds the inventory lock throughout (analyzer/db/locking.py): it keeps the templater
    in memory between batches, so stream analyzers on the same database wait, then reload the
    state this run leaves, instead of either side overwriting the other's templates.
    """
    from analyzer.db.locking import exclusive_inventory

    with exclusive_inventory(engine):
        analyzer = Analyzer(engine, settings, templater=templater, detector=detector, pii=pii, on_error=on_error)
        try:
            for source in sources:
                analyzer.feed(read_records(source, on_error=on_error, progress=progress), on_progress)
            analyzer.flush()
        finally:
            analyzer.close()
    if analyzer.stats.pii_errors > 1:
        on_error(f"PII detection failed on {analyzer.stats.pii_errors} exchanges in total")
    return analyzer.stats
