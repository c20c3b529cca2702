"""The detection engine: exchanges in, grouped events out, bounded state that serialises.

    engine = DetectionEngine(DetectSettings(secret=b"..."))
    for x in exchanges:            # DetectExchange, in stream order
        engine.feed(x)
    changed = engine.drain()       # events created or updated since the last drain
    engine.close()                 # end of stream: close every window (anomaly scoring)
    blob = engine.state()          # bytes; DetectionEngine.from_state(blob, settings) continues

Time is the stream's: windows close when the newest timestamp seen (the watermark) passes their
end plus ``lateness``; expiry runs at whole minutes of stream time. So the same exchanges in the
same order give the same events and the same state however they are batched, drained or
checkpointed (``state``/``from_state`` between any two exchanges). One exchange that breaks a
rule is counted (``stats["errors"]``) and skipped; the engine goes on.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any, NamedTuple

import orjson

from analyzer.detect.actors import ActorResolver
from analyzer.detect.context import Seen, build, keyed64_hasher
from analyzer.detect.model import SEVERITIES, DetectExchange, Event, event_id
from analyzer.detect.rules import DataFlow, Hit, Ownership, Rule, default_rules, load_common_passwords
from analyzer.detect.rules.harvest import FlowRow, HarvestRule
from analyzer.detect.settings import DetectSettings
from analyzer.detect.windows import DistinctCounter, LruTable

STATE_VERSION = 1
EXPIRY_STEP = 60.0  # seconds of stream time between window expiry passes
_EVENT_ID_MEMO = 4096
_RANK = {s: i for i, s in enumerate(SEVERITIES)}
_RISK = {"critical": 40, "high": 20, "medium": 8, "low": 2, "info": 0}


class ActorSummary(NamedTuple):
    """An actor as the inventory lists it: seen when, where, what PII it received, how risky.
    A named tuple, not a dataclass: the detection worker sends its rows (:data:`ActorRow`) and
    the main process rebuilds them with ``_make``, ~5x cheaper than a frozen dataclass for the
    ~20,000 one-shot identities of a batch."""

    key: str
    ip: str
    identity: str | None
    first_seen: float
    last_seen: float
    requests: int
    endpoints: int
    pii_types: dict[str, int]  # PII type -> records received
    risk: int  # 0..100 from the severities of its events


# ActorSummary's fields, in order, as a tuple (DetectionEngine.actor_rows).
ActorRow = tuple[str, str, str | None, float, float, int, int, dict[str, int], int]


class _ActorStats:
    __slots__ = ("ip", "identity", "first", "last", "requests", "endpoints", "pii")

    def __init__(self, ip: str, identity: str | None, ts: float) -> None:
        self.ip, self.identity, self.first, self.last = ip, identity, ts, ts
        self.requests = 0
        self.endpoints = DistinctCounter()
        self.pii: dict[str, int] = {}

    def to_state(self) -> list[Any]:
        return [self.ip, self.identity, self.first, self.last, self.requests, self.endpoints.to_state(), sorted(self.pii.items())]

    @classmethod
    def from_state(cls, d: list[Any]) -> _ActorStats:
        stats = cls(d[0], d[1], d[2])
        stats.last, stats.requests = d[3], d[4]
        stats.endpoints = DistinctCounter.from_state(d[5])
        stats.pii = dict(d[6])
        return stats


class DetectionEngine:
    def __init__(self, settings: DetectSettings, rules: list[Rule] | None = None) -> None:
        self.settings = settings
        self.resolver = ActorResolver(settings.secret, settings.trusted_proxies)
        self._hash = keyed64_hasher(settings.secret)
        self.common_passwords = load_common_passwords()
        self.ownership = Ownership(settings, self._hash)
        self.rules = rules if rules is not None else default_rules(settings, self._hash, self.ownership, self.common_passwords)
        self._events: LruTable[str, Event] = LruTable(settings.max_events)
        self._changed: dict[str, None] = {}
        # Event ids by grouping key: a finding repeats on every exchange that shows it (a
        # server version header), and the id is a JSON dump + BLAKE2b. Bounded, not serialised.
        self._event_ids: dict[tuple[Any, ...], str] = {}
        self._actors: LruTable[str, _ActorStats] = LruTable(settings.max_identities, settings.probation_keys)
        self._actors.on_evict = self._evicted_actor
        # Actors evicted since the pipeline last wrote them (``actors(seen_since=...)``): a batch
        # of more one-request identities than the probation segment holds still reaches the
        # inventory. In memory only, bounded.
        self._unwritten: dict[str, _ActorStats] = {}
        self.watermark = -math.inf
        self._next_expiry = -math.inf
        self.stats = {"exchanges": 0, "hits": 0, "errors": 0}

    # --- feeding -------------------------------------------------------------------------
    def feed(self, x: DetectExchange) -> None:
        self.stats["exchanges"] += 1
        try:
            seen = build(x, self.resolver, self.common_passwords)
        except Exception:  # a hostile or broken exchange must not stop the stream
            self.stats["errors"] += 1
            return
        for rule in self.rules:
            try:
                rule.observe(seen, self._sink)
            except Exception:
                self.stats["errors"] += 1
        self.ownership.learn(seen)
        self._account(seen)
        if x.ts > self.watermark:
            self.watermark = x.ts
            if self.watermark >= self._next_expiry:
                self._expire(self.watermark)
                self._next_expiry = (math.floor(self.watermark / EXPIRY_STEP) + 1) * EXPIRY_STEP

    def feed_many(self, exchanges: Iterable[DetectExchange]) -> None:
        for x in exchanges:
            self.feed(x)

    def close(self) -> None:
        """End of the stream: every open window closes now (anomaly windows are scored)."""
        self._expire(math.inf)

    def _expire(self, watermark: float) -> None:
        for rule in self.rules:
            try:
                rule.expire(watermark, self._sink)
            except Exception:
                self.stats["errors"] += 1

    def _account(self, seen: Seen) -> None:
        x, actor = seen.x, seen.actor
        ts = x.ts
        identity = actor.identity
        stats = self._actors.setdefault(actor.key, _ActorStats, actor.ip, identity.hint if identity is not None else None, ts)
        if ts < stats.first:
            stats.first = ts
        if ts > stats.last:
            stats.last = ts
        stats.ip = actor.ip
        stats.requests += 1
        stats.endpoints.add(seen.endpoint_hash(self._hash))
        if seen.pii_records:
            for pii_type, _count in x.pii:
                stats.pii[pii_type] = stats.pii.get(pii_type, 0) + seen.pii_records

    def _evicted_actor(self, key: str, stats: _ActorStats) -> None:
        self._unwritten[key] = stats
        if len(self._unwritten) > self.settings.max_identities:
            del self._unwritten[next(iter(self._unwritten))]

    def _sink(self, hit: Hit) -> None:
        self.stats["hits"] += 1
        group = (hit.kind, hit.subtype, hit.actor.key or hit.actor.ip, hit.host, hit.method, hit.template, hit.window_start)
        if type(hit.window_start) is float:  # (300 == 300.0 as a key, not in the id's JSON)
            eid = self._event_ids.get(group)
            if eid is None:
                if len(self._event_ids) >= _EVENT_ID_MEMO:
                    self._event_ids.clear()
                eid = self._event_ids[group] = event_id(*group)
        else:
            eid = event_id(*group)
        event = self._events.get(eid)
        if event is None:
            event = Event(
                type=hit.kind,
                subtype=hit.subtype,
                severity=hit.severity,
                title=hit.title,
                actor=hit.actor,
                host=hit.host,
                method=hit.method,
                path_template=hit.template,
                window_start=hit.window_start,
                window_seconds=hit.window_seconds,
                first_seen=hit.ts,
                last_seen=hit.ts,
                count=1,
                evidence=dict(hit.evidence),
            )
            self._events.setdefault(eid, lambda: event)
        else:
            event.count += 1
            event.first_seen = min(event.first_seen, hit.ts)
            event.last_seen = max(event.last_seen, hit.ts)
            event.evidence = dict(hit.evidence)
            if _RANK.get(hit.severity, 9) < _RANK.get(event.severity, 9):
                event.severity = hit.severity
        self._changed[eid] = None

    # --- reading -------------------------------------------------------------------------
    def drain(self) -> list[Event]:
        """Events created or updated since the last drain (the inventory upserts them by id)."""
        out = [e for e in (self._events.peek(eid) for eid in self._changed) if e is not None]
        self._changed.clear()
        return out

    def events(self) -> list[Event]:
        return [e for _k, e in self._events.items()]

    def data_flows(self, *, seen_since: float | None = None) -> list[DataFlow]:
        """Every data flow in memory; or (``seen_since``) those seen at or after it, including
        flows evicted since the last such call (what the pipeline writes after a batch)."""
        return [DataFlow(*row) for row in self.data_flow_rows(seen_since=seen_since)]

    def data_flow_rows(self, *, seen_since: float | None = None) -> list[FlowRow]:
        """:meth:`data_flows` as tuples of :class:`DataFlow`'s fields in their order."""
        for rule in self.rules:
            if isinstance(rule, HarvestRule):
                if seen_since is None:
                    return rule.flow_rows()
                return rule.flow_rows(unwritten=True, seen_since=seen_since)
        return []

    def actors(self, *, seen_since: float | None = None, keys: Iterable[str] = ()) -> list[ActorSummary]:
        """Every actor; or (``seen_since``) those seen at or after it plus those named in ``keys``
        (what the pipeline writes after a batch)."""
        return [ActorSummary(*row) for row in self.actor_rows(seen_since=seen_since, keys=keys)]

    def actor_rows(self, *, seen_since: float | None = None, keys: Iterable[str] = ()) -> list[ActorRow]:
        """:meth:`actors` as plain tuples of :class:`ActorSummary`'s fields in their order (what
        the detection worker sends; the main process rebuilds them with ``ActorSummary._make``)."""
        risk: dict[str, int] = {}
        for event in self.events():
            key = event.actor.key or (f"ip:{event.actor.ip}" if event.actor.ip else None)
            if key is not None:
                risk[key] = min(100, risk.get(key, 0) + _RISK.get(event.severity, 0))
        named = set(keys)
        rows = self._actors.items()
        if seen_since is not None and self._unwritten:
            rows = iter([*self._unwritten.items(), *rows])
            self._unwritten = {}
        return [
            (key, s.ip, s.identity, s.first, s.last, s.requests, s.endpoints.count(), dict(sorted(s.pii.items())),
             risk.get(key, 0))
            for key, s in rows
            if seen_since is None or s.last >= seen_since or key in named
        ]

    # --- state ---------------------------------------------------------------------------
    def state(self) -> bytes:
        data = {
            "v": STATE_VERSION,
            "watermark": self.watermark if math.isfinite(self.watermark) else None,
            "next_expiry": self._next_expiry if math.isfinite(self._next_expiry) else None,
            "ownership": self.ownership.to_state(),
            "rules": [[type(rule).__name__, rule.to_state()] for rule in self.rules],
            "events": self._events.to_state(lambda e: e.to_state()),
            "changed": list(self._changed),
            "actors": self._actors.to_state(lambda a: a.to_state()),
            "stats": self.stats,
        }
        return orjson.dumps(data)

    @classmethod
    def from_state(cls, blob: bytes, settings: DetectSettings) -> DetectionEngine:
        data = orjson.loads(blob)
        if data.get("v") != STATE_VERSION:
            raise ValueError(f"detection state version {data.get('v')!r} is not {STATE_VERSION}")
        engine = cls(settings)
        engine.watermark = data["watermark"] if data["watermark"] is not None else -math.inf
        engine._next_expiry = data["next_expiry"] if data["next_expiry"] is not None else -math.inf
        engine.ownership.load_state(data["ownership"])
        by_name = {name: state for name, state in data["rules"]}
        for rule in engine.rules:
            state = by_name.get(type(rule).__name__)
            if state is not None:
                rule.load_state(state)
        engine._events = LruTable.from_state(data["events"], settings.max_events, Event.from_state)
        engine._changed = dict.fromkeys(data["changed"])
        engine._actors = LruTable.from_state(
            data["actors"], settings.max_identities, _ActorStats.from_state, probation=settings.probation_keys
        )
        engine._actors.on_evict = engine._evicted_actor
        engine.stats = dict(data["stats"])
        return engine
