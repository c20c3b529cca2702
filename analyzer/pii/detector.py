"""PII detection over one exchange record: the fast path in front of presidio's recognizers.

Running presidio's AnalyzerEngine per value costs milliseconds; the budget is ~150 µs per
exchange. So every value goes through three cheap gates first:

1. the field name's context (cached per name): says PERSON/LOCATION/CREDENTIAL outright and
   vetoes weak numeric matches under ``order_id``-like names;
2. each entity spec's pre-screen (``entities.SPECS``: O(1) character and length gates, then one
   regex, or a digit-run rule for the number entities) says which recognizers could possibly
   match (no ``@`` -> no e-mail recognizer; no 7+ digit run -> no phone/card/SSN/CN-id recognizer);
3. a decision cache keyed by (field context, value): headers, tokens and enum-like values repeat
   across a capture, and the verdict depends on nothing else.

Only values that pass gate 2 run the selected presidio recognizers' ``analyze`` (their patterns
and validators), then get presidio-style context scoring: a matching field name, or one of the
recognizer's context words just before the match in free text, lifts a weak pattern score. The
detector has no per-entity code: it iterates the specs, and refuses a registry holding a
recognizer that no spec claims (it would never run).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl, unquote

import regex
from presidio_analyzer import EntityRecognizer, Pattern, PatternRecognizer, RecognizerRegistry

from analyzer.pii.entities import SPECS, EntitySpec, field_only_hits
from analyzer.pii.fields import (
    NEGATIVE_CONTEXT,
    NO_CONTEXT,
    FieldContext,
    context_for,
    cookie_context,
    field_context,
    resource_noun,
    url_context,
)
from analyzer.pii.flatten import JsonNumber, flatten_body
from analyzer.pii.headers import SKIP_HEADERS as _SKIP_HEADERS
from analyzer.pii.masking import mask
from analyzer.pii.population import Collector, Population, population_shapes
from analyzer.pii.population import endpoint_key as _endpoint_key
from analyzer.pii.recognizers import build_registry

# Scanning a 1 MB base64 blob char by char buys nothing; PII sits in the first few KB of a value.
MAX_VALUE_CHARS = 8192
# Values longer than this are not cached: long free text rarely repeats and would bloat the cache.
MAX_CACHED_VALUE = 512
CACHE_LIMIT = 65_536

# Presidio's context enhancer: +0.35, and at least 0.4 once context is found. Ours lifts to 0.6 so
# a weak pattern (bare 9-digit SSN, dated "dob") crosses the default 0.5 threshold with context.
CONTEXT_BOOST = 0.35
CONTEXT_FLOOR = 0.6
CONTEXT_WINDOW = 48

# JSON object keys that are data rather than names: an e-mail, 6+ digits, a long hex id.
_DATA_KEY = re.compile(r"@|\d{6}|[0-9a-fA-F]{16}")
DYNAMIC_KEY = "{key}"

# Context of an unnamed JSON number: vetoes the numeric types like a negative field name does.
NUMBER_CONTEXT = NEGATIVE_CONTEXT

# Not glued to letters, dots or dashes: a digit run inside a UUID, hex id or version is no number.
_SCREEN_NUM = re.compile(r"(?<![\w.-])[+(]?\d[\d\s().-]{5,}\d[Xx]?(?![\w-]|\.\d)")
_NON_DIGIT = re.compile(r"\D")

# In free text, "order 13812345678" or "ref #110105..." is an identifier, whatever its shape: the
# words just before an unvalidated numeric match veto it (presidio has no negative context).
_NEGATIVE_TEXT = re.compile(r"(?i)\b(?:order|invoice|ref|reference|tracking|ticket|sku|id|no)\b[\s#:.no-]*$")

_COOKIE_HEADERS = frozenset({"cookie", "set-cookie"})
_VERSION_SEGMENT = re.compile(r"v\d+(?:\.\d+)*")


@dataclass(frozen=True, slots=True)
class PiiFinding:
    """One PII type seen at one place of one exchange. ``sample`` is masked; ``count`` = values hit."""

    type: str
    location: str  # path | query | header | request | response
    field: str  # "items[].email", query param, lower-case header name, or "/users/{2}" for path
    sample: str
    count: int = 1


# (type, best score, masked sample): one per type per value, so a value counts once per type even when
# two recognizers (or two patterns) hit it; the sample is masked once and cached with the verdict.
Hit = tuple[str, float, str]


@lru_cache(maxsize=64)
def _context_regex(words: tuple[str, ...]) -> re.Pattern[str]:
    """Context words at a word start ("call", "calls", "called" but not "specifically");
    CJK words have no spaces around them, so they match anywhere."""
    parts = [f"(?<![a-z]){re.escape(w)}" if w[:1].isascii() else re.escape(w) for w in words]
    return re.compile("|".join(parts) or "(?!)")


def _near_context(text: str, start: int, words: Iterable[str]) -> bool:
    window = text[max(0, start - CONTEXT_WINDOW) : start].lower()
    return _context_regex(tuple(words)).search(window) is not None


# The name labelling a value inside text: 'oauth_nonce="', '"order_id": "', '<d:Version>', 'ver='.
_LABEL = re.compile(r"([A-Za-z_][\w-]{0,40})[\"']?\s{0,2}(?:[:=]|>)\s{0,2}[\"']?$")


def _label_before(text: str, start: int) -> FieldContext | None:
    """The field context of the name labelling the match at ``start`` (key=value, "key": value,
    <Key>value), or None when nothing labels it."""
    match = _LABEL.search(text, max(0, start - 48), start)
    if match is None:
        return None
    ctx = context_for("", match.group(1))
    return ctx if ctx.negative or ctx.types else None


# Search-syntax terms in a query value (Lucene / Elasticsearch "q=last_name:Smith AND city:Berlin",
# GitHub "author:octocat", "filter=email:..."): the term's own name is the field name of its value.
_FIELD_TERM = re.compile(r"(?<![\w.:/-])([A-Za-z_][\w.]{0,40}):(?!//)(?:\"([^\"]{1,200})\"|([^\s\"():,]{1,200}))")


def field_terms(value: str) -> list[tuple[str, str]]:
    """(name, value) of each ``name:value`` term of a search query value; the name's last dotted
    part is the field name ("user.name:..." -> "name" under "user")."""
    if ":" not in value:
        return []
    return [(m.group(1), m.group(2) or m.group(3)) for m in _FIELD_TERM.finditer(value)]


def _has_any(value: str, chars: str) -> bool:
    """The screen's character gate: ``chars`` empty, or one of them in ``value``."""
    if not chars or chars[0] in value:
        return True
    return len(chars) > 1 and any(ch in value for ch in chars[1:])


def _body_bytes(body: Any) -> bytes:
    if not isinstance(body, dict):
        return b""
    data = body.get("data") or ""
    if body.get("b64"):
        try:
            return base64.b64decode(data)
        except (binascii.Error, ValueError):
            return b""
    return data.encode("utf-8", "surrogateescape") if isinstance(data, str) else b""


def _header(headers: Iterable[Any], name: str) -> str | None:
    for item in headers:
        if len(item) >= 2 and str(item[0]).lower() == name:
            return str(item[1])
    return None


_DOTTED_QUAD = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}")
# A path ending in a static asset (scripts, styles, images, fonts, media, pages).
_STATIC_FILE = re.compile(
    r"\.(?:js|mjs|css|map|gif|png|jpe?g|svg|ico|webp|bmp|woff2?|ttf|eot|otf|swf|mp[34]|webm|html?)$", re.IGNORECASE
)


def _split_target(target: str) -> tuple[str, str]:
    """(path, query) of a request-target; absolute-form ("http://h/p?q") loses scheme and host."""
    if "://" in target[:12]:
        rest = target.split("://", 1)[1]
        slash = rest.find("/")
        target = rest[slash:] if slash >= 0 else "/"
    target = target.split("#", 1)[0]
    path, _, query = target.partition("?")
    return path, query


class UnclaimedRecognizerError(ValueError):
    """A registry holds a recognizer that no entity spec names (it would never run), or a spec
    names a recognizer the registry lacks."""


@dataclass(frozen=True, slots=True)
class _Selected:
    """One entity spec with its recognizers, as the detector's gates use it."""

    spec: EntitySpec
    recognizers: tuple[EntityRecognizer, ...]


def _name(recognizer: EntityRecognizer) -> str:
    # presidio assigns ``name`` in __init__ through a branch mypy cannot type from outside.
    return str(recognizer.name)  # type: ignore[has-type]


def _patterns(recognizer: PatternRecognizer) -> list[Pattern]:
    return list(recognizer.patterns)  # type: ignore[has-type]  # as ``_name``


Pairs = tuple[tuple[EntityRecognizer, EntitySpec], ...]
Gate = tuple[str, int, str, Callable[[str], object], bool, Pairs]


def _never(value: str) -> bool:
    return False  # a hinted-only screen: the field name is the only way in


def _pairs(selected: _Selected) -> Pairs:
    return tuple((recognizer, selected.spec) for recognizer in selected.recognizers)


def _gate(selected: _Selected) -> Gate:
    spec, screen = selected.spec, selected.spec.screen
    search: Callable[[str], object] = screen.pattern.search if screen.pattern is not None else _never
    return (spec.type, screen.min_len, screen.needs, search, spec.id_lookalike, _pairs(selected))


def _claim(specs: Iterable[EntitySpec], registry: RecognizerRegistry) -> tuple[_Selected, ...]:
    by_name = {_name(r): r for r in registry.recognizers}
    selected: list[_Selected] = []
    claimed: set[str] = set()
    for spec in specs:
        missing = [name for name in spec.recognizers if name not in by_name]
        if missing:
            raise UnclaimedRecognizerError(
                f"entity {spec.type} names recognizers the registry lacks: {missing}"
            )
        claimed.update(spec.recognizers)
        selected.append(_Selected(spec, tuple(by_name[name] for name in spec.recognizers)))
    unclaimed = sorted(set(by_name) - claimed)
    if unclaimed:
        raise UnclaimedRecognizerError(
            f"recognizers {unclaimed} belong to no entity spec, so they would never run: "
            "add an EntitySpec for each to analyzer.pii.entities.SPECS"
        )
    return tuple(selected)


class PiiDetector:
    """Detects PII types in exchange records; see the module docstring for the fast path.

    Iterates the entity registry (``entities.SPECS``): each spec's screen selects its recognizers,
    its field names and field-only rule give context, its vetoes and masker apply to its matches.
    """

    def __init__(
        self,
        *,
        score_threshold: float = 0.5,
        registry: RecognizerRegistry | None = None,
        specs: tuple[EntitySpec, ...] = SPECS,
    ) -> None:
        self.score_threshold = score_threshold
        self.specs = specs
        self.registry = registry or build_registry(specs)
        selected = _claim(specs, self.registry)
        self._spec_of: dict[str, EntitySpec] = {s.spec.type: s.spec for s in selected}
        # The gates, from the specs: hinted by the field name; text screens (O(1) gates + one regex);
        # digit-run screens for the number look-alikes.
        # The gates, from the specs, flattened into tuples the hot loop unpacks without attribute
        # lookups: (type, min length, characters one of which must occur, regex search, skipped
        # under a negative name, (recognizer, spec) pairs to select).
        self._hinted = tuple(_gate(s) for s in selected if s.spec.screen.hinted)
        self._text = tuple(
            _gate(s) for s in selected if s.spec.screen.pattern is not None and not s.spec.screen.hinted
        )
        self._numbers = tuple(
            (s.spec.screen.number, _pairs(s)) for s in selected if s.spec.screen.number is not None
        )
        self._all_numbers = tuple(pair for _, pairs in self._numbers for pair in pairs)
        # Patterns of every PatternRecognizer that uses presidio's stock analyze, compiled once
        # with that recognizer's own flags (the ``regex`` module, as presidio does).
        self._compiled: dict[str, list[tuple[regex.Pattern[str], float]]] = {
            _name(r): [
                (regex.compile(p.regex, flags=r.global_regex_flags or 0), p.score) for p in _patterns(r)
            ]
            for r in self.registry.recognizers
            if isinstance(r, PatternRecognizer) and type(r).analyze is PatternRecognizer.analyze
        }
        self._cache: dict[tuple[FieldContext, str], tuple[Hit, ...]] = {}
        self._field_cache: dict[str, FieldContext] = {}
        # Resource noun -> body field path -> (context of a string value, of a bare JSON number).
        self._body_ctx: dict[str, dict[str, tuple[FieldContext, FieldContext]]] = {}
        # Endpoint key -> the resource noun its bodies' wrapper fields take as parent.
        self._nouns: dict[str, str] = {}
        self._shapes = population_shapes(specs)
        self._population_types = frozenset(s.type for s in specs if s.population is not None)
        # Lengths of values any population rule collects: the inline gate before ``collect``.
        self._collect_min = min((s.population.min_len for s in specs if s.population), default=1)
        self._collect_max = max((s.population.max_len for s in specs if s.population), default=0)
        # JSON object keys already seen to be names, not data (see ``_key_mapper``).
        self._key_names: dict[str, str] = {}

    # -- one value -------------------------------------------------------------------------------

    def _scan(self, value: str, ctx: FieldContext) -> tuple[Hit, ...]:
        if len(value) > MAX_VALUE_CHARS:
            value = value[:MAX_VALUE_CHARS]
        if not ctx.types and (len(value) < 6 or (ctx.negative and value.isdigit())):
            # What ``_candidates`` rules out first (nothing we detect is shorter than 6; digits
            # under a negative name are ids), with no field-only type to check: no hits. Not
            # cached: these values (ids, counters, timestamps) are mostly unique and would only
            # push out the entries that do repeat.
            return ()
        key = (ctx, value)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        best: dict[str, tuple[float, int, int]] = {}
        if ctx.field_only:
            for pii_type, score in field_only_hits(value, ctx.types, ctx.weak):
                if score >= self.score_threshold:
                    best[pii_type] = (score, 0, len(value))
        established = tuple(best)  # by the field name: no recognizer can add to them
        for recognizer, spec in self._candidates(value, ctx).items():
            if established and spec.type in established:
                continue
            for pii_type, score, start, end in self._run(recognizer, value):
                hinted = pii_type in ctx.types
                if spec.id_lookalike:
                    if ctx.negative:
                        continue
                    if start > 0 or end < len(value):  # inside text: what labels the match there?
                        label = _label_before(value, start)
                        if label is not None:
                            if label.negative:
                                continue  # 'oauth_nonce="4916...', '<d:Version>1.1.23.0'
                            hinted = hinted or pii_type in label.types
                        if (
                            score < 1.0
                            and not hinted
                            and _NEGATIVE_TEXT.search(value, max(0, start - 24), start)
                        ):
                            continue
                if spec.reject is not None and spec.reject(value, start, end, ctx):
                    continue
                if hinted or (
                    score < self.score_threshold and _near_context(value, start, recognizer.context)
                ):
                    score = max(min(score + CONTEXT_BOOST, 1.0), CONTEXT_FLOOR)
                if score >= self.score_threshold and score > best.get(pii_type, (0.0, 0, 0))[0]:
                    best[pii_type] = (score, start, end)
        out = tuple((t, score, mask(t, value[start:end])) for t, (score, start, end) in best.items())
        if len(value) <= MAX_CACHED_VALUE:
            if len(self._cache) >= CACHE_LIMIT:
                self._cache.clear()  # crude but O(1) amortised; a capture's working set is far smaller
            self._cache[key] = out
        return out

    def _run(self, recognizer: EntityRecognizer, text: str) -> list[tuple[str, float, int, int]]:
        """A recognizer's (type, score, start, end) results on ``text``.

        For plain PatternRecognizers this is presidio's own algorithm (each pattern's regex, compiled
        with the recognizer's flags; ``validate_result`` True -> max score, False -> dropped, None ->
        pattern score; ``invalidate_result`` drops) minus the per-match explanation objects, which
        cost more than the matching itself. Recognizers with their own ``analyze`` (IBAN) run as is.
        """
        compiled = self._compiled.get(_name(recognizer))
        if compiled is None:
            return [
                (r.entity_type, r.score, r.start, r.end)
                for r in recognizer.analyze(text, recognizer.supported_entities, None)  # type: ignore[arg-type]
                if r.score > EntityRecognizer.MIN_SCORE
            ]
        assert isinstance(recognizer, PatternRecognizer)
        entity = recognizer.supported_entities[0]
        out: list[tuple[str, float, int, int]] = []
        for pattern, base_score in compiled:
            for match in pattern.finditer(text):
                start, end = match.span()
                if start == end:
                    continue
                matched = text[start:end]
                verdict = recognizer.validate_result(matched)
                if verdict is False:
                    continue
                if recognizer.invalidate_result(matched):
                    continue
                out.append((entity, EntityRecognizer.MAX_SCORE if verdict else base_score, start, end))
        return out

    def _candidates(self, value: str, ctx: FieldContext) -> dict[EntityRecognizer, EntitySpec]:
        """Recognizers (with their spec) that could match ``value``: the specs' screens decide,
        and for the vast majority of values none passes."""
        out: dict[EntityRecognizer, EntitySpec] = {}
        n = len(value)
        negative = ctx.negative
        for pii_type, min_len, needs, search, _, pairs in self._hinted:
            if pii_type in ctx.types or (n >= min_len and _has_any(value, needs) and search(value)):
                for recognizer, spec in pairs:
                    out[recognizer] = spec
        if n < 6:  # nothing we detect is shorter ("a@b.co", "1.1.1.1", an 11-digit mobile)
            return out
        if value.isdigit():  # ids, epochs, counts: the commonest non-text value
            if not negative:
                self._number_candidates(value, value, ctx, out, free_text=False)
            return out
        for _, min_len, needs, search, skip_negative, pairs in self._text:
            if n < min_len or (skip_negative and negative):
                continue
            if needs:
                for ch in needs:
                    if ch in value:
                        break
                else:
                    continue
            if search(value):
                for recognizer, spec in pairs:
                    out[recognizer] = spec
        if not negative and self._numbers:
            for match in _SCREEN_NUM.finditer(value):
                text = match.group()
                self._number_candidates(text, _NON_DIGIT.sub("", text), ctx, out, free_text=len(text) < n)
        return out

    def _number_candidates(
        self,
        text: str,
        digits: str,
        ctx: FieldContext,
        out: dict[EntityRecognizer, EntitySpec],
        *,
        free_text: bool,
    ) -> None:
        """Number entities worth running on a digit run, each spec's digit screen deciding by the
        run's digit count and checksum: a 10-digit epoch cannot be a card, a 16-digit number
        cannot be a phone, and a Luhn or GB 11643 pre-check rejects ~90% of look-alikes for the
        price of a few additions instead of a full recognizer run."""
        if len(digits) > 19 and not text.isdigit():
            # Several numbers run together in free text ("4111 1111 1111 1111 12 27"): the run's
            # digit count says nothing, so let every number recognizer look.
            for recognizer, spec in self._all_numbers:
                out[recognizer] = spec
            return
        hinted = ctx.types
        for number, pairs in self._numbers:
            if number(text, digits, hinted, free_text):
                for recognizer, spec in pairs:
                    out[recognizer] = spec

    def _key_mapper(self, sink: list[str]) -> Callable[[str], str]:
        """JSON key renamer: keys that are data (an e-mail, a phone or id number, a long hex
        token) become ``{key}`` so field paths never carry raw values; the raw keys go to ``sink``
        to be scanned like values. Ordinary keys repeat across bodies: their verdict is cached."""
        names = self._key_names

        def key_map(key: str) -> str:
            name = names.get(key)
            if name is None:
                if _DATA_KEY.search(key):
                    sink.append(key)
                    return DYNAMIC_KEY
                if len(names) < CACHE_LIMIT:
                    names[key] = key  # only keys that are names: data keys are not kept
                return key
            return name

        return key_map

    def _context(self, field: str) -> FieldContext:
        ctx = self._field_cache.get(field)
        if ctx is None:
            ctx = field_context(field)
            if len(self._field_cache) < CACHE_LIMIT:
                self._field_cache[field] = ctx
        return ctx

    def detect_value(self, value: str, field: str | None = None) -> list[tuple[str, float]]:
        """Types found in one value (with the field name as context), best score per type."""
        hits = self._scan(value, self._context(field) if field else NO_CONTEXT)
        return sorted(((t, score) for t, score, _ in hits), key=lambda item: (-item[1], item[0]))

    # -- exchanges -------------------------------------------------------------------------------

    def detect_exchange(self, record: dict[str, Any], *, template: str | None = None) -> list[PiiFinding]:
        """All PII of one exchange record (``Exchange.to_dict()`` form), one finding per
        (type, location, field) with the number of values hit and the first masked sample.

        ``template`` (the endpoint's path template, when the caller knows it) names the resource
        better than the concrete path (``/users/{username}`` rather than ``/users/alice``)."""
        return self.detect_batch([record], templates=None if template is None else [template])[0]

    def detect_batch(
        self, records: Sequence[dict[str, Any]], *, templates: Sequence[str | None] | None = None
    ) -> list[list[PiiFinding]]:
        """Findings of each record (as ``detect_exchange``), judged together: a field whose values
        across the batch are a counter, mostly fail Luhn or hold versions (``EntitySpec.population``)
        is an id or version field, and its card / phone / IP findings are dropped in every record."""
        if templates is not None and len(templates) != len(records):
            raise ValueError("templates must have one entry per record")
        population = Population(self._shapes)
        per_record: list[tuple[str, dict[tuple[str, str, str], list[Any]]]] = []
        nouns = self._nouns
        for i, record in enumerate(records):
            target = record.get("target") or ""
            path, query = _split_target(target) if isinstance(target, str) else ("", "")
            template = templates[i] if templates is not None else None
            endpoint = _endpoint_key(template or path)
            resource = nouns.get(endpoint)
            if resource is None:
                # The noun of the endpoint key is the path's: its ids are "{}" there already.
                resource = resource_noun(endpoint)
                if len(nouns) < CACHE_LIMIT:
                    nouns[endpoint] = resource
            found = self._detect(record, path, query, resource, population.sink(endpoint))
            per_record.append((endpoint, found))
        vetoed = (
            population.vetoed(
                (self._spec_of[t], endpoint, loc, f)
                for endpoint, found in per_record
                for (t, loc, f) in found
                if t in self._population_types
            )
            if population
            else ()
        )
        return [
            [
                PiiFinding(type=t, location=loc, field=f, sample=sample, count=count)
                for (t, loc, f), (sample, count) in found.items()
                if not vetoed or (t, endpoint, loc, f) not in vetoed
            ]
            for endpoint, found in per_record
        ]

    def _detect(
        self, record: dict[str, Any], path: str, query: str, resource: str, collect: Collector
    ) -> dict[tuple[str, str, str], list[Any]]:
        found: dict[tuple[str, str, str], list[Any]] = {}

        def note(location: str, field: str, hits: tuple[Hit, ...]) -> None:
            for pii_type, _, sample in hits:
                key = (pii_type, location, field)
                entry = found.get(key)
                if entry is None:
                    found[key] = [sample, 1]
                else:
                    entry[1] += 1

        cmin, cmax = self._collect_min, self._collect_max

        def add(location: str, field: str, value: str, ctx: FieldContext) -> None:
            if value[:1].isdigit() and cmin <= len(value) <= cmax:
                collect(location, field, value)
            hits = self._scan(value, ctx)
            if hits:
                note(location, field, hits)

        if path:
            self._scan_path(path, note, collect)
        if query:
            for name, value in parse_qsl(query, keep_blank_values=False):
                # The URL flavour of a context differs only on bare numbers: elsewhere the body's
                # context is used, which shares the decision cache with the same values in bodies.
                # A parameter takes the URL's resource as parent, as a top-level body field does
                # ("/customers?name=...", "/contacts/search?q=..."); ids keep the URL flavour.
                add("query", name, value, url_context(name) if value.isdigit() else field_context(name, resource))
                terms: dict[str, Hit] = {}
                for term_name, term_value in field_terms(value):
                    term_ctx = self._context(term_name)
                    if term_ctx.field_only:  # what only a name establishes: "last_name:Smith"
                        for hit in self._scan(term_value, term_ctx):
                            if (hit[0], "query", name) not in found:
                                terms.setdefault(hit[0], hit)
                if terms:  # one value: counted once per type, however many terms hit
                    note("query", name, tuple(terms.values()))

        request_headers = record.get("request_headers") or []
        response_headers = record.get("response_headers") or []
        for headers in (request_headers, response_headers):
            for item in headers:
                if len(item) < 2:
                    continue
                name = str(item[0]).lower()
                if name in _SKIP_HEADERS or not item[1]:
                    continue
                value = str(item[1])
                if name in _COOKIE_HEADERS:
                    self._scan_cookie(name, value, add)
                else:
                    add("header", name, value, context_for("", name))

        cache = self._cache
        # Body field contexts depend on the resource only for fields whose parent says nothing.
        body_ctx = self._body_ctx.get(resource)
        if body_ctx is None:
            body_ctx = {}
            if len(self._body_ctx) < 4096:
                self._body_ctx[resource] = body_ctx
        for location, body, headers in (
            ("request", record.get("request_body"), request_headers),
            ("response", record.get("response_body"), response_headers),
        ):
            data = _body_bytes(body)
            if not data:
                continue
            dynamic_keys: list[str] = []
            key_map = self._key_mapper(dynamic_keys)
            for field, value in flatten_body(_header(headers, "content-type"), data, key_map=key_map):
                # (context of a string, context of a bare JSON number) under this field path.
                contexts = body_ctx.get(field)
                if contexts is None:
                    ctx = field_context(field, resource) if field else NO_CONTEXT
                    # A bare JSON number under a name that says nothing is a counter, id or
                    # timestamp far more often than a phone ("gc_num": 13312343059).
                    contexts = (ctx, ctx if ctx.types else NUMBER_CONTEXT)
                    if len(body_ctx) < CACHE_LIMIT:
                        body_ctx[field] = contexts
                ctx = contexts[1] if type(value) is JsonNumber else contexts[0]
                if not ctx.types and (len(value) < 6 or (ctx.negative and value.isdigit())):
                    continue  # no hits, see ``_scan``
                # What population rules read: strings starting with a digit, of their lengths.
                if value[:1].isdigit() and cmin <= len(value) <= cmax and type(value) is not JsonNumber:
                    collect(location, field, value)
                # The decision cache inline (``_scan`` does the same lookup): most values hit it.
                hits = cache.get((ctx, value)) if len(value) <= MAX_CACHED_VALUE else None
                if hits is None:
                    hits = self._scan(value, ctx)
                if hits:
                    note(location, field, hits)
            for data_key in dict.fromkeys(dynamic_keys):  # data used as a map key: scanned as a value
                add(location, DYNAMIC_KEY, data_key, NO_CONTEXT)
        return found

    def _scan_path(
        self,
        path: str,
        note: Callable[[str, str, tuple[Hit, ...]], None],
        collect: Collector,
    ) -> None:
        segments = path.split("/")
        for index, raw in enumerate(segments):
            if not raw or (raw.isalpha() and len(raw) < 40):
                continue  # a plain word ("users", "orders") carries no pattern-shaped PII
            segment = unquote(raw)
            previous = unquote(segments[index - 1]) if index > 1 else ""
            hits = self._scan(segment, url_context(previous) if segment.isdigit() else context_for("", previous))
            if (
                hits
                and index < len(segments) - 1
                and _DOTTED_QUAD.fullmatch(segment)
                and _STATIC_FILE.search(segments[-1])
            ):
                # "/editor/3.1.2.3/themes/x.gif", "/jquery/1.12.4.1/jquery.js": a directory of
                # static files named by a dotted quad is a release of them, not a client's address.
                hits = tuple(h for h in hits if h[0] != "IP_ADDRESS")
            # A number the population rules read (card-, phone- or version-length), or a hit.
            numeric = segment[:1].isdigit() and self._collect_min <= len(segment) <= self._collect_max
            if not hits and not numeric:
                continue
            # Other variable-looking segments are templated too, so the field is stable across
            # exchanges of one endpoint ("/users/{2}/phones/{4}" rather than one field per user).
            field = "/" + "/".join(
                f"{{{j}}}"
                if j == index
                or (any(c.isdigit() for c in s) and not _VERSION_SEGMENT.fullmatch(s))
                or "@" in s
                else s
                for j, s in enumerate(segments[1 : index + 1], start=1)
            )
            if numeric:
                collect("path", field, segment)
            if hits:
                note("path", field, hits)

    @staticmethod
    def _scan_cookie(name: str, value: str, add: Callable[[str, str, str, FieldContext], None]) -> None:
        pairs = value.split(";", 1)[:1] if name == "set-cookie" else value.split(";")
        for pair in pairs:
            cookie_name, sep, cookie_value = pair.strip().partition("=")
            if sep and cookie_value:
                add("header", name, unquote(cookie_value.strip('"')), cookie_context(cookie_name))


@lru_cache(maxsize=1)
def default_detector() -> PiiDetector:
    """Process-wide detector (registry construction and caches are shared)."""
    return PiiDetector()
