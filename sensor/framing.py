"""HTTP/1.x message framing rules (RFC 9112 section 6), as pure functions over parsed headers."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class BodyKind(Enum):
    NONE = "none"
    LENGTH = "length"
    CHUNKED = "chunked"
    CLOSE = "close"  # until the connection closes (responses only)
    TUNNEL = "tunnel"  # the connection stops speaking HTTP after this message


@dataclass(frozen=True, slots=True)
class Framing:
    kind: BodyKind
    length: int = 0
    conflicting_length: bool = False
    bad_length: bool = False
    te_and_cl: bool = False  # both Transfer-Encoding and Content-Length: a smuggling tell


def header_values(headers: tuple[tuple[str, str], ...], name: str) -> list[str]:
    lname = name.lower()
    return [v for k, v in headers if k.lower() == lname]


def transfer_codings(headers: tuple[tuple[str, str], ...]) -> list[str]:
    out: list[str] = []
    for value in header_values(headers, "transfer-encoding"):
        out.extend(t.strip().lower() for t in value.split(",") if t.strip())
    return out


def content_length(headers: tuple[tuple[str, str], ...]) -> tuple[int | None, bool, bool]:
    """(length, conflicting, invalid). Repeated identical values ("5, 5") are one length."""
    values: list[str] = []
    for value in header_values(headers, "content-length"):
        values.extend(v.strip() for v in value.split(","))
    if not values:
        return None, False, False
    lengths: list[int] = []
    invalid = False
    for v in values:
        if v.isdigit() and len(v) <= 18:
            lengths.append(int(v))
        else:
            invalid = True
    if not lengths:
        return None, False, True
    distinct = set(lengths)
    # On conflict take the first value: it is what most servers act on, and the tag records it.
    return lengths[0], len(distinct) > 1, invalid


def _length_framing(headers: tuple[tuple[str, str], ...], is_response: bool) -> Framing:
    codings = transfer_codings(headers)
    length, conflicting, invalid = content_length(headers)
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


def request_framing(method: str, headers: tuple[tuple[str, str], ...]) -> Framing:
    return _length_framing(headers, is_response=False)


def response_framing(request_method: str | None, status: int | None,
                     headers: tuple[tuple[str, str], ...]) -> Framing:
    if status is not None and 100 <= status < 200:
        if status == 101:
            return Framing(BodyKind.TUNNEL)
        return Framing(BodyKind.NONE)
    if request_method == "HEAD" or status in (204, 304):
        return Framing(BodyKind.NONE)
    if request_method == "CONNECT" and status is not None and 200 <= status < 300:
        return Framing(BodyKind.TUNNEL)
    return _length_framing(headers, is_response=True)


def is_interim(status: int | None) -> bool:
    """1xx other than 101 precede the final response and answer nothing on their own."""
    return status is not None and 100 <= status < 200 and status != 101
