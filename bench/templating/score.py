"""Score predicted templates against the generator's ground truth.

Definitions (all templates compared after ``normalise``: every parameter segment is "{}"):
* endpoint level, per service: TRUE = distinct (method, true template) of real requests with at
  least one non-404 answer; PRED = distinct (method, predicted template) over every request the
  templater did not reject as noise (scanner requests it accepted count as false endpoints).
  precision = |PRED & TRUE| / |PRED|, recall = |PRED & TRUE| / |TRUE|, F1 their harmonic mean.
  The overall endpoint F1 pools every service's endpoints (host-qualified). This is the floor.
* request level: a real request is correct when its predicted template equals its true one; a
  scanner request is correct when rejected (None). precision = correct real / real requests given
  a template + noise requests given one; recall = correct real / real requests.
* per-class misses: for each wrong real request, each segment where prediction and truth differ is
  attributed to the truth's class there ("param:<value kind> kept literal", "lit:<kind> made
  param"), counted in requests and distinct true endpoints.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from bench.templating.gen import Request


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


def score(requests: Sequence[Request], predicted: Sequence[str | None]) -> Report:
    rep = Report()
    true_eps: dict[str, set[tuple[str, str]]] = defaultdict(set)
    pred_eps: dict[str, set[tuple[str, str]]] = defaultdict(set)
    hosts: set[str] = set()
    for req, pred in zip(requests, predicted, strict=True):
        hosts.add(req.host)
        rq = rep.request.setdefault(req.host, PRF())
        if pred is not None:
            pred_eps[req.host].add((req.method, pred))
            rq.n_pred += 1
        if req.truth is None:
            if pred is not None:
                _miss(rep, "noise kept as endpoint", req, pred)
            continue
        rq.n_true += 1
        if req.status != 404:
            true_eps[req.host].add((req.method, req.truth))
        if pred == req.truth:
            rq.tp += 1
            continue
        if pred is None:
            _miss(rep, "real request dropped as noise", req, pred)
            continue
        t_segs, p_segs = req.truth.split("/"), pred.split("/")
        if len(t_segs) != len(p_segs):
            _miss(rep, "segment count differs", req, pred)
            continue
        for i, (t, p) in enumerate(zip(t_segs, p_segs, strict=True)):
            if t == p:
                continue
            cls = req.classes[i - 1] if 0 < i <= len(req.classes) else "?"
            if t == "{}":
                _miss(rep, f"{cls} kept literal", req, pred)
            elif p == "{}":
                _miss(rep, f"{cls} made param", req, pred)
            else:
                _miss(rep, "other literal mismatch", req, pred)
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


def _miss(rep: Report, cls: str, req: Request, pred: str | None) -> None:
    rep.class_requests[cls] += 1
    key = (req.host, req.method, req.truth or req.path)
    if key not in rep.class_endpoints[cls] and len(rep.examples[cls]) < 6:
        rep.examples[cls].append(f"{req.host} {req.method} {req.path}  truth={req.truth}  pred={pred}")
    rep.class_endpoints[cls].add(key)
