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
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from analyzer.pii import masking
from analyzer.pii.validators import cn_id_valid, luhn_ok

if TYPE_CHECKING:
    from analyzer.pii.fields import FieldContext

# Numeric screen: (text of a digit run, its digits, types the field name hints, whether the run is
# part of longer text) -> could this entity's recognizers match it?
NumberScreen = Callable[[str, str, frozenset[str], bool], bool]
# Post-match veto: (value, match start, match end, field context) -> drop this match?
Reject = Callable[[str, int, int, "FieldContext"], bool]
# Field-only evidence: a value under a name hinting the entity -> score, or None when it cannot be one.
FieldValue = Callable[[str], "float | None"]


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
    field_names_cjk: re.Pattern[str] | None = None  # Chinese keys ("手机号", "收货地址")
    field_value: FieldValue | None = None  # set when a field name alone can establish the entity
    secret: bool = False  # a credential: samples hide even its length
    # A number look-alike: vetoed under id-like names ("order_id") and after "order"/"ref" in text.
    id_lookalike: bool = False
    reject: Reject | None = None


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
)
_SCREEN_PERSON = re.compile(r"[Nn]ame(?:\s+is|\s*:)|\b(?:Mr|Mrs|Ms|Miss|Mx|Prof)\.?\s")
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
    # The checksum presidio's validator would check, for a few additions instead of a recognizer run.
    return 12 <= len(digits) <= 19 and luhn_ok(digits)


def _ssn_run(text: str, digits: str, hinted: frozenset[str], free_text: bool) -> bool:
    # A bare 9-digit number is an SSN only with context (field name or words in free text).
    return len(digits) == 9 and ("US_SSN" in hinted or free_text or _SSN_SHAPE.fullmatch(text) is not None)


def _cn_id_run(text: str, digits: str, hinted: frozenset[str], free_text: bool) -> bool:
    count = len(digits)
    return count == 17 or (count == 18 and cn_id_valid(digits))


# -- post-match vetoes ----------------------------------------------------------------------------


def _person_reject(value: str, start: int, end: int, ctx: FieldContext) -> bool:
    return ctx.organisation  # "Mr. Steak" under "company" is a business name


def _card_reject(value: str, start: int, end: int, ctx: FieldContext) -> bool:
    return start > 0 and value[start - 1] == "+"  # "+4917468711115" is a phone that passes Luhn


def _ip_reject(value: str, start: int, end: int, ctx: FieldContext) -> bool:
    # The host of a URL (Referer, links) is a server, not a person's address.
    return value[max(0, start - 3) : start] == "://"


# -- field-only evidence --------------------------------------------------------------------------

_NAME = re.compile(r"[^\W\d_][^\W\d_'’.\-]*(?:[ '’.\-]+[^\W\d_][^\W\d_'’.\-]*){0,4}\.?")
_PHONE_LIKE = re.compile(r"\+?[\d\s().\-/]{6,22}(?:\s?(?:x|ext\.?)\s?\d{1,5})?")
_NOT_POSTAL = re.compile(r"[a-z][a-z0-9+.-]*:(?!\s)|[^@\s]+@[^@\s]+$|\+?\d{9,}$|.*://", re.IGNORECASE)


def _person_value(value: str) -> float | None:
    return 0.85 if 2 <= len(value) <= 70 and _NAME.fullmatch(value) else None


def _location_value(value: str) -> float | None:
    if (
        len(value) >= 2
        and any(ch.isalnum() for ch in value)
        and value.count("\n") < 8
        # "address" fields also carry SIP/mail URIs and phone numbers: those are not postal.
        and not _NOT_POSTAL.match(value)
    ):
        return 0.8
    return None


def _credential_value(value: str) -> float | None:
    return 0.85 if len(value) >= 4 and "\n" not in value else None


def _phone_value(value: str) -> float | None:
    if _PHONE_LIKE.fullmatch(value) and sum(ch.isdigit() for ch in value) >= 6:
        return 0.7
    return None


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
        recognizers=("PersonTextRecognizer",),
        screen=Screen(min_len=8, needs=" ", pattern=_SCREEN_PERSON),
        masker=masking.mask_person,
        field_names=re.compile(
            r"holder$|^(full|first|last|given|family|middle|real|legal|contact|customer|recipient|sender|patient|card|account|billing|shipping|display|nick)?name$|surname|maidenname|^(mothersmaiden|maiden)$"
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
    ),
    EntitySpec(
        type="CREDENTIAL",
        recognizers=("CredentialRecognizer",),
        screen=Screen(min_len=12, pattern=_SCREEN_TOKEN),
        masker=masking.mask_credential,
        field_names=re.compile(
            r"(password|passwd|pwd|passphrase|secret|apikey|accesskey|secretkey|privatekey|token|authorization|^auth|credentials?|sessionid|sessid|bearer|cookie)s?$"
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


def field_only_hits(value: str, hinted: frozenset[str]) -> list[tuple[str, float]]:
    """(type, score) of each field-only entity the field name hints and ``value`` can be: the
    evidence is the name ("holder": "Wei Zhang"), the value only has to fit (a name-shaped string,
    not a placeholder or an already masked value)."""
    value = value.strip().strip("\ufeff\u200b")  # BOMs / zero-width spaces from pasted data
    if not value or len(value) > 1024 or value.lower() in _PLACEHOLDERS or _MASKED.fullmatch(value):
        return []
    out: list[tuple[str, float]] = []
    for spec in SPECS:
        if spec.field_value is not None and spec.type in hinted:
            score = spec.field_value(value)
            if score is not None:
                out.append((spec.type, score))
    return out
