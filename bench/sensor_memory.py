"""Sensor memory: bytes per open flow, RSS at many open flows, and RSS under a buffering attack.

Each scenario runs in a child process (so its peak RSS is its own) and opens ``--flows`` TCP
connections through ``Sensor.process`` with frames packed by sample_pcaps/quirks.py:

- ``handshake``: SYN, SYN-ACK, ACK and nothing else;
- ``waiting``: the handshake and a GET whose answer has not come (its head held);
- ``idle``: one whole exchange done, the keep-alive connection left open;
- ``attack``: every connection sends 60 KB of a head that never ends (partial heads are held:
  the buffer budget, ``max_buffered_bytes``, must keep the total bounded).

It prints, per scenario, bytes per flow by tracemalloc (a second pass over 10,000 flows; the
figure README "Memory" quotes and config.FLOW_BYTES_BOUND bounds), and the peak RSS with
``--flows`` flows open, next to the interpreter's RSS before the first packet.

    .venv/bin/python bench/sensor_memory.py                  # 200,000 flows (the default max_flows)
    .venv/bin/python bench/sensor_memory.py --flows 50000 --scenarios waiting attack
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

CHILD = r"""
import gc, importlib.util, json, sys, tracemalloc
sys.path.insert(0, sys.argv[1])
from sensor import _native, pcapio
from sensor.config import SensorConfig
from sensor.engine import Sensor

spec = importlib.util.spec_from_file_location("quirks", sys.argv[1] + "/sample_pcaps/quirks.py")
quirks = importlib.util.module_from_spec(spec)
spec.loader.exec_module(quirks)
scenario, flows = sys.argv[2], int(sys.argv[3])

def frames(i):
    cap = quirks.Capture()
    flow = cap.flow(1024 + i % 60000, client=f"10.{(i // 60000) % 250}.{(i // 250) % 250}.{i % 250 + 1}")
    flow.handshake()
    if scenario == "waiting":
        flow.request(quirks.get(f"/items/{i}", extra="Accept: application/json\r\nUser-Agent: bench\r\n"))
    elif scenario == "idle":
        flow.request(quirks.get(f"/items/{i}"))
        flow.response(quirks.ok(b'{"id":%d}' % i))
    elif scenario == "attack":
        flow.request(b"GET /slow HTTP/1.1\r\nX: " + b"x" * 20000)
        flow.request(b"y" * 20000)
        flow.request(b"z" * 20000)
    return cap.packets

out = []
sensor = Sensor(out.append, SensorConfig(max_flows=max(200_000, flows + 20_000)))
def hwm_mb():  # this process's own peak (ru_maxrss would carry the parent's across exec)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
rss_start = hwm_mb()
def run(start, count):
    for i in range(start, start + count):
        for frame in frames(i):
            sensor.process(1.0, pcapio.LINKTYPE_ETHERNET, frame)
        del out[:]

run(0, 1000)  # warm-up: caches, interned strings
# tracemalloc pass on 10,000 flows (slow: tracing every allocation), then the RSS pass
sample = min(10_000, flows)
gc.collect()
tracemalloc.start()
base = tracemalloc.get_traced_memory()[0]
run(1000, sample)
gc.collect()
per_flow = (tracemalloc.get_traced_memory()[0] - base) / sample
tracemalloc.stop()
run(1000 + sample, max(0, flows - sample - 1000))
gc.collect()
stats = sensor.stats()
print(json.dumps({"native": _native.describe(), "per_flow": per_flow, "flows_open": stats["flows_open"],
                  "buffered_mb": sensor.buffered / 2**20, "memory_evictions": stats.get("memory_evictions", 0),
                  "rss_start_mb": rss_start, "rss_peak_mb": hwm_mb()}))
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--flows", type=int, default=200_000)
    parser.add_argument("--scenarios", nargs="+", default=["handshake", "waiting", "idle", "attack"],
                        choices=["handshake", "waiting", "idle", "attack"])
    args = parser.parse_args(argv)
    print(f"{'scenario':10} {'bytes/flow':>10} {'flows open':>10} {'buffered MB':>11} {'evictions':>9} "
          f"{'RSS start MB':>12} {'RSS peak MB':>11}")
    for scenario in args.scenarios:
        flows = args.flows if scenario != "attack" else min(args.flows, 50_000)
        result = subprocess.run([sys.executable, "-c", CHILD, str(REPO), scenario, str(flows)], capture_output=True,
                                text=True, env={**os.environ}, check=False)
        if result.returncode != 0:
            print(f"{scenario}: failed\n{result.stderr}", file=sys.stderr)
            return 1
        r = json.loads(result.stdout)
        print(f"{scenario:10} {r['per_flow']:10.0f} {r['flows_open']:10,} {r['buffered_mb']:11.1f} "
              f"{r['memory_evictions']:9,} {r['rss_start_mb']:12.1f} {r['rss_peak_mb']:11.1f}")
    print(f"sensor: {r['native']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
