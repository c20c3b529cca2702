"""Online endpoint templating: concrete URL paths -> endpoint templates, per service.

How it works
------------
* Every observed path goes into a per-host *raw trie* of concrete segments with request counts,
  non-404 counts, methods and response shapes. Observing is a few dict operations.
* From time to time (geometric schedule, so the amortised cost stays constant) the raw trie is
  folded top-down into a *template tree*. At each position the concrete child values are split
  into one parameter group and literals:
    - values whose shape proves they are data (integers, UUIDs, hashes, dates, emails...) are
      parameters from the first sighting, except numbers/dates sitting where API versions sit;
    - word-like values (slugs, usernames, currencies) are parameters only on evidence across
      requests: many distinct values with a long tail of one-off values, or several values whose
      sub-trees and response shapes agree (same relative paths answer the same shapes) while
      literal siblings ("featured" answering a list where "{slug}" answers an object) conflict;
    - a small vocabulary ("me", "search", "recent"...) and version segments never become
      parameters.
  The raw sub-trees of all values in a parameter group are merged and folded recursively, which
  is what finds consecutive parameters (``/repos/{owner}/{repo}``).
* Paths whose every request got 404 never enter the template tree: scanners probing ``/.env``
  stay unmatched-request statistics.
* Between rebuilds, a path that does not fit the tree gets a provisional template (strongly typed
  segments become parameters, the rest stays literal); the next rebuild may merge it, and the
  merge is reported through ``drain_merges`` so storage can re-home its counts.
* An OpenAPI spec loaded for a host wins over learning whenever one of its templates matches.
* Further evidence carried between positions of one host: words followed somewhere by a typed id
  are collection names (kept literal beside other words: "/me/albums"); values proven to be a
  parameter after a literal ("namespaces") are recognised after the same literal elsewhere, and
  field-like leaf values proven in one place ("/boards/{id}/{field}") elsewhere too.

Cost: typed-id children are compacted into one raw node once folded, so memory and fold cost
follow the number of routes, not of ids; folds are incremental (only sub-trees that saw new
structure are re-folded; a full fold runs when traffic doubled); matches are memoised per
(host, method, path) until the host's next fold. Callers: ``observe`` + ``match`` inline per
request, ``drain_merges`` periodically (it also folds hosts that fell behind), ``flush`` at the
end of a capture or before a report.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from analyzer.templating.values import STRONG_TYPES, classify, is_version

NOISE_STATUSES: frozenset[int] = frozenset({404, 410})
STATE_FORMAT = 1

# Literals that sit beside parameters in real APIs; never absorbed into a parameter.
_RESERVED = """me self current mine my search find query lookup featured recent latest popular trending new
    newest top best all count stats statistics summary export import batch bulk settings config
    configuration info status health healthz ping metrics login logout register signup signin auth
    oauth token refresh upload uploads download history overview random today upcoming archived
    archive active pending drafts draft following followers suggestions suggested autocomplete
    validate verify preview bulk_delete by-email by-name by-date names types schema meta metadata
    public private stream watch events feed timeline version versions changes diff compare
    create update delete remove prune start stop restart kill pause unpause attach wait resize rename
    inspect push pull tag load get json list move copy clone merge close reopen lock unlock enable
    disable cancel approve reject publish unpublish restore reset archive activate deactivate"""
RESERVED_WORDS: frozenset[str] = frozenset(_RESERVED.split())


def _base(seg: str) -> str:
    """Segment without a representation suffix: "Queues.json" is the route "Queues"."""
    head, dot, ext = seg.rpartition(".")
    return head if dot and ext.lower() in ("json", "xml", "csv", "html", "txt", "yaml") else seg


def _reserved(seg: str) -> bool:
    low = seg.lower()
    # "recent.json" is the route "recent" in a given representation.
    return low in RESERVED_WORDS or low.rsplit(".", 1)[0] in RESERVED_WORDS


# Segments after which the next segment is a resource collection, not an id.
API_WORDS: frozenset[str] = frozenset({"", "api", "apis", "rest", "svc", "services", "service", "latest"})
_SHAPE_SPLIT = re.compile(r"[\s,;|]+")
_SPEC_PARAM = re.compile(r"\{([^}/]+)\}")
# Value types that mark their parent segment as a collection name.
_ID_LIKE: frozenset[str] = STRONG_TYPES
# Separates the method from the shape in stored shapes ("GET id,name"); methods have no spaces.
# (No control characters anywhere in the state: it must fit JSON columns such as Postgres jsonb.)
_METHOD_SEP = " "
# drain_merges() folds a host with new structure once it grew by this many observations / share.
_DRAIN_MIN_OBS = 64
_DRAIN_GROWTH = 0.25
_SAMPLES = 4  # sample paths kept per issued template, to tell merges from splits
_DICT_LIMIT = 4096  # remembered word-parameter values per key
# Dictionary of values proven by groups of alike leaves, host-wide. Keys are otherwise path
# segments, which cannot contain a raw "{" (RFC 3986), so this never collides.
_LEAF_KEY = "{leaf}"
_MAX_SHAPES = 8  # distinct response shapes kept per node; more adds nothing to similarity checks
_NOISE_LIMIT = 10_000  # 404-only paths remembered per host
_MAX_SEGMENTS = 64  # deeper paths keep their tail as one segment
_SIG_FANOUT = 48  # children inspected per node when computing a signature (bounded cost)

NAME_SUFFIX: dict[str, str] = {
    "integer": "Id",
    "uuid": "Id",
    "objectid": "Id",
    "ulid": "Id",
    "hex": "Id",
    "token": "Id",
    "code": "Code",
    "date": "Date",
    "datetime": "Time",
    "email": "Email",
    "phone": "Phone",
    "semver": "Version",
    "file": "File",
    "string": "",
}
DEFAULT_NAME: dict[str, str] = {
    "integer": "id",
    "uuid": "id",
    "objectid": "id",
    "ulid": "id",
    "hex": "id",
    "token": "token",
    "code": "code",
    "date": "date",
    "datetime": "time",
    "email": "email",
    "phone": "phone",
    "semver": "version",
    "file": "file",
    "string": "param",
}


@dataclass(frozen=True, slots=True)
class PathParam:
    name: str
    type: str
    index: int  # segment position (0 = first segment after the leading "/")


@dataclass(frozen=True, slots=True)
class TemplateMatch:
    template: str
    params: tuple[PathParam, ...]
    template_id: str


def template_id(host: str, method: str, template: str) -> str:
    """Stable id: same host, method and template give the same id in every process, forever."""
    return hashlib.sha1(f"{host}|{method}|{template}".encode()).hexdigest()[:16]


@lru_cache(maxsize=4096)
def service_name(host: str) -> str:
    """The service a Host names: lower-cased, default port (80/443) and trailing dot dropped.

    Callers pass the Host header, or the server address ("10.0.0.5:8080") when there is none.
    """
    h = host.strip().lower()
    if h.endswith((":80", ":443")):
        h = h.rsplit(":", 1)[0]
    if h.endswith("."):
        h = h[:-1]
    return h


def split_path(path: str) -> list[str]:
    """Segments of a path; a trailing slash is kept as a final empty segment (it is routed apart)."""
    if not path or path == "/":
        return []
    if path[0] == "/":
        path = path[1:]
    segs = path.split("/")
    if len(segs) > _MAX_SEGMENTS:
        # Pathological depth (scanners, path traversal probes): keep the tail as one segment so
        # recursion and the trie stay bounded.
        segs = segs[: _MAX_SEGMENTS - 1] + ["/".join(segs[_MAX_SEGMENTS - 1 :])]
    if "{" in path:
        # Keep concrete segments apart from the raw trie's compaction key (see STAR).
        segs = ["%7B" + seg[1:-1] + "%7D" if seg in (STAR, WSTAR) else seg for seg in segs]
    return segs


_IRREGULAR = {"people": "person", "children": "child", "men": "man", "women": "woman", "mice": "mouse"}


def singular(word: str) -> str:
    w = word
    low = w.lower()
    if low in _IRREGULAR:
        return _IRREGULAR[low]
    if low.endswith("ies") and len(w) > 4:
        return w[:-3] + "y"
    if low.endswith(("sses", "xes", "ches", "shes", "zes")):
        return w[:-2]
    if low.endswith("s") and not low.endswith(("ss", "us", "is")) and len(w) > 3:
        return w[:-1]
    return w


def camel(word: str) -> str:
    parts = [p for p in re.split(r"[^0-9A-Za-z]+", word) if p]
    if not parts:
        return ""
    first = parts[0]
    out = first[0].lower() + first[1:] + "".join(p[0].upper() + p[1:] for p in parts[1:])
    return out if not out[0].isdigit() else "p" + out


# ----------------------------------------------------------------------------------------------
# Raw trie (concrete observations) and template tree (folded result)


# Raw-trie key under which all typed-id children of a node are compacted after a rebuild: typed
# values are parameters for good, so their sub-trees can be merged, which bounds memory and
# rebuild cost by the number of distinct routes instead of the number of distinct ids. A raw "{"
# cannot appear in a path segment (RFC 3986), so no concrete segment collides with it.
STAR = "{*}"
# The same for the values of a word parameter proven with at least _WORD_COMPACT of them.
WSTAR = "{w*}"
_WORD_COMPACT = 1000


_NO_KINDS: dict[str, int] = {}


class _Raw:
    __slots__ = ("children", "end", "end_ok", "tot_ok", "shapes", "kinds", "dirty", "cache", "sig")

    def __init__(self) -> None:
        self.children: dict[str, _Raw] = {}
        self.end = 0  # requests ending exactly here
        self.end_ok = 0  # ... whose status was not a 404
        self.tot_ok = 0  # non-404 requests ending here or below
        self.shapes: dict[str, int] = {}  # "METHOD shape" -> count (shapes are compared per method)
        # STAR nodes only (own dict, set by _compact): value type -> distinct values absorbed.
        # Every other node shares one empty dict that is never written to.
        self.kinds: dict[str, int] = _NO_KINDS
        # Incremental folding: a node is dirty when something below it changed structurally since
        # the last fold; a clean node's last fold result (cache) is reused as is. Not persisted.
        self.dirty = True
        self.cache: tuple[Any, ...] | None = None
        self.sig: dict[str, set[str]] | None = None  # signature as of the last fold (see _signature)

    def absorb(self, other: _Raw) -> None:
        self.dirty = True
        self.end += other.end
        self.end_ok += other.end_ok
        self.tot_ok += other.tot_ok
        for k, v in other.shapes.items():
            if k in self.shapes:
                self.shapes[k] += v
            elif len(self.shapes) < _MAX_SHAPES:
                self.shapes[k] = v
        for k, v in other.kinds.items():
            self.kinds[k] = self.kinds.get(k, 0) + v
        for k, c in other.children.items():
            mine = self.children.get(k)
            if mine is None:
                self.children[k] = c
            else:
                mine.absorb(c)

    def to_json(self) -> list[Any]:
        return [
            self.end,
            self.end_ok,
            self.tot_ok,
            self.shapes,
            {k: c.to_json() for k, c in self.children.items()},
            self.kinds,
        ]

    @classmethod
    def from_json(cls, data: list[Any]) -> _Raw:
        r = cls()
        r.end, r.end_ok, r.tot_ok = int(data[0]), int(data[1]), int(data[2])
        r.shapes = {str(k): int(v) for k, v in data[3].items()}
        r.children = {str(k): cls.from_json(v) for k, v in data[4].items()}
        if data[5]:
            r.kinds = {str(k): int(v) for k, v in data[5].items()}
        return r


class _TNode:
    __slots__ = ("lits", "param", "ptype", "pwords")

    def __init__(self) -> None:
        self.lits: dict[str, _TNode] = {}
        self.param: _TNode | None = None
        self.ptype = "string"  # type of the parameter child's values
        self.pwords = False  # parameter absorbs word-like values (slugs), not only typed ids

    def to_json(self) -> list[Any]:
        return [
            {k: c.to_json() for k, c in self.lits.items()},
            self.param.to_json() if self.param is not None else None,
            self.ptype,
            self.pwords,
        ]

    @classmethod
    def from_json(cls, data: list[Any]) -> _TNode:
        t = cls()
        t.lits = {str(k): cls.from_json(v) for k, v in data[0].items()}
        t.param = cls.from_json(data[1]) if data[1] is not None else None
        t.ptype = str(data[2])
        t.pwords = bool(data[3])
        return t


class _SpecNode:
    __slots__ = ("lits", "params", "ends")

    def __init__(self) -> None:
        self.lits: dict[str, _SpecNode] = {}
        # (pattern or None for a whole-segment parameter, parameter names, child)
        self.params: list[tuple[re.Pattern[str] | None, tuple[str, ...], _SpecNode]] = []
        self.ends: dict[str, str] = {}  # METHOD -> spec template ending here


class _Host:
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
    )

    def __init__(self) -> None:
        self.raw = _Raw()
        self.tree = _TNode()
        self.version = 0  # bumped at every rebuild; invalidates the match memo
        self.obs = 0
        self.pending = 0  # non-404 observations that did not fit the tree since the last rebuild
        self.built_obs = 0  # self.obs at the last rebuild
        # (method, template) -> one concrete path that produced it; re-matched after each rebuild
        # to detect merges.
        # (method, template) -> up to _SAMPLES concrete paths that produced it, each with the
        # template-tree node its walk ended on (an unchanged node after a fold means an unchanged
        # template: a tree node has one path from the root). Re-matched after every fold to
        # detect merges.
        self.issued: dict[tuple[str, str], list[tuple[str, _TNode | None]]] = {}

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


@dataclass(slots=True)
class _Cluster:
    members: list[str]
    sig: dict[str, set[str]]
    evidence: int  # agreeing (relative path, shape) pairs seen while building the cluster
    leaf: bool  # no member has anything below it


class Templater:
    """Online, stable endpoint templating. See the module docstring for the method.

    Inline per request: ``observe(host, method, path, status, response_shape)`` then
    ``match(host, method, path)`` (None: noise). Periodically: ``drain_merges()`` (re-home counts
    of merged templates). At the end of a capture or before a report: ``flush()``. Persistence:
    ``to_state()`` / ``from_state()`` (JSON-safe). Extras: ``load_spec`` (OpenAPI guidance),
    ``noise_stats(host)`` (404-only paths with counts). Hosts go through ``service_name``.
    Not thread-safe: one instance per analyzer worker.
    """

    def __init__(
        self,
        *,
        min_distinct_for_param: int = 10,
        min_distinct_structured: int = 3,
        tail_ratio: float = 0.3,
        rebuild_growth: float = 1.0,
        memo_limit: int = 200_000,
    ) -> None:
        # Word values at one position become a parameter with no structural evidence when there
        # are at least this many distinct ones and a long tail (share seen once >= tail_ratio).
        self.min_distinct_for_param = min_distinct_for_param
        # ... or with at least this many values whose sub-trees / response shapes agree.
        self.min_distinct_structured = min_distinct_structured
        self.tail_ratio = tail_ratio
        # Fold a host inline once its observations grew by this fraction since its last fold
        # (and something new was seen): geometric, so total fold work is linear in traffic.
        self.rebuild_growth = rebuild_growth
        self.memo_limit = memo_limit
        self._hosts: dict[str, _Host] = {}
        self._specs: dict[str, _SpecNode] = {}
        self._spec_ops: dict[str, list[tuple[str, str]]] = {}
        self._memo: dict[tuple[str, str, str], tuple[int, TemplateMatch | None]] = {}
        self._merges: list[tuple[str, str, str, str]] = []
        self._spec_slots: dict[str, tuple[tuple[int, str], ...]] = {}  # template -> (index, name)
        self._end_cache: dict[tuple[str, str, _TNode], TemplateMatch] = {}  # by walk end node
        self._last_split: tuple[str, list[str]] = ("", [])  # observe() -> match() of one request
        self._spec_cache: dict[tuple[str, str, str, tuple[str, ...]], TemplateMatch] = {}
        self._tok_cache: dict[str, frozenset[str]] = {}
        self._render_cache: dict[tuple[str, str, tuple[tuple[str, str], ...]], TemplateMatch] = {}
        self._vocab: frozenset[str] = frozenset()  # collection names of the host being folded
        self._dicts: dict[str, set[str]] = {}  # word-parameter values proven by the last fold
        # Word parameters proven by the fold under way: (literal before them, values).
        self._contrib: list[tuple[str, list[str]]] = []
        self._incremental = False
        self._sticky: set[str] = set()  # sticky positions of the host being folded
        self._proof = False  # the last word-parameter decision rests on a large long tail
        self._proofs: dict[str, int] = {}
        self._last_end: _TNode | None = None  # end node of the last full walk in _match_uncached
        self._walk_end: _TNode | None = None  # end node of the last successful _walk

    # ------------------------------------------------------------------------------------------
    # Public API

    def load_spec(self, host: str, operations: Iterable[tuple[str, str]]) -> None:
        host = service_name(host)
        root = self._specs.setdefault(host, _SpecNode())
        ops = self._spec_ops.setdefault(host, [])
        known = set(ops)
        for method, template in operations:
            m = method.upper()
            if (m, template) in known:
                continue  # the same spec loaded again (re-import, restore)
            known.add((m, template))
            ops.append((m, template))
            node = root
            for seg in split_path(template):
                names = tuple(_SPEC_PARAM.findall(seg))
                if not names:
                    node = node.lits.setdefault(seg, _SpecNode())
                    continue
                pattern: re.Pattern[str] | None = None
                if not _SPEC_PARAM.fullmatch(seg):
                    # Parameter inside a segment ("{month}.json", "lists.{format}").
                    parts = _SPEC_PARAM.split(seg)
                    rx = "".join(re.escape(p) if i % 2 == 0 else "([^/]+?)" for i, p in enumerate(parts))
                    pattern = re.compile(rx)
                for pat, pnames, child in node.params:
                    if pnames == names and (pat.pattern if pat else None) == (
                        pattern.pattern if pattern else None
                    ):
                        node = child
                        break
                else:
                    child = _SpecNode()
                    node.params.append((pattern, names, child))
                    # Whole-segment parameters are tried after in-segment patterns (more specific).
                    node.params.sort(key=lambda p: p[0] is None)
                    node = child
            node.ends.setdefault(m, template)
        self._bump(host)

    def observe(
        self, host: str, method: str, path: str, status: int | None, response_shape: str | None = None
    ) -> None:
        host = service_name(host)
        hs = self._hosts.get(host)
        if hs is None:
            hs = self._hosts[host] = _Host()
        ok = status not in NOISE_STATUSES
        hs.obs += 1
        segs = split_path(path)
        self._last_split = (path, segs)  # match() of the same path usually follows
        if not ok:
            # 404s never shape templates. On a known path they are counted there; anything else
            # is an unmatched-request statistic, kept apart (and bounded) so that scanners
            # fuzzing random paths cannot grow the trie.
            known = self._raw_lookup(hs.raw, segs)
            if known is not None:
                known.end += 1
            elif path in hs.noise or len(hs.noise) < _NOISE_LIMIT:
                hs.noise[path] = hs.noise.get(path, 0) + 1
            return
        hs.noise.pop(path, None)
        node = hs.raw
        new = False
        node.tot_ok += 1
        prev = ""
        trail = [node]
        for seg in segs:
            child = node.children.get(seg)
            if child is None:
                child = node.children[seg] = _Raw()
                new = True
                if prev and classify(seg) in _ID_LIKE and classify(prev) not in STRONG_TYPES:
                    hs.vocab.add(prev)
            node = child
            trail.append(node)
            prev = seg
            node.tot_ok += 1
        node.end += 1
        node.end_ok += 1
        if status is not None and status >= 400:
            response_shape = None  # error bodies are generic envelopes, not the endpoint's shape
        if response_shape is not None:
            # Shapes are compared per method: GET /things lists, POST /things answers one thing.
            response_shape = method + _METHOD_SEP + response_shape
        if response_shape is not None and response_shape not in node.shapes:
            if len(node.shapes) < _MAX_SHAPES:
                node.shapes[response_shape] = 1
                new = new or node.end_ok > 1  # a new shape on a known path can split a group
        elif response_shape is not None:
            node.shapes[response_shape] += 1
        if new or node.end_ok == 1:
            for n in trail:
                n.dirty = True
            # Something the last fold has not seen. Whether it fits the tree is not checked here
            # (that walk would cost every request); the geometric gate bounds rebuilds anyway.
            hs.pending += 1
            if hs.obs - hs.built_obs >= self.rebuild_growth * hs.built_obs:
                self._rebuild(host, hs)

    def match(self, host: str, method: str, path: str) -> TemplateMatch | None:
        host = service_name(host)
        key = (host, method, path)
        hs = self._hosts.get(host)
        version = hs.version if hs is not None else -1
        hit = self._memo.get(key)
        if hit is not None and hit[0] == version:
            return hit[1]
        result = self._match_uncached(host, hs, method, path)
        if hs is not None and hs.version != version:
            version = hs.version  # a rebuild happened while matching
        if len(self._memo) >= self.memo_limit:
            self._memo.clear()
        self._memo[key] = (version, result)
        if result is not None and hs is not None:
            key2 = (method, result.template)
            samples = hs.issued.get(key2)
            if samples is None:
                hs.issued[key2] = [(path, self._last_end)]
            elif len(samples) < _SAMPLES and all(path != p for p, _ in samples):
                samples.append((path, self._last_end))
        return result

    def drain_merges(self) -> list[tuple[str, str, str, str]]:
        """Merges since the last call: (host, method, old template, new template).

        Storage calls this periodically to re-home counts, so it is also where templating catches
        up: hosts that saw new structure since their last fold (and grew a little) are folded now,
        instead of waiting for the geometric schedule of the inline path.
        """
        for host, hs in self._hosts.items():
            grown = hs.obs - hs.built_obs
            if hs.pending and grown >= max(_DRAIN_MIN_OBS, _DRAIN_GROWTH * hs.built_obs):
                self._rebuild(host, hs)
        out, self._merges = self._merges, []
        return out

    def flush(self) -> None:
        """Fold every host with pending observations now (e.g. before a report or shutdown)."""
        for host, hs in self._hosts.items():
            if hs.pending:
                self._rebuild(host, hs)

    def to_state(self) -> dict[str, Any]:
        return {
            "format": STATE_FORMAT,
            "params": {
                "min_distinct_for_param": self.min_distinct_for_param,
                "min_distinct_structured": self.min_distinct_structured,
                "tail_ratio": self.tail_ratio,
                "rebuild_growth": self.rebuild_growth,
                "memo_limit": self.memo_limit,
            },
            "specs": {h: [list(op) for op in ops] for h, ops in self._spec_ops.items()},
            "hosts": {
                h: {
                    "raw": hs.raw.to_json(),
                    "tree": hs.tree.to_json(),
                    "version": hs.version,
                    "obs": hs.obs,
                    "pending": hs.pending,
                    "built_obs": hs.built_obs,
                    "issued": [[m, t, [p for p, _ in ps]] for (m, t), ps in hs.issued.items()],
                    "vocab": sorted(hs.vocab),
                    "dicts": {k: sorted(v) for k, v in hs.dicts.items()},
                    "full": [hs.full_obs, hs.full_vocab],
                    "noise": hs.noise,
                    "sticky": sorted(hs.sticky),
                    "proofs": hs.proofs,
                }
                for h, hs in self._hosts.items()
            },
            "merges": [list(m) for m in self._merges],
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Templater:
        if state.get("format") != STATE_FORMAT:
            raise ValueError(f"unsupported templater state format {state.get('format')!r}")
        self = cls(**state["params"])
        for host, ops in state["specs"].items():
            self.load_spec(host, [(m, t) for m, t in ops])
        for host, data in state["hosts"].items():
            hs = _Host()
            hs.raw = _Raw.from_json(data["raw"])
            hs.tree = _TNode.from_json(data["tree"])
            hs.version, hs.obs = int(data["version"]), int(data["obs"])
            hs.pending, hs.built_obs = int(data["pending"]), int(data["built_obs"])
            hs.issued = {(m, t): [(p, None) for p in ps] for m, t, ps in data["issued"]}
            hs.vocab = set(data["vocab"])
            hs.dicts = {k: set(v) for k, v in data["dicts"].items()}
            hs.full_obs, hs.full_vocab = int(data["full"][0]), int(data["full"][1])
            hs.noise = {str(k): int(v) for k, v in data["noise"].items()}
            hs.sticky = set(data["sticky"])
            hs.proofs = {str(k): int(v) for k, v in data["proofs"].items()}
            self._hosts[host] = hs
        self._merges = [(a, b, c, d) for a, b, c, d in state["merges"]]
        return self

    # ------------------------------------------------------------------------------------------
    # Matching

    def _bump(self, host: str) -> None:
        hs = self._hosts.get(host)
        if hs is not None:
            hs.version += 1
        else:
            # Spec for a host not seen yet: memo entries keyed by version -1 must go.
            self._memo = {k: v for k, v in self._memo.items() if k[0] != host}

    def _match_uncached(self, host: str, hs: _Host | None, method: str, path: str) -> TemplateMatch | None:
        last = self._last_split
        segs = last[1] if last[0] == path else split_path(path)
        self._last_end = None
        spec = self._specs.get(host)
        if spec is not None:
            found = self._spec_match(spec, segs, 0, method, {})
            if found is not None:
                if (
                    hs is not None
                    and any(classify(v) not in STRONG_TYPES for v in found[1].values())
                    and self._only_404(hs, path, segs)
                ):
                    # Same noise rule as for learned templates: a path that only ever got 404
                    # and fits only through a free-text parameter is a probe ("/config.json").
                    return None
                return self._spec_result(host, method, found, segs)
        if hs is None or hs.raw.tot_ok == 0:
            return None
        marks: list[_TNode | None] = []
        full = self._walk(hs.tree, segs, 0, marks)
        if not full and hs.pending and hs.obs - hs.built_obs >= self.rebuild_growth * hs.built_obs:
            self._rebuild(host, hs)
            marks = []
            full = self._walk(hs.tree, segs, 0, marks)
        # Only ever answered 404. Inside a typed parameter it is a real endpoint asked for a missing
        # object; anywhere else it is noise (a scanner probe).
        if (not full or any(m is not None and m.pwords for m in marks)) and self._only_404(hs, path, segs):
            return None
        if full:
            end = self._last_end = self._walk_end
            # A tree node has one path from the root, so it alone fixes the template.
            hit = self._end_cache.get((host, method, end))
            if hit is not None:
                return hit
        else:
            end = self._last_end = None
            marks = []
            self._walk_prefix(hs.tree, segs, marks)
        kinds: list[tuple[str, str]] = []  # (literal value or "", type or "") per segment
        for i, seg in enumerate(segs):
            if i < len(marks):
                m = marks[i]
                kinds.append(("", m.ptype) if m is not None else (seg, ""))
                continue
            t = classify(seg)
            if t in STRONG_TYPES and not self._version_context(segs, i, kinds):
                kinds.append(("", t))
            else:
                kinds.append((seg, ""))
        result = self._render(host, method, kinds)
        if end is not None:
            if len(self._end_cache) >= self.memo_limit:
                self._end_cache.clear()
            self._end_cache[(host, method, end)] = result
        return result

    @staticmethod
    def _version_context(segs: list[str], i: int, kinds: list[tuple[str, str]]) -> bool:
        """A number or date right under the root or an "api"-like literal is an API version."""
        t = classify(segs[i])
        if t not in ("integer", "date") or (t == "integer" and len(segs[i]) > 4):
            return False
        if any(k[1] for k in kinds[:i]):
            return False
        prev = segs[i - 1].lower() if i else ""
        return prev in API_WORDS or is_version(prev)

    def _walk(self, t: _TNode, segs: list[str], i: int, marks: list[_TNode | None]) -> bool:
        """Full match; literal beats parameter. Greedy first (almost always right), then backtrack."""
        if i == 0:
            node = t
            accepts = self._accepts
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
                self._walk_end = node
                return True
            marks.clear()
        return self._walk_bt(t, segs, i, marks)

    def _walk_bt(self, t: _TNode, segs: list[str], i: int, marks: list[_TNode | None]) -> bool:
        if i == len(segs):
            self._walk_end = t
            return True
        seg = segs[i]
        child = t.lits.get(seg)
        if child is not None:
            marks.append(None)
            if self._walk_bt(child, segs, i + 1, marks):
                return True
            del marks[i:]
        if t.param is not None and self._accepts(t, seg):
            marks.append(t)
            if self._walk_bt(t.param, segs, i + 1, marks):
                return True
            del marks[i:]
        return False

    def _walk_prefix(self, t: _TNode, segs: list[str], marks: list[_TNode | None]) -> None:
        for seg in segs:
            child = t.lits.get(seg)
            if child is not None:
                marks.append(None)
                t = child
            elif t.param is not None and self._accepts(t, seg):
                marks.append(t)
                t = t.param
            else:
                return

    @staticmethod
    def _accepts(t: _TNode, seg: str) -> bool:
        typ = classify(seg)
        if typ in STRONG_TYPES:
            return True
        if typ in ("empty", "version") or _reserved(seg):
            return False
        return t.pwords

    def _only_404(self, hs: _Host, path: str, segs: list[str]) -> bool:
        if path in hs.noise:
            return True
        raw = self._raw_lookup(hs.raw, segs)
        return raw is not None and raw.end > 0 and raw.end_ok == 0

    def noise_stats(self, host: str) -> dict[str, int]:
        """Paths of this host that only ever got 404 (not endpoints), with request counts."""
        hs = self._hosts.get(service_name(host))
        return dict(hs.noise) if hs is not None else {}

    @staticmethod
    def _raw_lookup(raw: _Raw, segs: list[str]) -> _Raw | None:
        node: _Raw | None = raw
        for seg in segs:
            node = node.children.get(seg)
            if node is None:
                return None
        return node

    def _render(self, host: str, method: str, kinds: list[tuple[str, str]]) -> TemplateMatch:
        key = (host, method, tuple(kinds))
        hit = self._render_cache.get(key)
        if hit is None:
            if len(self._render_cache) >= self.memo_limit:
                self._render_cache.clear()
            hit = self._render_cache[key] = self._render_new(host, method, kinds)
        return hit

    def _render_new(self, host: str, method: str, kinds: list[tuple[str, str]]) -> TemplateMatch:
        parts: list[str] = []
        params: list[PathParam] = []
        used: set[str] = set()
        prev_lit = ""
        run = 0
        for i, (lit, typ) in enumerate(kinds):
            if not typ:
                parts.append(lit)
                if lit and not is_version(lit) and not lit.isdigit():
                    prev_lit = lit
                    run = 0
                continue
            run += 1
            base = camel(singular(prev_lit)) if prev_lit else ""
            suffix = NAME_SUFFIX.get(typ, "")
            if not base:
                name = DEFAULT_NAME.get(typ, "param")
            elif suffix and base.lower().endswith(suffix.lower()):
                name = base  # "by-email" + "Email" -> "byEmail", "userId" + "Id" -> "userId"
            else:
                name = base + suffix
            if run > 1 and name in used:
                name = f"{name}{run}"
            k = 2
            unique = name
            while unique in used:
                unique = f"{name}{k}"
                k += 1
            used.add(unique)
            parts.append("{" + unique + "}")
            params.append(PathParam(unique, typ, i))
        template = "/" + "/".join(parts)
        return TemplateMatch(template, tuple(params), template_id(host, method, template))

    def _spec_match(
        self, node: _SpecNode, segs: list[str], i: int, method: str, seen: dict[str, str]
    ) -> tuple[str, dict[str, str]] | None:
        """Backtracking match against the spec trie: literal, then in-segment patterns, then
        whole-segment parameters. Returns the template and the value of each parameter."""
        if i == 0:
            # Greedy pass first (the same preference order, no backtracking): almost always right.
            cur = node
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
                    break
            else:
                if cur.ends:
                    return cur.ends.get(method) or next(iter(cur.ends.values())), dict(seen)
            seen.clear()
        if i == len(segs):
            if not node.ends:
                return None
            tpl = node.ends.get(method) or next(iter(node.ends.values()))
            return tpl, dict(seen)
        seg = segs[i]
        child = node.lits.get(seg)
        if child is not None:
            found = self._spec_match(child, segs, i + 1, method, seen)
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
            found = self._spec_match(sub, segs, i + 1, method, seen)
            for name in bound:
                del seen[name]
            if found is not None:
                return found
        return None

    def _spec_result(
        self, host: str, method: str, found: tuple[str, dict[str, str]], segs: list[str]
    ) -> TemplateMatch:
        template, values = found
        slots = self._spec_slots.get(template)
        if slots is None:
            slots = self._spec_slots[template] = tuple(
                (i, name) for i, seg in enumerate(split_path(template)) for name in _SPEC_PARAM.findall(seg)
            )
        types = tuple(classify(values.get(name, "")) for _, name in slots)
        key = (host, method, template, types)
        hit = self._spec_cache.get(key)
        if hit is None:
            params = tuple(
                PathParam(name, typ if typ in STRONG_TYPES else "string", i)
                for (i, name), typ in zip(slots, types, strict=True)
            )
            if len(self._spec_cache) >= self.memo_limit:
                self._spec_cache.clear()
            hit = self._spec_cache[key] = TemplateMatch(template, params, template_id(host, method, template))
        return hit

    # ------------------------------------------------------------------------------------------
    # Folding the raw trie into the template tree

    def _rebuild(self, host: str, hs: _Host) -> None:
        self._vocab = frozenset(hs.vocab)
        self._dicts = hs.dicts
        self._contrib = []
        full = hs.obs >= 2 * hs.full_obs or len(hs.vocab) != hs.full_vocab
        self._incremental = not full
        if full:
            hs.full_obs, hs.full_vocab = hs.obs, len(hs.vocab)
        self._sticky = hs.sticky
        self._proofs = hs.proofs
        hs.tree = self._fold([hs.raw], "root", "", "")
        dicts: dict[str, set[str]] = {}
        for key, params in self._contrib:
            known = dicts.setdefault(key, set())
            if len(known) < _DICT_LIMIT:
                known.update(params[: _DICT_LIMIT - len(known)])
        hs.dicts = dicts
        hs.version += 1
        hs.pending = 0
        hs.built_obs = hs.obs
        self._rehome(host, hs)

    def _rehome(self, host: str, hs: _Host) -> None:
        """Re-match the sample paths of every template handed out; report whole moves as merges.

        A template whose samples all moved to one new template was merged (storage moves its
        counts). One whose samples went different ways was split: nothing is reported, since
        moving all of its counts anywhere would be wrong; the samples are re-registered.
        """
        changed: list[tuple[tuple[str, str], list[tuple[str | None, str, _TNode | None]]]] = []
        for key, samples in hs.issued.items():
            outcome: list[tuple[str | None, str, _TNode | None]] = []
            moved = False
            for path, end in samples:
                if end is not None:
                    marks: list[_TNode | None] = []
                    if self._walk(hs.tree, split_path(path), 0, marks) and self._walk_end is end:
                        outcome.append((key[1], path, end))
                        continue
                new = self._match_uncached(host, hs, key[0], path)
                tpl = new.template if new is not None else None
                outcome.append((tpl, path, self._last_end))
                moved = moved or (tpl is not None and tpl != key[1])
            if moved:
                changed.append((key, outcome))
            else:
                hs.issued[key] = [(p, e) for _, p, e in outcome]
        for key, outcome in changed:
            method, old = key
            stay = [(p, e) for tpl, p, e in outcome if tpl in (old, None)]
            targets = {tpl for tpl, _, _ in outcome if tpl not in (old, None)}
            if stay:
                hs.issued[key] = stay
            else:
                del hs.issued[key]
                if len(targets) == 1:
                    self._merges.append((host, method, old, next(iter(targets))))
            for tpl, p, e in outcome:
                if tpl in (old, None):
                    continue
                dest = hs.issued.setdefault((method, tpl), [])
                if len(dest) < _SAMPLES and all(p != q for q, _ in dest):
                    dest.append((p, e))

    def _fold(self, raws: list[_Raw], prev_kind: str, prev_seg: str, pos: str) -> _TNode:
        head = raws[0]
        cached = head.cache
        if (
            self._incremental
            and cached is not None
            and cached[0] == prev_kind
            and cached[1] == prev_seg
            and len(cached[2]) == len(raws)
            and all(a is b for a, b in zip(cached[2], raws, strict=True))
            and not any(r.dirty for r in raws)
        ):
            self._contrib.extend(cached[4])
            return cached[3]
        start = len(self._contrib)
        t = self._fold_new(raws, prev_kind, prev_seg, pos)
        for r in raws:
            r.dirty = False
        head.cache = (prev_kind, prev_seg, tuple(raws), t, self._contrib[start:])
        return t

    def _fold_new(self, raws: list[_Raw], prev_kind: str, prev_seg: str, pos: str) -> _TNode:
        """Fold the raw nodes at one template position (pos: the template prefix, "/{}" for
        parameters) into a template node."""
        t = _TNode()
        vals: dict[str, list[_Raw]] = {}
        for r in raws:
            for seg, c in r.children.items():
                if c.tot_ok:
                    lst = vals.get(seg)
                    if lst is None:
                        vals[seg] = [c]
                    else:
                        lst.append(c)
        if not vals:
            return t
        strong: list[str] = []
        words: list[str] = []
        literals: list[str] = []
        version_ctx = prev_kind == "root" or (
            prev_kind == "lit"
            and (
                prev_seg.lower() in API_WORDS
                or is_version(prev_seg)
                # a number or date kept literal is an API version ("/rest/api/2", "/2010-04-01")
                or classify(prev_seg) in ("integer", "date")
            )
        )
        vocab = self._vocab
        sticky = WSTAR in vals
        for seg in vals:
            if seg == STAR:
                strong.append(seg)
                continue
            if seg == WSTAR:
                continue
            typ = classify(seg)
            if typ in STRONG_TYPES:
                strong.append(seg)
            elif typ in ("empty", "version") or _reserved(seg) or _base(seg) in vocab:
                literals.append(seg)
            else:
                words.append(seg)
        if version_ctx and strong:
            # "/2010-04-01/...", "/1/...", "/api/2/...": one or two numbers/dates under the root
            # or an "api" literal, each carrying a sub-tree, are versions. Many are ids.
            versiony = [
                s
                for s in strong
                if s != STAR
                and classify(s) in ("integer", "date")
                and len(s) <= 10
                and any(c.tot_ok and c.children for c in vals[s])
            ]
            if versiony and len(versiony) == len(strong) and len(strong) <= 2:
                literals.extend(strong)
                strong = []
        elif prev_kind == "lit" and len(strong) == 1 and not words:
            # "/rest/auth/1/session": one small number, asked for again and again and never
            # another value beside it, after a singular word ("auth"), is a version, not an id
            # (ids spread over many values and follow plural collections: "/accounts/1").
            only = strong[0]
            if (
                only != STAR
                and not _base(prev_seg).lower().endswith("s")
                and classify(only) == "integer"
                and len(only) <= 2
                and sum(c.tot_ok for c in vals[only]) >= 3
                and any(c.children for c in vals[only])
            ):
                literals.append(only)
                strong = []
        if sticky:
            # A word parameter proven on a large scale earlier (its values were compacted): new
            # words join it unless their answers contradict it.
            ref = self._signature(vals[WSTAR])
            word_params = [WSTAR] + [w for w in words if self._fits_group(self._signature(vals[w]), ref)]
        else:
            sticky = pos in self._sticky
            self._proof = False
            word_params = self._word_params(words, vals, prev_kind, prev_seg, version_ctx, strong, sticky)
            if word_params and self._proof:
                # Hysteresis: a position proven a parameter on a large long tail, and proven
                # again once its traffic doubled, stays one (values that contradict it still stay
                # literal), so templates do not flap as the share of one-off values drifts.
                seen = sum(r.tot_ok for r in raws)
                first = self._proofs.setdefault(pos, seen)
                if seen >= 2 * first:
                    self._sticky.add(pos)
                    del self._proofs[pos]
        if word_params:
            chosen = set(word_params)
            literals.extend(w for w in words if w not in chosen)
        else:
            literals.extend(words)
        group = strong + word_params
        if group:
            types: dict[str, int] = {}
            for seg in group:
                if seg in (STAR, WSTAR):
                    for r in vals[seg]:
                        for k, v in r.kinds.items():
                            types[k] = types.get(k, 0) + v
                else:
                    typ = classify(seg)
                    types[typ] = types.get(typ, 0) + 1
            merged: list[_Raw] = []
            if len(strong) >= 3 or STAR in strong:
                # Not with one or two values: those may still turn out to be versions.
                self._compact(raws, strong)
                for r in raws:
                    star = r.children.get(STAR)
                    if star is not None and star.tot_ok:
                        merged.append(star)
            else:
                for seg in strong:
                    merged.extend(vals[seg])
            if sticky or len(word_params) >= _WORD_COMPACT:
                # Bound memory on huge word parameters (usernames, slugs): their values are
                # compacted like typed ids, and the decision becomes sticky (see above).
                self._compact(raws, [w for w in word_params if w != WSTAR], WSTAR)
                for r in raws:
                    wstar = r.children.get(WSTAR)
                    if wstar is not None and wstar.tot_ok:
                        merged.append(wstar)
            else:
                for seg in word_params:
                    merged.extend(vals[seg])
            t.param = self._fold(merged, "param", "", pos + "/{}")
            t.pwords = bool(word_params)
            t.ptype = self._group_type(types)
        for seg in literals:
            t.lits[seg] = self._fold(vals[seg], "lit", seg, pos + "/" + seg)
        return t

    @staticmethod
    def _compact(raws: list[_Raw], values: list[str], key: str = STAR) -> None:
        """Merge each parent's children named in values into its compaction child (see STAR)."""
        keys = [s for s in values if s not in (STAR, WSTAR)]
        if not keys:
            return
        for r in raws:
            star = r.children.get(key)
            for seg in keys:
                child = r.children.pop(seg, None)
                if child is None:
                    continue
                if star is None:
                    star = r.children[key] = _Raw()
                    star.kinds = {}
                typ = classify(seg)
                star.kinds[typ] = star.kinds.get(typ, 0) + 1
                star.absorb(child)

    @staticmethod
    def _group_type(types: dict[str, int]) -> str:
        if len(types) == 1:
            typ = next(iter(types))
            return "string" if typ == "word" else typ
        total = sum(types.values())
        typ, n = max(sorted(types.items()), key=lambda kv: kv[1])
        # A clear majority names the type; mixed ids and slugs are plain strings.
        return typ if typ != "word" and n >= 0.9 * total else "string"

    def _word_params(
        self,
        words: list[str],
        vals: dict[str, list[_Raw]],
        prev_kind: str,
        prev_seg: str,
        version_ctx: bool,
        strong: list[str],
        sticky: bool = False,
    ) -> list[str]:
        """Which word-like values at one position are parameter values (the rest are literals).

        Values are grouped by their signature (relative sub-paths -> response shapes). A value
        joins a group it agrees with; one that contradicts every group it overlaps starts its
        own; one that overlaps nothing is neutral (no evidence either way, e.g. an owner whose
        repositories nobody else has). The largest group plus the neutral values is the
        parameter candidate, accepted on a long tail of one-off values or on agreeing structure.
        """
        if not words:
            return []
        counts = {w: sum(c.tot_ok for c in vals[w]) for w in words}
        # Values the previous fold proved on evidence after the same literal elsewhere in this
        # host. (Only evidence-based decisions are remembered, so a mistake cannot feed itself.)
        params = self._word_params_evidence(
            words, vals, counts, prev_kind, prev_seg, version_ctx, strong, sticky
        )
        if params:
            if prev_kind == "lit":
                self._contrib.append((prev_seg, params))
            return params
        same = self._dicts.get(prev_seg) if prev_kind == "lit" else None
        if same:
            known = [w for w in words if w in same]
            if known and len(known) * 2 >= len(words):
                return list(words)
        return []

    def _word_params_evidence(
        self,
        words: list[str],
        vals: dict[str, list[_Raw]],
        counts: dict[str, int],
        prev_kind: str,
        prev_seg: str,
        version_ctx: bool,
        strong: list[str],
        sticky: bool,
    ) -> list[str]:
        if len(words) < 2 and not sticky:
            return []
        order = sorted(words, key=lambda w: (-counts[w], w))
        clusters: list[_Cluster] = []
        neutral: list[str] = []
        for w in order:
            sig = self._signature(vals[w])
            if not sig:
                neutral.append(w)
                continue
            home: _Cluster | None = None
            overlapped = False
            for cl in clusters:
                agree, conflict = self._compare(sig, cl.sig)
                # One odd answer among many agreeing sub-paths is noise (a dropped optional key);
                # sub-resources that merely share an envelope agree on little and conflict more.
                if agree > 0 and agree >= 3 * conflict:
                    home = cl
                    cl.evidence += agree
                    break
                overlapped = overlapped or conflict > 0
            if home is not None:
                home.members.append(w)
                home.leaf = home.leaf and not any(c.children for c in vals[w])
                for k, v in sig.items():
                    home.sig.setdefault(k, set()).update(v)
            elif overlapped or not clusters or sig.get(""):
                # Its own answer is evidence enough to found a group (a leaf "/ohio.json" beside
                # "/api"); only values known solely through unrelated sub-paths stay neutral.
                leaf = not any(c.children for c in vals[w])
                clusters.append(_Cluster([w], {k: set(v) for k, v in sig.items()}, 0, leaf))
            else:
                neutral.append(w)
        n = len(words)
        best = max(clusters, key=lambda c: (len(c.members), c.evidence)) if clusters else None
        best_members = best.members if best is not None else []
        candidate = best_members + neutral
        if best is not None:
            # For the long-tail test, groups that never contradict the largest one only lacked a
            # common sub-path or method to prove it (one value seen by GET, another by PATCH).
            extra = [
                w
                for cl in clusters
                if cl is not best and self._compare(cl.sig, best.sig)[1] == 0
                for w in cl.members
            ]
            candidate.extend(extra)
        singles = sum(1 for w in candidate if counts[w] == 1)
        tail = singles / len(candidate) if candidate else 0.0
        # Long tail: many distinct values, a good share of them seen once, and they dominate the
        # position. Right after the root or an "api"/version literal, where resource collections
        # sit and rare ones make a tail of their own, ask for more.
        need_n = self.min_distinct_for_param * (2 if version_ctx else 1)
        need_tail = self.tail_ratio * (1.5 if version_ctx else 1.0)
        if sticky or (len(candidate) >= need_n and tail >= need_tail and len(candidate) >= 0.6 * n):
            self._proof = not version_ctx and len(candidate) >= 2 * need_n
            if version_ctx:
                # Right after an API root, a value answering on its own that never met the
                # proven group is a rarely used route ("/api/v1/purge" beside "/api/v1/{account}").
                extra = []
            if len(best_members) >= 3:
                # A value without proof that is busier than every proven one is a route
                # ("/api/v1/billing" beside account slugs), not the head of the distribution.
                top = max(counts[w] for w in best_members)
                return best_members + [w for w in extra + neutral if counts[w] <= top]
            return candidate
        if strong:
            # Beside typed ids, words are routes ("/orders/recent" next to "/orders/{id}") unless
            # several of them answer exactly like the ids do ("/es/{page}.json", "/es/ohio.json").
            id_sig: dict[str, set[str]] = {}
            for seg in strong[:64]:
                for k, v in self._signature(vals[seg]).items():
                    id_sig.setdefault(k, set()).update(v)
            alike = []
            for cl in clusters:
                if not cl.leaf:
                    continue
                agree, conflict = self._compare(cl.sig, id_sig)
                if agree and not conflict:
                    alike.extend(cl.members)
            if len(alike) >= 3:
                return alike
        if best is None:
            return []
        size = len(best_members)
        if best.leaf:
            # Leaves answering alike ("/rates/USD", "/rates/EUR"; "/boards/{id}/name"): only one
            # agreeing relative path each, so ask for more of them (shapeless leaves count).
            loose = [w for w in neutral if counts[w] <= 2 and not any(c.children for c in vals[w])]
            if size >= self.min_distinct_structured and size + len(loose) >= 4 and best.evidence >= size - 1:
                self._contrib.append((_LEAF_KEY, best_members))
                return best_members + loose
            known = self._dicts.get(_LEAF_KEY)
            if known and size >= 2 and sum(w in known for w in best_members) >= 2:
                # Field-like leaves proven elsewhere in the host ("/boards/{id}/{field}" taught
                # that name/desc/closed are values): two of them answering alike here suffice.
                return best_members + loose
            return best_members if self._rare_ids(best_members, counts, prev_kind, prev_seg) else []
        if strong:
            return []
        if version_ctx:
            return []
        if prev_kind != "lit" and size < 2 * self.min_distinct_for_param:
            # A handful of agreeing sub-trees right after a parameter are sub-resources sharing a
            # generic envelope (Kubernetes kinds); dozens of them are values ("/{owner}/{repo}").
            return []
        if size >= self.min_distinct_structured and best.evidence >= size - 1:
            return best_members + [w for w in neutral if counts[w] <= 2]
        return best_members if self._rare_ids(best_members, counts, prev_kind, prev_seg) else []

    @staticmethod
    def _rare_ids(members: list[str], counts: dict[str, int], prev_kind: str, prev_seg: str) -> bool:
        """Two or more values under a plural collection literal, each seen at most twice, with
        matching structure: ids of a rarely used endpoint."""
        low = _base(prev_seg).lower()
        return (
            prev_kind == "lit"
            and len(members) >= 2
            and all(counts[w] <= 2 for w in members)
            and low.endswith("s")
            and not low.endswith("ss")
        )

    def _signature(self, raws: list[_Raw]) -> dict[str, set[str]]:
        """Relative paths (typed children generalised) below a value -> response shapes there."""
        if len(raws) == 1:
            r = raws[0]
            if not r.dirty and r.sig is not None:
                return r.sig
            r.sig = self._signature_new(raws)
            return r.sig
        return self._signature_new(raws)

    def _signature_new(self, raws: list[_Raw]) -> dict[str, set[str]]:
        sig: dict[str, set[str]] = {}
        for r in raws:
            if r.end_ok:
                sig.setdefault("", set()).update(r.shapes)
            for i, (seg, c) in enumerate(r.children.items()):
                if i >= _SIG_FANOUT:
                    break
                if not c.tot_ok:
                    continue
                key = "/" + self._gen_key(seg)
                entry = sig.setdefault(key, set())
                if c.end_ok:
                    entry.update(c.shapes)
                for j, (seg2, c2) in enumerate(c.children.items()):
                    if j >= _SIG_FANOUT:
                        break
                    if c2.tot_ok:
                        entry2 = sig.setdefault(key + "/" + self._gen_key(seg2), set())
                        if c2.end_ok:
                            entry2.update(c2.shapes)
        if len(sig) == 1 and "" in sig and not sig[""]:
            return {}  # a bare endpoint with no response shape says nothing
        return sig

    @staticmethod
    def _gen_key(seg: str) -> str:
        return "{}" if seg in (STAR, WSTAR) or classify(seg) in STRONG_TYPES else seg

    def _fits_group(self, sig: dict[str, set[str]], ref: dict[str, set[str]]) -> bool:
        agree, conflict = self._compare(sig, ref)
        return conflict == 0 or agree >= 3 * conflict

    def _compare(self, a: dict[str, set[str]], b: dict[str, set[str]]) -> tuple[int, int]:
        agree = conflict = 0
        small, big = (a, b) if len(a) <= len(b) else (b, a)
        for k, sa in small.items():
            sb = big.get(k)
            if sb is None:
                continue
            verdict = self._shapes_verdict(sa, sb) if sa and sb else 0
            if verdict > 0:
                agree += 1
            elif verdict < 0:
                conflict += 1
            elif k:
                agree += 1  # the same sub-path exists under both: structural agreement
        return agree, conflict

    def _shapes_verdict(self, sa: set[str], sb: set[str]) -> int:
        """+1 similar, -1 different, 0 no evidence (no informative shapes for a common method)."""
        if sa & sb:
            return 1
        compared = False
        for x in sa:
            mx, _, shape_x = x.partition(_METHOD_SEP)
            tx = self._tokens(shape_x)
            if len(tx) < 2:
                continue  # a bare "[]" or one key says little: unrelated endpoints answer so
            for y in sb:
                my, _, shape_y = y.partition(_METHOD_SEP)
                if mx != my:
                    continue
                ty = self._tokens(shape_y)
                if len(ty) < 2:
                    continue
                compared = True
                if len(tx & ty) * 2 >= len(tx | ty):
                    return 1
        return -1 if compared else 0

    def _tokens(self, shape: str) -> frozenset[str]:
        tok = self._tok_cache.get(shape)
        if tok is None:
            tok = frozenset(t for t in _SHAPE_SPLIT.split(shape) if t)
            if len(self._tok_cache) < 100_000:
                self._tok_cache[shape] = tok
        return tok
