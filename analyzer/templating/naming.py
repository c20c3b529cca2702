"""Writing a template: literal segments as they are, parameters named after the resource noun."""

from __future__ import annotations

import re

from analyzer.templating.insegment import SLOT, fill, slot_names
from analyzer.templating.model import PathParam
from analyzer.templating.values import is_version
from analyzer.templating.vocabulary import camel, is_plural_collection, route_base, singular

NAME_SUFFIX: dict[str, str] = {
    "integer": "Id",
    "uuid": "Id",
    "objectid": "Id",
    "ulid": "Id",
    "hex": "Id",
    "token": "Id",
    "code": "Code",
    "date": "Date",
    "datetime": "Time",
    "email": "Email",
    "phone": "Phone",
    "semver": "Version",
    "file": "File",
    "ip": "Ip",
    "ssn": "Ssn",
    "card": "Card",
    "iban": "Iban",
    "string": "",
}
DEFAULT_NAME: dict[str, str] = {
    "integer": "id",
    "uuid": "id",
    "objectid": "id",
    "ulid": "id",
    "hex": "id",
    "token": "token",
    "code": "code",
    "date": "date",
    "datetime": "time",
    "email": "email",
    "phone": "phone",
    "semver": "version",
    "file": "file",
    "ip": "ip",
    "ssn": "ssn",
    "card": "card",
    "iban": "iban",
    "string": "param",
}

# Per segment: (literal value, ""), ("", parameter type) or (in-segment pattern, SHAPED + the
# comma-separated types of its slots).
Kinds = tuple[tuple[str, str], ...]
SHAPED = "@"


def render(kinds: Kinds) -> tuple[str, tuple[PathParam, ...]]:
    """The template text and its parameters for one sequence of segment kinds."""
    parts: list[str] = []
    params: list[PathParam] = []
    used: set[str] = set()
    prev_lit = ""
    run = 0
    for i, (lit, typ) in enumerate(kinds):
        if not typ:
            parts.append(lit)
            if lit and not is_version(lit) and not lit.isdigit():
                prev_lit = lit
                run = 0
            continue
        if typ[0] == SHAPED:
            names = []
            for slot, slot_type in zip(_slot_bases(lit, prev_lit), typ[1:].split(","), strict=False):
                name = _unique(
                    _param_name(slot, slot_type) if slot else DEFAULT_NAME.get(slot_type, "param"), used
                )
                names.append(name)
                params.append(PathParam(name, slot_type, i))
            parts.append(fill(lit, names))
            run = 0
            continue
        run += 1
        name = _param_name(prev_lit, typ, right_after=run == 1)
        if run > 1 and name in used:
            name = f"{name}{run}"
        unique = _unique(name, used)
        parts.append("{" + unique + "}")
        params.append(PathParam(unique, typ, i))
    return "/" + "/".join(parts), tuple(params)


def _unique(name: str, used: set[str]) -> str:
    k = 2
    unique = name
    while unique in used:
        unique = f"{name}{k}"
        k += 1
    used.add(unique)
    return unique


def _slot_bases(pattern: str, prev_lit: str) -> list[str]:
    """What each slot of an in-segment pattern is named after: the argument name of a call
    ("lat" in "f(lat={})"), the function or entity ("Products({})"), the range ends, the previous
    literal for "{}.json", "extension" for "thumbnail.{}"."""
    n = pattern.count(SLOT)
    if pattern.startswith(SLOT + "..."):
        return ["base", "head"][:n]
    if pattern.startswith(SLOT + ".."):
        return ["start", "end"][:n]
    head, paren, _ = pattern.partition("(")
    if paren and pattern.endswith(")"):
        named = slot_names(pattern)
        return [arg or head for arg in named]
    if pattern.startswith(SLOT):
        return [prev_lit] * n
    return ["extension"] * n


_NOUN = re.compile(r"[A-Za-z][A-Za-z_\-]{0,39}")


def _param_name(prev_lit: str, typ: str, right_after: bool = False) -> str:
    """The resource noun before the parameter, singular, in camelCase, with a type suffix
    ("accounts" -> "accountId"); a literal that is no plain word ("registration5Gz", "v1.2")
    names nothing, the type does.

    A folder is no noun for its files: "/images/{imageFile}" (a plural names its members), but
    "/rtl/{file}", "/download/{file}". A word value right after a singular word is not that word
    ("/monitor/{monitor}" reads as a copy of the folder): it is its name, "{monitorName}"."""
    noun = route_base(prev_lit)
    base = camel(singular(noun)) if noun and _NOUN.fullmatch(noun) else ""
    suffix = NAME_SUFFIX.get(typ, "")
    if typ == "file" and not (is_plural_collection(noun) and singular(noun) != noun):
        return DEFAULT_NAME["file"]
    if typ == "string" and right_after and len(base) >= 3 and base.lower() == camel(noun).lower():
        suffix = "Name"
    if not base:
        return DEFAULT_NAME.get(typ, "param")
    if suffix and base.lower().endswith(suffix.lower()):
        return base  # "by-email" + "Email" -> "byEmail", "userId" + "Id" -> "userId"
    return base + suffix
