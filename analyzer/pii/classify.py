"""``classify_value``: is one bare value (a path segment) PII, and of which type? For the templater.

A segment that is PII must never stay a literal in the stored inventory (issue 14): the templater
asks here, per segment, and parameterises (or masks) the ones that are. Only what a value proves by
its own shape and checksum counts, with the segment before it as the only context, by the same
validators the detector uses:

=================  ===========================================================================
EMAIL_ADDRESS      ``local@domain.tld`` with a domain on the (offline) public suffix list
US_SSN             ``ddd-dd-dddd`` (or spaces) with an issued area, group and serial
CREDIT_CARD        an issuer's range and length, Luhn; bare digits only after a card-ish noun
                   (``/cards/4111...``): a bare card-length number is otherwise an id
CN_RESIDENT_ID     18 characters, GB 11643 check character and a real birth date
IBAN_CODE          the country's IBAN length and mod 97
PHONE_NUMBER       ``+`` and a number libphonenumber calls valid, or an 11-digit CN mobile
IP_ADDRESS         an IPv4 dotted quad or an IPv6 address
CREDENTIAL         a JWT (its header decodes to JSON with ``alg``) or a provider key shape
=================  ===========================================================================

Names of people, addresses and dates of birth need field context and are never returned. An
id-like segment before the value (``/orders/13812345678``, ``/invoices/4111...``) vetoes the number
types. Standard library, phonenumbers and tldextract only (no presidio): cheap to import.
"""

from __future__ import annotations

import re
from functools import lru_cache

import phonenumbers

from analyzer.pii.fields import NO_CONTEXT, context_for, url_context
from analyzer.pii.validators import (
    JWT,
    PROVIDER_KEY,
    card_number_ok,
    cn_id_valid,
    email_domain_ok,
    iban_valid,
    ip_valid,
    jwt_header_ok,
    ssn_valid,
)

_EMAIL = re.compile(r"[A-Za-z0-9._%+'-]+@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)")
_SSN = re.compile(r"(\d{3})([- ])(\d{2})\2(\d{4})")
_CARD = re.compile(r"\d{12,19}|\d{4}(?:[- ]\d{4}){2,3}(?:[- ]\d{1,3})?|\d{4}[- ]\d{6}[- ]\d{5}")
_CN_ID = re.compile(r"\d{17}[\dXx]")
_IBAN = re.compile(r"[A-Z]{2}\d{2}(?: ?[A-Z0-9]{1,4}){3,8}")
_PHONE = re.compile(r"\+\d[\d ().-]{6,20}\d")
_CN_MOBILE = re.compile(r"(?:\+?86)?1[3-9]\d{9}")
_JWT = re.compile(JWT)
_PROVIDER_KEY = re.compile(PROVIDER_KEY)


@lru_cache(maxsize=4096)
def _phone_valid(text: str, region: str | None) -> bool:
    try:
        return bool(phonenumbers.is_valid_number(phonenumbers.parse(text, region)))
    except phonenumbers.NumberParseException:
        return False


def classify_value(text: str, *, context: str | None = None) -> str | None:
    """The PII type ``text`` certainly is, or None. ``context``: the path segment before it."""
    value = text.strip()
    if len(value) < 6 or len(value) > 512:
        return None
    ctx = url_context(context) if context else NO_CONTEXT
    card_context = "CREDIT_CARD" in ctx.types or "CREDIT_CARD" in context_for("", context or "").types
    if "@" in value:
        match = _EMAIL.fullmatch(value)
        return "EMAIL_ADDRESS" if match and email_domain_ok(match.group(1)) else None
    if value.startswith("eyJ") and _JWT.fullmatch(value) and jwt_header_ok(value):
        return "CREDENTIAL"
    if _PROVIDER_KEY.fullmatch(value):
        return "CREDENTIAL"
    if _IBAN.fullmatch(value) and iban_valid(value):
        return "IBAN_CODE"
    if ctx.negative:
        return None  # "/orders/13812345678": whatever its shape, an id
    ssn = _SSN.fullmatch(value)
    if ssn and ssn_valid(ssn.group(1) + ssn.group(3) + ssn.group(4)):
        return "US_SSN"
    if _CN_ID.fullmatch(value) and cn_id_valid(value):
        return "CN_RESIDENT_ID"
    if _CARD.fullmatch(value):
        digits = value.replace(" ", "").replace("-", "")
        if card_number_ok(digits) and (not value.isdigit() or card_context):
            return "CREDIT_CARD"
    if value[0] == "+" and _PHONE.fullmatch(value) and _phone_valid(value, None):
        return "PHONE_NUMBER"
    if _CN_MOBILE.fullmatch(value) and _phone_valid(value.lstrip("+").removeprefix("86"), "CN"):
        return "PHONE_NUMBER"
    if (":" in value or value.count(".") == 3) and ip_valid(value):
        return "IP_ADDRESS"
    return None
