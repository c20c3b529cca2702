"""Parameters inside a segment: the segment's *pattern* (its literal text, "{}" per value slot).

Recognised shapes, each a family seen in real APIs:

* OData keys and function calls: ``People('russellwhyte')`` -> ``People('{}')``,
  ``Products(42)`` -> ``Products({})``, ``Packages(Id='x',Version='1.0')`` ->
  ``Packages(Id='{}',Version='{}')``, ``GetNearestAirport(lat=1.5,lon=2)`` ->
  ``GetNearestAirport(lat={},lon={})``. The syntax says the values are data (``syntactic``);
  a call without arguments (``GetFavoriteAirline()``) is a plain literal. Two functions never share
  a pattern, so they never merge into one parameter.
* Ranges: ``main...feature-x`` -> ``{}...{}``, ``2024-01-01..2024-01-31`` -> ``{}..{}``.
* A representation suffix after a value: ``8812.json`` -> ``{}.json`` (``Calls/{sid}.json``;
  a typed value is a parameter at once, a word one on the same evidence as whole-segment words).
* An extension after a fixed name: ``thumbnail.png`` -> ``thumbnail.{}`` (a parameter only when
  several extensions were seen for the same name: one file is a literal).
* Any word after a fixed name: ``stream.mkv-hevc`` -> ``stream.{}`` (``dotted``: a parameter only
  on the long-tail evidence whole-segment words need; RPC names like ``users.list`` stay).

A raw "{" cannot appear in a concrete segment (RFC 3986) and split_path escapes the reserved raw
keys, so a pattern never collides with a concrete value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from analyzer.templating.values import FILE_EXTENSION, STRONG_TYPES, classify

SLOT = "{}"
_CALL = re.compile(r"(?P<name>[A-Za-z_][A-Za-z0-9_.]*)\((?P<args>.*)\)")
_QUOTED = re.compile(r"'(?:[^']|'')*'")
_ARG_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_REPRESENTATION = re.compile(
    r"(?P<core>.+)\.(?P<ext>json|xml|csv|html?|txt|ya?ml|jsonp|rss|atom)", re.IGNORECASE
)
_EXTENSION = re.compile(r"(?P<base>[A-Za-z][A-Za-z0-9_\-]*)\.(?P<ext>[A-Za-z0-9]{1,7})")
_DOTTED_WORD = re.compile(r"(?P<base>[A-Za-z][A-Za-z0-9_\-]*)\.(?P<ext>[A-Za-z][A-Za-z0-9_\-]*)")
_MASKED_SUFFIX = re.compile(r"(?P<core>\{[a-z]+:[0-9a-f]+\})\.(?P<ext>[A-Za-z0-9]{1,5})")
_VERSIONISH = re.compile(r"[vV]?\d+")
# Compaction keys of shaped values: "{*" + pattern + "}" (see paths.STAR).
SHAPED_STAR_PREFIX = "{*"


@dataclass(frozen=True, slots=True)
class Shape:
    pattern: str  # the segment with "{}" for each value slot
    values: tuple[str, ...]  # the concrete value of each slot
    syntactic: bool  # the syntax alone proves the values are data (OData keys, ranges)
    kind: str  # "call", "range", "suffix", "extension" or "dotted"


@lru_cache(maxsize=131_072)
def segment_shape(seg: str) -> Shape | None:
    """The in-segment shape of a concrete segment, or None for a plain segment."""
    if len(seg) < 3:
        return None
    if "{" in seg:
        # Only a masked value with its extension ("{token:3f9a...}.json", see privacy).
        m = _MASKED_SUFFIX.fullmatch(seg)
        return Shape(SLOT + "." + m.group("ext"), (m.group("core"),), False, "suffix") if m else None
    if seg[-1] == ")":
        return _call(seg)
    if ".." in seg:
        shape = _range(seg)
        if shape is not None:
            return shape
    if "." not in seg:
        return None
    m = _REPRESENTATION.fullmatch(seg)
    if m is not None:
        # Typed cores are parameters at once; word cores ("dave81.json") on evidence (fold).
        return Shape(SLOT + "." + m.group("ext"), (m.group("core"),), False, "suffix")
    m = _EXTENSION.fullmatch(seg)
    if m is not None and FILE_EXTENSION.fullmatch(m.group("ext")):
        return Shape(m.group("base") + "." + SLOT, (m.group("ext"),), False, "extension")
    m = _DOTTED_WORD.fullmatch(seg)
    if m is not None and not _VERSIONISH.fullmatch(m.group("base")):
        # "stream.mkv-hevc", "users.list": a fixed name and a word after its dot. A parameter
        # only on the evidence that makes whole-segment words parameters (fold): containers
        # churn, RPC method names ("chat.postMessage") saturate and are shaped like methods.
        return Shape(m.group("base") + "." + SLOT, (m.group("ext"),), False, "dotted")
    return None


def _call(seg: str) -> Shape | None:
    m = _CALL.fullmatch(seg)
    if m is None:
        return None
    name, args = m.group("name"), m.group("args")
    if name[-1] in "_-" or not args:
        # "Mercury_(planet)" is a title; "GetFavoriteAirline()" a function without arguments,
        # a plain route.
        return None
    parts = _split_args(args)
    if parts is None:
        return None
    pieces: list[str] = []
    values: list[str] = []
    for part in parts:
        key, eq, value = part.partition("=")
        if eq and _ARG_NAME.fullmatch(key.strip()):
            prefix = key.strip() + "="
        else:
            prefix, value = "", part
        value = value.strip()
        if not value:
            return None
        if len(value) >= 2 and value[0] == value[-1] == "'":
            pieces.append(prefix + "'" + SLOT + "'")
            values.append(value[1:-1])
        else:
            pieces.append(prefix + SLOT)
            values.append(value)
    return Shape(f"{name}({','.join(pieces)})", tuple(values), True, "call")


def _split_args(args: str) -> list[str] | None:
    """Arguments split on commas outside quotes; None when the quotes do not balance."""
    parts: list[str] = []
    start = 0
    quoted = False
    for i, c in enumerate(args):
        if c == "'":
            quoted = not quoted
        elif c == "," and not quoted:
            parts.append(args[start:i])
            start = i + 1
    if quoted:
        return None
    parts.append(args[start:])
    return parts


def _range(seg: str) -> Shape | None:
    sep = "..." if "..." in seg else ".."
    left, _, right = seg.partition(sep)
    if not left or not right or right.startswith(".") or left.endswith("."):
        return None
    if not (_rangeable(left) and _rangeable(right)):
        return None
    return Shape(SLOT + sep + SLOT, (left, right), True, "range")


def _rangeable(side: str) -> bool:
    return any(c.isalnum() for c in side) and "/" not in side


def slot_count(pattern: str) -> int:
    return pattern.count(SLOT)


def fill(pattern: str, names: list[str]) -> str:
    """The pattern with each slot replaced by "{name}"."""
    out = pattern
    for name in names:
        out = out.replace(SLOT, "{" + name + "}", 1)
    return out


def slot_names(pattern: str) -> list[str]:
    """Argument names of a call pattern's slots ("lat" in "f(lat={})"), "" where unnamed."""
    names: list[str] = []
    rest = pattern
    while SLOT in rest:
        before, _, rest = rest.partition(SLOT)
        m = re.search(r"([A-Za-z_][A-Za-z0-9_]*)='?$", before)
        names.append(m.group(1) if m else "")
    return names


def typed_core(shape: Shape) -> bool:
    """Every slot of the shape holds a strongly typed value (or the syntax says it is data)."""
    return shape.syntactic or all(classify(v) in STRONG_TYPES for v in shape.values)
