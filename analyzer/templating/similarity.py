"""Structural evidence: do two values at one position answer alike below them?

A value's *signature* maps the relative paths below it (typed children generalised to "{}") to
the response shapes answered there. Two signatures agree on a common relative path when the
shapes there are similar (same method, at least half of the shape tokens shared), conflict when
they are not, and say nothing when either has no informative shape.
"""

from __future__ import annotations

import re

from analyzer.templating.paths import STAR, WSTAR
from analyzer.templating.trie import METHOD_SEP, RawNode
from analyzer.templating.values import STRONG_TYPES, classify

Signature = dict[str, set[str]]

_SHAPE_SPLIT = re.compile(r"[\s,;|]+")
_TOKEN_CACHE_LIMIT = 100_000


class Similarity:
    """Signatures and their comparison, with a bounded cache of shape tokens."""

    __slots__ = ("fanout", "_tok_cache")

    def __init__(self, fanout: int) -> None:
        self.fanout = fanout  # children inspected per node when computing a signature
        self._tok_cache: dict[str, frozenset[str]] = {}

    def signature(self, raws: list[RawNode]) -> Signature:
        """Relative paths (typed children generalised) below a value -> response shapes there."""
        if len(raws) == 1:
            r = raws[0]
            if not r.dirty and r.sig is not None:
                return r.sig
            r.sig = self._signature_new(raws)
            return r.sig
        return self._signature_new(raws)

    def _signature_new(self, raws: list[RawNode]) -> Signature:
        sig: Signature = {}
        fanout = self.fanout
        for r in raws:
            if r.end_ok:
                sig.setdefault("", set()).update(r.shapes)
            for i, (seg, c) in enumerate(r.children.items()):
                if i >= fanout:
                    break
                if not c.tot_ok:
                    continue
                key = "/" + generalised(seg)
                entry = sig.setdefault(key, set())
                if c.end_ok:
                    entry.update(c.shapes)
                for j, (seg2, c2) in enumerate(c.children.items()):
                    if j >= fanout:
                        break
                    if c2.tot_ok:
                        entry2 = sig.setdefault(key + "/" + generalised(seg2), set())
                        if c2.end_ok:
                            entry2.update(c2.shapes)
        if len(sig) == 1 and "" in sig and not sig[""]:
            return {}  # a bare endpoint with no response shape says nothing
        return sig

    def fits_group(self, sig: Signature, ref: Signature) -> bool:
        agree, conflict = self.compare(sig, ref)
        return conflict == 0 or agree >= 3 * conflict

    def compare(self, a: Signature, b: Signature) -> tuple[int, int]:
        """(agreeing, conflicting) relative paths common to both signatures."""
        agree = conflict = 0
        small, big = (a, b) if len(a) <= len(b) else (b, a)
        for k, sa in small.items():
            sb = big.get(k)
            if sb is None:
                continue
            verdict = self.shapes_verdict(sa, sb) if sa and sb else 0
            if verdict > 0:
                agree += 1
            elif verdict < 0:
                conflict += 1
            elif k:
                agree += 1  # the same sub-path exists under both: structural agreement
        return agree, conflict

    def shapes_verdict(self, sa: set[str], sb: set[str]) -> int:
        """+1 similar, -1 different, 0 no evidence (no informative shapes for a common method)."""
        for same in sa & sb:
            if len(self.tokens(same.partition(METHOD_SEP)[2])) >= 2:
                return 1  # (one bare key or "[]" alike says as little as when compared below)
        compared = False
        for x in sa:
            mx, _, shape_x = x.partition(METHOD_SEP)
            tx = self.tokens(shape_x)
            if len(tx) < 2:
                continue  # a bare "[]" or one key says little: unrelated endpoints answer so
            for y in sb:
                my, _, shape_y = y.partition(METHOD_SEP)
                if mx != my:
                    continue
                ty = self.tokens(shape_y)
                if len(ty) < 2:
                    continue
                compared = True
                if len(tx & ty) * 2 >= len(tx | ty):
                    return 1
        return -1 if compared else 0

    def tokens(self, shape: str) -> frozenset[str]:
        tok = self._tok_cache.get(shape)
        if tok is None:
            tok = frozenset(t for t in _SHAPE_SPLIT.split(shape) if t)
            if len(self._tok_cache) < _TOKEN_CACHE_LIMIT:
                self._tok_cache[shape] = tok
        return tok


def generalised(seg: str) -> str:
    """A raw segment as a signature key: typed values (and compaction keys) are all "{}"."""
    return "{}" if seg in (STAR, WSTAR) or classify(seg) in STRONG_TYPES else seg
