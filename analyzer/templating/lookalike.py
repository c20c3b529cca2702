"""Random ids the classifier cannot tell from words, told by their look-alikes beside them.

A short random id ("AOIwaxfMSk", ten letters, mixed case, no digit) is as likely to read as a
word as to read as entropy; one value alone says little. Beside typed ids of the same length and
alphabet at the same position ("MguoBsBbB3", "ihikB17HZG", "f65NjsHsma" are tokens) it is one
more of them: a service that saw each id once or twice must still fold them all (one literal
left beside ``{id}`` would be a template nobody writes, and would merge on a later fold).

The evidence is the position's ids' lengths and character classes; once ids are compacted
(``fold.compact``) their parameter's kinds keep them as ``#<length>:<classes>`` counts.
"""

from __future__ import annotations

import re
from functools import lru_cache

from analyzer.templating.folders import value_kind
from analyzer.templating.paths import STAR
from analyzer.templating.rules import Values
from analyzer.templating.values import ID_TYPES, classify

_MASKED_TOKEN = "{token:"
# Words joined in camelCase, each part capitalised ("getUserById", "XmlHttpRequest").
_CAMEL = re.compile(r"[a-z]*(?:[A-Z][a-z0-9]{2,}|[A-Z][a-z]|[A-Z]{2,4}(?![a-z]))+")
SHAPE_PREFIX = "#"  # kinds keys that record id shapes, not value types
WORD_KIND = "word"
LOOKALIKE_TYPE = "token"  # what a look-alike counts as in its parameter's type
ABSORBED = SHAPE_PREFIX + "words"  # kinds key: look-alike words compacted into the ids
_VOUCHER = SHAPE_PREFIX + "v"  # kinds key prefix: look-alikes of entropy compacted, by length


def _classes(seg: str) -> str:
    return (
        ("a" if any(c.islower() for c in seg) else "")
        + ("A" if any(c.isupper() for c in seg) else "")
        + ("0" if any(c.isdigit() for c in seg) else "")
    )


@lru_cache(maxsize=131_072)
def id_shape(seg: str) -> str | None:
    """ "#10:aA0" for a typed id of ten letters and digits in both cases; None for anything else."""
    if not (seg.isascii() and seg.isalnum()) or classify(seg) not in ID_TYPES:
        return None
    return f"{SHAPE_PREFIX}{len(seg)}:{_classes(seg)}"


def note_value(kinds: dict[str, int], seg: str, ids: bool) -> None:
    """Count a compacted value in its parameter's kinds: its type and, for ids, its shape. A word
    compacted with ids (``ids``: into STAR, not a word parameter's WSTAR) is a look-alike: an id,
    and the parameter keeps absorbing words."""
    typ = value_kind(seg)
    if ids and typ == WORD_KIND:
        typ = LOOKALIKE_TYPE
        kinds[ABSORBED] = kinds.get(ABSORBED, 0) + 1
        if not _CAMEL.fullmatch(seg):
            voucher = f"{_VOUCHER}{len(seg)}"
            kinds[voucher] = kinds.get(voucher, 0) + 1
    kinds[typ] = kinds.get(typ, 0) + 1
    shape = id_shape(seg) if ids else None
    if shape is not None:
        kinds[shape] = kinds.get(shape, 0) + 1


def id_lookalikes(strong: list[str], words: list[str], vals: Values) -> list[str]:
    """Mixed-case alphanumeric words with the length and alphabet of two ids or more beside them."""
    if not strong or not words:
        return []
    shapes: dict[int, dict[str, int]] = {}
    for seg in strong:
        if seg == STAR:
            for r in vals[STAR]:
                for key, n in r.kinds.items():
                    if key.startswith(SHAPE_PREFIX) and key != ABSORBED and not key.startswith(_VOUCHER):
                        length, _, classes = key[1:].partition(":")
                        _add(shapes, int(length), classes, n)
            continue
        shape = id_shape(seg)
        if shape is not None:
            length, _, classes = shape[1:].partition(":")
            _add(shapes, int(length), classes, 1)
    masked = _masked_tokens(strong, vals)
    if not shapes and masked < 2:
        return []
    mixed = [w for w in words if _mixed(w)]
    # Words that read like entropy, by length (and those compacted into the ids before):
    # camelCase routes ("getUserById") vouch for nobody.
    vouchers = _vouchers(strong, vals)
    for w in mixed:
        if not _CAMEL.fullmatch(w):
            vouchers[len(w)] = vouchers.get(len(w), 0) + 1
    out = []
    for w in mixed:
        cw = set(_classes(w))
        alike = sum(n for classes, n in shapes.get(len(w), {}).items() if cw <= set(classes))
        # Masked ids keep no length (privacy): beside them a word of entropy is one more, and a
        # camelCase-looking one ("ihikB17HZG") when a word of entropy of its length vouches for
        # it ("AOIwaxfMSk"): routes named in camelCase rarely sit beside such a word.
        # (A route is asked for again and again; an id of a rarely used endpoint once or twice.)
        camel = _CAMEL.fullmatch(w) is not None
        vouched = vouchers.get(len(w), 0) >= 1 and sum(r.tot_ok for r in vals[w]) <= 2
        if alike >= 2 or (masked >= 2 and (not camel or vouched)):
            out.append(w)
    return out


def _mixed(w: str) -> bool:
    """Letters of both cases (and maybe digits), no separator: plain words and lower-case ids are
    the classifier's business."""
    if len(w) < 8 or not (w.isascii() and w.isalnum()):
        return False
    cw = _classes(w)
    return "a" in cw and "A" in cw


def _vouchers(strong: list[str], vals: Values) -> dict[int, int]:
    """Look-alikes of entropy compacted into the ids by earlier folds, by length."""
    out: dict[int, int] = {}
    if STAR in strong:
        for r in vals[STAR]:
            for key, n in r.kinds.items():
                if key.startswith(_VOUCHER):
                    length = int(key[len(_VOUCHER) :])
                    out[length] = out.get(length, 0) + n
    return out


def _masked_tokens(strong: list[str], vals: Values) -> int:
    """Ids masked as secrets beside the words ("{token:3f9a...}", see privacy), or compacted."""
    n = sum(1 for seg in strong if seg.startswith(_MASKED_TOKEN))
    if STAR in strong:
        n += sum(r.kinds.get("token", 0) for r in vals[STAR])
    return n


def absorbs_words(lookalikes: list[str], vals: Values) -> bool:
    """The id parameter holds word-shaped ids (now, or compacted by an earlier fold): the matcher
    must let words into it."""
    return bool(lookalikes) or (STAR in vals and any(r.kinds.get(ABSORBED) for r in vals[STAR]))


def _add(shapes: dict[int, dict[str, int]], length: int, classes: str, n: int) -> None:
    per = shapes.setdefault(length, {})
    per[classes] = per.get(classes, 0) + n
