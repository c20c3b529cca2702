"""Shutdown (issue 14): verdicts of the last ingested batch are computed even when the service is
stopped (SIGTERM) before its 5-second refresher runs."""

from __future__ import annotations

import signal
import time

import httpx
import orjson
from sqlalchemy import Engine, select

from analyzer.db.models import Endpoint
from sensor.plumbing.wire import encode_batch
from tests.inventory_api.conftest import auth, serving

SPEC = {
    "openapi": "3.0.3",
    "info": {"title": "Flush", "version": "1"},
    "servers": [{"url": "http://flush.example"}],
    "paths": {"/flush/orders": {"get": {"responses": {"200": {"description": "ok"}}}}},
}


def test_sigterm_right_after_an_ingest_still_computes_its_verdicts(
    pg_url: str, engine: Engine, keys: dict[str, str]
) -> None:
    record = {"method": "GET", "target": "/flush/orders", "host": "flush.example", "status": 200,
              "uid": "flush-1", "ts": 1_700_000_000.0}
    with serving(pg_url) as (base, proc), httpx.Client(base_url=base, timeout=30) as http:
        assert http.post("/api/v1/specs", json=SPEC, headers=auth(keys["admin"])).status_code == 201
        started = time.monotonic()
        response = http.post("/api/v1/ingest", content=encode_batch([orjson.dumps(record)]),
                             headers={**auth(keys["sensor"]), "Content-Encoding": "zstd"})
        assert response.status_code == 200 and response.json()["new"] == 1, response.text
        proc.send_signal(signal.SIGTERM)
        assert time.monotonic() - started < 5  # before the refresher's first run
        # uvicorn shuts down gracefully, then re-raises the signal it caught: -15 is a clean exit.
        assert proc.wait(timeout=20) in (0, -signal.SIGTERM)
    with engine.connect() as conn:
        verdict = conn.scalar(select(Endpoint.spec_verdict).where(Endpoint.path_template == "/flush/orders"))
    assert verdict == "documented"
