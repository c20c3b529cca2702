"""The templater's data: a raw trie of concrete observations and the folded template tree.

Both serialise to JSON-safe lists (no control characters anywhere: the state must fit JSON
columns such as Postgres jsonb).
"""

from __future__ import annotations

from typing import Any

MAX_SHAPES = 8  # distinct response shapes kept per node; more adds nothing to similarity checks
# Separates the method from the shape in stored shapes ("GET id,name"); methods have no spaces.
METHOD_SEP = " "

_NO_KINDS: dict[str, int] = {}

# Request methods as bits (RawNode.methods): which methods asked for a path, whatever its answer
# (shapes are only kept for answers with a body). Unknown methods share one bit.
METHOD_BITS: dict[str, int] = {
    m: 1 << i for i, m in enumerate(("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"))
}
OTHER_METHOD = 1 << len(METHOD_BITS)
POST_BIT = METHOD_BITS["POST"]


class RawNode:
    """Concrete segments below a position, with request counts and response shapes."""

    __slots__ = ("children", "end", "end_ok", "tot_ok", "shapes", "kinds", "methods", "dirty", "cache", "sig")

    def __init__(self) -> None:
        self.children: dict[str, RawNode] = {}
        self.end = 0  # requests ending exactly here
        self.end_ok = 0  # ... whose status was not a 404
        self.tot_ok = 0  # non-404 requests ending here or below
        self.shapes: dict[str, int] = {}  # "METHOD shape" -> count (shapes are compared per method)
        # STAR nodes only (own dict, set by compaction): value type -> distinct values absorbed.
        # Every other node shares one empty dict that is never written to.
        self.kinds: dict[str, int] = _NO_KINDS
        self.methods = 0  # METHOD_BITS of the non-404 requests ending here (0: none, or an old state)
        # Incremental folding: a node is dirty when something below it changed structurally since
        # the last fold; a clean node's last fold result (cache) is reused as is. Not persisted.
        self.dirty = True
        self.cache: tuple[Any, ...] | None = None
        self.sig: dict[str, set[str]] | None = None  # signature as of the last fold

    def absorb(self, other: RawNode) -> None:
        self.dirty = True
        self.end += other.end
        self.end_ok += other.end_ok
        self.tot_ok += other.tot_ok
        self.methods |= other.methods
        for k, v in other.shapes.items():
            if k in self.shapes:
                self.shapes[k] += v
            elif len(self.shapes) < MAX_SHAPES:
                self.shapes[k] = v
        for k, v in other.kinds.items():
            self.kinds[k] = self.kinds.get(k, 0) + v
        for k, c in other.children.items():
            mine = self.children.get(k)
            if mine is None:
                self.children[k] = c
            else:
                mine.absorb(c)

    def lookup(self, segs: list[str]) -> RawNode | None:
        node = self
        for seg in segs:
            child = node.children.get(seg)
            if child is None:
                return None
            node = child
        return node

    def to_json(self) -> list[Any]:
        return [
            self.end,
            self.end_ok,
            self.tot_ok,
            self.shapes,
            {k: c.to_json() for k, c in self.children.items()},
            self.kinds,
            self.methods,
        ]

    @classmethod
    def from_json(cls, data: list[Any]) -> RawNode:
        r = cls()
        r.end, r.end_ok, r.tot_ok = int(data[0]), int(data[1]), int(data[2])
        r.shapes = {str(k): int(v) for k, v in data[3].items()}
        r.children = {str(k): cls.from_json(v) for k, v in data[4].items()}
        if data[5]:
            r.kinds = {str(k): int(v) for k, v in data[5].items()}
        if len(data) > 6:
            r.methods = int(data[6])
        return r


class TemplateNode:
    """One template position: literal children and at most one parameter child."""

    __slots__ = ("lits", "param", "ptype", "pwords", "shaped", "stypes")

    def __init__(self) -> None:
        self.lits: dict[str, TemplateNode] = {}
        self.param: TemplateNode | None = None
        self.ptype = "string"  # type of the parameter child's values
        self.pwords = False  # parameter absorbs word-like values (slugs), not only typed ids
        # Children whose segment has parameters inside it, by pattern ("Products({})", "{}.json"),
        # and the types of their slots ("integer", "string,string"). None when there are none.
        self.shaped: dict[str, TemplateNode] | None = None
        self.stypes: dict[str, str] | None = None

    def to_json(self) -> list[Any]:
        out = [
            {k: c.to_json() for k, c in self.lits.items()},
            self.param.to_json() if self.param is not None else None,
            self.ptype,
            self.pwords,
        ]
        if self.shaped:
            assert self.stypes is not None
            out.append({k: [self.stypes[k], c.to_json()] for k, c in self.shaped.items()})
        return out

    @classmethod
    def from_json(cls, data: list[Any]) -> TemplateNode:
        t = cls()
        t.lits = {str(k): cls.from_json(v) for k, v in data[0].items()}
        t.param = cls.from_json(data[1]) if data[1] is not None else None
        t.ptype = str(data[2])
        t.pwords = bool(data[3])
        if len(data) > 4 and data[4]:
            t.shaped = {str(k): cls.from_json(v[1]) for k, v in data[4].items()}
            t.stypes = {str(k): str(v[0]) for k, v in data[4].items()}
        return t


class HostState:
    """Everything the templater knows about one service."""

    __slots__ = (
        "raw",
        "tree",
        "version",
        "obs",
        "pending",
        "built_obs",
        "issued",
        "vocab",
        "dicts",
        "full_obs",
        "full_vocab",
        "noise",
        "sticky",
        "proofs",
        "checkpoint_due",
        "settled",
    )

    def __init__(self) -> None:
        self.raw = RawNode()
        self.tree = TemplateNode()
        self.version = 0  # bumped at every rebuild; invalidates the match memo
        self.obs = 0
        self.pending = 0  # non-404 observations that did not fit the tree since the last rebuild
        self.built_obs = 0  # self.obs at the last rebuild
        # (method, template) -> up to settings.samples concrete paths that produced it, each with
        # the template-tree node its walk ended on (an unchanged node after a fold means an
        # unchanged template: a tree node has one path from the root). Re-matched after every
        # fold to detect merges.
        self.issued: dict[tuple[str, str], list[tuple[str, TemplateNode | None]]] = {}
        # Words seen followed by a typed id ("albums" in /albums/{id}): collection names, kept
        # literal wherever they appear beside other words ("/me/albums", "/me/tracks").
        self.vocab: set[str] = set()
        # Values of word parameters proven by the last fold, by the literal before them: lets thin
        # positions ("/apis/rare.group/v1/namespaces/default") reuse what busy ones proved
        # ("default" is a namespace, not a route).
        self.dicts: dict[str, set[str]] = {}
        # Incremental folds reuse clean sub-trees; a full fold (every cache ignored) runs when
        # traffic doubled or the collection vocabulary grew since the last full one, so slowly
        # drifting evidence (counts, tails, dictionaries) is re-judged everywhere now and then.
        self.full_obs = 0
        self.full_vocab = 0
        # Paths that only ever got 404 (scanner probes): path -> requests. Bounded.
        self.noise: dict[str, int] = {}
        # Template positions ("/repos/{}") once proven to hold a word parameter (hysteresis).
        self.sticky: set[str] = set()
        self.proofs: dict[str, int] = {}  # position -> its traffic when first proven
        self.checkpoint_due = False  # the host reached a checkpoint (Templater.observe)
        # The tree is the fixed point of a consolidation and no fold ran since (not persisted: a
        # restored host is consolidated again, which reaches the same fixed point).
        self.settled = False
