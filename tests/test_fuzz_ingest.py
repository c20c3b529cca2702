"""Issue 14's fuzzing of the inventory service, bounded for the suite: mutated ingest batches and
request heads sent to a real ``apicensus serve`` over 127.0.0.1 (bench/fuzz_ingest.py; run that
for minutes of it). Seeded: a failure names its case, ``bench/fuzz_ingest.py --replay N --seed 14``
runs it alone.

PII detection is off in the service here (``APICENSUS_PII=0``: loading presidio in the ingest
child would take most of the time bound); the bench runs with it on.
"""

from __future__ import annotations

import time
from pathlib import Path

import zstandard

from bench.fuzz_ingest import BATCH_MUTATIONS, fuzz, make_case, report

SEED = 14
CASES = 64


def test_fuzzed_batches_and_heads_give_no_5xx_no_traceback_no_hang_and_bounded_memory() -> None:
    started = time.monotonic()
    summary = fuzz(SEED, CASES, concurrency=4, env={"APICENSUS_PII": "0"})
    text = report(summary, SEED)
    assert summary.cases == CASES, text
    assert summary.clean(), text  # no 5xx, hang, traceback or error line; health and a clean batch after
    assert summary.serve_rss_mb < 300 and summary.ingest_rss_mb < 400, text
    batches, heads = summary.statuses["batch"], summary.statuses["head"]
    # Every batch mutation ran, and the cases reach every outcome: taken, refused, too large.
    assert {m.split(":", 1)[1] for m in summary.mutations if m.startswith("batch:")} == set(BATCH_MUTATIONS), text
    assert batches["200"] >= 10 and batches["400"] >= 5 and batches["413"] >= 2, text
    assert heads["400"] >= 5 and sum(heads.values()) == CASES // 2, text
    assert time.monotonic() - started < 90, text  # 11-34 s measured at load 7-10 on 2 cores


def test_cases_replay_identically() -> None:
    for index in (0, 1, 7, 30, 1234):
        a, b = make_case(SEED, index), make_case(SEED, index)
        assert (a.kind, a.mutation, a.payload, a.encoding, a.keyed) == (b.kind, b.mutation, b.payload, b.encoding, b.keyed)


def test_what_the_fuzzer_found_stays_fixed() -> None:
    """A 3 KB zstd batch of 65 M newlines held the ingest child for over a minute (one Python
    step per blank line); a list as ``protocol`` was a TypeError, answered 500."""
    from analyzer.observation import from_record
    from sensor.plumbing import wire

    newlines = zstandard.ZstdCompressor().compress(b"\n" * (1 << 20)) * 65
    assert len(newlines) < 10_000
    started = time.monotonic()
    try:
        wire.decode_batch(newlines)
    except wire.BatchTooLarge as exc:
        assert "lines" in str(exc)
    else:
        raise AssertionError("a batch of 65 M blank lines was accepted")
    assert time.monotonic() - started < 1.0
    # Blank lines between records are still fine, up to the bound.
    assert len(wire.decode_batch(b'{"method":"GET","target":"/"}\n\n\r\n' * 100)) == 100

    for value in ([], {}, ["http/1.1"], 7, None):
        obs = from_record({"schema": 2, "method": "GET", "target": "/", "protocol": value})
        assert obs.protocol == "unknown" and "protocol" in obs.anomalies


def test_records_nested_past_what_can_be_written_are_skipped_not_a_batch_rejected() -> None:
    """A record 300 levels deep (orjson reads 1,024, writes 255) overflowed Python's stack in the
    ingest child (RecursionError: the batch rejected); a body nested 3,000 deep did in GraphQL."""
    from analyzer.protocols.graphql import response_summary
    from sensor.plumbing import wire

    deep = b'{"method":"GET","target":"/d","proto":' + b'{"a":' * 300 + b"1" + b"}" * 300 + b"}"
    records = wire.decode_batch(deep + b'\n{"method":"GET","target":"/ok"}\n')
    assert [r["target"] for r in records] == ["/ok"]
    assert response_summary(b"[" * 3000 + b"]" * 3000) == []


def test_a_body_cut_off_or_malformed_mid_way_leaves_no_traceback(pg_url: str, tmp_path: Path) -> None:
    """A client gone mid-body (here: cut by serve's body timeout) raised ClientDisconnect out of
    the ingest route, logged as an exception: now a 400 nobody reads, and a quiet log. And case
    1093 (an HTTP/1.0 GET with a broken chunked body): uvicorn's 400 for the bad chunk and the
    route's own answer collided in h11 (LocalProtocolError, logged each time): the 400 alone now."""
    import httpx

    from bench.fuzz_ingest import make_case, make_keys, run_case, send_raw, serving

    log = tmp_path / "serve.log"
    with serving(pg_url, log) as (base, _proc):
        keys = make_keys(pg_url)
        port = int(base.rsplit(":", 1)[1])
        head = (b"POST /api/v1/ingest HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer %s\r\nContent-Length: 1000\r\n\r\n"
                % keys["sensor"].encode())
        outcome, _status, _head = send_raw(port, head + b'{"method":', timeout=10)
        assert outcome in ("closed", "answered"), outcome  # closed at the body timeout, not held
        broken_chunks = make_case(SEED, 1093)
        assert broken_chunks.kind == "head" and b"HTTP/1.0" in broken_chunks.payload
        for _ in range(10):
            assert run_case(broken_chunks, port, keys)["outcome"] != "hang"
        assert httpx.get(f"{base}/health", timeout=5).status_code == 200
    text = log.read_text()
    assert "Traceback" not in text and "ClientDisconnect" not in text, text[-2000:]
