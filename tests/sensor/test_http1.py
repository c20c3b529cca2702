"""The HTTP/1 parser: framing rules, anomalies as data, split invariance, garbage safety."""

from __future__ import annotations

import gzip
import zlib

import brotli
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sensor.http1 import HttpParseError, HttpParser, MessageEnd, RequestHead, ResponseHead, Skipped


def parse(data: bytes | list[bytes], *, response: bool = False, method: str | None = "GET",
          eof: bool = True) -> list:
    parser = HttpParser(is_response=response, method_for_response=(lambda head: method) if response else None,
                        body_cap=1 << 20)
    chunks = data if isinstance(data, list) else [data]
    events: list = []
    for i, chunk in enumerate(chunks):
        events.extend(parser.feed(chunk, float(i)))
    if eof:
        events.extend(parser.feed_eof(float(len(chunks))))
    return events


def messages(events: list) -> list[tuple]:
    """(head, end) pairs, as comparable tuples, timestamps dropped."""
    out: list[tuple] = []
    head = None
    for ev in events:
        if isinstance(ev, RequestHead):
            head = ("req", ev.method, ev.target, ev.version, ev.headers, ev.tags)
        elif isinstance(ev, ResponseHead):
            head = ("resp", ev.status, ev.reason, ev.headers, ev.tags)
        elif isinstance(ev, MessageEnd):
            out.append((head, ev.body.data, ev.body.length, ev.body.wire_length, ev.tags, ev.trailers))
    return out


KEEPALIVE_REQUESTS = (
    b"GET /users/1 HTTP/1.1\r\nHost: api.example\r\nAccept: */*\r\n\r\n"
    b"POST /users HTTP/1.1\r\nHost: api.example\r\nContent-Type: application/json\r\nContent-Length: 15\r\n\r\n"
    b'{"name":"Zhao"}'
    b"PUT /files/a.txt HTTP/1.1\r\nHost: api.example\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Checksum: abc\r\n\r\n"
    b"DELETE /users/1 HTTP/1.0\r\nHost: api.example\r\n\r\n"
)

PIPELINED_RESPONSES = (
    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
    b"HTTP/1.1 204 No Content\r\n\r\n"
    b"HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\n"
    b"HTTP/1.1 500 Oops\r\nContent-Length: 4\r\n\r\nfail"
)


def test_keepalive_requests_with_every_body_framing() -> None:
    msgs = messages(parse(KEEPALIVE_REQUESTS))
    assert [m[0][1:3] for m in msgs] == [("GET", "/users/1"), ("POST", "/users"), ("PUT", "/files/a.txt"),
                                         ("DELETE", "/users/1")]
    assert msgs[1][1] == b'{"name":"Zhao"}'
    assert msgs[2][1] == b"hello world" and msgs[2][5] == (("X-Checksum", "abc"),)
    assert msgs[3][0][3] == "1.0"


def test_pipelined_responses_no_body_for_204_304() -> None:
    msgs = messages(parse(PIPELINED_RESPONSES, response=True))
    assert [m[0][1] for m in msgs] == [200, 201, 204, 304, 500]
    assert [m[1] for m in msgs] == [b"ok", b"abc", b"", b"", b"fail"]


def test_head_response_has_no_body_despite_content_length() -> None:
    data = b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nHTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
    msgs = messages(parse(data, response=True, method="HEAD"))
    assert [m[0][1] for m in msgs] == [200, 404]


def test_interim_responses_then_final() -> None:
    data = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 102 Processing\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx"
    msgs = messages(parse(data, response=True, method="POST"))
    assert [m[0][1] for m in msgs] == [100, 102, 200]
    assert msgs[2][1] == b"x"


def test_close_delimited_response_ends_at_eof() -> None:
    msgs = messages(parse(b"HTTP/1.0 200 OK\r\nServer: x\r\n\r\nall of this until close", response=True))
    assert msgs[0][1] == b"all of this until close"
    assert "close_delimited" in msgs[0][4]


def test_connect_and_101_switch_to_tunnel() -> None:
    events = parse(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x05hello", response=True)
    msgs = messages(events)
    assert len(msgs) == 1 and "upgrade" in msgs[0][4]
    events = parse(b"HTTP/1.1 200 Connection established\r\n\r\n\x16\x03\x01", response=True, method="CONNECT")
    assert "upgrade" in messages(events)[0][4]


def test_conflicting_content_length_is_tagged() -> None:
    data = b"POST /a HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 5\r\n\r\nabcGET /b HTTP/1.1\r\n\r\n"
    msgs = messages(parse(data))
    assert "conflicting_content_length" in msgs[0][4]
    assert msgs[0][1] == b"abc" and msgs[1][0][2] == "/b"


def test_identical_repeated_content_length_is_fine() -> None:
    msgs = messages(parse(b"POST /a HTTP/1.1\r\nContent-Length: 3, 3\r\n\r\nabc"))
    assert msgs[0][1] == b"abc" and not msgs[0][4]


def test_te_and_cl_prefers_chunked_and_tags_it() -> None:
    data = b"POST /a HTTP/1.1\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nz\r\n0\r\n\r\n"
    msgs = messages(parse(data))
    assert msgs[0][1] == b"z" and "bad_framing" in msgs[0][4]


def test_obs_fold_and_repeated_headers_keep_order() -> None:
    data = b"GET / HTTP/1.1\r\nX-A: 1\r\nX-Long: part one\r\n  part two\r\nX-A: 2\r\n\r\n"
    head = messages(parse(data))[0][0]
    assert head[4] == (("X-A", "1"), ("X-Long", "part one part two"), ("X-A", "2"))


def test_bare_lf_line_endings() -> None:
    msgs = messages(parse(b"GET /lf HTTP/1.1\nHost: h\n\nGET /two HTTP/1.1\nHost: h\n\n"))
    assert [m[0][2] for m in msgs] == ["/lf", "/two"]


def test_resync_after_garbage_is_tagged() -> None:
    data = b"\x00\x01garbage bytes here\r\nGET /after HTTP/1.1\r\nHost: h\r\n\r\n"
    events = parse(data)
    msgs = messages(events)
    assert msgs[0][0][2] == "/after" and "resync" in msgs[0][0][5]
    assert sum(ev.size for ev in events if isinstance(ev, Skipped)) == data.index(b"GET")


def test_gap_inside_body_counts_missing_bytes_without_zero_fill() -> None:
    parser = HttpParser(is_response=True, method_for_response=lambda head: "GET")
    events = parser.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", 0.0)
    events += parser.feed_gap(4, 1.0)
    events += parser.feed(b"xyz", 2.0)
    events += parser.feed(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", 3.0)
    msgs = messages(events)
    assert msgs[0][1] == b"abcxyz" and "gap" in msgs[0][4]
    assert msgs[1][0][1] == 404


def test_gap_beyond_body_resyncs_at_next_message() -> None:
    parser = HttpParser(is_response=True, method_for_response=lambda head: "GET")
    events = parser.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", 0.0)
    events += parser.feed_gap(50, 1.0)
    events += parser.feed(b"tail of something HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n", 2.0)
    msgs = messages(events)
    assert "truncated_body" in msgs[0][4] and "gap" in msgs[0][4]
    assert msgs[1][0][1] == 201


def test_truncated_body_at_eof() -> None:
    msgs = messages(parse(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", response=True))
    assert msgs[0][1] == b"abc" and "truncated_body" in msgs[0][4]
    assert msgs[0][3] == 3


def test_body_cap_keeps_lengths() -> None:
    parser = HttpParser(is_response=False, body_cap=4)
    events = parser.feed(b"POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123456789", 0.0)
    end = [ev for ev in events if isinstance(ev, MessageEnd)][0]
    assert end.body.data == b"0123" and end.body.length == 10 and "body_capped" in end.tags


def _resp(encoding: str, body: bytes) -> bytes:
    return (f"HTTP/1.1 200 OK\r\nContent-Encoding: {encoding}\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body


def test_content_encodings_are_decoded() -> None:
    plain = b'{"ok": true, "items": [1, 2, 3]}' * 20
    deflate_raw = zlib.compressobj(wbits=-15)
    cases = {
        "gzip": gzip.compress(plain),
        "deflate": zlib.compress(plain),
        "br": brotli.compress(plain),
        "zstd": zstandard.ZstdCompressor().compress(plain),
        "gzip, br": brotli.compress(gzip.compress(plain)),
    }
    for encoding, body in cases.items():
        msg = messages(parse(_resp(encoding, body), response=True))[0]
        assert msg[1] == plain, encoding
        assert msg[2] == len(plain) and msg[3] == len(body)
    raw = deflate_raw.compress(plain) + deflate_raw.flush()
    assert messages(parse(_resp("deflate", raw), response=True))[0][1] == plain


def test_mislabelled_gzip_is_kept_plain_and_tagged() -> None:
    msg = messages(parse(_resp("gzip", b'{"plain": "json"}'), response=True))[0]
    assert msg[1] == b'{"plain": "json"}' and "mislabelled_encoding" in msg[4]


def test_decompression_bomb_is_capped() -> None:
    bomb = gzip.compress(b"\0" * (40 * 1024 * 1024))
    parser = HttpParser(is_response=True, method_for_response=lambda h: "GET", body_cap=1024,
                        max_decoded=1024 * 1024)
    events = parser.feed(_resp("gzip", bomb), 0.0)
    end = [ev for ev in events if isinstance(ev, MessageEnd)][0]
    assert "decompression_bomb" in end.tags
    assert len(end.body.data) == 1024 and end.body.length <= 2 * 1024 * 1024


def test_malformed_request_lines_are_recorded_with_a_tag() -> None:
    for line, method, target in [
        (b"OPTIONS HTTP/1.1", "OPTIONS", ""),
        (b"GET /HTTP/1.1", "GET", "/HTTP/1.1"),
        (b"GET  HTTP/1.1", "GET", ""),
    ]:
        msgs = messages(parse(line + b"\r\nHost: h\r\n\r\n"))
        assert msgs[0][0][1:3] == (method, target)
        assert "bad_request_line" in msgs[0][0][5]


def test_other_protocols_are_not_requests() -> None:
    for data in (b"EHLO mail.example\r\nMAIL FROM:<a@b>\r\n\r\n", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
                 b"OPTIONS sip:x@y SIP/2.0\r\nVia: z\r\n\r\n"):
        assert not [ev for ev in parse(data) if isinstance(ev, RequestHead)], data


def test_non_numeric_status_is_tagged() -> None:
    msgs = messages(parse(b"HTTP/1.1 2OO OK\r\nContent-Length: 0\r\n\r\n", response=True))
    assert msgs[0][0][1] is None and "bad_status" in msgs[0][0][4]


def test_http09_simple_request() -> None:
    events = parse(b"GET /old.html\r\n")
    heads = [ev for ev in events if isinstance(ev, RequestHead)]
    assert heads[0].target == "/old.html" and heads[0].version is None and "http09" in heads[0].tags


# -- properties ---------------------------------------------------------------------------------

STREAMS = [KEEPALIVE_REQUESTS, PIPELINED_RESPONSES]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(which=st.sampled_from([0, 1]), cuts=st.lists(st.integers(min_value=0, max_value=2000), max_size=12))
def test_any_split_of_the_stream_yields_the_same_exchanges(which: int, cuts: list[int]) -> None:
    data = STREAMS[which]
    points = sorted({c % (len(data) + 1) for c in cuts})
    chunks = [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]
    whole = messages(parse(data, response=bool(which)))
    split = messages(parse(chunks, response=bool(which)))
    assert split == whole


@settings(max_examples=300, deadline=None)
@given(data=st.lists(st.binary(max_size=300), max_size=8), response=st.booleans(),
       gap=st.integers(min_value=0, max_value=3))
def test_garbage_raises_nothing_but_our_error(data: list[bytes], response: bool, gap: int) -> None:
    parser = HttpParser(is_response=response, method_for_response=(lambda h: "GET") if response else None)
    try:
        for i, chunk in enumerate(data):
            parser.feed(chunk, float(i))
            if gap and i == gap:
                parser.feed_gap(17, float(i))
        parser.feed_eof(99.0)
    except HttpParseError:
        pass


@settings(max_examples=200, deadline=None)
@given(prefix=st.binary(max_size=200).filter(lambda b: b"HTTP/" not in b and b"GET" not in b))
def test_message_after_any_garbage_is_found(prefix: bytes) -> None:
    msgs = messages(parse(prefix + b"\r\nGET /found HTTP/1.1\r\nHost: h\r\n\r\n"))
    assert msgs and msgs[-1][0][2] == "/found"
