"""TLS end to end: a real TLS server and client on 127.0.0.1 (python ssl, the client's key log),
their bytes captured as a pcap, ``apicensus sensor --pcap --tls-keylog`` decrypting it, and the
records analysed into the inventory (tls_services, findings, the endpoints inside).

TLS 1.2 with AES-GCM and ChaCha20-Poly1305, TLS 1.3 with AES-GCM and ChaCha20; a wrong key and a
key log without the session's secrets are a tag and a counter, never a crash.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.sensor.proto.tls_recorder import REQUESTS, record, write_pcap

REPO = Path(__file__).resolve().parents[3]
CASES = [
    ("1.2", "ECDHE-RSA-AES128-GCM-SHA256", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"),
    ("1.2", "ECDHE-RSA-CHACHA20-POLY1305", "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256"),
    ("1.3", "TLS_AES_128_GCM_SHA256", "TLS_AES_128_GCM_SHA256"),
    ("1.3", "TLS_CHACHA20_POLY1305_SHA256", "TLS_CHACHA20_POLY1305_SHA256"),
]


def sensor(pcap: Path, keylog: Path | None, out: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Run the real CLI; (records, --stats counters)."""
    argv = [sys.executable, "-m", "apicensus_cli", "sensor", "--pcap", str(pcap), "-o", str(out), "--stats"]
    if keylog is not None:
        argv += ["--tls-keylog", str(keylog)]
    done = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in out.read_text().splitlines() if line.strip()]
    stats_line = [ln for ln in done.stderr.splitlines() if ln.lstrip().startswith("{")][-1]
    return records, json.loads(stats_line)


def capture(tmp: Path, version: str, cipher: str) -> tuple[Path, Path, dict[str, str], str]:
    wire, keylog, plain = record(tmp, version, cipher)
    pcap = tmp / "tls.pcap"
    write_pcap(wire, pcap, ts=time.time())
    path = tmp / "keylog.txt"
    path.write_text(keylog)
    return pcap, path, plain, keylog


@pytest.mark.parametrize(("version", "cipher", "iana"), CASES)
def test_every_exchange_inside_tls_is_decoded(tmp_path: Path, version: str, cipher: str, iana: str) -> None:
    pcap, keylog, plain, _ = capture(tmp_path, version, cipher)
    records, stats = sensor(pcap, keylog, tmp_path / "out.jsonl")
    http = [r for r in records if r["protocol"] == "http/1.1"]
    (tls,) = [r for r in records if r["protocol"] == "tls"]
    # Every request with its own response, byte for byte what the server sent.
    assert [r["method"] for r in http] == ["GET"] * len(REQUESTS)
    assert [r["target"] for r in http] == [f"/api/v1/users/{i}" for i in range(len(REQUESTS))]
    assert [r["status"] for r in http] == [200] * len(REQUESTS)
    assert all(r["host"] == "secure.test" and r["server"] == "10.1.0.1:443" for r in http)
    bodies = [json.loads(r["response_body"]["data"]) for r in http]
    assert bodies == [{"id": i, "email": f"user{i}@example.com"} for i in range(len(REQUESTS))]
    server_bytes = bytes.fromhex(plain["server"])
    assert all(f'"id": {i}'.encode() in server_bytes for i in range(len(REQUESTS)))
    assert all(r["proto"]["tls"]["decrypted"] is True for r in http)
    facts = tls["proto"]
    assert facts["decrypted"] is True and facts["sni"] == "secure.test"
    assert facts["version"] == f"TLSv{version}" and facts["cipher"] == iana and facts["alpn"] == "http/1.1"
    assert facts["ja3"] and facts["ja4"].startswith(f"t1{version[-1]}d")
    assert facts["certificate"]["subject"] == "CN=secure.test" and facts["certificate"]["self_signed"] is True
    assert {"tls_certificate_expired", "tls_certificate_self_signed"} <= set(facts["findings"])
    assert stats.get("tls_records_decrypted", 0) > 0 and not stats.get("tls_decrypt_failures")


def test_wrong_and_missing_keys_are_tags_and_counters(tmp_path: Path) -> None:
    pcap, _, _, keylog = capture(tmp_path, "1.3", "TLS_AES_128_GCM_SHA256")
    wrong = tmp_path / "wrong.txt"
    wrong.write_text("\n".join(f"{a} {b} {'00' * (len(c) // 2)}" for a, b, c in
                               (ln.split() for ln in keylog.splitlines() if ln and not ln.startswith("#"))))
    records, stats = sensor(pcap, wrong, tmp_path / "wrong.jsonl")
    (tls,) = [r for r in records if r["protocol"] == "tls"]
    assert not [r for r in records if r["protocol"] != "tls"]
    assert "tls_decrypt_failed" in tls["tags"] and tls["proto"]["decrypted"] is False
    assert stats["tls_decrypt_failures"] >= 1
    # The connection is still an encrypted service with its facts.
    assert tls["proto"]["sni"] == "secure.test" and tls["proto"]["version"] == "TLSv1.3"

    other = tmp_path / "other.txt"
    other.write_text("CLIENT_RANDOM " + "ab" * 32 + " " + "cd" * 48 + "\n")
    records, stats = sensor(pcap, other, tmp_path / "missing.jsonl")
    (tls,) = [r for r in records if r["protocol"] == "tls"]
    assert "tls_no_key" in tls["tags"] and stats["tls_sessions_without_key"] == 1

    records, stats = sensor(pcap, None, tmp_path / "nokeys.jsonl")
    (tls,) = [r for r in records if r["protocol"] == "tls"]
    assert tls["proto"]["decrypted"] is False and tls["proto"]["sni"] == "secure.test"


def test_decrypted_capture_into_the_inventory(tmp_path: Path) -> None:
    """The sensor's records through ``apicensus analyze`` into SQLite: the encrypted service in
    ``tls_services`` and the export, its posture as findings, the API inside as endpoints."""
    from apicensus_cli import main

    pcap, keylog, _, _ = capture(tmp_path, "1.2", "ECDHE-RSA-AES128-GCM-SHA256")
    out = tmp_path / "records.jsonl"
    records, _ = sensor(pcap, keylog, out)
    db = f"sqlite:///{tmp_path / 'inv.db'}"
    for _ in range(2):  # the second run counts nothing twice
        assert main(["analyze", str(out), "--db", db, "--no-progress", "--no-pii"]) == 0
    assert main(["export", "--db", db, "--format", "json", "--output", str(tmp_path / "inv.json")]) == 0
    document = json.loads((tmp_path / "inv.json").read_text())
    (svc,) = document["tls_services"]
    assert svc["server"] == "10.1.0.1:443" and svc["sni"] == "secure.test"
    assert svc["connections"] == 1 and svc["decrypted_connections"] == 1
    assert svc["versions"] == {"TLSv1.2": 1}
    assert svc["ciphers"] == {"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256": 1}
    assert svc["alpn"] == "http/1.1" and len(svc["ja3"]) == 1 and len(svc["ja4"]) == 1
    assert svc["certificate"]["subject"] == "CN=secure.test" and svc["certificate"]["self_signed"] is True
    tls_record = next(r for r in records if r["protocol"] == "tls")
    assert list(svc["ja3"]) == [tls_record["proto"]["ja3"]]
    templates = {(e["method"], e["path_template"]) for e in document["endpoints"]}
    assert any(m == "GET" and t.startswith("/api/v1/users/") for m, t in templates), templates

    from analyzer.db.session import make_engine, session_scope
    from analyzer.inventory.findings import build_findings

    engine = make_engine(db)
    with session_scope(engine) as session:
        kinds = {i["kind"] for i in build_findings(session=session, full_samples=False) if i["tls_service"]}
        only = build_findings(session=session, full_samples=False, kinds=["tls_certificate_self_signed"])
    engine.dispose()
    assert kinds == {"tls_certificate_expired", "tls_certificate_self_signed"}
    assert [i["tls_service"]["sni"] for i in only] == ["secure.test"] and only[0]["endpoint"] is None
