"""Pages of ``GET /api/v1/findings`` from one build of the findings per inventory version.

Findings are derived by rules over every endpoint (``analyzer.inventory.findings``), not stored:
building them is seconds on a 50,000-endpoint inventory, and the route did it for every page of a
walk. Here the process keeps the last build, keyed by the inventory's version
(:func:`analyzer.inventory.fingerprint.inventory_fingerprint`, cheap aggregates checked on every
request, so an answer never comes from an older inventory than the one the request sees) and the
GraphQL limits it was built under. A page is then a bisect into the sorted order keys and a copy
of ``limit`` items; a filter's items and its counts are computed once per version.

- One build serves every role: it holds the samples as stored, and callers without the right to
  read samples get their shape (:func:`analyzer.inventory.findings.for_role`), exactly what a
  build with ``full_samples=False`` gives.
- Filtering the whole build by severity, kind and host gives what ``build_findings`` with those
  filters gives (same rules, same order; "unseen for 30 days" counts from the newest observation
  of the whole inventory either way).
- Bounded: one build (the size of the list every request used to build) and at most
  :data:`MAX_VIEWS` filters over it (references into the build), least recently used dropped.
- Concurrent requests that find the build out of date make one build: the others wait for it.
"""

from __future__ import annotations

import threading
from bisect import bisect_right
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from analyzer.inventory.findings import FindingKey, GraphqlLimits, build_findings, order_key, severity_counts
from analyzer.inventory.fingerprint import inventory_fingerprint

MAX_VIEWS = 32
Filter = tuple[frozenset[str], frozenset[str], str | None]  # severities, kinds, host


@dataclass(frozen=True, slots=True)
class View:
    """Findings that match one filter, in order, with their order keys and severity counts."""

    items: list[dict[str, Any]]  # shared with the build: never modified
    keys: list[FindingKey]
    counts: dict[str, int]

    def page(self, *, after: FindingKey | None, limit: int) -> tuple[list[dict[str, Any]], FindingKey | None]:
        """The ``limit`` findings after ``after`` and the key to resume after when more follow.
        Keyed on the order rather than an offset: findings that appear or clear between two
        requests never shift or repeat the ones already served."""
        start = 0 if after is None else bisect_right(self.keys, after)
        page = self.items[start : start + limit]
        more = start + limit < len(self.items)
        return page, (self.keys[start + limit - 1] if more and page else None)


def _view(items: list[dict[str, Any]], keys: list[FindingKey]) -> View:
    return View(items, keys, severity_counts(items))


@dataclass(slots=True)
class _Build:
    version: tuple[Any, ...]
    everything: View
    views: OrderedDict[Filter, View] = field(default_factory=OrderedDict)


def _matches(item: dict[str, Any], host: str | None) -> bool:
    """``build_findings(host=...)``: endpoints of that service, TLS services with that SNI."""
    if host is None:
        return True
    endpoint = item["endpoint"]
    if endpoint is not None:
        return bool(endpoint["host"] == host)
    return bool((item.get("tls_service") or {}).get("sni") == host)


class FindingsCache:
    """The app's last build of the findings and its filtered views (see the module docstring)."""

    def __init__(self, max_views: int = MAX_VIEWS) -> None:
        self.max_views = max_views
        self.builds = 0
        self._build: _Build | None = None
        self._lock = threading.Lock()  # one build at a time; guards the views

    def view(
        self, session: Session, *, severities: Iterable[str] = (), kinds: Iterable[str] = (), host: str | None = None
    ) -> View:
        limits = GraphqlLimits.from_env()
        # Read before the build: a write landing in between makes the build newer than its
        # version, never older, so the next request rebuilds rather than serving stale findings.
        version = (*inventory_fingerprint(session), limits)
        wanted: Filter = (frozenset(severities), frozenset(kinds), host)
        with self._lock:
            build = self._build
            if build is None or build.version != version:
                items = build_findings(session=session, full_samples=True, graphql_limits=limits)
                build = self._build = _Build(version, _view(items, [order_key(i) for i in items]))
                self.builds += 1
            if wanted == (frozenset(), frozenset(), None):
                return build.everything
            view = build.views.get(wanted)
            if view is None:
                view = build.views[wanted] = self._filter(build.everything, wanted)
                while len(build.views) > self.max_views:
                    build.views.popitem(last=False)
            build.views.move_to_end(wanted)
            return view

    @staticmethod
    def _filter(everything: View, wanted: Filter) -> View:
        severities, kinds, host = wanted
        chosen = [
            n for n, item in enumerate(everything.items)
            if (not severities or item["severity"] in severities)
            and (not kinds or item["kind"] in kinds)
            and _matches(item, host)
        ]  # fmt: skip
        return _view([everything.items[n] for n in chosen], [everything.keys[n] for n in chosen])
