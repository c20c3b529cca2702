"""Online endpoint templating: concrete URL paths -> endpoint templates, per service.

How it works
------------
* Every observed path goes into a per-host *raw trie* of concrete segments with request counts,
  non-404 counts, methods and response shapes (``trie``). Observing is a few dict operations.
* From time to time (geometric schedule, so the amortised cost stays constant) the raw trie is
  folded top-down into a *template tree* (``fold``; the evidence rules are in ``rules``,
  ``wordparams`` and ``similarity``; the tunables in ``settings``).
* Paths whose every request got 404 never enter the template tree: scanners probing ``/.env``
  stay unmatched-request statistics.
* Between rebuilds, a path that does not fit the tree gets a provisional template (strongly typed
  segments become parameters, the rest stays literal); the next rebuild may merge it, and the
  merge is reported through ``drain_merges`` so storage can re-home its counts.
* An OpenAPI spec loaded for a host wins over learning whenever one of its templates matches
  (``spec``).

Matches are memoised per (host, method, path) until the host's next fold. Callers: ``observe`` +
``match`` inline per request, ``drain_merges`` periodically (it also folds hosts that fell
behind), ``flush`` at the end of a capture or before a report.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from analyzer.templating.fold import Folder
from analyzer.templating.insegment import SHAPED_STAR_PREFIX, segment_shape, typed_core
from analyzer.templating.matcher import Marks, ShapedMark, version_context, walk, walk_prefix
from analyzer.templating.model import TemplateMatch, service_name, template_id
from analyzer.templating.naming import SHAPED, render
from analyzer.templating.paths import STAR, WSTAR, is_junk_target, split_path
from analyzer.templating.privacy import Masker, masked_type
from analyzer.templating.settings import TemplaterSettings
from analyzer.templating.similarity import Similarity
from analyzer.templating.spec import SpecIndex
from analyzer.templating.trie import (
    MAX_SHAPES,
    METHOD_BITS,
    METHOD_SEP,
    OTHER_METHOD,
    HostState,
    RawNode,
    TemplateNode,
)
from analyzer.templating.values import LOOSE_TYPES, STRONG_TYPES, classify
from analyzer.templating.vocabulary import is_plural_collection

NOISE_STATUSES: frozenset[int] = frozenset({404, 410})
STATE_FORMAT = 1

Merge = tuple[str, str, str, str]  # (host, method, old template, new template)


class Templater:
    """Online, stable endpoint templating. See the module docstring for the method.

    Inline per request: ``observe(host, method, path, status, response_shape)`` then
    ``match(host, method, path)`` (None: noise). Periodically: ``drain_merges()`` (re-home counts
    of merged templates). At the end of a capture or before a report: ``flush()``. Persistence:
    ``to_state()`` / ``from_state()`` (JSON-safe). Extras: ``load_spec`` (OpenAPI guidance),
    ``noise_stats(host)`` (404-only paths with counts). Hosts go through ``service_name``.
    Not thread-safe: one instance per analyzer worker.
    """

    def __init__(self, settings: TemplaterSettings | None = None, **overrides: Any) -> None:
        base = settings if settings is not None else TemplaterSettings()
        self.settings = replace(base, **overrides) if overrides else base
        self._hosts: dict[str, HostState] = {}
        self._specs = SpecIndex(self.settings.memo_limit)
        self._sim = Similarity(self.settings.sig_fanout)
        # The match memo is two parallel dicts, not one of (version, match) tuples: ~100k such
        # tuples were containers the cyclic GC traversed on every full collection (it costs about
        # as much as the templating itself); an int and a shared TemplateMatch per key are not.
        self._memo: dict[tuple[str, str, str], TemplateMatch | None] = {}
        self._memo_version: dict[tuple[str, str, str], int] = {}
        self._merges: list[Merge] = []
        self._end_cache: dict[tuple[str, str, TemplateNode], TemplateMatch] = {}  # by walk end node
        self._last_split: tuple[str, list[str]] = ("", [])  # observe() -> match() of one request
        self._render_cache: dict[tuple[str, str, tuple[tuple[str, str], ...]], TemplateMatch] = {}
        self._masker = Masker(self.settings.pii_key)

    # Tunables as attributes (read-only views of the settings).
    @property
    def min_distinct_for_param(self) -> int:
        return self.settings.min_distinct_for_param

    @property
    def min_distinct_structured(self) -> int:
        return self.settings.min_distinct_structured

    @property
    def tail_ratio(self) -> float:
        return self.settings.tail_ratio

    @property
    def rebuild_growth(self) -> float:
        return self.settings.rebuild_growth

    @property
    def memo_limit(self) -> int:
        return self.settings.memo_limit

    # ------------------------------------------------------------------------------------------
    # Public API

    def load_spec(self, host: str, operations: Iterable[tuple[str, str]]) -> None:
        host = service_name(host)
        self._specs.load(host, operations)
        self._bump(host)

    def observe(
        self, host: str, method: str, path: str, status: int | None, response_shape: str | None = None
    ) -> None:
        host = service_name(host)
        hs = self._hosts.get(host)
        if hs is None:
            hs = self._hosts[host] = HostState()
        hs.obs += 1
        if hs.obs >= self.settings.checkpoint_min_obs and _is_power_of_4(hs.obs):
            # A checkpoint (256, 1024, 4096... observations of the host): the next drain or
            # consolidation runs the one fold that judges hysteresis, close to a moment set by
            # the traffic, not at whichever folds batching and draining happened to run. (Not
            # inline: a full fold there would be a latency spike on one request.)
            hs.checkpoint_due = True
        if is_junk_target(path):
            # A malformed request line is no endpoint: an unmatched-request statistic.
            self._count_noise(hs, _noise_key(path, self._split(path)))
            return
        segs = self._split(path)
        if status in NOISE_STATUSES:
            self._observe_noise(hs, _noise_key(path, segs), segs)
            return
        hs.noise.pop(_noise_key(path, segs), None)
        node, trail, new = self._insert(hs, segs)
        node.end += 1
        node.end_ok += 1
        bit = METHOD_BITS.get(method, OTHER_METHOD)
        if not node.methods & bit:
            node.methods |= bit
            new = True  # a new method on a path is evidence a fold weighs (operations vs. values)
        if status is not None and status >= 400:
            response_shape = None  # error bodies are generic envelopes, not the endpoint's shape
        if response_shape is not None:
            # Shapes are compared per method: GET /things lists, POST /things answers one thing.
            new = _add_shape(node, method + METHOD_SEP + response_shape) or new
        if new or node.end_ok == 1:
            for n in trail:
                n.dirty = True
            # Something the last fold has not seen. Whether it fits the tree is not checked here
            # (that walk would cost every request); the geometric gate bounds rebuilds anyway.
            hs.pending += 1
            if hs.obs - hs.built_obs >= self.settings.rebuild_growth * hs.built_obs:
                self._rebuild(host, hs)

    def match(self, host: str, method: str, path: str) -> TemplateMatch | None:
        host = service_name(host)
        key = (host, method, path)
        hs = self._hosts.get(host)
        version = hs.version if hs is not None else -1
        if self._memo_version.get(key) == version:
            return self._memo[key]
        result, end = self._match_uncached(host, hs, method, path)
        if hs is not None and hs.version != version:
            version = hs.version  # a rebuild happened while matching
        if len(self._memo) >= self.settings.memo_limit:
            self._memo.clear()
            self._memo_version.clear()
        self._memo[key] = result
        self._memo_version[key] = version
        if result is not None and hs is not None:
            path = _stored(path, self._split(path))  # samples are kept masked
            key2 = (method, result.template)
            samples = hs.issued.get(key2)
            if samples is None:
                hs.issued[key2] = [(path, end)]
            elif len(samples) < self.settings.samples:
                for p, _ in samples:  # a plain loop: all(genexpr) cost ~1 us per match here
                    if p == path:
                        break
                else:
                    samples.append((path, end))
        return result

    def drain_merges(self) -> list[Merge]:
        """Merges since the last call: (host, method, old template, new template).

        Storage calls this periodically to re-home counts, so it is also where templating catches
        up: hosts that saw new structure since their last fold (and grew a little) are folded now,
        instead of waiting for the geometric schedule of the inline path.
        """
        s = self.settings
        for host, hs in self._hosts.items():
            grown = hs.obs - hs.built_obs
            if hs.checkpoint_due:
                self._checkpoint(host, hs)
            elif hs.pending and grown >= max(s.drain_min_obs, s.drain_growth * hs.built_obs):
                self._rebuild(host, hs)
        out, self._merges = self._merges, []
        return out

    def flush(self) -> None:
        """Fold every host with pending observations now (see also ``consolidate``)."""
        for host, hs in self._hosts.items():
            if hs.checkpoint_due:
                self._checkpoint(host, hs)
            elif hs.pending:
                self._rebuild(host, hs)

    def consolidate(self) -> list[Merge]:
        """End of a batch analyze or a stream pause: every host folded to a fixed point, and the
        merges since the last drain returned (storage re-homes them).

        A fold carries evidence between positions (collection names, proven dictionaries), so a
        host whose fold changed that evidence is folded again, fully, until nothing moves (at
        most ``settings.consolidate_rounds`` folds): running the fold once more changes nothing,
        whatever the batching was.
        """
        for host, hs in self._hosts.items():
            if hs.checkpoint_due:
                self._checkpoint(host, hs)
            if hs.settled and not hs.pending:
                continue
            # (Not only hosts with pending observations: a drain fold since the last
            # consolidation was incremental and started from its carried dictionaries, so the tree
            # it left is not the fixed point a fold from scratch reaches.)
            # The first fold is full too: incremental folds reuse sub-trees folded with the
            # evidence of their time, so a live templater and one restored from its state
            # (which keeps no fold caches) would end apart.
            hs.full_obs = 0
            # ... and it starts from no carried dictionaries: those of the last fold were proven
            # on the traffic of its moment, and a fold that starts from them can settle on
            # another fixed point than one that starts from scratch (values proven once keep
            # proving themselves). From scratch, the end state depends on what was observed,
            # not on when the earlier folds ran.
            hs.dicts = {}
            for i in range(self.settings.consolidate_rounds):
                before = (set(hs.vocab), hs.dicts, set(hs.sticky))
                compacted = self._rebuild(host, hs, accumulate=i > 0)
                # (A fold that compacted values leaves another raw trie than it read: folding
                # that one can decide otherwise, e.g. compacted names no longer found a pattern.)
                if not compacted and (hs.vocab, hs.dicts, hs.sticky) == before:
                    break
                hs.full_obs = 0  # the next fold ignores every cache
            hs.settled = True
        return self.drain_merges()

    def noise_stats(self, host: str) -> dict[str, int]:
        """Paths of this host that only ever got 404 (not endpoints), with request counts."""
        hs = self._hosts.get(service_name(host))
        return dict(hs.noise) if hs is not None else {}

    def noise_path(self, path: str) -> str:
        """A path as noise statistics may keep it: PII segments masked to their type alone
        (``/lookup/{email}``), the same key ``noise_stats`` uses."""
        return _noise_key(path, self._split(path))

    def to_state(self) -> dict[str, Any]:
        return {
            "format": STATE_FORMAT,
            "params": self.settings.state_params(),
            "specs": {h: [list(op) for op in ops] for h, ops in self._specs.operations.items()},
            "hosts": {h: _host_state(hs) for h, hs in self._hosts.items()},
            "merges": [list(m) for m in self._merges],
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Templater:
        if state.get("format") != STATE_FORMAT:
            raise ValueError(f"unsupported templater state format {state.get('format')!r}")
        self = cls(TemplaterSettings.from_params(state["params"]))
        for host, ops in state["specs"].items():
            self.load_spec(host, [(m, t) for m, t in ops])
        for host, data in state["hosts"].items():
            self._hosts[host] = _host_from_state(data)
        self._merges = [(a, b, c, d) for a, b, c, d in state["merges"]]
        return self

    # ------------------------------------------------------------------------------------------
    # Observing

    def _observe_noise(self, hs: HostState, path: str, segs: list[str]) -> None:
        # 404s never shape templates. On a known path they are counted there; anything else is
        # an unmatched-request statistic, kept apart (and bounded) so that scanners fuzzing
        # random paths cannot grow the trie.
        # (Through compaction too, where a template takes the path: a path answered before and
        # compacted since is as known as one still in the trie, whenever that fold ran.)
        known = hs.raw.lookup(segs)
        if known is None and walk(hs.tree, segs, []) is not None:
            known = _find_raw(hs.raw, segs, 0)
        if known is not None:
            known.end += 1
        else:
            self._count_noise(hs, path)

    def _count_noise(self, hs: HostState, path: str) -> None:
        if path in hs.noise or len(hs.noise) < self.settings.noise_limit:
            hs.noise[path] = hs.noise.get(path, 0) + 1

    @staticmethod
    def _insert(hs: HostState, segs: list[str]) -> tuple[RawNode, list[RawNode], bool]:
        """Count one non-404 request along its raw path: (end node, nodes passed, new node?)."""
        node = hs.raw
        vocab = hs.vocab
        new = False
        node.tot_ok += 1
        prev = ""
        trail = [node]
        for seg in segs:
            child = node.children.get(seg)
            if child is None:
                child = node.children[seg] = RawNode()
                new = True
                # (A known collection name needs no classify() calls: most new children are ids
                # under one.)
                if (
                    prev
                    and prev not in vocab
                    and classify(seg) in STRONG_TYPES
                    and classify(prev) not in STRONG_TYPES
                ):
                    vocab.add(prev)
                if seg[-1:] == ")":
                    # An OData key or call ("Products(42)", "Orders_Qries(OrderID=1)") names its
                    # entity set: the bare "Products" beside it is that collection, a literal.
                    name = _call_name(seg)
                    if name and name not in vocab:
                        vocab.add(name)
            node = child
            trail.append(node)
            prev = seg
            node.tot_ok += 1
        return node, trail, new

    # ------------------------------------------------------------------------------------------
    # Matching

    def _bump(self, host: str) -> None:
        hs = self._hosts.get(host)
        if hs is not None:
            hs.version += 1
        else:
            # Spec for a host not seen yet: memo entries keyed by version -1 must go.
            self._memo = {k: v for k, v in self._memo.items() if k[0] != host}
            self._memo_version = {k: v for k, v in self._memo_version.items() if k[0] != host}

    def _match_uncached(
        self, host: str, hs: HostState | None, method: str, path: str
    ) -> tuple[TemplateMatch | None, TemplateNode | None]:
        """The match and the tree node its walk ended on (None when it did not match whole)."""
        if is_junk_target(path):
            return None, None
        segs = self._split(path)
        if self._specs.has(host):
            found = self._specs.match(host, segs, method)
            if found is not None:
                if (
                    hs is not None
                    and any(classify(v) not in STRONG_TYPES for v in found[1].values())
                    and self._only_404(hs, path, segs, True)
                ):
                    # Same noise rule as for learned templates: a path that only ever got 404
                    # and fits only through a free-text parameter is a probe ("/config.json").
                    return None, None
                return self._specs.result(host, method, found), None
        if hs is None or hs.raw.tot_ok == 0:
            return None, None
        marks: Marks = []
        end = walk(hs.tree, segs, marks)
        if (
            end is None
            and hs.pending
            and hs.obs - hs.built_obs >= self.settings.rebuild_growth * hs.built_obs
        ):
            self._rebuild(host, hs)
            marks = []
            end = walk(hs.tree, segs, marks)
        # Only ever answered 404. Inside a typed parameter it is a real endpoint asked for a missing
        # object; anywhere else it is noise (a scanner probe).
        if (end is None or any(isinstance(m, TemplateNode) and m.pwords for m in marks)) and self._only_404(
            hs, path, segs, end is not None
        ):
            return None, None
        if end is not None:
            hit = self._end_cache.get((host, method, end))
            if hit is not None:
                return hit, end
        else:
            marks = []
            walk_prefix(hs.tree, segs, marks)
        result = self._render(host, method, _segment_kinds(segs, marks))
        if end is not None:
            if len(self._end_cache) >= self.settings.memo_limit:
                self._end_cache.clear()
            self._end_cache[(host, method, end)] = result
        return result, end

    def _only_404(self, hs: HostState, path: str, segs: list[str], fits: bool) -> bool:
        """Whether the path only ever got 404; ``fits``: a template matches it whole."""
        if not fits:
            # A path no template takes is a probe unless the trie holds it itself: a compacted
            # node that answered is no evidence for it ("/console" beside compacted "/{file}").
            if _noise_key(path, segs) in hs.noise:
                return True
            own = hs.raw.lookup(segs)
            return own is not None and own.end > 0 and own.end_ok == 0
        # The raw node first, found through compaction (see _find_raw): it holds the answers
        # whichever fold compacted it, while the noise statistics only know 404s that came while
        # no node held the path (before its values were compacted, or never answered).
        raw = _find_raw(hs.raw, segs, 0)
        if raw is not None and raw.end_ok > 0:
            return False
        return (raw is not None and raw.end > 0) or _noise_key(path, segs) in hs.noise

    def _render(self, host: str, method: str, kinds: list[tuple[str, str]]) -> TemplateMatch:
        key = (host, method, tuple(kinds))
        hit = self._render_cache.get(key)
        if hit is None:
            if len(self._render_cache) >= self.settings.memo_limit:
                self._render_cache.clear()
            template, params = render(key[2])
            hit = self._render_cache[key] = TemplateMatch(
                template, params, template_id(host, method, template)
            )
        return hit

    # ------------------------------------------------------------------------------------------
    # Folding and re-homing

    def _split(self, path: str) -> list[str]:
        """A path's segments with PII values masked; memoised for the match() after observe()."""
        last = self._last_split
        if last[0] == path:
            return last[1]
        segs = self._masker.segments(split_path(path))
        self._last_split = (path, segs)
        return segs

    def _checkpoint(self, host: str, hs: HostState) -> None:
        hs.checkpoint_due = False
        hs.full_obs = 0
        self._rebuild(host, hs, checkpoint=True)
        hs.pending = max(hs.pending, 1)  # (consolidate still folds it from no carried dictionaries)

    def _rebuild(self, host: str, hs: HostState, checkpoint: bool = False, accumulate: bool = False) -> bool:
        """Fold and re-home; True when the fold compacted raw values (see Folder.run)."""
        compacted = Folder(self.settings, self._sim, hs, checkpoint, accumulate).run()
        hs.settled = False  # (consolidate sets it again after its last fold)
        self._rehome(host, hs)
        return compacted

    def _rehome(self, host: str, hs: HostState) -> None:
        """Re-match the sample paths of every template handed out; report whole moves as merges.

        A template whose samples all moved to one new template was merged (storage moves its
        counts). One whose samples went different ways was split: while some samples stay,
        nothing is reported (moving all of its counts anywhere would be wrong); when none stays,
        its counts go to the template most samples went to, so no stored endpoint is left that
        nothing matches. The samples are re-registered.
        """
        changed: list[tuple[tuple[str, str], list[tuple[str | None, str, TemplateNode | None]]]] = []
        for key, samples in hs.issued.items():
            outcome: list[tuple[str | None, str, TemplateNode | None]] = []
            moved = False
            for path, end in samples:
                if end is not None and walk(hs.tree, split_path(path), []) is end:
                    outcome.append((key[1], path, end))
                    continue
                new, new_end = self._match_uncached(host, hs, key[0], path)
                tpl = new.template if new is not None else None
                outcome.append((tpl, path, new_end))
                moved = moved or (tpl is not None and tpl != key[1])
            if moved:
                changed.append((key, outcome))
            else:
                hs.issued[key] = [(p, e) for _, p, e in outcome]
        limit = self.settings.samples
        for key, outcome in changed:
            method, old = key
            stay = [(p, e) for tpl, p, e in outcome if tpl in (old, None)]
            targets = {tpl for tpl, _, _ in outcome if tpl not in (old, None)}
            if stay:
                hs.issued[key] = stay
            else:
                del hs.issued[key]
                if targets:
                    # Whole moves are merges. A split whose samples all left (the old template is
                    # no longer produced) goes to where most of them went: counts left under a
                    # template nothing matches any more would be a phantom endpoint.
                    went = Counter(tpl for tpl, _, _ in outcome if tpl is not None)
                    self._merges.append((host, method, old, went.most_common(1)[0][0]))
            for tpl, p, e in outcome:
                if tpl is None or tpl == old:
                    continue
                dest = hs.issued.setdefault((method, tpl), [])
                if len(dest) < limit and all(p != q for q, _ in dest):
                    dest.append((p, e))


def _is_power_of_4(n: int) -> bool:
    return n & (n - 1) == 0 and n.bit_length() % 2 == 1


def _find_raw(node: RawNode, segs: list[str], i: int) -> RawNode | None:
    """The raw node of a path: its own, or the compacted node its values were merged into (typed
    ids, a word parameter's values, an in-segment pattern's values), exact segments first."""
    for j in range(i, len(segs)):
        seg = segs[j]
        child = node.children.get(seg)
        if child is None:
            for key in _compacted_keys(node, seg):
                found = _find_raw(node.children[key], segs, j + 1)
                if found is not None:
                    return found
            return None
        node = child
    return node


def _compacted_keys(node: RawNode, seg: str) -> list[str]:
    keys = [k for k in (STAR, WSTAR) if k in node.children]
    if any(k.startswith(SHAPED_STAR_PREFIX) and k != STAR for k in node.children):
        shape = segment_shape(seg)
        if shape is not None and SHAPED_STAR_PREFIX + shape.pattern + "}" in node.children:
            keys.append(SHAPED_STAR_PREFIX + shape.pattern + "}")
    return keys


def _call_name(seg: str) -> str:
    shape = segment_shape(seg)
    return shape.pattern.partition("(")[0] if shape is not None and shape.kind == "call" else ""


def _stored(path: str, segs: list[str]) -> str:
    """The path as the state may keep it: the path itself, or its masked form."""
    return path if not segs or "{" not in "".join(segs) else "/" + "/".join(segs)


def _noise_key(path: str, segs: list[str]) -> str:
    """A 404-only path as the noise statistics keep it: PII values masked to their type alone
    ("/lookup/{email}"), so the statistic needs no key to be looked up again."""
    if not segs or "{" not in "".join(segs):
        return path
    return "/" + "/".join("{" + t + "}" if (t := masked_type(seg)) else seg for seg in segs)


def _add_shape(node: RawNode, shape: str) -> bool:
    """Count a response shape at a node; True when a new shape on a known path (it can split a
    group)."""
    count = node.shapes.get(shape)
    if count is not None:
        node.shapes[shape] = count + 1
        return False
    if len(node.shapes) < MAX_SHAPES:
        node.shapes[shape] = 1
        return node.end_ok > 1
    return False


def _segment_kinds(segs: list[str], marks: Marks) -> list[tuple[str, str]]:
    """(literal value or "", type or "") per segment: the tree's verdict where the walk went,
    value types beyond it (strongly typed segments are parameters, except API versions)."""
    kinds: list[tuple[str, str]] = []
    for i, seg in enumerate(segs):
        if i < len(marks):
            m = marks[i]
            if m is None:
                kinds.append((seg, ""))
            elif isinstance(m, ShapedMark):
                kinds.append((m.pattern, SHAPED + m.types))
            else:
                kinds.append(("", m.ptype))
            continue
        shape = segment_shape(seg)
        if shape is not None and shape.kind not in ("extension", "dotted") and typed_core(shape):
            kinds.append((shape.pattern, SHAPED + ",".join(_value_type(v) for v in shape.values)))
            continue
        t = classify(seg)
        if t in LOOSE_TYPES and not (i and is_plural_collection(segs[i - 1])):
            kinds.append((seg, ""))  # one value of a loose shape is a literal until a fold says more
        elif t in STRONG_TYPES and not version_context(segs, i, kinds):
            kinds.append(("", t))
        else:
            kinds.append((seg, ""))
    return kinds


def _value_type(value: str) -> str:
    t = classify(value)
    return "string" if t == "word" else t


def _host_state(hs: HostState) -> dict[str, Any]:
    return {
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
        "checkpoint_due": hs.checkpoint_due,
    }


def _host_from_state(data: dict[str, Any]) -> HostState:
    hs = HostState()
    hs.raw = RawNode.from_json(data["raw"])
    hs.tree = TemplateNode.from_json(data["tree"])
    hs.version, hs.obs = int(data["version"]), int(data["obs"])
    hs.pending, hs.built_obs = int(data["pending"]), int(data["built_obs"])
    hs.issued = {(m, t): [(p, None) for p in ps] for m, t, ps in data["issued"]}
    hs.vocab = set(data["vocab"])
    hs.dicts = {k: set(v) for k, v in data["dicts"].items()}
    hs.full_obs, hs.full_vocab = int(data["full"][0]), int(data["full"][1])
    hs.noise = {str(k): int(v) for k, v in data["noise"].items()}
    hs.sticky = set(data["sticky"])
    hs.proofs = {str(k): int(v) for k, v in data["proofs"].items()}
    hs.checkpoint_due = bool(data.get("checkpoint_due", False))
    return hs
