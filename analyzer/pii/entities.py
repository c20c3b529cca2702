"""The PII registry: one :class:`EntitySpec` per entity, in :data:`SPECS`, which the detector iterates.

A spec says everything the detector knows about one entity: the presidio recognizers that find it
(by name, built by ``recognizers.build_registry``), the cheap pre-screen in front of them, the
field names that hint it, how a value under such a name alone establishes it, the post-match
vetoes, how a sample is masked and whether the value is a secret. The detector has no per-entity
code: a new entity is one new spec here (and its recognizer in ``recognizers.py``), and a
recognizer no spec claims makes :class:`~analyzer.pii.detector.PiiDetector` refuse to start
instead of silently never running.

Standard library, ``masking`` and ``validators`` only (no presidio): ``fields`` derives its
field-name patterns from here and the templater's ``classify`` may import it cheaply.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from analyzer.pii import masking
from analyzer.pii.names import looks_like_person
from analyzer.pii.validators import card_number_ok, cn_id_valid

if TYPE_CHECKING:
    from analyzer.pii.fields import FieldContext

# Numeric screen: (text of a digit run, its digits, types the field name hints, whether the run is
# part of longer text) -> could this entity's recognizers match it?
NumberScreen = Callable[[str, str, frozenset[str], bool], bool]
# Post-match veto: (value, match start, match end, field context) -> drop this match?
Reject = Callable[[str, int, int, "FieldContext"], bool]
# Field-only evidence: (a value under a name hinting the entity, whether the name only suggests it)
# -> score, or None when it cannot be one.
FieldValue = Callable[[str, bool], "float | None"]
# Population veto: the values one field took across a batch (of the shapes ``Population.shape``
# collects) -> True when they show the field holds ids or versions, not this entity.
PopulationRule = Callable[[Collection[str]], bool]


@dataclass(frozen=True, slots=True)
class Population:
    """Which values of a field to collect across a batch, and what they must not look like."""

    shape: re.Pattern[str]  # fullmatch on a value: collected
    veto: PopulationRule
    min_len: int = 1  # length and character gates in front of the shape (collection is frequent)
    max_len: int = 40
    needs: str = ""


@dataclass(frozen=True, slots=True)
class Screen:
    """O(1) gates, then one regex, in front of an entity's recognizers: a typical short value
    ("click", "2024-07-18", "1.2.3") costs well under a microsecond and runs no recognizer."""

    min_len: int = 6  # nothing we detect is shorter ("a@b.co", "1.1.1.1", an 11-digit mobile)
    needs: str = ""  # at least one of these characters must be present ("" = no such gate)
    pattern: re.Pattern[str] | None = None
    # Numeric entities decide per digit run found by the shared number screen instead of a pattern.
    number: NumberScreen | None = None
    # A field name hinting the entity runs its recognizers on any value (a date under "dob").
    hinted: bool = False


@dataclass(frozen=True, slots=True)
class EntitySpec:
    type: str
    recognizers: tuple[str, ...]  # names in the presidio registry (``recognizers.build_registry``)
    screen: Screen
    masker: Callable[[str], str]
    field_names: re.Pattern[str] | None = None  # on the compacted leaf name ("billingaddress")
    # Names that only suggest the entity ("displayname", "author"): the value must look like it too.
    weak_field_names: re.Pattern[str] | None = None
    field_names_cjk: re.Pattern[str] | None = None  # Chinese keys ("手机号", "收货地址")
    field_value: FieldValue | None = None  # set when a field name alone can establish the entity
    secret: bool = False  # a credential: samples hide even its length
    # A number look-alike: vetoed under id-like names ("order_id") and after "order"/"ref" in text.
    id_lookalike: bool = False
    reject: Reject | None = None
    population: Population | None = None


# -- pre-screens ----------------------------------------------------------------------------------

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
_SCREEN_STREET = re.compile(
    r"(?:Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Way|Court|Ct|Place|Pl|Terrace|Square|Parkway"
    r"|Pkwy|Highway|Hwy|Circle|Trail|Close|Crescent|Row|Gardens|Box)\b"
    r"|(?:straße|strasse|weg|gasse|allee|platz|katu|gatan|vej|laan|straat)\s+\d|[省市区县][^\s]{0,12}[路街道号]"
    r"|\b[ADF]PO\s+A[AEP]\s\d|\d\.?,?\s+(?:Apt\.?|Suite|Flat)\s+\d|\b[Aa]ddress\s{0,2}:"
)
_SCREEN_PERSON = re.compile(
    r"[Nn]ame(?:\s+is|\s*:)|\b(?:Mr|Mrs|Ms|Miss|Mx|Prof|Dr|Doctor)\.?\s"
    r"|(?i:\b(?:this\s+is|i['’]m|i\s+am|dear|hi|hello|thanks|by|call\s+me|regards|cheers|says|said|asked|told"
    r"|replied|wrote|him|her|them|user|customer|client|employee|patient|applicant|recipient|resident|member|holder"
    r"|tenant|student|teacher|nurse|driver|passenger|guest|candidate|sender|colleague|owner|reporter|assignee"
    r"|manager|officer|detective|sergeant|captain|agent|judge|senator|minister|professor|attorney|inspector),?\s)[A-Z]"
    r"|[a-z]\s+(?:says|said|lives|lived|was\s+born|told|asked|replied|explained|wrote|tweeted|emailed|called\s+me)\b"
    r"|(?<![\w@/.-])[A-ZÀ-ÖØ-ÞĀ-ſ][a-zß-öø-ÿā-ſ'’]+\s+(?:[A-Z]\.\s+)?[A-ZÀ-ÖØ-ÞĀ-ſ][a-zß-öø-ÿā-ſ]"
)
_SCREEN_DOB = re.compile(r"(?i)birth|born|\bdob\b|生日|出生")

# Digit runs that are dates or dotted quads: never phone numbers, whatever libphonenumber thinks.
_NOT_PHONE = re.compile(
    r"\d{1,3}(?:\.\d{1,3}){3}|\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{4}"
)
_SSN_SHAPE = re.compile(r"\d{3}([- .])\d{2}\1\d{4}")


def _phone_run(text: str, digits: str, hinted: frozenset[str], free_text: bool) -> bool:
    count = len(digits)
    # A bare digit run is a phone only as an 11-digit CN mobile (13 with "86") or "00..." dialling.
    return (
        7 <= count <= 15
        and (not text.isdigit() or count in (11, 13) or text.startswith("00") or "PHONE_NUMBER" in hinted)
        and not _NOT_PHONE.fullmatch(text)
    )


def _card_run(text: str, digits: str, hinted: frozenset[str], free_text: bool) -> bool:
    # What the recognizer's validator checks (issuer range, length, Luhn), for a few additions.
    return card_number_ok(digits)


def _ssn_run(text: str, digits: str, hinted: frozenset[str], free_text: bool) -> bool:
    # A bare 9-digit number is an SSN only with context (field name or words in free text).
    return len(digits) == 9 and ("US_SSN" in hinted or free_text or _SSN_SHAPE.fullmatch(text) is not None)


def _cn_id_run(text: str, digits: str, hinted: frozenset[str], free_text: bool) -> bool:
    count = len(digits)
    return count == 17 or (count == 18 and cn_id_valid(digits))


# -- post-match vetoes ----------------------------------------------------------------------------


def _person_reject(value: str, start: int, end: int, ctx: FieldContext) -> bool:
    # "Mr. Steak" under "company" is a business name; "Karma Police" under "track.name" a title;
    # a name-like run inside an address, e-mail or credential field is part of that.
    return ctx.organisation or ctx.thing or (bool(ctx.types) and "PERSON" not in ctx.types)


def _card_reject(value: str, start: int, end: int, ctx: FieldContext) -> bool:
    if start > 0 and value[start - 1] == "+":
        return True  # "+4917468711115" is a phone that passes Luhn
    # A bare card-length number in a URL is an id ("/files/4532015112830366", "?rev=..."):
    # cards travel in bodies, or in URLs under a name that says so.
    return ctx.in_url and "CREDIT_CARD" not in ctx.types and value.isdigit()


# Names of a version just before the number: "v", "_v=", "version ", "ver:", "appv=", "sdkver=",
# "app_version=" ("server=", "driver=" are not: the letters before "ver" belong to another word).
# What names a piece of software before "v"/"ver" in a compact name ("appv", "sdkver"); also
# read by analyzer.pii.fields for field names.
SOFTWARE_PREFIXES = "app|sdk|os|client|lib|fw|sw|hw|api|pkg|plugin|browser|game|core|engine|agent|ui|web"
_VERSION_BEFORE = re.compile(
    rf"(?i)(?:(?<![a-z0-9])_?(?:{SOFTWARE_PREFIXES})?"
    r"(?:v|ver|vers|version)|\brelease|\bbuild|\bfirmware|\bfw|\brev)[\s.:=_-]{0,3}$"
)
# "858:65::", "12:30::": two or three groups of decimal digits before "::" are numbers joined by
# colons (times, id lists), not an IPv6 address (those carry hex groups or start with "::").
_DECIMAL_COLON_RUN = re.compile(r"\d{1,4}(?::\d{1,4}){1,2}::")


def _ip_reject(value: str, start: int, end: int, ctx: FieldContext) -> bool:
    before = value[max(0, start - 16) : start]
    # The host of a URL (Referer, links) is a server, not a person's address.
    if before.endswith("://"):
        return True
    # A run cut out of a longer dotted number: "2024.10.24.16.53.42", "10.2.4.1.7".
    if before[-2:-1].isdigit() and before.endswith("."):
        return True
    if value[end : end + 1] == "." and value[end + 1 : end + 2].isdigit():
        return True
    # A version: "UpdateAgent/4.2.10.3", "Microsoft.CSharp:4.5.1.2", "v1.2.3.4", "version 1.1.23.0".
    if before[-1:] in ("/", ":") and before[-2:-1].isalpha():
        return True
    if _DECIMAL_COLON_RUN.fullmatch(value, start, end):
        return True
    return _VERSION_BEFORE.search(before) is not None


# -- field-only evidence --------------------------------------------------------------------------

_NAME = re.compile(r"[^\W\d_][^\W\d_'’.\-]*(?:[ '’.\-]+[^\W\d_][^\W\d_'’.\-]*){0,4}\.?")
_PHONE_LIKE = re.compile(r"\+?[\d\s().\-/]{6,22}(?:\s?(?:x|ext\.?)\s?\d{1,5})?")
_NOT_POSTAL = re.compile(r"[a-z][a-z0-9+.-]*:(?!\s)|[^@\s]+@[^@\s]+$|\+?\d{9,}$|.*://", re.IGNORECASE)


def _person_value(value: str, weak: bool) -> float | None:
    if weak:  # "displayName", "author", a customer's "name": the value must look like a person's name
        return 0.85 if looks_like_person(value) else None
    return 0.85 if 2 <= len(value) <= 70 and _NAME.fullmatch(value) else None


# Network addresses under "address"-like names: IPs (with port or prefix length), host names,
# host:port, MAC addresses, hex ids. A postal address has words or digits with spaces or commas.
_NETWORK_VALUE = re.compile(
    r"\[?[0-9A-Fa-f:.]*[:.][0-9A-Fa-f:.]*\]?(?:/\d{1,3})?(?::\d{1,5})?"
    r"|(?=[^\s,]*\.)[a-z0-9-]+(?:\.[a-z0-9-]+)+(?::\d{1,5})?"
    r"|[\w.-]+:\d{2,5}"
    r"|(?:0x)?[0-9a-fA-F]{16,}"
)


def _location_value(value: str, weak: bool) -> float | None:
    if (
        len(value) >= 2
        and any(ch.isalnum() for ch in value)
        and value.count("\n") < 8
        # "address" fields also carry SIP/mail URIs and phone numbers: those are not postal.
        and not _NOT_POSTAL.match(value)
        and not _NETWORK_VALUE.fullmatch(value)
    ):
        return 0.8
    return None


# A machine-made key: one run of token characters, letters and digits mixed, no words.
_TOKEN_VALUE = re.compile(r"(?=[^\d]*\d)(?=[^A-Za-z]*[A-Za-z])[\w\-+/=.~]{16,512}")


def _credential_value(value: str, weak: bool) -> float | None:
    if weak:  # "sentry_key", "writeKey": a key only when the value is token-shaped, not a word or id
        return 0.8 if _TOKEN_VALUE.fullmatch(value) and len(set(value)) >= 8 else None
    return 0.85 if len(value) >= 4 and "\n" not in value else None


def _phone_value(value: str, weak: bool) -> float | None:
    if _PHONE_LIKE.fullmatch(value) and sum(ch.isdigit() for ch in value) >= 6:
        return 0.7
    return None


# -- population vetoes ----------------------------------------------------------------------------


def _counter(values: Collection[str]) -> bool:
    """Distinct numbers all within a small span: a counter or an allocated block of ids."""
    numbers = sorted({int(v) for v in values if v.isdigit()})
    return len(numbers) >= 3 and numbers[-1] - numbers[0] < 1000 * len(numbers)


def _not_cards(values: Collection[str]) -> bool:
    # Real card numbers all pass Luhn (and an issuer range); random ids of card length pass one
    # time in ten. Sequential invoice numbers are a counter.
    digits = {v.replace(" ", "").replace("-", "") for v in values}
    if _counter(digits):
        return True
    return len(digits) >= 5 and sum(card_number_ok(d) for d in digits) < 0.6 * len(digits)


def _versions(values: Collection[str]) -> bool:
    # A field of dotted numbers where some have 2, 3 or 5+ parts, or parts over 255: versions.
    for value in values:
        parts = value.split(".")
        if len(parts) != 4 or any(len(p) > 3 or int(p) > 255 for p in parts):
            return True
    return False


_CARD_SHAPED = re.compile(r"\d[\d -]{10,21}\d")
_DOTTED = re.compile(r"\d{1,9}(?:\.\d{1,9}){1,7}")
_PHONE_DIGITS = re.compile(r"1[3-9]\d{9}")


# -- the registry ---------------------------------------------------------------------------------

SPECS: tuple[EntitySpec, ...] = (
    EntitySpec(
        type="EMAIL_ADDRESS",
        recognizers=("OfflineEmailRecognizer",),
        screen=Screen(needs="@", pattern=_SCREEN_EMAIL),
        masker=masking.mask_email,
        field_names=re.compile(r"e?mail(addr(ess)?)?s?$|^email"),
        field_names_cjk=re.compile("邮箱|邮件"),
    ),
    EntitySpec(
        type="PHONE_NUMBER",
        recognizers=("PhoneNumberRecognizer",),
        screen=Screen(number=_phone_run),
        masker=masking.mask_phone,
        field_names=re.compile(
            r"phone|mobile|^(tel|cell|fax|msisdn)$|telephone|(tel|cell|fax)(no|num|number)?$|msisdn|whatsapp|contactnumber"
        ),
        field_names_cjk=re.compile("手机|电话|联系方式"),
        field_value=_phone_value,
        id_lookalike=True,
        population=Population(_PHONE_DIGITS, _counter, min_len=11, max_len=11),
    ),
    EntitySpec(
        type="CREDIT_CARD",
        recognizers=("CardRecognizer",),
        screen=Screen(number=_card_run),
        masker=masking.mask_card,
        field_names=re.compile(
            r"card(no|num|number)$|^(card|pan|ccn|ccnum|ccnumber)$|creditcard|cardpan|primaryaccountnumber"
        ),
        field_names_cjk=re.compile("卡号|银行卡"),
        id_lookalike=True,
        reject=_card_reject,
        population=Population(_CARD_SHAPED, _not_cards, min_len=12, max_len=23),
    ),
    EntitySpec(
        type="US_SSN",
        recognizers=("SsnRecognizer",),
        screen=Screen(number=_ssn_run),
        masker=masking.mask_ssn,
        field_names=re.compile(r"ssn|socialsecurity"),
        id_lookalike=True,
    ),
    EntitySpec(
        type="IBAN_CODE",
        recognizers=("IbanRecognizer",),
        screen=Screen(min_len=15, pattern=_SCREEN_IBAN),
        masker=masking.mask_iban,
        field_names=re.compile(r"iban"),
    ),
    EntitySpec(
        type="CN_RESIDENT_ID",
        recognizers=("CnResidentIdRecognizer",),
        screen=Screen(number=_cn_id_run),
        masker=masking.mask_cn_id,
        field_names=re.compile(
            r"idcard|^id(no|number|num)$|identity(card|no|number)|residentid|nationalid|shenfenzheng|^sfz|citizenid|cert(ificate)?(no|number)"
        ),
        field_names_cjk=re.compile("身份证|证件号"),
        id_lookalike=True,
    ),
    EntitySpec(
        type="PERSON",
        recognizers=("PersonTextRecognizer", "FullNameRecognizer", "IntroducedNameRecognizer"),
        screen=Screen(min_len=5, needs=" ", pattern=_SCREEN_PERSON),
        masker=masking.mask_person,
        field_names=re.compile(
            r"holder$|^(full|first|last|given|family|middle|real|legal|holder|maiden|sur|fore|birth)name$"
            r"|surname|maidenname|^(mothersmaiden|maiden|forenames?|givennames?)$"
        ),
        weak_field_names=re.compile(
            r"^(display|nick|contact|customer|recipient|sender|patient|card|account|billing|shipping|owner|user"
            r"|member|profile|author|screen|public|preferred|person|employee|client)name$"
            r"|^(author|assignee|reporter|creator|organi[sz]er|attendee|participant|contributor|editor|reviewer"
            r"|approver|requester|requestor|signer|patient|customer|employee|doctor|physician|nurse|teacher|student"
            r"|passenger|driver|guest|member|person|cardholder|accountholder|beneficiary|payee|payer|shopper|buyer"
            r"|seller|consignee|submitter|owner|contact|recipient|sender|speaker|instructor|candidate|applicant"
            r"|practitioner)s?$"
            r"|(created|updated|modified|submitted|requested|approved|assigned|owned|reviewed|signed|written"
            r"|authored|edited|closed|resolved|uploaded|posted|sent)by$|author$"
        ),
        field_names_cjk=re.compile("姓名|收货人|联系人|持卡人|户名|名字|收件人"),
        field_value=_person_value,
        reject=_person_reject,
    ),
    EntitySpec(
        type="LOCATION",
        recognizers=("StreetAddressRecognizer",),
        screen=Screen(min_len=8, needs=" ", pattern=_SCREEN_STREET),
        masker=masking.mask_location,
        field_names=re.compile(
            r"address(line\d?|\d)?$|^addr(ess)?\d?$|street|^(city|town|zip|zipcode|postcode|postalcode|province|county|state|region)$"
        ),
        field_names_cjk=re.compile("地址|住址"),
        field_value=_location_value,
    ),
    EntitySpec(
        type="DATE_OF_BIRTH",
        recognizers=("DateOfBirthRecognizer",),
        screen=Screen(min_len=12, needs=" ", pattern=_SCREEN_DOB, hinted=True),
        masker=masking.mask_date,
        field_names=re.compile(r"^dob$|birth|^bday$|^born"),
        field_names_cjk=re.compile("生日|出生"),
        id_lookalike=True,
    ),
    EntitySpec(
        type="IP_ADDRESS",
        recognizers=("IpRecognizer",),
        screen=Screen(needs=".:", pattern=_SCREEN_IP),
        masker=masking.mask_ip,
        field_names=re.compile(
            r"^ip$|ipaddr|ipaddress|(client|remote|real|source|src|user|origin)ip$|forwardedfor|remoteaddr"
        ),
        id_lookalike=True,
        reject=_ip_reject,
        population=Population(_DOTTED, _versions, min_len=7, max_len=40, needs="."),
    ),
    EntitySpec(
        type="CREDENTIAL",
        recognizers=("CredentialRecognizer",),
        screen=Screen(min_len=12, pattern=_SCREEN_TOKEN),
        masker=masking.mask_credential,
        field_names=re.compile(
            r"(password|passwd|pwd|passphrase|secret|apikey|accesskey|secretkey|privatekey|token|authorization|^auth|credentials?|sessionid|sessid|bearer|cookie)s?$"
        ),
        # Keys named after what they authenticate ("sentry_key" in a DSN, Segment's "writeKey",
        # "license_key"): secrets, but the same "...key" names also label handles (sort, cache,
        # idempotency, routing keys: not listed), so the value must be token-shaped as well.
        weak_field_names=re.compile(
            r"(sentry|dsn|client|app|application|license|licence|write|ingest|integration|install|site|service"
            r"|master|admin|shared|signing|encryption|hmac|webhook|consumer|subscription|developer|partner"
            r"|merchant|auth|session|instrumentation|serverapi|restapi|mapbox|maps|recaptcha)keys?$"
        ),
        field_names_cjk=re.compile("密码|令牌|口令"),
        field_value=_credential_value,
        secret=True,
    ),
)

SPEC_BY_TYPE: dict[str, EntitySpec] = {spec.type: spec for spec in SPECS}
TYPES: frozenset[str] = frozenset(SPEC_BY_TYPE)
# Types a field name alone can establish (PERSON, LOCATION, CREDENTIAL, PHONE_NUMBER).
FIELD_ONLY_TYPES: frozenset[str] = frozenset(s.type for s in SPECS if s.field_value is not None)
# Number look-alikes a negative field name ("order_id", "created_at", "version") vetoes.
ID_LOOKALIKE_TYPES: frozenset[str] = frozenset(s.type for s in SPECS if s.id_lookalike)
# Secrets: never stored whole, never shown beyond their kind ("eyJ", "sk_").
SECRET_TYPES: frozenset[str] = frozenset(s.type for s in SPECS if s.secret)


_PLACEHOLDERS = frozenset(
    [
        "null",
        "none",
        "nil",
        "undefined",
        "n/a",
        "na",
        "unknown",
        "anonymous",
        "test",
        "string",
        "true",
        "false",
        "redacted",
        "hidden",
        "masked",
        "xxx",
        "example",
        "sample",
        "default",
        "empty",
    ]
)
_MASKED = re.compile(r"[*•xX#.\-_ ]+")


def field_only_hits(
    value: str, hinted: frozenset[str], weak: frozenset[str] = frozenset()
) -> list[tuple[str, float]]:
    """(type, score) of each field-only entity the field name hints and ``value`` can be: the
    evidence is the name ("holder": "Wei Zhang"), the value only has to fit (a name-shaped string,
    not a placeholder or an already masked value); under a name that only suggests the type
    (``weak``: "displayName") it has to look like one."""
    value = value.strip().strip("\ufeff\u200b")  # BOMs / zero-width spaces from pasted data
    if not value or len(value) > 1024 or value.lower() in _PLACEHOLDERS or _MASKED.fullmatch(value):
        return []
    out: list[tuple[str, float]] = []
    for pii_type, field_value in _field_rules(hinted):
        score = field_value(value, pii_type in weak)
        if score is not None:
            out.append((pii_type, score))
    return out


@lru_cache(maxsize=256)
def _field_rules(hinted: frozenset[str]) -> tuple[tuple[str, FieldValue], ...]:
    """The field-only rules of the hinted types, in registry order (few distinct hint sets)."""
    return tuple((s.type, s.field_value) for s in SPECS if s.field_value is not None and s.type in hinted)
