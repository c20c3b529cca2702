"""A delivery worker as its own process, for restart tests: ``python -m tests.alert_worker_proc DB_URL DEST_JSON [LEASE_SECONDS]``.

Runs a :class:`DeliveryWorker` on the outbox in ``DB_URL`` for the destination described by the
JSON until SIGTERM/SIGINT, then stops it the way a service does on shutdown (in-flight sends
finish and are recorded, unstarted claims are released) and exits 0. Prints ``ready`` once started.
"""

from __future__ import annotations

import json
import signal
import sys
import threading

from analyzer.alerts import AlertSettings, DeliveryWorker, SqlOutbox, parse_destination
from analyzer.db.session import make_engine


def main(argv: list[str]) -> int:
    url, destination_json, lease = argv[0], argv[1], float(argv[2]) if len(argv) > 2 else 120.0
    destination = parse_destination(json.loads(destination_json))
    engine = make_engine(url)
    settings = AlertSettings(
        poll_seconds=0.05, claim_limit=10, lease_seconds=lease, retry_base_seconds=0.2, retry_cap_seconds=1.0
    )
    worker = DeliveryWorker(outbox=SqlOutbox(engine), destinations=[destination], settings=settings)
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    worker.start()
    print("ready", flush=True)
    done.wait()
    worker.stop()
    engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
