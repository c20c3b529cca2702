"""Issue 10 on the bundled real captures (sample_pcaps/, sample_pcaps/corpus/, sample_pcaps/quirks/):
each one analysed once (``analyze`` into SQLite, the sensor in-process), then checked against
the stored inventory and the stored templater:

* the inventory is consolidated: every stored endpoint is the final template of a request, and
  every request's final template is stored (class 7);
* low-traffic services fold their random ids: no two sibling literals that are both ids;
* one-value segments stay literal: a parameter whose requests all carried one value is only
  allowed for values that are ids or personal data by their shape (class 8);
* junk is no endpoint: no template holds whitespace or control characters (class 9).
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest

from analyzer.db import crud
from analyzer.db.session import make_engine, run_migrations, session_scope
from analyzer.db.settings import AnalyzerSettings
from analyzer.observation import service_name, split_target
from analyzer.pipeline import analyze, read_observations
from analyzer.protocols.views import expand
from analyzer.templating import Templater, classify
from analyzer.templating.paths import split_path
from analyzer.templating.privacy import PII_TYPES
from analyzer.templating.values import ID_TYPES

REPO = Path(__file__).resolve().parents[3]
CAPTURES = sorted(
    p
    for d in ("sample_pcaps", "sample_pcaps/corpus", "sample_pcaps/quirks")
    for p in (REPO / d).glob("*.pcap*")
)
# Shapes a single observed value may be a parameter for: ids and personal data.
ONE_VALUE_OK = ID_TYPES | PII_TYPES | {"date", "datetime"}


def _requests(capture: Path) -> tuple[list[tuple[str, str, str]], set[tuple[str, str, str]]]:
    """(service, method, path) of every request the pipeline templates, and the endpoints that
    protocols name themselves (gRPC, GraphQL, WebSocket: not templated)."""
    out, named = [], set()
    for obs in read_observations(str(capture), on_error=lambda _m: None):
        for view in expand(obs):
            if not view.method or view.target is None:
                continue
            service = service_name(view.host, view.server)
            if view.endpoint:
                named.add((service, view.method.upper(), view.endpoint))
                continue
            out.append((service, view.method.upper(), split_target(view.target)[0]))
    return out, named


def test_the_bundled_captures_are_found() -> None:
    assert len(CAPTURES) >= 40


@pytest.mark.parametrize("capture", CAPTURES, ids=lambda p: p.name)
def test_a_small_capture_ends_consolidated_folded_and_literal(capture: Path, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'inv.db'}"
    engine = make_engine(url)
    try:
        run_migrations(engine)
        analyze([str(capture)], engine=engine, settings=AnalyzerSettings(database_url=url, pii_enabled=False),
                on_error=lambda _m: None)
        with session_scope(engine) as session:
            doc = crud.export_inventory(session=session)
            state = crud.load_templater_state(session=session)
    finally:
        engine.dispose()
    templater = Templater.from_state(state) if state else Templater()
    stored = {(e["host"], e["method"], e["path_template"]) for e in doc["endpoints"]}
    requests, named = _requests(capture)
    values: dict[tuple[str, str, str], dict[int, set[str]]] = defaultdict(lambda: defaultdict(set))
    final = set()
    for host, method, path in requests:
        m = templater.match(host, method, path)
        if m is None:
            continue
        final.add((host, method, m.template))
        segs, tsegs = split_path(path), m.template.split("/")[1:]
        for p in m.params:
            if p.index < len(segs) and tsegs[p.index] == "{" + p.name + "}":  # a whole-segment parameter
                values[(host, method, m.template)][p.index].add(segs[p.index])
    # Class 7: what is stored is what the final templates say, nothing left behind.
    assert stored - named == final, f"stale: {sorted(stored - named - final)}, missing: {sorted(final - stored)}"
    # Class 9: no junk template.
    assert not [t for _, _, t in stored - named if any(c.isspace() or ord(c) < 32 for c in t)]
    # Random ids folded: no two sibling literal ids.
    siblings: dict[tuple[str, str, str], list[str]] = defaultdict(list)
    for host, method, template in stored:
        segs = template.split("/")
        for i, seg in enumerate(segs[1:], start=1):
            if "{" not in seg:
                siblings[(host, method, "/".join(segs[:i]) + "|" + "/".join(segs[i + 1 :]))].append(seg)
    for key, segs in siblings.items():
        ids = sorted({s for s in segs if classify(s) in ID_TYPES})
        assert len(ids) < 2, f"{capture.name}: sibling ids left literal under {key}: {ids}"
    # One value seen: a literal, unless it is an id or personal data by its shape.
    for (host, method, template), positions in values.items():
        for seen in positions.values():
            if len(seen) == 1:
                (value,) = seen
                typ = classify(value)
                # A token without a digit is a mixed-case name ("DEPServiceHttpPort"), not an id.
                shaped = typ in ONE_VALUE_OK and (typ != "token" or any(c.isdigit() for c in value))
                assert shaped or value.startswith("{"), (
                    f"{capture.name}: {host} {method} {template}: one value {value!r} "
                    f"({classify(value)}) made a parameter"
                )
