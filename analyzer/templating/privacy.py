"""PII in paths is evidence, not cargo: such segments are replaced by keyed hashes on arrival.

A segment holding an e-mail address, phone number, US SSN, payment card number (Luhn-valid, 13-19
digits), IBAN (ISO 13616 mod-97 valid), IP address or secret (a JWT, or what ``classify`` calls a
token: API keys, reset tokens, random ids), alone or with a file extension, is stored in the raw trie, the issued samples and the noise statistics as
``{<type>:<keyed hash>}``: distinct values stay distinct (counts and tails still work), the type
stays known (``classify`` answers it, so the segment is always a typed parameter), and nothing
raw reaches the saved state. A raw "{" cannot start a concrete segment of a valid path, so a mask
never collides with a value. The key comes from ``TemplaterSettings.pii_key`` or is drawn per
process: without it nobody can test guesses against the stored hashes.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from functools import lru_cache
from urllib.parse import unquote

from analyzer.templating.values import classify

# "token": a bearer secret (JWT, API key, reset token) or a random identifier: neither is kept whole.
PII_TYPES: frozenset[str] = frozenset({"email", "phone", "ssn", "card", "ip", "iban", "token"})
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")
_IBAN = re.compile(r"[A-Z]{2}\d{2}[A-Z0-9]{11,30}")
_EMAIL_IN = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_SSN_IN = re.compile(r"(?<!\d)(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}(?!\d)")
# Inside a segment, only the common 15/16-digit brands (Amex, Visa, Mastercard, Discover).
_CARD_IN = re.compile(r"(?<!\d)(?:3[47]\d{13}|[456]\d{15})(?!\d)")
_SSN = re.compile(r"(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}")
_CARD = re.compile(r"\d{4}([ -]?\d{4}){2}[ -]?\d{1,7}")


def iban_ok(text: str) -> bool:
    """An IBAN (spaces allowed, any case) whose ISO 7064 mod-97 check holds."""
    s = text.replace(" ", "").upper()
    if not _IBAN.fullmatch(s):
        return False
    moved = s[4:] + s[:4]
    return int("".join(str(int(c, 36)) for c in moved)) % 97 == 1


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, c in enumerate(reversed(digits)):
        d = ord(c) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


@lru_cache(maxsize=65_536)
def pii_type(segment: str) -> str | None:
    """The PII (or secret) type a raw path segment holds, or None."""
    parts = pii_parts(segment)
    return parts[0] if parts is not None else None


_REPRESENTATIONS = frozenset({"json", "xml"})


@lru_cache(maxsize=65_536)
def pii_parts(segment: str) -> tuple[str, str] | None:
    """(type, suffix) when a raw segment holds PII or a secret, else None. The suffix is a file
    extension the value carries ("348-21-6690.pdf" -> ("ssn", ".pdf")): kept beside the mask."""
    if not segment or segment[0] == "{":
        return None
    stem, dot, ext = segment.rpartition(".")
    if dot and stem and ext.lower() in _REPRESENTATIONS and "@" not in segment:
        # A value in a representation first: "cus_R1We...Wb8.json" keeps its ".json", so the
        # endpoint keeps its shape ("/posts/{postId}.json"). (A file name, "Q3-8f3aKd9x.csv",
        # is one value whole, and "jane@example.org" one address.)
        typ = _value_type(stem)
        if typ is not None:
            return typ, "." + ext
    typ = _value_type(segment)
    if typ is not None:
        return typ, ""
    if dot and stem and 1 <= len(ext) <= 5 and ext.isalnum() and not ext.isdigit():
        typ = _value_type(stem)
        if typ is not None:
            return typ, "." + ext
    typ = _embedded_type(unquote(segment) if "%" in segment else segment)
    return (typ, "") if typ is not None else None


def _embedded_type(s: str) -> str | None:
    """PII inside a longer segment ("email=jane@example.org", "by-ssn-536-90-4821",
    "card_4111111111111111"): the whole segment is masked."""
    if len(s) < 11:  # shorter than any SSN, card or e-mail address with something around it
        return None
    if "@" in s and _EMAIL_IN.search(s):
        return "email"
    if _SSN_IN.search(s):
        return "ssn"
    for m in _CARD_IN.finditer(s):
        if luhn_ok(m.group(0)):
            return "card"
    return None


def _value_type(segment: str) -> str | None:
    s = unquote(segment) if "%" in segment else segment
    if not s:
        return None
    if s[:4].lower() in ("tel:", "sip:") and len(s) > 5:
        # A URI of a phone or SIP address ("tel:+14155550123", "sip:+4930123@carrier"): its value.
        inner = s[4:]
        return "email" if "@" in inner else _value_type(inner)
    if "@" in s:
        return "email" if classify(segment) == "email" else None
    first = s[0]
    if first.isalpha():
        if 15 <= len(s) <= 42 and s[1].isalpha() and iban_ok(s):
            return "iban"
        if s.startswith("eyJ") and _JWT.fullmatch(s):
            return "token"
    if first.isdigit() or first == "+" or ":" in s:
        if _SSN.fullmatch(s):
            return "ssn"
        if _CARD.fullmatch(s):
            digits = s.replace(" ", "").replace("-", "")
            if 13 <= len(digits) <= 19 and luhn_ok(digits):
                return "card"
    typ = classify(segment)
    return typ if typ in ("phone", "ip", "token") else None


def key_label(key: str) -> str:
    """A body field or query parameter name as the inventory may keep it: a name that is itself
    personal data or a secret (a map keyed by e-mail address) becomes its type, ``{email}``."""
    if not key or not ("@" in key or key[0].isdigit() or key[0] == "+" or len(key) >= 15):
        return key
    typ = pii_type(key)
    return key if typ is None else "{" + typ + "}"


def masked_type(segment: str) -> str | None:
    """The type of a masked segment ("{email:ab12...}"), or None for any other segment."""
    if len(segment) > 3 and segment[0] == "{" and segment[-1] == "}":
        typ = segment[1:-1].partition(":")[0]
        if typ in PII_TYPES:
            return typ
    return None


class Masker:
    """Keyed hashing of PII segments (one key per templater)."""

    __slots__ = ("_key", "_cache")

    def __init__(self, key: str = "") -> None:
        self._key = key.encode() if key else secrets.token_bytes(16)
        self._cache: dict[str, str] = {}

    def segments(self, segs: list[str]) -> list[str]:
        """The segments with every PII value masked (the same list when there is none)."""
        out: list[str] | None = None
        for i, seg in enumerate(segs):
            parts = pii_parts(seg)
            if parts is None:
                continue
            if out is None:
                out = list(segs)
            out[i] = self.mask(seg, parts[0]) + parts[1]
        return out if out is not None else segs

    def mask(self, seg: str, typ: str) -> str:
        hit = self._cache.get(seg)
        if hit is None:
            digest = hashlib.blake2b(seg.encode(), key=self._key, digest_size=8).hexdigest()
            hit = "{" + typ + ":" + digest + "}"
            if len(self._cache) >= 65_536:
                self._cache.clear()
            self._cache[seg] = hit
        return hit
