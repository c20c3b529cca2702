"""Presidio recognizers, one per entity: regex patterns + context words + a validator.

Presidio's own recognizers are reused where they already validate properly (credit card Luhn,
IBAN mod-97, SSN area/group rules, IP via ``ipaddress``); the rest (CN resident id, phones incl.
Chinese mobiles, credentials, dates of birth, street addresses, names in prose) are written in the
same style. Each is named by one entity spec in ``entities.py``; ``build_registry`` builds what the
specs name. Nothing here loads an NLP model or touches the network: ``nlp_artifacts``
is always None, and e-mail validation uses a tldextract instance pinned to its bundled suffix-list
snapshot.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import date
from functools import lru_cache

import phonenumbers
import regex
from presidio_analyzer import (
    EntityRecognizer,
    Pattern,
    PatternRecognizer,
    RecognizerRegistry,
    RecognizerResult,
)
from presidio_analyzer.nlp_engine import NlpArtifacts
from presidio_analyzer.predefined_recognizers import (
    CreditCardRecognizer,
    EmailRecognizer,
    IbanRecognizer,
    IpRecognizer,
    UsSsnRecognizer,
)

from analyzer.pii.entities import SPECS, EntitySpec
from analyzer.pii.names import find_full_names, find_introduced_names
from analyzer.pii.validators import (
    JWT,
    PROVIDER_KEY,
    card_iin_ok,
    cn_id_valid,
    email_domain_ok,
    jwt_header_ok,
    offline_tld_extract,
)

# The e-mail recognizer's suffix list: the snapshot inside the tldextract wheel, never fetched.
OFFLINE_TLD_EXTRACT = offline_tld_extract()

# Case-sensitive flags for recognizers whose patterns rely on capitalisation (street names).
_CASE_SENSITIVE = regex.DOTALL | regex.MULTILINE


class OfflineEmailRecognizer(EmailRecognizer):
    """Presidio's e-mail recognizer, validating the domain against the offline suffix list."""

    def validate_result(self, pattern_text: str) -> bool:
        return email_domain_ok(pattern_text.rpartition("@")[2])


class CardRecognizer(CreditCardRecognizer):
    """Presidio's Luhn-validated card recognizer plus Mastercard's 2221-2720 range it lacks."""

    PATTERNS = [
        *CreditCardRecognizer.PATTERNS,
        Pattern(
            "Mastercard 2-series (weak)",
            r"\b(2(?:2[2-9]\d|[3-6]\d{2}|7[01]\d|720))[- ]?(\d{4})[- ]?(\d{4})[- ]?(\d{4})\b",
            0.3,
        ),
        # Lengths presidio's pattern misses: 12-digit Maestro, 19-digit Visa/Maestro/UnionPay (not 18:
        # CN resident ids are 18 digits), 15-digit JCB "2131"/"1800". Unformatted only; Luhn decides.
        Pattern(
            "Maestro / long PAN (weak)",
            r"\b(?:5[06-9]\d{10}|6\d{11}|[456]\d{18}|(?:2131|1800)\d{11})\b",
            0.3,
        ),
    ]

    def __init__(self) -> None:
        super().__init__(patterns=self.PATTERNS)

    def validate_result(self, pattern_text: str) -> bool:
        # Presidio checks Luhn only; a number outside every issuer's range and lengths is no card
        # ("1234 5678 1234 5670", 16-digit ids starting 7, 8, 9 or 20).
        digits = "".join(ch for ch in pattern_text if ch.isdigit())
        if not card_iin_ok(digits):
            return False
        return bool(super().validate_result(pattern_text))


class SsnRecognizer(UsSsnRecognizer):
    """Presidio's SSN recognizer, also rejecting area numbers 900-999: never issued as SSNs (that
    range is ITINs), and the commonest shape of made-up "SSN-looking" numbers."""

    def invalidate_result(self, pattern_text: str) -> bool:
        digits = "".join(ch for ch in pattern_text if ch.isdigit())
        return digits[:1] == "9" or bool(super().invalidate_result(pattern_text))


class CnResidentIdRecognizer(PatternRecognizer):
    """18-character PRC resident identity card number (checksum + embedded birth date)."""

    PATTERNS = [
        Pattern(
            "CN resident id (weak)",
            r"(?<!\d)[1-9]\d{5}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx](?![\dA-Za-z])",
            0.3,
        )
    ]
    CONTEXT = ["身份证", "id card", "idcard", "resident", "identity", "citizen"]

    def __init__(self) -> None:
        super().__init__(
            supported_entity="CN_RESIDENT_ID",
            patterns=self.PATTERNS,
            context=self.CONTEXT,
            name="CnResidentIdRecognizer",
        )

    def validate_result(self, pattern_text: str) -> bool:
        return cn_id_valid(pattern_text)


class PhoneNumberRecognizer(PatternRecognizer):
    """International (+CC) numbers validated by libphonenumber, Chinese mobiles, national formats.

    Scores encode how much the shape alone says: a valid +CC number is certain; an 11-digit
    1[3-9] mobile is likely but collides with order numbers (a negative field name vetoes it);
    a national format like "(212) 555-0187" needs phone context to pass the threshold.
    """

    PATTERNS = [
        Pattern(
            "international", r"(?<![\w+])\+\d{1,3}[\s.-]?\(?\d{1,4}\)?(?:[\s.-]?\d{1,5}){1,5}(?!\d)", 0.5
        ),
        Pattern("international 00", r"(?<![\w])00\d{1,3}[\s.-]\d{1,4}(?:[\s.-]?\d{2,5}){1,4}(?!\d)", 0.4),
        # The (?<!\d[\s-]) guards stop the national patterns from re-matching the tail of a longer
        # (international) number: each extra match costs a libphonenumber validation.
        Pattern(
            "CN mobile", r"(?<![\w+])(?<!\d[\s-])(?:86[\s-]?)?1[3-9]\d[\s-]?\d{4}[\s-]?\d{4}(?![\w])", 0.6
        ),
        # North-American "(212) 555-0187" / "212-555-0187": a shape distinctive enough to stand alone
        # once libphonenumber accepts it as a US/CA number.
        Pattern("NANP", r"(?<![\w+])(?<!\d[\s-])(?:\(\d{3}\)\s?|\d{3}[\s.-])\d{3}[\s.-]\d{4}(?![\w])", 0.5),
        Pattern(
            "national formatted",
            r"(?<![\w+])(?<!\d[\s-])(?:\(\d{2,5}\)\s?|\d{2,5}[\s.-])\d{3,4}[\s.-]?\d{3,4}(?:\s?(?:x|ext\.?)\s?\d{1,5})?(?![\w])",
            0.3,
        ),
        # Any grouped digits ("0494 92 82 32", "(72) 754-186", "03.93.92.16.85"): far too weak alone,
        # reported only with "phone" / "call me" just before it, or under a phone field name.
        Pattern(
            "grouped digits (very weak)",
            r"(?<![\w+.-])(?<!\d\s)(?:\(\d{1,4}\)\s?)?\d{2,4}(?:[\s.-]\d{2,4}){1,4}(?![\w]|[.-]\d)",
            0.2,
        ),
    ]
    CONTEXT = [
        "phone",
        "mobile",
        "call",
        "tel",
        "telephone",
        "cell",
        "contact",
        "fax",
        "whatsapp",
        "sms",
        "desk",
        "answering",
        "reach me",
        "text me",
        # Where numbers are texted or dialled: "stop receiving messages to 079 0442 1744".
        "message to",
        "messages to",
        "texts to",
        "dial",
        "landline",
        "voicemail",
        "my number",
        "手机",
        "电话",
    ]

    def __init__(self) -> None:
        super().__init__(
            supported_entity="PHONE_NUMBER",
            patterns=self.PATTERNS,
            context=self.CONTEXT,
            name="PhoneNumberRecognizer",
        )

    def validate_result(self, pattern_text: str) -> bool | None:
        return _validate_phone(pattern_text.strip())


_DATE_OR_IP = re.compile(
    r"\d{1,3}(?:\.\d{1,3}){3}|\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}|\d{1,2}:\d{2}(?::\d{2})?"
)
# A date with the hour after it ("2012-01-11 12:16"): the digit groups cut out of a timestamp.
_DATE_START = re.compile(r"(?:\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{4})(?!\d)")
_NANP = re.compile(r"(?:\(\d{3}\)\s?|\d{3}[\s.-])\d{3}[\s.-]\d{4}")


@lru_cache(maxsize=4096)
def _validate_phone(text: str) -> bool | None:
    """libphonenumber verdict (~40 µs a parse), cached: the same numbers recur in a capture.

    True (certain) only for a valid +CC number; None keeps a national pattern's weak score for
    context to decide; False drops dates, dotted quads, wrong lengths and invalid NANP numbers.
    """
    digits = sum(ch.isdigit() for ch in text)
    if digits < 7 or digits > 15 or _DATE_OR_IP.fullmatch(text) or _DATE_START.match(text):
        return False
    if text.startswith("+") or text.startswith("00"):
        try:
            number = phonenumbers.parse("+" + text.lstrip("+0") if text.startswith("00") else text, None)
        except phonenumbers.NumberParseException:
            return False
        return bool(phonenumbers.is_valid_number(number))
    if _NANP.fullmatch(text):
        try:
            return None if phonenumbers.is_valid_number(phonenumbers.parse(text, "US")) else False
        except phonenumbers.NumberParseException:
            return False
    return None


_JWT_HEADER = re.compile(r"eyJ[\w-]{10,}")


class CredentialRecognizer(PatternRecognizer):
    """Secrets recognisable by shape: JWTs, provider API keys, bearer tokens, ``password=...`` pairs."""

    PATTERNS = [
        Pattern("JWT", JWT, 0.6),
        Pattern("provider key", PROVIDER_KEY, 0.9),
        Pattern("bearer / basic", r"(?i)\b(?:bearer|basic|token)\s+[\w\-.~+/]{12,}=*", 0.8),
        # Prose: "password Qr7!dke#39", "her password is !PurpleSky77", "login a@b.com / W!nter2024".
        # The secret must hold a digit or symbol, so "password reset" or "password policy" do not fire.
        Pattern(
            "password in prose",
            r"(?i)\b(?:password|passwd|passcode|pwd)(?:\s+(?:is|was|of|:))?\s+[\"'*]?(?=[^\s\"']*[\d!@#$%^&*])[^\s\"',;]{6,}",
            0.6,
        ),
        Pattern("login / password", r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+\s+/\s+(?=\S*[\d!@#$%^&*])\S{6,}", 0.6),
        Pattern(
            "key=value secret",
            r"(?i)\b(?:password|passwd|pwd|passphrase|secret|client_secret|api[_-]?key|access[_-]?token|auth[_-]?token|refresh[_-]?token)"
            r"\s*[=:]\s*[\"']?[^\s\"'&,;]{4,}",
            0.75,
        ),
    ]
    CONTEXT = ["password", "token", "secret", "key", "authorization", "credential"]

    def __init__(self) -> None:
        super().__init__(
            supported_entity="CREDENTIAL",
            patterns=self.PATTERNS,
            context=self.CONTEXT,
            name="CredentialRecognizer",
        )

    def validate_result(self, pattern_text: str) -> bool | None:
        if pattern_text.startswith("eyJ"):
            return jwt_header_ok(pattern_text)
        return None


_MONTHS = r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)"
_DAY = r"(?:0?[1-9]|[12]\d|3[01])"
_MON = r"(?:0?[1-9]|1[0-2])"
_YEAR = r"(?:19|20)\d{2}"


class DateOfBirthRecognizer(PatternRecognizer):
    """Dates, weak on their own: only a birth-date field name or nearby "born"/"DOB" lifts them.

    This is what keeps ``created_at`` and ``expires`` dates out while ``dob`` / ``birthDate`` and
    "born on 3 March 1985" are reported.
    """

    PATTERNS = [
        Pattern("ISO date", rf"\b{_YEAR}[-/.]{_MON}[-/.]{_DAY}(?:T[\d:.]+Z?)?\b", 0.2),
        Pattern(
            "D/M/Y or M/D/Y", rf"\b{_DAY}[-/.]{_MON}[-/.]{_YEAR}\b|\b{_MON}[-/.]{_DAY}[-/.]{_YEAR}\b", 0.2
        ),
        Pattern("compact", rf"\b{_YEAR}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\b", 0.1),
        Pattern(
            "month name",
            rf"\b(?:{_DAY}(?:st|nd|rd|th)?\s+{_MONTHS},?\s+{_YEAR}|{_MONTHS}\s+{_DAY}(?:st|nd|rd|th)?,?\s+{_YEAR})\b",
            0.2,
        ),
        Pattern("CJK", rf"{_YEAR}年{_MON}月{_DAY}日", 0.2),
    ]
    CONTEXT = ["birth", "born", "dob", "birthday", "生日", "出生"]

    def __init__(self) -> None:
        super().__init__(
            supported_entity="DATE_OF_BIRTH",
            patterns=self.PATTERNS,
            context=self.CONTEXT,
            name="DateOfBirthRecognizer",
        )

    def validate_result(self, pattern_text: str) -> bool | None:
        years = re.findall(r"(?:19|20)\d{2}", pattern_text)
        if years and not 1900 <= int(years[0]) <= date.today().year:
            return False
        return None


_STREET_TYPES = (
    r"(?:Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Way|Court|Ct|Place|Pl|Terrace|Square|Sq|"
    r"Parkway|Pkwy|Highway|Hwy|Circle|Cir|Trail|Close|Crescent|Row|Gardens|Strasse|Straße|Str|Allee|Weg)"
)


class StreetAddressRecognizer(PatternRecognizer):
    """Postal addresses in free text: "221B Baker Street", "1600 Amphitheatre Pkwy", CN addresses."""

    PATTERNS = [
        Pattern(
            "number + street",
            rf"\b\d{{1,6}}[A-Z]?,?\s+(?:[A-Z][\w'.-]*\s+){{1,4}}{_STREET_TYPES}\b\.?(?:,?\s+(?:Apt|Suite|Unit)\.?\s*\w+)?",
            0.6,
        ),
        # Continental style, the street type glued to the name: "Hauptstraße 5", "Koskikatu 25".
        Pattern(
            "street + number",
            r"\b[A-Z][a-zäöüßéè]+(?:straße|strasse|str\.|weg|gasse|allee|platz|katu|gatan|vej|laan|straat|via)\s+\d{1,5}[a-z]?\b",
            0.5,
        ),
        Pattern(
            "CN address",
            r"[\u4e00-\u9fff]{2,}(?:省|市|自治区)[\u4e00-\u9fff]{1,12}(?:市|区|县)[\u4e00-\u9fff\d]{1,20}(?:路|街|道|号)",
            0.6,
        ),
        Pattern("PO box", r"\bP\.?\s?O\.?\s+Box\s+\d{1,6}\b", 0.6),
        # US military mail (USPS): "Unit 5146 Box 1772 / DPO AE 91410", "PSC 7589, Box 0572 / APO AA".
        Pattern(
            "military mail",
            r"\b(?:(?:Unit|PSC|CMR)\s+\d{1,5},?\s+Box\s+\d{1,5}\s+|USNS\s+\p{Lu}[\p{L}'-]+\s+)?[ADF]PO\s+A[AEP]\s+\d{5}\b",
            0.6,
        ),
        # A street, a house number, then the flat: "Via Roma 131 Apt. 12", "Koepenicker Str. 74 Suite 980".
        Pattern(
            "street + number + flat",
            r"\b(?:\p{Lu}[\p{L}'’.-]*\s+){1,4}\d{1,5}[a-z]?\.?,?\s+(?:Apt\.?|Suite|Flat)\s+\d{1,5}\b",
            0.6,
        ),
        # The rest of a line a form labels "Address:" ("Address:     03555 Vicolo Calcirelli 13"): a
        # house number and a word; network addresses are refused by ``validate_result``.
        Pattern(
            "labelled address",
            r"(?<=(?:^|\n)[ \t]*(?:[Hh]ome\s+|[Pp]ostal\s+|[Mm]ailing\s+)?[Aa]ddress\s{0,2}:[ \t]{0,8})(?=[^\n]*\d)(?=[^\n]*\p{L}{3})[^\s@][^\n@]{5,80}",
            0.6,
        ),
    ]
    CONTEXT = ["address", "street", "live", "lives", "ship", "deliver", "地址"]

    def __init__(self) -> None:
        super().__init__(
            supported_entity="LOCATION",
            patterns=self.PATTERNS,
            context=self.CONTEXT,
            name="StreetAddressRecognizer",
            global_regex_flags=_CASE_SENSITIVE,
        )

    def validate_result(self, pattern_text: str) -> bool | None:
        # A labelled "address" may be a network one: "Address: 10.0.0.7:8080", "fe80::1", a URL;
        # "Release 4 Suite 2", "Level 3 Flat 1" number things, not houses.
        if _NETWORK_TEXT.search(pattern_text) or _NUMBERED_THING.search(pattern_text):
            return False
        return None


# Words that number a thing rather than a house: "Release 4", "Chapter 3", "Test 2".
_NUMBERED_THING = re.compile(
    r"(?i)\b(?:release|version|build|test|tests|chapter|section|part|page|level|step|phase|round|season|episode"
    r"|volume|vol|item|figure|table|sprint|stage|run|case|lesson|module|unit\s+test)\.?\s+\d"
)
_NETWORK_TEXT = re.compile(r"://|\d{1,3}\.\d{1,3}\.\d{1,3}|[0-9A-Fa-f]{1,4}::?[0-9A-Fa-f]{1,4}:|\b[0-9a-f]{12,}\b")


class PersonTextRecognizer(PatternRecognizer):
    """Names in free text without an NER model: only where the text itself introduces a name
    ("my name is Wei Zhang", "Name: ...", "Mrs. Ivanova", "I'm Sofia Rossi"). The lookbehinds keep
    the introducing words out of the match, so the masked sample is the name's initials only."""

    _NAME = r"\p{Lu}[\p{L}'’-]+(?:\s+\p{Lu}[\p{L}'’.-]*){0,3}"
    PATTERNS = [
        # "my/his/her/full name is", or a "Name:" label; not "the product name is Widget Pro".
        Pattern(
            "introduced name",
            rf"(?<=(?:\b(?:[Mm]y|[Hh]is|[Hh]er|[Tt]heir|[Ff]ull|[Ll]egal)\s+name\s+is|\b[Nn]ame\s*:)\s{{0,8}}){_NAME}",
            0.6,
        ),
        # Not "Dr": it is also the street type in "12 Oak Dr. Springfield".
        Pattern("title + name", rf"(?<=\b(?:Mr|Mrs|Ms|Miss|Mx|Prof)\.?\s){_NAME}", 0.6),
    ]
    CONTEXT: list[str] = []

    def __init__(self) -> None:
        super().__init__(
            supported_entity="PERSON",
            patterns=self.PATTERNS,
            context=self.CONTEXT,
            name="PersonTextRecognizer",
            global_regex_flags=_CASE_SENSITIVE,
        )


class FullNameRecognizer(EntityRecognizer):
    """Full names in free text without an NER model: a given name and a surname from the name
    lists ("... reported by Chris Sanders"), see ``names.find_full_names``. Pairs of words overlap
    ("Thanks Chris Sanders"), which a regex pattern's non-overlapping matches would miss, hence a
    recognizer of its own rather than a PatternRecognizer."""

    SCORE = 0.6

    def __init__(self) -> None:
        super().__init__(supported_entities=["PERSON"], name="FullNameRecognizer", supported_language="en")

    def load(self) -> None:  # the name lists load on first use (names.name_lists)
        return None

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        if "PERSON" not in entities:
            return []
        return [
            RecognizerResult(entity_type="PERSON", start=start, end=end, score=self.SCORE)
            for start, end in find_full_names(text)
        ]


class IntroducedNameRecognizer(EntityRecognizer):
    """Names that words of the text introduce ("this is Walentyna Pawłowska from accounting",
    "Dear Chris", "reviewed by Chris Sanders", "Dr. Okafor"), see ``names.find_introduced_names``:
    the introducing words are the context that lets a name off the lists count; the span is the
    name alone."""

    SCORE = 0.6

    def __init__(self) -> None:
        super().__init__(supported_entities=["PERSON"], name="IntroducedNameRecognizer", supported_language="en")

    def load(self) -> None:  # the name lists load on first use (names.name_lists)
        return None

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        if "PERSON" not in entities:
            return []
        return [
            RecognizerResult(entity_type="PERSON", start=start, end=end, score=self.SCORE)
            for start, end in find_introduced_names(text)
        ]


# Recognizers by the name an :class:`~analyzer.pii.entities.EntitySpec` gives them.
RECOGNIZERS: dict[str, Callable[[], EntityRecognizer]] = {
    "OfflineEmailRecognizer": OfflineEmailRecognizer,
    "PhoneNumberRecognizer": PhoneNumberRecognizer,
    "CardRecognizer": CardRecognizer,
    "SsnRecognizer": SsnRecognizer,
    "IbanRecognizer": IbanRecognizer,
    "IpRecognizer": IpRecognizer,
    "CnResidentIdRecognizer": CnResidentIdRecognizer,
    "CredentialRecognizer": CredentialRecognizer,
    "DateOfBirthRecognizer": DateOfBirthRecognizer,
    "StreetAddressRecognizer": StreetAddressRecognizer,
    "PersonTextRecognizer": PersonTextRecognizer,
    "FullNameRecognizer": FullNameRecognizer,
    "IntroducedNameRecognizer": IntroducedNameRecognizer,
}


def build_registry(specs: Iterable[EntitySpec] = SPECS) -> RecognizerRegistry:
    """The registry the detector runs: the recognizers the entity specs name, no NLP-engine ones."""
    registry = RecognizerRegistry(supported_languages=["en"])
    for spec in specs:
        for name in spec.recognizers:
            registry.add_recognizer(RECOGNIZERS[name]())
    return registry
