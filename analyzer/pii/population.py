"""A field's values across a batch: the evidence that one value cannot give.

One random 16-digit id in ten passes Luhn, so an order-id field reports a "card" on most
endpoints that carry enough orders; a version field holds dotted quads beside three-part
versions. Looked at together, the values give the field away: real card numbers all pass Luhn,
sequential numbers are a counter, a field of versions has some that are no IP. ``EntitySpec.population``
says which values to collect (a shape) and what they must not look like (a veto); the detector
collects, per (endpoint, location, field), the values of those shapes and drops the findings of a
field its population vetoes. Raw values live only for one batch, in memory, bounded per field.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from analyzer.pii.entities import EntitySpec

# (location, field, value) of one value of the exchange being scanned.
Collector = Callable[[str, str, str], None]
# Distinct values kept per field and batch: plenty for the vetoes, bounded for huge batches.
MAX_VALUES = 256

# A segment holding a digit, "@", "%" or "{" (a template's parameter), or over 32 characters;
# not a version segment ("v1", "v2.0"). Anchored on the "/" so most positions fail at once.
_VARIABLE_SEGMENT = re.compile(r"/(?:(?!v\d+(?:\.\d+)*(?:/|$))[^/]*[\d@{%][^/]*|[^/]{33,})")


def endpoint_key(path: str) -> str:
    """A path with its variable-looking segments as ``{}``: the same key for every exchange of
    one endpoint (``/api/v2/files/{}/content``), from a concrete path or a template."""
    return _VARIABLE_SEGMENT.sub("/{}", path)


# (type, min length, max length, a character the value must hold, fullmatch of the shape).
Shapes = tuple[tuple[str, int, int, str, Callable[[str], object]], ...]


def population_shapes(specs: Iterable[EntitySpec]) -> Shapes:
    return tuple(
        (
            spec.type,
            spec.population.min_len,
            spec.population.max_len,
            spec.population.needs,
            spec.population.shape.fullmatch,
        )
        for spec in specs
        if spec.population is not None
    )


class Population:
    """The batch's values of the shapes the specs' population rules look at."""

    def __init__(self, shapes: Shapes) -> None:
        self._shapes = shapes
        self._values: dict[tuple[str, str, str, str], set[str]] = {}

    def sink(self, endpoint: str) -> Collector:
        """The collector for one exchange of ``endpoint``; callers pass only values starting with a digit."""
        shapes, values = self._shapes, self._values

        def collect(location: str, field: str, value: str) -> None:
            n = len(value)
            for pii_type, min_len, max_len, needs, fullmatch in shapes:
                if min_len <= n <= max_len and needs in value and fullmatch(value):
                    key = (pii_type, endpoint, location, field)
                    seen = values.get(key)
                    if seen is None:
                        values[key] = {value}
                    elif len(seen) < MAX_VALUES:
                        seen.add(value)

        return collect

    def __bool__(self) -> bool:
        return bool(self._values)

    def vetoed(self, findings: Iterable[tuple[EntitySpec, str, str, str]]) -> set[tuple[str, str, str, str]]:
        """(type, endpoint, location, field) of the findings whose field's population says no."""
        out: set[tuple[str, str, str, str]] = set()
        judged: set[tuple[str, str, str, str]] = set()
        for spec, endpoint, location, field in findings:
            if spec.population is None:
                continue
            key = (spec.type, endpoint, location, field)
            if key in judged:
                continue
            judged.add(key)
            seen = self._values.get(key)
            if seen and spec.population.veto(seen):
                out.add(key)
        return out
