"""The string leaves (and keys) of a parsed JSON document, as the values a request carries.

One walk for every reader of JSON request content: the payload inspection of a JSON body
(:mod:`analyzer.detect.injection`) and of newline-delimited JSON found inside a value
(:mod:`analyzer.detect.valuekinds`). Bounded: at most :data:`MAX_JSON_LEAVES` leaves, 12 levels
deep and the first 100 items of an array, so a hostile document costs no more than a large one.
"""

from __future__ import annotations

from typing import Any

MAX_JSON_LEAVES = 500
MAX_DEPTH = 12
MAX_ARRAY_ITEMS = 100


def json_leaves(value: Any, path: str, out: list[tuple[str, str]], depth: int = 0) -> None:
    """Append ``(path, text)`` for every string leaf under ``value`` and ``(path.key#key, key)``
    for every object key (keys are client-chosen text too), in document order."""
    if len(out) >= MAX_JSON_LEAVES or depth > MAX_DEPTH:
        return
    if isinstance(value, str):
        out.append((path, value))
    elif isinstance(value, dict):
        for key, item in value.items():
            key_text = str(key)
            out.append((f"{path}.{key_text}#key", key_text))
            json_leaves(item, f"{path}.{key_text}", out, depth + 1)
    elif isinstance(value, list):
        for item in value[:MAX_ARRAY_ITEMS]:
            json_leaves(item, f"{path}[]", out, depth + 1)
