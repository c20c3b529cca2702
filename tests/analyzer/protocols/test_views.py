"""Protocol records become the endpoints the inventory counts (the real sensor on real frames)."""

from __future__ import annotations

from pathlib import Path

from analyzer.observation import from_exchange
from analyzer.protocols.views import expand, grpc_http_status
from bench.proto_traffic import generate, score_sensor
from sensor.engine import iter_exchanges


def _views(pcap: Path) -> list:
    out = []
    for ex in iter_exchanges(pcap):
        obs = from_exchange(ex)
        out.extend(expand(obs))
    return out


def test_grpc_graphql_websocket_endpoints_through_the_sensor(tmp_path: Path) -> None:
    pcap = tmp_path / "proto.pcap"
    truth = generate(str(pcap), 300)
    assert score_sensor(str(pcap), truth) == {"grpc": 1.0, "graphql": 1.0, "websocket": 1.0}
    views = _views(pcap)
    endpoints = {(v.method, v.endpoint) for v in views if v.endpoint}
    assert ("POST", "/shop.v1.Orders/Get") in endpoints or ("POST", "/shop.v1.Orders/List") in endpoints
    assert ("POST", "/graphql#query GetUser") in endpoints and ("POST", "/graphql#query {products}") in endpoints
    assert ("WS", "/live/feed#client") in endpoints and ("WS", "/live/feed#server") in endpoints
    grpc = [v for v in views if v.protocol == "grpc"]
    assert grpc and all(v.request_body.data.startswith(b"{") for v in grpc)  # field-number paths as JSON
    gql = [v for v in views if v.graphql is not None and v.graphql.name == "GetUser"]
    assert gql and ("variable", "$id", "ID!") in gql[0].parameters
    # A damaged truth entry is not found: the score can fail.
    truth[0] = {**truth[0], "port": 1}
    assert min(score_sensor(str(pcap), truth).values()) < 1.0


def test_grpc_status_maps_to_its_http_meaning() -> None:
    assert grpc_http_status(0, 200) == 200
    assert grpc_http_status(16, 200) == 401 and grpc_http_status(7, 200) == 403
    assert grpc_http_status(None, 200) == 200 and grpc_http_status(99, 502) == 502
