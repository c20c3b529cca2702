"""Structural validation of OpenAPI 2.0 / 3.0 / 3.1 documents with ``openapi-spec-validator``.

The document is checked against the OpenAPI JSON Schema of its version (the validator's schema
validators only: no ``$ref`` is resolved, so nothing is fetched from anywhere). What the check
finds is split in two:

- **errors** refuse the document (``SpecError``; HTTP 422, exit status 2): a fault in what the
  import reads, its skeleton: the version field, ``info`` (not an object, no title), a top-level
  member of the wrong type (``components: []``), ``servers`` / ``host`` / ``basePath``, ``paths``,
  path items and operations of the wrong type, a ``parameters`` that is not a list, a parameter
  object without a string ``name`` and ``in``;
- **warnings** are returned with the import: everything else (responses missing or empty,
  schemas, examples, unknown properties such as ``info.logo``, ``info.version`` missing).
  Real-world documents are full of those and are still worth importing (most tools do).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

MAX_WARNINGS = 20
_KEYWORD = re.compile(r'Failed validating "(\w+)"')
_SKELETON_SCALARS = frozenset({"openapi", "swagger", "host", "basePath"})
_PARAMETER_PLACES = frozenset({"query", "header", "path", "cookie", "formData", "body"})


@dataclass(frozen=True, slots=True)
class Validation:
    errors: tuple[str, ...]  # "pointer: reason", refusing the document
    warnings: tuple[str, ...]  # "pointer: reason", at most MAX_WARNINGS
    warning_count: int


def _validator(document: dict[str, Any]) -> Any:
    from openapi_spec_validator.schemas import (
        openapi_v2_schema_validator,
        openapi_v30_schema_validator,
        openapi_v31_schema_validator,
    )

    if "swagger" in document:
        return openapi_v2_schema_validator
    if str(document.get("openapi", "")).startswith("3.1"):
        return openapi_v31_schema_validator
    return openapi_v30_schema_validator


def _pointer(path: list[Any]) -> str:
    return "/" + "/".join(str(p).replace("~", "~0").replace("/", "~1") for p in path)


def _reason(message: str) -> str:
    first = message.strip().splitlines()[0] if message.strip() else "invalid"
    return first if len(first) <= 200 else first[:197] + "..."


def _parameter_usable(parameter: Any) -> bool:
    if not isinstance(parameter, dict):
        return False
    if "$ref" in parameter:
        return isinstance(parameter["$ref"], str)
    return isinstance(parameter.get("name"), str) and parameter.get("in") in _PARAMETER_PLACES


def _is_error(path: list[Any], keyword: str, message: str, document: dict[str, Any]) -> bool:
    """Whether a validator finding is in the import's skeleton (see the module docstring)."""
    if keyword == "additionalProperties":
        return False  # unknown members are ignored, as the import ignores them
    if not path:
        return True
    head = path[0]
    if head in _SKELETON_SCALARS:
        return True
    if len(path) == 1 and keyword == "type":
        return True  # a top-level member of the wrong type
    if head == "info":
        return len(path) == 1 and "'title'" in message or path[1:2] == ["title"]
    if head == "servers":
        return len(path) <= 2
    if head != "paths":
        return False
    if "parameters" in path[2:4]:
        at = path.index("parameters", 2)
        if len(path) == at + 1:
            return keyword == "type"
        if len(path) == at + 2:
            node: Any = document
            for key in path:
                node = node[key]
            return not _parameter_usable(node)
        return False
    return len(path) <= 3 and keyword == "type"


def validate_structure(document: dict[str, Any]) -> Validation:
    errors: list[str] = []
    warnings: list[str] = []
    count = 0
    for finding in _validator(document).iter_errors(document):
        path = list(finding.absolute_path)
        message = str(finding.message)
        match = _KEYWORD.search(message)
        keyword = match.group(1) if match else ""
        text = f"{_pointer(path)}: {_reason(message)}"
        try:
            fatal = _is_error(path, keyword, message, document)
        except (KeyError, IndexError, TypeError):
            fatal = True
        if fatal:
            errors.append(text)
        else:
            count += 1
            if len(warnings) < MAX_WARNINGS:
                warnings.append(text)
    return Validation(errors=tuple(errors), warnings=tuple(warnings), warning_count=count)
