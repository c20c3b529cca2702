"""Score predicted templates against the generator's ground truth.

Definitions (all templates compared after ``normalise``: every parameter written "{}", the text
around it kept, so "{id}.json" and "{id}" differ):
* endpoint level, per service: TRUE = distinct (method, true template) of real requests with at
  least one non-404 answer; PRED = distinct (method, predicted template) over every request the
  templater did not reject as noise (scanner requests it accepted count as false endpoints).
  precision = |PRED & TRUE| / |PRED|, recall = |PRED & TRUE| / |TRUE|, F1 their harmonic mean.
  The overall endpoint F1 pools every service's endpoints (host-qualified). This is the floor.
* request level: a real request is correct when its predicted template equals its true one; a
  scanner request is correct when rejected (None). precision = correct real / real requests given
  a template + noise requests given one; recall = correct real / real requests.
* per-segment misses: for each wrong real request, each segment where prediction and truth differ
  is attributed to the truth's kind there ("param:<value kind> kept literal", "lit:<kind> made
  param"), counted in requests and distinct true endpoints; and to the issue's error class
  (``issue_class``: 1 constant id-like literal made a parameter, 2 literal siblings merged,
  3 low-cardinality parameter kept literal, 4 title kept literal, 5 parameter inside a segment,
  6 id kept literal, 8 literal parameterised on first sight, 9 junk or noise kept as endpoint).
* parameter names (class 10), over distinct (endpoint, parameter) of correctly templated
  requests: *human* when camelCase letters with at most a trailing number (not
  "registration5GzSemver2", "by-emailEmail"), *spec-like* when its stem (lower case, "id"/"sid"/
  "key"/"name"/"code" suffix and plural "s" dropped) equals or contains the spec name's stem.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from analyzer.templating.values import STRONG_TYPES, classify
from bench.templating.gen import Request, normalise

LOW_CARDINALITY = frozenset(
    {
        "enum",
        "category",
        "currency",
        "country",
        "language",
        "state",
        "bool",
        "month",
        "protocol",
        "port",
        "trello_field",
        "trello_filter",
        "namespace",
        "mount",
        "symbol",
        "dataset",
        "list_slug",
    }
)
ID_LIKE = frozenset({"integer", "uuid", "objectid", "ulid", "hex", "token"})
RARE_HITS = 20  # a true endpoint with at most this many requests is rare
_PNAME = re.compile(r"\{([^}/]*)\}")
_HUMAN = re.compile(r"[a-z][a-zA-Z]*[0-9]*")


@dataclass(slots=True)
class PRF:
    tp: int = 0
    n_pred: int = 0
    n_true: int = 0

    @property
    def precision(self) -> float:
        return self.tp / self.n_pred if self.n_pred else 1.0

    @property
    def recall(self) -> float:
        return self.tp / self.n_true if self.n_true else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


@dataclass(slots=True)
class Report:
    endpoint: dict[str, PRF] = field(default_factory=dict)
    request: dict[str, PRF] = field(default_factory=dict)
    overall_endpoint: PRF = field(default_factory=PRF)
    overall_request: PRF = field(default_factory=PRF)
    class_requests: Counter[str] = field(default_factory=Counter)
    class_endpoints: dict[str, set[tuple[str, str, str]]] = field(default_factory=lambda: defaultdict(set))
    examples: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    false_endpoints: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    issue_requests: Counter[str] = field(default_factory=Counter)
    issue_endpoints: dict[str, set[tuple[str, str, str]]] = field(default_factory=lambda: defaultdict(set))
    names_total: int = 0
    names_human: int = 0
    names_spec_like: int = 0
    name_examples: list[str] = field(default_factory=list)


def issue_class(truth_class: str, truth_seg: str, pred_seg: str, literal: str, rare: bool) -> str:
    """The issue's error class of one wrong segment."""
    if truth_class.startswith("inseg:") or ("{" in pred_seg and pred_seg != "{}"):
        return "5 parameter inside a segment"
    if truth_class.startswith("lit:"):
        typ = classify(literal)
        if typ in ID_LIKE:
            return "1 constant id-like literal made a parameter"
        if typ in STRONG_TYPES:
            return "8 literal parameterised on first sight"
        return "2 literal siblings merged into a parameter"
    kind = truth_class.split(":", 1)[-1]
    if kind in LOW_CARDINALITY:
        return "3 low-cardinality parameter kept literal"
    if kind == "title":
        return "4 title kept literal"
    return "6 id kept literal (rare endpoint)" if rare else "6 id kept literal (busy endpoint)"


def score(requests: Sequence[Request], predicted_raw: Sequence[str | None]) -> Report:
    rep = Report()
    predicted = [normalise(p) if p is not None else None for p in predicted_raw]
    true_eps: dict[str, set[tuple[str, str]]] = defaultdict(set)
    pred_eps: dict[str, set[tuple[str, str]]] = defaultdict(set)
    hits: Counter[tuple[str, str, str | None]] = Counter((r.host, r.method, r.truth) for r in requests)
    named: set[tuple[str, str, str]] = set()
    hosts: set[str] = set()
    for req, pred, raw in zip(requests, predicted, predicted_raw, strict=True):
        hosts.add(req.host)
        rq = rep.request.setdefault(req.host, PRF())
        if pred is not None:
            pred_eps[req.host].add((req.method, pred))
            rq.n_pred += 1
        if req.truth is None:
            if pred is not None:
                _miss(rep, "noise kept as endpoint", req, pred, "9 junk or noise kept as endpoint")
            continue
        rq.n_true += 1
        if req.status != 404:
            true_eps[req.host].add((req.method, req.truth))
        if pred == req.truth:
            rq.tp += 1
            assert raw is not None
            key = (req.host, req.method, raw)
            if key not in named:
                named.add(key)
                _names(rep, raw, req)
            continue
        if pred is None:
            _miss(rep, "real request dropped as noise", req, pred, "0 real request dropped as noise")
            continue
        t_segs, p_segs = req.truth.split("/"), pred.split("/")
        if len(t_segs) != len(p_segs):
            _miss(rep, "segment count differs", req, pred, "0 segment count differs")
            continue
        path_segs = req.path.split("/")
        rare = hits[(req.host, req.method, req.truth)] <= RARE_HITS
        for i, (t, p) in enumerate(zip(t_segs, p_segs, strict=True)):
            if t == p:
                continue
            cls = req.classes[i - 1] if 0 < i <= len(req.classes) else "?"
            literal = path_segs[i] if i < len(path_segs) else ""
            issue = issue_class(cls, t, p, literal, rare)
            if t == "{}":
                _miss(rep, f"{cls} kept literal", req, pred, issue)
            elif p == "{}":
                _miss(rep, f"{cls} made param", req, pred, issue)
            else:
                _miss(rep, f"{cls} other mismatch", req, pred, issue)
    for host in sorted(hosts):
        ep = PRF()
        t, p = true_eps.get(host, set()), pred_eps.get(host, set())
        ep.tp, ep.n_pred, ep.n_true = len(t & p), len(p), len(t)
        rep.endpoint[host] = ep
        rep.overall_endpoint.tp += ep.tp
        rep.overall_endpoint.n_pred += ep.n_pred
        rep.overall_endpoint.n_true += ep.n_true
        rq = rep.request[host]
        rep.overall_request.tp += rq.tp
        rep.overall_request.n_pred += rq.n_pred
        rep.overall_request.n_true += rq.n_true
        for m, tpl in sorted(p - t)[:400]:
            rep.false_endpoints[host].append(f"{m} {tpl}")
    return rep


def _stem(name: str) -> str:
    s = re.sub(r"[^a-z0-9]", "", name.lower())
    for suffix in ("id", "sid", "key", "name", "code", "ref"):
        if s.endswith(suffix) and len(s) > len(suffix) + 2:
            s = s[: -len(suffix)]
            break
    return s[:-1] if s.endswith("s") and len(s) > 3 else s


def _names(rep: Report, raw: str, req: Request) -> None:
    got = _PNAME.findall(raw)
    for i, name in enumerate(got):
        rep.names_total += 1
        human = bool(_HUMAN.fullmatch(name)) and len(name) <= 32
        rep.names_human += human
        want = req.param_names[i] if i < len(req.param_names) else ""
        a, b = _stem(name), _stem(want)
        spec_like = bool(a and b and (a == b or (len(a) >= 3 and (a in b or b in a))))
        rep.names_spec_like += spec_like
        if not human and len(rep.name_examples) < 12:
            rep.name_examples.append(f"{req.host} {raw} (spec: {want})")


def _miss(rep: Report, cls: str, req: Request, pred: str | None, issue: str) -> None:
    rep.class_requests[cls] += 1
    key = (req.host, req.method, req.truth or req.path)
    if key not in rep.class_endpoints[cls] and len(rep.examples[cls]) < 6:
        rep.examples[cls].append(f"{req.host} {req.method} {req.path}  truth={req.truth}  pred={pred}")
    rep.class_endpoints[cls].add(key)
    rep.issue_requests[issue] += 1
    rep.issue_endpoints[issue].add(key)
