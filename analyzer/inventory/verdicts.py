"""Spec verdicts: which observed endpoints are documented, shadow or zombie, which operations orphan.

One function, :func:`recompute`, rebuilds every verdict from the inventory and the imported
specs; it runs after ``apicensus analyze`` writes and after every spec import, so traffic and
specs can arrive in either order.

* ``documented``: the endpoint matches an operation of one of its host's latest specs (the newest
  import of each document title for that host);
* ``shadow``: observed and not documented (a host without any spec is entirely undocumented);
* ``zombie`` (observed, with reasons): the matching operation is ``deprecated: true``
  (``deprecated``); a newer version of the same resource exists on the service, observed or in
  its latest spec (``superseded``: ``/v1/accounts/{id}`` while ``/v2/accounts/{x}``); documented
  by an older import of the host's spec but no longer by the latest (``removed``); its responses
  carry ``Deprecation`` or ``Sunset`` headers (``sunset_header``);
* ``orphan``: an operation of a latest spec that no observed endpoint matches.

Matching is by template structure, not parameter names (``/users/{id}`` documents
``/users/{userId}``), and literal beats parameter: among the operations an endpoint fits, the one
with a literal segment earliest wins (``/users/me`` is documented by ``/users/me``, not by
``/users/{id}``); a documented literal never covers an observed parameter.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, bindparam, case, delete, insert, literal, select, update
from sqlalchemy.orm import Session

from analyzer.db.models import (
    ApiSpec,
    Endpoint,
    EndpointResponseHeader,
    EndpointVerdict,
    Service,
    SpecOperation,
    core_table,
)

_PARAM = re.compile(r"\{[^{}/]*\}")
_VERSION = re.compile(r"[vV](\d+)")
SUNSET_HEADERS = ("deprecation", "sunset")
# What matching reads of a documented operation.
_OPERATION_COLUMNS = (
    SpecOperation.id,
    SpecOperation.spec_id,
    SpecOperation.host,
    SpecOperation.method,
    SpecOperation.path_template,
    SpecOperation.deprecated,
)


def _segments(path: str) -> tuple[str, ...]:
    return tuple(s for s in path.strip("/").split("/")) if path.strip("/") else ()


@dataclass(frozen=True, slots=True)
class _Doc:
    """One documented operation, compiled for matching."""

    op_id: int
    spec_id: int
    method: str
    path: str
    deprecated: bool
    # per segment: None = whole parameter, str = literal, re.Pattern = mixed ("{name}.json")
    parts: tuple[Any, ...]


def _compile(op_id: int, spec_id: int, method: str, path: str, deprecated: bool) -> _Doc:
    parts: list[Any] = []
    for seg in _segments(path):
        if _PARAM.fullmatch(seg):
            parts.append(None)
        elif "{" in seg:
            pieces = _PARAM.split(seg)
            parts.append(re.compile("[^/]+?".join(re.escape(p) for p in pieces)))
        else:
            parts.append(seg)
    return _Doc(op_id, spec_id, method.upper(), path, bool(deprecated), tuple(parts))


def _score(doc: _Doc, segs: Sequence[str]) -> tuple[int, ...] | None:
    """How well an observed template fits an operation (higher is better), None if it does not.

    Per segment: 2 literal = literal, 1 mixed pattern, 0 parameter. Tuples compare left to right,
    so the first literal segment decides: literal beats parameter.
    """
    if len(doc.parts) != len(segs):
        return None
    score: list[int] = []
    for part, seg in zip(doc.parts, segs, strict=True):
        observed_param = bool(_PARAM.fullmatch(seg))
        if part is None:
            score.append(0)
        elif isinstance(part, str):
            if observed_param or part != seg:
                return None
            score.append(2)
        else:
            if observed_param:
                return None
            if part.fullmatch(_PARAM.sub("x", seg)) is None:
                return None
            score.append(1)
    return tuple(score)


class _Index:
    """Operations by (method, segment count): the candidates of one endpoint are few."""

    def __init__(self, docs: Iterable[_Doc]) -> None:
        self.by_key: dict[tuple[str, int], list[_Doc]] = defaultdict(list)
        for doc in docs:
            self.by_key[(doc.method, len(doc.parts))].append(doc)

    def best(self, method: str, path: str) -> _Doc | None:
        segs = _segments(path)
        best: tuple[tuple[int, ...], _Doc] | None = None
        candidates = self.by_key.get((method.upper(), len(segs)), ())
        if not candidates and method.upper() == "HEAD":
            # Servers answer HEAD wherever they answer GET (RFC 9110): a GET documents it.
            candidates = self.by_key.get(("GET", len(segs)), ())
        for doc in candidates:
            score = _score(doc, segs)
            if score is not None and (best is None or score > best[0]):
                best = (score, doc)
        return None if best is None else best[1]


def _resource_key(path: str) -> tuple[tuple[str, ...], int, int] | None:
    """(shape with the version segment blanked, version position, version) for versioned paths."""
    segs = [("{}" if _PARAM.fullmatch(s) else s) for s in _segments(path)]
    for i, seg in enumerate(segs):
        m = _VERSION.fullmatch(seg)
        if m:
            return (tuple(segs[:i] + ["*"] + segs[i + 1 :]), i, int(m.group(1)))
    return None


@dataclass(slots=True)
class RecomputeResult:
    endpoints: int = 0
    documented: int = 0
    shadow: int = 0
    zombie: int = 0
    orphans: int = 0


def recompute(session: Session) -> RecomputeResult:
    """Rebuild ``endpoint_verdicts``, ``endpoints.spec_verdict`` and every spec operation's
    ``endpoint_id``/``verdict`` (no commit here; the caller's transaction)."""
    hosts = dict(session.execute(select(Service.id, Service.host)).all())
    service_of_host = {h: i for i, h in hosts.items()}
    endpoints_by_host: dict[str, list[tuple[int, str, str]]] = defaultdict(list)
    for eid, sid, method, path in session.execute(
        select(Endpoint.id, Endpoint.service_id, Endpoint.method, Endpoint.path_template)
    ):
        endpoints_by_host[hosts[sid]].append((eid, method, path))

    # Specs per host: the newest import of each title is that title's "latest".
    spec_meta = {
        sid: (name, service_id)
        for sid, name, service_id in session.execute(select(ApiSpec.id, ApiSpec.name, ApiSpec.service_id))
    }
    docs_by_spec: dict[int, list[_Doc]] = defaultdict(list)
    host_of_spec: dict[int, str] = {}
    for op_id, spec_id, host, method, path, deprecated in session.execute(
        select(*_OPERATION_COLUMNS)
    ):
        docs_by_spec[spec_id].append(_compile(op_id, spec_id, method, path, bool(deprecated)))
        spec_service = spec_meta[spec_id][1]
        if host is None and spec_service is not None:
            host = hosts.get(spec_service)
        if host is not None:
            host_of_spec.setdefault(spec_id, host)
    # A spec imported before its host was seen gets linked to the service now.
    for spec_id, host in host_of_spec.items():
        if spec_meta[spec_id][1] is None and host in service_of_host:
            session.execute(
                update(ApiSpec).where(ApiSpec.id == spec_id).values(service_id=service_of_host[host])
            )
    specs_by_host: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    for spec_id, host in host_of_spec.items():
        specs_by_host[host][spec_meta[spec_id][0]].append(spec_id)

    # Endpoints that answered with a Deprecation or Sunset header (RFC 9745 / RFC 8594).
    announced: dict[int, list[str]] = defaultdict(list)
    for eid, name in session.execute(
        select(EndpointResponseHeader.endpoint_id, EndpointResponseHeader.name)
        .where(EndpointResponseHeader.name.in_(SUNSET_HEADERS))
        .order_by(EndpointResponseHeader.endpoint_id, EndpointResponseHeader.name)
    ).all():
        announced[eid].append(name)

    result = RecomputeResult()
    verdict_rows: list[dict[str, Any]] = []
    op_updates: list[dict[str, Any]] = []
    for host in set(endpoints_by_host) | set(specs_by_host):
        endpoints = endpoints_by_host.get(host, [])
        latest_ids: list[int] = []
        older_ids: list[int] = []
        for ids in specs_by_host.get(host, {}).values():
            ids.sort()
            latest_ids.append(ids[-1])
            older_ids.extend(ids[:-1])
        latest = _Index(d for sid in latest_ids for d in docs_by_spec[sid])
        older = _Index(d for sid in older_ids for d in docs_by_spec[sid])
        # Newest version of each versioned resource, over observed and currently documented paths.
        newest: dict[tuple[str, ...], tuple[int, str]] = {}
        for path in [p for _, _, p in endpoints] + [d.path for sid in latest_ids for d in docs_by_spec[sid]]:
            key = _resource_key(path)
            if key is not None and (key[0] not in newest or key[2] > newest[key[0]][0]):
                newest[key[0]] = (key[2], path)
        matched_ops: dict[int, int] = {}
        for eid, method, path in endpoints:
            doc = latest.best(method, path)
            reasons: list[dict[str, str]] = []
            if doc is not None:
                matched_ops.setdefault(doc.op_id, eid)
                if doc.deprecated:
                    reasons.append(
                        {"reason": "deprecated", "detail": f"{doc.method} {doc.path} is deprecated"}
                    )
            else:
                old = older.best(method, path)
                if old is not None:
                    reasons.append(
                        {
                            "reason": "removed",
                            "detail": f"{old.method} {old.path} is no longer in the latest spec",
                        }
                    )
            key = _resource_key(path)
            if key is not None and newest[key[0]][0] > key[2]:
                reasons.append({"reason": "superseded", "detail": f"newer version {newest[key[0]][1]}"})
            if eid in announced:
                names = " and ".join(n.title() for n in announced[eid])
                reasons.append({"reason": "sunset_header", "detail": f"responses carry {names} headers"})
            documented = doc is not None
            verdict_rows.append(
                {
                    "endpoint_id": eid,
                    "documented": documented,
                    "shadow": not documented,
                    "zombie": bool(reasons),
                    "zombie_reasons": reasons or None,
                    "spec_operation_id": None if doc is None else doc.op_id,
                }
            )
            result.endpoints += 1
            result.documented += documented
            result.shadow += not documented
            result.zombie += bool(reasons)
        latest_set = set(latest_ids)
        for spec_ids in specs_by_host.get(host, {}).values():
            for spec_id in spec_ids:
                if spec_id in latest_set:
                    index_matches = matched_ops
                else:  # an older import: its own matching, for its history counts
                    index = _Index(docs_by_spec[spec_id])
                    index_matches = {}
                    for eid, method, path in endpoints:
                        d = index.best(method, path)
                        if d is not None:
                            index_matches.setdefault(d.op_id, eid)
                for doc in docs_by_spec[spec_id]:
                    matched = index_matches.get(doc.op_id)
                    verdict = "orphan" if matched is None else ("zombie" if doc.deprecated else "observed")
                    if spec_id in latest_set and matched is None:
                        result.orphans += 1
                    op_updates.append({"op_id": doc.op_id, "eid": matched, "verdict": verdict})

    _write_verdicts(session, verdict_rows)
    from analyzer.inventory.changes import record_unseen

    record_unseen(session)
    # Only what changed is written: re-analysis of unchanged traffic rewrites nothing.
    ops = core_table(SpecOperation)
    current_ops = {
        op_id: (eid, verdict)
        for op_id, eid, verdict in session.execute(select(ops.c.id, ops.c.endpoint_id, ops.c.verdict)).all()
    }
    op_changes = [u for u in op_updates if current_ops.get(u["op_id"]) != (u["eid"], u["verdict"])]
    if op_changes:
        session.execute(
            update(ops)
            .where(ops.c.id == bindparam("op_id"))
            .values(endpoint_id=bindparam("eid"), verdict=bindparam("verdict")),
            op_changes,
        )
    return result


_COLUMNS = ("documented", "shadow", "zombie", "zombie_reasons", "spec_operation_id")


def _write_verdicts(session: Session, rows: list[dict[str, Any]]) -> None:
    """Replace the rows that changed (and drop those of vanished endpoints), then bring the
    one-word ``endpoints.spec_verdict`` in line in one set-based UPDATE of the differing rows."""
    table = core_table(EndpointVerdict)
    current = {
        row[0]: tuple(row[1:])
        for row in session.execute(select(table.c.endpoint_id, *(table.c[c] for c in _COLUMNS))).all()
    }
    wanted = {r["endpoint_id"]: r for r in rows}
    stale = [eid for eid in current if eid not in wanted]
    changed = [r for eid, r in wanted.items() if current.get(eid) != tuple(r[c] for c in _COLUMNS)]
    gone = stale + [r["endpoint_id"] for r in changed if r["endpoint_id"] in current]
    for start in range(0, len(gone), 10_000):
        session.execute(delete(table).where(table.c.endpoint_id.in_(gone[start : start + 10_000])))
    if changed:
        session.execute(insert(table), changed)
        from analyzer.inventory.changes import record_verdict_changes

        record_verdict_changes(session, current, changed)
    ep = core_table(Endpoint)
    word = case(
        (table.c.zombie, literal("zombie")),
        (table.c.documented, literal("documented")),
        else_=literal("shadow"),
    )
    session.execute(
        update(ep)
        .where(ep.c.id == table.c.endpoint_id, ep.c.spec_verdict.is_distinct_from(word))
        .values(spec_verdict=word)
    )


def recompute_database(engine: Engine) -> RecomputeResult:
    """Prepare the API's tables if needed, then :func:`recompute` in one transaction."""
    from analyzer.db.session import make_session_factory, run_migrations

    run_migrations(engine)
    with make_session_factory(engine)() as session:
        result = recompute(session)
        session.commit()
    return result


def latest_orphans(session: Session) -> list[dict[str, Any]]:
    """Operations of the latest specs that no observed endpoint matches."""
    latest: dict[tuple[str | None, str], int] = {}
    for spec_id, name, host in session.execute(
        select(ApiSpec.id, ApiSpec.name, SpecOperation.host)
        .join(SpecOperation, SpecOperation.spec_id == ApiSpec.id)
        .distinct()
    ):
        key = (host, name)
        latest[key] = max(latest.get(key, 0), spec_id)
    ids = sorted(set(latest.values()))
    if not ids:
        return []
    rows = session.execute(
        select(*_OPERATION_COLUMNS)
        .where(SpecOperation.spec_id.in_(ids), SpecOperation.verdict == "orphan")
        .order_by(SpecOperation.host, SpecOperation.path_template, SpecOperation.method, SpecOperation.id)
    ).mappings()
    return [dict(r) for r in rows]


def add_to_export(session: Session, document: dict[str, Any]) -> dict[str, Any]:
    """``apicensus export --format json``: verdicts on every endpoint, orphans appended (hits 0)."""
    ids = {
        (host, method, path): eid
        for eid, host, method, path in session.execute(
            select(Endpoint.id, Service.host, Endpoint.method, Endpoint.path_template).join(
                Service, Service.id == Endpoint.service_id
            )
        ).all()
    }
    verdicts = {v.endpoint_id: v for v in session.scalars(select(EndpointVerdict))}
    for endpoint in document["endpoints"]:
        v = verdicts.get(ids.get((endpoint["host"], endpoint["method"], endpoint["path_template"]), -1))
        endpoint["documented"] = bool(v and v.documented)
        endpoint["shadow"] = True if v is None else v.shadow
        endpoint["zombie"] = bool(v and v.zombie)
        endpoint["zombie_reasons"] = (v.zombie_reasons if v else None) or []
        endpoint["orphan"] = False
    for op in latest_orphans(session):
        document["endpoints"].append(
            {
                "host": op["host"],
                "method": op["method"],
                "path_template": op["path_template"],
                "hits": 0,
                "deprecated": bool(op["deprecated"]),
                "documented": True,
                "shadow": False,
                "zombie": False,
                "zombie_reasons": [],
                "orphan": True,
            }
        )
    return document
