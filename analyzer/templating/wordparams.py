"""Which word-like values at one position are parameter values (the rest are literals).

Values are grouped by their signature (relative sub-paths -> response shapes, see similarity). A
value joins a group it agrees with; one that contradicts every group it overlaps starts its own;
one that overlaps nothing is neutral (no evidence either way, e.g. an owner whose repositories
nobody else has). The largest group plus the neutral values is the parameter candidate, accepted
by the first rule that holds:

* long tail: many distinct values, a good share of them seen once, dominating the position;
* alike to ids: beside typed ids, several leaf words answering exactly like the ids do;
* alike leaves: several leaves answering alike ("/rates/USD", "/rates/EUR");
* proven leaves: leaf values another position of the host proved ("/boards/{id}/{field}");
* agreeing sub-trees: several values whose sub-trees answer alike ("/repos/{owner}/...");
* rare ids: a few values each seen at most twice under a plural collection (beside typed ids
  too when every one is shaped like a name people give, "/groups/{name}/members.json");
* copies: values whose sub-trees carry the same routes ("/{mount}/..."), and once copies are
  proven, small families holding exactly the same routes ("/totp|totp-2/code|keys");
* alike items: many values, each holding churning names that answer alike ("/{owner}/{kind}/{name}");
* known values: the values a previous fold proved after the same literal elsewhere.

Against them: method-shaped names, saturated POST-only acts, busy siblings whose methods never
meet, busy collections alike at an API root, kinds after a singular noun with differing routes.
``filter_values`` (called by the fold) takes reserved words too: a sub-collection's filter;
``churning_names`` takes words the host took for collection names when dozens of them churn
("/c/{slug}/{id}.json").
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from analyzer.templating.paths import STAR, WSTAR
from analyzer.templating.rules import Position, Values, name_like, rare_ids
from analyzer.templating.settings import TemplaterSettings
from analyzer.templating.similarity import Signature, Similarity
from analyzer.templating.trie import METHOD_BITS, POST_BIT
from analyzer.templating.values import classify, is_version
from analyzer.templating.vocabulary import is_plural_collection, is_reserved, route_base

_CAMEL = re.compile(r"[a-z]+(?:[A-Z][a-z0-9]+)+")
_DOTTED = re.compile(r"[a-z][a-z0-9_]*\.[a-z][A-Za-z0-9_]*")


def _route_keys(sig: Signature) -> frozenset[str]:
    """The literal sub-routes right below a value, from its signature: first relative segments
    that are literals and not API versions (ids below and "/v1" say nothing about a value)."""
    out = set()
    for k in sig:
        first = k[1:].partition("/")[0]
        if first and first != "{}" and not is_version(first):
            out.add(first)
    return frozenset(out)


def looks_like_method(word: str) -> bool:
    """ "redeemCode", "bookTicker", "chat.postMessage", "users.list": an operation's name."""
    base = route_base(word)
    return bool(_CAMEL.fullmatch(base) or _DOTTED.fullmatch(base))


def _other_methods(vals: Values, members: list[str]) -> bool:
    """Some other value at the position is asked for with a method besides POST."""
    inside = set(members)
    return any(r.methods & ~POST_BIT for seg, raws in vals.items() if seg not in inside for r in raws)


def _split_by_methods(members: list[str], vals: Values, counts: dict[str, int], busy: int) -> bool:
    """ "/posts/{id}/head-content" only ever read, ".../revert-content" only ever written, each
    asked for again and again: one handler serves every value of a parameter alike, so two busy
    siblings whose methods never meet are different operations, however alike they answer.
    (Values seen a few times each say nothing: an id read once and another written once.)"""
    masks = []
    for w in members:
        if counts[w] >= busy:
            m = 0
            for r in vals[w]:
                m |= r.methods
            masks.append(m)
    return any(a & b == 0 for i, a in enumerate(masks) for b in masks[i + 1 :])


# Dictionary of values proven by groups of alike leaves, host-wide. Keys are otherwise path
# segments, which cannot contain a raw "{" (RFC 3986), so this never collides.
LEAF_KEY = "{leaf}"


@dataclass(slots=True)
class Cluster:
    members: list[str]
    sig: Signature
    evidence: int  # agreeing (relative path, shape) pairs seen while building the cluster
    leaf: bool  # no member has anything below it


@dataclass(slots=True)
class WordDecision:
    params: list[str]
    proof: bool = False  # rests on a large long tail (see hysteresis in fold)
    # Values proven here, to remember for other positions: (literal before them or LEAF_KEY, values).
    learned: list[tuple[str, list[str]]] = field(default_factory=list)


@dataclass(slots=True)
class _Evidence:
    """The clustering of one position's words, shared by the rules."""

    words: list[str]
    vals: Values
    counts: dict[str, int]
    clusters: list[Cluster]
    neutral: list[str]
    best: Cluster | None
    # Groups that never contradict the largest one only lacked a common sub-path or method to
    # prove it (one value seen by GET, another by PATCH).
    compatible: list[str]

    @property
    def best_members(self) -> list[str]:
        return self.best.members if self.best is not None else []


class WordJudge:
    """Decides word parameters with the host's proven dictionaries (``dicts``)."""

    __slots__ = ("settings", "sim", "dicts")

    def __init__(self, settings: TemplaterSettings, sim: Similarity, dicts: dict[str, set[str]]) -> None:
        self.settings = settings
        self.sim = sim
        self.dicts = dicts

    def decide(
        self, words: list[str], vals: Values, at: Position, strong: list[str], sticky: bool = False
    ) -> WordDecision:
        if not words:
            return WordDecision([])
        counts = {w: sum(c.tot_ok for c in vals[w]) for w in words}
        # Values the previous fold proved on evidence after the same literal elsewhere in this
        # host. (Only evidence-based decisions are remembered, so a mistake cannot feed itself.)
        decision = self._from_evidence(words, vals, counts, at, strong, sticky)
        if decision.params:
            if at.after_literal:
                decision.learned.append((at.prev_seg, decision.params))
            return decision
        if self._known_values(words, at):
            return WordDecision(list(words))
        return WordDecision([])

    def alike_collections(self, names: list[str], vals: Values, at: Position) -> list[str]:
        """Words seen followed by ids are collection names, literals ("/users/{id}"), unless many
        of them sit under one route and answer alike, shape for shape ("/Images/Art/{index}",
        "/Images/Backdrop/{index}", ... all answering one image record): the values of a
        low-cardinality parameter ("/Images/{imageType}/{index}")."""
        need = self.settings.min_distinct_structured + 2
        if len(names) < need or not at.after_literal or at.api_root:
            return []
        counts = {w: sum(c.tot_ok for c in vals[w]) for w in names}
        ev = self._cluster(names, vals, counts)
        best = ev.best
        if best is None or len(best.members) < need or len(best.members) < 0.6 * len(names):
            return []
        if self._verbs(best.members):
            return []
        sim = self.sim
        sigs = {w: sim.signature(vals[w]) for w in best.members}
        shaped = silent = 0
        for w in best.members:
            sw = sigs[w]
            if not any(sw.values()):
                # Answered no body anywhere (HEAD, 204): no evidence against the others.
                silent += 1
            elif any(
                sw.get(k) and so.get(k) and sim.shapes_verdict(sw[k], so[k]) > 0
                for o, so in sigs.items()
                if o != w
                for k in sw
            ):
                shaped += 1
        return best.members if shaped >= 2 and shaped + silent >= len(best.members) - 1 else []

    def churning_names(self, literals: list[str], vals: Values, at: Position) -> list[str]:
        """Words seen followed by an id are taken for collection names ("/users/{id}"); a
        host has a handful of those at one position, each asked for again and again. Many of
        them in a long tail that keeps churning, each with an id below ("/c/{slug}/{id}.json"
        for dozens of slugs seen once or twice), are values of a parameter. Only after a
        literal that is no API root: right after one, or after an object's parameter
        ("/{mount}/keys|roles|sts|.../{name}"), a large API's rarely used collections make such a
        tail too."""
        s = self.settings
        if len(literals) < s.min_distinct_for_param or not at.after_literal or at.api_root:
            return []
        names = [
            seg
            for seg in literals
            if classify(seg) == "word" and not is_reserved(seg) and seg not in self.dicts.get(LEAF_KEY, ())
        ]
        if len(names) < s.min_distinct_for_param:
            return []
        counts = {w: sum(c.tot_ok for c in vals[w]) for w in names}
        singles = sum(1 for w in names if counts[w] == 1)
        if singles < s.tail_ratio * len(names) or not self._churning(names, counts, singles) or self._verbs(names):
            return []
        # (the busy ones beside the tail are the collections: "/c/{slug}" beside "/c/top")
        return [w for w in names if counts[w] <= s.busy_value]

    def filter_values(self, values: list[str], vals: Values, at: Position) -> list[str]:
        """ "/members/{id}/organizations/all|public|members|open": below a sub-collection of an
        object, a position holding nothing but a few leaves, every one only read and answering the
        same list, is the collection's filter, even when its values are reserved words or route
        names. (Beside ids, "/orders/recent" next to "/orders/{id}", or with anything below them,
        words stay routes; that is judged elsewhere.)"""
        if len(values) < 3 or at.prev_kind != "lit" or at.api_root or not is_plural_collection(at.prev_seg):
            return []
        if at.pos.rsplit("/", 2)[-2] != "{}":
            return []  # a sub-collection of an object ("/{}/organizations"), not a top collection
        get = METHOD_BITS["GET"]
        if any(r.children or r.methods & ~get for w in values for r in vals[w]):
            return []
        counts = {w: sum(c.tot_ok for c in vals[w]) for w in values}
        ev = self._cluster(values, vals, counts)
        best = ev.best
        if best is None or len(best.members) != len(values) or best.evidence < len(values) - 1:
            return []
        return list(values)

    def _known_values(self, words: list[str], at: Position) -> bool:
        same = self.dicts.get(at.prev_seg) if at.after_literal else None
        if not same:
            return False
        known = [w for w in words if w in same]
        return bool(known) and len(known) * 2 >= len(words)

    def _from_evidence(
        self,
        words: list[str],
        vals: Values,
        counts: dict[str, int],
        at: Position,
        strong: list[str],
        sticky: bool,
    ) -> WordDecision:
        if len(words) < 2 and not sticky:
            return WordDecision([])
        ev = self._cluster(words, vals, counts)
        decision = self._long_tail(ev, at, sticky)
        if decision is not None:
            return decision
        if strong:
            alike = self._alike_to_ids(ev, strong)
            if len(alike) >= 3:
                return WordDecision(alike)
        decision = self._structure(ev, at, strong)
        if not decision.params and not strong:
            twins = self._twins(ev)
            if twins:
                return WordDecision(twins)
            if not at.api_root:
                kinds = self._alike_items(ev)
                if kinds:
                    return WordDecision(kinds)
        return decision

    def _alike_items(self, ev: _Evidence) -> list[str]:
        """ "/packages/{owner}/books|garden|toys|.../{name}": many values, each a collection of
        churning names, and the names below every one of them answer alike: the values are a
        kind or category, one parameter. (Their signatures cannot show it: the names below are
        words, distinct under each value. Sub-collections of one object hold items of their own
        shape, "/namespaces/{ns}/pods|services/{name}", and are never this many alike.)"""
        sim, vals = self.sim, ev.vals
        need = self.settings.min_distinct_for_param
        if len(ev.words) < need:
            return []
        items: dict[str, set[str]] = {}
        below = 0
        for w in ev.words:
            shapes: set[str] = set()
            kids: set[str] = set()
            for r in vals[w]:
                for seg, c in r.children.items():
                    if c.tot_ok and seg:
                        kids.add(seg)
                        if c.end_ok:
                            shapes.update(c.shapes)
            # (compacted names, "{w*}", are a proven churning set: as many as it takes)
            below += len(kids) + (2 if kids & {STAR, WSTAR} else 0)
            if shapes:
                items[w] = shapes
        if len(items) < need or below < 2 * len(ev.words):
            return []  # (a few children each: routes below routes, not names below kinds)
        ref_w = max(items, key=lambda w: (len(items[w]), w))
        ref = items[ref_w]
        alike = [w for w, sh in items.items() if w == ref_w or sim.shapes_verdict(sh, ref) > 0]
        other = [w for w, sh in items.items() if w != ref_w and sim.shapes_verdict(sh, ref) < 0]
        if len(alike) < need or other or len(alike) < 0.8 * len(ev.words):
            return []
        return [w for w in ev.words if w in items or not any(c.children for c in vals[w])]

    def _structure(self, ev: _Evidence, at: Position, strong: list[str]) -> WordDecision:
        best = ev.best
        if best is None:
            # Nothing answered with a body (DELETE, PUT, 204s): values each seen once or twice
            # under a plural collection are still ids of a rarely used endpoint.
            if strong or len(ev.neutral) != len(ev.words):
                return WordDecision([])
            return WordDecision(ev.neutral if rare_ids(ev.neutral, ev.counts, at) else [])
        if best.leaf:
            return self._leaves(ev, at)
        if at.api_root:
            return WordDecision([])
        if strong:
            return WordDecision(self._rare_names_beside_ids(ev, at))
        return self._subtrees(ev, at)

    def _rare_names_beside_ids(self, ev: _Evidence, at: Position) -> list[str]:
        """Beside typed ids, words with a sub-tree are routes ("/orders/recent/items" next to
        "/orders/{id}"), unless several names people give ("tundra8", "plum_berry"), each seen
        once or twice, hold sub-trees that answer alike under a plural collection
        ("/groups/{name}/members.json" beside "/groups/{id}"): an object reached by its name
        on a rarely used endpoint. (Routes are busy, or plain words.)"""
        best = ev.best
        assert best is not None
        members = best.members
        if best.evidence < len(members) - 1 or not all(name_like(w) for w in members):
            return []
        return members if rare_ids(members, ev.counts, at) else []

    def _cluster(self, words: list[str], vals: Values, counts: dict[str, int]) -> _Evidence:
        sim = self.sim
        clusters: list[Cluster] = []
        neutral: list[str] = []
        for w in sorted(words, key=lambda w: (-counts[w], w)):
            sig = sim.signature(vals[w])
            if not sig:
                neutral.append(w)
                continue
            home: Cluster | None = None
            overlapped = False
            for cl in clusters:
                agree, conflict = sim.compare(sig, cl.sig)
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
                clusters.append(Cluster([w], {k: set(v) for k, v in sig.items()}, 0, leaf))
            else:
                neutral.append(w)
        best = max(clusters, key=lambda c: (len(c.members), c.evidence)) if clusters else None
        compatible: list[str] = []
        if best is not None:
            compatible = [
                w
                for cl in clusters
                if cl is not best and sim.compare(cl.sig, best.sig)[1] == 0
                for w in cl.members
            ]
        return _Evidence(words, vals, counts, clusters, neutral, best, compatible)

    def _long_tail(self, ev: _Evidence, at: Position, sticky: bool) -> WordDecision | None:
        """Many distinct values, a good share of them seen once, and they dominate the position.
        Right after the root or an "api"/version literal, where resource collections sit and rare
        ones make a tail of their own, ask for more."""
        s = self.settings
        counts = ev.counts
        best_members = ev.best_members
        candidate = best_members + ev.neutral + ev.compatible
        singles = sum(1 for w in candidate if counts[w] == 1)
        tail = singles / len(candidate) if candidate else 0.0
        api_root = at.api_root
        need_n = s.min_distinct_for_param * (2 if api_root else 1)
        need_tail = s.tail_ratio * (1.5 if api_root else 1.0)
        if not (
            sticky
            or (len(candidate) >= need_n and tail >= need_tail and len(candidate) >= 0.6 * len(ev.words))
        ):
            return None
        if not sticky and (not self._churning(candidate, counts, singles) or self._verbs(candidate)):
            return None
        proof = not api_root and len(candidate) >= 2 * need_n
        # Right after an API root, a value answering on its own that never met the proven group
        # is a rarely used route ("/api/v1/purge" beside "/api/v1/{account}").
        extra = [] if api_root else ev.compatible
        if len(best_members) >= 3:
            # A value without proof that is busier than every proven one is a route
            # ("/api/v1/billing" beside account slugs), not the head of the distribution.
            top = max(counts[w] for w in best_members)
            return WordDecision(best_members + [w for w in extra + ev.neutral if counts[w] <= top], proof)
        if api_root:
            # Where resource collections sit, a busy value beside a churning tail of accounts,
            # holding none of the routes the others hold, is a route of its own ("/api/v1/user",
            # "/api/v1/purge" beside "/api/v1/{account}/sites"); a busy account has its routes.
            cap = self.settings.busy_value
            kids = {w: {seg for r in ev.vals[w] for seg, c in r.children.items() if c.tot_ok} for w in candidate}
            shared: dict[str, int] = {}
            for ks in kids.values():
                for k in ks:
                    shared[k] = shared.get(k, 0) + 1
            return WordDecision(
                [
                    w
                    for w in candidate
                    if counts[w] <= cap or any(shared[k] >= 2 for k in kids[w])
                ],
                proof,
            )
        return WordDecision(candidate, proof)

    def _churning(self, candidate: list[str], counts: dict[str, int], singles: int) -> bool:
        """New values keep arriving: ids and names churn, a set of routes saturates. (Requests to
        busy values are left out: busy routes beside an id parameter must not hide its churn.)"""
        cap = self.settings.busy_value
        requests = sum(n for n in (counts[w] for w in candidate) if n <= cap)
        return requests > 0 and singles >= self.settings.unseen_share * requests

    def _saturated_leaves(self, members: list[str], counts: dict[str, int]) -> bool:
        """For leaves only ever POSTed to ("/accounts/{id}/follow", "/payments/{id}/captures",
        "/auth/role/grant"): every one asked for again and again, they are operations on what
        precedes them. Values of a parameter are read, replaced or deleted (GET, PUT, DELETE); a
        POST creates under a collection or acts, and a set of acts saturates while names that
        are POSTed to churn."""
        singles = sum(1 for w in members if counts[w] == 1)
        return not self._churning(members, counts, singles)

    def _few_plain_words(self, members: list[str]) -> bool:
        """A handful of bare words, no digit or separator in any ("captures", "amountUpdates"):
        after a parameter, with no sibling read by another method, a set of actions on the
        object. (Names people give carry digits or separators, "amber-kettle3"; a category's
        values are many, "books", "garden", "toys", ...)"""
        return len(members) < self.settings.min_distinct_for_param and all(
            route_base(w).isalpha() for w in members
        )

    def _verbs(self, candidate: list[str]) -> bool:
        """Most values are shaped like method names: RPC operations, not data."""
        verbs = sum(1 for w in candidate if looks_like_method(w))
        return verbs >= self.settings.verb_share * len(candidate)

    def _alike_to_ids(self, ev: _Evidence, strong: list[str]) -> list[str]:
        """Beside typed ids, words are routes ("/orders/recent" next to "/orders/{id}") unless
        several of them answer exactly like the ids do ("/es/{page}.json", "/es/ohio.json")."""
        sim = self.sim
        id_sig: Signature = {}
        for seg in strong[:64]:
            for k, v in sim.signature(ev.vals[seg]).items():
                id_sig.setdefault(k, set()).update(v)
        alike: list[str] = []
        for cl in ev.clusters:
            if not cl.leaf:
                continue
            agree, conflict = sim.compare(cl.sig, id_sig)
            if agree and not conflict:
                alike.extend(cl.members)
        return alike

    def _twins(self, ev: _Evidence) -> list[str]:
        """Values whose sub-trees carry the same routes, answering alike ("/pki/ca/pem",
        "/pki/roles/{}" beside "/pki-2/ca/pem", "/pki-2/roles/{}"; "/{mount}/..." in Vault,
        "/{tenant}/..." elsewhere): two distinct literals rarely share several sub-routes with
        agreeing answers, copies of one thing always do. Every value with such a twin is a
        parameter value, whatever its traffic share (so even at an API root)."""
        sim, vals, counts = self.sim, ev.vals, ev.counts
        cands = [w for w in ev.words if any(c.children for c in vals[w])]
        if len(cands) < 2:
            return []
        cands.sort(key=lambda w: (-counts[w], w))
        cands = cands[: self.settings.twin_fanout]
        routes: dict[str, frozenset[str]] = {}
        for w in cands:
            routes[w] = _route_keys(sim.signature(vals[w]))
        need = self.settings.twin_min_routes
        twins: set[str] = set()
        for i, a in enumerate(cands):
            ra = routes[a]
            if len(ra) < need:
                continue
            for b in cands[i + 1 :]:
                rb = routes[b]
                shared = len(ra & rb)
                if shared < need or shared < 0.6 * min(len(ra), len(rb)):
                    continue
                agree, conflict = sim.compare(sim.signature(vals[a]), sim.signature(vals[b]))
                if agree >= need and agree >= 3 * conflict:
                    twins.add(a)
                    twins.add(b)
        if len(twins) < self.settings.twin_min_values:
            # Two look-alike siblings are as often a product pair ("/algo/spot|futures/...") as
            # two copies: it takes a family of copies.
            return []
        if len(twins) >= 2 * need:
            # Copies seen on fewer routes ("/alicloud/config", "/alicloud/role/") join a large
            # proven group when every route they have is one of the group's.
            union: set[str] = set()
            ref: Signature = {}
            for w in twins:
                union |= routes[w]
                for k, v in sim.signature(vals[w]).items():
                    ref.setdefault(k, set()).update(v)
            for w in cands:
                rw = routes[w]
                if w not in twins and len(rw) >= 2 and rw <= union:
                    agree, conflict = sim.compare(sim.signature(vals[w]), ref)
                    if agree >= 2 and conflict == 0:
                        twins.add(w)
            twins |= self._twin_families(cands, routes, twins, vals)
        return [w for w in ev.words if w in twins]

    def _twin_families(
        self, cands: list[str], routes: dict[str, frozenset[str]], twins: set[str], vals: Values
    ) -> set[str]:
        """Where copies of one thing are proven ("/{mount}/..." in Vault), other copies of another
        kind of thing with fewer routes of their own ("/totp/code|keys", "/totp-2/code|keys",
        "/team-totp/code|keys") are copies too: two values or more holding exactly the same
        routes, two at least, and answering alike. (Two distinct literal routes beside copies
        rarely hold the very same sub-routes.)"""
        sim = self.sim
        families: dict[frozenset[str], list[str]] = {}
        for w in cands:
            rw = routes[w]
            if w not in twins and len(rw) >= 2:
                families.setdefault(rw, []).append(w)
        out: set[str] = set()
        for members in families.values():
            if len(members) < 2:
                continue
            head = sim.signature(vals[members[0]])
            alike = [members[0]]
            for w in members[1:]:
                agree, conflict = sim.compare(sim.signature(vals[w]), head)
                if agree >= 2 and conflict == 0:
                    alike.append(w)
            if len(alike) >= 2:
                out.update(alike)
        return out

    def _leaves(self, ev: _Evidence, at: Position) -> WordDecision:
        """Leaves answering alike ("/rates/USD", "/rates/EUR"; "/boards/{id}/name"): only one
        agreeing relative path each, so ask for more of them (shapeless leaves count)."""
        assert ev.best is not None
        best, counts, vals = ev.best, ev.counts, ev.vals
        known = self.dicts.get(LEAF_KEY) or set()
        proven = sum(w in known for w in best.members) >= 2
        if at.after_literal and not proven and self._verbs(best.members):
            # Operations under a route answering alike ("/algo/openOrders", "/algo/subOrders");
            # field names below an id ("/cards/{id}/shortUrl") are values.
            return WordDecision([])
        if _split_by_methods(best.members, vals, counts, self.settings.busy_value // 2):
            return WordDecision([])
        if at.api_root and self._saturated_leaves(best.members, counts):
            # Where resource collections sit, leaves answering alike and asked for again and
            # again are collections of one kind of record ("/api/v1/blocks|mutes|endorsements",
            # each a list of accounts), not values: those churn.
            return WordDecision([])
        posted = all(r.methods == POST_BIT for w in best.members for r in vals[w])
        if (
            not proven
            and posted
            and self._saturated_leaves(best.members, counts)
            and (
                at.after_literal or _other_methods(vals, best.members) or self._few_plain_words(best.members)
            )
        ):
            return WordDecision([])
        size = len(best.members)
        loose = [w for w in ev.neutral if counts[w] <= 2 and not any(c.children for c in vals[w])]
        # Rare leaves in groups of their own that never contradict the best one join an accepted
        # group when shaped like names people give: one or two values answering only each
        # other, "/{mount}/code/{name}" POSTed once each. They are no evidence for accepting it
        # (rare kebab-case acts, "/plugins/{id}/upgrade-from-uri", must not tip a handful of
        # busy routes into a parameter); plain words so placed are fields or acts.
        joining = [
            w
            for w in ev.compatible
            if name_like(w) and counts[w] <= 2 and not any(c.children for c in vals[w])
        ]
        if (
            size >= self.settings.min_distinct_structured
            and size + len(loose) >= 4
            and best.evidence >= size - 1
        ):
            # (Only values read or written teach other positions: two sets of operations, POSTed
            # to alike, must not prove each other, "/statuses/{id}/pin" and "/accounts/{id}/pin".)
            return WordDecision(
                best.members + loose + joining, learned=[] if posted else [(LEAF_KEY, best.members)]
            )
        if proven and size >= 2:
            # Field-like leaves proven elsewhere in the host ("/boards/{id}/{field}" taught that
            # name/desc/closed are values): two of them answering alike here suffice.
            return WordDecision(best.members + loose + joining)
        # (Values that answered nothing, a DELETE, a 204, count too, rare values known only
        # through a sub-route, "/categories/{name}/posts", and rare ones answering only another
        # method, a POST beside GETs, never contradicting: they say nothing against.)
        rare = best.members + [w for w in ev.neutral + ev.compatible if counts[w] <= 2]
        return WordDecision(rare if rare_ids(rare, counts, at) else [])

    def _subtrees(self, ev: _Evidence, at: Position) -> WordDecision:
        """Several values whose sub-trees answer alike are values of one parameter."""
        assert ev.best is not None
        best, counts = ev.best, ev.counts
        if self._verbs(best.members):
            return WordDecision([])
        size = len(best.members)
        if not at.after_literal and size < 2 * self.settings.min_distinct_for_param:
            # A handful of agreeing sub-trees right after a parameter are sub-resources sharing a
            # generic envelope (Kubernetes kinds); dozens of them are values ("/{owner}/{repo}").
            return WordDecision([])
        if (
            size >= self.settings.min_distinct_structured
            and best.evidence >= size - 1
            # (the agreeing values alone: a rarely used route beside them that overlaps nothing,
            # "/identity/oidc/.well-known", says nothing about whether they are a fixed set)
            and not self._saturated(best.members, counts, ev.vals, at)
        ):
            return WordDecision(best.members + [w for w in ev.neutral if counts[w] <= 2])
        return WordDecision(best.members if rare_ids(best.members, counts, at) else [])

    def _saturated(self, values: list[str], counts: dict[str, int], vals: Values, at: Position) -> bool:
        """A handful of values, every one asked for again and again and none seen only once or
        twice, each a collection of names of its own ("/policies/acl|password|egp/{name}"): a
        fixed set of routes, not ids, which churn. (Values holding the same routes below them,
        "/namespaces/prod/disks" beside "/namespaces/dev/disks", are containers: their number
        says nothing.)"""
        if len(values) >= self.settings.min_distinct_for_param or any(counts[w] <= 2 for w in values):
            return False
        below: dict[str, set[str]] = {}
        for w in values:
            below[w] = {seg for r in vals[w] for seg, c in r.children.items() if c.tot_ok and seg}
        if at.after_literal and not is_plural_collection(at.prev_seg) and len(set(map(frozenset, below.values()))) > 1:
            # After a singular noun, not a collection's members: a handful of busy values with
            # routes below that overlap but differ ("/identity/entity/merge" and ".../id",
            # "/identity/group/id") are kinds of one thing, routes. Copies carry the same routes
            # ("/ds-api/{dataset}/v1/fields|records"), members of a plural collection may differ.
            return True
        seen: dict[str, int] = {}
        for kids in below.values():
            for seg in kids:
                seen[seg] = seen.get(seg, 0) + 1
        own = 0
        for kids in below.values():
            if kids & {STAR, WSTAR}:
                own += 1  # its members were compacted: ids or a proven word parameter
            elif len(kids) >= 3 and sum(seen[k] >= 2 for k in kids) < 0.25 * len(kids):
                own += 1
        return own * 2 > len(values)
