"""Shipping: batch format, redaction, the bounded spool, and the shipper against real peers
(an HTTP server that can be switched off, the machine's NATS JetStream)."""

from __future__ import annotations

import asyncio
import gzip
import socket
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import orjson
import pytest

from sensor.plumbing.wire import BatchFormatError, decode_batch, encode_batch
from sensor.ship import HttpTransport, NatsTransport, Redactor, Shipper, Spool


def _record(i: int) -> dict:
    return {
        "uid": f"u{i}",
        "method": "POST",
        "target": f"/users/{i}?email=a{i}@example.com",
        "request_headers": [["Host", "api.example"], ["Authorization", "Bearer s3cr3t"], ["Cookie", "sid=1"]],
        "response_headers": [["Content-Type", "application/json"], ["Set-Cookie", "sid=2"]],
        "request_body": {"data": '{"ssn": "123-45-6789"}', "encoding": "utf-8", "length": 22},
        "response_body": {"data": "e30=", "encoding": "base64", "length": 2},
    }


def test_batch_round_trip_and_formats() -> None:
    records = [_record(i) for i in range(50)]
    payload = encode_batch(orjson.dumps(r) for r in records)
    assert payload[:4] == b"\x28\xb5\x2f\xfd"
    assert decode_batch(payload) == records
    plain = b"\n".join(orjson.dumps(r) for r in records)
    assert decode_batch(gzip.compress(plain)) == records
    assert decode_batch(plain + b"\nnot json\n[1]\n") == records  # stray lines skipped


@pytest.mark.parametrize("payload", [b"\x28\xb5\x2f\xfd garbage", b"\x1f\x8b\x08 nope", b"hello\nworld"])
def test_unreadable_batches_raise_our_error(payload: bytes) -> None:
    with pytest.raises(BatchFormatError):
        decode_batch(payload)


def test_decompression_bomb_is_refused() -> None:
    bomb = encode_batch([b'{"a": "' + b"x" * 5_000_000 + b'"}'])
    assert len(bomb) < 10_000
    with pytest.raises(BatchFormatError, match="larger than"):
        decode_batch(bomb, limit=1_000_000)


def test_redaction_drops_bodies_and_header_values_outside_the_allow_list() -> None:
    redact = Redactor(redact_bodies=True, keep_headers=frozenset({"host", "content-type"}))
    out = redact(_record(7))
    assert out["target"] == "/users/7?email=a7@example.com"  # paths and queries stay for templating/PII
    assert out["request_body"]["data"] == "" and out["request_body"]["length"] == 22
    assert out["request_body"]["redacted"] is True
    assert out["request_headers"] == [["Host", "api.example"], ["Authorization", "Bearer <redacted>"],
                                      ["Cookie", "<redacted>"]]
    assert out["response_headers"][0] == ["Content-Type", "application/json"]
    assert out["response_headers"][1] == ["Set-Cookie", "<redacted>"]
    assert b"s3cr3t" not in orjson.dumps(out) and b"6789" not in orjson.dumps(out)
    assert not Redactor().active


def test_spool_is_bounded_drops_oldest_and_survives_restarts(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=3000)
    for i in range(10):
        spool.push(f"b{i}", 10 + i, bytes([i]) * 1000)
    assert len(spool) == 3 and spool.bytes <= 3000
    assert spool.dropped_batches == 7 and spool.dropped_exchanges == sum(10 + i for i in range(7))
    (tmp_path / "000000000099-1-x.tmp").write_bytes(b"half written")  # a crash mid-write
    again = Spool(tmp_path, max_bytes=3000)
    assert [again.peek()[0].batch_id] == ["b7"]
    assert again.exchanges == 17 + 18 + 19
    assert not list(tmp_path.glob("*.tmp"))
    order = []
    while (item := again.peek()) is not None:
        order.append(item[0].batch_id)
        assert item[1] == bytes([int(item[0].batch_id[1:])]) * 1000
        again.remove(item[0])
    assert order == ["b7", "b8", "b9"] and again.bytes == 0
    again.push("b10", 1, b"z")  # sequence numbers continue after the old ones
    assert again.peek()[0].path.name.startswith("000000000011-")


def test_spool_keeps_batches_in_the_order_they_were_made(tmp_path: Path) -> None:
    Spool(tmp_path, max_bytes=10_000).push("old", 1, b"o")  # left by an earlier run
    spool = Spool(tmp_path, max_bytes=10_000)
    for order in (3, 4, 1, 5, 2):  # e.g. a failed send of batch 1 after 3 and 4 were spooled
        spool.push(f"b{order}", 1, b"x", order=order)
    names = []
    while (item := spool.peek()) is not None:
        names.append(item[0].batch_id)
        spool.remove(item[0])
    assert names == ["old", "b1", "b2", "b3", "b4", "b5"]


class _Ingest(BaseHTTPRequestHandler):
    received: list[tuple[str, bytes]]
    status = 200

    def do_POST(self) -> None:  # noqa: N802 - http.server API
        body = self.rfile.read(int(self.headers["Content-Length"]))
        code = type(self).status
        if code == 200:
            if self.headers.get("Authorization") != "Bearer k1":
                code = 401
            else:
                type(self).received.append((self.headers["Apicensus-Batch"], body))
        self.send_response(code)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: object) -> None:
        pass


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(predicate, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def test_http_shipper_spools_while_the_service_is_away_and_replays_in_order(tmp_path: Path) -> None:
    handler = type("Ingest", (_Ingest,), {"received": [], "status": 200})
    port = _free_port()
    server: ThreadingHTTPServer | None = None
    url = f"http://127.0.0.1:{port}/api/v1/ingest"
    spool = Spool(tmp_path / "spool", max_bytes=50_000_000)
    shipper = Shipper(HttpTransport(url, "k1", timeout=2.0), spool, sensor_id="t", batch_size=10,
                      batch_wait=0.2, retry_max=0.5)
    # Service not started yet: everything goes to the spool.
    for i in range(35):
        shipper.add(orjson.dumps(_record(i)))
    _wait(lambda: len(spool) >= 3)
    assert shipper.stats.destination_up is False
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        for i in range(35, 60):
            shipper.add(orjson.dumps(_record(i)))
        left = shipper.close(timeout=20)
        assert left == 0
        uids = [r["uid"] for _, body in handler.received for r in decode_batch(body)]
        assert sorted(uids, key=lambda u: int(u[1:])) == [f"u{i}" for i in range(60)]
        assert uids == [f"u{i}" for i in range(60)]  # oldest first: spool before newer batches
        assert shipper.stats.destination_up is True and shipper.stats.exchanges_sent == 60
    finally:
        server.shutdown()


def test_http_shipper_keeps_batches_on_a_wrong_key_and_drops_rejected_ones(tmp_path: Path) -> None:
    handler = type("Ingest", (_Ingest,), {"received": [], "status": 200})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/api/v1/ingest"
    try:
        spool = Spool(tmp_path / "a", max_bytes=10_000_000)
        shipper = Shipper(HttpTransport(url, "wrong"), spool, sensor_id="t", batch_size=5, retry_max=0.2)
        for i in range(10):
            shipper.add(orjson.dumps(_record(i)))
        assert shipper.close(timeout=1.0) == 2  # 401: kept for when the key is fixed
        assert not handler.received
        shipper = Shipper(HttpTransport(url, "k1"), spool, sensor_id="t", batch_size=5)
        assert shipper.close(timeout=10.0) == 0  # replayed with the right key
        assert len(handler.received) == 2
        handler.status = 413
        spool2 = Spool(tmp_path / "b", max_bytes=10_000_000)
        shipper = Shipper(HttpTransport(url, "k1"), spool2, sensor_id="t", batch_size=5)
        for i in range(5):
            shipper.add(orjson.dumps(_record(i)))
        assert shipper.close(timeout=10.0) == 0
        assert shipper.stats.batches_rejected == 1 and shipper.stats.exchanges_rejected == 5
    finally:
        server.shutdown()


def _nats_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 4222), timeout=1):
            return True
    except OSError:
        return False


@pytest.mark.skipif(not _nats_up(), reason="NATS with JetStream is not running on 127.0.0.1:4222 (.ci/run starts it)")
def test_nats_transport_publishes_to_jetstream_and_dedupes_resends() -> None:
    stream = f"t{uuid.uuid4().hex[:10]}"
    transport = NatsTransport("nats://127.0.0.1:4222", stream)
    try:
        payload = encode_batch([orjson.dumps(_record(1))])
        transport.send("s.run.1", 1, payload)
        transport.send("s.run.1", 1, payload)  # a re-send after a lost ack: JetStream drops it
        transport.send("s.run.2", 1, payload)

        async def count() -> int:
            import nats

            nc = await nats.connect("nats://127.0.0.1:4222")
            try:
                info = await nc.jetstream().stream_info(stream)
                await nc.jetstream().delete_stream(stream)
                return int(info.state.messages)
            finally:
                await nc.close()

        assert asyncio.run(count()) == 2
    finally:
        transport.close()


def test_nats_transport_reports_an_unreachable_server() -> None:
    from sensor.ship import TransportError

    transport = NatsTransport(f"nats://127.0.0.1:{_free_port()}", "x", timeout=1.0)
    try:
        with pytest.raises(TransportError):
            transport.send("b", 1, b"x")
    finally:
        transport.close()


def test_metrics_exposition_with_per_worker_labels() -> None:
    from sensor.plumbing.obs import metrics_text

    text = metrics_text("apicensus_sensor", lambda: {
        "packets": 10, "spool_batches": 2, "destination_up": True, "note": "ignored",
        "per_worker": [{"packets": 6, "kernel_drops": 0}, {"packets": 4, "kernel_drops": 1}],
    }).decode()
    assert "# TYPE apicensus_sensor_packets_total counter" in text and "apicensus_sensor_packets_total 10.0" in text
    assert "# TYPE apicensus_sensor_spool_batches gauge" in text
    assert "apicensus_sensor_destination_up 1.0" in text and "note" not in text
    assert 'apicensus_sensor_worker_packets_total{worker="0"} 6.0' in text
    assert 'apicensus_sensor_worker_kernel_drops_total{worker="1"} 1.0' in text


def test_a_truncated_batch_is_refused_whole() -> None:
    """A zstd frame or gzip stream that does not end cleanly is an error, never half a batch."""
    lines = [orjson.dumps({"uid": f"t{i}", "target": f"/t/{i}", "pad": "x" * (i % 97)}) for i in range(2_000)]
    zstd_batch = encode_batch(lines)
    gzip_batch = gzip.compress(b"\n".join(lines) + b"\n")
    for whole in (zstd_batch, gzip_batch):
        assert len(decode_batch(whole)) == 2_000
        assert len(decode_batch(whole + whole)) == 4_000  # concatenated frames / members are one stream
        for cut in (len(whole) // 2, len(whole) - 1):
            with pytest.raises(BatchFormatError, match="truncated"):
                decode_batch(whole[:cut])


def test_record_count_and_size_are_bounded_while_streaming() -> None:
    import time
    import tracemalloc

    import zstandard

    from sensor.plumbing.wire import BatchTooLarge

    tiny = zstandard.ZstdCompressor(level=19).compress(b"{}\n" * 5_000_000)  # ~1 KB, 5 M records
    bomb = gzip.compress(b"a" * 300_000_000, 1)
    started = time.monotonic()
    tracemalloc.start()
    try:
        with pytest.raises(BatchTooLarge, match="50000 records"):
            decode_batch(tiny)
        with pytest.raises(BatchTooLarge, match="bytes decompressed"):
            decode_batch(bomb)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 200_000_000, peak  # the 64 MiB bound plus one step, not the 300 MB
    assert time.monotonic() - started < 10
    assert len(decode_batch(b"{}\n" * 10, max_records=10)) == 10
    with pytest.raises(BatchTooLarge):
        decode_batch(b"{}\n" * 11, max_records=10)
