"""Sensor speed benchmark: packets/s and peak RSS of the sensor against tshark and a dpkt loop.

Builds a synthetic HTTP API capture (sensor/synth.py, default ~150k packets), then in one run
times, each as a subprocess and best of ``--repeat`` runs:

(a) ``apicensus sensor --pcap FILE --output /dev/null`` -- our sensor, end to end;
(b) ``tshark -r FILE -Y http -T fields -e http.host -e http.request.uri -e http.response.code``
    (skipped with a message when tshark is not installed);
(c) a bare dpkt decode loop: Ethernet -> IP -> TCP, touching ``tcp.data``.

Tools run round-robin so background load hits them alike. Wall-clock packets/s is the headline;
packets per CPU-second (user + system from ``os.wait4``) is printed too because it barely moves
when the cores are shared (``--judge cpu`` applies the floors to it).
Peak RSS comes from ``os.wait4`` (the tool's own ru_maxrss, measured through a small launcher
so that this process's memory does not leak into it; see ``LAUNCHER``). Floors: the sensor at least 3x
tshark's packets/s and at least as fast as the bare dpkt loop. Exit status 0 when every floor
that could be measured is met, 1 otherwise, 2 when the sensor could not be run.

    .venv/bin/python bench/sensor_speed.py
    .venv/bin/python bench/sensor_speed.py --packets 200000 --keep bench/out/speed.pcap
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script from anywhere: make `sensor` importable
    sys.path.insert(0, str(REPO))

from sensor.synth import GenerationStats, generate_api_traffic  # noqa: E402 - needs the sys.path line above

TSHARK_FLOOR = 3.0  # sensor packets/s >= 3x tshark
DPKT_FLOOR = 1.0  # sensor packets/s >= bare dpkt decode loop

# The dpkt baseline: the least a Python decoder must do to see TCP payloads, nothing more.
DPKT_LOOP = """\
import sys
import dpkt

touched = 0
with open(sys.argv[1], "rb") as f:
    for ts, buf in dpkt.pcap.Reader(f):
        eth = dpkt.ethernet.Ethernet(buf)
        ip = eth.data
        tcp = ip.data
        touched += len(tcp.data)
print(touched)
"""


@dataclass
class Run:
    seconds: float
    cpu_seconds: float  # user + system time of the child (and children it waited for)
    max_rss_kb: int
    returncode: int
    stderr: str


@dataclass
class Result:
    name: str
    command: str
    best_seconds: float
    best_cpu_seconds: float
    max_rss_kb: int
    packets: int

    @property
    def pps(self) -> float:
        return self.packets / self.best_seconds

    @property
    def cpu_pps(self) -> float:
        return self.packets / self.best_cpu_seconds


# Tools are started through this small launcher rather than straight from the benchmark. Linux
# keeps, in a process's ru_maxrss, the memory high-water mark of what it was before exec: a child
# forked from this process (tens of MB, having generated the capture) would report at least that
# much whatever it used itself. The launcher is tiny, forks the tool from its own small memory,
# and reports the tool's own wall time, CPU time and peak RSS (os.wait4) to a file.
LAUNCHER = """\
import json, os, sys, time
started = time.perf_counter()
pid = os.fork()
if pid == 0:
    try:
        os.execvp(sys.argv[2], sys.argv[2:])
    finally:
        os._exit(127)
_, status, usage = os.wait4(pid, 0)
seconds = time.perf_counter() - started
with open(sys.argv[1], "w") as out:
    json.dump([seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss, os.waitstatus_to_exitcode(status)], out)
"""


def run_measured(command: Sequence[str]) -> Run:
    """Run ``command`` with stdout discarded: its wall time, CPU time and own peak RSS."""
    with tempfile.TemporaryFile() as err, tempfile.NamedTemporaryFile("r", suffix=".json") as result:
        proc = subprocess.run(
            [sys.executable, "-S", "-c", LAUNCHER, result.name, *command],
            stdout=subprocess.DEVNULL,
            stderr=err,
            stdin=subprocess.DEVNULL,
            check=False,
        )
        err.seek(0)
        stderr = err.read().decode("utf-8", "replace")
        try:
            seconds, cpu_seconds, max_rss_kb, returncode = json.load(result)
        except ValueError:  # the launcher itself failed
            return Run(0.0, 0.0, 0, proc.returncode or 1, stderr)
    return Run(seconds, cpu_seconds, max_rss_kb, returncode, stderr)


def summarize(name: str, command: Sequence[str], runs: list[Run], packets: int) -> Result:
    return Result(
        name,
        " ".join(command),
        min(r.seconds for r in runs),
        min(r.cpu_seconds for r in runs),
        max(r.max_rss_kb for r in runs),
        packets,
    )


def build_capture(path: Path, packets: int, seed: int) -> GenerationStats:
    """Write a capture of at least ``packets`` packets (exchange count calibrated on a sample)."""
    sample = GenerationStats()
    generate_api_traffic(io.BytesIO(), exchanges=2000, seed=seed, stats=sample)
    per_exchange = sample.packets / 2000
    exchanges = int(packets / per_exchange * 1.01) + 1
    while True:
        stats = GenerationStats()
        generate_api_traffic(path, exchanges=exchanges, seed=seed, stats=stats)
        if stats.packets >= packets:
            return stats
        exchanges = int(exchanges * packets / stats.packets * 1.02) + 1


def find_apicensus() -> str | None:
    local = REPO / ".venv" / "bin" / "apicensus"
    if local.exists():
        return str(local)
    return shutil.which("apicensus")


def sensor_implementation(apicensus: str) -> str:
    """Compiled (mypyc, see setup.py) or pure Python, as the sensor's own interpreter sees it."""
    python = Path(apicensus).parent / "python"
    if not python.exists():
        return "unknown"
    probe = subprocess.run(
        [str(python), "-c", "import sensor._native as n; print(n.describe())"],
        capture_output=True,
        text=True,
        cwd=tempfile.gettempdir(),
    )
    return probe.stdout.strip() or f"unknown ({probe.stderr.strip()[-200:]})"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--packets", type=int, default=150_000, help="minimum packets in the capture")
    parser.add_argument("--keep", type=Path, metavar="FILE", help="write the capture here and keep it")
    parser.add_argument("--seed", type=int, default=424242)
    parser.add_argument("--repeat", type=int, default=3, help="runs per tool; the best counts")
    parser.add_argument("--apicensus", help="path of the apicensus command (default: the repo's .venv)")
    parser.add_argument(
        "--judge",
        choices=("wall", "cpu"),
        default="wall",
        help="which packets/s the floors apply to; CPU time is steadier on a busy machine",
    )
    parser.add_argument("--tshark", default=shutil.which("tshark") or "/usr/bin/tshark")
    args = parser.parse_args(argv)
    if args.packets < 1:
        parser.error("--packets must be positive")

    apicensus = args.apicensus or find_apicensus()
    tmpdir = Path(tempfile.mkdtemp(prefix="apicensus-speed-"))
    pcap = args.keep or tmpdir / "speed.pcap"
    if args.keep:
        pcap.parent.mkdir(parents=True, exist_ok=True)
    try:
        started = time.perf_counter()
        stats = build_capture(pcap, args.packets, args.seed)
        build_seconds = time.perf_counter() - started
        packets = stats.packets
        print(
            f"capture: {pcap} -- {packets} packets, {stats.exchanges} exchanges, {stats.connections} "
            f"connections, {stats.bytes / 1e6:.1f} MB (built in {build_seconds:.1f} s)"
        )
        if apicensus:
            print(f"sensor: {sensor_implementation(apicensus)}")
        results: dict[str, Result] = {}
        problems: list[str] = []
        sensor_failed = False

        tools: list[tuple[str, list[str] | None, str]] = [
            (
                "sensor",
                [apicensus, "sensor", "--pcap", str(pcap), "--output", "/dev/null"] if apicensus else None,
                "apicensus command not found (install with .venv/bin/pip install -e .)",
            ),
            (
                "tshark",
                [
                    args.tshark,
                    "-r",
                    str(pcap),
                    "-Y",
                    "http",
                    "-T",
                    "fields",
                    "-e",
                    "http.host",
                    "-e",
                    "http.request.uri",
                    "-e",
                    "http.response.code",
                ]  # fmt: skip
                if os.access(args.tshark, os.X_OK)
                else None,
                f"tshark not found at {args.tshark}: skipped",
            ),
            ("dpkt", [sys.executable, "-c", DPKT_LOOP, str(pcap)], ""),
        ]
        runnable: dict[str, list[str]] = {}
        for name, command, missing in tools:
            if command is None:
                print(f"{name}: {missing}")
                problems.append(missing)
                sensor_failed |= name == "sensor"
            else:
                runnable[name] = command
        # Round-robin (sensor, tshark, dpkt, sensor, ...) rather than tool by tool: the cores
        # are shared, and interleaving spreads any background load over all tools alike.
        runs: dict[str, list[Run]] = {name: [] for name in runnable}
        for round_number in range(1, args.repeat + 1):
            for name, command in list(runnable.items()):
                run = run_measured(command)
                if run.returncode != 0:
                    message = f"{name} failed (exit {run.returncode}): {' '.join(command)}"
                    print(message + "\n" + run.stderr[-2000:], file=sys.stderr)
                    problems.append(message)
                    sensor_failed |= name == "sensor"
                    del runnable[name]
                    runs.pop(name)
                    continue
                runs[name].append(run)
                print(
                    f"  round {round_number} {name}: {run.seconds:.2f} s wall, {run.cpu_seconds:.2f} s CPU, "
                    f"{run.max_rss_kb / 1024:.0f} MB",
                    flush=True,
                )
        for name, name_runs in runs.items():
            results[name] = summarize(name, runnable[name], name_runs, packets)

        print()
        print(
            f"{'tool':<8} {'wall s':>8} {'packets/s':>12} {'CPU s':>8} {'packets/CPU-s':>14} {'peak RSS MB':>12}"
        )
        for r in results.values():
            print(
                f"{r.name:<8} {r.best_seconds:>8.2f} {r.pps:>12,.0f} {r.best_cpu_seconds:>8.2f} "
                f"{r.cpu_pps:>14,.0f} {r.max_rss_kb / 1024:>12.1f}"
            )
        print()
        ok = not sensor_failed
        sensor = results.get("sensor")
        judged_on_cpu = args.judge == "cpu"
        verdicts_differ = False
        for name, floor in (("tshark", TSHARK_FLOOR), ("dpkt", DPKT_FLOOR)):
            other = results.get(name)
            if sensor and other:
                wall_ratio = sensor.pps / other.pps
                cpu_ratio = sensor.cpu_pps / other.cpu_pps
                met = (cpu_ratio if judged_on_cpu else wall_ratio) >= floor
                verdicts_differ |= (wall_ratio >= floor) != (cpu_ratio >= floor)
                ok &= met
                print(
                    f"sensor/{name:<6} {wall_ratio:6.2f}x wall, {cpu_ratio:6.2f}x CPU  "
                    f"(floor {floor:g}x on {args.judge}: {'met' if met else 'NOT met'})"
                )
            else:
                print(f"sensor/{name:<6}    n/a  (floor {floor:g}x: not measured)")
        if verdicts_differ:
            print(
                "warning: wall-clock and CPU-time verdicts differ: other processes were competing for "
                "the cores; the CPU-time ratio is what an idle machine would show"
            )
        for problem in problems:
            print(f"note: {problem}")
        if sensor_failed:
            return 2
        return 0 if ok else 1
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
