"""Issue 14's fuzzing, bounded for the suite: mutated captures and HTTP streams through the real
engine (bench/fuzz_sensor.py; run that for minutes of it). Seeded: a failure names its case,
``bench/fuzz_sensor.py --replay N --seed 14`` runs it alone."""

from __future__ import annotations

import time

from bench.fuzz_sensor import fuzz, make_case, pcap_seeds, report, run_case

SEED = 14
CASES = 1500


def test_fuzzed_inputs_give_no_traceback_no_hang_and_bounded_memory() -> None:
    started = time.monotonic()
    summary = fuzz(SEED, CASES, hang_seconds=5.0)
    text = report(summary, SEED, time.monotonic() - started)
    assert summary.cases == CASES, text
    assert summary.clean(), text
    assert summary.max_rss_mb < 300, text
    assert summary.slowest[0] < 2.0, text
    assert summary.exchanges > CASES, text  # the cases reach the parsers, not just the decoder


def test_cases_replay_identically() -> None:
    seeds = pcap_seeds()
    for index in (0, 1, 7, 1234):
        a, b = make_case(SEED, index, seeds), make_case(SEED, index, seeds)
        assert (a.kind, a.frames, a.pcap) == (b.kind, b.frames, b.pcap)
        first, second = run_case(a), run_case(b)
        assert (first["exchanges"], first["traceback"]) == (second["exchanges"], second["traceback"])
