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


def test_a_bare_method_line_before_a_request_line_is_garbage() -> None:
    """Found by Hypothesis: "CONNECT" alone, then a whole request: the request is the request."""
    for prefix in (b"CONNECT", b"GET", b"POST  "):
        msgs = messages(parse(prefix + b"\r\nGET /found HTTP/1.1\r\nHost: h\r\n\r\n"))
        assert [(m[0][1], m[0][2]) for m in msgs] == [("GET", "/found")], prefix
    # Alone, a malformed line with a standard method is still a request (servers answer it).
    msgs = messages(parse(b"GET\r\nHost: h\r\n\r\n"))
    assert msgs[0][0][1:3] == ("GET", "") and "bad_request_line" in msgs[0][0][5]


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


# -- issue 14: no input stalls the parser -------------------------------------------------------

def _timed_parse(data: bytes | list[bytes], **kwargs) -> tuple[list, float]:
    import time

    started = time.perf_counter()
    events = parse(data, **kwargs)
    return events, time.perf_counter() - started


def _segments(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def test_unterminated_head_over_the_bound_ends_the_message_and_finishes_fast() -> None:
    """66,000 bytes of head and no blank line: once hung the sensor (resync found the same
    request line again, forever)."""
    head = b"GET /x HTTP/1.1\r\nHost: h\r\nX: " + b"a" * 66000
    for chunks in ([head], _segments(head, 1460)):
        events, seconds = _timed_parse(chunks)
        assert seconds < 1.0
        heads = [ev for ev in events if isinstance(ev, RequestHead)]
        assert [(h.target, h.tags) for h in heads] == [("/x", ("head_too_large",))]
        assert heads[0].headers == (("Host", "h"),)  # the complete lines within the bound
        assert sum(ev.size for ev in events if isinstance(ev, Skipped)) > 0


def test_190kb_header_is_skipped_and_the_next_request_found() -> None:
    data = (b"GET /big HTTP/1.1\r\nHost: h\r\nCookie: " + b"c" * 190_000 + b"\r\nAccept: */*\r\n\r\n"
            b"GET /next HTTP/1.1\r\nHost: h\r\n\r\n")
    for chunks in ([data], _segments(data, 1448), _segments(data, 65536)):
        events, seconds = _timed_parse(chunks)
        assert seconds < 1.0
        msgs = messages(events)
        assert [(m[0][2], m[0][5]) for m in msgs] == [("/big", ("head_too_large",)), ("/next", ())]


def test_oversized_head_keeps_its_framing_when_the_bound_holds_it() -> None:
    data = (b"POST /x HTTP/1.1\r\nContent-Length: 5\r\n" + b"X-Pad: " + b"p" * 70_000 + b"\r\n\r\nhello"
            b"GET /y HTTP/1.1\r\n\r\n")
    msgs = messages(parse(_segments(data, 1000)))
    assert [(m[0][2], m[1]) for m in msgs] == [("/x", b"hello"), ("/y", b"")]


def test_oversized_response_head_without_length_in_the_kept_part_resyncs() -> None:
    data = (b"HTTP/1.1 200 OK\r\nSet-Cookie: " + b"c" * 100_000 + b"\r\nContent-Length: 2\r\n\r\nok"
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
    msgs = messages(parse(_segments(data, 9000), response=True))
    assert [(m[0][1], "head_too_large" in m[0][4]) for m in msgs] == [(200, True), (404, False)]


def test_endless_trailers_are_bounded() -> None:
    data = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n" + b"X-T: y\r\n" * 20_000
            + b"\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n")
    events, seconds = _timed_parse(_segments(data, 4096), response=True)
    msgs = messages(events)
    assert seconds < 1.0
    assert [(m[0][1], m[1]) for m in msgs] == [(200, b"ok"), (201, b"")]
    assert "head_too_large" in msgs[0][4]


def test_superscript_digits_never_crash_and_are_tagged() -> None:
    """``str.isdigit`` accepts 0xB2/0xB3/0xB9 (latin-1 ²³¹), ``int`` refuses them."""
    for digit in (b"\xb2", b"\xb3", b"\xb9"):
        msgs = messages(parse(b"HTTP/1.1 2" + digit + b"0 OK\r\nContent-Length: 0\r\n\r\n", response=True))
        assert msgs[0][0][1] is None and "bad_status" in msgs[0][0][4]
        msgs = messages(parse(b"HTTP/1.1 200 OK\r\nContent-Length: 1" + digit + b"\r\n\r\nbody", response=True))
        assert msgs[0][0][1] == 200 and "bad_framing" in msgs[0][4]
        msgs = messages(parse(b"POST /a HTTP/1.1\r\nContent-Length: " + digit + b"\r\n\r\nGET /b HTTP/1.1\r\n\r\n"))
        assert msgs[0][0][2] == "/a" and "bad_framing" in msgs[0][4]
        msgs = messages(parse(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + digit + b"\r\nx\r\n0\r\n\r\n",
                              response=True))
        assert "bad_framing" in msgs[0][4]


def test_numbers_are_ascii_only() -> None:
    """Signs, spaces, underscores and non-ASCII digits are not numbers on the wire."""
    for value in (b"+5", b"-5", b"5_0", b"\xb95", b"0x5", b"5 5"):
        msgs = messages(parse(b"POST /a HTTP/1.1\r\nContent-Length: " + value + b"\r\n\r\n"))
        assert "bad_framing" in msgs[0][4], value
    msgs = messages(parse(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1_0\r\n" + b"x" * 16 + b"\r\n0\r\n\r\n",
                          response=True))
    assert "bad_framing" in msgs[0][4]  # not 0x10: "1" then junk, read best effort as one byte


def test_resync_over_line_noise_is_linear() -> None:
    """A forward regular-expression search for a request line backtracked over every candidate
    method: 80 KB of "A " took 5 s."""
    for noise in (b"A " * 40_000, (b"A " * 4000 + b"a a HTTP/1.1\n") * 3 + b"HTTP/1.1\n" * 2000,
                  b"GET " + b"a" * 60_000 + b"\r\n\r\n", (b"X " * 8000 + b"x x HTTP/1.1\r\n") * 4):
        events, seconds = _timed_parse(_segments(noise + b"\r\nGET /found HTTP/1.1\r\nHost: h\r\n\r\n", 1460))
        assert seconds < 1.0, (noise[:20], seconds)
        assert messages(events)[-1][0][2] == "/found"


def test_many_small_messages_in_one_segment_cost_one_scan() -> None:
    data = b"GET /a\n" * 9000  # HTTP/0.9 lines: once a recursion per line, and a 64 KiB scan each
    events, seconds = _timed_parse(data)
    assert seconds < 1.0
    assert len([ev for ev in events if isinstance(ev, RequestHead)]) == 9000


def test_a_head_arriving_one_line_per_segment_is_searched_once() -> None:
    data = b"GET / HTTP/1.1\r\n" + b"X-Line: value\r\n" * 4000 + b"\r\n"
    events, seconds = _timed_parse(_segments(data, 15))
    assert seconds < 1.0
    assert len(messages(events)[0][0][4]) == 4000


WATCHDOG_PROBE = """
import json
from sensor import _native
from sensor.http1 import HttpParser, MessageEnd, RequestHead, Skipped

assert not _native.COMPILED
# Two rules that disagree, as the 64 KiB-head bug had them: START calls this message start
# garbage, RESYNC finds a message start right there. Nothing is consumed, forever.
HttpParser._first_line_is_garbage = lambda self, buf, pos, n: True
parser = HttpParser(is_response=False)
events = parser.feed(b"GET /a HTTP/1.1\\r\\nHost: h\\r\\n", 0.0)
trips = parser.watchdog_trips
del HttpParser._first_line_is_garbage  # the rules agree again
events += parser.feed(b"GET /next HTTP/1.1\\r\\n\\r\\n", 1.0)
print(json.dumps({"trips": trips, "skipped": [e.reason for e in events if isinstance(e, Skipped)],
                  "heads": [[e.target, list(e.tags)] for e in events if isinstance(e, RequestHead)]}))
"""


def test_the_watchdog_stops_a_parser_that_makes_no_progress() -> None:
    """The class behind the 64 KiB-head hang: if two of the state machine's rules ever disagree so
    that nothing is consumed, the step budget ends the message, skips the rest of that feed and
    the parser goes on with the next. Rules are swapped at run time, so this runs pure Python in
    a child process (compiled classes cannot be patched)."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    from sensor import _native, http1

    repo = Path(__file__).resolve().parents[2]
    result = subprocess.run([sys.executable, "-c", WATCHDOG_PROBE], cwd=repo, capture_output=True, text=True,
                            timeout=60, env={**os.environ, _native.PURE_ENV: "1"})
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["trips"] == 1 and report["skipped"] == ["watchdog"]
    assert report["heads"] == [["/next", ["parser_error", "resync"]]] or report["heads"] == [["/next", ["parser_error"]]]
    assert http1.WORK_PER_BYTE >= 3


# -- issue 10: real-capture quirks ----------------------------------------------------------------

def test_lower_case_version_is_accepted_and_tagged() -> None:
    msgs = messages(parse(b"http/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", response=True))
    assert (msgs[0][0][1], msgs[0][1], msgs[0][0][4]) == (200, b"ok", ("bad_version",))
    msgs = messages(parse(b"GET /x http/1.1\r\nHost: h\r\n\r\n"))
    assert msgs[0][0][1:4] == ("GET", "/x", "1.1") and msgs[0][0][5] == ("bad_version",)
    # ... and found by a resync
    msgs = messages(parse(b"\x00garbage\r\nhttp/1.0 404 Nope\r\nContent-Length: 0\r\n\r\n", response=True))
    assert msgs[0][0][1] == 404


def test_header_names_with_spaces_are_tagged() -> None:
    for line in (b"Bad Name: x", b"Host : h", b"X\tTab: y", b"NoColonHere", b"Caf\xe9: latte"):
        msgs = messages(parse(b"GET / HTTP/1.1\r\n" + line + b"\r\nAccept: */*\r\n\r\n"))
        assert "bad_header" in msgs[0][0][5], line
        assert ("Accept", "*/*") in msgs[0][0][4]
    msgs = messages(parse(b"GET / HTTP/1.1\r\nHost : h\r\n\r\n"))
    assert msgs[0][0][4] == (("Host", "h"),)  # kept, name stripped, and still the host
    assert not messages(parse(b"GET / HTTP/1.1\r\nX-Fine_Name.1: v\r\n\r\n"))[0][0][5]


def test_unparsable_chunk_size_is_read_best_effort() -> None:
    """``f,`` is 15 (the leading hex digits), as tshark (strtol) and Zeek read it, tagged."""
    data = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nf,\r\n0123456789abcde\r\n0\r\n\r\n"
    msgs = messages(parse(data, response=True))
    assert msgs[0][1] == b"0123456789abcde" and "bad_framing" in msgs[0][4]
    assert "close_delimited" not in msgs[0][4]


def test_chunk_size_of_2_to_the_64_is_bad_framing() -> None:
    data = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\nabc"
    msgs = messages(parse(data, response=True))
    assert "bad_framing" in msgs[0][4] and msgs[0][1] == b"abc"
    data = b"POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFFF\r\nabcGET /b HTTP/1.1\r\n\r\n"
    msgs = messages(parse(data))
    assert "bad_framing" in msgs[0][4] and msgs[-1][0][2] == "/b"


def test_response_to_an_unknown_request_does_not_swallow_the_next_response() -> None:
    """Response-only capture: a HEAD's answer has a Content-Length and no body; the bytes where
    its body would be are the next status line."""
    data = (b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 4\r\n\r\ngone")
    for chunks in ([data], _segments(data, 7), _segments(data, 38)):
        msgs = messages(parse(chunks, response=True, method=None))
        assert [(m[0][1], m[1]) for m in msgs] == [(200, b""), (200, b"ok"), (200, b""), (404, b"gone")]
        assert not any("truncated_body" in m[4] for m in msgs)


def test_http09_requests_of_any_standard_method() -> None:
    events = parse(b"GET /a\r\nPOST /form\r\n")
    heads = [ev for ev in events if isinstance(ev, RequestHead)]
    assert [(h.method, h.target, h.version, h.tags) for h in heads] == [
        ("GET", "/a", None, ("http09",)), ("POST", "/form", None, ("http09",))]


def test_http09_response_is_the_body_until_close() -> None:
    answered: list = []
    parser = HttpParser(is_response=True, method_for_response=lambda head: answered.append(head) or "GET",
                        http09_answer=lambda: True)
    events = parser.feed(b"<html>\n\t<body>old</body>\n\n</html>\n", 0.0) + parser.feed_eof(1.0)
    msgs = messages(events)
    assert len(msgs) == 1 and msgs[0][0][1] is None and "http09" in msgs[0][0][4]
    assert msgs[0][1] == b"<html>\n\t<body>old</body>\n\n</html>\n" and len(answered) == 1
    # A modern server's answer to a version-less line still has its status line.
    parser = HttpParser(is_response=True, method_for_response=lambda head: "GET", http09_answer=lambda: True)
    events = parser.feed(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n", 0.0)
    assert messages(events)[0][0][1] == 400


# -- properties: framing functions and the parser --------------------------------------------------

from sensor import framing  # noqa: E402
from sensor.http1 import find_request_start, parse_headers  # noqa: E402

TOKEN_ALPHABET = "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
tokens = st.text(alphabet=TOKEN_ALPHABET, min_size=1, max_size=20)
field_values = st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0xFF, exclude_characters="\x7f"),
                       max_size=30)


@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet=st.characters(max_codepoint=0x2000), max_size=25))
def test_ascii_decimal_accepts_exactly_ascii_digit_strings(text: str) -> None:
    import re

    expected = int(text) if re.fullmatch(r"[0-9]{1,18}", text) else -1
    assert framing.ascii_decimal(text) == expected


@settings(max_examples=300, deadline=None)
@given(values=st.lists(st.text(alphabet=st.characters(max_codepoint=0xFF), max_size=12), max_size=4),
       transfer=st.lists(st.sampled_from(["chunked", "gzip", "identity", "", "CHUNKED", "x"]), max_size=3),
       status=st.one_of(st.none(), st.integers(100, 599)), method=st.sampled_from([None, "GET", "HEAD", "CONNECT"]))
def test_framing_is_total_and_lengths_come_from_ascii_digits(values: list[str], transfer: list[str],
                                                              status: int | None, method: str | None) -> None:
    index: dict[str, list[str]] = {}
    if values:
        index["content-length"] = values
    if transfer:
        index["transfer-encoding"] = [", ".join(transfer)]
    length, conflicting, invalid = framing.content_length(index)
    digits = [v.strip(" \t") for value in values for v in value.split(",")]
    if length is not None:
        assert str(length) in digits or (length == 0 and any(d.strip("0") == "" and d for d in digits))
    assert invalid == (bool(values) and any(framing.ascii_decimal(d) < 0 for d in digits))
    for frame in (framing.request_framing("POST", index), framing.response_framing(method, status, index)):
        assert frame.length >= 0
        if frame.kind is framing.BodyKind.LENGTH:
            assert frame.length > 0 and length == frame.length


@settings(max_examples=200, deadline=None)
@given(fields=st.lists(st.tuples(tokens, field_values), max_size=12))
def test_parse_headers_round_trips_well_formed_fields(fields: list[tuple[str, str]]) -> None:
    text = "\r\n".join(f"{name}: {value}" for name, value in fields)
    headers, index, bad = parse_headers(text)
    assert not bad
    assert list(headers) == [(n, v) for n, v in fields]
    for name, value in fields:
        if name.lower() in framing.FRAMING_FIELDS:
            assert value in index[name.lower()]


@settings(max_examples=200, deadline=None)
@given(name=tokens, cut=st.integers(0, 19), junk=st.sampled_from([" ", "\t", "(", "@", "\xe9", "\x00"]))
def test_parse_headers_flags_names_that_are_not_tokens(name: str, cut: int, junk: str) -> None:
    cut %= len(name) + 1
    bad_name = name[:cut] + junk + name[cut:]
    if bad_name[0] in " \t":
        return  # a line starting with white space continues the previous one (obs-fold)
    _, _, bad = parse_headers(f"Accept: */*\r\n{bad_name}: v\r\nHost: h")
    assert bad


def _reference_request_start(buf: bytes, pos: int) -> int:
    """The resync rule by brute force: the first offset whose line is accepted as a request."""
    import re

    line_re = re.compile(rb"([A-Z][A-Za-z0-9_\-]{0,31}) ([^\s][^\r\n]{0,16383}) [Hh][Tt][Tt][Pp]/[01]\.[0-9]\r?\n")
    known = {m.encode() for m in ("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "TRACE", "CONNECT",
                                  "PROPFIND", "PROPPATCH", "MKCOL", "COPY", "MOVE", "LOCK", "UNLOCK", "SEARCH",
                                  "REPORT")}
    for s in range(pos, len(buf)):
        m = line_re.match(buf, s)
        if m is None:
            continue
        method, target = m.group(1), m.group(2)
        if not re.search(rb"[ \t\x0b\x0c]", target) or method in known:
            return s
    return -1


request_soup = st.lists(st.sampled_from([b"GET", b"POST", b"FOO", b"A", b"x", b" ", b"  ", b"\t", b"/p", b"HTTP/1.1",
                                         b"http/1.0", b"HTTP/2.0", b"\r\n", b"\n", b"\r", b"?", b"\x00", b"a b"]),
                        max_size=30).map(b"".join)


@settings(max_examples=400, deadline=None)
@given(data=request_soup, pos=st.integers(0, 10))
def test_find_request_start_matches_the_brute_force_rule(data: bytes, pos: int) -> None:
    pos = min(pos, len(data))
    assert find_request_start(data, pos) == _reference_request_start(data, pos)


@st.composite
def http_requests(draw) -> tuple[bytes, tuple]:
    method = draw(st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE"]))
    target = "/" + draw(st.text(alphabet="abcxyz0123/-_.?=&%", max_size=30))
    fields = draw(st.lists(st.tuples(tokens.filter(lambda n: n.lower() not in framing.FRAMING_FIELDS),
                                     field_values), max_size=6))
    body = draw(st.binary(max_size=300))
    chunked = draw(st.booleans())
    head = [f"{method} {target} HTTP/1.1", "Host: api.test", *(f"{n}: {v}" for n, v in fields)]
    if chunked:
        head.append("Transfer-Encoding: chunked")
        sizes = draw(st.lists(st.integers(1, 64), max_size=8))
        chunks, i = [], 0
        for size in sizes:
            if i >= len(body):
                break
            piece = body[i : i + size]
            chunks.append(b"%x\r\n" % len(piece) + piece + b"\r\n")
            i += size
        encoded = b"".join(chunks) + (b"%x\r\n" % (len(body) - i) + body[i:] + b"\r\n" if i < len(body) else b"")
        payload = encoded + b"0\r\n\r\n"
    else:
        head.append(f"Content-Length: {len(body)}")
        payload = body
    wire = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + payload
    expected = (method, target, (("Host", "api.test"), *fields), body)
    return wire, expected


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(requests=st.lists(http_requests(), min_size=1, max_size=5), cuts=st.lists(st.integers(0, 5000), max_size=10))
def test_serialised_requests_parse_back_under_any_segmentation(requests: list, cuts: list[int]) -> None:
    data = b"".join(wire for wire, _ in requests)
    points = sorted({c % (len(data) + 1) for c in cuts})
    chunks = [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]
    msgs = messages(parse(chunks))
    got = [(m[0][1], m[0][2], tuple(h for h in m[0][4] if h[0].lower() not in ("content-length", "transfer-encoding")),
            m[1]) for m in msgs]
    assert got == [expected for _, expected in requests]
    assert not any(m[4] or m[0][5] for m in msgs)
