"""Checksums and issuing rules for PII numbers: pure functions, the standard library only.

The recognizers (presidio), the detector's pre-screens and :func:`analyzer.pii.classify.classify_value`
(which the templater calls without importing presidio) share these, so a value is judged by the
same rule wherever it is seen.
"""

from __future__ import annotations

from datetime import date

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
