"""Alert delivery throughput: dispatcher -> outbox -> worker -> local receivers, side by side.

    .venv/bin/python bench/alerts_delivery.py [--alerts 2000] [--pg postgresql://postgres@127.0.0.1:5432/postgres]

Prints, per outbox backend (SQLite file; PostgreSQL when --pg is given: a throwaway database is
created and dropped) and per destination kind (signed webhook, Splunk HEC batches, syslog TCP,
syslog TLS), the time to enqueue N alerts and to deliver them all, as alerts/s, plus the
render cost per alert (OCSF JSON, CEF, RFC 5424). Receivers are the test receivers on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from pathlib import Path

from analyzer.alerts import (
    AlertDispatcher,
    AlertSettings,
    DeliveryWorker,
    SqlOutbox,
    cef,
    create_tables,
    syslog,
)
from analyzer.alerts.destinations import Destination, parse_destination
from analyzer.alerts.model import AlertEvent, ServiceRef, alert_from_threat_event
from analyzer.alerts.ocsf import to_ocsf
from analyzer.db.session import make_engine

REPO = Path(__file__).resolve().parents[1]


def alerts(n: int) -> list[AlertEvent]:
    service = ServiceRef(host="api.example.com", owner="alice", team="payments")
    return [
        alert_from_threat_event(
            {
                "id": f"ev{i}",
                "type": "bola",
                "severity": "high",
                "title": f"actor {i} walked ids",
                "actor": {
                    "ip": f"198.51.{i // 250 % 250}.{i % 250}",
                    "identity": f"jwt:acme/u{i}",
                    "key": f"k{i}",
                },
                "host": "api.example.com",
                "method": "GET",
                "path_template": "/users/{id}",
                "first_seen": 1_772_366_000.0,
                "last_seen": 1_772_366_300.0,
                "count": 40,
                "evidence": {"distinct_ids": 40},
            },
            service=service,
        )
        for i in range(n)
    ]


def run(url: str, destination: Destination, batch: list[AlertEvent]) -> tuple[float, float]:
    engine = make_engine(url)
    create_tables(engine)
    outbox = SqlOutbox(engine)
    settings = AlertSettings(concurrency=4, claim_limit=500, max_pending=len(batch) + 10)
    started = time.perf_counter()
    AlertDispatcher(outbox=outbox, destinations=[destination], settings=settings).submit(batch)
    enqueued = time.perf_counter() - started
    worker = DeliveryWorker(outbox=outbox, destinations=[destination], settings=settings)
    started = time.perf_counter()
    while outbox.status(destination.id).delivered_total < len(batch):
        if worker.run_once().claimed == 0:
            time.sleep(0.01)
    delivered = time.perf_counter() - started
    worker.close()
    engine.dispose()
    return enqueued, delivered


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--alerts", type=int, default=2000)
    parser.add_argument("--pg", help="admin URL of a PostgreSQL server (a throwaway database is used)")
    args = parser.parse_args()
    batch = alerts(args.alerts)

    started = time.perf_counter()
    for alert in batch:
        to_ocsf(alert)
    ocsf_us = (time.perf_counter() - started) / len(batch) * 1e6
    started = time.perf_counter()
    for alert in batch:
        syslog.build_message(
            alert,
            cef.to_cef(alert),
            delivery_id="d",
            facility=16,
            hostname="h",
            procid="1",
            now=alert.detected_at,
        )
    cef_us = (time.perf_counter() - started) / len(batch) * 1e6
    print(f"render per alert: OCSF dict {ocsf_us:.0f} µs, CEF in RFC 5424 {cef_us:.0f} µs")

    sys.path.insert(0, str(REPO))  # the test receivers live in tests/ (not installed)
    from tests.receivers import HttpReceiver, SyslogReceiver, make_certificates

    tmp = Path(tempfile.mkdtemp(prefix="alerts-bench-"))
    certs = make_certificates(tmp / "certs")
    http = HttpReceiver()
    tcp = SyslogReceiver("tcp")
    tls = SyslogReceiver("tls", certs=certs)
    kinds = {
        "webhook (signed, 1 request/alert)": {"kind": "webhook", "url": f"{http.url}/a", "secret": "0123456789abcdef0123", "flood_limit": 100_000},
        "splunk_hec (batches of 50)": {"kind": "splunk_hec", "url": f"{http.url}/services/collector/event", "token": "t", "flood_limit": 100_000},
        "syslog tcp (batches of 50)": {"kind": "syslog", "host": "127.0.0.1", "port": tcp.port, "transport": "tcp", "flood_limit": 100_000},
        "syslog tls (batches of 50)": {
            "kind": "syslog", "host": "127.0.0.1", "port": tls.port, "transport": "tls",
            "tls_ca_file": str(certs.ca_file), "flood_limit": 100_000,
        },
    }  # fmt: skip
    backends = {"sqlite": lambda name: f"sqlite:///{tmp / (name + '.db')}"}
    admin = None
    if args.pg:
        import psycopg2
        from sqlalchemy.engine import make_url

        admin = make_url(args.pg)
        conn = psycopg2.connect(
            host=admin.host, port=admin.port or 5432, user=admin.username, dbname=admin.database
        )
        conn.autocommit = True
        created: list[str] = []

        def pg(name: str) -> str:
            db = f"apicensus_bench_{uuid.uuid4().hex[:10]}"
            with conn.cursor() as cur:
                cur.execute(f'CREATE DATABASE "{db}"')
            created.append(db)
            return admin.set(drivername="postgresql+psycopg2", database=db).render_as_string(
                hide_password=False
            )  # type: ignore[union-attr]

        backends["postgresql"] = pg
    print(f"{'destination':38} {'outbox':11} {'enqueue/s':>10} {'deliver/s':>10}")
    try:
        for index, (label, spec) in enumerate(kinds.items()):
            for backend, make_url_for in backends.items():
                name = f"{backend}-{index}"
                destination = parse_destination({"id": name, **spec})
                enqueued, delivered = run(make_url_for(name), destination, batch)
                print(f"{label:38} {backend:11} {len(batch) / enqueued:10.0f} {len(batch) / delivered:10.0f}")
    finally:
        http.close()
        tcp.close()
        tls.close()
        if admin is not None:
            with conn.cursor() as cur:
                for db in created:
                    cur.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
            conn.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
