"""Stage 5, detect: runtime threat detection (analyzer/detect) on every aggregated batch.

Per batch, after aggregation and PII detection: one :class:`~analyzer.detect.model.DetectExchange`
per exchange (its observation + the templater's match + its PII results), fed to the engine in
stream order; then, in the batch's own transaction (right after ``store_batch``), the events it
drained are upserted by id, the actors and data flows the batch touched are upserted by key, and
the engine's state is saved. The state is loaded back by the next analyzer under the inventory
lock, exactly like the templater's, so N analyzers applying batches in stream order (and a
SIGKILLed one's successor) produce the same events as one analyzer.

:class:`DetectStage` runs these steps in the calling process (stream ingestion, embedded use);
``apicensus analyze`` runs the same functions (:func:`exchange_fields` / :func:`from_fields`,
:func:`detect_batch`, :func:`write_detection`) split between a forked worker and the writer
(:mod:`analyzer.pipeline.detect_worker`).

:func:`events_to_alerts` turns drained events into alert events (pure: delivery is elsewhere).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from analyzer.db import threats
from analyzer.detect.engine import ActorSummary, DetectionEngine
from analyzer.detect.model import DetectExchange, Event
from analyzer.detect.rules import DataFlow
from analyzer.detect.settings import DetectSettings
from analyzer.pipeline.aggregate import Aggregate
from analyzer.pipeline.gcpause import paused_cyclic_gc
from analyzer.pipeline.normalise import Normalised

if TYPE_CHECKING:
    from analyzer.alerts.model import AlertEvent

SECRET_ENV = "APICENSUS_DETECT_SECRET"
# Where PII findings of the response body are reported (analyzer/pii/detector.py).
RESPONSE_LOCATION = "response"
CHECKPOINT_COST_FACTOR = 50.0  # a checkpoint waits at least this many times its own duration


# The stage runs with the cyclic GC paused (analyzer.pipeline.gcpause): detection's surviving
# per-identity containers were re-walked every 700 allocations (engine-only 150 -> 120 us/exchange;
# whole-run GC time of apicensus analyze on analyze_speed's capture 1.32 -> 0.84 s).


# What :func:`exchange_fields` takes from one exchange, in this order (see :func:`from_fields`).
Pairs = tuple[tuple[str, str], ...]
ExchangeFields = tuple[
    float, str, str, str, str, str, int | None, str | None, str | None, Pairs, Pairs, Pairs, bytes, bytes,
    tuple[tuple[str, int], ...], bool, str,
]


def detect_exchange(item: Normalised, match: Any, pii: Any) -> DetectExchange:
    """The engine's view of one exchange: observation + template match + PII results."""
    return from_fields(exchange_fields(item, match, pii))


def exchange_fields(item: Normalised, match: Any, pii: Any) -> ExchangeFields:
    """What detection reads of one exchange, as a tuple of plain values: a forked detection
    worker gets these (pickled without a memo: ~4 us per exchange, a third of the pickled
    DetectExchange) and builds the :class:`DetectExchange` itself (:func:`from_fields`)."""
    obs = item.obs
    template = template_id = None
    params: tuple[tuple[str, str], ...] = ()
    if match is not None:
        template, template_id = match.template, match.template_id
        if match.params:
            segments = item.path.split("/")[1:]
            params = tuple(
                (p.name, segments[p.index]) for p in match.params if 0 <= p.index < len(segments)
            )
    counts: dict[str, int] = {}
    if isinstance(pii, list):
        for finding in pii:
            if finding[1] == RESPONSE_LOCATION:
                counts[finding[0]] = counts.get(finding[0], 0) + 1
    return (
        item.ts,
        item.client_ip,
        item.service,
        item.method,
        item.path,
        item.query,
        item.status,
        template,
        None if template_id is None else str(template_id),
        params,
        obs.request_headers,
        obs.response_headers,
        obs.request_body.data or b"",
        obs.response_body.data or b"",
        tuple(sorted(counts.items())),
        not _decrypted(obs.proto),
        obs.uid,
    )


def from_fields(fields: ExchangeFields) -> DetectExchange:
    """The :class:`DetectExchange` of :func:`exchange_fields`' tuple."""
    (ts, client_ip, host, method, path, query, status, template, template_id, params,
     request_headers, response_headers, request_body, response_body, pii, cleartext, uid) = fields
    content_type = ""
    for name, value in response_headers:
        if name.lower() == "content-type":
            content_type = value.split(";", 1)[0].strip().lower()
            break
    return DetectExchange(
        ts=ts,
        client_ip=client_ip,
        host=host,
        method=method,
        path=path,
        query=query,
        status=status,
        template=template,
        template_id=template_id,
        path_params=params,
        request_headers=request_headers,
        response_headers=response_headers,
        request_body=request_body,
        response_body=response_body,
        response_content_type=content_type,
        pii=pii,
        cleartext=cleartext,
        uid=uid,
    )


def batch_fields(batch: Aggregate) -> tuple[list[ExchangeFields], int]:
    """:func:`exchange_fields` of every exchange of ``batch`` in stream order, and how many
    could not be read (counted as the engine's errors: one odd exchange must not stop a batch)."""
    pii: Sequence[Any] = batch.pii_results if batch.pii_results is not None else [None] * len(batch.items)
    out: list[ExchangeFields] = []
    failed = 0
    for item, match, result in zip(batch.items, batch.matches, pii, strict=True):
        try:
            out.append(exchange_fields(item, match, result))
        except Exception:  # noqa: BLE001 - one odd exchange must not stop the batch
            failed += 1
    return out, failed


def _decrypted(proto: Any) -> bool:
    """Read from decrypted TLS (``proto["tls"]["decrypted"]``, sensor/connection.py)."""
    tls = proto.get("tls") if isinstance(proto, Mapping) else None
    return isinstance(tls, Mapping) and bool(tls.get("decrypted"))


def detect_settings(session: Session) -> DetectSettings:
    """Settings from the environment; the secret is ``APICENSUS_DETECT_SECRET`` or the one
    generated and stored once in this inventory (call under the inventory lock)."""
    settings = DetectSettings.from_env()
    if os.environ.get(SECRET_ENV):
        return settings
    from dataclasses import replace

    return replace(settings, secret=threats.stored_secret(session=session))


@dataclass(slots=True)
class DetectOutcome:
    events: list[Event]  # created or updated by this batch (upserted)
    actors: int = 0
    flows: int = 0


@dataclass(slots=True)
class BatchDetection:
    """What one batch changed in the engine, to be written in the batch's transaction."""

    events: list[Event]  # drained: created or updated by the batch
    actors: list[ActorSummary]  # seen in the batch, or named by its events
    flows: list[DataFlow]  # seen in the batch
    fed: int = 0  # exchanges fed
    errors: int = 0  # exchanges that could not be read, or that a rule failed on


def load_detection(session: Session) -> tuple[DetectSettings, bytes | None, int]:
    """(settings, stored engine state or None, its generation), read under the inventory lock."""
    settings = detect_settings(session)
    blob, generation = threats.load_state(session=session)
    return settings, blob, generation


def engine_from(settings: DetectSettings, blob: bytes | None) -> tuple[DetectionEngine, str | None]:
    """The engine continuing from ``blob`` (a fresh one without), and why ``blob`` was not used."""
    if blob:
        try:
            return DetectionEngine.from_state(blob, settings), None
        except Exception as exc:  # noqa: BLE001 - e.g. a state of an older engine version
            return DetectionEngine(settings), (
                f"detection state in the database could not be loaded ({type(exc).__name__}: {exc}); "
                "detection starts afresh"
            )
    return DetectionEngine(settings), None


def detect_batch(engine: DetectionEngine, fields: Iterable[ExchangeFields], failed: int = 0) -> BatchDetection:
    """Feed the exchanges of ``fields`` (:func:`batch_fields`, stream order; ``failed`` more could
    not be read); what they changed: drained events, the actors seen since the batch's oldest
    exchange or named by its events, the data flows seen since then, and the errors (unread
    exchanges, and those the engine could not take), counted in the engine's stats too."""
    events, oldest, fed, errors = feed_batch(engine, fields, failed)
    if not fed:
        return BatchDetection(events=events, actors=[], flows=[], errors=errors)
    return BatchDetection(
        events=events,
        actors=engine.actors(seen_since=oldest, keys=touched_actors(events)),
        flows=engine.data_flows(seen_since=oldest),
        fed=fed,
        errors=errors,
    )


def feed_batch(engine: DetectionEngine, fields: Iterable[ExchangeFields], failed: int = 0) -> tuple[list[Event], float, int, int]:
    """:func:`detect_batch`'s feeding: (drained events, the oldest exchange's time, exchanges
    fed, errors). The actors and flows to write are then listed since that oldest time (the
    detection worker lists them as rows, :meth:`DetectionEngine.actor_rows`)."""
    engine.stats["errors"] += failed
    before = engine.stats["errors"]
    oldest = float("inf")
    fed = 0
    for x in map(from_fields, fields):
        oldest = min(oldest, x.ts)
        engine.feed(x)
        fed += 1
    events = engine.drain()
    return events, oldest, fed, failed + engine.stats["errors"] - before


def touched_actors(events: Iterable[Event]) -> set[str]:
    """The actor keys ``events`` name (listed with a batch's actors even when seen before it)."""
    return {e.actor.key or f"ip:{e.actor.ip}" for e in events}


def write_detection(session: Session, detection: BatchDetection) -> DetectOutcome:
    """Upsert one batch's events, actors and data flows in ``session``'s transaction."""
    threats.upsert_events(session=session, events=detection.events)
    outcome = DetectOutcome(events=detection.events)
    if detection.fed:
        outcome.actors = threats.upsert_actors(session=session, actors=detection.actors)
        outcome.flows = threats.upsert_flows(session=session, flows=detection.flows)
    return outcome


def checkpoint_due(since_last: float, every: float, last_save_seconds: float) -> bool:
    """Whether a run that holds the inventory should checkpoint the engine's state now: ``every``
    seconds after the last save, and no sooner than 50x what that save took, so checkpoints cost
    at most ~2% of the run however big the state or busy the machine (a crash loses at most that
    much learning; events are written with every batch regardless)."""
    return since_last >= max(every, CHECKPOINT_COST_FACTOR * last_save_seconds)


class DetectStage:
    """The engine between batches of one analyzer, in this process. Not thread-safe (callers
    hold the lock). ``apicensus analyze`` runs the same steps in a forked worker instead
    (:mod:`analyzer.pipeline.detect_worker`)."""

    def __init__(self, on_error: Callable[[str], None] | None = None) -> None:
        self.on_error = on_error
        self.engine: DetectionEngine | None = None
        self.generation = -1  # of the stored state the engine is at; -1 = reload
        self.errors = 0
        self.dirty = False  # fed since the state was last saved
        self.last_save_seconds = 0.0  # wall time the last save took (serialise + write)

    def sync(self, session: Session) -> DetectionEngine:
        """The engine as the inventory stores it (reloaded only when another writer moved it)."""
        generation = threats.state_generation(session=session)
        if self.engine is not None and generation == self.generation:
            return self.engine
        settings, blob, generation = load_detection(session)
        self.engine, problem = engine_from(settings, blob)
        if problem is not None and self.on_error is not None:
            self.on_error(problem)
        self.generation = generation
        return self.engine

    def invalidate(self) -> None:
        """The transaction the engine advanced in was rolled back: reload before the next batch."""
        self.generation = -1
        self.engine = None
        self.dirty = False

    def run(self, session: Session, batch: Aggregate, *, save_state: bool = True) -> DetectOutcome:
        """Feed ``batch`` (stream order) and write what it changed, in ``session``'s transaction.

        ``save_state=False`` leaves the engine's state unsaved (``dirty``) for a later
        :meth:`save` in the same run: the one writer holding the inventory for a whole run
        checkpoints it every few seconds instead of every batch (see ``Analyzer``)."""
        with paused_cyclic_gc():  # feeding, listing and writing what the batch changed
            engine = self.sync(session)
            detection = detect_batch(engine, *batch_fields(batch))
            self.errors += detection.errors
            outcome = write_detection(session, detection)
        self.dirty = True
        if save_state:
            self.save(session)
        return outcome

    def save(self, session: Session) -> None:
        """Store the engine's state (the next writer continues from it)."""
        if self.engine is None:
            return
        started = time.perf_counter()
        with paused_cyclic_gc():
            self.store_state(session, self.engine.state())
        self.last_save_seconds = time.perf_counter() - started

    def store_state(self, session: Session, state: bytes) -> None:
        """Write ``state`` (the engine's, serialised) in ``session``'s transaction."""
        threats.save_state(session=session, state=state)
        session.flush()
        self.generation = threats.state_generation(session=session)
        self.dirty = False

    def checkpoint_due(self, since_last: float, every: float) -> bool:
        """:func:`checkpoint_due` after this stage's last save."""
        return checkpoint_due(since_last, every, self.last_save_seconds)


def events_to_alerts(events: Iterable[Event]) -> list[AlertEvent]:
    """Alert events for the drained detection events (pure: the alerts branch enqueues them)."""
    from analyzer.alerts.model import alert_from_threat_event

    alerts = []
    for event in events:
        data = event.to_json()
        data["actor"] = {"ip": event.actor.ip, "identity": event.actor.identity, "key": event.actor.key}
        alerts.append(alert_from_threat_event(data))
    return alerts
