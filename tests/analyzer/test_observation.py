"""The typed observation: built once per record, validated, versioned; the in-process path
(from_exchange) and the JSON path (from_record) give the same observation."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analyzer import observation
from analyzer.observation import (
    SCHEMA_VERSION,
    Observation,
    ObservationError,
    client_ip,
    from_exchange,
    from_record,
    header_value,
    service_name,
    split_target,
)
from tests.conftest import make_exchange

REPO = Path(__file__).resolve().parents[2]


def test_a_record_becomes_a_typed_frozen_observation() -> None:
    record = make_exchange(target="/a?b=1", request_body='{"x": 1}', response_body=b"\xff\x00binary")
    obs = from_record(record)
    assert isinstance(obs, Observation)
    assert obs.uid == record["uid"] and obs.method == "GET" and obs.status == 200
    assert obs.request_headers[0] == ("Host", "api.example.com")
    assert obs.request_body.data == b'{"x": 1}'
    assert obs.response_body.data == b"\xff\x00binary"  # base64 in the record, bytes here
    assert obs.anomalies == ()
    with pytest.raises(AttributeError):
        obs.status = 500  # type: ignore[misc]


def test_an_unknown_schema_is_refused_with_a_clear_error() -> None:
    for schema in (SCHEMA_VERSION + 1, 0, "1", True, None):
        record = make_exchange() | {"schema": schema}
        with pytest.raises(ObservationError, match="unknown exchange record schema"):
            from_record(record)
    assert from_record({k: v for k, v in make_exchange().items() if k != "schema"}).schema == 1
    with pytest.raises(ObservationError):
        from_record(["not", "a", "record"])  # type: ignore[arg-type]


def test_hand_made_fields_of_the_wrong_type_read_as_unknown_and_are_named() -> None:
    record = make_exchange(target="/types")
    record.update(status="200", ts="yesterday", client=5, request_headers="nope", response_headers=[["x"]])
    record["request_body"] = {"data": "!!!not base64", "b64": True}
    obs = from_record(record)
    assert (obs.status, obs.client, obs.request_headers, obs.response_headers) == (None, None, (), ())
    assert obs.ts == record["response_ts"]  # the request time is unusable: the response's is known
    assert obs.request_body.data == b""
    assert set(obs.anomalies) == {"status", "ts", "client", "request_headers", "response_headers", "request_body"}


def test_a_uid_less_record_gets_a_stable_content_uid() -> None:
    record = make_exchange()
    del record["uid"]
    assert from_record(record).uid == from_record(dict(record)).uid
    assert from_record(record).uid.startswith("h:")


def test_a_schema_1_record_is_upgraded_to_schema_2_http1() -> None:
    record = make_exchange()
    assert record["schema"] == 1
    obs = from_record(record)
    assert (obs.protocol, obs.stream_id, obs.proto, obs.schema) == ("http/1.1", None, None, 1)
    assert obs.method == "GET" and obs.anomalies == ()
    assert "protocol" not in record  # the caller's record is not changed
    assert observation.UPGRADES[1] is not None and SCHEMA_VERSION == 2


def test_a_schema_2_record_keeps_its_protocol_fields_and_bad_ones_are_named() -> None:
    record = make_exchange(target="/pkg.Greeter/Hello") | {
        "schema": 2, "protocol": "grpc", "stream_id": 3, "proto": {"service": "pkg.Greeter", "grpc_status": 0}}
    obs = from_record(record)
    assert (obs.protocol, obs.stream_id, obs.schema) == ("grpc", 3, 2)
    assert obs.proto == {"service": "pkg.Greeter", "grpc_status": 0}
    bad = from_record(record | {"protocol": "carrier-pigeon", "stream_id": "3", "proto": [1]})
    assert (bad.protocol, bad.stream_id, bad.proto) == ("unknown", None, None)
    assert set(bad.anomalies) == {"protocol", "stream_id", "proto"}
    with pytest.raises(ObservationError, match="reads schema 1 to 2"):
        from_record(record | {"schema": 3})


def test_the_sensors_schema_2_records_read_back_as_they_were_built() -> None:
    from sensor.records import Exchange

    ex = Exchange("C1.h1", 1.0, "10.0.0.1:5000", "10.0.0.2:50051", "POST", "h", "/a.B/C", "2", 200,
                  protocol="grpc", stream_id=1, proto={"grpc_status": 5})
    assert from_record(ex.to_dict()) == from_exchange(ex)


def _golden_exchanges() -> list[Any]:
    from sensor.engine import iter_exchanges

    out = []
    for pcap in sorted((REPO / "sample_pcaps").glob("*.pcap")) + sorted((REPO / "sample_pcaps/corpus").glob("*.pcap*")):
        with pcap.open("rb") as fh, contextlib.suppress(Exception):  # damaged samples: what was read
            for exchange in iter_exchanges(fh):
                out.append(exchange)
    return out


def test_the_in_process_path_gives_what_the_json_path_gives() -> None:
    exchanges = _golden_exchanges()
    assert len(exchanges) > 300
    for exchange in exchanges:
        via_json = from_record(orjson.loads(orjson.dumps(exchange.to_dict())))
        direct = from_exchange(exchange)
        assert direct.request_body.data == via_json.request_body.data
        assert direct.response_body.data == via_json.response_body.data
        assert direct == via_json, exchange.uid


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["uid", "ts", "method", "target", "host", "client", "server", "status", "request_headers",
                         "response_headers", "request_body", "response_body", "tags", "vlan", "trans_depth"]),
        st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
                     lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
                     max_leaves=8),
    )
)
def test_any_json_object_reads_or_is_refused_never_crashes(record: dict[str, Any]) -> None:
    obs = from_record(record)
    assert isinstance(obs.uid, str) and obs.uid
    assert obs.method is None or isinstance(obs.method, str)
    assert all(type(n) is str and type(v) is str for n, v in obs.request_headers)
    assert obs.ts >= 0.0


def test_one_copy_of_each_helper() -> None:
    assert service_name("API.Example.com:80", "192.0.2.1:80") == "api.example.com"
    assert service_name(None, None) == "unknown"
    assert split_target("http://h/a/b?x=1#f") == ("/a/b", "x=1")
    assert header_value((("Content-Type", "a/b"), ("content-type", "c/d")), "content-type") == "a/b"
    assert client_ip("[2001:db8::1]:443") == "2001:db8::1" and client_ip("10.0.0.1:5") == "10.0.0.1"
