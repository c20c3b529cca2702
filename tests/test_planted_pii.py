"""Nothing raw survives anywhere: planted PII and credentials, scanned for in the whole inventory.

Traffic carrying every planted value (tests/planted.py) goes in through ``apicensus analyze`` (a
JSON-lines file and a pcap), through ``POST /api/v1/ingest`` of a real ``apicensus serve`` and
through NATS JetStream into a real ``apicensus analyzer``, on SQLite and on PostgreSQL. Then every column of every table (blobs decompressed, JSON and base64
decoded), both exports, every GET route with viewer, analyst and admin keys (the reports in JSON,
CSV and HTML), ``/metrics``, the service's JSON logs, the analyzer's stderr and log records, and
the alert payloads rendered for events about that traffic are scanned for each value in its
common spellings (as is, lower case, percent-encoded, digits only).
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.inventory_api.conftest import free_port
from tests.planted import (
    BODY_CARD,
    BODY_EMAIL,
    HOST,
    RARE_SSN,
    SHOP,
    Scanner,
    planted_http,
    planted_records,
    planted_values,
    scan_database,
)
from tests.sensor.frames import FrameFlow, write_pcap

REPO = Path(__file__).resolve().parents[1]


def _cli(*argv: str) -> tuple[int, str, str]:
    """``apicensus ARGV`` in-process: (exit code, stdout, stderr)."""
    from apicensus_cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.getMessage()} {getattr(record, 'fields', '')} {record.args!r}")


# Unusable lines carrying planted values: the errors that name them must not echo the values.
_BAD_LINES = (
    orjson.dumps({"schema": RARE_SSN, "method": "GET", "target": f"/x/{RARE_SSN}"}) + b"\n"
    + orjson.dumps({"schema": {"email": BODY_EMAIL}, "method": "GET"}) + b"\n"
    + f'{{"method": "GET", "target": "/api/{BODY_CARD}" '.encode() + b"\n"
)


def _write_inputs(tmp: Path) -> tuple[Path, Path]:
    jsonl = tmp / "planted.jsonl"
    jsonl.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in planted_records("cli")) + _BAD_LINES)
    frames: list[bytes] = []
    for i, (request, response) in enumerate(planted_http()):
        flow = FrameFlow(41000 + i, client="10.1.0.9", server="10.1.0.80")
        frames += flow.handshake() + flow.send(True, request) + flow.send(False, response) + flow.close()
    return jsonl, write_pcap(tmp / "planted.pcap", frames)


def _keys(url: str) -> dict[str, str]:
    from analyzer.db.session import make_engine, make_session_factory
    from inventory_api import crud
    from inventory_api.schemas import ApiKeyCreate
    from inventory_api.security import Role

    engine = make_engine(url)
    out: dict[str, str] = {}
    try:
        with make_session_factory(engine)() as session:
            for role in ("admin", "analyst", "viewer", "sensor"):
                _row, out[role] = crud.create_api_key(session=session, key_in=ApiKeyCreate(role=Role(role), name=role))
    finally:
        engine.dispose()
    return out


@contextlib.contextmanager
def _serve(url: str, log: Path) -> Iterator[str]:
    port = free_port()
    with log.open("wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "apicensus_cli", "serve", "--db", url, "--bind", f"127.0.0.1:{port}",
             "--log-level", "debug"],
            cwd=REPO, env={**os.environ, "APICENSUS_LOG_FORMAT": "json"}, stdout=err, stderr=err,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    httpx.get(f"{base}/health", timeout=1)
                    break
                except httpx.TransportError:
                    assert proc.poll() is None, log.read_text()
                    assert time.monotonic() < deadline, "server did not start"
                    time.sleep(0.1)
            yield base
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _get_all(scanner: Scanner, http: httpx.Client, keys: dict[str, str], findings: list[dict[str, Any]]) -> int:
    """Every GET route of the API with every reading role, pages followed: the number of answers."""
    admin = {"Authorization": f"Bearer {keys['admin']}"}
    schema = http.get("/api/v1/openapi.json", headers=admin).raise_for_status().json()
    ids: dict[str, list[str]] = {"endpoint_id": [], "service_id": [], "host": []}
    cursor: str | None = None
    while True:
        page = http.get("/api/v1/endpoints", params={"limit": 100, **({"cursor": cursor} if cursor else {})},
                        headers=admin).raise_for_status().json()
        ids["endpoint_id"] += [str(e["id"]) for e in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    services = http.get("/api/v1/services", params={"limit": 100}, headers=admin).raise_for_status().json()
    ids["service_id"] = [str(s["id"]) for s in services["items"]]
    ids["host"] = [s["host"] for s in services["items"]]
    assert len(ids["endpoint_id"]) >= 10 and {HOST, SHOP} <= set(ids["host"])
    # Every other listing that names its items by id: each item's own page is read too.
    for name, listing in (("actor_id", "/api/v1/actors"), ("tls_service_id", "/api/v1/tls-services"),
                          ("integration_id", "/api/v1/integrations"), ("event_id", "/api/v1/events"),
                          ("finding_id", "/api/v1/findings")):
        page = http.get(listing, params={"limit": 100}, headers=admin)
        if page.status_code == 404:
            continue  # a route this build does not have
        body = page.raise_for_status().json()
        items = body["items"] if isinstance(body, dict) else body
        ids[name] = [str(item["id"]) for item in items]
    gets = sorted(path for path, ops in schema["paths"].items() if "get" in ops)
    assert len(gets) >= 8, gets
    answers = 0
    for role in ("viewer", "analyst", "admin"):
        headers = {"Authorization": f"Bearer {keys[role]}"}
        for path in ["/api/v1/openapi.json", *gets]:
            names = [n for n in ids if "{" + n + "}" in path]
            if names and not ids[names[0]]:
                continue  # nothing of that kind stored (e.g. no alert destination): no page to read
            fills = [{}] if not names else [{names[0]: v} for v in ids[names[0]]]
            variants = [{"format": f} for f in ("json", "csv", "html")] if path.endswith("/reports/pii") else [{}]
            for fill in fills:
                concrete = path
                for name, value in fill.items():
                    concrete = concrete.replace("{" + name + "}", value)
                for params in variants:
                    answer = http.get(concrete, params=params, headers=headers)
                    if answer.status_code == 403 and role != "admin" and path.startswith("/api/v1/integrations"):
                        continue  # administrators only (alert destinations)
                    assert answer.status_code == 200, (role, concrete, answer.status_code, answer.text[:300])
                    scanner.scan(f"GET {path} {params or ''} as {role}", answer.text)
                    if path == "/api/v1/findings" and role == "admin":
                        findings += answer.json()["items"]
                    answers += 1
    return answers


def _alert_payloads(scanner: Scanner, findings: list[dict[str, Any]]) -> int:
    """Detection over the planted traffic (events, actors, data flows, state), and the alert
    payloads every destination renders for those events and for the API's findings."""
    from analyzer.alerts import parse_destination
    from analyzer.alerts.cef import to_cef
    from analyzer.alerts.model import alert_from_finding, alert_from_threat_event
    from analyzer.alerts.ocsf import to_ocsf
    from analyzer.alerts.slack import render as slack_render
    from analyzer.alerts.splunk import envelope
    from analyzer.alerts.syslog import build_message
    from analyzer.alerts.webhook import render as webhook_render
    from analyzer.detect.engine import DetectionEngine
    from analyzer.detect.model import from_record
    from analyzer.detect.settings import DetectSettings

    engine = DetectionEngine(DetectSettings(secret=b"planted-values-test-secret-0123"))
    records = planted_records("detect")
    templates = _templates(records)
    for record in records:
        key = (str(record["host"]), str(record["method"]), str(record["target"]).partition("?")[0])
        engine.feed(from_record(record, template=templates.get(key)))
    engine.close()
    events = [e.to_json() for e in engine.drain()]
    assert events, "the planted traffic raises no detection event: nothing to render"
    scanner.scan("detect events (export --format events)", events)
    scanner.scan("detect actors", repr(engine.actors()))
    scanner.scan("detect data flows", repr(engine.data_flows()))
    scanner.scan("detect state blob", engine.state())
    splunk = parse_destination({"id": "s", "kind": "splunk_hec", "url": "https://127.0.0.1:8088/services/collector",
                                "token": "0b5e6a8c-1d2f-4a3b-9c8d-7e6f5a4b3c2d"})
    alerts = [alert_from_threat_event(e) for e in events] + [alert_from_finding(f) for f in findings]
    for alert in alerts:
        scanner.scan("alert OCSF", to_ocsf(alert))
        scanner.scan("alert CEF", to_cef(alert))
        scanner.scan("alert syslog", build_message(alert, to_cef(alert), delivery_id="d1", facility=10,
                                                            now=alert.detected_at))
        scanner.scan("alert webhook", webhook_render(alert))
        scanner.scan("alert Slack", slack_render(alert))
        scanner.scan("alert Splunk HEC", envelope(alert, splunk, delivery_id="d1", host="h"))
    return len(alerts) * 6


NATS_URL = os.environ.get("APICENSUS_TEST_NATS_URL", "nats://127.0.0.1:4222")


def _nats_analyzer(scanner: Scanner, url: str, log: Path) -> None:
    """A planted batch through NATS JetStream into a real ``apicensus analyzer`` (JSON logs at
    debug level, scanned)."""
    import asyncio
    import uuid

    from sensor.plumbing import wire

    stream = f"planted{uuid.uuid4().hex[:8]}"
    lines = [orjson.dumps(r) for r in planted_records("nats", ts=1_700_200_000.0)]

    async def publish() -> None:
        nc, js = await wire.connect_jetstream(NATS_URL)
        try:
            await wire.ensure_stream(js, stream)
            await js.publish(wire.subject_for(stream), wire.encode_batch(lines), headers={"Nats-Msg-Id": stream})
        finally:
            await nc.close()

    async def drop() -> None:
        nc, js = await wire.connect_jetstream(NATS_URL)
        try:
            await js.delete_stream(stream)
        finally:
            await nc.close()

    asyncio.run(publish())
    try:
        with log.open("wb") as err:
            done = subprocess.run(
                [sys.executable, "-m", "apicensus_cli", "analyzer", "--from", NATS_URL, "--db", url, "--stream", stream,
                 "--durable", stream, "--idle-exit", "3", "--log-level", "debug"],
                cwd=REPO, env={**os.environ, "APICENSUS_LOG_FORMAT": "json"}, stdout=err, stderr=err, timeout=120,
            )
        assert done.returncode == 0, log.read_text()[-2000:]
    finally:
        asyncio.run(drop())
    scanner.scan("analyzer (NATS) JSON logs", log.read_text())


def _templates(records: list[dict[str, Any]]) -> dict[tuple[str, str, str], str]:
    """(host, method, path) -> its template, as the analyzer's templater forms them."""
    from analyzer.templating import Templater, TemplaterSettings

    templater = Templater(TemplaterSettings())
    paths = [(str(r["host"]), str(r["method"]), str(r["target"]).partition("?")[0], r["status"]) for r in records]
    for host, method, path, status in paths:
        templater.observe(host, method, path, status)
    templater.consolidate()
    out: dict[tuple[str, str, str], str] = {}
    for host, method, path, _status in paths:
        match = templater.match(host, method, path)
        if match is not None:
            out[(host, method, path)] = match.template
    return out


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'planted.db'}"
    return str(request.getfixturevalue("pg_url"))


def test_no_planted_value_survives_anywhere(db_url: str, tmp_path: Path) -> None:
    values = planted_values()
    scanner = Scanner(values)
    jsonl, pcap = _write_inputs(tmp_path)
    # The scanner sees every value in the inputs: a clean result below is not blindness.
    probe = Scanner(values)
    probe.scan("input", jsonl.read_text())
    assert set().union(*probe.leaks.values()) == set(values)

    records = _Records()
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(records)
    root.setLevel(logging.DEBUG)
    try:
        code, out, err = _cli("analyze", str(jsonl), str(pcap), "--db", db_url, "--no-progress")
    finally:
        root.removeHandler(records)
        root.setLevel(old_level)
    assert code == 1 and err.count("line skipped") == 3, err  # the unusable lines, and nothing else
    scanner.scan("analyze stdout", out)
    scanner.scan("analyze stderr", err)
    scanner.scan("analyze log records", "\n".join(records.lines))

    _nats_analyzer(scanner, db_url, tmp_path / "analyzer.log")
    keys = _keys(db_url)
    serve_log = tmp_path / "serve.log"
    with _serve(db_url, serve_log) as base, httpx.Client(base_url=base, timeout=60) as http:
        import zstandard

        batch = b"".join(orjson.dumps(r) + b"\n" for r in planted_records("ingest", ts=1_700_100_000.0))
        batch += _BAD_LINES[: _BAD_LINES.rindex(b"{")]  # (a cut JSON line rejects the whole batch)
        answer = http.post("/api/v1/ingest", content=zstandard.ZstdCompressor().compress(batch),
                           headers={"Authorization": f"Bearer {keys['sensor']}", "Content-Encoding": "zstd",
                                    "Content-Type": "application/x-ndjson"})
        assert answer.status_code == 200, answer.text
        scanner.scan("POST /api/v1/ingest answer", answer.text)
        metrics = http.get("/metrics")
        assert metrics.status_code == 200 and "apicensus_inventory" in metrics.text
        scanner.scan("GET /metrics", metrics.text)
        findings: list[dict[str, Any]] = []
        answers = _get_all(scanner, http, keys, findings)
    scanner.scan("serve JSON logs", serve_log.read_text())

    export = tmp_path / "export.json"
    code, out, err = _cli("export", "--format", "json", "--db", db_url, "--output", str(export))
    assert code == 0, err
    out = export.read_text()
    exported = orjson.loads(out)
    templates = {e["path_template"] for e in exported["endpoints"]}
    assert any(t.startswith("/api/people/{") for t in templates), templates
    scanner.scan("export --format json", out + err)
    for host in (HOST, SHOP):
        code, out, err = _cli("export", "--format", "openapi", "--host", host, "--db", db_url, "-o", str(export))
        assert code == 0, err
        scanner.scan(f"export --format openapi --host {host}", export.read_text() + out + err)
    alerts = _alert_payloads(scanner, findings)

    cells = scan_database(scanner, db_url, "db")
    assert cells > 1000
    print(f"\n{len(values)} planted values; {len(scanner.locations)} locations scanned "
          f"({sum(1 for loc in scanner.locations if loc.startswith('db:'))} table columns, {cells} cells, "
          f"{answers} API answers, {alerts} alert payloads)")
    assert not scanner.leaks, "raw planted values found:\n" + scanner.report()


def test_the_scanner_sees_through_storage_encodings(tmp_path: Path) -> None:
    """A planted value hidden in a zlib, gzip or zstd blob, a JSON column, base64 text or
    percent-encoded, lower-cased or digits-only text is found, in a real SQLite database."""
    import base64
    import gzip
    import zlib

    import zstandard
    from sqlalchemy import JSON, Column, Integer, LargeBinary, MetaData, String, Table, create_engine

    url = f"sqlite:///{tmp_path / 'hidden.db'}"
    engine = create_engine(url)
    meta = MetaData()
    table = Table("t", meta, Column("id", Integer, primary_key=True), Column("blob", LargeBinary),
                  Column("doc", JSON), Column("text", String))
    meta.create_all(engine)
    hidden = {
        "zlib": (zlib.compress(b'{"p": "/people/536-90-4821"}'), None, None),
        "gzip": (gzip.compress(b"x jane.doe@example.org y"), None, None),
        "zstd": (zstandard.ZstdCompressor().compress(b"DE89370400440532013000"), None, None),
        "json": (None, {"a": [{"b": "+14155550123"}]}, None),
        "b64": (None, None, base64.b64encode(b"user:Pl4nted-Passw0rd!x").decode()),
        "pct": (None, None, "/lookup/jane.doe%40example.org"),
        "lower": (None, None, "gb82west12345698765432"),
        "digits": (None, None, "ssn 536904821"),
    }
    with engine.begin() as conn:
        for i, (blob, doc, text) in enumerate(hidden.values()):
            conn.execute(table.insert().values(id=i, blob=blob, doc=doc, text=text))
    engine.dispose()
    values = ["536-90-4821", "jane.doe@example.org", "DE89370400440532013000", "+14155550123",
              "Pl4nted-Passw0rd!x", "GB82WEST12345698765432", "never-stored@example.org"]
    scanner = Scanner(values)
    assert scan_database(scanner, url, "t") == 4 * len(hidden)
    assert set().union(*scanner.leaks.values()) == set(values) - {"never-stored@example.org"}
    assert set(scanner.leaks) == {"t:t.blob", "t:t.doc", "t:t.text"}


def test_path_segments_keys_and_names_that_are_pii_are_masked() -> None:
    from analyzer.schema_infer import query_params
    from analyzer.templating.privacy import Masker, key_label, pii_parts

    cases = {
        "DE89370400440532013000": ("iban", ""), "de89370400440532013000": ("iban", ""),
        "DE89370400440532013001": None,  # mod-97 check fails
        "348-21-6690.pdf": ("ssn", ".pdf"), "by-ssn-281-63-4410": ("ssn", ""),
        "email=inner.planted@example-mail.org": ("email", ""), "card_4929804463622139": ("card", ""),
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig_nature": ("token", ""),
        "tel:+14155550123": ("phone", ""), "sip:+4915123456789@carrier.example": ("email", ""),
        "sip:alice": None, "tel:abc": None,
        "order_1234567890123": None, "users": None, "v2": None, "2024-01-15": None, "report.pdf": None,
    }
    for segment, expected in cases.items():
        assert pii_parts(segment) == expected, segment
    masked = Masker("k").segments(["api", "exports", "348-21-6690.pdf"])
    assert masked[:2] == ["api", "exports"] and masked[2].startswith("{ssn:") and masked[2].endswith("}.pdf")
    assert "348-21-6690" not in masked[2]
    assert key_label("jane@example.org") == "{email}" and key_label("createdTimestamp") == "createdTimestamp"
    assert query_params("jane@example.org&page=2") == [("{email}", "empty"), ("page", "integer")]
