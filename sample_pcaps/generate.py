"""Write the sample captures in this directory, each with its ground truth (``.truth.json``).

Deterministic: rerunning rewrites byte-identical files (fixed seeds, gzip mtime 0), so the
outputs are kept in the repository and golden tests can compare against them.

    .venv/bin/python sample_pcaps/generate.py

Truth format (devtools.synth.write_truth_json)::

    {"meta": {"pcap": ..., "seed": ..., "params": {...}, "packets": ...},
     "exchanges": [{"client", "server", "method", "host", "target", "status", "complete"}, ...]}

Exchanges are listed per connection in the order they were sent on it; connections in order of
their SYN.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
if str(REPO) not in sys.path:  # run as a script from anywhere: make `sensor` importable
    sys.path.insert(0, str(REPO))

from devtools.synth import GenerationStats, generate_api_traffic, write_truth_json  # noqa: E402 - needs sys.path

MAX_BYTES = 200 * 1024

# name -> (seed, generate_api_traffic keyword arguments)
SAMPLES: dict[str, tuple[int, dict[str, Any]]] = {
    # Plain keep-alive REST traffic: JSON bodies full of PII-looking fields (emails, phone
    # numbers, addresses, card last4, IBANs), chunked and gzip-encoded responses, no impairments.
    "keepalive-api.pcap": (
        101,
        dict(
            exchanges=40,
            connections=4,
            hosts=(
                "users.corp.example",
                "api.shop.example",
                "payments.example.com",
                "billing.internal.example",
            ),
            reorder_rate=0.0,
            retransmit_rate=0.0,
            pipeline_rate=0.0,
            vlan_rate=0.0,
            ipv6_rate=0.0,
            chunked_rate=0.35,
            gzip_rate=0.35,
            wrap_rate=0.0,
        ),
    ),
    # The hard parts at once: pipelined requests (some sharing segments), 802.1Q and QinQ,
    # IPv6, swapped adjacent segments and retransmissions (some overlapping).
    "pipelined-vlan-ipv6.pcap": (
        202,
        dict(
            exchanges=40,
            connections=5,
            reorder_rate=0.15,
            retransmit_rate=0.15,
            pipeline_rate=0.5,
            vlan_rate=0.6,
            ipv6_rate=0.5,
            chunked_rate=0.3,
            gzip_rate=0.3,
            wrap_rate=0.0,
        ),
    ),
    # Edge cases: every connection's sequence numbers wrap past 2^32, some requests never get a
    # response (truth status null, complete false), QinQ only, nanosecond-resolution pcap.
    "edge-wrap-noresponse.pcap": (
        303,
        dict(
            exchanges=30,
            connections=5,
            reorder_rate=0.05,
            retransmit_rate=0.05,
            pipeline_rate=0.2,
            vlan_rate=0.5,
            qinq_share=1.0,
            ipv6_rate=0.3,
            drop_response_rate=0.08,
            wrap_rate=1.0,
            nanosecond=True,
        ),
    ),
}


def main() -> int:
    for name, (seed, params) in SAMPLES.items():
        pcap = HERE / name
        stats = GenerationStats()
        truth = generate_api_traffic(pcap, seed=seed, stats=stats, **params)
        truth_path = pcap.with_suffix(".truth.json")
        meta_params = {k: (list(v) if isinstance(v, tuple) else v) for k, v in params.items()}
        write_truth_json(truth_path, truth, pcap=name, seed=seed, params=meta_params, packets=stats.packets)
        size = pcap.stat().st_size
        print(
            f"{name}: {stats.packets} packets, {len(truth)} exchanges, {stats.connections} connections, {size} bytes"
        )
        if size >= MAX_BYTES:
            print(f"{name} is over {MAX_BYTES} bytes: shrink its parameters", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
