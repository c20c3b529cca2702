"""The templater's tunables, in one place (evidence thresholds, fold schedule, memory bounds)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any


@dataclass(frozen=True, slots=True)
class TemplaterSettings:
    # Evidence: word values at one position become a parameter with no structural evidence when
    # there are at least this many distinct ones and a long tail (share seen once >= tail_ratio)...
    min_distinct_for_param: int = 10
    # ... or with at least this many values whose sub-trees / response shapes agree.
    min_distinct_structured: int = 3
    tail_ratio: float = 0.3
    # Fold schedule: fold a host inline once its observations grew by this fraction since its
    # last fold (and something new was seen): geometric, so total fold work is linear in traffic.
    rebuild_growth: float = 1.0
    # drain_merges() folds a host with new structure once it grew by this many observations / share.
    drain_min_obs: int = 64
    drain_growth: float = 0.25
    # Bounds.
    memo_limit: int = 200_000  # entries per match memo
    samples: int = 4  # sample paths kept per issued template, to tell merges from splits
    dict_limit: int = 4096  # remembered word-parameter values per key
    noise_limit: int = 10_000  # 404-only paths remembered per host
    sig_fanout: int = 48  # children inspected per node when computing a signature (bounded cost)
    # A word parameter with at least this many values is compacted like typed ids (and sticky).
    word_compact: int = 1000

    # The tunables a saved state carries (the others are code-level bounds).
    STATE_KEYS = (
        "min_distinct_for_param",
        "min_distinct_structured",
        "tail_ratio",
        "rebuild_growth",
        "memo_limit",
    )

    def state_params(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.STATE_KEYS}

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> TemplaterSettings:
        known = {f.name for f in fields(cls)}
        unknown = set(params) - known
        if unknown:
            raise ValueError(f"unknown templater settings: {sorted(unknown)}")
        return cls(**params)
