"""Evidence rules about one template position that do not need response shapes.

Each rule is a named predicate over the concrete values seen at a position (``vals``: value ->
the raw nodes holding it, one per parent merged into this position) and what precedes it.
"""

from __future__ import annotations

from dataclasses import dataclass

from analyzer.templating.paths import STAR
from analyzer.templating.privacy import PII_TYPES
from analyzer.templating.trie import RawNode
from analyzer.templating.values import LOOSE_TYPES, classify, is_version
from analyzer.templating.vocabulary import API_WORDS, is_plural_collection, route_base

# Concrete value at one position -> its raw nodes (one per parent folded into the position).
Values = dict[str, list[RawNode]]


@dataclass(frozen=True, slots=True)
class Position:
    """Where a fold is: after the root, a literal (prev_seg) or a parameter; pos is the template
    prefix with parameters written "{}" ("/repos/{}")."""

    prev_kind: str  # "root", "lit" or "param"
    prev_seg: str
    pos: str

    @property
    def after_literal(self) -> bool:
        return self.prev_kind == "lit"

    @property
    def api_root(self) -> bool:
        """Right after the root, an "api"-like literal or a version: where resource collections
        and API versions sit, not ids."""
        return self.prev_kind == "root" or (
            self.prev_kind == "lit"
            and (
                self.prev_seg.lower() in API_WORDS
                or is_version(self.prev_seg)
                # a number or date kept literal is an API version ("/rest/api/2", "/2010-04-01")
                or classify(self.prev_seg) in ("integer", "date")
            )
        )


def numbers_are_versions(strong: list[str], vals: Values) -> bool:
    """ "/2010-04-01/...", "/1/...", "/api/2/...": one or two numbers/dates under an API root,
    each carrying a sub-tree, are versions. Many are ids."""
    versiony = [
        s
        for s in strong
        if s != STAR
        and classify(s) in ("integer", "date")
        and len(s) <= 10
        and any(c.tot_ok and c.children for c in vals[s])
    ]
    return bool(versiony) and len(versiony) == len(strong) and len(strong) <= 2


def lone_number_is_version(at: Position, only: str, vals: Values) -> bool:
    """ "/rest/auth/1/session": one small number, asked for again and again and never another
    value beside it, after a singular word ("auth"), is a version, not an id (ids spread over
    many values and follow plural collections: "/accounts/1")."""
    return (
        only != STAR
        and not route_base(at.prev_seg).lower().endswith("s")
        and classify(only) == "integer"
        and len(only) <= 2
        and sum(c.tot_ok for c in vals[only]) >= 3
        and any(c.children for c in vals[only])
    )


def rare_ids(members: list[str], counts: dict[str, int], at: Position) -> bool:
    """Two or more values under a plural collection literal, each seen at most twice, with
    matching structure: ids of a rarely used endpoint."""
    if not (at.after_literal and len(members) >= 2 and all(counts[w] <= 2 for w in members)):
        return False
    if is_plural_collection(at.prev_seg):
        return True
    # After a singular noun ("/sys/policy/{name}", "/totp/code/{name}") it takes more of them,
    # every one shaped like a name people give (digits or a separator in it: "anchor3",
    # "lantern-willow"), not like a route word.
    return len(members) >= 3 and all(name_like(w) for w in members)


def name_like(word: str) -> bool:
    """Shaped like a name people give, not a route word: a digit or a separator in it."""
    return any(c.isdigit() for c in word) or "-" in word or "_" in word


def group_type(types: dict[str, int]) -> str:
    """The parameter type of a group of values from the counts of their value types."""
    if len(types) == 1:
        typ = next(iter(types))
        return "string" if typ == "word" else typ
    total = sum(types.values())
    typ, n = max(sorted(types.items()), key=lambda kv: kv[1])
    # A clear majority names the type; mixed ids and slugs are plain strings.
    return typ if typ != "word" and n >= 0.9 * total else "string"


def loose_literals(at: Position, strong: list[str], vals: Values) -> list[str]:
    """ "/generate_204", "/wp-comments-post.php", "/100MB.bin": values of a loosely typed shape
    (code, file name) are literals unless several of one type share the position (two, three
    right under an API root) or they follow a plural collection ("/skus/XK-20931"). Values of
    the type compacted by an earlier fold count too: whether they were compacted yet depends on
    when folds ran, not on the traffic."""
    if at.after_literal and is_plural_collection(at.prev_seg):
        return []
    by_type: dict[str, list[str]] = {}
    for seg in strong:
        if seg != STAR:
            typ = classify(seg)
            if typ in LOOSE_TYPES:
                by_type.setdefault(typ, []).append(seg)
    need = 3 if at.api_root else 2
    compacted: dict[str, int] = {}
    if by_type and STAR in strong:
        for r in vals[STAR]:
            for typ, n in r.kinds.items():
                compacted[typ] = compacted.get(typ, 0) + n
    return [seg for typ, segs in by_type.items() if len(segs) + compacted.get(typ, 0) < need for seg in segs]


def constant_value(
    strong: list[str], words: list[str], vals: Values, *, min_requests: int, min_subpaths: int
) -> bool:
    """A service root or an org/app segment ("/TripPinRESTierService/...", "/apps/5f3a.../..."):
    the same value in every one of many requests, under many different sub-paths, is a literal,
    whatever it looks like."""
    if len(strong) != 1 or strong[0] == STAR or words or classify(strong[0]) in PII_TYPES:
        return False  # (personal data is never a literal, however constant)
    raws = vals[strong[0]]
    requests = sum(r.tot_ok for r in raws)
    subpaths = {seg for r in raws for seg, c in r.children.items() if c.tot_ok}
    return requests >= min_requests and len(subpaths) >= min_subpaths
