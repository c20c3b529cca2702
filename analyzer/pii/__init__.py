"""PII detection in captured API exchanges (offline presidio recognizers behind a fast path).

``default_detector().detect_exchange(record)`` returns one :class:`PiiFinding` per
(type, location, field) of an exchange, with a masked sample; raw values are never kept.

Names are imported on first use (PEP 562): ``analyzer.pii.headers`` and ``analyzer.pii.flatten``
must stay importable without presidio, which costs over a second.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from analyzer.pii.detector import PiiDetector, PiiFinding, default_detector
    from analyzer.pii.flatten import flatten_body
    from analyzer.pii.masking import mask

__all__ = ["PiiDetector", "PiiFinding", "default_detector", "flatten_body", "mask"]

_HOMES = {
    "PiiDetector": "analyzer.pii.detector",
    "PiiFinding": "analyzer.pii.detector",
    "default_detector": "analyzer.pii.detector",
    "flatten_body": "analyzer.pii.flatten",
    "mask": "analyzer.pii.masking",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value
