"""Real captures through TCP reassembly and the protocol seam (copies in data/, the rest of
../shared/corpus/pcaps-protocols when present)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sensor.proto.dubbo import DubboExchange
from sensor.proto.grpc import grpc_call
from sensor.proto.h2 import H2Exchange
from sensor.proto.replay import events
from sensor.proto.session import ProtocolDetected
from sensor.proto.upgrade import UpgradeExchange
from sensor.proto.websocket import WsControl, WsMessage

DATA = Path(__file__).parent / "data"
REPO = Path(__file__).resolve().parents[3]
# ../shared beside the clone (CI); a worktree one level further down finds it one more level up.
SHARED = next((p / "shared" / "corpus" / "pcaps-protocols" for p in (REPO.parent, REPO.parent.parent)
               if (p / "shared" / "corpus" / "pcaps-protocols").is_dir()),
              REPO.parent / "shared" / "corpus" / "pcaps-protocols")


def _h2(name: str) -> list[H2Exchange]:
    return [e for e in events(DATA / name) if isinstance(e, H2Exchange)]


def test_grpc_unary_mid_connection() -> None:
    (ex,) = _h2("df_grpc-unary.pcap")
    call = grpc_call(ex)
    assert (call.service, call.method, ex.status, ex.authority) == ("agent.Synchronizer", "Sync", 200, "10.1.23.21:30035")
    assert call.status is None  # the trailers were not captured (deepflow agrees: grpc_status_code None)
    assert call.request_messages == 1 and call.response_messages == 1
    assert "mid_stream" in ex.tags
    assert call.request is not None and call.request.fields  # schemaless protobuf decoded


def test_grpc_server_streaming_status_from_trailers() -> None:
    (ex,) = _h2("df_grpc-server-stream.pcap")
    call = grpc_call(ex)
    assert call.endpoint == "/timeseriesquery.TimeSeriesQueryService/ServerStreamQuery"
    assert call.status == 0 and call.status_name == "OK" and call.status_source == "trailers"
    assert call.streaming == "server_streaming" and call.response_messages >= 2


def test_grpc_unknown_path_is_tagged_not_guessed() -> None:
    (ex,) = _h2("df_grpc-unknown.pcap")
    assert ex.path is None and ex.authority == "currencyservice:7000" and ex.status == 200
    assert ex.stream_id == 928401 and "hpack_unknown_reference" in ex.tags


def test_h2_prior_knowledge_rest_call() -> None:
    (ex,) = _h2("ndpi_http2.pcapng")
    assert (ex.method, ex.path, ex.status) == ("POST", "/namf-comm/v1/subscriptions", 201)
    assert ex.request_body.data.startswith(b"{") and not ex.tags


def test_h2_continuation_assembles_headers() -> None:
    (ex,) = _h2("sv_http2-continuation.pcap")
    assert ex.method == "GET" and ex.path == "/tata"


def test_h2c_upgrade_hands_over_stream_1() -> None:
    evs = events(DATA / "sv_http2-h2c-upgrade.pcap")
    up = [e for e in evs if isinstance(e, UpgradeExchange)]
    assert up and up[0].switched and up[0].protocol == "h2c"
    exs = {e.stream_id: e for e in evs if isinstance(e, H2Exchange)}
    assert (exs[1].path, exs[1].status, exs[3].path, exs[3].status) == ("/robots.txt", 200, "/humans.txt", 404)
    assert exs[1].authority == "nghttp2.org"


def test_dubbo_hessian2_paired() -> None:
    (ex,) = [e for e in events(DATA / "df_dubbo-hessian2.pcap") if isinstance(e, DubboExchange)]
    assert ex.endpoint == "my.demo.service.UserService/login"
    assert ex.request is not None and ex.request.dubbo_version == "2.0.2" and ex.request.service_version == "0.0.0"
    assert ex.request_id == 22872 and ex.status == 20 and ex.status_name == "OK"


def test_websocket_control_frame_between_fragments() -> None:
    evs = events(DATA / "sv_websocket-control-frag.pcap")
    (msg,) = [e for e in evs if isinstance(e, WsMessage)]
    assert msg.fragments == 2 and msg.text is not None and msg.text.startswith("MALWARE_DOWNLOAD")
    assert [c.kind for c in evs if isinstance(c, WsControl)] == ["ping", "pong"]


def test_websocket_close_code() -> None:
    evs = events(DATA / "zeek_ws-message-too-big-status.pcap")
    assert [c.close_code for c in evs if isinstance(c, WsControl) and c.kind == "close"] == [1009, 1000]


# tshark's count of gRPC calls with decode-as (SOURCES.md) is a floor for every capture.
TSHARK_GRPC = {"df_grpc-segmented.pcap": 1, "df_grpc-server-stream.pcap": 1, "df_grpc-unary.pcap": 1,
               "sv_http2-errorcode.pcap": 1}


@pytest.mark.corpus
def test_shared_corpus_parses_without_error_and_finds_grpc_calls() -> None:
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} is absent (the shared corpus is not beside this clone)")
    files = sorted(p for p in SHARED.iterdir() if p.suffix in (".pcap", ".pcapng"))
    assert len(files) >= 30
    for path in files:
        evs = events(path)  # never raises
        calls = [grpc_call(e) for e in evs if isinstance(e, H2Exchange) and e.path and "." in e.path.split("/")[1]]
        floor = TSHARK_GRPC.get(path.name, 0)
        assert len({(c.endpoint, c.stream_id) for c in calls}) >= floor, path.name
        if path.name.startswith(("sv_websocket", "zeek_ws")):
            assert any(isinstance(e, ProtocolDetected) and e.protocol == "websocket" for e in evs), path.name
            assert any(isinstance(e, (WsMessage, WsControl)) for e in evs), path.name
        if path.name.startswith("df_dubbo"):
            dubbo = [e for e in evs if isinstance(e, DubboExchange)]
            assert dubbo and all(e.endpoint for e in dubbo), path.name
