"""Injection floors on the OWASP CRS regression tests copied into tests/ (Apache-2.0).

Per class >= 90% of the must-fire cases detected; <= 2% of the must-not-fire cases firing, not
counting those whose request is a must-fire case of another CRS rule, nor those reviewed as
attack payloads (data/crs/REVIEWED_ATTACKS.txt, each with its reason). The raw rate over every
must-not-fire case is bounded too, so that a regression there cannot hide behind the list (the
subset holds a larger share of those payloads than the corpus: 7 of 199 fire, all reviewed).
``bench/crs_bench.py`` runs the whole corpus, where the floor is <= 2% raw (12 of 678 today).
"""

from __future__ import annotations

from pathlib import Path

from bench.attacks.crs import load_cases
from bench.crs_bench import own_detector, score

DATA = Path(__file__).parent / "data" / "crs"


def test_crs_floors() -> None:
    cases = load_cases(DATA)
    assert len(cases) > 900
    result = score(cases, own_detector)
    fired, missed = result["fired"], result["missed"]
    for klass in ("sqli", "xss", "path_traversal", "cmd_injection", "jndi"):
        total = len(fired[klass]) + len(missed[klass])
        assert total >= 60, klass
        assert len(fired[klass]) / total >= 0.90, (klass, [c.name for c in missed[klass]][:20])
    negatives = result["negatives"]
    false_pos = result["false_pos"]
    reviewed_fired = result["reviewed_fired"]
    benign = negatives - result["reviewed"]
    unreviewed = [c.name for c, _ in false_pos if c.reviewed_attack is None]
    assert len(unreviewed) / benign <= 0.02, unreviewed
    assert len(false_pos) / negatives <= 0.05, [c.name for c, _ in false_pos]
    assert len(reviewed_fired) <= result["reviewed"]
