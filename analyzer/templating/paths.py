"""Splitting paths into segments, and the reserved raw-trie keys no concrete segment can take."""

from __future__ import annotations

import re

MAX_SEGMENTS = 64  # deeper paths keep their tail as one segment
# Raw-trie key under which all typed-id children of a node are compacted after a rebuild: typed
# values are parameters for good, so their sub-trees can be merged, which bounds memory and
# rebuild cost by the number of distinct routes instead of the number of distinct ids. A raw "{"
# cannot appear in a path segment (RFC 3986), so no concrete segment collides with it.
STAR = "{*}"
# The same for the values of a word parameter proven with many values (settings.word_compact).
WSTAR = "{w*}"
# A parameter in a spec template ("{id}", "{month}.json").
SPEC_PARAM = re.compile(r"\{([^}/]+)\}")


def split_path(path: str) -> list[str]:
    """Segments of a path; a trailing slash is kept as a final empty segment (it is routed apart)."""
    if not path or path == "/":
        return []
    if path[0] == "/":
        path = path[1:]
    segs = path.split("/")
    if len(segs) > MAX_SEGMENTS:
        # Pathological depth (scanners, path traversal probes): keep the tail as one segment so
        # recursion and the trie stay bounded.
        segs = segs[: MAX_SEGMENTS - 1] + ["/".join(segs[MAX_SEGMENTS - 1 :])]
    if "{" in path:
        # Keep concrete segments apart from the raw trie's compaction keys ("{*}", "{w*}" and
        # "{*<pattern>}", see STAR): a raw "{" is not valid in a path, so escape it there.
        segs = [_escaped(seg) if seg.startswith(("{*", "{w*")) else seg for seg in segs]
    return segs


def _escaped(seg: str) -> str:
    return seg.replace("{", "%7B").replace("}", "%7D")


_JUNK = re.compile(r"[\x00-\x20\x7f]")


def is_junk_target(path: str) -> bool:
    """A request target that is no path of an endpoint: whitespace or control characters in it
    ("GET /uri afterspace"), or not origin-form ("*", "garbage")."""
    return not path.startswith("/") or _JUNK.search(path) is not None
