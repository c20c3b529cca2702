"""Fault tests of the distributed path: real processes, real NATS JetStream, real PostgreSQL.

One capture (deterministic synthetic API traffic) is shipped in batches cut by size only
(``--ship-wait`` long), so every run sees the same batches in the same stream order. The
reference is one analyzer reading that stream without trouble; every faulty run must end with
an export equal to it, field for field (hits, statuses, parameters, PII counts, peers, hours...;
only which masked PII example is kept may differ):
- an analyzer SIGKILLed mid-stream, then started again;
- two analyzers on the stream (and the stream carrying every batch twice: at-least-once);
- NATS stopped while the sensor ships, then started again (the spool drains);
- the inventory service stopped while the sensor ships over HTTP, then started again;
- PostgreSQL restarted under two analyzers (they retry);
plus redaction: with bodies and header values redacted the paths and queries still template
and still show PII.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from tests.stack import LocalStack, missing_for_nats, missing_for_own_postgres

pytestmark = pytest.mark.skipif(missing_for_nats() is not None, reason=f"{missing_for_nats()}")

EXCHANGES = 1200
BATCH = 40  # -> 30 batches
SHIP = ("--ship-batch", str(BATCH), "--ship-wait", "3600", "--ship-timeout", "90")


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from devtools.synth import generate_api_traffic

    path = tmp_path_factory.mktemp("faults") / "api.pcap"
    generate_api_traffic(str(path), exchanges=EXCHANGES, seed=4242)
    return path


def _export(stack: LocalStack) -> dict[str, Any]:
    out = stack.apicensus("export", "--format", "json", "--db", stack.db_url).stdout
    return json.loads(out)


def _without_samples(doc: dict[str, Any]) -> dict[str, Any]:
    # Which masked example a PII finding keeps is the first one stored; runs that group the
    # stream's batches differently have been seen to keep another, equally valid, example
    # (cause not pinned down yet). Everything counted must be equal, and is.
    out = json.loads(json.dumps(doc))
    for endpoint in out["endpoints"]:
        for finding in endpoint["pii"]:
            finding.pop("sample", None)
    return out


def _same(doc: dict[str, Any], reference: dict[str, Any], *, samples: bool = True) -> None:
    """Equal exports, or the first differences spelled out."""
    if not samples:
        doc, reference = _without_samples(doc), _without_samples(reference)
    if doc == reference:
        return
    lines: list[str] = []

    def walk(a: Any, b: Any, path: str) -> None:
        if len(lines) > 20:
            return
        if isinstance(a, dict) and isinstance(b, dict):
            for key in sorted(set(a) | set(b), key=str):
                walk(a.get(key, "<missing>"), b.get(key, "<missing>"), f"{path}.{key}")
        elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
            for i, (x, y) in enumerate(zip(a, b, strict=True)):
                walk(x, y, f"{path}[{i}]")
        elif a != b:
            lines.append(f"{path}: {str(a)[:160]} != {str(b)[:160]}")

    walk(doc, reference, "export")
    raise AssertionError("export differs from the reference:\n" + "\n".join(lines))


def _hits(doc: dict[str, Any]) -> int:
    return sum(e["hits"] for e in doc["endpoints"]) + sum(n["count"] for n in doc["noise"])


def _progress(stack: LocalStack) -> int:
    from sqlalchemy import text

    from analyzer.db.session import make_engine

    engine = make_engine(stack.db_url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text("SELECT coalesce(max(last_seq), 0) FROM stream_progress")).scalar() or 0)
    except Exception:  # noqa: BLE001 - table not there yet / database restarting
        return 0
    finally:
        engine.dispose()


def _wait_progress(stack: LocalStack, seq: int, timeout: float = 120.0) -> None:
    stack.wait_until(lambda: _progress(stack) >= seq, timeout=timeout, what=f"stream applied up to {seq}",
                     interval=0.1)


def _batches() -> int:
    return -(-EXCHANGES // BATCH)


@pytest.fixture(scope="module")
def reference(capture: Path) -> dict[str, Any]:
    """One analyzer, one clean pass over the stream."""
    with LocalStack(service=False) as stack:
        stack.run_sensor("--pcap", str(capture), *SHIP)
        proc = stack.start_analyzer(idle_exit=3)
        assert stack.wait_for_exit(proc, timeout=180) == 0
        doc = _export(stack)
    assert _hits(doc) == EXCHANGES
    assert any(e["pii"] for e in doc["endpoints"])
    return doc


def test_sigkilled_analyzer_restarts_and_ends_with_the_same_counts(capture: Path, reference: dict) -> None:
    with LocalStack(service=False) as stack:
        stack.run_sensor("--pcap", str(capture), *SHIP)
        # A short ack wait: the batches the killed analyzer held come back within seconds.
        first = stack.start_analyzer(ack_wait=3)
        _wait_progress(stack, 6)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        applied_before = _progress(stack)
        assert applied_before < _batches(), "the kill came too late to test anything"
        second = stack.start_analyzer(idle_exit=6, ack_wait=3)
        assert stack.wait_for_exit(second, timeout=180) == 0
        doc = _export(stack)
    _same(doc, reference)


def test_two_analyzers_build_the_same_inventory_as_one_even_with_every_batch_twice(
    capture: Path, reference: dict
) -> None:
    with LocalStack(service=False) as stack:
        # At least once: a second sensor run re-sends every exchange (new batch ids, same uids).
        stack.run_sensor("--pcap", str(capture), *SHIP)
        stack.run_sensor("--pcap", str(capture), *SHIP)
        a = stack.start_analyzer(idle_exit=4)
        b = stack.start_analyzer(idle_exit=4)
        assert stack.wait_for_exit(a, timeout=180) == 0
        assert stack.wait_for_exit(b, timeout=180) == 0
        doc = _export(stack)
        logs = "".join(p.read_text() for p in stack.logs.glob("analyzer-*.log"))
    _same(doc, reference)
    assert '"consuming"' in logs and "Traceback" not in logs


class _SlowCapture:
    """The capture written into a FIFO the sensor reads (``--pcap FIFO``), in two halves, so a
    fault can be injected while the sensor is mid-way and still reading."""

    def __init__(self, stack: LocalStack, capture: Path, ship: str, spool: Path) -> None:
        self.data = capture.read_bytes()
        self.fifo = stack.tmp / f"capture-{time.monotonic_ns()}.fifo"
        os.mkfifo(self.fifo)
        self.proc = stack.start_sensor("--pcap", str(self.fifo), *SHIP, ship=ship, spool_dir=str(spool))
        self.stack = stack
        self.pipe = open(self.fifo, "wb")  # noqa: SIM115 - closed in finish()

    def first_half(self) -> None:
        self.pipe.write(self.data[: len(self.data) // 2])
        self.pipe.flush()
        time.sleep(1.5)  # shipped before the fault

    def second_half(self) -> None:
        self.pipe.write(self.data[len(self.data) // 2 :])
        self.pipe.close()

    def finish(self) -> dict[str, Any]:
        assert self.stack.wait_for_exit(self.proc, timeout=180) == 0
        name = self.stack._name_of(self.proc)[0]
        return _final_counters((self.stack.logs / f"{name}.log").read_text())


def _final_counters(log: str) -> dict[str, Any]:
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{") and "shipping done" in line]
    assert lines, log[-2000:]
    return lines[-1]


def test_nats_down_while_the_sensor_ships_loses_nothing(capture: Path, reference: dict, tmp_path: Path) -> None:
    with LocalStack(service=False) as stack:
        feed = _SlowCapture(stack, capture, "nats", tmp_path / "spool")
        feed.first_half()
        stack.stop_nats()
        feed.second_half()
        stack.wait_until(lambda: bool(list((tmp_path / "spool").glob("*.zst"))), timeout=60,
                         what="batches spooled while NATS is down")
        stack.start_nats()
        counters = feed.finish()
        assert counters["batches_spooled"] > 0 and counters["spool_batches"] == 0
        assert counters["exchanges_sent"] == EXCHANGES and counters["spool_dropped_exchanges"] == 0
        analyzer = stack.start_analyzer(idle_exit=3)
        assert stack.wait_for_exit(analyzer, timeout=180) == 0
        doc = _export(stack)
    _same(doc, reference)


def test_inventory_down_while_the_sensor_ships_over_http_loses_nothing(
    capture: Path, reference: dict, tmp_path: Path
) -> None:
    with LocalStack(nats=False) as stack:
        feed = _SlowCapture(stack, capture, "http", tmp_path / "spool")
        feed.first_half()
        stack.stop_service()
        feed.second_half()
        stack.wait_until(lambda: bool(list((tmp_path / "spool").glob("*.zst"))), timeout=60,
                         what="batches spooled while the service is down")
        stack.start_service()
        counters = feed.finish()
        assert counters["batches_spooled"] > 0 and counters["spool_batches"] == 0
        assert counters["exchanges_sent"] == EXCHANGES
        # Each HTTP batch is applied on arrival, in order: the same inventory as the stream's.
        deadline = time.monotonic() + 30
        doc = _export(stack)
        while doc != reference and time.monotonic() < deadline:  # verdicts refresh every few seconds
            time.sleep(1.0)
            doc = _export(stack)
    _same(doc, reference)


@pytest.mark.skipif(missing_for_own_postgres() is not None, reason=f"{missing_for_own_postgres()}")
def test_postgres_restart_under_two_analyzers_loses_nothing(capture: Path, reference: dict) -> None:
    with LocalStack(service=False, own_postgres=True) as stack:
        stack.run_sensor("--pcap", str(capture), *SHIP)
        stack.start_analyzer()
        stack.start_analyzer()
        _wait_progress(stack, 4)
        # A crash, not a clean shutdown: transactions in flight are cut off.
        stack.restart_postgres(kill=True)
        assert _progress(stack) < _batches(), "the restart came too late to test anything"
        _wait_progress(stack, _batches(), timeout=180)
        assert all(p.poll() is None for p in stack.analyzers), "an analyzer gave up on the database"
        stack.stop_analyzers()
        doc = _export(stack)
        logs = "".join(p.read_text() for p in stack.logs.glob("analyzer-*.log"))
    _same(doc, reference)
    assert "Traceback" not in logs


def test_redacted_shipping_still_templates_and_finds_pii_in_paths_and_queries(capture: Path) -> None:
    with LocalStack(service=False) as stack:
        stack.run_sensor("--pcap", str(capture), *SHIP, "--redact-bodies", "--keep-headers", "host,content-type")
        proc = stack.start_analyzer(idle_exit=3)
        assert stack.wait_for_exit(proc, timeout=180) == 0
        doc = _export(stack)
    assert _hits(doc) == EXCHANGES
    assert any("{" in e["path_template"] for e in doc["endpoints"])
    locations = {f["location"] for e in doc["endpoints"] for f in e["pii"]}
    assert locations and locations <= {"path", "query", "header"}, locations
    assert all(not e.get("response_fields") and not e.get("request_fields") for e in doc["endpoints"])


def test_an_analyzer_started_before_nats_waits_for_it(capture: Path, reference: dict) -> None:
    with LocalStack(service=False) as stack:
        stack.stop_nats()
        analyzer = stack.start_analyzer(idle_exit=30)
        time.sleep(3.0)  # retrying meanwhile
        assert analyzer.poll() is None
        stack.start_nats()
        stack.run_sensor("--pcap", str(capture), *SHIP)
        _wait_progress(stack, _batches())
        stack.stop_process(analyzer)
        doc = _export(stack)
    _same(doc, reference)
