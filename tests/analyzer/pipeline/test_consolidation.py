"""Issue 10, classes 7, 9 and 11 through the whole pipeline, on a small real capture.

The capture (written here as a pcap, read back by the sensor in-process) holds a low-traffic
service whose ids are random 10-character tokens, a constant one-value segment, bare query
values and malformed request lines. It is analysed

* once as a file (``analyze``): it ends consolidated, and one more full fold changes nothing;
* as sensor batches through real NATS (the sensor CLI shipping to 127.0.0.1:4222, a stream
  analyzer consuming it) and as sensor batches through HTTP ingest (a real ``apicensus serve``):
  the same endpoints with the same hit counts as the file.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import Engine

from analyzer.db import crud
from analyzer.db.session import make_engine, run_migrations, session_scope
from analyzer.db.settings import AnalyzerSettings
from analyzer.pipeline import analyze
from analyzer.pipeline.store import store_consolidation
from analyzer.templating import Templater
from devtools.synth import PcapWriter, TcpFlow

SMALL = "opts.small.example"
BIG = "shop.example"
ALPHABET = "abcdefghijklmnopqrstuvwxyz"
GOOGLE_KEY = "AIzaSyD3hsuGJpR5Y-ZSqmrEUpB8vJ6z1yKq_0U"


def _token(rng: random.Random) -> str:
    """A random 10-character id of a random-string generator: some read as words
    (``c5uhsrmmtw``, ``dwtgmlquca``), some as codes or tokens (``wqbigv4223``, ``8a23503sup``)."""
    return "".join(rng.choices(ALPHABET + "0123456789", k=10))


def _requests(seed: int = 10, small_seed: int = 12) -> list[tuple[str, str, str, int, dict[str, Any] | None]]:
    """(method, host, target, status, JSON response) of the capture, in capture order.

    The low-traffic service (its own order from ``small_seed``) is spread evenly through the
    rest. With seed 12 its ids arrive after the templater's last scheduled fold: without the
    end-of-analyze consolidation they are left as seven endpoints.
    """
    srng = random.Random(small_seed)
    small: list[tuple[str, str, str, int, dict[str, Any] | None]] = [
        ("POST", SMALL, f"/api/optionsrequest/{_token(srng)}", 200, {"status": "ok", "options": [1, 2]})
        for _ in range(10)
    ]
    small += [("GET", SMALL, "/api/config", 200, {"version": "2.1"})] * 6
    srng.shuffle(small)
    rng = random.Random(seed)
    reqs: list[tuple[str, str, str, int, dict[str, Any] | None]] = []
    for i in range(40):
        reqs.append(("GET", BIG, f"/v1/orders/{rng.randint(10_000, 99_999)}", 200, {"id": i, "total": 9.5}))
        if i % 4 == 0:
            reqs.append(("GET", BIG, "/generate_204", 204, None))  # one value, many requests
        if i % 5 == 0:
            reqs.append(("GET", BIG, f"/v1/pixel?{rng.randint(10**13, 10**14)}", 200, {"ok": True}))
        if i % 10 == 0:
            reqs.append(("GET", BIG, f"/maps/api/js?{GOOGLE_KEY}", 200, {"ok": True}))
    reqs.append(("GET", "127.0.0.1", "/uri afterspace", 400, None))  # malformed request lines
    reqs.append(("GET", "127.0.0.1", "garbage\x01target", 400, None))
    rng.shuffle(reqs)
    for k, item in enumerate(small):
        reqs.insert(k * (len(reqs) + 1) // len(small), item)
    return reqs


def write_capture(path: Path, seed: int = 10) -> int:
    """The capture as a pcap: one TCP connection per exchange. Returns the exchange count."""
    reqs = _requests(seed)
    ts = 1_700_000_000.0
    with PcapWriter(str(path)) as pcap:
        for n, (method, host, target, status, body) in enumerate(reqs):
            flow = TcpFlow(("10.1.0.7", 40000 + n), ("192.0.2.20", 80), client_isn=1000 + n, server_isn=9000 + n)
            payload = orjson.dumps(body) if body is not None else b""
            request = f"{method} {target} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: t/1\r\n".encode("latin-1")
            if method == "POST":
                request += b"Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
            else:
                request += b"\r\n"
            reason = {200: "OK", 204: "No Content", 400: "Bad Request"}[status]
            response = f"HTTP/1.1 {status} {reason}\r\nContent-Length: {len(payload)}\r\n".encode()
            if payload:
                response += b"Content-Type: application/json\r\n"
            response += b"\r\n" + payload
            frames = [flow.syn(), flow.syn_ack(), flow.ack(True)]
            frames.append(flow.data(True, 0, request, psh=True))
            flow.advance(True, len(request))
            frames.append(flow.data(False, 0, response, psh=True))
            flow.advance(False, len(response))
            frames += [flow.fin(True), flow.fin(False), flow.ack(True)]
            for k, frame in enumerate(frames):
                pcap.write(ts + n * 0.5 + k * 0.001, frame)
    return len(reqs)


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("small") / "small.pcap"
    write_capture(path)
    return path


def _file_analyze(capture: Path, url: str) -> Engine:
    engine = make_engine(url)
    run_migrations(engine)
    errors: list[str] = []
    analyze([str(capture)], engine=engine, settings=AnalyzerSettings(database_url=url, pii_enabled=False),
            on_error=errors.append)
    assert not errors
    return engine


def _export(engine: Engine) -> dict[str, Any]:
    with session_scope(engine) as session:
        return crud.export_inventory(session=session)


def _endpoints(doc: dict[str, Any]) -> list[tuple[str, str, str, int]]:
    return sorted((e["host"], e["method"], e["path_template"], e["hits"]) for e in doc["endpoints"])


@pytest.fixture(scope="module")
def file_inventory(capture: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    url = f"sqlite:///{tmp_path_factory.mktemp('file') / 'file.db'}"
    engine = _file_analyze(capture, url)
    doc = _export(engine)
    doc["_url"] = url
    engine.dispose()
    return doc


# -- class 7: one analyze ends consolidated -------------------------------------------------------


def test_one_analyze_of_a_small_capture_folds_the_low_traffic_service(file_inventory: dict[str, Any]) -> None:
    small = [e for e in _endpoints(file_inventory) if e[0] == SMALL]
    assert small == [
        (SMALL, "GET", "/api/config", 6),
        (SMALL, "POST", "/api/optionsrequest/{optionsrequestName}", 10),
    ]
    big = {e[2]: e[3] for e in _endpoints(file_inventory) if e[0] == BIG}
    assert big["/v1/orders/{orderId}"] == 40
    assert big["/generate_204"] == 10  # one value seen many times stays literal


def test_one_more_fold_after_analyze_changes_nothing(file_inventory: dict[str, Any]) -> None:
    engine = make_engine(file_inventory["_url"])
    try:
        with session_scope(engine) as session:
            templater = Templater.from_state(crud.load_templater_state(session=session))
        for hs in templater._hosts.values():  # internal: force a full fold of every host
            hs.pending, hs.full_obs = 1, 0
        with session_scope(engine) as session:
            merged, _ = store_consolidation(session, templater)
        assert merged == 0
        again = _export(engine)
        assert _endpoints(again) == _endpoints(file_inventory)
    finally:
        engine.dispose()


# -- class 9: junk is statistics, not inventory ----------------------------------------------------


def test_junk_is_counted_masked_and_never_an_endpoint_or_parameter(file_inventory: dict[str, Any]) -> None:
    doc = file_inventory
    assert not [e for e in doc["endpoints"] if e["host"] == "127.0.0.1"]
    assert not [e for e in doc["endpoints"] if "garbage" in e["path_template"] or " " in e["path_template"]]
    names = {p["name"] for e in doc["endpoints"] for p in e["parameters"]}
    assert not [n for n in names if n.isdigit() or n.startswith("AIza")], names
    unmatched = {(u["host"], u["kind"], u["sample"]): u["count"] for u in doc["unmatched"]}
    assert unmatched[("127.0.0.1", "malformed_target", "/uri afterspace")] == 1
    assert unmatched[("127.0.0.1", "malformed_target", "garbage\\x01target")] == 1
    assert unmatched[(BIG, "bare_query_value", "/v1/pixel?{integer}")] == 8
    assert unmatched[(BIG, "bare_query_value", "/maps/api/js?{token}")] == 4
    # The key itself is stored nowhere.
    assert GOOGLE_KEY not in json.dumps(doc)
    big = {e["path_template"]: e["hits"] for e in doc["endpoints"] if e["host"] == BIG}
    assert big["/v1/pixel"] == 8 and big["/maps/api/js"] == 4  # the requests still count


# -- class 11: file analyze and stream analyze agree -----------------------------------------------

NATS_URL = "nats://127.0.0.1:4222"


def _nats_up() -> bool:
    import socket

    with socket.socket() as s:
        s.settimeout(1.0)
        return s.connect_ex(("127.0.0.1", 4222)) == 0


async def _drop_stream(stream: str) -> None:
    from sensor.plumbing.wire import connect_jetstream

    nc, js = await connect_jetstream(NATS_URL)
    try:
        await js.delete_stream(stream)
    except Exception:  # noqa: BLE001 - already gone
        pass
    finally:
        await nc.close()


@pytest.mark.skipif(not _nats_up(), reason="no NATS server at 127.0.0.1:4222")
def test_sensor_batches_through_nats_build_the_file_inventory(
    capture: Path, file_inventory: dict[str, Any], tmp_path: Path
) -> None:
    from analyzer.ingest import SharedIngestor
    from analyzer.stream import StreamOptions, WorkerCounters, run_worker

    stream = f"tmplwire{uuid.uuid4().hex[:10]}"
    try:
        # The real sensor, shipping small batches (7 exchanges) so templating sees many cuts.
        subprocess.run(
            [sys.executable, "-m", "apicensus_cli", "sensor", "--pcap", str(capture), "--ship", NATS_URL,
             "--stream", stream, "--ship-batch", "7", "--spool-dir", str(tmp_path / "spool")],
            check=True, capture_output=True, timeout=120,
        )
        url = f"sqlite:///{tmp_path / 'stream.db'}"
        engine = make_engine(url)
        run_migrations(engine)
        ingestor = SharedIngestor(engine, AnalyzerSettings(database_url=url, pii_enabled=False))
        counters = WorkerCounters()
        try:
            options = StreamOptions(url=NATS_URL, stream=stream, durable=stream, idle_exit=3.0)
            assert run_worker(options, ingestor, counters) == 0
        finally:
            ingestor.close()
        assert counters.values["batches_applied"] >= 8
        assert counters.values["consolidations"] >= 1
        doc = _export(engine)
        engine.dispose()
    finally:
        asyncio.run(_drop_stream(stream))
    assert _endpoints(doc) == _endpoints(file_inventory)
    assert sorted(map(str, doc["unmatched"])) == sorted(map(str, file_inventory["unmatched"]))


def test_sensor_batches_through_http_ingest_build_the_file_inventory(
    capture: Path, file_inventory: dict[str, Any]
) -> None:
    from tests.stack import LocalStack, missing_for_nats  # noqa: F401 - LocalStack skips itself

    expected = _endpoints(file_inventory)
    with LocalStack(nats=False) as stack:
        stack.run_sensor("--pcap", str(capture), "--ship-batch", "7", ship="http")

        def same() -> bool:
            status, page = stack.api_get("/api/v1/endpoints?limit=100")
            if status != 200:
                return False
            got = sorted((e["host"], e["method"], e["path_template"], e["hits"]) for e in page["items"])
            return got == expected

        # The service consolidates once ingest paused (its refresher's interval, 5 s).
        stack.wait_until(same, timeout=60, what="the file inventory through HTTP ingest", interval=0.5)


# -- class 11 at the templater: a restored templater consolidates like a live one ----------------

# The shared corpus beside the repository (../shared/corpus), or $APICENSUS_SHARED_CORPUS.
_CORPUS = Path(os.environ.get("APICENSUS_SHARED_CORPUS") or Path(__file__).resolve().parents[4] / "shared" / "corpus")
CORPUS_PCAP = _CORPUS / "pcaps" / "ppp_4k-http-requests.pcap"


@pytest.mark.skipif(not CORPUS_PCAP.exists(), reason=f"shared corpus capture {CORPUS_PCAP} not present")
def test_a_templater_restored_from_its_state_consolidates_like_the_live_one() -> None:
    """Stream analyzers rebuild the templater from the stored state for every batch (it keeps
    no fold caches): consolidated, it must give the live templater's templates (on this capture
    it did not: the live one's incremental folds reused sub-trees folded with older evidence)."""
    from analyzer.pipeline import read_observations
    from analyzer.pipeline.aggregate import aggregate
    from analyzer.pipeline.normalise import normalise
    from analyzer.protocols.views import expand

    settings = AnalyzerSettings(database_url="unused", pii_enabled=False)
    items = [
        n
        for obs in read_observations(str(CORPUS_PCAP), on_error=lambda _m: None)
        for view in expand(obs)
        if (n := normalise(view, settings)) is not None and n.template is None and not n.malformed
    ]
    assert len(items) > 200
    live, restored = Templater(), Templater()
    for start in range(0, len(items), 20):
        aggregate(items[start : start + 20], live)
        aggregate(items[start : start + 20], restored)
        restored = Templater.from_state(orjson.loads(orjson.dumps(restored.to_state())))
    live.consolidate()
    restored.consolidate()

    def final(t: Templater) -> list[str | None]:
        return [(m.template if (m := t.match(i.service, i.method, i.path)) else None) for i in items]

    assert final(restored) == final(live)
