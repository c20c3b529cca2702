"""POST /api/v1/ingest: sensor batches into the inventory; /metrics counts what came in."""

from __future__ import annotations

import gzip

import orjson
import pytest
from sqlalchemy import Engine

from sensor.plumbing.wire import encode_batch
from tests.conftest import database_refusing_status
from tests.inventory_api.conftest import SAMPLE_PCAPS, TestClient, auth


@pytest.fixture(scope="module")
def records() -> list[dict]:
    from sensor.engine import iter_exchanges

    return [ex.to_dict() for path in SAMPLE_PCAPS for ex in iter_exchanges(str(path))]


def _post(client: TestClient, key: str | None, body: bytes, encoding: str | None = "zstd") -> object:
    headers = {"Content-Type": "application/x-ndjson"}
    if encoding:
        headers["Content-Encoding"] = encoding
    if key:
        headers.update(auth(key))
    return client.post("/api/v1/ingest", content=body, headers=headers)


def test_only_sensor_and_admin_keys_may_ingest(client: TestClient, keys: dict[str, str]) -> None:
    body = encode_batch([b'{"method": "GET", "target": "/x", "uid": "perm-1"}'])
    assert _post(client, None, body).status_code == 401
    assert _post(client, keys["viewer"], body).status_code == 403
    assert _post(client, keys["analyst"], body).status_code == 403


def test_sensor_batches_land_in_the_inventory_once(
    client: TestClient, keys: dict[str, str], records: list[dict]
) -> None:
    lines = [orjson.dumps(r) for r in records]
    first = _post(client, keys["sensor"], encode_batch(lines[:60]))
    assert first.status_code == 200, first.text
    assert first.json()["received"] == 60 and first.json()["new"] + first.json()["skipped"] == 60
    # The same batch again (an answer lost on the way back): nothing counts twice.
    again = _post(client, keys["sensor"], encode_batch(lines[:60]))
    assert again.json()["duplicates"] == 60 and again.json()["new"] == 0
    # gzip and uncompressed bodies are accepted too.
    rest = b"\n".join(lines[60:])
    assert _post(client, keys["sensor"], gzip.compress(rest), "gzip").status_code == 200
    listing = client.get("/api/v1/endpoints?limit=100", headers=auth(keys["admin"])).json()
    hits = sum(e["hits"] for e in listing["items"])
    assert hits == sum(1 for r in records if r.get("method"))
    metrics = client.get("/metrics").text
    assert f"apicensus_inventory_ingest_exchanges_received_total {float(len(records) + 60)}" in metrics
    assert "apicensus_inventory_ingest_exchanges_duplicate_total 60.0" in metrics
    assert "# TYPE apicensus_inventory_inventory_endpoints_count gauge" in metrics


@pytest.mark.parametrize(
    ("body", "encoding", "status"),
    [
        (b"", None, 400),
        (b"\x28\xb5\x2f\xfd not zstd", "zstd", 400),
        (b"this is not json\n", None, 400),
        (b'{"method": "GET"}', "br", 415),
    ],
)
def test_bad_batches_get_a_clear_error(
    client: TestClient, keys: dict[str, str], body: bytes, encoding: str | None, status: int
) -> None:
    response = _post(client, keys["sensor"], body, encoding)
    assert response.status_code == status
    assert response.json()["detail"]


def test_decompression_bomb_is_refused(client: TestClient, keys: dict[str, str]) -> None:
    import sensor.plumbing.wire

    bomb = encode_batch([b'{"method": "GET", "target": "/' + b"a" * 300_000 + b'"}'])
    original = sensor.plumbing.wire.MAX_BATCH_BYTES
    sensor.plumbing.wire.MAX_BATCH_BYTES = 100_000
    try:
        assert _post(client, keys["sensor"], bomb).status_code == 413
    finally:
        sensor.plumbing.wire.MAX_BATCH_BYTES = original


def _count(client: TestClient, name: str) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(f"apicensus_inventory_{name}_total "):
            return float(line.split()[1])
    return 0.0


def test_a_truncated_zstd_batch_is_400_and_takes_nothing(client: TestClient, keys: dict[str, str]) -> None:
    lines = [orjson.dumps({"method": "GET", "target": f"/truncated/{i}", "uid": f"trunc-{i}", "status": 200,
                           "host": "trunc.example"}) for i in range(2_000)]
    whole = encode_batch(lines)
    rejected = _count(client, "ingest_batches_rejected")
    response = _post(client, keys["sensor"], whole[: len(whole) // 2])
    assert response.status_code == 400 and "truncated" in response.json()["detail"]
    assert _count(client, "ingest_batches_rejected") == rejected + 1
    listing = client.get("/api/v1/endpoints", params={"service": "trunc.example"}, headers=auth(keys["admin"]))
    assert listing.json()["items"] == []
    # The same batch whole is taken whole.
    assert _post(client, keys["sensor"], whole).json()["new"] == 2_000


def test_too_many_records_is_413_fast(client: TestClient, keys: dict[str, str]) -> None:
    import time

    import zstandard

    body = zstandard.ZstdCompressor(level=19).compress(b'{"method":"GET"}\n' * 5_000_000)
    started = time.monotonic()
    response = _post(client, keys["sensor"], body)
    assert response.status_code == 413 and "50000 records" in response.json()["detail"]
    assert time.monotonic() - started < 10


def test_an_out_of_range_status_is_read_as_unknown_not_503(client: TestClient, keys: dict[str, str]) -> None:
    """status 2**31 fits no INTEGER column: the record is kept with its status unknown (tagged as an
    anomaly, as for any unusable field), the rest of the batch with it."""
    lines = [orjson.dumps({"method": "GET", "target": "/range/a", "uid": "range-1", "status": 2**31,
                           "host": "range.example"}),
             orjson.dumps({"method": "GET", "target": "/range/b", "uid": "range-2", "status": 200,
                           "host": "range.example"})]
    response = _post(client, keys["sensor"], encode_batch(lines))
    assert response.status_code == 200, response.text
    assert response.json()["new"] == 2


def test_a_value_the_database_refuses_is_400_not_503(
    client: TestClient, keys: dict[str, str], engine: Engine
) -> None:
    """A data error (SQLSTATE class 22, raised here by a real PostgreSQL trigger standing for any
    value the database cannot hold) rejects the batch whole with 400: retrying could not help."""
    with database_refusing_status(engine, 599):
        lines = [orjson.dumps({"method": "GET", "target": "/refused/a", "uid": "refused-1", "status": 599,
                               "host": "refused.example"}),
                 orjson.dumps({"method": "GET", "target": "/refused/b", "uid": "refused-2", "status": 200,
                               "host": "refused.example"})]
        rejected = _count(client, "ingest_batches_rejected")
        response = _post(client, keys["sensor"], encode_batch(lines))
        assert response.status_code == 400, response.text
        assert "status out of range" in response.json()["detail"]
        assert _count(client, "ingest_batches_rejected") == rejected + 1
        listing = client.get("/api/v1/endpoints", params={"service": "refused.example"}, headers=auth(keys["admin"]))
        assert listing.json()["items"] == []
    # Nothing half-taken: the same batch now lands whole.
    assert _post(client, keys["sensor"], encode_batch(lines)).json()["new"] == 2
