"""End to end across network namespaces into the inventory service: a real client and JSON API
in two namespaces joined by a veth pair; ``apicensus sensor --interface`` sniffing the client's
veth end (1 and 2 workers) and shipping over HTTP to ``apicensus serve`` with a sensor key; every
exchange the client made must be counted in the inventory. Needs root (namespaces, AF_PACKET).

The sensor and the service run inside the client namespace (a namespace has its own loopback);
the service reaches PostgreSQL through its Unix socket, which namespaces do not separate.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from tests.netns import REPO, ApiLab, Lines, stop
from tests.sensor.test_netns import _run_client, _template

PG_SOCKET_DIR = "/var/run/postgresql"
SERVICE_PORT = 8777


def _cli(*argv: str, env: dict[str, str] | None = None) -> str:
    result = subprocess.run([sys.executable, "-m", "apicensus_cli", *argv], cwd=REPO, capture_output=True,
                            text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.skipif(not Path(PG_SOCKET_DIR).is_dir(), reason="PostgreSQL's Unix socket directory is absent")
@pytest.mark.parametrize("workers", [1, 2])
def test_live_sensor_ships_every_exchange_into_the_inventory(
    netns_api_lab: ApiLab, pg_url: str, tmp_path: Path, workers: int
) -> None:
    lab, pair = netns_api_lab, netns_api_lab.pair
    url = make_url(pg_url)
    # A database per parametrisation: the module-scoped one is shared.
    db_name = f"{url.database}_w{workers}"
    admin = url.set(database="postgres").render_as_string(hide_password=False)
    subprocess.run(["psql", admin.replace("postgresql+psycopg2", "postgresql"), "-qc",
                    f'DROP DATABASE IF EXISTS "{db_name}"', "-c", f'CREATE DATABASE "{db_name}"'], check=True)
    tcp_db = url.set(database=db_name).render_as_string(hide_password=False)
    socket_db = f"postgresql://postgres@/{db_name}?host={PG_SOCKET_DIR}"
    _cli("migrate", "--db", tcp_db)
    key = _cli("keys", "create", "--role", "sensor", "--name", "netns", "--db", tcp_db).strip()
    env = {**os.environ, "APICENSUS_SENSOR_KEY": key, "APICENSUS_LOG_FORMAT": "json"}
    subprocess.run(pair.argv(pair.client_ns, "ip", "link", "set", "lo", "up"), check=True)
    service = subprocess.Popen(
        pair.python(pair.client_ns, "-m", "apicensus_cli", "serve", "--db", socket_db,
                    "--bind", f"127.0.0.1:{SERVICE_PORT}"),
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    sensor = None
    try:
        service_log = Lines(service.stderr)
        assert service_log.wait_for(lambda line: "Uvicorn running" in line or "startup complete" in line.lower(),
                                    timeout=60), service_log.text(1)
        sensor = subprocess.Popen(
            pair.python(pair.client_ns, "-m", "apicensus_cli", "sensor", "--interface", pair.client_if,
                        "--workers", str(workers), "--ship", f"http://127.0.0.1:{SERVICE_PORT}/api/v1/ingest",
                        "--ship-wait", "0.5", "--spool-dir", str(tmp_path / "spool"), "--stats-interval", "1"),
            cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
        sensor_log = Lines(sensor.stderr)
        assert sensor_log.wait_for(lambda line: '"kernel_drops"' in line, timeout=30), sensor_log.text(1)
        done = _run_client(lab)
        time.sleep(0.5)
        sensor.send_signal(signal.SIGTERM)
        assert sensor.wait(60) == 0, sensor_log.text(1)
        final = [json.loads(line) for line in sensor_log.text(5).splitlines() if '"shipping done"' in line]
        assert final and final[-1]["exchanges_sent"] == len(done) and final[-1]["spool_batches"] == 0
        assert final[-1]["kernel_drops"] == 0
    finally:
        if sensor is not None:
            stop(sensor)
        stop(service)
    export = json.loads(_cli("export", "--db", tcp_db))
    endpoints = [e for e in export["endpoints"] if e["host"] == lab.host]
    assert {(e["method"], e["path_template"]): e["hits"] for e in endpoints} == \
        dict(Counter((d["method"], _template(d["target"])) for d in done))
    assert sum(e["hits"] for e in endpoints) == len(done)
