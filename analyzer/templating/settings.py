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
    # ... and only while new values keep arriving: the share of the position's requests that
    # brought a value seen once (Good-Turing's unseen mass) stays at least this. Route names
    # saturate (every sibling seen again and again) while ids keep churning.
    unseen_share: float = 0.2
    busy_value: int = 10  # ... counting the requests of values seen at most this often
    # Word values shaped like method names (camelCase "redeemCode", dotted "chat.postMessage")
    # are operations: a position where at least this share of them are is not a parameter.
    verb_share: float = 0.5
    # Word values whose sub-trees share at least this many literal sub-routes (and agree on as
    # many answers) are copies of one thing ("/pki/...", "/pki-2/..."), at least twin_min_values
    # of them: a parameter. At most
    # twin_fanout values per position are compared pairwise (bounded cost).
    twin_min_routes: int = 3
    twin_min_values: int = 4
    twin_fanout: int = 64
    # One typed value at a position, in at least this many requests under at least this many
    # sub-paths, is a constant (a service root, an org or app segment): a literal.
    constant_min_requests: int = 50
    constant_min_subpaths: int = 3
    # Fold schedule: fold a host inline once its observations grew by this fraction since its
    # last fold (and something new was seen): geometric, so total fold work is linear in traffic.
    rebuild_growth: float = 1.0
    # drain_merges() folds a host with new structure once it grew by this many observations / share.
    drain_min_obs: int = 64
    drain_growth: float = 0.25
    consolidate_rounds: int = 3  # folds at most per host in consolidate()
    # Hysteresis (sticky word parameters) is judged once each time a host's observations reach
    # a power of four from this on, by a full fold at the next drain or consolidation: moments
    # set by the traffic, not by batching (geometric, so their cost stays linear in traffic).
    checkpoint_min_obs: int = 256
    # Key of the keyed hashes that replace PII path segments (privacy); empty: one per process.
    pii_key: str = ""
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
