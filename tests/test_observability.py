"""Prometheus metrics of the sensor (--metrics) and the analyzer (--metrics), and JSON logs,
scraped from real running processes."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from tests.stack import LocalStack, free_port, http_get, missing_for_nats

pytestmark = pytest.mark.skipif(missing_for_nats() is not None, reason=f"{missing_for_nats()}")

CAPTURE = Path(__file__).resolve().parent.parent / "sample_pcaps" / "keepalive-api.pcap"


def _metrics(port: int) -> dict[str, float]:
    status, body = http_get(f"http://127.0.0.1:{port}/metrics")
    assert status == 200
    values = {}
    for line in body.decode().splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            values[name] = float(value)
    return values


def test_sensor_and_analyzer_expose_metrics_and_log_json(tmp_path: Path) -> None:
    data = CAPTURE.read_bytes()
    with LocalStack(service=False) as stack:
        sensor_port, analyzer_port = free_port(), free_port()
        analyzer = stack.start_analyzer(metrics=f"127.0.0.1:{analyzer_port}", no_pii=True)
        fifo = stack.tmp / "capture.fifo"
        os.mkfifo(fifo)
        sensor = stack.start_sensor("--pcap", str(fifo), "--ship-wait", "0.2",
                                    metrics=f"127.0.0.1:{sensor_port}")
        with open(fifo, "wb") as pipe:
            pipe.write(data)
            pipe.flush()
            # The capture is read but not finished (the FIFO is still open): a live sensor.
            stack.wait_for_port(sensor_port)
            stack.wait_until(lambda: _metrics(sensor_port).get("apicensus_sensor_exchanges_sent_total", 0) >= 40,
                             timeout=30, what="the sensor shipped the capture")
            sensor_values = _metrics(sensor_port)
        assert stack.wait_for_exit(sensor, timeout=60) == 0
        assert sensor_values["apicensus_sensor_packets_total"] == 152
        assert sensor_values["apicensus_sensor_exchanges_total"] == 40
        assert sensor_values["apicensus_sensor_spool_batches"] == 0
        assert sensor_values["apicensus_sensor_destination_up"] == 1
        stack.wait_for_port(analyzer_port)  # the sensor can finish before the analyzer has started
        stack.wait_until(lambda: _metrics(analyzer_port).get("apicensus_analyzer_exchanges_new_total", 0) >= 40,
                         timeout=60, what="the analyzer applied the batches")
        values = _metrics(analyzer_port)
        assert values["apicensus_analyzer_exchanges_received_total"] == 40
        assert values["apicensus_analyzer_exchanges_duplicate_total"] == 0
        assert values["apicensus_analyzer_pending"] == 0
        assert "apicensus_analyzer_batch_lag_seconds" in values
        stack.stop_process(analyzer)
        for log in stack.logs.glob("*.log"):
            if not log.name.startswith(("analyzer", "sensor")):
                continue
            lines = [line for line in log.read_text().splitlines() if line and not line.startswith("===")]
            assert lines, log.name
            for line in lines:
                entry = json.loads(line)  # every line a JSON object
                assert {"ts", "level", "component", "msg"} <= entry.keys()
    assert time.time()  # keep the FIFO writer closed before the stack is torn down
