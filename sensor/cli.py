"""``apicensus sensor``: capture files, stdin or a live interface in; JSON lines out."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any, BinaryIO

import orjson

from sensor import pcapio
from sensor.config import SensorConfig

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
    p.add_argument("--stats", action="store_true", help="print counters as JSON on stderr at the end")
    p.add_argument("--duration", type=float, default=None, help="live capture: stop after SECONDS")
    p.set_defaults(func=run)


def _config(args: argparse.Namespace) -> SensorConfig:
    if args.body_cap < 0 or args.max_flows < 1 or args.idle_timeout <= 0:
        raise SystemExit("apicensus sensor: --body-cap must be >= 0, --max-flows >= 1, --idle-timeout > 0")
    return SensorConfig(body_cap=args.body_cap, idle_timeout=args.idle_timeout, max_flows=args.max_flows)


def run(args: argparse.Namespace) -> int:
    from sensor.engine import Sensor, iter_exchanges

    config = _config(args)
    out: BinaryIO
    if args.output and args.output != "-":
        try:
            out = open(args.output, "wb")  # noqa: SIM115 - closed below
        except OSError as exc:
            print(f"apicensus sensor: cannot write {args.output}: {exc.strerror}", file=sys.stderr)
            return 2
    else:
        out = sys.stdout.buffer
    dumps = orjson.dumps
    status = 0
    totals: dict[str, int] = {}
    started = time.monotonic()
    try:
        if args.interface:
            from sensor.live import LiveCaptureError, capture

            try:
                sensor = Sensor(lambda ex: out.write(dumps(ex.to_dict()) + b"\n"), config)
                capture(args.interface, sensor, bpf=args.bpf, duration=args.duration)
                totals = sensor.stats()
            except LiveCaptureError as exc:
                print(f"apicensus sensor: {exc}", file=sys.stderr)
                return 2
        else:
            for path in args.pcap:
                holder: list[Sensor] = []
                try:
                    for exchange in iter_exchanges(path, config, sensor_out=holder):
                        out.write(dumps(exchange.to_dict()))
                        out.write(b"\n")
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
                if holder:
                    for k, v in holder[0].stats().items():
                        totals[k] = totals.get(k, 0) + v
    finally:
        out.flush()
        if out is not sys.stdout.buffer:
            out.close()
    if args.stats:
        totals["elapsed_ms"] = int((time.monotonic() - started) * 1000)
        print(json.dumps(totals, sort_keys=True), file=sys.stderr)
    return status
