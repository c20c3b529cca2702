"""PII detection in captured API exchanges (offline presidio recognizers behind a fast path).

``default_detector().detect_exchange(record)`` returns one :class:`PiiFinding` per
(type, location, field) of an exchange, with a masked sample; raw values are never kept.
"""

from analyzer.pii.detector import PiiDetector, PiiFinding, default_detector
from analyzer.pii.flatten import flatten_body
from analyzer.pii.masking import mask

__all__ = ["PiiDetector", "PiiFinding", "default_detector", "flatten_body", "mask"]
