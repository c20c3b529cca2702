"""WebSocket frames (masking, fragmentation, control frames, permessage-deflate), Dubbo over
hand-encoded Hessian 2, and protocol detection; each with fuzzing."""

from __future__ import annotations

import os
import zlib

from hypothesis import given, settings
from hypothesis import strategies as st

from sensor.proto import detect as d
from sensor.proto.dubbo import DubboExchange, DubboReader
from sensor.proto.events import CLIENT, SERVER
from sensor.proto.websocket import Deflate, WebSocketReader, WsControl, WsMessage, negotiated_deflate


def ws_frame(opcode: int, payload: bytes, *, fin: bool = True, mask: bool = True, rsv1: bool = False) -> bytes:
    b0 = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode
    n = len(payload)
    head = bytes([b0])
    m = 0x80 if mask else 0
    if n < 126:
        head += bytes([m | n])
    elif n < 65536:
        head += bytes([m | 126]) + n.to_bytes(2, "big")
    else:
        head += bytes([m | 127]) + n.to_bytes(8, "big")
    if mask:
        key = os.urandom(4)
        return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    return head + payload


def test_fragments_with_control_frame_between() -> None:
    r = WebSocketReader(path="/chat")
    data = ws_frame(1, b'{"op": ', fin=False) + ws_frame(9, b"hb") + ws_frame(0, b'"hello"}')
    out = [e for i in range(len(data)) for e in r.feed(CLIENT, data[i: i + 1], 1.0)]
    assert isinstance(out[0], WsControl) and out[0].kind == "ping" and out[0].data == b"hb"
    msg = out[1]
    assert isinstance(msg, WsMessage) and msg.text == '{"op": "hello"}' and msg.fragments == 2 and not msg.tags


def test_close_code_and_unmasked_client_tag() -> None:
    r = WebSocketReader()
    out = r.feed(CLIENT, ws_frame(1, b"x", mask=False) + ws_frame(8, (1001).to_bytes(2, "big") + b"bye"), 1.0)
    assert "unmasked_client_frame" in out[0].tags  # type: ignore[union-attr]
    assert isinstance(out[1], WsControl) and (out[1].close_code, out[1].close_reason) == (1001, "bye")


def _deflate_messages(messages: list[bytes], takeover: bool) -> list[bytes]:
    comp = zlib.compressobj(6, zlib.DEFLATED, -15)
    frames = []
    for m in messages:
        if not takeover:
            comp = zlib.compressobj(6, zlib.DEFLATED, -15)
        data = comp.compress(m) + comp.flush(zlib.Z_SYNC_FLUSH)
        assert data.endswith(b"\x00\x00\xff\xff")
        frames.append(ws_frame(1, data[:-4], mask=False, rsv1=True))
    return frames


def test_permessage_deflate_with_and_without_context_takeover() -> None:
    msgs = [b'{"price": %d, "symbol": "ACME", "note": "same words again and again"}' % i for i in range(5)]
    for takeover in (True, False):
        ext = "permessage-deflate" + ("" if takeover else "; server_no_context_takeover")
        deflate = negotiated_deflate(ext)
        assert deflate is not None and deflate.server_no_context_takeover is (not takeover)
        r = WebSocketReader(deflate=deflate)
        out = [e for f in _deflate_messages(msgs, takeover) for e in r.feed(SERVER, f, 1.0)]
        assert [e.data for e in out if isinstance(e, WsMessage)] == msgs
        assert all(e.compressed and not e.tags for e in out if isinstance(e, WsMessage))


def test_takeover_mismatch_is_an_inflate_error_not_a_crash() -> None:
    r = WebSocketReader(deflate=Deflate(server_no_context_takeover=True))
    out = [e for f in _deflate_messages([b"abc" * 50] * 3, takeover=True) for e in r.feed(SERVER, f, 1.0)]
    assert any("inflate_error" in e.tags for e in out if isinstance(e, WsMessage))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=500), st.booleans())
def test_websocket_fuzz(data: bytes, deflate: bool) -> None:
    r = WebSocketReader(deflate=Deflate() if deflate else None, max_message=256, body_cap=64)
    r.feed(CLIENT, data, 1.0)
    r.feed(SERVER, ws_frame(1, data, rsv1=deflate, mask=False)[: len(data) // 2 + 2], 1.0)
    r.feed_gap(SERVER, 3, 1.0)
    r.close(2.0)


# -- Dubbo ------------------------------------------------------------------------------------

def h_str(s: str) -> bytes:
    b = s.encode()
    return (bytes([len(s)]) if len(s) < 32 else b"S" + len(s).to_bytes(2, "big")) + b


def dubbo(flag: int, status: int, rid: int, body: bytes) -> bytes:
    return b"\xda\xbb" + bytes([flag, status]) + rid.to_bytes(8, "big") + len(body).to_bytes(4, "big") + body


REQ_BODY = (h_str("2.0.2") + h_str("com.shop.OrderService") + h_str("1.0.0") + h_str("getOrder")
            + h_str("Ljava/lang/String;I") + h_str("ord-77") + bytes([0x90 + 3])
            + b"H" + h_str("path") + h_str("com.shop.OrderService") + b"Z")


def test_dubbo_request_response_by_id() -> None:
    r = DubboReader()
    wire = dubbo(0xC2, 0, 7, REQ_BODY) + dubbo(0xC2, 0, 8, REQ_BODY)
    out = [e for i in range(0, len(wire), 5) for e in r.feed(CLIENT, wire[i: i + 5], 1.0)]
    assert out == []
    out = r.feed(SERVER, dubbo(0x02, 20, 8, bytes([0x91]) + h_str("ok")) + dubbo(0x02, 70, 7, h_str("boom")), 2.0)
    by_id = {e.request_id: e for e in out if isinstance(e, DubboExchange)}
    ok, err = by_id[8], by_id[7]
    assert ok.endpoint == "com.shop.OrderService/getOrder" and ok.status_name == "OK"
    assert ok.request is not None and ok.request.arguments == ("ord-77", 3)
    assert ok.request.parameter_types == "Ljava/lang/String;I" and dict(ok.request.attachments)["path"]
    assert ok.response is not None and ok.response.result == "ok"
    assert err.status == 70 and err.status_name == "SERVICE_ERROR" and "error_status" in err.tags


def test_dubbo_heartbeat_and_resync() -> None:
    r = DubboReader()
    out = r.feed(CLIENT, b"garbage" + dubbo(0xE2, 0, 1, b"N"), 1.0)
    out += r.feed(SERVER, dubbo(0x22, 20, 1, b"N"), 1.0)
    (ex,) = out
    assert ex.request is not None and ex.request.event and r.counters["resync"] == 1


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_dubbo_fuzz(data: bytes) -> None:
    r = DubboReader(max_message=128)
    r.feed(CLIENT, dubbo(0xC2, 0, 1, data), 1.0)
    r.feed(CLIENT, b"\xda\xbb" + data, 1.0)
    r.feed(SERVER, dubbo(0x02, 20, 1, data)[: len(data)], 1.0)
    r.close(2.0)


# -- detection --------------------------------------------------------------------------------

def test_detection_cases() -> None:
    cases = {
        d.H2_PREFACE + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00": (d.H2C, d.KIND_PREFACE, d.ROLE_CLIENT),
        b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: h2c\r\nHTTP2-Settings: AA\r\n\r\n": (d.H2C, d.KIND_H2C_UPGRADE, d.ROLE_CLIENT),
        b"GET /ws HTTP/1.1\r\nUpgrade: WebSocket\r\n\r\n": (d.WEBSOCKET, d.KIND_WEBSOCKET_UPGRADE, d.ROLE_CLIENT),
        b"POST /x HTTP/1.1\r\nHost: a\r\n\r\n": (d.HTTP1, d.KIND_REQUEST, d.ROLE_CLIENT),
        b"HTTP/1.1 200 OK\r\n": (d.HTTP1, d.KIND_RESPONSE, d.ROLE_SERVER),
        b"\x16\x03\x01\x00\x50\x01\x00\x00\x4c": (d.TLS, d.KIND_CLIENT_HELLO, d.ROLE_CLIENT),
        b"\x16\x03\x03\x00\x50\x02\x00\x00\x4c": (d.TLS, d.KIND_SERVER_HELLO, d.ROLE_SERVER),
        dubbo(0xC2, 0, 1, b"N"): (d.DUBBO, d.KIND_DUBBO_REQUEST, d.ROLE_CLIENT),
        b"\x00\x00\x08\x00\x00\x00\x00\x00\x01" + b"\x00" * 8: (d.H2C, d.KIND_FRAMES, d.ROLE_UNKNOWN),
        b"SSH-2.0-OpenSSH_9.2\r\n": (d.UNKNOWN, d.KIND_NONE, d.ROLE_UNKNOWN),
        b"\x01\x01\x00\x01\x01\x00\x00\x00\x02\x01": (d.UNKNOWN, d.KIND_NONE, d.ROLE_UNKNOWN),  # SOFA Bolt
    }
    for data, want in cases.items():
        got = d.detect(data)
        assert (got.protocol, got.kind, got.role) == want, data


def test_short_prefixes_ask_for_more() -> None:
    assert d.detect(b"PRI * HT").need_more and d.detect(b"\x16").need_more and d.detect(b"GE").need_more


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=200))
def test_detect_never_raises(data: bytes) -> None:
    got = d.detect(data)
    assert got.protocol in (d.HTTP1, d.H2C, d.WEBSOCKET, d.DUBBO, d.TLS, d.UNKNOWN)
