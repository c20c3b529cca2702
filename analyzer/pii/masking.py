"""Masked samples: enough shape for a human to recognise the kind of data, never the value.

Every masker reveals only a small, bounded part of the value (a first letter, a country code, the
last four digits of a card as PCI DSS allows). ``mask`` ends with a guard that falls back to pure
filler if, for a degenerate input (one character, or made of filler characters), the masked form
would still contain the raw value.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from phonenumbers import COUNTRY_CODE_TO_REGION_CODE

_DIGIT = re.compile(r"\d")
_ALNUM = re.compile(r"[^\W_]")


def _filler(value: str) -> str:
    # A run of one character contains ``value`` only if value is a run of that same character.
    return "###" if "*" in value else "***"


def mask_email(value: str) -> str:
    local, _, domain = value.rpartition("@")
    if not local:
        return _mask_default(value)
    labels = domain.split(".")
    tld = labels[-1] if len(labels) > 1 else ""
    first_label = labels[0]
    domain_mask = f"{first_label[:1]}***" + (f".{tld}" if tld else "")
    return f"{local[:1]}***@{domain_mask}"


def _keep_tail_digits(value: str, keep: int) -> str:
    """Replace every digit but the last ``keep`` by '*', preserving separators."""
    total = sum(ch.isdigit() for ch in value)
    # Never reveal more than a third of the digits, whatever ``keep`` says.
    keep = min(keep, total // 3)
    seen = 0
    out = []
    for ch in value:
        if ch.isdigit():
            seen += 1
            out.append(ch if seen > total - keep else "*")
        else:
            out.append(ch)
    return "".join(out)


def mask_phone(value: str) -> str:
    digits = "".join(ch for ch in value if ch.isdigit())
    compact = value.strip()
    # Chinese mobile (optionally +86): keep the carrier prefix and last four, the common
    # display convention ("+86 138****5678").
    cn = re.fullmatch(r"(?:86)?(1[3-9]\d)(\d{4})(\d{4})", digits)
    # CN format only for +86 numbers or bare 11-digit ones: "+1 (415) 555-2671" is 11 digits too.
    if cn and (compact.startswith(("+86", "86")) if len(digits) == 13 else not compact.startswith("+")):
        prefix = "+86 " if len(digits) == 13 else ""
        return f"{prefix}{cn.group(1)}****{cn.group(3)}"
    if compact.startswith("+"):
        # Country code stays visible (useful for data-residency questions); national part hidden.
        cc = next((digits[:n] for n in (1, 2, 3) if int(digits[:n] or 0) in COUNTRY_CODE_TO_REGION_CODE), "")
        tail = min(4, len(digits) // 4)
        if len(cc) + tail > len(digits) - 4:  # short or odd number: show the country code at most
            tail = 0
        if not cc or len(cc) > len(digits) - 4:
            return "+***"
        return f"+{cc} ****" + (digits[-tail:] if tail else "")
    return _keep_tail_digits(value, 4)


def mask_card(value: str) -> str:
    digits = "".join(ch for ch in value if ch.isdigit())
    return "****-****-****-" + digits[-4:] if len(digits) >= 12 else "****"


def mask_ssn(value: str) -> str:
    digits = "".join(ch for ch in value if ch.isdigit())
    return "***-**-" + digits[-4:] if len(digits) == 9 else "***-**-****"


def mask_iban(value: str) -> str:
    compact = value.replace(" ", "").upper()
    if len(compact) < 12:
        return "****"
    return compact[:2] + "*" * (len(compact) - 6) + compact[-4:]


def mask_cn_id(value: str) -> str:
    compact = value.strip()
    if len(compact) != 18:
        return "*" * 18
    # Region prefix and the last two (incl. checksum) only: the embedded birth date stays hidden.
    return compact[:3] + "*" * 13 + compact[-2:]


def _mask_words(value: str) -> str:
    """First letter of each word, rest starred: "Wei Zhang" -> "W** Z****"; digits always hidden."""
    out = []
    for word in value.split():
        if len(word) == 1:
            out.append("*")
        elif word[0].isdigit():
            out.append("*" * min(len(word), 6))
        else:
            out.append(word[0] + "*" * min(len(word) - 1, 6))
    return " ".join(out[:8]) + (" …" if len(out) > 8 else "")


def mask_person(value: str) -> str:
    stripped = value.strip()
    if stripped and " " not in stripped and not stripped.isascii():
        # CJK names have no spaces: keep the family name character only ("张*").
        return stripped[0] + "*" * min(len(stripped) - 1, 4)
    return _mask_words(stripped)


def mask_location(value: str) -> str:
    return _mask_words(value)


def mask_date(value: str) -> str:
    return _DIGIT.sub("*", value)


def mask_ip(value: str) -> str:
    if ":" in value and "." not in value:
        groups = value.split(":")
        return groups[0] + ":****:…"
    octets = value.split(".")
    if len(octets) == 4:
        return f"{octets[0]}.{octets[1]}.***.***"
    return "***"


def mask_credential(value: str) -> str:
    # Fixed-length output hides the secret's length; a few leading characters of a long token
    # identify its kind ("eyJ" JWT, "sk_" Stripe, "ghp" GitHub) without weakening it.
    if len(value) >= 16:
        return value[:3] + "********"
    return "********"


def _mask_default(value: str) -> str:
    if len(value) < 6:
        return "***"
    return value[:1] + "***"


def _masker(pii_type: str) -> Callable[[str], str]:
    # The registry names each entity's masker; imported here, not at the top: it imports this module.
    from analyzer.pii.entities import SPEC_BY_TYPE

    spec = SPEC_BY_TYPE.get(pii_type)
    return spec.masker if spec is not None else _mask_default


def mask(pii_type: str, value: str) -> str:
    """Masked sample of ``value`` detected as ``pii_type``; never contains ``value`` itself."""
    if not value:
        return ""
    masker = _masker(pii_type)
    try:
        out = masker(value)
    except (IndexError, ValueError):
        out = _filler(value)
    if value in out:
        out = _filler(value)
    return out
