"""Distributed detection: the capture shipped by the real sensor to NATS JetStream in small
batches; two ``apicensus analyzer`` processes on the stream, or one SIGKILLed mid-stream and its
successor, store the same events as one analyzer reading the stream undisturbed."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from tests.analyzer.detect import capture
from tests.stack import LocalStack, missing_for_nats

pytestmark = pytest.mark.skipif(missing_for_nats() is not None, reason=f"{missing_for_nats()}")

SHIP = ("--ship-batch", "7", "--ship-wait", "3600", "--ship-timeout", "90")
SECRET = "nats-wiring-secret"  # one deployment secret for both stacks: comparable event ids


def _progress(stack: LocalStack) -> int:
    from sqlalchemy import text

    from analyzer.db.session import make_engine

    engine = make_engine(stack.db_url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text("SELECT coalesce(max(last_seq), 0) FROM stream_progress")).scalar() or 0)
    except Exception:  # noqa: BLE001 - the table is not there yet
        return 0
    finally:
        engine.dispose()


def _events_with(pcap: Path, analyzers: int, *, kill_first: bool = False) -> tuple[list[dict[str, Any]], int]:
    """The stored events, and how many batches were applied before the kill (0: no kill)."""
    applied_before = 0
    with LocalStack(service=False) as stack:
        stack.env["APICENSUS_DETECT_SECRET"] = SECRET
        stack.run_sensor("--pcap", str(pcap), *SHIP)
        if kill_first:
            first = stack.start_analyzer(ack_wait=3, no_pii=True)
            stack.wait_until(lambda: _progress(stack) >= 3, timeout=120, what="3 batches applied", interval=0.05)
            first.send_signal(signal.SIGKILL)
            first.wait(10)
            applied_before = _progress(stack)
            time.sleep(0.5)
        procs = [stack.start_analyzer(idle_exit=5, ack_wait=3, no_pii=True) for _ in range(analyzers)]
        for proc in procs:
            assert stack.wait_for_exit(proc, timeout=180) == 0
        out = stack.apicensus("export", "--format", "events", "--db", stack.db_url).stdout
    return [json.loads(line) for line in out.splitlines()], applied_before


@pytest.fixture(scope="module")
def pcap(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return capture.write_capture(tmp_path_factory.mktemp("nats") / "shop.pcap",
                                 only=capture.exchanges(rounds=8))


@pytest.fixture(scope="module")
def reference(pcap: Path) -> list[dict[str, Any]]:
    one, _ = _events_with(pcap, 1)
    assert {(e["type"], e["actor"]["ip"]) for e in one} >= {
        ("bola", capture.ATTACKER_IP),
        ("injection", capture.INJECTOR_IP),
    }
    return one


def test_two_analyzers_on_the_stream_store_the_events_of_one(pcap: Path, reference: list[dict[str, Any]]) -> None:
    assert _events_with(pcap, 2)[0] == reference


def test_a_sigkilled_analyzer_loses_no_event(pcap: Path, reference: list[dict[str, Any]]) -> None:
    events, applied_before = _events_with(pcap, 1, kill_first=True)
    batches = -(-len(capture.exchanges(rounds=8)) // 7)
    assert 3 <= applied_before < batches, "the kill came too late to test anything"
    assert events == reference
