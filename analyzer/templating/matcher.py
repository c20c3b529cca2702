"""Walking the template tree: a concrete path to the tree node of its template.

A tree node has one path from the root, so the end node of a walk alone fixes the template.
Literal beats parameter; a word-like value enters only a parameter that absorbs words.
"""

from __future__ import annotations

from analyzer.templating.trie import TemplateNode
from analyzer.templating.values import STRONG_TYPES, classify, is_version
from analyzer.templating.vocabulary import API_WORDS, is_reserved

# One template position per segment: the parameter node it entered, or None for a literal.
Marks = list[TemplateNode | None]


def walk(tree: TemplateNode, segs: list[str], marks: Marks) -> TemplateNode | None:
    """Full match: the end node, or None (marks then hold nothing useful). Greedy first (almost
    always right), then backtracking."""
    node = tree
    for seg in segs:
        child = node.lits.get(seg)
        if child is not None:
            marks.append(None)
            node = child
        elif node.param is not None and accepts(node, seg):
            marks.append(node)
            node = node.param
        else:
            break
    else:
        return node
    marks.clear()
    return _walk_bt(tree, segs, 0, marks)


def _walk_bt(t: TemplateNode, segs: list[str], i: int, marks: Marks) -> TemplateNode | None:
    if i == len(segs):
        return t
    seg = segs[i]
    child = t.lits.get(seg)
    if child is not None:
        marks.append(None)
        end = _walk_bt(child, segs, i + 1, marks)
        if end is not None:
            return end
        del marks[i:]
    if t.param is not None and accepts(t, seg):
        marks.append(t)
        end = _walk_bt(t.param, segs, i + 1, marks)
        if end is not None:
            return end
        del marks[i:]
    return None


def walk_prefix(t: TemplateNode, segs: list[str], marks: Marks) -> None:
    """The longest prefix the tree matches greedily (for paths it does not match whole)."""
    for seg in segs:
        child = t.lits.get(seg)
        if child is not None:
            marks.append(None)
            t = child
        elif t.param is not None and accepts(t, seg):
            marks.append(t)
            t = t.param
        else:
            return


def accepts(t: TemplateNode, seg: str) -> bool:
    typ = classify(seg)
    if typ in STRONG_TYPES:
        return True
    if typ in ("empty", "version") or is_reserved(seg):
        return False
    return t.pwords


def version_context(segs: list[str], i: int, kinds: list[tuple[str, str]]) -> bool:
    """A number or date right under the root or an "api"-like literal is an API version."""
    t = classify(segs[i])
    if t not in ("integer", "date") or (t == "integer" and len(segs[i]) > 4):
        return False
    if any(k[1] for k in kinds[:i]):
        return False
    prev = segs[i - 1].lower() if i else ""
    return prev in API_WORDS or is_version(prev)
