"""Stage 3, aggregate: a batch of normalised exchanges and the templater -> the batch's counts.

:func:`aggregate` is a pure function of its inputs (the templater is the state it reads and
advances: it observes the batch, then matches it, and its state after the batch is part of the
result), so it is tested without a database (tests/analyzer/pipeline/test_aggregate.py). What it
returns is everything :mod:`analyzer.pipeline.store` writes: services, endpoints with their
counters, noise, unmatched-request statistics (junk targets, bare query values), the templater's merges and state, and per exchange the endpoint it was counted
under (``keys``) and its template match (``matches``), which PII results (:func:`add_pii`) and
any later per-exchange consumer (a threat-detection stage: observation + match + PII results)
attach to.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from analyzer import auth
from analyzer.db.models import MAX_PATH_CHARS
from analyzer.observation import clean_text
from analyzer.pipeline.gcpause import paused_cyclic_gc
from analyzer.pipeline.normalise import Normalised
from analyzer.pipeline.unmatched import BARE_QUERY_VALUE, MALFORMED_TARGET, masked
from analyzer.templating.model import TemplateMatch, template_id

# Field paths of a response passed to the templater as its "shape" (bounded: similarity only).
MAX_SHAPE_TOKENS = 64

EndpointKey = tuple[str, str, str]  # (service, method, path template)
# One PII finding of one exchange: (type, location, field, masked sample).
PiiHit = tuple[str, str, str, str | None]


@dataclass(slots=True)
class EndpointAgg:
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
    # GraphQL operation endpoints: [operations, errors, errored operations, introspection,
    # introspection answered 2xx without credentials, max depth, max width, max fields].
    graphql: list[int] | None = None


@dataclass(slots=True)
class Aggregate:
    """One batch's counts, ready to store."""

    items: list[Normalised]
    services: dict[str, list[float]]  # host -> [hits, first, last]
    endpoints: dict[EndpointKey, EndpointAgg]
    noise: dict[tuple[str, str, str, int], list[float]]  # (host, method, path, status) -> [n, first, last]
    # Junk as statistics (analyzer/pipeline/unmatched.py): (host, method, kind, masked sample) -> [n, first, last]
    unmatched: dict[tuple[str, str, str, str], list[float]]
    merges: list[tuple[str, str, str, str]]  # (host, method, old template, new template)
    keys: list[EndpointKey | None]  # per item: its endpoint, None when it was noise
    matches: list[Any]  # per item: the templater's TemplateMatch, None for noise
    templater_state: bytes  # JSON of Templater.to_state() after this batch
    # Per item: its PII findings (or the detector's error), once add_pii has them.
    pii_results: Sequence[list[PiiHit] | str] | None = None
    analysed: int = 0
    noise_count: int = 0
    malformed_count: int = 0  # exchanges with a malformed target (counted in ``unmatched`` only)


def _widen(entry: list[float] | None, ts: float) -> list[float]:
    if entry is None:
        return [1, ts, ts]
    entry[0] += 1
    if ts < entry[1]:
        entry[1] = ts
    if ts > entry[2]:
        entry[2] = ts
    return entry


def aggregate(items: Sequence[Normalised], templater: Any) -> Aggregate:
    """Template and count ``items`` (in order). The templater sees the whole batch before
    matching it, so siblings of /users/1 seen later in the batch template it at once instead of
    via a merge; the response's field paths are the "shape" the templater compares."""
    with paused_cyclic_gc():  # the templater's live structures are large: see analyzer.pipeline.gcpause
        return _aggregate(items, templater)


def _aggregate(items: Sequence[Normalised], templater: Any) -> Aggregate:
    shapes: dict[frozenset[tuple[str, str]], str] = {}
    for item in items:
        if item.template is not None or item.malformed:
            continue  # the protocol names the endpoint, or there is none: nothing to template
        shape = None
        fields = item.response_fields
        if fields:
            shape = shapes.get(fields)
            if shape is None:
                shape = shapes[fields] = " ".join(sorted({p for p, _ in fields})[:MAX_SHAPE_TOKENS])
        templater.observe(item.service, item.method, item.path, item.status, shape)

    result = Aggregate(
        items=list(items), services={}, endpoints={}, noise={}, unmatched={}, merges=[], keys=[], matches=[],
        templater_state=b"",
    )
    services, endpoints, noise, unmatched = result.services, result.endpoints, result.noise, result.unmatched
    for item in items:
        if item.malformed:
            # No request of an endpoint: a statistic, masked (whitespace, control bytes, garbage).
            key_u = (item.service, item.method, MALFORMED_TARGET, masked(item.obs.target or ""))
            unmatched[key_u] = _widen(unmatched.get(key_u), item.ts)
            result.malformed_count += 1
            result.matches.append(None)
            result.keys.append(None)
            continue
        if item.template is not None:
            match: Any = TemplateMatch(item.template, (), template_id(item.service, item.method, item.template))
        else:
            match = templater.match(item.service, item.method, item.path)
        result.matches.append(match)
        if match is None:
            result.noise_count += 1
            # Never the raw path: a PII segment is stored as its type (privacy).
            key_n = (item.service, item.method, templater.noise_path(item.path), item.status or 0)
            noise[key_n] = _widen(noise.get(key_n), item.ts)
            result.keys.append(None)
            continue
        result.analysed += 1
        services[item.service] = _widen(services.get(item.service), item.ts)
        key = (item.service, item.method, clean_text(match.template, MAX_PATH_CHARS))
        agg = endpoints.get(key)
        if agg is None:
            agg = endpoints[key] = EndpointAgg()
        _count(agg, item, match)
        result.keys.append(key)
        for typ in item.bare_values:
            # Counted under the endpoint above, but the value is no parameter name.
            key_u = (item.service, item.method, BARE_QUERY_VALUE, clean_text(key[2] + "?{" + typ + "}", MAX_PATH_CHARS))
            unmatched[key_u] = _widen(unmatched.get(key_u), item.ts)
    result.merges = list(templater.drain_merges())
    # Serialised now: to_state() shares live dicts that the next batch keeps changing.
    result.templater_state = orjson.dumps(templater.to_state())
    return result


def _count(agg: EndpointAgg, item: Normalised, match: Any) -> None:
    ts, status = item.ts, item.status
    agg.template_id = None if match.template_id is None else str(match.template_id)
    agg.hits += 1
    agg.first = min(agg.first, ts)
    agg.last = max(agg.last, ts)
    agg.status[status or 0] += 1
    agg.hourly[int(ts // 3600) * 3600] += 1
    for peer in (("client", item.client_ip), ("server", item.server)):
        if peer[1]:
            agg.peers[peer] = _widen(agg.peers.get(peer), ts)
    for param in match.params:
        agg.params[("path", param.name, str(param.type))] += 1
    for name, typ in item.query_params:
        agg.params[("query", name, typ)] += 1
    for param in item.parameters:
        agg.params[param] += 1
    if item.credentials:
        agg.authenticated += 1
        for scheme in item.credentials:
            agg.auth[scheme] += 1
    else:
        agg.unauthenticated += 1
        agg.auth[auth.SCHEME_NONE] += 1
        if status is not None and 200 <= status < 300:
            agg.unauth_2xx += 1
    if item.response_header_names:
        agg.response_headers.update(item.response_header_names)
    op = item.obs.graphql
    if op is not None:
        _count_graphql(agg, item, op)
    if item.request_fields is not None:
        agg.request_bodies += 1
        agg.content_types[("request", item.request_media or "unknown")] += 1
        agg.fieldsets[("request", item.request_fields)] += 1
    if item.response_fields is not None:
        agg.response_bodies += 1
        agg.content_types[("response", item.response_media or "unknown")] += 1
        agg.fieldsets[("response", item.response_fields)] += 1


def _count_graphql(agg: EndpointAgg, item: Normalised, op: Any) -> None:
    g = agg.graphql
    if g is None:
        g = agg.graphql = [0] * 8
    errors = item.obs.graphql_errors
    g[0] += 1
    g[1] += errors
    g[2] += 1 if errors else 0
    if op.introspection:
        g[3] += 1
        status = item.status
        if not item.credentials and status is not None and 200 <= status < 300:
            g[4] += 1
    g[5] = max(g[5], op.depth)
    g[6] = max(g[6], op.width)
    g[7] = max(g[7], op.field_count)


@dataclass(slots=True)
class PiiOutcome:
    findings: int = 0  # detections counted into endpoints
    errors: int = 0  # exchanges the detector failed on
    first_error: str | None = None  # "uid: message" of the first failure


def add_pii(batch: Aggregate, results: Sequence[list[PiiHit] | str]) -> PiiOutcome:
    """Count each item's PII results (its findings, or the detector's error message) into its
    endpoint; noise has no endpoint to attach findings to."""
    outcome = PiiOutcome()
    batch.pii_results = results
    for item, key, result in zip(batch.items, batch.keys, results, strict=True):
        if key is None:
            continue
        if isinstance(result, str):
            outcome.errors += 1
            if outcome.first_error is None:
                outcome.first_error = f"{item.obs.uid}: {result}"
            continue
        if not result:
            continue
        agg = batch.endpoints[key]
        ts = item.ts
        for ftype, location, fld, sample in result:
            outcome.findings += 1
            pkey = (clean_text(ftype, 64), clean_text(location, 32), clean_text(fld, 512))
            entry = agg.pii.get(pkey)
            if entry is None:
                agg.pii[pkey] = [1, None if sample is None else clean_text(sample, 255), ts, ts]
            else:
                entry[0] += 1
                entry[2] = min(entry[2], ts)
                entry[3] = max(entry[3], ts)
    return outcome
