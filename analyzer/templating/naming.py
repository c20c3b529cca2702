"""Writing a template: literal segments as they are, parameters named after the resource noun."""

from __future__ import annotations

from analyzer.templating.model import PathParam
from analyzer.templating.values import is_version
from analyzer.templating.vocabulary import camel, singular

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
    "string": "param",
}

# Per segment: (literal value, "") or ("", parameter type).
Kinds = tuple[tuple[str, str], ...]


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
        run += 1
        name = _param_name(prev_lit, typ)
        if run > 1 and name in used:
            name = f"{name}{run}"
        k = 2
        unique = name
        while unique in used:
            unique = f"{name}{k}"
            k += 1
        used.add(unique)
        parts.append("{" + unique + "}")
        params.append(PathParam(unique, typ, i))
    return "/" + "/".join(parts), tuple(params)


def _param_name(prev_lit: str, typ: str) -> str:
    base = camel(singular(prev_lit)) if prev_lit else ""
    suffix = NAME_SUFFIX.get(typ, "")
    if not base:
        return DEFAULT_NAME.get(typ, "param")
    if suffix and base.lower().endswith(suffix.lower()):
        return base  # "by-email" + "Email" -> "byEmail", "userId" + "Id" -> "userId"
    return base + suffix
