"""Folding a host's raw trie into its template tree, top-down, one position at a time.

At each position the concrete child values are split into one parameter group and literals:

* values whose shape proves they are data (integers, UUIDs, hashes, dates, emails...) are
  parameters from the first sighting, except numbers/dates sitting where API versions sit
  (``rules.numbers_are_versions``, ``rules.lone_number_is_version``);
* word-like values (slugs, usernames, currencies) are parameters only on evidence across
  requests (``wordparams``);
* a small vocabulary ("me", "search", "recent"...), version segments and collection names (words
  seen followed by a typed id) never become parameters.

The raw sub-trees of all values in a parameter group are merged and folded recursively, which is
what finds consecutive parameters (``/repos/{owner}/{repo}``). Typed-id children are compacted
into one raw node (``STAR``) once folded, so memory and fold cost follow the number of routes, not
of ids; so are the values of a huge word parameter (``WSTAR``). Folds are incremental: a clean
raw node (nothing new below it) reuses its last result.
"""

from __future__ import annotations

from analyzer.templating import rules
from analyzer.templating.folders import file_siblings, settle_files, value_kind
from analyzer.templating.insegment import SHAPED_STAR_PREFIX, SLOT, segment_shape, typed_core
from analyzer.templating.lookalike import (
    LOOKALIKE_TYPE,
    SHAPE_PREFIX,
    absorbs_words,
    id_lookalikes,
    note_value,
)
from analyzer.templating.paths import STAR, WSTAR
from analyzer.templating.privacy import PII_TYPES
from analyzer.templating.rules import Position, Values
from analyzer.templating.settings import TemplaterSettings
from analyzer.templating.similarity import Similarity
from analyzer.templating.trie import HostState, RawNode, TemplateNode
from analyzer.templating.values import REPRESENTATION_EXTS, STRONG_TYPES, classify
from analyzer.templating.vocabulary import is_reserved, route_base
from analyzer.templating.wordparams import WordJudge


class Folder:
    """One fold of one host (state that lives for the duration of a rebuild)."""

    def __init__(
        self,
        settings: TemplaterSettings,
        sim: Similarity,
        hs: HostState,
        checkpoint: bool = False,
        accumulate: bool = False,
    ) -> None:
        self.settings = settings
        # Within a consolidation the dictionaries only grow (the fold's proofs are added to the
        # round before's): replacing them could oscillate (a value proven leaf by leaf when
        # unknown, and not proven once known), and a cut-off oscillation ends on the parity of
        # the rounds. Growing, they reach a fixed point.
        self.accumulate = accumulate
        # Only a checkpoint fold (see Templater.observe) records proofs and makes positions
        # sticky; every fold reads them.
        self.checkpoint = checkpoint
        self.sim = sim
        self.hs = hs
        self.vocab = frozenset(hs.vocab)  # collection names of the host
        self.judge = WordJudge(settings, sim, hs.dicts)  # dictionaries proven by the last fold
        # Word parameters proven by the fold under way: (literal before them, values).
        self.learned: list[tuple[str, list[str]]] = []
        # Whether this fold compacted values (see compact): the raw trie it leaves is not the one
        # it read, so a consolidation folds again until the raw trie is a fixed point too.
        self.compacted = False
        full = hs.obs >= 2 * hs.full_obs or len(hs.vocab) != hs.full_vocab
        self.incremental = not full
        if full:
            hs.full_obs, hs.full_vocab = hs.obs, len(hs.vocab)

    def run(self) -> bool:
        """Fold the host and record what it proved; the caller re-homes issued templates. True
        when the fold compacted raw values (the next fold reads another raw trie)."""
        hs = self.hs
        hs.tree = self._fold([hs.raw], Position("root", "", ""))
        dicts: dict[str, set[str]] = {k: set(v) for k, v in hs.dicts.items()} if self.accumulate else {}
        limit = self.settings.dict_limit
        for key, params in self.learned:
            known = dicts.setdefault(key, set())
            if len(known) < limit:
                known.update(params[: limit - len(known)])
        hs.dicts = dicts
        hs.version += 1
        hs.pending = 0
        hs.built_obs = hs.obs
        return self.compacted

    def _fold(self, raws: list[RawNode], at: Position) -> TemplateNode:
        head = raws[0]
        cached = head.cache
        if (
            self.incremental
            and cached is not None
            and cached[0] == at.prev_kind
            and cached[1] == at.prev_seg
            and len(cached[2]) == len(raws)
            and all(a is b for a, b in zip(cached[2], raws, strict=True))
            and not any(r.dirty for r in raws)
        ):
            self.learned.extend(cached[4])
            node: TemplateNode = cached[3]
            return node
        start = len(self.learned)
        t = self._fold_new(raws, at)
        for r in raws:
            r.dirty = False
        head.cache = (at.prev_kind, at.prev_seg, tuple(raws), t, self.learned[start:])
        return t

    def _fold_new(self, raws: list[RawNode], at: Position) -> TemplateNode:
        """Fold the raw nodes at one template position into a template node."""
        t = TemplateNode()
        vals = _values(raws)
        if not vals:
            return t
        shaped = _shaped_groups(vals, self.vocab, self.settings.min_distinct_for_param)
        if shaped:
            self._settle_word_cores(shaped, at)
            vals = {seg: raws_ for seg, raws_ in vals.items() if seg not in shaped.members}
            self._fold_shaped(t, raws, shaped, at)
        strong, words, literals = self._partition(vals)
        lookalikes = id_lookalikes(strong, words, vals)
        if lookalikes:
            strong = strong + lookalikes
            words = [w for w in words if w not in set(lookalikes)]
        alike: list[str] = []
        if len(literals) >= 5 and not strong:
            # (followed by ids here, not only elsewhere: "/watch/pods" names the pods collection)
            names = [
                seg
                for seg in literals
                if route_base(seg) in self.vocab and not is_reserved(seg) and _followed_by_ids(vals[seg])
            ]
            alike = self.judge.alike_collections(names, vals, at)
        if not alike:
            # (slugs before an id, "/c/{slug}/{id}.json": many, each seen once or twice)
            alike = self.judge.churning_names(literals, vals, at)
        if alike:
            literals = [seg for seg in literals if seg not in set(alike)]
        enum = False  # a filter's values: reserved words among them are values too (matcher)
        if not strong and len(literals) + len(words) >= 3:
            plain = [seg for seg in literals if classify(seg) not in ("empty", "version")]
            if len(plain) == len(literals):
                filters = self.judge.filter_values(plain + words, vals, at)
                if filters:
                    literals, words = [], []
                    alike += filters
                    enum = True
        loose = rules.loose_literals(at, strong, vals) if strong else []
        if loose:
            literals.extend(loose)
            strong = [seg for seg in strong if seg not in loose]
        # One folder's files end one way, whatever their names' shapes (see folders).
        strong, words, literals = settle_files(strong, words, literals, vals, at)
        if strong and self._strong_are_literals(strong, words, vals, at):
            literals.extend(strong)
            strong = []
        # A position proven a word parameter earlier (as of before this fold's own proof).
        held = WSTAR in vals or at.pos in self.hs.sticky
        word_params = self._word_params(raws, words, vals, at, strong, held) + alike
        chosen = set(word_params)
        literals.extend(w for w in words if w not in chosen)
        siblings = file_siblings(word_params, literals)
        if siblings:
            word_params += siblings
            literals = [seg for seg in literals if seg not in set(siblings)]
        group = strong + word_params
        if group:
            # (before compaction adds kinds)
            ptype = rules.group_type(_type_counts(group, vals, frozenset(lookalikes)))
            merged = self._merge_group(raws, vals, strong, word_params, held)
            t.param = self._fold(merged, Position("param", "", at.pos + "/{}"))
            t.pwords = bool(word_params) or absorbs_words(lookalikes, vals)
            t.ptype = "enum" if enum else ptype
        for seg in literals:
            t.lits[seg] = self._fold(vals[seg], Position("lit", seg, at.pos + "/" + seg))
        return t

    def _settle_word_cores(self, groups: _ShapedGroups, at: Position) -> None:
        """Word values in a typed pattern ("dave81.json" in "{}.json") join it on the evidence that
        makes whole-segment words parameters; the others stay whole segments."""
        for pattern in list(groups.by_pattern):
            segs = groups.by_pattern[pattern]
            word: list[str] = []
            typed: list[str] = []
            for seg in segs:
                shape = segment_shape(seg)
                if shape is not None and (shape.kind == "dotted" or (shape.kind == "suffix" and not typed_core(shape))):
                    word.append(seg)
                else:
                    typed.append(seg)
            if not word:
                continue
            decision = self.judge.decide(word, groups.vals, at, typed)
            self.learned.extend(decision.learned)
            chosen = typed + decision.params
            if chosen:
                groups.by_pattern[pattern] = chosen
            else:
                del groups.by_pattern[pattern]
            groups.members.difference_update(s for s in word if s not in decision.params)

    def _fold_shaped(self, t: TemplateNode, raws: list[RawNode], groups: _ShapedGroups, at: Position) -> None:
        """One child per in-segment pattern, its slot values parameters (see insegment)."""
        t.shaped, t.stypes = {}, {}
        for pattern, segs in groups.by_pattern.items():
            key = SHAPED_STAR_PREFIX + pattern + "}"
            t.stypes[pattern] = _slot_types(segs, groups.vals)
            # Typed values are data for good: compacted. Word values were chosen on evidence that
            # may still turn ("complete-multipart.json" beside "create-multipart.json" looked
            # like a tail while each was seen once): kept apart until there are many of them.
            words = [seg for seg in segs if not _typed_suffix(seg)]
            if len(words) >= self.settings.word_compact:
                words = []
            typed = [seg for seg in segs if seg not in set(words)]
            if len(typed) >= 3 or key in typed:
                self.compacted |= compact(raws, typed, key, slot_kinds=True)
                merged = [r.children[key] for r in raws if key in r.children and r.children[key].tot_ok]
            else:
                merged = [c for seg in typed for c in groups.vals[seg]]
            merged += [c for seg in words for c in groups.vals[seg]]
            t.shaped[pattern] = self._fold(merged, Position("param", "", at.pos + "/" + pattern))

    def _partition(self, vals: Values) -> tuple[list[str], list[str], list[str]]:
        """(typed values, word-like values, literals for sure) at one position."""
        strong: list[str] = []
        words: list[str] = []
        literals: list[str] = []
        vocab = self.vocab
        for seg in vals:
            if seg == STAR:
                strong.append(seg)
                continue
            if seg == WSTAR:
                continue
            if seg.startswith(SHAPED_STAR_PREFIX):
                # The compacted values of an in-segment pattern this fold no longer keeps ("{}.json"
                # compacted early, before other formats showed the names are files whole): they
                # were proven data, so they join the whole-segment parameter. (Compaction cannot
                # be undone; the decision it recorded can.)
                strong.append(seg)
                continue
            typ = classify(seg)
            if typ in STRONG_TYPES:
                # (A typed-looking name in the vocabulary got there as the name of an OData key
                # or call beside it, "Sales_for_1997(...)": an entity set, a literal.)
                (literals if seg in vocab and typ not in PII_TYPES else strong).append(seg)
            elif typ in ("empty", "version") or is_reserved(seg) or route_base(seg) in vocab:
                literals.append(seg)
            else:
                words.append(seg)
        return strong, words, literals

    def _strong_are_literals(self, strong: list[str], words: list[str], vals: Values, at: Position) -> bool:
        """Typed values that are not data: API versions, a constant root, one loose value."""
        s = self.settings
        if rules.constant_value(
            strong, words, vals, min_requests=s.constant_min_requests, min_subpaths=s.constant_min_subpaths
        ):
            return True
        if at.api_root:
            return rules.numbers_are_versions(strong, vals)
        if at.after_literal and len(strong) == 1 and not words:
            return rules.lone_number_is_version(at, strong[0], vals)
        return False

    def _word_params(
        self, raws: list[RawNode], words: list[str], vals: Values, at: Position, strong: list[str], held: bool
    ) -> list[str]:
        if WSTAR in vals:
            # A word parameter proven on a large scale earlier (its values were compacted): new
            # words join it unless their answers contradict it.
            ref = self.sim.signature(vals[WSTAR])
            return [WSTAR] + [w for w in words if self.sim.fits_group(self.sim.signature(vals[w]), ref)]
        decision = self.judge.decide(words, vals, at, strong, held)
        self.learned.extend(decision.learned)
        if decision.params and decision.proof and self.checkpoint:
            # Hysteresis: a position proven a parameter on a large long tail, and proven again
            # once its traffic doubled, stays one (values that contradict it still stay
            # literal), so templates do not flap as the share of one-off values drifts. Judged
            # at checkpoint folds only: which folds see a proof must not depend on batching.
            seen = sum(r.tot_ok for r in raws)
            first = self.hs.proofs.setdefault(at.pos, seen)
            if seen >= 2 * first:
                self.hs.sticky.add(at.pos)
                del self.hs.proofs[at.pos]
        return decision.params

    def _merge_group(
        self, raws: list[RawNode], vals: Values, strong: list[str], word_params: list[str], held: bool
    ) -> list[RawNode]:
        """The raw nodes of every value in the parameter group (compacted where that is safe)."""
        merged: list[RawNode] = []
        if len(strong) >= 3 or STAR in strong:
            # Not with one or two values: those may still turn out to be versions.
            self.compacted |= compact(raws, strong)
            for r in raws:
                star = r.children.get(STAR)
                if star is not None and star.tot_ok:
                    merged.append(star)
        else:
            for seg in strong:
                merged.extend(vals[seg])
        if held or len(word_params) >= self.settings.word_compact:
            # Bound memory on huge word parameters (usernames, slugs): their values are
            # compacted like typed ids, and the decision becomes sticky.
            self.compacted |= compact(raws, [w for w in word_params if w != WSTAR], WSTAR)
            for r in raws:
                wstar = r.children.get(WSTAR)
                if wstar is not None and wstar.tot_ok:
                    merged.append(wstar)
        else:
            for seg in word_params:
                merged.extend(vals[seg])
        return merged


class _ShapedGroups:
    """Values at one position that are in-segment patterns: pattern -> its concrete values."""

    __slots__ = ("by_pattern", "members", "vals")

    def __init__(self, vals: Values) -> None:
        self.by_pattern: dict[str, list[str]] = {}
        self.members: set[str] = set()
        self.vals = vals

    def __bool__(self) -> bool:
        return bool(self.by_pattern)


def _shaped_groups(vals: Values, vocab: frozenset[str], min_dotted: int) -> _ShapedGroups:
    groups = _ShapedGroups(vals)
    extension: dict[str, list[str]] = {}
    dotted: dict[str, list[str]] = {}
    for seg in vals:
        if seg.startswith(SHAPED_STAR_PREFIX) and seg not in (STAR, WSTAR):
            groups.by_pattern.setdefault(seg[len(SHAPED_STAR_PREFIX) : -1], []).append(seg)
            continue
        shape = segment_shape(seg)
        if shape is None:
            continue
        if shape.kind == "extension":
            extension.setdefault(shape.pattern, []).append(seg)
        elif shape.kind == "dotted":
            # (The name before the dot may well be a reserved word, "stream": the word after it
            # is what varies.)
            if seg not in vocab:
                dotted.setdefault(shape.pattern, []).append(seg)
        elif shape.syntactic or not (is_reserved(seg) or route_base(seg) in vocab):
            groups.by_pattern.setdefault(shape.pattern, []).append(seg)
    for pattern, segs in dotted.items():
        # A word after a fixed name's dot is judged only where many of them share the name.
        if len(segs) >= min_dotted:
            groups.by_pattern.setdefault(pattern, []).extend(segs)
    for pattern, segs in extension.items():
        # One file name with one extension is a literal ("/favicon.ico"); the same name in several
        # formats is a parameter of the format ("thumbnail.{extension}").
        if len(segs) >= 2 or pattern in groups.by_pattern:
            groups.by_pattern.setdefault(pattern, []).extend(segs)
    suffixes = [p for p in groups.by_pattern if p.startswith(SLOT + ".")]
    # Whole file names compacted here by an earlier fold: the formats that proved them files are
    # in the compacted node now, not among the values seen since, which must not found a
    # "{}.json" of their own only because they came after the compaction.
    files_compacted = STAR in vals and any(r.kinds.get("file") for r in vals[STAR])
    if len(suffixes) >= 2 or (suffixes and files_compacted):
        formats = 3 if files_compacted else len(suffixes)
        # Names before several different extensions at one position ("notes.txt", "ci.yaml",
        # "data.json") are file names, each one value whole; typed values keep their
        # representation ("{callSid}.json" beside "{callSid}.xml"), unless three formats or more
        # say they are files too ("8812.csv", "8813.txt", "8814.json").
        for pattern in suffixes:
            kept = [seg for seg in groups.by_pattern[pattern] if formats < 3 and _typed_suffix(seg)]
            if kept:
                groups.by_pattern[pattern] = kept
            else:
                del groups.by_pattern[pattern]
    for segs in groups.by_pattern.values():
        groups.members.update(segs)
    return groups


def _typed_suffix(seg: str) -> bool:
    if seg.startswith(SHAPED_STAR_PREFIX):
        return True  # compacted earlier: proven then
    shape = segment_shape(seg)
    return shape is not None and typed_core(shape)


def _slot_types(segs: list[str], vals: Values) -> str:
    """The type of each slot of a pattern's values, comma-separated."""
    per_slot: list[dict[str, int]] = []
    for seg in segs:
        if seg.startswith(SHAPED_STAR_PREFIX):
            for r in vals[seg]:
                for joined, n in r.kinds.items():
                    for i, typ in enumerate(joined.split(",")):
                        _count(per_slot, i, typ, n)
            continue
        shape = segment_shape(seg)
        assert shape is not None
        for i, value in enumerate(shape.values):
            _count(per_slot, i, classify(value), 1)
    return ",".join(rules.group_type(types) for types in per_slot)


def _count(per_slot: list[dict[str, int]], i: int, typ: str, n: int) -> None:
    while len(per_slot) <= i:
        per_slot.append({})
    per_slot[i][typ] = per_slot[i].get(typ, 0) + n


def _representation(seg: str) -> bool:
    return seg.rpartition(".")[2].lower() in REPRESENTATION_EXTS


def _followed_by_ids(raws: list[RawNode]) -> bool:
    return any(
        c.tot_ok and (seg == STAR or classify(seg) in STRONG_TYPES) for r in raws for seg, c in r.children.items()
    )


def _values(raws: list[RawNode]) -> Values:
    vals: Values = {}
    for r in raws:
        for seg, c in r.children.items():
            if c.tot_ok:
                lst = vals.get(seg)
                if lst is None:
                    vals[seg] = [c]
                else:
                    lst.append(c)
    return vals


def _type_counts(group: list[str], vals: Values, ids: frozenset[str] = frozenset()) -> dict[str, int]:
    types: dict[str, int] = {}
    for seg in group:
        if seg in (STAR, WSTAR):
            for r in vals[seg]:
                for k, v in r.kinds.items():
                    if k[0] != SHAPE_PREFIX:  # (id shapes, not types: see lookalike)
                        types[k] = types.get(k, 0) + v
        elif seg.startswith(SHAPED_STAR_PREFIX):
            # A dissolved in-segment pattern (see _partition): its values are whole file names.
            n = sum(v for r in vals[seg] for k, v in r.kinds.items() if k[0] != SHAPE_PREFIX)
            types["file"] = types.get("file", 0) + max(n, 1)
        else:
            typ = value_kind(seg)  # "logo.png" beside "1003.gif": files
            if typ == "word" and seg in ids:
                typ = LOOKALIKE_TYPE  # a random id the classifier took for a word (lookalike)
            types[typ] = types.get(typ, 0) + 1
    return types


def compact(raws: list[RawNode], values: list[str], key: str = STAR, slot_kinds: bool = False) -> bool:
    """Merge each parent's children named in values into its compaction child (see STAR). Its
    kinds count the values' types (per slot of an in-segment pattern with slot_kinds). True when
    a child moved: the raw trie the next fold reads changed."""
    keys = [s for s in values if s not in (STAR, WSTAR) and not s.startswith(SHAPED_STAR_PREFIX)]
    if not keys:
        return False
    moved = False
    for r in raws:
        star = r.children.get(key)
        r.sig = None  # its children change: a signature cached before would outlive them
        for seg in keys:
            child = r.children.pop(seg, None)
            if child is None:
                continue
            moved = True
            if star is None:
                star = r.children[key] = RawNode()
                star.kinds = {}
            if slot_kinds:
                typ = _slot_kind(seg)
                star.kinds[typ] = star.kinds.get(typ, 0) + 1
            else:
                note_value(star.kinds, seg, key == STAR)
            star.absorb(child)
    return moved


def _slot_kind(seg: str) -> str:
    shape = segment_shape(seg)
    return ",".join(classify(v) for v in shape.values) if shape is not None else classify(seg)
