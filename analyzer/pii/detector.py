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
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl, unquote

from presidio_analyzer import EntityRecognizer, RecognizerRegistry

from analyzer.pii.fields import NO_CONTEXT, FieldContext, context_for, field_context
from analyzer.pii.flatten import flatten_body
from analyzer.pii.masking import mask
from analyzer.pii.recognizers import FieldContextRecognizer, build_registry

# Scanning a 1 MB base64 blob char by char buys nothing; PII sits in the first few KB of a value.
MAX_VALUE_CHARS = 8192
# Values longer than this are not cached: long free text rarely repeats and would bloat the cache.
MAX_CACHED_VALUE = 512
CACHE_LIMIT = 100_000

# Presidio's context enhancer: +0.35, and at least 0.4 once context is found. Ours lifts to 0.6 so
# a weak pattern (bare 9-digit SSN, dated "dob") crosses the default 0.5 threshold with context.
CONTEXT_BOOST = 0.35
CONTEXT_FLOOR = 0.6
CONTEXT_WINDOW = 48

# Types a negative field name ("order_id", "created_at", "version") vetoes: look-alike numbers.
NUMERIC_TYPES = frozenset(
    {"PHONE_NUMBER", "CREDIT_CARD", "US_SSN", "CN_RESIDENT_ID", "IP_ADDRESS", "DATE_OF_BIRTH"}
)

_PRESCREEN = re.compile(
    r"(?P<email>[\w.+%-]@[\w-]+\.)"
    r"|(?P<tok>eyJ[\w-]{10}|\b(?:sk|pk|rk)_(?:live|test)_|\bgh[pousr]_|github_pat_|\bAKIA|\bxox[abprs]-|\bAIza|\bglpat-|\bSG\."
    r"|(?i:\b(?:bearer|basic|token)\s+\S{12})"
    r"|(?i:(?:password|passwd|pwd|passphrase|secret|api[_-]?key|access[_-]?token|auth[_-]?token|refresh[_-]?token)\s*[=:]))"
    r"|(?P<ip>\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\b|[0-9A-Fa-f]{0,4}::?[0-9A-Fa-f]{1,4}:[0-9A-Fa-f:]*)"
    r"|(?P<iban>\b[A-Z]{2}\d{2}\s?[A-Z0-9]{4})"
    r"|(?P<num>(?<![\w.])[+(]?\d[\d\s().-]{5,}\d)"
    r"|(?P<street>\b(?:Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Way|Court|Ct|Place|Pl|Terrace"
    r"|Square|Parkway|Pkwy|Highway|Hwy|Circle|Trail|Close|Crescent|Row|Gardens|Box)\b"
    r"|[a-zäöüß](?:straße|strasse|weg|gasse|allee|platz|katu|gatan|vej|laan|straat)\s+\d|[省市区县][^\s]{0,12}[路街道号])"
)
_GROUP_RECOGNIZERS: dict[str, tuple[str, ...]] = {
    "email": ("OfflineEmailRecognizer",),
    "tok": ("CredentialRecognizer",),
    "ip": ("IpRecognizer",),
    "iban": ("IbanRecognizer",),
    "num": ("PhoneNumberRecognizer", "CardRecognizer", "UsSsnRecognizer", "CnResidentIdRecognizer"),
    "street": ("StreetAddressRecognizer",),
}
_DOB_WORDS = re.compile(r"(?i)birth|born|\bdob\b|生日|出生")
_FIELD_TYPES = frozenset(FieldContextRecognizer.ENTITIES)

# Headers that never carry PII worth reporting (or carry dates / hashes / ids that look like it).
_SKIP_HEADERS = frozenset(
    [
        "host",
        "user-agent",
        "accept",
        "accept-encoding",
        "accept-language",
        "accept-charset",
        "accept-ranges",
        "content-type",
        "content-length",
        "content-encoding",
        "content-language",
        "content-disposition",
        "content-range",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "cache-control",
        "pragma",
        "date",
        "expires",
        "last-modified",
        "etag",
        "if-none-match",
        "if-match",
        "if-modified-since",
        "if-unmodified-since",
        "vary",
        "server",
        "x-powered-by",
        "upgrade",
        "te",
        "trailer",
        "range",
        "age",
        "via",
        "strict-transport-security",
        "content-security-policy",
        "x-frame-options",
        "x-content-type-options",
        "x-xss-protection",
        "referrer-policy",
        "permissions-policy",
        "access-control-allow-origin",
        "access-control-allow-methods",
        "access-control-allow-headers",
        "access-control-allow-credentials",
        "access-control-expose-headers",
        "access-control-max-age",
        "access-control-request-method",
        "access-control-request-headers",
        "origin",
        "alt-svc",
        "x-request-id",
        "x-correlation-id",
        "request-id",
        "traceparent",
        "tracestate",
        "x-amzn-trace-id",
        "x-b3-traceid",
        "x-b3-spanid",
        "x-b3-parentspanid",
        "x-b3-sampled",
        "x-cache",
        "x-cache-hits",
        "x-served-by",
        "x-timer",
        "x-runtime",
        "x-ratelimit-limit",
        "x-ratelimit-remaining",
        "x-ratelimit-reset",
        "retry-after",
        "dnt",
        "sec-fetch-site",
        "sec-fetch-mode",
        "sec-fetch-dest",
        "sec-fetch-user",
        "sec-ch-ua",
        "sec-ch-ua-mobile",
        "sec-ch-ua-platform",
        "upgrade-insecure-requests",
        "priority",
    ]
)
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


def _near_context(text: str, start: int, words: Iterable[str]) -> bool:
    window = text[max(0, start - CONTEXT_WINDOW) : start].lower()
    return any(word in window for word in words)


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
        self._group_recognizers = {
            group: tuple(self._by_name[n] for n in names if n in self._by_name)
            for group, names in _GROUP_RECOGNIZERS.items()
        }
        self._dob = self._by_name.get("DateOfBirthRecognizer")
        self._cache: dict[tuple[FieldContext, str], tuple[Hit, ...]] = {}
        self._field_cache: dict[str, FieldContext] = {}

    # -- one value -------------------------------------------------------------------------------

    def _scan(self, value: str, ctx: FieldContext) -> tuple[Hit, ...]:
        if len(value) > MAX_VALUE_CHARS:
            value = value[:MAX_VALUE_CHARS]
        key = (ctx, value)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        best: dict[str, tuple[float, int, int]] = {}
        if ctx.types & _FIELD_TYPES:
            for pii_type, score in FieldContextRecognizer.analyze_field(value, ctx.types):
                if score >= self.score_threshold:
                    best[pii_type] = (score, 0, len(value))
        recognizers: set[EntityRecognizer] = set()
        for match in _PRESCREEN.finditer(value):
            group = match.lastgroup or ""
            if group == "num":
                # Pick by digit count: a 10-digit epoch cannot be a card, a 16-digit number cannot
                # be a phone. Under a negative name ("order_id") every numeric verdict is vetoed
                # anyway, so the recognizers are not run at all.
                if not ctx.negative:
                    recognizers.update(self._numeric_recognizers(match.group()))
            elif not (group == "ip" and ctx.negative):
                recognizers.update(self._group_recognizers[group])
        if self._dob is not None and ("DATE_OF_BIRTH" in ctx.types or _DOB_WORDS.search(value)):
            recognizers.add(self._dob)
        for recognizer in recognizers:
            for result in recognizer.analyze(value, recognizer.supported_entities, None):
                pii_type = result.entity_type
                if ctx.negative and pii_type in NUMERIC_TYPES:
                    continue
                score = result.score
                if pii_type in ctx.types or (
                    score < self.score_threshold and _near_context(value, result.start, recognizer.context)
                ):
                    score = max(min(score + CONTEXT_BOOST, 1.0), CONTEXT_FLOOR)
                if score >= self.score_threshold and score > best.get(pii_type, (0.0, 0, 0))[0]:
                    best[pii_type] = (score, result.start, result.end)
        out = tuple((t, score, mask(t, value[start:end])) for t, (score, start, end) in best.items())
        if len(value) <= MAX_CACHED_VALUE:
            if len(self._cache) >= CACHE_LIMIT:
                self._cache.clear()  # crude but O(1) amortised; a capture's working set is far smaller
            self._cache[key] = out
        return out

    def _numeric_recognizers(self, text: str) -> list[EntityRecognizer]:
        phone, card, ssn, cn_id = self._group_recognizers["num"]
        digits = sum(ch.isdigit() for ch in text)
        out: list[EntityRecognizer] = []
        # A bare digit run is a phone only as an 11-digit CN mobile or a 00-prefixed number;
        # other bare runs (epochs, ids) would only burn ~25 µs in libphonenumber.
        bare = text.isdigit()
        if 7 <= digits <= 15 and (not bare or digits in (11, 13) or text.startswith("00")):
            out.append(phone)
        if 12 <= digits <= 19:
            out.append(card)
        if digits == 9:
            out.append(ssn)
        if digits in (17, 18):
            out.append(cn_id)
        return out

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

        for location, body, headers in (
            ("request", record.get("request_body"), request_headers),
            ("response", record.get("response_body"), response_headers),
        ):
            data = _body_bytes(body)
            if not data:
                continue
            for field, value in flatten_body(_header(headers, "content-type"), data):
                add(location, field, value, self._context(field) if field else NO_CONTEXT)

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
                add("header", name, unquote(cookie_value.strip('"')), context_for("", cookie_name))


@lru_cache(maxsize=1)
def default_detector() -> PiiDetector:
    """Process-wide detector (registry construction and caches are shared)."""
    return PiiDetector()
