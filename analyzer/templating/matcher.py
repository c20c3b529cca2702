"""Walking the template tree: a concrete path to the tree node of its template.

A tree node has one path from the root, so the end node of a walk alone fixes the template.
Literal beats in-segment pattern beats parameter; a word-like value enters only a parameter that
absorbs words.
"""

from __future__ import annotations

from dataclasses import dataclass

from analyzer.templating.folders import is_file_name
from analyzer.templating.insegment import segment_shape, typed_core
from analyzer.templating.trie import TemplateNode
from analyzer.templating.values import STRONG_TYPES, classify, is_version
from analyzer.templating.vocabulary import API_WORDS, is_reserved


@dataclass(frozen=True, slots=True)
class ShapedMark:
    """A segment that went into an in-segment pattern child."""

    pattern: str
    types: str  # slot types, comma-separated


# One template position per segment: None for a literal, the parent node for a whole-segment
# parameter, a ShapedMark for an in-segment pattern.
Mark = TemplateNode | ShapedMark | None
Marks = list[Mark]


def shaped_child(t: TemplateNode, seg: str) -> tuple[ShapedMark, TemplateNode] | None:
    shaped = t.shaped
    if shaped is None:
        return None
    shape = segment_shape(seg)
    if shape is None:
        return None
    child = shaped.get(shape.pattern)
    if child is None:
        return None
    assert t.stypes is not None
    types = t.stypes[shape.pattern]
    if "string" not in types and not typed_core(shape):
        return None  # a word ("Queues.json") beside typed values ("{callId}.json") is a route
    return ShapedMark(shape.pattern, types), child


def walk(tree: TemplateNode, segs: list[str], marks: Marks) -> TemplateNode | None:
    """Full match: the end node, or None (marks then hold nothing useful). Greedy first (almost
    always right), then backtracking."""
    node = tree
    for seg in segs:
        child = node.lits.get(seg)
        if child is not None:
            marks.append(None)
            node = child
            continue
        if node.shaped is not None:
            hit = shaped_child(node, seg)
            if hit is not None:
                marks.append(hit[0])
                node = hit[1]
                continue
        if node.param is not None and accepts(node, seg):
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
    if t.shaped is not None:
        hit = shaped_child(t, seg)
        if hit is not None:
            marks.append(hit[0])
            end = _walk_bt(hit[1], segs, i + 1, marks)
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
            continue
        hit = shaped_child(t, seg) if t.shaped is not None else None
        if hit is not None:
            marks.append(hit[0])
            t = hit[1]
        elif t.param is not None and accepts(t, seg):
            marks.append(t)
            t = t.param
        else:
            return


def accepts(t: TemplateNode, seg: str) -> bool:
    typ = classify(seg)
    if typ in STRONG_TYPES:
        return True
    if t.ptype == "file" and is_file_name(seg):
        return True  # a folder's files are its parameter's values, reserved words too ("new.png")
    if typ in ("empty", "version") or (is_reserved(seg) and t.ptype != "enum"):
        return False  # (a filter's values, "all|open|public", were proven values, reserved or not)
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
