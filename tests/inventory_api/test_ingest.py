"""POST /api/v1/ingest: sensor batches into the inventory; /metrics counts what came in."""

from __future__ import annotations

import gzip

import orjson
import pytest

from sensor.plumbing.wire import encode_batch
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
