"""Files in one folder end one way: every file name at a position is a parameter value, or none is.

A folder of static files ("/img/logo.png", "/img/to-top.gif", "/img/1003.gif") holds names of
every shape: short words ("new.png", "blank.gif", even reserved words), long separated names
("feed-icon-14x14.png") and numbers ("1003.gif"). Judging each name by its own shape splits the
folder by name length: a handful of generated-looking names become ``/img/{imageFile}`` and their
siblings stay literals beside it, which no person would write. So the decision is taken once per
position, over the folder's evidence:

* one generated-looking file name (a typed value: digits, a long separated name, an id with an
  extension) among two file names or more proves the folder holds data, and every sibling file
  joins the parameter (right under an API root or the root, where well-known files sit,
  ``/favicon.ico`` beside ``/apple-touch-icon-120x120.png``, it takes three typed ones);
* a file parameter proven by an earlier fold (its values compacted) takes every file likewise;
* otherwise each name is judged as before (a lone file is a literal, word files need evidence).

Representations ("index.html", "orders.json") are not files here: they are routes in a format.
"""

from __future__ import annotations

from functools import lru_cache

from analyzer.templating.paths import STAR, WSTAR
from analyzer.templating.privacy import PII_TYPES
from analyzer.templating.rules import Position, Values
from analyzer.templating.values import REPRESENTATION_EXTS, STRONG_TYPES, classify, has_file_extension

FILE_KIND = "file"


@lru_cache(maxsize=131_072)
def is_file_name(seg: str) -> bool:
    """A name with a file extension that is not a representation of a route ("logo.png", not
    "orders.json"), and not a masked personal value."""
    if seg in (STAR, WSTAR) or not has_file_extension(seg):
        return False
    if seg.rpartition(".")[2].lower() in REPRESENTATION_EXTS:
        return False
    return classify(seg) not in PII_TYPES


def value_kind(seg: str) -> str:
    """A value's type as a parameter group counts it: a file name is a file whatever its base
    ("1003.gif" beside "blank.gif"), so a folder's parameter is typed and named as files."""
    return FILE_KIND if is_file_name(seg) else classify(seg)


def settle_files(
    strong: list[str], words: list[str], literals: list[str], vals: Values, at: Position
) -> tuple[list[str], list[str], list[str]]:
    """(strong, words, literals) with the position's file names moved all one way (see module)."""
    files = [seg for seg in (*strong, *words, *literals) if "." in seg and is_file_name(seg)]
    if not files:
        return strong, words, literals
    typed = [seg for seg in files if classify(seg) in STRONG_TYPES]
    proven = STAR in vals and any(r.kinds.get(FILE_KIND) for r in vals[STAR])
    need = 3 if at.api_root else 1
    if not proven and (len(typed) < need or len(files) < 2):
        return strong, words, literals
    chosen = set(files)
    return (
        strong + [seg for seg in files if seg not in set(strong)],
        [seg for seg in words if seg not in chosen],
        [seg for seg in literals if seg not in chosen],
    )


def file_siblings(params: list[str], literals: list[str]) -> list[str]:
    """The file names left literal beside word values proven a parameter, when those values are
    file names themselves ("new.png", a reserved word, beside "/images/{imageFile}")."""
    if not any(is_file_name(seg) for seg in params):
        return []
    return [seg for seg in literals if is_file_name(seg)]
