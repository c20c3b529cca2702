"""OpenAPI guidance: a host's documented templates, matched literal-first with backtracking."""

from __future__ import annotations

import re
from collections.abc import Iterable

from analyzer.templating.model import PathParam, TemplateMatch, template_id
from analyzer.templating.paths import SPEC_PARAM, split_path
from analyzer.templating.values import STRONG_TYPES, classify

# A spec match: the template and the value of each of its parameters.
SpecHit = tuple[str, dict[str, str]]


class SpecNode:
    __slots__ = ("lits", "params", "ends")

    def __init__(self) -> None:
        self.lits: dict[str, SpecNode] = {}
        # (pattern or None for a whole-segment parameter, parameter names, child)
        self.params: list[tuple[re.Pattern[str] | None, tuple[str, ...], SpecNode]] = []
        self.ends: dict[str, str] = {}  # METHOD -> spec template ending here


class SpecIndex:
    """Every loaded spec operation, per host, with memoised results."""

    __slots__ = ("roots", "operations", "_slots", "_results", "memo_limit")

    def __init__(self, memo_limit: int) -> None:
        self.roots: dict[str, SpecNode] = {}
        self.operations: dict[str, list[tuple[str, str]]] = {}
        self._slots: dict[str, tuple[tuple[int, str], ...]] = {}  # template -> (index, name)
        self._results: dict[tuple[str, str, str, tuple[str, ...]], TemplateMatch] = {}
        self.memo_limit = memo_limit

    def load(self, host: str, operations: Iterable[tuple[str, str]]) -> None:
        """Add (method, template) operations for an already normalised host."""
        root = self.roots.setdefault(host, SpecNode())
        ops = self.operations.setdefault(host, [])
        known = set(ops)
        for method, template in operations:
            m = method.upper()
            if (m, template) in known:
                continue  # the same spec loaded again (re-import, restore)
            known.add((m, template))
            ops.append((m, template))
            node = root
            for seg in split_path(template):
                node = _child_for(node, seg)
            node.ends.setdefault(m, template)

    def match(self, host: str, segs: list[str], method: str) -> SpecHit | None:
        root = self.roots.get(host)
        if root is None:
            return None
        return _greedy(root, segs, method) or _backtrack(root, segs, 0, method, {})

    def has(self, host: str) -> bool:
        return host in self.roots

    def result(self, host: str, method: str, found: SpecHit) -> TemplateMatch:
        template, values = found
        slots = self._slots.get(template)
        if slots is None:
            slots = self._slots[template] = tuple(
                (i, name) for i, seg in enumerate(split_path(template)) for name in SPEC_PARAM.findall(seg)
            )
        types = tuple(classify(values.get(name, "")) for _, name in slots)
        key = (host, method, template, types)
        hit = self._results.get(key)
        if hit is None:
            params = tuple(
                PathParam(name, typ if typ in STRONG_TYPES else "string", i)
                for (i, name), typ in zip(slots, types, strict=True)
            )
            if len(self._results) >= self.memo_limit:
                self._results.clear()
            hit = self._results[key] = TemplateMatch(template, params, template_id(host, method, template))
        return hit


def _child_for(node: SpecNode, seg: str) -> SpecNode:
    names = tuple(SPEC_PARAM.findall(seg))
    if not names:
        return node.lits.setdefault(seg, SpecNode())
    pattern: re.Pattern[str] | None = None
    if not SPEC_PARAM.fullmatch(seg):
        # Parameter inside a segment ("{month}.json", "lists.{format}").
        parts = SPEC_PARAM.split(seg)
        rx = "".join(re.escape(p) if i % 2 == 0 else "([^/]+?)" for i, p in enumerate(parts))
        pattern = re.compile(rx)
    for pat, pnames, child in node.params:
        if pnames == names and (pat.pattern if pat else None) == (pattern.pattern if pattern else None):
            return child
    child = SpecNode()
    node.params.append((pattern, names, child))
    # Whole-segment parameters are tried after in-segment patterns (more specific).
    node.params.sort(key=lambda p: p[0] is None)
    return child


def _end(node: SpecNode, method: str) -> str:
    return node.ends.get(method) or next(iter(node.ends.values()))


def _greedy(root: SpecNode, segs: list[str], method: str) -> SpecHit | None:
    """The same preference order as _backtrack without backtracking: almost always right."""
    seen: dict[str, str] = {}
    cur = root
    for seg in segs:
        child = cur.lits.get(seg)
        if child is not None:
            cur = child
            continue
        for pattern, names, sub in cur.params:
            if pattern is None:
                if seg:
                    seen.update(zip(names, (seg,), strict=False))
                    cur = sub
                    break
                continue
            hit = pattern.fullmatch(seg)
            if hit is not None:
                seen.update(zip(names, hit.groups(), strict=False))
                cur = sub
                break
        else:
            return None
    return (_end(cur, method), seen) if cur.ends else None


def _backtrack(node: SpecNode, segs: list[str], i: int, method: str, seen: dict[str, str]) -> SpecHit | None:
    """Literal, then in-segment patterns, then whole-segment parameters."""
    if i == len(segs):
        return (_end(node, method), dict(seen)) if node.ends else None
    seg = segs[i]
    child = node.lits.get(seg)
    if child is not None:
        found = _backtrack(child, segs, i + 1, method, seen)
        if found is not None:
            return found
    for pattern, names, sub in node.params:
        if pattern is None:
            if not seg:
                continue
            values: tuple[str, ...] = (seg,)
        else:
            hit = pattern.fullmatch(seg)
            if hit is None:
                continue
            values = hit.groups()
        bound = dict(zip(names, values, strict=False))
        seen.update(bound)
        found = _backtrack(sub, segs, i + 1, method, seen)
        for name in bound:
            del seen[name]
        if found is not None:
            return found
    return None
