"""Classify one concrete path segment into a value type.

The classifier is deliberately local (one segment, no context): context-dependent decisions
(a date that is really an API version, a word that is really a slug) are taken by the learner,
which sees every value at a position. Results are memoised because the same segments recur
constantly in live traffic.
"""

from __future__ import annotations

import re
from functools import lru_cache
from urllib.parse import unquote

# Types whose mere shape proves the segment is data, not a route name: one sighting suffices.
STRONG_TYPES: frozenset[str] = frozenset(
    {
        "integer",
        "uuid",
        "objectid",
        "ulid",
        "hex",
        "date",
        "datetime",
        "email",
        "phone",
        "token",
        "code",
        "semver",
        "file",
        "ip",
        "ssn",
        "card",
        "iban",
    }
)
# Strong types whose shape alone is weak evidence ("generate_204", "wp-comments-post.php",
# "100MB.bin"): one value ever seen at a position is a literal, except under a plural collection.
LOOSE_TYPES: frozenset[str] = frozenset({"code", "file"})
# Identifier-like types get an "Id" suffix in generated parameter names.
ID_TYPES: frozenset[str] = frozenset({"integer", "uuid", "objectid", "ulid", "hex", "token"})

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_OBJECTID = re.compile(r"[0-9a-f]{24}|[0-9A-F]{24}")
# ULID: Crockford base32, first char <= 7 (48-bit timestamp), 26 chars.
_ULID = re.compile(r"[0-7][0-9A-HJKMNP-TV-Z]{25}|[0-7][0-9a-hjkmnp-tv-z]{25}")
_HEX = re.compile(r"[0-9a-f]{8,}|[0-9A-F]{8,}")
# A hex id carrying a short alphabetic type prefix, e.g. Twilio "PN" + 32 hex, Stripe-like "ch_" ids.
_PREFIXED_HEX = re.compile(r"[A-Za-z]{1,4}_?[0-9a-fA-F]{16,}")
_DATE = re.compile(r"\d{4}-(0[1-9]|1[0-2])(-(0[1-9]|[12]\d|3[01]))?")
_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?")
_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}")
_PHONE_E164 = re.compile(r"\+\d{7,15}")
_PHONE_SEP = re.compile(r"\+?\d{1,3}[-. ]?\(?\d{2,4}\)?[-. ]\d{3,4}[-. ]\d{3,4}")
_SEMVER = re.compile(r"v?\d+\.\d+\.\d+([-+][0-9A-Za-z.\-+]+)?")
# API version segments: v1, v2, v1.41, v1alpha1, v2beta3, 1.0. Never parameters.
_VERSION = re.compile(r"v\d+(\.\d+)?([a-z]+\d*)?|\d+\.\d+|V\d+")
_JIRA_KEY = re.compile(r"[A-Z][A-Z0-9]{1,9}-\d+")
_IPV4 = re.compile(r"(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}")
_IPV6 = re.compile(r"[0-9A-Fa-f]{0,4}(:[0-9A-Fa-f]{0,4}){2,7}")
# Upper-case alphanumeric ids: PagerDuty "PXK3J9L", Square "LHT7YSGJZ5YX2".
_UPPER_ID = re.compile(r"[A-Z0-9]{7,32}")
# Type-prefixed random ids: Stripe-like "cus_R1WewEu2NUSh3WB8", "sub_cIjiaHKWbykjDRPR".
_PREFIXED_ID = re.compile(r"[a-z]{2,8}_[A-Za-z0-9]{12,}")
_CODE = re.compile(r"[A-Za-z0-9]+([-_.][A-Za-z0-9]+)*")
# Types of masked PII segments (analyzer.templating.privacy.PII_TYPES).
_MASKED = frozenset({"email", "phone", "ssn", "card", "ip", "iban", "token"})
# Words and numbers joined by "_" or "-", each word plain or capitalised ("Product_Sales_for_1997",
# "Summary_of_Sales_by_Years"): a name a person wrote, never entropy (random base64url mixes
# letters and digits, and cases, inside its parts).
_PHRASE = re.compile(r"(?:[A-Z]?[a-z]+|[A-Z]+|[0-9]+)(?:[-_](?:[A-Z]?[a-z]+|[A-Z]+|[0-9]+))+")
_TOKEN = re.compile(r"[A-Za-z0-9_\-]{16,}={0,2}|[A-Za-z0-9+/]{16,}={1,2}")
_FILE_EXT = (
    r"pdf|png|jpe?g|gif|svg|webp|bmp|ico|tiff?|csv|tsv|txt|json|xml|ya?ml|html?|"
    r"zip|gz|tgz|tar|bz2|xz|7z|rar|docx?|xlsx?|pptx?|odt|ods|rtf|md|mp3|mp4|m4a|wav|ogg|webm|mov|avi|mkv|"
    r"log|bin|exe|dmg|deb|rpm|apk|ipa|iso|js|mjs|ts|tsx|jsx|css|scss|map|woff2?|ttf|eot|epub|ics|vcf|key|pem|crt|"
    r"sql|parquet|avro|py|rb|go|rs|java|kt|swift|c|h|cc|cpp|hpp|cs|php|sh|toml|ini|cfg|conf|lock|wasm|heic|avif"
)
_FILE = re.compile(r"(?P<base>[^/]+)\.(?P<ext>" + _FILE_EXT + ")", re.IGNORECASE)
REPRESENTATION_EXTS = frozenset({"json", "xml", "html", "htm"})
_REPRESENTATION_EXTS = REPRESENTATION_EXTS
FILE_EXTENSION = re.compile(_FILE_EXT, re.IGNORECASE)


def _digits(s: str) -> int:
    return sum(c.isdigit() for c in s)


def _longest_digit_run(s: str) -> int:
    best = run = 0
    for c in s:
        run = run + 1 if c.isdigit() else 0
        best = max(best, run)
    return best


_LOWER_RUN = re.compile(r"[a-z]+")


def _camel_words(s: str) -> bool:
    """A camelCase / PascalCase identifier ("DEPServiceHttpPort", "getUserAccountInfo"): every
    run of small letters is a word part of three or more. Random base62 of that length has
    runs of one or two small letters almost always."""
    runs = _LOWER_RUN.findall(s)
    return len(runs) >= 2 and min(len(r) for r in runs) >= 3


_INNER_DIGIT = re.compile(r"\d[A-Za-z]")


def _worded(s: str) -> bool:
    """camelCase words around a digit or two ("retrieve3ds2Result", "getV2UserList"): few
    capitals, the small letters nearly all in word parts of three or more. Random base62 of
    that length has about as many capitals as small letters, in short runs. (Only digits
    inside the name, a standard's or version's number between its words; a trailing one,
    "payCodeAgreementM1", keeps the reading it had.)"""
    if not _INNER_DIGIT.search(s):
        return False
    upper = sum(c.isupper() for c in s)
    runs = _LOWER_RUN.findall(s)
    lower = sum(map(len, runs))
    return upper * 3 <= lower and sum(len(r) for r in runs if len(r) >= 3) >= 0.75 * lower


_UPPER_RUN = re.compile(r"[A-Z]+")


def _random_cases(s: str) -> bool:
    """Short random base62 ids ("JrMicRSaBk", "nFhkIMfTHsO9XKI"): small letters in runs of one to
    three, several of them single, and capitals in runs too. Words people join in camelCase
    ("getUserById", "XmlHttpReq", "iPhoneXSMax") have word parts of two small letters or more
    after a capital, acronyms aside, so single small letters are rare there."""
    lower = _LOWER_RUN.findall(s)
    if len(lower) < 3 or max(len(r) for r in lower) > 3 or sum(len(r) == 1 for r in lower) < 2:
        return False
    upper = _UPPER_RUN.findall(s)
    return sum(map(len, upper)) >= 3 and max(len(r) for r in upper) >= 2


def _digit_runs(s: str) -> int:
    runs = 0
    prev = False
    for c in s:
        d = c.isdigit()
        if d and not prev:
            runs += 1
        prev = d
    return runs


@lru_cache(maxsize=262_144)
def classify(segment: str) -> str:
    """Return the value type of a raw (possibly percent-encoded) path segment.

    Types: empty, integer, uuid, objectid, ulid, hex, date, datetime, email, phone, ip, token,
    code, semver, file, version, word. ``word`` is the catch-all: literals and slugs look alike.
    """
    if not segment:
        return "empty"
    if segment[0] == "{" and segment[-1] == "}":
        # A masked PII value ("{email:3f9a...}", see privacy): its type, kept on masking.
        typ = segment[1:-1].partition(":")[0]
        if typ in ("email", "phone", "ssn", "card", "ip", "iban", "token"):
            return typ
    s = unquote(segment) if "%" in segment else segment
    if s.isdigit():
        return "integer"
    n = len(s)
    if n == 36 and _UUID.fullmatch(s):
        return "uuid"
    if n == 24 and _OBJECTID.fullmatch(s) and _digits(s):
        return "objectid"
    if n == 26 and _ULID.fullmatch(s) and _digits(s) and not s.isdigit():
        return "ulid"
    if n >= 8 and _HEX.fullmatch(s) and _digits(s) and any(c.isalpha() for c in s):
        return "hex"
    if s[0].isdigit() and _IPV4.fullmatch(s):
        return "ip"
    if ":" in s and "::" in s and _IPV6.fullmatch(s):
        return "ip"
    if s[0].isdigit() or s[0] == "+":
        if _DATE.fullmatch(s):
            return "date"
        if _DATETIME.fullmatch(s):
            return "datetime"
        if _PHONE_E164.fullmatch(s) or (_PHONE_SEP.fullmatch(s) and _digits(s) >= 7):
            return "phone"
        if s.startswith("-") is False and s.lstrip("-").isdigit():
            return "integer"
    if "@" in s and _EMAIL.fullmatch(s):
        return "email"
    if _VERSION.fullmatch(s):
        return "version"
    if _SEMVER.fullmatch(s):
        return "semver"
    m = _FILE.fullmatch(s)
    if m:
        base = m.group("base")
        inner = classify(base)
        if inner in ID_TYPES or (base[:1] == "{" and inner in _MASKED):
            return inner  # an id (or masked PII) in a representation: "CA4f...9e.json", "42.xml"
        # Route names like "recent.json" or "info.0.json" are literals; generated names carry
        # digits or are long and separated ("2024-Q3-summary.pdf", "invoice_8812.csv").
        if base.isdigit() or _digits(base) >= 2:
            return "file"
        if m.group("ext").lower() in _REPRESENTATION_EXTS and len(re.split(r"[-_ ]+", base)) <= 3:
            # "/tag_groups.json", "/uploads/complete-external-upload.json": a route asked for in
            # a representation; a short phrase without digits is a route name, not a generated
            # file name (page slugs are sentences: "how-to-renew-coverage.json").
            return "word"
        if len(base) >= 10 and any(c in base for c in "-_ "):
            return "file"
        return "word"
    if ":" in s and not s.endswith(":"):
        # "nginx:1.25", "sha256:ab12...", "urn:isbn:..." are references; routes rarely carry colons.
        return "code"
    if _JIRA_KEY.fullmatch(s):
        return "code"
    if _UPPER_ID.fullmatch(s) and _digits(s) and not s.isdigit() and sum(c.isalpha() for c in s) >= 2:
        return "token"
    if n >= 10 and s.isalpha() and s.isupper() and s.isascii() and sum(c in "AEIOU" for c in s) < 0.3 * n:
        # Upper-case ids without a digit ("QYNUZBVMVKYKQ"): random letters have about one vowel
        # in five, upper-case words ("AUTHORIZATION", "DOWNLOADS") two in five.
        return "token"
    if _PREFIXED_ID.fullmatch(s):
        tail = s.partition("_")[2]
        if any(c.isupper() for c in tail) and (any(c.islower() for c in tail) or _digits(tail)):
            return "token"
    if _PREFIXED_HEX.fullmatch(s) and _digits(s) >= 4:
        return "hex"
    digits = _digits(s)
    alpha = sum(c.isalpha() for c in s)
    if n >= 16 and _TOKEN.fullmatch(s) and alpha and not _PHRASE.fullmatch(s):
        upper = sum(c.isupper() for c in s)
        lower = sum(c.islower() for c in s)
        # Mixed case plus digits is entropy, not a slug ("4iV5W9uYEdYUVa79Axb7Rh"); long slugs with
        # a year in them ("best-laptops-2024") stay words. Without digits, random base62 still has
        # about as many capitals as small letters, camelCase route names have few.
        if digits and ((upper and lower and not _worded(s)) or (digits >= 4 and "-" not in s and "_" not in s)):
            return "token"
        if (
            not digits
            and "-" not in s
            and "_" not in s
            and upper >= 4
            and 0.25 <= upper / (upper + lower) <= 0.75
            and not _camel_words(s)
        ):
            return "token"
    if n >= 10 and s.isalnum() and s.isascii() and _random_cases(s):
        return "token"
    if (
        n >= 8
        and digits >= 2
        and s.isalnum()
        and s.isascii()
        and _digit_runs(s) >= 2
        and alpha >= 2
        # (capitals starting words between the digits make an operation's name: "retrieve3ds2Result")
        and not (any(c.isupper() for c in s) and _worded(s))
    ):
        # Random lowercase ids ("t535kom58f", "a8f3k2j9q1"): digits scattered among letters.
        return "token"
    if _CODE.fullmatch(s) and alpha and digits:
        # Product / order codes: "XK-20931", "SKU-1042", "A12B3456". Words with a digit or two
        # ("oauth2", "sha256", "ipv6") stay words.
        run = _longest_digit_run(s)
        if run >= 4 or (run >= 3 and any(c in s for c in "-_.")) or (digits >= 4 and digits * 2 >= n):
            return "code"
    return "word"


def is_version(segment: str) -> bool:
    return bool(segment) and _VERSION.fullmatch(segment) is not None


def has_file_extension(segment: str) -> bool:
    """ "logo.png", "report.pdf": a name with a known file extension."""
    return _FILE.fullmatch(segment) is not None
