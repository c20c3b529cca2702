"""End to end across network namespaces: a real client and a real HTTP API in two namespaces
joined by a veth pair, the sensor sniffing the client's veth end from inside its namespace, then
``apicensus analyze`` and ``export`` on what it wrote. Needs root (namespaces, AF_PACKET).

With one worker the sensor runs as the operator runs it (``apicensus sensor --interface``); with
two, through ``sensor.live.capture_workers`` (``python -m tests.netns capture``). The lab itself
is the ``netns_api_lab`` fixture (tests/sensor/conftest.py, built by tests/netns.py).
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sensor.engine import iter_exchanges
from tests.netns import REPO, ApiLab, Lines, NetnsPair, stop, write_crafted_capture


def _template(target: str) -> str:
    """The analyzer's template for our API's paths: a numeric segment after ``items`` or ``users``
    becomes ``{itemId}`` / ``{userId}``; the query is not part of the path."""
    segments = target.split("?", 1)[0].split("/")
    return "/".join(f"{{{segments[i - 1].rstrip('s')}Id}}" if seg.isdigit() else seg
                    for i, seg in enumerate(segments))


def _sniff(pair: NetnsPair, workers: int, out: Path, traffic: Callable[[], list[dict[str, Any]]]
           ) -> tuple[list[dict[str, Any]], str, str]:
    """Start the sensor on the client's veth end, run ``traffic``, stop the sensor with SIGTERM.

    Returns what ``traffic`` returned, the sensor's stdout and its stderr."""
    if workers == 1:
        argv = pair.python(pair.client_ns, "-m", "apicensus_cli", "sensor", "--interface", pair.client_if,
                           "--output", str(out), "--stats")
    else:
        argv = pair.python(pair.client_ns, "-m", "tests.netns", "capture", "--interface", pair.client_if,
                           "--workers", str(workers), "--output", str(out))
    sensor = subprocess.Popen(argv, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        stdout, stderr = Lines(sensor.stdout), Lines(sensor.stderr)
        # Both report their counters (kernel_drops among them) as soon as the socket captures.
        ready = (stderr if workers == 1 else stdout).wait_for(lambda line: '"kernel_drops"' in line, timeout=30)
        assert ready is not None, f"sensor did not start: {stderr.text()}"
        done = traffic()
        # The traffic is over, so every packet is already queued on the sensor's socket; a
        # moment to read them, then stop (the sensor flushes what is still open).
        time.sleep(0.5)
        sensor.send_signal(signal.SIGTERM)
        sensor.wait(60)
        return done, stdout.text(), stderr.text()
    finally:
        stop(sensor)


def _run_client(lab: ApiLab) -> list[dict[str, Any]]:
    pair = lab.pair
    client = subprocess.run(pair.python(pair.client_ns, "-m", "tests.netns", "client", "--base", lab.base_url),
                            cwd=REPO, capture_output=True, text=True, timeout=120)
    assert client.returncode == 0, client.stderr
    return json.loads(client.stdout)


@pytest.mark.parametrize("workers", [1, 2])
def test_netns_capture_to_inventory(netns_api_lab: ApiLab, tmp_path: Path, workers: int) -> None:
    lab = netns_api_lab
    out = tmp_path / "exchanges.jsonl"
    done, stdout, stderr = _sniff(lab.pair, workers, out, lambda: _run_client(lab))

    # Every exchange the client made, captured exactly once, complete and right.
    records = [json.loads(line) for line in out.read_text().splitlines()]
    ours = [r for r in records if r["host"] == lab.host]
    assert len(ours) == len(records), [r["host"] for r in records]  # nothing else crosses the veth
    assert len({r["uid"] for r in ours}) == len(ours)
    assert Counter((r["method"], r["target"], r["status"]) for r in ours) == \
        Counter((d["method"], d["target"], d["status"]) for d in done)
    assert all(not r["tags"] for r in ours), [r["tags"] for r in ours if r["tags"]]
    assert all(r["server"] == lab.host and r["client"].startswith(lab.pair.client_ip + ":") for r in ours)
    posts = [r for r in ours if r["method"] == "POST"]
    assert posts and all(json.loads(r["request_body"]["data"])["name"] for r in posts)
    # Keep-alive connections carried five exchanges each, in order.
    by_connection = Counter(r["uid"].rsplit(".", 1)[0] for r in ours)
    assert sorted(by_connection.values())[-4:] == [5, 5, 5, 5]

    # Counters: the final report has every exchange and no drop.
    if workers == 1:
        totals = json.loads(stderr.strip().splitlines()[-1])  # --stats
    else:
        totals = json.loads(stdout.strip().splitlines()[-1])["final"]
        per_worker = [json.loads(line)["stats"]["per_worker"] for line in stdout.splitlines()
                      if line.startswith('{"stats"')][-1]
        assert len(per_worker) == workers
        assert all(w["packets"] > 0 for w in per_worker), per_worker  # the kernel did split the flows
        assert sum(w["exchanges"] for w in per_worker) == len(done)
        assert totals["workers"] == workers and totals["exchanges_dropped"] == 0
    assert totals["exchanges"] == len(done)
    assert totals["kernel_drops"] == 0

    # The inventory built from those records counts what the client did, per endpoint.
    db = f"sqlite:///{tmp_path / 'inventory.db'}"
    analyze = subprocess.run([sys.executable, "-m", "apicensus_cli", "analyze", str(out), "--db", db, "--no-pii",
                              "--no-progress"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert analyze.returncode == 0, analyze.stderr
    export = subprocess.run([sys.executable, "-m", "apicensus_cli", "export", "--db", db], cwd=REPO,
                            capture_output=True, text=True, timeout=300)
    assert export.returncode == 0, export.stderr
    endpoints = [e for e in json.loads(export.stdout)["endpoints"] if e["host"] == lab.host]
    assert {(e["method"], e["path_template"]): e["hits"] for e in endpoints} == \
        dict(Counter((d["method"], _template(d["target"])) for d in done))
    statuses: dict[tuple[str, str], Counter[str]] = {}
    for d in done:
        statuses.setdefault((d["method"], _template(d["target"])), Counter())[str(d["status"])] += 1
    assert {(e["method"], e["path_template"]): Counter(e["status_codes"]) for e in endpoints} == statuses
    item_gets = sum(1 for d in done if d["method"] == "GET" and re.fullmatch(r"/items/\d+", d["target"]))
    assert next(e["hits"] for e in endpoints if e["path_template"] == "/items/{itemId}"
                and e["method"] == "GET") == item_gets


@pytest.mark.parametrize("workers", [1, 2])
def test_netns_vlans_and_fragments_survive_live_capture(netns_veth_pair: NetnsPair, tmp_path: Path,
                                                       workers: int) -> None:
    """Crafted frames sent through the veth pair, as a mirror port delivers them.

    VLANs: the kernel takes a received frame's outer 802.1Q/802.1ad tag out of the data (into the
    packet's metadata) before a packet socket sees it; the sensor puts it back (PACKET_AUXDATA),
    so live records carry the VLANs the same capture gives offline. Fragments: only the first
    fragment has ports, so with several workers the fanout group reassembles (DEFRAG) before
    hashing, and each fragmented segment reaches the worker that has its connection."""
    pair = netns_veth_pair
    pcap = tmp_path / "crafted.pcap"
    write_crafted_capture(pcap)
    offline = Counter((e.target, e.vlan) for e in iter_exchanges(pcap))
    assert {vlan for _, vlan in offline} == {(), (100,), (200, 300)}

    def send() -> list[dict[str, Any]]:
        subprocess.run(pair.python(pair.server_ns, "-m", "tests.netns", "inject", "--interface", pair.server_if,
                                   str(pcap)), cwd=REPO, check=True, capture_output=True, timeout=60)
        return []

    out = tmp_path / "exchanges.jsonl"
    _, _, stderr = _sniff(pair, workers, out, send)
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert Counter((r["target"], tuple(r["vlan"])) for r in records) == offline, stderr
    assert all(not r["tags"] for r in records), [r["tags"] for r in records]


@pytest.mark.parametrize("workers", [1, 2])
def test_netns_interface_removed_during_capture_is_one_clear_line(netns_veth_pair: NetnsPair, tmp_path: Path,
                                                                 workers: int) -> None:
    """The sniffed link disappears (cable pulled, VM reconfigured): the sensor stops with a
    LiveCaptureError message, exit status 2, and no traceback from the parent or any worker."""
    pair = netns_veth_pair
    if workers == 1:
        argv = pair.python(pair.client_ns, "-m", "apicensus_cli", "sensor", "--interface", pair.client_if,
                           "--output", str(tmp_path / "out.jsonl"))
    else:
        argv = pair.python(pair.client_ns, "-m", "tests.netns", "capture", "--interface", pair.client_if,
                           "--workers", str(workers), "--output", str(tmp_path / "out.jsonl"))
    sensor = subprocess.Popen(argv, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        stdout, stderr = Lines(sensor.stdout), Lines(sensor.stderr)
        assert (stderr if workers == 1 else stdout).wait_for(lambda line: '"kernel_drops"' in line, timeout=30)
        subprocess.run(["ip", "-n", pair.client_ns, "link", "del", pair.client_if], check=True, timeout=20)
        assert sensor.wait(30) == 2
    finally:
        stop(sensor)
    err = stderr.text()
    assert "Traceback" not in err
    assert f"on {pair.client_if} failed: Network is down" in err or "No such device" in err, err
