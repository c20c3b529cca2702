from __future__ import annotations

from pathlib import Path

from bench.proto_traffic import generate, score


def test_generated_traffic_scores_full_recall(tmp_path: Path) -> None:
    pcap = tmp_path / "proto.pcap"
    truth = generate(str(pcap), 600)
    assert {t["kind"] for t in truth} == {"grpc", "graphql", "websocket"} and len(truth) >= 600
    recall = score(str(pcap), truth)
    assert recall == {"grpc": 1.0, "graphql": 1.0, "websocket": 1.0}
    # A damaged truth entry is not found: the score can fail.
    truth[0] = {**truth[0], "port": 1}
    assert min(score(str(pcap), truth).values()) < 1.0
