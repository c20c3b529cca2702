"""Issue 10, classes 6, 7, 8 on real captures: the inventory a demanding user reads is consistent.

The bundled real captures (sample_pcaps/, sample_pcaps/corpus/) go through the pipeline's own
parts in-process (sensor reading, normalise, the batch aggregate that observes and templates),
all of them into one templater, consolidated as one analyze ends. Then, over every request's
final template:

* no folder split: beside a folder's parameter of files or words, no file name is left literal
  ("/img/new.png" beside "/img/{imageFile}");
* no literal random id beside its parameter: a literal that is an id by its shape never sits
  beside an id parameter at the same position;
* one more fold changes nothing.

The same checks run over the whole shared corpus (../shared/corpus/pcaps, 132 captures) when it
is present beside the repository.
"""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path

import pytest

from analyzer.db.settings import AnalyzerSettings
from analyzer.pipeline import read_observations
from analyzer.pipeline.aggregate import aggregate
from analyzer.pipeline.normalise import Normalised, normalise
from analyzer.protocols.views import expand
from analyzer.templating import Templater
from analyzer.templating.folders import is_file_name
from analyzer.templating.model import TemplateMatch
from analyzer.templating.paths import split_path
from analyzer.templating.values import ID_TYPES, classify

REPO = Path(__file__).resolve().parents[3]
BUNDLED = sorted(p for d in ("sample_pcaps", "sample_pcaps/corpus") for p in (REPO / d).glob("*.pcap*"))
_CORPUS = Path(os.environ.get("APICENSUS_SHARED_CORPUS") or REPO.parent / "shared" / "corpus")
CORPUS = sorted((_CORPUS / "pcaps").glob("*.pcap*"))


def _items(captures: list[Path]) -> list[Normalised]:
    settings = AnalyzerSettings(database_url="unused", pii_enabled=False)
    return [
        n
        for capture in captures
        for obs in read_observations(str(capture), on_error=lambda _m: None)
        for view in expand(obs)
        if (n := normalise(view, settings)) is not None and n.template is None and not n.malformed
    ]


def _final(t: Templater, items: list[Normalised]) -> list[TemplateMatch | None]:
    return [t.match(i.service, i.method, i.path) for i in items]


def _problems(items: list[Normalised]) -> dict[str, list[str]]:
    t = Templater()
    for start in range(0, len(items), 500):  # the pipeline's batches
        aggregate(items[start : start + 500], t)
    t.consolidate()
    final = _final(t, items)
    # Per (service, method, parent template): the literal last segments and the parameter types.
    leaves: dict[tuple[str, str, str], tuple[set[str], set[str]]] = defaultdict(lambda: (set(), set()))
    for item, m in zip(items, final, strict=True):
        if m is None:
            continue
        segs = split_path(m.template)
        for i, seg in enumerate(segs):
            key = (item.service, item.method, "/".join(segs[:i]))
            param = next((p for p in m.params if p.index == i), None)
            if param is not None and seg == "{" + param.name + "}":
                leaves[key][1].add(param.type)
            elif "{" not in seg:
                leaves[key][0].add(seg)
    split = [
        f"{k}: {sorted(s for s in lits if is_file_name(s))[:5]}"
        for k, (lits, types) in leaves.items()
        if types & {"file", "string"} and any(is_file_name(s) for s in lits)
    ]
    ids = [
        f"{k}: {sorted(s for s in lits if classify(s) in ID_TYPES)[:5]}"
        for k, (lits, types) in leaves.items()
        if types & ID_TYPES and any(classify(s) in ID_TYPES for s in lits)
    ]
    for hs in t._hosts.values():  # internal: force a full fold of every host
        hs.pending, hs.full_obs = 1, 0
    t.consolidate()
    again = _final(t, items)
    moved = [
        f"{i.service} {i.method} {i.path}: {a.template if a else None} -> {b.template if b else None}"
        for i, a, b in zip(items, final, again, strict=True)
        if (a.template if a else None) != (b.template if b else None)
    ]
    return {"folder split": split, "literal id beside its parameter": ids, "one more fold moved": moved}


def _check(captures: list[Path]) -> None:
    items = _items(captures)
    assert len(items) > 300
    problems = _problems(items)
    assert problems == {k: [] for k in problems}


def test_the_bundled_real_captures_end_consistent() -> None:
    assert any(p.name == "zeek_bro.org.pcap" for p in BUNDLED)  # a site's static folders
    _check(BUNDLED)


@pytest.mark.skipif(len(CORPUS) < 100, reason=f"shared corpus not present at {_CORPUS} (../shared/corpus beside the repo)")
def test_the_whole_shared_corpus_ends_consistent() -> None:
    _check(CORPUS)
