"""HTTP/1.x message framing rules (RFC 9112 section 6), as pure functions over parsed headers."""

from __future__ import annotations

from enum import Enum
from typing import NamedTuple


class BodyKind(Enum):
    NONE = "none"
    LENGTH = "length"
    CHUNKED = "chunked"
    CLOSE = "close"  # until the connection closes (responses only)
    TUNNEL = "tunnel"  # the connection stops speaking HTTP after this message


class Framing(NamedTuple):
    # A named tuple rather than a frozen dataclass: built for every message, and tuple
    # construction is several times cheaper.
    kind: BodyKind
    length: int = 0
    conflicting_length: bool = False
    bad_length: bool = False
    te_and_cl: bool = False  # both Transfer-Encoding and Content-Length: a smuggling tell


# Header fields that decide framing and routing, indexed once per message by the parser.
FRAMING_FIELDS = frozenset(("content-length", "transfer-encoding", "content-encoding", "host"))
HeaderIndex = dict[str, list[str]]


def ascii_decimal(text: str, max_digits: int = 18) -> int:
    """``text`` as a decimal number of 1..``max_digits`` ASCII digits, else -1.

    ``str.isdigit`` alone is not enough: it accepts the superscripts ``²³¹`` (bytes 0xB2, 0xB3,
    0xB9 decoded as latin-1) and other Unicode digits, which ``int`` then refuses or reads as
    numbers no HTTP peer meant; ``int`` alone accepts signs, spaces and underscores.
    """
    if 0 < len(text) <= max_digits and text.isdigit() and text.isascii():
        return int(text)
    return -1


def transfer_codings(index: HeaderIndex) -> list[str]:
    out: list[str] = []
    for value in index.get("transfer-encoding", ()):
        out.extend(t.strip().lower() for t in value.split(",") if t.strip())
    return out


def content_length(index: HeaderIndex) -> tuple[int | None, bool, bool]:
    """(length, conflicting, invalid). Repeated identical values ("5, 5") are one length."""
    raw = index.get("content-length")
    if not raw:
        return None, False, False
    if len(raw) == 1:
        single = ascii_decimal(raw[0])
        if single >= 0:
            return single, False, False  # the common case
    values: list[str] = []
    for value in raw:
        values.extend(v.strip(" \t") for v in value.split(","))
    lengths: list[int] = []
    invalid = False
    for v in values:
        number = ascii_decimal(v)
        if number >= 0:
            lengths.append(number)
        else:
            invalid = True
    if not lengths:
        return None, False, True
    # On conflict take the first value: it is what most servers act on, and the tag records it.
    return lengths[0], len(set(lengths)) > 1, invalid


def _length_framing(index: HeaderIndex, is_response: bool) -> Framing:
    codings = transfer_codings(index) if "transfer-encoding" in index else ()
    length, conflicting, invalid = content_length(index)
    if codings:
        te_and_cl = length is not None or invalid
        # Evasions put "chunked" among other codings or twice; act on it wherever it appears,
        # as the receiving servers that matter do.
        if "chunked" in codings:
            return Framing(BodyKind.CHUNKED, te_and_cl=te_and_cl)
        if is_response:
            return Framing(BodyKind.CLOSE, te_and_cl=te_and_cl)
        return Framing(BodyKind.NONE, bad_length=True, te_and_cl=te_and_cl)
    if length is not None:
        kind = BodyKind.LENGTH if length > 0 else BodyKind.NONE
        return Framing(kind, length, conflicting_length=conflicting, bad_length=invalid)
    if invalid:
        return Framing(BodyKind.CLOSE if is_response else BodyKind.NONE, bad_length=True)
    return Framing(BodyKind.CLOSE if is_response else BodyKind.NONE)


def request_framing(method: str, index: HeaderIndex) -> Framing:
    return _length_framing(index, is_response=False)


def response_framing(request_method: str | None, status: int | None, index: HeaderIndex) -> Framing:
    if status is not None and 100 <= status < 200:
        if status == 101:
            return Framing(BodyKind.TUNNEL)
        return Framing(BodyKind.NONE)
    if request_method == "HEAD" or status in (204, 304):
        return Framing(BodyKind.NONE)
    if request_method == "CONNECT" and status is not None and 200 <= status < 300:
        return Framing(BodyKind.TUNNEL)
    return _length_framing(index, is_response=True)
