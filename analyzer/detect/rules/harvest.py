"""mass_harvest, and the sensitive-data-flow view it is computed from.

Per endpoint and window, every actor's PII records received (objects in 2xx responses that
carried PII) and responses. An actor harvests when it received at least ``harvest_min_records``
records, ``harvest_peer_factor`` times the median of its peers on the same endpoint, in pages
``harvest_page_factor`` times the largest usual page (the 95th percentile of the peers' mean pages:
peers with small listings do not make a full normal page look large): large list/export pages, the way a broken
filter or an export endpoint is drained. A client paging fast through normal-sized pages, or the
busiest of many similar clients, is not that.

The data-flow view (:meth:`HarvestRule.flows`) is the same data kept per PII type: which actors
received which PII types, how many records, from which endpoints.
"""

from __future__ import annotations

import statistics
from typing import Any, NamedTuple

from analyzer.detect.context import Seen
from analyzer.detect.rules.base import Hasher, Rule, Sink, expired
from analyzer.detect.settings import DetectSettings
from analyzer.detect.windows import LruTable, window_start

MAX_PEERS = 512  # actors tracked per endpoint and window
PEER_HISTORY = 256  # per-actor totals kept from closed windows per endpoint


class DataFlow(NamedTuple):
    """Who received which PII type from which endpoint, and how much (a named tuple for the
    same reason as :class:`~analyzer.detect.engine.ActorSummary`: rebuilt from worker rows)."""

    actor_ip: str
    actor_identity: str | None
    actor_key: str
    host: str
    path_template: str
    pii_type: str
    records: int
    responses: int
    first_seen: float
    last_seen: float


def _new_flow(ip: str | None, identity: str | None, ts: float) -> list[Any]:
    return [ip, identity, 0, 0, ts, ts]


class _Endpoint:
    __slots__ = ("actors", "history")

    def __init__(self) -> None:
        self.actors: dict[str, list[int]] = {}  # actor key -> [records, responses]
        self.history: list[list[int]] = []  # [records, responses] of actors in closed windows

    def to_state(self) -> list[Any]:
        return [sorted(self.actors.items()), self.history]

    @classmethod
    def from_state(cls, data: list[Any]) -> _Endpoint:
        ep = cls()
        ep.actors = {k: list(v) for k, v in data[0]}
        ep.history = [list(v) for v in data[1]]
        return ep


# DataFlow's fields, in order, as a tuple (HarvestRule.flow_rows).
FlowRow = tuple[str, str | None, str, str, str, str, int, int, float, float]


def pii_records(seen: Seen) -> int:
    """PII records a 2xx response carried: its objects, or the PII detector's largest count when
    that is more. The objects are not always countable: a page too large to parse (the harvest
    itself), a list inside an envelope (``{"ok": true, "result": {"invoices": [...]}}``)."""
    if not seen.pii_records:
        return 0
    return max(seen.pii_records, max(count for _type, count in seen.x.pii))


class HarvestRule(Rule):
    kind = "mass_harvest"
    severity = "high"
    title = "Mass data harvesting: an actor received far more PII records than its peers"

    def __init__(self, settings: DetectSettings, hasher: Hasher) -> None:
        super().__init__(settings, hasher)
        self.window = settings.harvest_window
        self.endpoints: LruTable[tuple[str, str, float], _Endpoint] = LruTable(settings.max_window_keys)
        # (actor key, host, template, pii type) -> [ip, identity hint, records, responses, first, last]
        self.flow_table: LruTable[tuple[str, str, str, str], list[Any]] = LruTable(settings.max_window_keys, settings.probation_keys)
        self.flow_table.on_evict = self._evicted_flow
        # Flows evicted since the pipeline last wrote them (``flows(unwritten=True)``); bounded.
        self._unwritten: dict[tuple[str, str, str, str], list[Any]] = {}
        self.closed_history: LruTable[tuple[str, str], list[list[int]]] = LruTable(settings.max_window_keys)

    def observe(self, seen: Seen, sink: Sink) -> None:
        if not seen.pii_records:
            return
        x = seen.x
        records = pii_records(seen)
        actor = seen.actor
        ref = actor.ref()
        for pii_type, _count in x.pii:
            flow = self.flow_table.setdefault((actor.key, x.host, seen.template, pii_type), _new_flow, ref.ip, ref.identity, x.ts)
            flow[2] += records
            flow[3] += 1
            flow[4] = min(flow[4], x.ts)
            flow[5] = max(flow[5], x.ts)
        start = window_start(x.ts, self.window)
        ep = self.endpoints.setdefault((x.host, seen.template, start), _Endpoint)
        mine = ep.actors.get(actor.key)
        if mine is None:
            if len(ep.actors) >= MAX_PEERS:
                return
            mine = ep.actors[actor.key] = [0, 0]
        mine[0] += records
        mine[1] += 1
        s = self.settings
        if mine[0] < s.harvest_min_records:
            return
        peers = [v for k, v in ep.actors.items() if k != actor.key]
        peers += self.closed_history.peek((x.host, seen.template)) or []
        if len(peers) < s.harvest_min_peers:
            return
        peer_total = statistics.median(p[0] for p in peers)
        pages = sorted(p[0] / max(1, p[1]) for p in peers)
        peer_page = pages[min(len(pages) - 1, int(0.95 * len(pages)))]
        page = mine[0] / mine[1]
        if mine[0] >= s.harvest_peer_factor * max(peer_total, 1) and page >= s.harvest_page_factor * max(peer_page, 1):
            self.hit(
                seen,
                sink,
                evidence={
                    "records": mine[0],
                    "responses": mine[1],
                    "records_per_response": round(page, 1),
                    "peer_median_records": peer_total,
                    "peer_p95_page": round(peer_page, 1),
                    "pii_types": sorted({t for t, _ in x.pii}),
                },
            )

    def expire(self, watermark: float, sink: Sink) -> None:
        for key, ep in self.endpoints.items():
            if expired(key[2], self.window, watermark, self.settings.lateness):
                self.endpoints.pop(key)
                history = self.closed_history.setdefault((key[0], key[1]), list)
                history.extend(v for _k, v in sorted(ep.actors.items()))
                del history[: max(0, len(history) - PEER_HISTORY)]

    def _evicted_flow(self, key: tuple[str, str, str, str], flow: list[Any]) -> None:
        self._unwritten[key] = flow
        if len(self._unwritten) > self.settings.max_window_keys:
            del self._unwritten[next(iter(self._unwritten))]

    def flows(self, *, unwritten: bool = False, seen_since: float | None = None) -> list[DataFlow]:
        """The flows in memory (``unwritten``: and those evicted since the last such call), or
        only those last seen at or after ``seen_since`` (filtered before any is built: the
        pipeline asks after every batch, and most flows in memory are older)."""
        return [DataFlow(*row) for row in self.flow_rows(unwritten=unwritten, seen_since=seen_since)]

    def flow_rows(self, *, unwritten: bool = False, seen_since: float | None = None) -> list[FlowRow]:
        """:meth:`flows` as plain tuples of :class:`DataFlow`'s fields in their order (what the
        detection worker sends; the main process rebuilds them with ``DataFlow._make``)."""
        rows = self.flow_table.items()
        if unwritten and self._unwritten:
            rows = iter([*self._unwritten.items(), *rows])
            self._unwritten = {}
        if seen_since is not None:
            rows = iter([(k, v) for k, v in rows if v[5] >= seen_since])
        return [(v[0], v[1], k[0], k[1], k[2], k[3], v[2], v[3], v[4], v[5]) for k, v in rows]

    def to_state(self) -> Any:
        return {
            "endpoints": self.endpoints.to_state(lambda e: e.to_state(), list),
            "flows": self.flow_table.to_state(lambda v: v, list),
            "history": self.closed_history.to_state(lambda v: v, list),
        }

    def load_state(self, data: Any) -> None:
        n = self.settings.max_window_keys
        self.endpoints = LruTable.from_state(data["endpoints"], n, _Endpoint.from_state, lambda k: (k[0], k[1], k[2]))
        self.flow_table = LruTable.from_state(
            data["flows"], n, list, lambda k: (k[0], k[1], k[2], k[3]), probation=self.settings.probation_keys
        )
        self.flow_table.on_evict = self._evicted_flow
        self.closed_history = LruTable.from_state(data["history"], n, list, lambda k: (k[0], k[1]))
