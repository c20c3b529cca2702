"""``apicensus analyze`` / ``export`` end to end, on JSONL made from realistic records."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from apicensus_cli import main

Make = Callable[..., dict[str, Any]]
REPO = Path(__file__).resolve().parents[2]


def write_jsonl(path: Path, records: list[dict[str, Any]], *, corrupt_line_after: int | None = None) -> Path:
    with path.open("wb") as fh:
        for i, record in enumerate(records):
            fh.write(orjson.dumps(record) + b"\n")
            if corrupt_line_after == i:
                fh.write(b'{"uid": "broken", "method": "GET", "tar\n')
    return path


def realistic_traffic(exchange: Make) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    t = 1_717_000_000.0
    for i in range(30):
        order_id = 5000 + i
        records.append(
            exchange(
                host="shop.example.com",
                target=f"/api/v1/orders/{order_id}?include=items",
                ts=t + i,
                client=f"198.51.100.{i % 5}:{50000 + i}",
                request_headers=[("Authorization", "Bearer eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.e30.sig")],
                response_body=json.dumps(
                    {
                        "id": order_id,
                        "status": "shipped",
                        "customer": {"email": f"customer{i}@mail.example.net", "name": "Ann Lee"},
                        "items": [{"sku": "A-1", "qty": 1, "price": 9.99}],
                    }
                ),
            )
        )
        records.append(
            exchange(
                method="POST",
                host="shop.example.com:80",  # default port: same service
                target="/api/v1/login",
                ts=t + i + 0.5,
                status=200 if i % 3 else 401,
                request_headers=[("Content-Type", "application/x-www-form-urlencoded")],
                request_body=f"username=user{i}&password=hunter{i}",
                response_headers=[("Content-Type", "application/json"), ("Set-Cookie", "sessionid=abc")],
                response_body=json.dumps({"ok": i % 3 != 0}),
            )
        )
    records.append(exchange(host="shop.example.com", target="/.git/config", status=404, ts=t + 40))
    records.append(
        exchange(
            host="",
            server="203.0.113.7:8080",
            target="/metrics",
            status=200,
            ts=t + 41,
            response_headers=[("Content-Type", "text/plain")],
            response_body="up 1\n",
        )
    )
    return records


def test_analyze_then_export_end_to_end(
    tmp_path: Path, pg_url: str, exchange: Make, capsys: pytest.CaptureFixture[str]
) -> None:
    records = realistic_traffic(exchange)
    jsonl = write_jsonl(tmp_path / "capture.jsonl", records, corrupt_line_after=10)

    rc = main(["analyze", str(jsonl), "--db", pg_url])
    out, err = capsys.readouterr()
    assert rc == 1  # the corrupt line is reported, everything else is analysed
    assert "capture.jsonl:12: invalid JSON" in err and "Traceback" not in err
    assert "endpoints" in out and "unauthenticated" in out and "PII findings" in out

    # Second run over the same file: idempotent.
    assert main(["analyze", str(jsonl), "--db", pg_url, "--no-pii"]) == 1
    out, _ = capsys.readouterr()
    assert "already analysed (skipped)" in out

    assert main(["export", "--format", "json", "--db", pg_url]) == 0
    doc = json.loads(capsys.readouterr().out)
    eps = {(e["host"], e["method"], e["path_template"]): e for e in doc["endpoints"]}
    assert set(eps) == {
        ("shop.example.com", "GET", "/api/v1/orders/{orderId}"),
        ("shop.example.com", "POST", "/api/v1/login"),
        ("203.0.113.7:8080", "GET", "/metrics"),
    }
    orders = eps[("shop.example.com", "GET", "/api/v1/orders/{orderId}")]
    for key in (
        "host",
        "method",
        "path_template",
        "hits",
        "first_seen",
        "last_seen",
        "status_codes",
        "unauthenticated",
        "parameters",
        "request_body",
        "response_body",
        "pii",
    ):
        assert key in orders
    assert orders["hits"] == 30
    assert orders["first_seen"] == "2024-05-29T16:26:40Z"
    assert orders["status_codes"] == {"200": 30}
    assert orders["unauthenticated"] is False
    params = {(p["in"], p["name"]): p for p in orders["parameters"]}
    assert params[("path", "orderId")]["type"] == "integer"
    assert params[("query", "include")]["count"] == 30
    assert orders["response_body"]["items[].price"]["type"] == "number"
    assert orders["response_body"]["customer.email"]["presence"] == 1.0
    email = [p for p in orders["pii"] if p["type"] == "EMAIL_ADDRESS"]
    assert email and email[0]["field"] == "customer.email" and email[0]["count"] == 30
    assert "customer" not in email[0]["sample"]  # masked
    assert set(email[0]) >= {"type", "location", "field", "count", "sample"}

    login = eps[("shop.example.com", "POST", "/api/v1/login")]
    assert login["unauthenticated"] is True  # a 2xx with no credentials at all
    assert login["status_codes"] == {"200": 20, "401": 10}
    assert login["content_types"]["request"] == {"application/x-www-form-urlencoded": 30}
    assert login["request_bodies"] == 30
    assert set(login["request_body"]) == {"username", "password"}
    assert login["request_body"]["username"] == {
        "type": "string",
        "types": {"string": 30},
        "count": 30,
        "presence": 1.0,
    }
    assert eps[("203.0.113.7:8080", "GET", "/metrics")]["unauthenticated"] is True
    assert any(n["path"] == "/.git/config" and n["status"] == 404 for n in doc["noise"])
    assert "hunter" not in json.dumps(doc)  # a password value is never stored


def test_bad_inputs_give_messages_not_tracebacks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], exchange: Make
) -> None:
    db = f"sqlite:///{tmp_path}/embedded.db"
    good = write_jsonl(tmp_path / "good.jsonl", [exchange(target="/ok")])
    notes = tmp_path / "notes.txt"
    notes.write_text("hello\n")
    truncated = tmp_path / "cut.pcap"
    truncated.write_bytes(b"\xd4\xc3\xb2\xa1\x02\x00\x04\x00" + b"\x00" * 8)  # header cut short
    rc = main(["analyze", str(tmp_path / "missing.jsonl"), str(notes), str(truncated), str(good), "--db", db])
    out, err = capsys.readouterr()
    assert rc == 1
    assert "missing.jsonl: cannot open" in err
    assert "notes.txt: not a pcap/pcapng capture or the sensor's JSONL" in err
    assert "cut.pcap" in err
    assert "Traceback" not in err
    assert main(["export", "--db", db]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [e["path_template"] for e in doc["endpoints"]] == ["/ok"]
    assert main(["analyze", str(good), "--db", "nosuchdriver://x"]) == 2
    assert "apicensus analyze:" in capsys.readouterr().err


def test_default_database_is_sqlite_in_working_directory(tmp_path: Path, exchange: Make) -> None:
    jsonl = write_jsonl(tmp_path / "c.jsonl", [exchange(target="/v1/ping")])
    env = {k: v for k, v in os.environ.items() if k != "APICENSUS_DATABASE_URL"}
    env["PYTHONPATH"] = str(REPO)
    cmd = [sys.executable, "-m", "apicensus_cli", "analyze", str(jsonl), "--no-pii"]
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "apicensus.db").exists()
    assert proc.stderr == ""  # no progress bar when stderr is not a terminal


def test_cli_module_import_stays_light() -> None:
    code = (
        "import sys, apicensus_cli; apicensus_cli.build_parser(); "
        "heavy = [m for m in ('sqlalchemy', 'pandas', 'presidio_analyzer', 'alembic') if m in sys.modules]; "
        "print(heavy)"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_analyze_pcap_through_the_sensor(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    synth = pytest.importorskip("devtools.synth")
    pcap = tmp_path / "api.pcap"
    synth.generate_api_traffic(str(pcap), exchanges=300, seed=3)
    db = f"sqlite:///{tmp_path}/pcap.db"
    assert main(["analyze", str(pcap), "--db", db, "--no-pii"]) == 0
    capsys.readouterr()
    assert main(["export", "--db", db]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert sum(e["hits"] for e in doc["endpoints"]) + sum(n["count"] for n in doc["noise"]) >= 290
    assert len({e["host"] for e in doc["endpoints"]}) >= 4


def test_templates_survive_a_new_process(tmp_path: Path, pg_url: str, exchange: Make) -> None:
    """Learned templates come back from the database in a fresh ``apicensus analyze`` process."""
    fruits = ["apple", "banana", "cherry", "date", "elder", "fig"]
    first = write_jsonl(
        tmp_path / "first.jsonl",
        [
            exchange(
                host="restart.example",
                target=f"/shop/items/{f}",
                response_body=json.dumps({"id": i, "name": f}),
            )
            for i, f in enumerate(fruits)
        ],
    )
    second = write_jsonl(
        tmp_path / "second.jsonl",
        [
            exchange(
                host="restart.example",
                target="/shop/items/zucchini",
                response_body=json.dumps({"id": 9, "name": "z"}),
            )
        ],
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    for jsonl in (first, second):
        cmd = [sys.executable, "-m", "apicensus_cli", "analyze", str(jsonl), "--db", pg_url, "--no-pii"]
        proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
    proc = subprocess.run(
        [sys.executable, "-m", "apicensus_cli", "export", "--db", pg_url],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    eps = {
        e["path_template"]: e for e in json.loads(proc.stdout)["endpoints"] if e["host"] == "restart.example"
    }
    assert set(eps) == {"/shop/items/{item}"}
    assert eps["/shop/items/{item}"]["hits"] == len(fruits) + 1


def test_stream_analyzer_that_never_reaches_nats_exits_1_with_a_clear_log(tmp_path) -> None:
    import socket
    import subprocess
    import sys

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = subprocess.run(
        [sys.executable, "-m", "apicensus_cli", "analyzer", "--from", f"nats://127.0.0.1:{port}",
         "--db", f"sqlite:///{tmp_path / 'a.db'}", "--idle-exit", "1", "--no-pii"],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 1
    assert "never reached NATS" in result.stderr and "Traceback" not in result.stderr


def test_the_analyzer_started_last_sets_the_shared_consumers_ack_wait(tmp_path) -> None:
    import asyncio
    import socket
    import subprocess
    import sys
    import uuid

    try:
        socket.create_connection(("127.0.0.1", 4222), timeout=1).close()
    except OSError:
        pytest.skip("NATS with JetStream is not running on 127.0.0.1:4222 (.ci/run starts it)")
    stream = f"ackwait{uuid.uuid4().hex[:8]}"
    db = f"sqlite:///{tmp_path / 'a.db'}"

    def analyzer(ack_wait: str) -> None:
        result = subprocess.run(
            [sys.executable, "-m", "apicensus_cli", "analyzer", "--from", "nats://127.0.0.1:4222",
             "--stream", stream, "--db", db, "--idle-exit", "1", "--no-pii", "--ack-wait", ack_wait],
            capture_output=True, text=True, timeout=60,
        )
        assert result.returncode == 0, result.stderr

    async def ack_wait_and_cleanup() -> float:
        import nats

        nc = await nats.connect("nats://127.0.0.1:4222")
        try:
            js = nc.jetstream()
            info = await js.consumer_info(stream, "apicensus-analyzer")
            await js.delete_stream(stream)
            return float(info.config.ack_wait)
        finally:
            await nc.close()

    analyzer("3")
    analyzer("7")
    assert asyncio.run(ack_wait_and_cleanup()) == 7.0
