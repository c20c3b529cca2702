"""gRPC framing and calls, and protobuf decoding with and without a descriptor set."""

from __future__ import annotations

import gzip

from google.protobuf import descriptor_pb2
from hypothesis import given, settings
from hypothesis import strategies as st

from sensor.proto.grpc import GrpcFramer, grpc_call
from sensor.proto.h2 import H2Exchange, H2Reader
from sensor.proto.protobuf import DescriptorRegistry, decode_message
from tests.sensor.proto.test_h2 import _pair, _pump


def _varint(n: int) -> bytes:
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def _field(num: int, value: int | bytes) -> bytes:
    if isinstance(value, int):
        return _varint(num << 3) + _varint(value)
    return _varint(num << 3 | 2) + _varint(len(value)) + value


def _frame(msg: bytes, compressed: bool = False) -> bytes:
    body = gzip.compress(msg) if compressed else msg
    return bytes([1 if compressed else 0]) + len(body).to_bytes(4, "big") + body


USER = _field(1, 42) + _field(2, b"ada@example.com") + _field(3, _field(1, b"London") + _field(2, 7))


def _call(requests: list[bytes], responses: list[bytes], *, trailers_only: bool = False, status: int = 0,
          encoding: str | None = None) -> H2Exchange:
    client, server, wire = _pair()
    _pump(client, server, wire)
    headers = [(":method", "POST"), (":path", "/shop.v1.Users/Get"), (":authority", "users:50051"),
               (":scheme", "http"), ("content-type", "application/grpc"), ("te", "trailers")]
    if encoding:
        headers.append(("grpc-encoding", encoding))
    client.send_headers(1, headers)
    for m in requests:
        client.send_data(1, m)
    client.end_stream(1)
    _pump(client, server, wire)
    if trailers_only:
        server.send_headers(1, [(":status", "200"), ("content-type", "application/grpc"),
                                ("grpc-status", str(status)), ("grpc-message", "no%20such%20user")], end_stream=True)
    else:
        rh = [(":status", "200"), ("content-type", "application/grpc")] + ([("grpc-encoding", encoding)] if encoding else [])
        server.send_headers(1, rh)
        for m in responses:
            server.send_data(1, m)
        server.send_headers(1, [("grpc-status", str(status))], end_stream=True)
    _pump(client, server, wire)
    reader = H2Reader()
    out: list[object] = []
    for side, data in wire:
        out.extend(reader.feed(side, data, 1.0))
    (ex,) = [e for e in out if isinstance(e, H2Exchange)]
    return ex


def test_unary_call_schemaless() -> None:
    call = grpc_call(_call([_frame(USER)], [_frame(_field(1, 1))]))
    assert (call.service, call.method, call.package, call.status, call.status_name) == (
        "shop.v1.Users", "Get", "shop.v1", 0, "OK")
    assert call.streaming == "unary" and call.status_source == "trailers"
    assert call.request is not None
    assert call.request.as_object() == {"1": 42, "2": "ada@example.com", "3": {"1": "London", "2": 7}}
    assert [(f.path, f.wire_type) for f in call.request.fields][:2] == [("1", "varint"), ("2", "len")]


def test_streaming_counts_and_gzip() -> None:
    ex = _call([_frame(USER, True)] * 3, [_frame(USER, True)] * 5, encoding="gzip")
    call = grpc_call(ex)
    assert (call.request_messages, call.response_messages, call.streaming) == (3, 5, "bidi_streaming")
    assert ex.request_grpc is not None and ex.request_grpc.compressed == 3
    assert call.request is not None and call.request.as_object()["2"] == "ada@example.com"


def test_trailers_only_error() -> None:
    call = grpc_call(_call([_frame(USER)], [], trailers_only=True, status=5))
    assert call.status == 5 and call.status_name == "NOT_FOUND" and call.status_source == "trailers_only"
    assert call.status_message == "no such user" and call.response_messages == 0


def _registry() -> DescriptorRegistry:
    fds = descriptor_pb2.FileDescriptorSet()
    f = fds.file.add(name="shop.proto", package="shop.v1")
    addr = f.message_type.add(name="Address")
    addr.field.add(name="city", number=1, type=9, label=1)
    addr.field.add(name="floor", number=2, type=5, label=1)
    user = f.message_type.add(name="User")
    user.field.add(name="id", number=1, type=3, label=1)
    user.field.add(name="email", number=2, type=9, label=1)
    user.field.add(name="address", number=3, type=11, type_name=".shop.v1.Address", label=1)
    svc = f.service.add(name="Users")
    svc.method.add(name="Get", input_type=".shop.v1.User", output_type=".shop.v1.User", server_streaming=True)
    return DescriptorRegistry.from_bytes(fds.SerializeToString())


def test_named_fields_from_descriptor_set() -> None:
    call = grpc_call(_call([_frame(USER)], [_frame(USER)]), _registry())
    assert call.request_type == "shop.v1.User" and call.streaming == "server_streaming"
    assert call.request is not None
    assert call.request.as_object() == {"id": 42, "email": "ada@example.com", "address": {"city": "London", "floor": 7}}


def test_framer_across_chunks_and_truncation() -> None:
    stream = _frame(USER) + _frame(b"") + _frame(USER)
    framer = GrpcFramer()
    for i in range(len(stream)):
        framer.feed(stream[i: i + 1])
    f = framer.finish()
    assert f.count == 3 and f.messages[2].data == USER and f.messages[1].data == b"" and not f.tags
    framer = GrpcFramer()
    framer.feed(stream[:-3])
    assert "grpc_truncated_message" in framer.finish().tags


def test_text_and_nested_heuristics() -> None:
    msg = decode_message(_field(1, b"Hi") + _field(2, _field(1, 5)) + _field(3, b"\xff\x00\x01"))
    kinds = {f.path: f.kind for f in msg.fields}
    assert kinds == {"1": "string", "2": "message", "2.1": "int", "3": "bytes"}


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_protobuf_and_framer_fuzz(data: bytes) -> None:
    msg = decode_message(data)
    msg.as_object()
    decode_message(data, registry=_REG, type_name="shop.v1.User", truncated=True)
    framer = GrpcFramer("gzip")
    framer.feed(data)
    framer.gap(3)
    framer.feed(data)
    framer.finish()


_REG = _registry()
