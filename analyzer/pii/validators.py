"""Checksums and issuing rules for PII numbers: pure functions, the standard library only.

The recognizers (presidio), the detector's pre-screens and :func:`analyzer.pii.classify.classify_value`
(which the templater calls without importing presidio) share these, so a value is judged by the
same rule wherever it is seen.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from datetime import date
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import tldextract


@lru_cache(maxsize=1)
def offline_tld_extract() -> tldextract.TLDExtract:
    """No suffix_list_urls and no cache_dir: tldextract never fetches the Public Suffix List (its
    default does, on first use) and never writes a cache; it uses the snapshot shipped inside the
    wheel. Imported on first use: tldextract pulls in requests (~0.3 s)."""
    import tldextract

    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, fallback_to_snapshot=True)

_CN_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CN_ID_CHECK = "10X98765432"


def luhn_ok(digits: str) -> bool:
    """Luhn check over a digit string (the pre-screen's cheap version of presidio's validator)."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i & 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def cn_id_valid(value: str) -> bool:
    """GB 11643-1999: ISO 7064 MOD 11-2 check character plus a real birth date."""
    value = value.upper()
    if len(value) != 18 or not value[:17].isdigit() or not value[:17].isascii():
        return False
    total = sum(int(d) * w for d, w in zip(value[:17], _CN_ID_WEIGHTS, strict=True))
    if _CN_ID_CHECK[total % 11] != value[17]:
        return False
    try:
        born = date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return False
    return date(1900, 1, 1) <= born <= date.today()


# Issuer identification numbers: (first digits from, to, lengths). Visa, Mastercard (51-55 and the
# 2221-2720 series), Mir, Amex, Diners, JCB, Discover, UnionPay, Maestro (and its UK "0604"), RuPay, Troy. A number of
# card length outside every range ("1234...", "7...", "2024...", "88...") is no card whatever Luhn says.
_IIN_RANGES: tuple[tuple[int, int, tuple[int, ...]], ...] = (
    (4, 4, (13, 16, 19)),
    (51, 55, (16,)),
    (2221, 2720, (16,)),
    (2200, 2204, (16, 17, 18, 19)),
    (34, 34, (15,)),
    (37, 37, (15,)),
    (300, 305, (14, 16, 17, 18, 19)),
    (309, 309, (14, 16, 17, 18, 19)),
    (36, 36, (14, 15, 16, 17, 18, 19)),
    (38, 39, (14, 16, 17, 18, 19)),
    (3500, 3599, (16, 17, 18, 19)),  # JCB 3528-3589, and the 35xx generators (Faker) use
    (1800, 1800, (15,)),  # JCB's legacy 15-digit ranges
    (2131, 2131, (15,)),
    (6011, 6011, (16, 17, 18, 19)),
    (644, 649, (16, 17, 18, 19)),
    (65, 65, (16, 17, 18, 19)),
    (62, 62, (16, 17, 18, 19)),
    (81, 82, (16,)),
    (50, 50, (12, 13, 14, 15, 16, 17, 18, 19)),
    (56, 69, (12, 13, 14, 15, 16, 17, 18, 19)),
    (9792, 9792, (16,)),
)


def _iin_table() -> dict[int, frozenset[int]]:
    """Card length -> the four-digit prefixes issuers use at that length (a set lookup per number)."""
    table: dict[int, set[int]] = {}
    for low, high, lengths in _IIN_RANGES:
        scale = 10 ** (4 - len(str(low)))
        for length in lengths:
            table.setdefault(length, set()).update(range(low * scale, (high + 1) * scale))
    return {length: frozenset(prefixes) for length, prefixes in table.items()}


_IIN_BY_LENGTH = _iin_table()


def card_iin_ok(digits: str) -> bool:
    """The digits start with a card issuer's range and have one of its lengths."""
    if digits[:1] == "0":
        return digits[:4] == "0604" and 12 <= len(digits) <= 19
    prefixes = _IIN_BY_LENGTH.get(len(digits))
    return prefixes is not None and digits[:4].isdigit() and int(digits[:4]) in prefixes


def card_number_ok(digits: str) -> bool:
    """A payment card number: 12-19 ASCII digits, an issuer's range and length, Luhn."""
    return (
        12 <= len(digits) <= 19
        and digits.isascii()
        and digits.isdigit()
        and card_iin_ok(digits)
        and luhn_ok(digits)
    )


@lru_cache(maxsize=4096)
def email_domain_ok(domain: str) -> bool:
    """The suffix-list verdict on an e-mail domain, cached: addresses are mostly unique, their
    domains few, and the pinned snapshot makes the verdict a pure function of the domain."""
    result = offline_tld_extract()(domain)
    return bool(result.suffix) and bool(result.domain)


def ssn_valid(digits: str) -> bool:
    """A US SSN as issued: area not 000, 666 or 900-999, group not 00, serial not 0000, not a
    published sample, not one digit repeated."""
    if len(digits) != 9 or not digits.isascii() or not digits.isdigit():
        return False
    if digits[:3] in ("000", "666") or digits[0] == "9" or digits[3:5] == "00" or digits[5:] == "0000":
        return False
    return digits not in ("123456789", "078051120") and len(set(digits)) > 1


# IBAN lengths per country (ISO 13616 registry), for the countries that issue them.
_IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BR": 29,
    "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28, "EE": 20, "EG": 29,
    "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28,
    "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20,
    "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MD": 24, "ME": 22, "MK": 19,
    "MR": 27, "MT": 31, "MU": 30, "NL": 18, "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29,
    "RO": 24, "RS": 22, "SA": 24, "SC": 31, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "ST": 25, "SV": 28,
    "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}  # fmt: skip
_IBAN_SHAPE = re.compile(r"[A-Z]{2}\d{2}[A-Z0-9]{11,30}")


def iban_valid(value: str) -> bool:
    """An IBAN: its country's length and the ISO 7064 mod-97 check (spaces allowed)."""
    compact = value.replace(" ", "")
    if not _IBAN_SHAPE.fullmatch(compact) or _IBAN_LENGTHS.get(compact[:2]) != len(compact):
        return False
    rearranged = compact[4:] + compact[:4]
    return int("".join(str(int(ch, 36)) for ch in rearranged)) % 97 == 1


def ip_valid(value: str) -> bool:
    """An IPv4 dotted quad or an IPv6 address (``ipaddress``'s parse, no prefix length)."""
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


# Secrets recognisable by shape alone (regex sources, shared with the credential recognizer).
JWT = r"\beyJ[\w-]{10,}\.eyJ[\w-]{10,}\.[\w-]{10,}"
PROVIDER_KEY = (
    r"\b(?:(?:sk|pk|rk)_(?:live|test)_[0-9A-Za-z]{16,}|gh[pousr]_[0-9A-Za-z]{30,}|github_pat_\w{30,}|"
    r"AKIA[0-9A-Z]{16}|xox[abprs]-[\w-]{10,}|AIza[\w-]{35}|glpat-[\w-]{20}|SG\.[\w-]{16,}\.[\w-]{16,})"
)


def jwt_header_ok(token: str) -> bool:
    """A JWT's first segment is base64url JSON with an "alg": proves it is a token, not noise."""
    head = token.split(".", 1)[0]
    try:
        decoded = base64.urlsafe_b64decode(head + "=" * (-len(head) % 4))
    except (binascii.Error, ValueError):
        return False
    return b'"alg"' in decoded
