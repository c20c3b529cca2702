"""Distributed detection: the capture shipped by the real sensor to NATS JetStream in small
batches; two ``apicensus analyzer`` processes on the stream store the same events as one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.analyzer.detect import capture
from tests.stack import LocalStack, missing_for_nats

pytestmark = pytest.mark.skipif(missing_for_nats() is not None, reason=f"{missing_for_nats()}")

SHIP = ("--ship-batch", "7", "--ship-wait", "3600", "--ship-timeout", "90")
SECRET = "nats-wiring-secret"  # one deployment secret for both stacks: comparable event ids


def _events_with(pcap: Path, analyzers: int) -> list[dict[str, Any]]:
    with LocalStack(service=False) as stack:
        stack.env["APICENSUS_DETECT_SECRET"] = SECRET
        stack.run_sensor("--pcap", str(pcap), *SHIP)
        procs = [stack.start_analyzer(idle_exit=4, no_pii=True) for _ in range(analyzers)]
        for proc in procs:
            assert stack.wait_for_exit(proc, timeout=180) == 0
        out = stack.apicensus("export", "--format", "events", "--db", stack.db_url).stdout
    return [json.loads(line) for line in out.splitlines()]


def test_two_analyzers_on_the_stream_store_the_events_of_one(tmp_path: Path) -> None:
    pcap = capture.write_capture(tmp_path / "shop.pcap")
    one = _events_with(pcap, 1)
    assert {(e["type"], e["actor"]["ip"]) for e in one} >= {
        ("bola", capture.ATTACKER_IP),
        ("injection", capture.INJECTOR_IP),
    }
    assert _events_with(pcap, 2) == one
