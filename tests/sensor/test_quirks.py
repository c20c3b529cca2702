"""Issue 10, "the sensor on real captures": one crafted capture per oddity (sample_pcaps/quirks.py)."""

from __future__ import annotations

import importlib.util

import pytest

from sensor.engine import Sensor, iter_exchanges
from sensor.records import Exchange
from tests.sensor.conftest import QUIRK_CAPTURES, SAMPLES


def _generator():
    spec = importlib.util.spec_from_file_location("quirks", SAMPLES / "quirks.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


QUIRKS = _generator()


def run(name: str) -> tuple[list[Exchange], dict[str, int]]:
    holder: list[Sensor] = []
    exchanges = list(iter_exchanges(QUIRK_CAPTURES / name, sensor_out=holder))
    return exchanges, holder[0].stats()


@pytest.mark.parametrize("name", sorted(QUIRKS.CAPTURES))
def test_committed_capture_is_what_the_generator_writes(name: str) -> None:
    assert (QUIRK_CAPTURES / name).read_bytes() == QUIRKS.CAPTURES[name]().pcap()


def test_tcp_fast_open_data_in_the_syn_is_kept() -> None:
    (ex,), _ = run("quirks-tcp-fast-open.pcap")
    assert (ex.method, ex.target, ex.status) == ("GET", "/fast-open", 200)  # was "ET"
    assert ex.tags == ()


def test_http09_answers_are_paired_and_a_09_post_is_recorded() -> None:
    exchanges, _ = run("quirks-http09.pcap")
    got = [(e.method, e.target, e.version, e.response_version, e.response_body.data) for e in exchanges]
    assert got == [
        ("GET", "/old.html", None, "0.9", b"<html><body>simple answer</body></html>\n"),
        ("POST", "/form", None, "0.9", b"<html><body>simple answer</body></html>\n"),
        ("GET", "/reordered.html", None, "0.9", b"<html>answered first in the capture</html>\n"),
    ]
    for e in exchanges:
        assert e.status is None and "http09" in e.tags
        assert "missing_response" not in e.tags and "missing_request" not in e.tags


def test_lower_case_status_line_is_accepted_and_tagged() -> None:
    (ex,), _ = run("quirks-lower-case-version.pcap")
    assert (ex.status, ex.response_body.data, ex.tags) == (200, b'{"ok":true}', ("bad_version",))


def test_early_answer_before_the_request_head_is_complete_is_one_exchange() -> None:
    (ex,), _ = run("quirks-early-answer.pcap")
    assert ex.method == "GET" and ex.target.startswith("/too-long?q=") and ex.status == 400
    assert ("User-Agent", "slow") in ex.request_headers
    assert "missing_request" not in ex.tags and "missing_response" not in ex.tags


def test_header_names_with_spaces_are_tagged() -> None:
    (ex,), _ = run("quirks-header-name-spaces.pcap")
    assert ex.status == 200 and "bad_header" in ex.tags
    assert ("X-Api-Key", "k") in ex.request_headers and ("Bad Name", "x") in ex.request_headers


def test_request_with_a_lost_segment_stays_paired_with_fewer_than_three_segments_past_the_hole() -> None:
    exchanges, stats = run("quirks-lost-client-segment.pcap")
    assert [(e.method, e.target, e.status) for e in exchanges] == [("POST", "/orders", 201), ("GET", "/orders/1", 200)]
    assert exchanges[0].tags == ("gap",) and exchanges[1].tags == ()
    assert stats["gap_bytes"] == 150


def test_chunk_sizes_read_best_effort_and_2_to_the_64_is_bad_framing() -> None:
    exchanges, _ = run("quirks-chunk-sizes.pcap")
    best_effort, huge = exchanges
    assert best_effort.response_body.data == b"0123456789abcde" and best_effort.tags == ("bad_framing",)
    assert huge.target == "/huge-chunk" and "bad_framing" in huge.tags


def test_head_answer_in_a_response_only_capture_does_not_swallow_the_next() -> None:
    exchanges, _ = run("quirks-head-response-only.pcap")
    assert [(e.status, e.response_body.length) for e in exchanges] == [(200, 0), (200, 12)]
    assert all("missing_request" in e.tags and "truncated_body" not in e.tags for e in exchanges)


@pytest.mark.parametrize("name", ["quirks-cisco-hdlc.pcap", "quirks-nflog.pcap"])
def test_cisco_hdlc_and_nflog_link_types(name: str) -> None:
    (ex,), stats = run(name)
    assert (ex.method, ex.target, ex.status, ex.tags) == ("GET", "/link-layer", 200, ())
    assert not any(k.startswith("decode_unsupported") for k in stats)


def test_unknown_link_type_is_counted_by_type() -> None:
    exchanges, stats = run("quirks-unknown-linktype.pcap")
    assert exchanges == []
    assert stats["decode_unsupported_linktype_147"] == stats["packets"] == 8
