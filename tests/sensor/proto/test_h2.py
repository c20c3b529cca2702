"""HTTP/2 reader against traffic made by the ``h2`` library (an independent endpoint)."""

from __future__ import annotations

import functools

import h2.config
import h2.connection
import h2.events
from hypothesis import given, settings
from hypothesis import strategies as st

from sensor.proto.events import CLIENT, SERVER
from sensor.proto.h2 import H2Exchange, H2Reader


def _pair() -> tuple[h2.connection.H2Connection, h2.connection.H2Connection, list[tuple[int, bytes]]]:
    client = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
    server = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False, header_encoding="utf-8"))
    client.initiate_connection()
    server.initiate_connection()
    wire: list[tuple[int, bytes]] = []
    return client, server, wire


def _pump(client: h2.connection.H2Connection, server: h2.connection.H2Connection,
          wire: list[tuple[int, bytes]]) -> None:
    for _ in range(4):
        c = client.data_to_send()
        if c:
            wire.append((CLIENT, c))
            server.receive_data(c)
        s = server.data_to_send()
        if s:
            wire.append((SERVER, s))
            client.receive_data(s)


def _conversation(n: int = 3, *, body: bytes = b'{"a": 1}', pad: int = 0, big_header: bool = False,
                  trailers: bool = False, reset_last: bool = False) -> list[tuple[int, bytes]]:
    client, server, wire = _pair()
    _pump(client, server, wire)
    for i in range(n):
        sid = client.get_next_available_stream_id()
        headers = [(":method", "POST"), (":path", f"/items/{i}?q=x"), (":authority", "api.example"),
                   (":scheme", "http"), ("content-type", "application/json")]
        if big_header:
            headers.append(("x-big", "v" * 40000))  # forces CONTINUATION frames
        client.send_headers(sid, headers)
        client.send_data(sid, body, end_stream=not trailers, pad_length=pad or None)
        if trailers:
            client.send_headers(sid, [("x-checksum", "abc")], end_stream=True)
        _pump(client, server, wire)
        if reset_last and i == n - 1:
            server.reset_stream(sid, error_code=8)
        else:
            server.send_headers(sid, [(":status", "201"), ("content-type", "application/json")])
            server.send_data(sid, b'{"id": %d}' % i, end_stream=not trailers, pad_length=pad or None)
            if trailers:
                server.send_headers(sid, [("grpc-status", "0")], end_stream=True)
        _pump(client, server, wire)
    return wire


def _run(wire: list[tuple[int, bytes]], reader: H2Reader | None = None, chunk: int = 0) -> tuple[H2Reader, list[object]]:
    reader = reader or H2Reader()
    out: list[object] = []
    for side, data in wire:
        if chunk:
            for i in range(0, len(data), chunk):
                out.extend(reader.feed(side, data[i: i + chunk], 1.0))
        else:
            out.extend(reader.feed(side, data, 1.0))
    out.extend(reader.close(2.0))
    return reader, out


def _exchanges(out: list[object]) -> list[H2Exchange]:
    return sorted((e for e in out if isinstance(e, H2Exchange)), key=lambda e: e.stream_id)


def test_requests_and_responses_paired_by_stream() -> None:
    _, out = _run(_conversation(3))
    exs = _exchanges(out)
    assert [(e.stream_id, e.method, e.path, e.status) for e in exs] == [
        (1, "POST", "/items/0?q=x", 201), (3, "POST", "/items/1?q=x", 201), (5, "POST", "/items/2?q=x", 201)]
    assert exs[0].request_body.data == b'{"a": 1}' and exs[2].response_body.data == b'{"id": 2}'
    assert exs[0].authority == "api.example" and ("content-type", "application/json") in exs[0].request_headers
    assert all(not e.tags for e in exs)


def test_padding_continuation_trailers_and_byte_at_a_time() -> None:
    wire = _conversation(2, pad=17, big_header=True, trailers=True)
    reader, out = _run(wire, chunk=1)
    exs = _exchanges(out)
    assert len(exs) == 2
    assert exs[1].request_body.data == b'{"a": 1}'  # padding stripped
    assert exs[0].request_trailers == (("x-checksum", "abc"),) and exs[0].response_trailers == (("grpc-status", "0"),)
    assert dict(exs[0].request_headers)["x-big"] == "v" * 40000
    assert reader.counters["frames_continuation"] >= 2


def test_rst_stream_ends_the_exchange() -> None:
    exs = _exchanges(_run(_conversation(2, reset_last=True))[1])
    assert exs[-1].reset_code == 8 and exs[-1].reset_name == "CANCEL" and exs[-1].reset_by == SERVER
    assert "stream_reset" in exs[-1].tags and exs[-1].status is None


def test_mid_connection_keeps_frames_and_tags_unknown_headers() -> None:
    wire = _conversation(3)
    # Drop everything up to the second request: the HPACK entries made so far are never seen.
    start = next(i for i, (side, data) in enumerate(wire) if i > 2 and side == CLIENT)
    start += 2
    reader = H2Reader(prior_knowledge=False, from_start=False)
    exs = _exchanges(_run(wire[start:], reader)[1])
    assert exs, "frames after the join point still give exchanges"
    last = exs[-1]
    assert last.stream_id == 5 and last.response_body.data == b'{"id": 2}' and last.method == "POST"
    assert "mid_stream" in last.tags and "hpack_unknown_reference" in last.tags
    # ":status: 201" went into the dynamic table before the join: unknown, never guessed.
    assert last.status is None and reader.counters["hpack_unknown_references"] > 0
    # Headers that referenced the lost dynamic-table entries are counted, never made up.
    assert last.path in (None, "/items/2?q=x")


def test_push_promise() -> None:
    client, server, wire = _pair()
    _pump(client, server, wire)
    client.send_headers(1, [(":method", "GET"), (":path", "/"), (":authority", "a"), (":scheme", "http")],
                        end_stream=True)
    _pump(client, server, wire)
    server.push_stream(1, 2, [(":method", "GET"), (":path", "/style.css"), (":authority", "a"), (":scheme", "http")])
    server.send_headers(1, [(":status", "200")])
    server.send_data(1, b"<html>", end_stream=True)
    server.send_headers(2, [(":status", "200")])
    server.send_data(2, b"body{}", end_stream=True)
    _pump(client, server, wire)
    exs = {e.stream_id: e for e in _exchanges(_run(wire)[1])}
    assert exs[2].pushed_by == 1 and exs[2].path == "/style.css" and exs[2].response_body.data == b"body{}"
    assert "pushed" in exs[2].tags and exs[1].response_body.data == b"<html>"


def test_gap_inside_data_keeps_framing() -> None:
    wire = _conversation(1, body=b"x" * 5000)
    reader = H2Reader()
    out: list[object] = []
    for side, data in wire:
        if side == CLIENT and len(data) > 5000:
            cut = data.index(b"x" * 100)
            out.extend(reader.feed(side, data[:cut + 10], 1.0))
            out.extend(reader.feed_gap(side, 100, 1.0))
            out.extend(reader.feed(side, data[cut + 110:], 1.0))
        else:
            out.extend(reader.feed(side, data, 1.0))
    (ex,) = _exchanges(out + reader.close(2.0))
    assert "gap" in ex.tags and ex.status == 201 and ex.request_body.wire_length == 5000


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600), st.booleans())
def test_garbage_gives_only_counters(data: bytes, mid: bool) -> None:
    reader = H2Reader(prior_knowledge=not mid, from_start=not mid, synced=not mid)
    reader.feed(CLIENT, data, 1.0)
    reader.feed(SERVER, data[::-1], 1.0)
    reader.feed_gap(CLIENT, 7, 1.0)
    reader.feed(CLIENT, data, 1.0)
    reader.close(2.0)


@functools.cache
def _fuzz_seed_conversation() -> tuple[tuple[int, bytes], ...]:
    # Made once: building it with the h2 library costs 0.35 s, which per example was most of
    # this test's time (it is a pure function of its arguments).
    return tuple(_conversation(2, big_header=True, trailers=True))


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=10_000), st.integers(min_value=0, max_value=255), st.integers(0, 5))
def test_truncated_and_corrupted_real_traffic(cut: int, flip: int, which: int) -> None:
    wire = list(_fuzz_seed_conversation())
    side, data = wire[min(which, len(wire) - 1)]
    pos = cut % max(1, len(data))
    corrupted = data[:pos] + bytes([data[pos] ^ flip]) + data[pos + 1:] if data else data
    reader = H2Reader()
    for s, d in wire:
        reader.feed(s, corrupted if (s, d) == (side, data) else d, 1.0)
    reader.feed(CLIENT, data[: pos], 1.0)  # and a truncated copy
    reader.close(2.0)
