"""``apicensus sensor``: capture files, stdin or a live interface in; JSON lines out."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import socket
import sys
import threading
import time
from typing import Any, BinaryIO

import orjson

from sensor import interrupts, pcapio

# Only the standard library and the sensor core here: shipping (asyncio, nats, zstandard) is
# imported when --ship asks for it, so plain file runs start fast and small.
from sensor.config import DEFAULT_STREAM, SensorConfig

_DEFAULTS = SensorConfig()


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "sensor",
        help="decode packets into HTTP exchange records (JSON lines)",
        description="Read pcap/pcapng files, stdin (-) or a live interface; write one JSON object "
        "per HTTP request/response exchange.",
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--pcap", nargs="+", metavar="FILE", help="capture file(s); - reads stdin")
    src.add_argument("--interface", metavar="IFACE", help="live capture (AF_PACKET; needs root or CAP_NET_RAW)")
    p.add_argument("--output", "-o", metavar="OUT.jsonl", help="write records here (default: stdout)")
    p.add_argument("--bpf", default="", metavar="EXPR",
                   help="tcpdump-style kernel filter for live capture (default: none, so tunnelled and "
                   "VLAN-tagged mirror traffic is kept)")
    p.add_argument("--body-cap", type=int, default=_DEFAULTS.body_cap, metavar="BYTES",
                   help="decoded body bytes kept per message (lengths are always counted)")
    p.add_argument("--idle-timeout", type=float, default=_DEFAULTS.idle_timeout, metavar="SECONDS")
    p.add_argument("--max-flows", type=int, default=_DEFAULTS.max_flows)
    p.add_argument("--tls-keylog", metavar="FILE", default=None,
                   help="NSS key log (SSLKEYLOGFILE) to decrypt TLS 1.2 (AES-GCM, ChaCha20) and TLS 1.3 with")
    p.add_argument("--proto-descriptors", metavar="FILE", default=None,
                   help="protobuf FileDescriptorSet naming gRPC message fields (protoc --descriptor_set_out)")
    p.add_argument("--stats", action="store_true", help="print counters as JSON on stderr at the end")
    p.add_argument("--duration", type=float, default=None, help="live capture: stop after SECONDS")
    p.add_argument("--workers", type=int, default=1, metavar="N",
                   help="live capture: N processes sharing the interface by flow hash (PACKET_FANOUT)")
    ship = p.add_argument_group("shipping (instead of, or besides, --output)")
    ship.add_argument("--ship", metavar="URL",
                      help="send batches to nats://HOST:PORT (JetStream) or http(s)://HOST/api/v1/ingest "
                      "(key from $APICENSUS_SENSOR_KEY)")
    ship.add_argument("--stream", default=os.environ.get("APICENSUS_STREAM") or DEFAULT_STREAM, metavar="NAME",
                      help="JetStream stream for nats:// (default: $APICENSUS_STREAM, else apicensus)")
    ship.add_argument("--spool-dir", default=os.environ.get("APICENSUS_SPOOL_DIR") or "apicensus-spool",
                      metavar="DIR", help="batches wait here while the destination is down "
                      "(default: $APICENSUS_SPOOL_DIR, else ./apicensus-spool)")
    ship.add_argument("--spool-max-mb", type=float, default=1024.0, metavar="MB",
                      help="spool bound; past it the oldest batches are dropped and counted (default 1024)")
    ship.add_argument("--ship-batch", type=int, default=500, metavar="N", help="exchanges per batch (default 500)")
    ship.add_argument("--ship-wait", type=float, default=1.0, metavar="SECONDS",
                      help="a batch is sent at most this long after its first exchange (default 1)")
    ship.add_argument("--ship-timeout", type=float, default=30.0, metavar="SECONDS",
                      help="at the end of the input, wait this long for the destination before leaving "
                      "the rest in the spool (default 30)")
    ship.add_argument("--sensor-id", default=None, metavar="NAME",
                      help="names this sensor in batch ids and logs (default: host name)")
    ship.add_argument("--redact-bodies", action="store_true",
                      help="drop request and response bodies before they leave the sensor (lengths kept)")
    ship.add_argument("--keep-headers", default=None, metavar="NAMES",
                      help="comma-separated header allow-list: other headers keep their name, values are "
                      "replaced by <redacted> (Authorization keeps its scheme word)")
    p.add_argument("--metrics", metavar="HOST:PORT", help="serve Prometheus metrics on HOST:PORT/metrics")
    p.add_argument("--stats-interval", type=float, default=10.0, metavar="SECONDS",
                   help="live capture / shipping: log counters this often (default 10)")
    p.set_defaults(func=run)


def _config(args: argparse.Namespace) -> SensorConfig:
    if args.body_cap < 0 or args.max_flows < 1 or args.idle_timeout <= 0:
        raise SystemExit("apicensus sensor: --body-cap must be >= 0, --max-flows >= 1, --idle-timeout > 0")
    for flag, path in (("--tls-keylog", args.tls_keylog), ("--proto-descriptors", args.proto_descriptors)):
        if path is not None and not os.access(path, os.R_OK):
            raise SystemExit(f"apicensus sensor: {flag} {path}: not a readable file")
    return SensorConfig(body_cap=args.body_cap, idle_timeout=args.idle_timeout, max_flows=args.max_flows,
                        tls_keylog=args.tls_keylog, proto_descriptors=args.proto_descriptors)


def _check_shipping(args: argparse.Namespace) -> str | None:
    if args.workers < 1:
        return "--workers must be >= 1"
    if args.workers > 1 and not args.interface:
        return "--workers applies to live capture (--interface)"
    if not args.ship:
        return None
    from sensor.plumbing.wire import valid_stream_name

    scheme = args.ship.split("://", 1)[0].lower() if "://" in args.ship else ""
    if scheme not in ("nats", "tls", "http", "https"):
        return f"--ship {args.ship!r}: expected nats://HOST:PORT or http(s)://HOST/api/v1/ingest"
    if scheme.startswith("http") and not os.environ.get("APICENSUS_SENSOR_KEY"):
        return "--ship http(s)://... needs a sensor key in APICENSUS_SENSOR_KEY (apicensus keys create --role sensor)"
    if not valid_stream_name(args.stream):
        return f"--stream {args.stream!r}: a JetStream stream name has no spaces, dots, '*', '>' or slashes"
    if args.spool_max_mb <= 0 or args.ship_batch < 1 or args.ship_wait <= 0 or args.ship_timeout < 0:
        return "--spool-max-mb and --ship-wait must be > 0, --ship-batch >= 1, --ship-timeout >= 0"
    return None


def _redactor(args: argparse.Namespace) -> Any:
    if not args.redact_bodies and args.keep_headers is None:
        return None
    from sensor.ship import Redactor

    keep = None
    if args.keep_headers is not None:
        keep = frozenset(n.strip().lower() for n in args.keep_headers.split(",") if n.strip())
    return Redactor(redact_bodies=args.redact_bodies, keep_headers=keep)


def run(args: argparse.Namespace) -> int:
    config = _config(args)
    problem = _check_shipping(args)
    if problem:
        print(f"apicensus sensor: {problem}", file=sys.stderr)
        return 2
    long_running = bool(args.ship or args.interface or args.metrics)
    if long_running:
        from sensor.plumbing.obs import setup_logging

        setup_logging("sensor")
    log = logging.getLogger("apicensus.sensor")
    out: BinaryIO | None
    if args.output and args.output != "-":
        try:
            out = open(args.output, "wb")  # noqa: SIM115 - closed below
        except OSError as exc:
            print(f"apicensus sensor: cannot write {args.output}: {exc.strerror}", file=sys.stderr)
            return 2
    elif args.ship and not args.output:
        out = None  # shipping only
    else:
        out = sys.stdout.buffer
    shipper = None
    if args.ship:
        from sensor.ship import Shipper, Spool, make_transport

        try:
            spool = Spool(args.spool_dir, int(args.spool_max_mb * 1024 * 1024))
        except OSError as exc:
            print(f"apicensus sensor: cannot use spool directory {args.spool_dir}: {exc.strerror or exc}",
                  file=sys.stderr)
            return 2
        transport = make_transport(args.ship, stream=args.stream, key=os.environ.get("APICENSUS_SENSOR_KEY"))
        sensor_id = args.sensor_id or socket.gethostname() or "sensor"
        sensor_id = "".join(c if c.isalnum() or c in "-_" else "_" for c in sensor_id)[:64]
        shipper = Shipper(transport, spool, sensor_id=sensor_id, batch_size=args.ship_batch,
                          batch_wait=args.ship_wait)
        if len(spool):
            log.info("replaying spooled batches", extra={"fields": {
                "spool_batches": len(spool), "spool_exchanges": spool.exchanges, "spool_dir": str(spool.directory)}})
    redact = _redactor(args)
    dumps = orjson.dumps
    live_stats: dict[str, Any] = {}
    state: dict[str, Any] = {"sensor": None, "done": {}, "started": time.monotonic()}

    def emit(record: dict[str, Any]) -> None:
        if redact is not None:
            record = redact(record)
        line = dumps(record)
        if out is not None:
            out.write(line + b"\n")  # one write: an interrupt never leaves half a line
        if shipper is not None:
            shipper.add(line)

    def current() -> dict[str, Any]:
        values: dict[str, Any] = dict(state["done"])
        if state.get("fd") is not None:
            values["capture_bytes_read"] = values.get("capture_bytes_read", 0) + _position(state["fd"])
        sensor = state["sensor"]
        if sensor is not None:
            for k, v in sensor.stats().items():
                values[k] = values.get(k, 0) + v
        values.update(live_stats)
        if shipper is not None:
            values.update(shipper.snapshot())
        values["uptime_seconds"] = round(time.monotonic() - state["started"], 1)
        return values

    if args.metrics:
        from sensor.plumbing.obs import serve_metrics

        try:
            serve_metrics(args.metrics, "apicensus_sensor", current)
        except (OSError, ValueError) as exc:
            print(f"apicensus sensor: cannot serve metrics on {args.metrics}: {exc}", file=sys.stderr)
            if shipper is not None:
                shipper.close(timeout=0)
            if out is not None and out is not sys.stdout.buffer:
                out.close()
            return 2
    ticker = _StatsTicker(args.stats_interval, current, log) if shipper is not None and not args.interface else None
    status = 0
    totals: dict[str, int] = {}
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    if not args.interface:
        # Reading files: SIGTERM or Ctrl-C stops within a second: the exchanges so far and those
        # of the connections flushed in SHUTDOWN_FLUSH_SECONDS are written, queued batches go to
        # the spool. A second signal stops at once. (Live capture has its own handlers.)
        interrupts.reset()
        for sig in previous:
            signal.signal(sig, interrupts.request_stop)
    try:
        if args.interface:
            from sensor.live import LiveCaptureError, capture_workers

            last_log = [-1e9]

            def on_stats(stats: dict[str, Any]) -> None:
                live_stats.clear()
                live_stats.update({k: v for k, v in stats.items() if isinstance(v, int | float)})
                if len(stats.get("per_worker") or ()) > 1:  # served as {worker="N"} metrics
                    live_stats["per_worker"] = stats["per_worker"]
                now = time.monotonic()
                if now - last_log[0] >= args.stats_interval * 0.99:
                    last_log[0] = now
                    log.info("counters", extra={"fields": current()})

            # Metrics are read between log lines: the workers report every 2 s when scraped.
            interval = min(args.stats_interval, 2.0) if args.metrics else args.stats_interval
            try:
                totals = capture_workers(args.interface, workers=args.workers, config=config, bpf=args.bpf,
                                         duration=args.duration, on_record=emit, on_stats=on_stats,
                                         stats_interval=interval)
            except LiveCaptureError as exc:
                print(f"apicensus sensor: {exc}", file=sys.stderr)
                return 2
            if shipper is None:  # shipping logs its own final line below
                log.info("final counters", extra={"fields": current()})
        else:
            status = _read_files(args.pcap, config, emit, state, totals)
            if interrupts.stop_requested():
                status = 130
    except KeyboardInterrupt:
        status = 130
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if ticker is not None:
            ticker.stop()
        if out is not None:
            out.flush()
            if out is not sys.stdout.buffer:
                out.close()
        if shipper is not None:
            # Stopped by a signal: batches not delivered at once wait in the spool for the next start.
            left = shipper.close(timeout=0.2 if status == 130 else args.ship_timeout)
            summary = current()
            if left:
                log.warning("destination unreachable: batches left in the spool for the next start",
                            extra={"fields": summary})
                status = status or 1
            else:
                log.info("shipping done", extra={"fields": summary})
    if args.stats:
        totals["elapsed_ms"] = int((time.monotonic() - state["started"]) * 1000)
        if shipper is not None:
            totals.update(shipper.snapshot())
        print(json.dumps(totals, sort_keys=True), file=sys.stderr)
    return status


def _position(fd: int | None) -> int:
    """Bytes of the capture file read so far (the OS file offset: safe from another thread)."""
    if fd is None:
        return 0
    try:
        return os.lseek(fd, 0, os.SEEK_CUR)
    except OSError:
        return 0


class _StatsTicker:
    """Counters as a log line every ``interval`` seconds while files are read and shipped."""

    def __init__(self, interval: float, source: Any, log: logging.Logger) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(interval, source, log), daemon=True)
        self._thread.start()

    def _run(self, interval: float, source: Any, log: logging.Logger) -> None:
        while not self._stop.wait(interval):
            log.info("counters", extra={"fields": source()})

    def stop(self) -> None:
        self._stop.set()


def _read_files(paths: list[str], config: SensorConfig, emit: Any, state: dict[str, Any],
                totals: dict[str, int]) -> int:
    from sensor.engine import Sensor, iter_exchanges

    status = 0
    for path in paths:
        if interrupts.stop_requested():
            break
        holder: list[Sensor] = []
        try:
            source: Any = path
            if path != "-":
                source = open(path, "rb")  # noqa: SIM115 - closed below; its fd tells how far we are
                state["fd"] = source.fileno()
            iterator = iter_exchanges(source, config, sensor_out=holder)
            for exchange in iterator:
                if state["sensor"] is None and holder:
                    state["sensor"] = holder[0]
                emit(exchange.to_dict())
        except FileNotFoundError:
            print(f"apicensus sensor: {path}: no such file", file=sys.stderr)
            status = 2
        except IsADirectoryError:
            print(f"apicensus sensor: {path}: is a directory", file=sys.stderr)
            status = 2
        except PermissionError:
            print(f"apicensus sensor: {path}: permission denied", file=sys.stderr)
            status = 2
        except pcapio.CaptureError as exc:
            n = holder[0].packets if holder else 0
            print(f"apicensus sensor: {path}: {exc} (read {n} packets up to the damage; "
                  "their exchanges were written)", file=sys.stderr)
            status = 1
        finally:
            if not isinstance(source, str):
                state["done"]["capture_bytes_read"] = state["done"].get("capture_bytes_read", 0) + _position(
                    state.pop("fd", None)
                )
                source.close()
        state["sensor"] = None
        if holder:
            stats = holder[0].stats()
            for k, v in stats.items():
                totals[k] = totals.get(k, 0) + v
                state["done"][k] = state["done"].get(k, 0) + v
            if _report_anomalies(path, stats, holder[0].last_error):
                status = max(status, 1)
    return status


def _report_anomalies(path: str, stats: dict[str, int], last_error: str) -> bool:
    """One line each for what would otherwise pass silently: link types we cannot decode (the
    output would just be empty) and flows whose parser failed (contained, counted). True when
    no packet of the file could be decoded at all."""
    unknown = {int(k.rsplit("_", 1)[1]): v for k, v in stats.items()
               if k.startswith("decode_unsupported_linktype_")}
    if unknown:
        which = ", ".join(f"{n} ({count} packets)" for n, count in sorted(unknown.items()))
        print(f"apicensus sensor: {path}: link type {which} not supported: those packets were skipped "
              "(supported: Ethernet, raw IP, Linux SLL/SLL2, null/loopback, 802.11, PPP, Cisco HDLC, NFLOG)",
              file=sys.stderr)
    if stats.get("flow_errors"):
        print(f"apicensus sensor: {path}: {stats['flow_errors']} flows hit an internal error and were closed, "
              f"their open exchanges tagged parser_error (last: {last_error}); please report it", file=sys.stderr)
    return bool(unknown) and sum(unknown.values()) == stats.get("packets", 0)
