"""Sensor accuracy benchmark: synthetic capture with known truth -> ``apicensus sensor`` -> score.

Builds a ~20,000-exchange capture with devtools/synth.py (keep-alive, reordering, retransmission,
pipelining, VLAN/QinQ, IPv6, chunked and gzip bodies), runs the sensor CLI on it and compares
its JSON lines with the ground truth:

* recall -- fraction of complete truth exchanges emitted with method, host, target and status
  all right (multiset match keyed on client, server, method, host, target, status);
* spurious -- emitted records that match no truth exchange, as a fraction of the truth.

Unmatched truth and records are then paired up per connection to show which fields were wrong.
Exit status: 0 when recall >= 99.5 % and spurious < 0.5 %, 1 below that floor, 2 when the
sensor could not be run.

    .venv/bin/python bench/sensor_accuracy.py                  # build, run, score
    .venv/bin/python bench/sensor_accuracy.py --keep bench/out   # keep pcap, truth, output
    .venv/bin/python bench/sensor_accuracy.py --score-only OUT.jsonl --truth T.truth.json
"""

from __future__ import annotations

import argparse
import inspect
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script from anywhere: make `sensor` importable
    sys.path.insert(0, str(REPO))

from devtools.synth import (  # noqa: E402 - needs the sys.path line above
    GenerationStats,
    TruthExchange,
    generate_api_traffic,
    read_truth_json,
    write_truth_json,
)

# --harsh: every impairment and optional feature of the generator at once, well above the
# default rates. Not part of the floor definition; a stress run for finding sensor bugs.
HARSH_RATES: dict[str, Any] = {
    "reorder_rate": 0.1,
    "retransmit_rate": 0.1,
    "pipeline_rate": 0.3,
    "vlan_rate": 0.5,
    "ipv6_rate": 0.5,
    "chunked_rate": 0.4,
    "gzip_rate": 0.4,
    "drop_response_rate": 0.01,
    "wrap_rate": 0.1,
    "expect_continue_rate": 0.1,
    "request_chunked_rate": 0.1,
    "header_case_rate": 0.1,
    "midstream_rate": 0.05,
    "tcp_timestamps_rate": 0.5,
    "fragment_rate": 0.02,
}

RECALL_FLOOR = 0.995
SPURIOUS_CEILING = 0.005
FIELDS = ("method", "host", "target", "status")

Key = tuple[str, str, str | None, str | None, str | None, int | None]


def truth_key(t: TruthExchange) -> Key:
    return (t.client, t.server, t.method, t.host, t.target, t.status)


def record_key(r: dict[str, Any]) -> Key:
    status = r.get("status")
    return (r.get("client", ""), r.get("server", ""), r.get("method"), r.get("host"), r.get("target"), status)


@dataclass
class Score:
    truth_total: int
    truth_complete: int
    records: int
    matched_complete: int
    matched_incomplete: int  # unanswered requests the sensor reported as such (not spurious)
    spurious: int
    field_mismatches: Counter[str] = field(default_factory=Counter)
    missing_no_record: int = 0  # unmatched truth with no similar leftover record on its connection
    extra_no_truth: int = 0  # unmatched records with no similar leftover truth on their connection
    swapped_direction: int = 0  # records whose client/server are the truth's server/client
    unknown_connection: int = 0  # records on a connection the truth does not know
    examples: list[str] = field(default_factory=list)
    tags: Counter[str] = field(default_factory=Counter)

    @property
    def recall(self) -> float:
        return self.matched_complete / self.truth_complete if self.truth_complete else 1.0

    @property
    def spurious_rate(self) -> float:
        return self.spurious / self.truth_total if self.truth_total else 0.0

    @property
    def passed(self) -> bool:
        return self.recall >= RECALL_FLOOR and self.spurious_rate < SPURIOUS_CEILING


def score(
    truth: Sequence[TruthExchange], records: Iterable[dict[str, Any]], *, max_examples: int = 12
) -> Score:
    """Multiset-match records against the truth, then explain what is left over."""
    records = list(records)
    available = Counter(truth_key(t) for t in truth)
    complete_keys = {truth_key(t) for t in truth if t.complete}
    result = Score(
        truth_total=len(truth),
        truth_complete=sum(t.complete for t in truth),
        records=len(records),
        matched_complete=0,
        matched_incomplete=0,
        spurious=0,
    )
    leftover_records: list[dict[str, Any]] = []
    for record in records:
        result.tags.update(record.get("tags") or ())
        key = record_key(record)
        if available[key] > 0:
            available[key] -= 1
            if key in complete_keys:
                result.matched_complete += 1
            else:
                result.matched_incomplete += 1
        else:
            result.spurious += 1
            leftover_records.append(record)

    # Explain the leftovers: pair them per connection by how many of the fields agree.
    leftover_truth: dict[tuple[str, str], list[TruthExchange]] = defaultdict(list)
    for t in truth:
        key = truth_key(t)
        if available[key] > 0 and t.complete:
            available[key] -= 1
            leftover_truth[(t.client, t.server)].append(t)
    known_connections = {(t.client, t.server) for t in truth}
    records_by_conn: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for record in leftover_records:
        conn = (record.get("client", ""), record.get("server", ""))
        if conn not in known_connections:
            if (conn[1], conn[0]) in known_connections:
                result.swapped_direction += 1
            else:
                result.unknown_connection += 1
            _example(
                result,
                max_examples,
                f"record on {'swapped' if (conn[1], conn[0]) in known_connections else 'unknown'} connection: {_brief(record)}",
            )
            continue
        records_by_conn[conn].append(record)
    for conn, truths in leftover_truth.items():
        candidates = records_by_conn.pop(conn, [])
        # Globally greedy on agreement, so a record is paired with the truth it most resembles
        # rather than with whichever truth came first; fewer than two agreeing fields is no pair.
        pairs = sorted(
            (
                (-_agreement(t, record), ti, ri)
                for ti, t in enumerate(truths)
                for ri, record in enumerate(candidates)
                if _agreement(t, record) >= 2
            )
        )
        used_truth: set[int] = set()
        used_record: set[int] = set()
        for _, ti, ri in pairs:
            if ti in used_truth or ri in used_record:
                continue
            used_truth.add(ti)
            used_record.add(ri)
            t, record = truths[ti], candidates[ri]
            wrong = [name for name in FIELDS if getattr(t, name) != record.get(name)]
            result.field_mismatches.update(wrong)
            _example(
                result,
                max_examples,
                "mismatch "
                + ", ".join(f"{name}: want {getattr(t, name)!r} got {record.get(name)!r}" for name in wrong)
                + f" on {conn[0]} > {conn[1]} tags={record.get('tags')}",
            )
        for ti, t in enumerate(truths):
            if ti not in used_truth:
                result.missing_no_record += 1
                _example(
                    result,
                    max_examples,
                    f"missing: {t.method} {t.host}{t.target} -> {t.status} on {conn[0]} > {conn[1]}",
                )
        for ri, record in enumerate(candidates):
            if ri not in used_record:
                result.extra_no_truth += 1
                _example(result, max_examples, f"extra record: {_brief(record)}")
    for conn_records in records_by_conn.values():
        result.extra_no_truth += len(conn_records)
        for record in conn_records:
            _example(result, max_examples, f"extra record: {_brief(record)}")
    return result


def _agreement(t: TruthExchange, record: dict[str, Any]) -> int:
    return sum(getattr(t, name) == record.get(name) for name in FIELDS)


def _brief(record: dict[str, Any]) -> str:
    return (
        f"{record.get('method')} {record.get('host')}{record.get('target')} -> {record.get('status')} "
        f"on {record.get('client')} > {record.get('server')} tags={record.get('tags')}"
    )


def _example(result: Score, limit: int, text: str) -> None:
    if len(result.examples) < limit:
        result.examples.append(text)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    try:
        import orjson  # faster on 20k records; optional

        loads: Any = orjson.loads
    except ImportError:  # pragma: no cover - orjson is a project dependency
        loads = json.loads
    records = []
    with open(path, "rb") as fh:
        for number, line in enumerate(fh, 1):
            if line.strip():
                try:
                    records.append(loads(line))
                except ValueError as exc:
                    raise SystemExit(f"{path}:{number}: not JSON: {exc}") from exc
    return records


def report(result: Score) -> None:
    print(f"truth exchanges        {result.truth_total:>8}  ({result.truth_complete} complete)")
    print(f"records emitted        {result.records:>8}")
    print(
        f"recall                 {result.recall:>8.4%}  ({result.matched_complete}/{result.truth_complete}; "
        f"floor {RECALL_FLOOR:.1%})"
    )
    print(
        f"spurious               {result.spurious_rate:>8.4%}  ({result.spurious} records; ceiling "
        f"{SPURIOUS_CEILING:.1%})"
    )
    if result.truth_total != result.truth_complete:
        print(
            f"unanswered requests    {result.matched_incomplete:>8}  of {result.truth_total - result.truth_complete} "
            "reported with status null"
        )
    print("mismatch breakdown (unmatched truth paired with unmatched records on the same connection):")
    for name in FIELDS:
        print(f"  wrong {name:<8}         {result.field_mismatches[name]:>8}")
    print(f"  truth, no record       {result.missing_no_record:>8}")
    print(f"  record, no truth       {result.extra_no_truth:>8}")
    print(f"  client/server swapped  {result.swapped_direction:>8}")
    print(f"  unknown connection     {result.unknown_connection:>8}")
    if result.tags:
        print("record tags: " + ", ".join(f"{tag}={n}" for tag, n in result.tags.most_common()))
    if result.examples:
        print("examples:")
        for line in result.examples:
            print(f"  {line}")


def parse_overrides(parser: argparse.ArgumentParser, items: Sequence[str]) -> dict[str, Any]:
    """``NAME=VALUE`` pairs for generate_api_traffic, values typed like the parameter's default."""
    parameters = inspect.signature(generate_api_traffic).parameters
    overrides: dict[str, Any] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or name not in parameters or name in ("path", "exchanges", "seed", "stats", "streams"):
            parser.error(f"--set {item!r}: expected NAME=VALUE with NAME a generate_api_traffic parameter")
        default = parameters[name].default
        try:
            if isinstance(default, bool):
                overrides[name] = value.lower() in ("1", "true", "yes")
            elif isinstance(default, int) or name == "connections":
                overrides[name] = int(value)
            elif isinstance(default, float):
                overrides[name] = float(value)
            elif name == "hosts":
                overrides[name] = tuple(value.split(","))
            else:
                overrides[name] = value
        except ValueError:
            parser.error(f"--set {item!r}: bad value")
    return overrides


def find_apicensus() -> str | None:
    local = REPO / ".venv" / "bin" / "apicensus"
    if local.exists():
        return str(local)
    return shutil.which("apicensus")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--exchanges", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument(
        "--drop-response-rate", type=float, default=0.0, help="unanswered requests (truth complete=false)"
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override a generate_api_traffic parameter, e.g. --set reorder_rate=0.1 (repeatable)",
    )
    parser.add_argument(
        "--harsh",
        action="store_true",
        help="stress preset: " + ", ".join(f"{k}={v}" for k, v in HARSH_RATES.items()),
    )
    parser.add_argument("--keep", type=Path, help="directory to keep the pcap, truth and sensor output in")
    parser.add_argument("--apicensus", help="path of the apicensus command (default: the repo's .venv)")
    parser.add_argument(
        "--score-only", type=Path, metavar="JSONL", help="score an existing sensor output (needs --truth)"
    )
    parser.add_argument("--truth", type=Path, help="ground truth (.truth.json) for --score-only")
    args = parser.parse_args(argv)

    if args.score_only:
        if not args.truth:
            parser.error("--score-only needs --truth")
        result = score(read_truth_json(args.truth), read_jsonl(args.score_only))
        report(result)
        return 0 if result.passed else 1

    overrides = parse_overrides(parser, args.set)
    apicensus = args.apicensus or find_apicensus()
    if not apicensus:
        print("apicensus command not found (install with .venv/bin/pip install -e .)", file=sys.stderr)
        return 2
    workdir = args.keep or Path(tempfile.mkdtemp(prefix="apicensus-accuracy-"))
    workdir.mkdir(parents=True, exist_ok=True)
    pcap = workdir / "accuracy.pcap"
    truth_path = workdir / "accuracy.truth.json"
    output = workdir / "accuracy.jsonl"
    try:
        stats = GenerationStats()
        started = time.perf_counter()
        truth = generate_api_traffic(
            pcap,
            exchanges=args.exchanges,
            seed=args.seed,
            stats=stats,
            **{
                "drop_response_rate": args.drop_response_rate,
                **(HARSH_RATES if args.harsh else {}),
                **overrides,
            },
        )
        write_truth_json(truth_path, truth, seed=args.seed, exchanges=args.exchanges)
        print(
            f"capture: {stats.packets} packets, {stats.connections} connections, {len(truth)} exchanges, "
            f"{stats.bytes / 1e6:.1f} MB, {stats.retransmitted_segments} retransmitted and "
            f"{stats.reordered_pairs} reordered segments, {stats.pipelined_batches} pipelined batches, "
            f"{stats.wrapped_connections} seq-wrapping connections, {stats.interim_responses} 100-continue, "
            f"{stats.midstream_connections} mid-stream connections, {stats.fragmented_datagrams} fragmented "
            f"(built in {time.perf_counter() - started:.1f} s)"
        )
        command = [apicensus, "sensor", "--pcap", str(pcap), "--output", str(output)]
        started = time.perf_counter()
        proc = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        elapsed = time.perf_counter() - started
        if proc.returncode != 0:
            print(f"sensor failed (exit {proc.returncode}): {' '.join(command)}", file=sys.stderr)
            print(proc.stderr[-4000:], file=sys.stderr)
            return 2
        print(f"sensor: {elapsed:.1f} s ({stats.packets / elapsed:,.0f} packets/s)")
        result = score(truth, read_jsonl(output))
        report(result)
        print("PASS" if result.passed else "FAIL: below the accuracy floor")
        return 0 if result.passed else 1
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
