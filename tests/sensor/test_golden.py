"""Golden files: every bundled capture's exchanges, summarised, must not drift unnoticed.

Regenerate after an intended change with ``APICENSUS_UPDATE_GOLDEN=1 pytest tests/sensor/test_golden.py``
and review the diff: it is the behaviour change.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from sensor.engine import iter_exchanges
from sensor.pcapio import CaptureError
from sensor.records import Exchange
from tests.sensor.conftest import CORPUS_COPIES, QUIRK_CAPTURES, SAMPLES

GOLDEN = Path(__file__).parent / "golden"
CAPTURES = sorted(
    [*SAMPLES.glob("*.pcap*"), *CORPUS_COPIES.glob("*.pcap*"), *QUIRK_CAPTURES.glob("*.pcap")],
    key=lambda p: p.name,
)


def summarize(ex: Exchange) -> dict:
    """What a reviewer checks: who, what, outcome, anomalies and body sizes."""
    return {
        "uid": ex.uid,
        "client": ex.client,
        "server": ex.server,
        "method": ex.method,
        "host": ex.host,
        "target": ex.target,
        "status": ex.status,
        "interim": list(ex.interim_statuses),
        "req_headers": len(ex.request_headers),
        "resp_headers": len(ex.response_headers),
        "req_body": [ex.request_body.wire_length, ex.request_body.length],
        "resp_body": [ex.response_body.wire_length, ex.response_body.length],
        "vlan": list(ex.vlan),
        "tags": sorted(ex.tags),
    }


def summarize_capture(path: Path) -> list[dict]:
    out: list[dict] = []
    try:
        for ex in iter_exchanges(path):
            out.append(summarize(ex))
    except CaptureError as exc:
        out.append({"capture_error": str(exc)})
    return out


@pytest.mark.parametrize("capture", CAPTURES, ids=lambda p: p.name)
def test_capture_matches_golden(capture: Path) -> None:
    golden = GOLDEN / (capture.name + ".json")
    actual = summarize_capture(capture)
    if os.environ.get("APICENSUS_UPDATE_GOLDEN"):
        golden.write_text(json.dumps(actual, indent=1, sort_keys=True) + "\n")
    assert golden.exists(), f"no golden file for {capture.name}; run with APICENSUS_UPDATE_GOLDEN=1"
    assert actual == json.loads(golden.read_text())
