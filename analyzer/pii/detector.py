"""PII detection over one exchange record: the fast path in front of presidio's recognizers.

Running presidio's AnalyzerEngine per value costs milliseconds; the budget is ~150 µs per
exchange. So every value goes through three cheap gates first:

1. the field name's context (cached per name): says PERSON/LOCATION/CREDENTIAL outright and
   vetoes weak numeric matches under ``order_id``-like names;
2. one combined pre-screen regex whose named groups say which recognizers could possibly match
   (no ``@`` -> no e-mail recognizer; no 7+ digit run -> no phone/card/SSN/CN-id recognizer);
3. a decision cache keyed by (field context, value): headers, tokens and enum-like values repeat
   across a capture, and the verdict depends on nothing else.

Only values that pass gate 2 run the selected presidio recognizers' ``analyze`` (their patterns
and validators), then get presidio-style context scoring: a matching field name, or one of the
recognizer's context words just before the match in free text, lifts a weak pattern score.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl, unquote

import regex
from presidio_analyzer import EntityRecognizer, PatternRecognizer, RecognizerRegistry

from analyzer.pii.fields import NO_CONTEXT, FieldContext, context_for, cookie_context, field_context
from analyzer.pii.flatten import JsonNumber, flatten_body
from analyzer.pii.headers import SKIP_HEADERS as _SKIP_HEADERS
from analyzer.pii.masking import mask
from analyzer.pii.recognizers import FieldContextRecognizer, build_registry, cn_id_valid, luhn_ok

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
NUMBER_CONTEXT = FieldContext(frozenset(), True)

# Types a negative field name ("order_id", "created_at", "version") vetoes: look-alike numbers.
NUMERIC_TYPES = frozenset(
    {"PHONE_NUMBER", "CREDIT_CARD", "US_SSN", "CN_RESIDENT_ID", "IP_ADDRESS", "DATE_OF_BIRTH"}
)

# Pre-screen: one cheap regex per recognizer family, each behind an O(1) gate (a character that
# must be present, a minimum length), so a typical short value ("click", "2024-07-18", "1.2.3")
# costs well under a microsecond. Only a family whose screen matches runs its presidio recognizer.
_SCREEN_EMAIL = re.compile(r"@[\w-]+\.")
_SCREEN_TOKEN = re.compile(
    r"eyJ[\w-]{10}|[spr]k_(?:live|test)_|gh[pousr]_|github_pat_|AKIA|xox[abprs]-|AIza|glpat-|SG\.[\w-]{16}"
    r"|[Bb]earer\s|[Bb]asic\s|[Tt]oken\s\S{12}"
    r"|(?:[Pp]ass(?:word|wd|phrase)?|pwd|[Ss]ecret|api[_-]?key|(?:access|auth|refresh)[_-]?token)\s*[=:]"
    r"|(?:password|passwd|passcode|pwd)\s+\S|@[\w.-]+\s+/\s+\S",
    re.IGNORECASE,
)
_SCREEN_IP = re.compile(r"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d|:[0-9A-Fa-f]{0,4}:")
# Upper-case only: hex ids and UUIDs (lower-case) are the commonest near-miss for a loose IBAN screen.
_SCREEN_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?:\s?[A-Z0-9]{4}){2}")
# Not glued to letters, dots or dashes: a digit run inside a UUID, hex id or version is no number.
_SCREEN_NUM = re.compile(r"(?<![\w.-])[+(]?\d[\d\s().-]{5,}\d[Xx]?(?![\w-]|\.\d)")
# Digit runs that are dates or dotted quads: never phone numbers, whatever libphonenumber thinks.
_NOT_PHONE = re.compile(
    r"\d{1,3}(?:\.\d{1,3}){3}|\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{4}"
)
_SSN_SHAPE = re.compile(r"\d{3}([- .])\d{2}\1\d{4}")
_SCREEN_STREET = re.compile(
    r"(?:Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Way|Court|Ct|Place|Pl|Terrace|Square|Parkway"
    r"|Pkwy|Highway|Hwy|Circle|Trail|Close|Crescent|Row|Gardens|Box)\b"
    r"|(?:straße|strasse|weg|gasse|allee|platz|katu|gatan|vej|laan|straat)\s+\d|[省市区县][^\s]{0,12}[路街道号]"
)
_SCREEN_PERSON = re.compile(r"[Nn]ame(?:\s+is|\s*:)|\b(?:Mr|Mrs|Ms|Miss|Mx|Prof)\.?\s")
_NON_DIGIT = re.compile(r"\D")

# In free text, "order 13812345678" or "ref #110105..." is an identifier, whatever its shape: the
# words just before an unvalidated numeric match veto it (presidio has no negative context).
_NEGATIVE_TEXT = re.compile(r"(?i)\b(?:order|invoice|ref|reference|tracking|ticket|sku|id|no)\b[\s#:.no-]*$")
_DOB_WORDS = re.compile(r"(?i)birth|born|\bdob\b|生日|出生")

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


def _split_target(target: str) -> tuple[str, str]:
    """(path, query) of a request-target; absolute-form ("http://h/p?q") loses scheme and host."""
    if "://" in target[:12]:
        rest = target.split("://", 1)[1]
        slash = rest.find("/")
        target = rest[slash:] if slash >= 0 else "/"
    target = target.split("#", 1)[0]
    path, _, query = target.partition("?")
    return path, query


class PiiDetector:
    """Detects PII types in exchange records; see the module docstring for the fast path."""

    def __init__(self, *, score_threshold: float = 0.5, registry: RecognizerRegistry | None = None) -> None:
        self.score_threshold = score_threshold
        self.registry = registry or build_registry()
        self._by_name: dict[str, EntityRecognizer] = {r.name: r for r in self.registry.recognizers}
        # A registry without some recognizer (a caller's custom one) just never selects it.
        get = self._by_name.get
        self._email, self._credential, self._ip, self._iban, self._street = (
            get("OfflineEmailRecognizer"),
            get("CredentialRecognizer"),
            get("IpRecognizer"),
            get("IbanRecognizer"),
            get("StreetAddressRecognizer"),
        )
        self._person_text = get("PersonTextRecognizer")
        self._phone, self._card, self._ssn, self._cn_id = (
            get("PhoneNumberRecognizer"),
            get("CardRecognizer"),
            get("SsnRecognizer"),
            get("CnResidentIdRecognizer"),
        )
        self._dob = self._by_name.get("DateOfBirthRecognizer")
        # Patterns of every PatternRecognizer that uses presidio's stock analyze, compiled once
        # with that recognizer's own flags (the ``regex`` module, as presidio does).
        self._compiled: dict[str, list[tuple[regex.Pattern[str], float]]] = {
            r.name: [(regex.compile(p.regex, flags=r.global_regex_flags or 0), p.score) for p in r.patterns]
            for r in self.registry.recognizers
            if isinstance(r, PatternRecognizer) and type(r).analyze is PatternRecognizer.analyze
        }
        self._cache: dict[tuple[FieldContext, str], tuple[Hit, ...]] = {}
        self._field_cache: dict[str, FieldContext] = {}
        # Body field path -> (context of a string value, context of a bare JSON number value).
        self._body_ctx: dict[str, tuple[FieldContext, FieldContext]] = {}
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
            for pii_type, score in FieldContextRecognizer.analyze_field(value, ctx.types):
                if score >= self.score_threshold:
                    best[pii_type] = (score, 0, len(value))
        recognizers = self._candidates(value, ctx)
        recognizers.discard(None)
        for recognizer in recognizers:
            assert recognizer is not None
            for pii_type, score, start, end in self._run(recognizer, value):
                if pii_type in NUMERIC_TYPES and (
                    ctx.negative or (score < 1.0 and _NEGATIVE_TEXT.search(value, max(0, start - 24), start))
                ):
                    continue
                if pii_type == "PERSON" and ctx.organisation:
                    continue  # "Mr. Steak" under "company" is a business name
                if pii_type == "CREDIT_CARD" and start and value[start - 1] == "+":
                    continue  # "+4917468711115" is a phone number that happens to pass Luhn
                if pii_type == "IP_ADDRESS" and value[max(0, start - 3) : start] == "://":
                    continue  # the host of a URL (Referer, links) is a server, not a person's address
                if pii_type in ctx.types or (
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
        compiled = self._compiled.get(recognizer.name)
        if compiled is None:
            return [
                (r.entity_type, r.score, r.start, r.end)
                for r in recognizer.analyze(text, recognizer.supported_entities, None)
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

    def _candidates(self, value: str, ctx: FieldContext) -> set[EntityRecognizer | None]:
        """Recognizers that could match ``value``; empty for the vast majority of values."""
        out: set[EntityRecognizer | None] = set()
        n = len(value)
        if self._dob is not None and (
            "DATE_OF_BIRTH" in ctx.types or (n >= 12 and " " in value and _DOB_WORDS.search(value))
        ):
            out.add(self._dob)
        if n < 6:  # nothing we detect is shorter ("a@b.co", "1.1.1.1", an 11-digit mobile)
            return out
        if value.isdigit():  # ids, epochs, counts: the commonest non-text value
            if not ctx.negative:
                out.update(self._numeric_recognizers(value, value, ctx, free_text=False))
            return out
        if "@" in value and _SCREEN_EMAIL.search(value):
            out.add(self._email)
        if n >= 12 and _SCREEN_TOKEN.search(value):
            out.add(self._credential)
        if not ctx.negative:
            if ("." in value or ":" in value) and _SCREEN_IP.search(value):
                out.add(self._ip)
            for match in _SCREEN_NUM.finditer(value):
                text = match.group()
                out.update(
                    self._numeric_recognizers(text, _NON_DIGIT.sub("", text), ctx, free_text=len(text) < n)
                )
        if n >= 15 and _SCREEN_IBAN.search(value):
            out.add(self._iban)
        if n >= 8 and " " in value:
            if _SCREEN_STREET.search(value):
                out.add(self._street)
            if _SCREEN_PERSON.search(value):
                out.add(self._person_text)
        return out

    def _numeric_recognizers(
        self, text: str, digits: str, ctx: FieldContext, *, free_text: bool
    ) -> list[EntityRecognizer | None]:
        """Numeric recognizers worth running on a digit run, picked by its digit count.

        A 10-digit epoch cannot be a card, a 16-digit number cannot be a phone; card and CN-id
        candidates must pass their checksum first (the same check presidio's validator makes),
        which rejects ~90% of look-alikes for the price of a few additions instead of a full
        recognizer run.
        """
        phone, card, ssn, cn_id = self._phone, self._card, self._ssn, self._cn_id
        count = len(digits)
        bare = text.isdigit()
        if count > 19 and not bare:
            # Several numbers run together in free text ("4111 1111 1111 1111 12 27"): the run's
            # digit count says nothing, so let every numeric recognizer look.
            return [phone, card, ssn, cn_id]
        out: list[EntityRecognizer | None] = []
        # A bare digit run is a phone only as an 11-digit CN mobile (13 with "86") or "00..." dialling.
        if (
            7 <= count <= 15
            and (not bare or count in (11, 13) or text.startswith("00") or "PHONE_NUMBER" in ctx.types)
            and not _NOT_PHONE.fullmatch(text)
        ):
            out.append(phone)
        if 12 <= count <= 19 and luhn_ok(digits):
            out.append(card)
        # A bare 9-digit number is an SSN only with context (field name or words in free text).
        if count == 9 and ("US_SSN" in ctx.types or free_text or _SSN_SHAPE.fullmatch(text)):
            out.append(ssn)
        if count == 17 or (count == 18 and cn_id_valid(digits)):
            out.append(cn_id)
        return out

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

    # -- one exchange ----------------------------------------------------------------------------

    def detect_exchange(self, record: dict[str, Any]) -> list[PiiFinding]:
        """All PII of one exchange record (``Exchange.to_dict()`` form), one finding per
        (type, location, field) with the number of values hit and the first masked sample."""
        found: dict[tuple[str, str, str], list[Any]] = {}

        def add(location: str, field: str, value: str, ctx: FieldContext) -> None:
            for pii_type, _, sample in self._scan(value, ctx):
                key = (pii_type, location, field)
                entry = found.get(key)
                if entry is None:
                    found[key] = [sample, 1]
                else:
                    entry[1] += 1

        target = record.get("target") or ""
        if target:
            path, query = _split_target(target)
            self._scan_path(path, add)
            if query:
                for name, value in parse_qsl(query, keep_blank_values=False):
                    add("query", name, value, self._context(name))

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
        body_ctx = self._body_ctx
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
                    ctx = self._context(field) if field else NO_CONTEXT
                    # A bare JSON number under a name that says nothing is a counter, id or
                    # timestamp far more often than a phone ("gc_num": 13312343059).
                    contexts = (ctx, ctx if ctx.types else NUMBER_CONTEXT)
                    if len(body_ctx) < CACHE_LIMIT:
                        body_ctx[field] = contexts
                ctx = contexts[1] if type(value) is JsonNumber else contexts[0]
                if not ctx.types and (len(value) < 6 or (ctx.negative and value.isdigit())):
                    continue  # no hits, see ``_scan``
                # The decision cache inline (``_scan`` does the same lookup): most values hit it.
                hits = cache.get((ctx, value)) if len(value) <= MAX_CACHED_VALUE else None
                if hits is None:
                    hits = self._scan(value, ctx)
                for pii_type, _, sample in hits:
                    key = (pii_type, location, field)
                    entry = found.get(key)
                    if entry is None:
                        found[key] = [sample, 1]
                    else:
                        entry[1] += 1
            for key in dict.fromkeys(dynamic_keys):  # data used as a map key: scanned as a value
                add(location, DYNAMIC_KEY, key, NO_CONTEXT)

        return [
            PiiFinding(type=t, location=loc, field=f, sample=sample, count=count)
            for (t, loc, f), (sample, count) in found.items()
        ]

    def _scan_path(self, path: str, add: Any) -> None:
        segments = path.split("/")
        for index, raw in enumerate(segments):
            if not raw or (raw.isalpha() and len(raw) < 40):
                continue  # a plain word ("users", "orders") carries no pattern-shaped PII
            segment = unquote(raw)
            previous = unquote(segments[index - 1]) if index > 1 else ""
            hits = self._scan(segment, context_for("", previous) if previous else NO_CONTEXT)
            if not hits:
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
            add("path", field, segment, context_for("", previous) if previous else NO_CONTEXT)

    @staticmethod
    def _scan_cookie(name: str, value: str, add: Any) -> None:
        pairs = value.split(";", 1)[:1] if name == "set-cookie" else value.split(";")
        for pair in pairs:
            cookie_name, sep, cookie_value = pair.strip().partition("=")
            if sep and cookie_value:
                add("header", name, unquote(cookie_value.strip('"')), cookie_context(cookie_name))


@lru_cache(maxsize=1)
def default_detector() -> PiiDetector:
    """Process-wide detector (registry construction and caches are shared)."""
    return PiiDetector()
