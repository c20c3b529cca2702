"""Issue 14's fuzzing, bounded for the suite: mutated captures, HTTP streams and (issue 13) HTTP/2,
gRPC, WebSocket, Dubbo and TLS connections through the real engine (bench/fuzz_sensor.py; run
that for minutes of it). Seeded: a failure names its case, ``bench/fuzz_sensor.py --replay N
--seed 14`` (``--mix proto`` for the protocol-only run) runs it alone."""

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


PROTO_CASES = 800


def test_garbled_protocol_frames_give_only_tags_and_counters() -> None:
    """h2/gRPC/WebSocket/Dubbo/TLS byte streams cut, garbled and truncated: every case ends with
    records and their tags, never a traceback, a contained error, a hang or unreleased buffers."""
    started = time.monotonic()
    summary = fuzz(SEED, PROTO_CASES, hang_seconds=5.0, mix="proto")
    text = report(summary, SEED, time.monotonic() - started)
    assert summary.cases == PROTO_CASES and summary.clean(), text
    assert summary.max_rss_mb < 300 and summary.slowest[0] < 2.0, text
    # The damage reaches every protocol's parser and comes out as data.
    assert {"h2c", "grpc", "websocket", "dubbo", "tls"} <= set(summary.protocols), text
    assert summary.tags["tls_malformed"] > 0 and summary.tags["mid_stream"] > 0, text
    assert sum(n for tag, n in summary.tags.items() if tag.startswith(("hpack", "h2", "stream_reset"))) > 0, text


def test_cases_replay_identically() -> None:
    seeds = pcap_seeds()
    for index, mix in ((0, "all"), (1, "all"), (7, "all"), (1234, "all"), (3, "proto"), (99, "proto")):
        a, b = make_case(SEED, index, seeds, mix), make_case(SEED, index, seeds, mix)
        assert (a.kind, a.frames, a.pcap) == (b.kind, b.frames, b.pcap)
        first, second = run_case(a), run_case(b)
        assert (first["exchanges"], first["traceback"], first["tags"]) == (
            second["exchanges"], second["traceback"], second["tags"])
