"""``apicensus sensor`` end to end, as a network team runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.sensor.conftest import CORPUS_COPIES, SAMPLES

APICENSUS = [sys.executable, "-m", "apicensus_cli"]


def run(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([*APICENSUS, "sensor", *args], input=stdin, capture_output=True, timeout=120)


def records(out: bytes) -> list[dict]:
    return [json.loads(line) for line in out.split(b"\n") if line]


def test_pcap_file_to_stdout_matches_truth() -> None:
    proc = run("--pcap", str(SAMPLES / "keepalive-api.pcap"))
    assert proc.returncode == 0, proc.stderr
    got = sorted((r["method"], r["host"], r["target"], r["status"]) for r in records(proc.stdout))
    truth = json.loads((SAMPLES / "keepalive-api.truth.json").read_text())["exchanges"]
    assert got == sorted((t["method"], t["host"], t["target"], t["status"]) for t in truth)
    first = records(proc.stdout)[0]
    for key in ("schema", "uid", "ts", "client", "server", "method", "host", "target", "version", "status",
                "request_headers", "response_headers", "request_body", "response_body", "tags"):
        assert key in first


def test_stdin_and_output_file(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    data = (SAMPLES / "pipelined-vlan-ipv6.pcap").read_bytes()
    proc = run("--pcap", "-", "--output", str(out), "--stats", stdin=data)
    assert proc.returncode == 0, proc.stderr
    recs = records(out.read_bytes())
    assert len(recs) == len(json.loads((SAMPLES / "pipelined-vlan-ipv6.truth.json").read_text())["exchanges"])
    stats = json.loads(proc.stderr.decode().strip().splitlines()[-1])
    assert stats["exchanges"] == len(recs) and stats["packets"] > 0


def test_truncated_capture_writes_what_it_read_and_says_so() -> None:
    proc = run("--pcap", str(CORPUS_COPIES / "pfe_corrupted.pcap"))
    assert proc.returncode == 1
    assert b"Traceback" not in proc.stderr
    assert b"corrupt record header after 27 packets" in proc.stderr
    assert len(records(proc.stdout)) == 2


def test_missing_and_bogus_inputs_get_clear_errors(tmp_path: Path) -> None:
    proc = run("--pcap", str(tmp_path / "nope.pcap"))
    assert proc.returncode == 2 and b"no such file" in proc.stderr and b"Traceback" not in proc.stderr
    bogus = tmp_path / "bogus.pcap"
    bogus.write_bytes(b"this is not a capture")
    proc = run("--pcap", str(bogus))
    assert proc.returncode == 1 and b"not a pcap or pcapng file" in proc.stderr and b"Traceback" not in proc.stderr


def test_body_cap_option() -> None:
    proc = run("--pcap", str(SAMPLES / "keepalive-api.pcap"), "--body-cap", "8")
    recs = records(proc.stdout)
    bodies = [r["response_body"] for r in recs if r["response_body"]["length"] > 8]
    assert bodies and all(b["captured"] <= 8 for b in bodies)
    assert all("body_capped" in r["tags"] for r in recs if r["response_body"]["length"] > 8)


def test_live_capture_without_privileges_is_a_clear_error() -> None:
    proc = run("--interface", "definitely-not-an-interface0", "--duration", "0.1")
    assert proc.returncode == 2 and b"Traceback" not in proc.stderr
    assert b"definitely-not-an-interface0" in proc.stderr


def test_metrics_address_that_cannot_be_used_is_one_clear_line(tmp_path) -> None:
    import socket
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        for address in (f"127.0.0.1:{port}", "127.0.0.1:99999"):
            result = subprocess.run(
                [sys.executable, "-m", "apicensus_cli", "sensor", "--pcap", str(repo / "sample_pcaps" / "keepalive-api.pcap"),
                 "--metrics", address, "--ship", "nats://127.0.0.1:1", "--spool-dir", str(tmp_path / "spool")],
                capture_output=True, text=True, timeout=60)
            assert result.returncode == 2
            assert "cannot serve metrics" in result.stderr and "Traceback" not in result.stderr


def test_unknown_link_type_is_one_line_on_stderr_and_in_stats() -> None:
    proc = run("--pcap", str(SAMPLES / "quirks" / "quirks-unknown-linktype.pcap"), "--stats")
    assert proc.returncode == 1 and proc.stdout == b""  # nothing could be decoded: said, not silent
    lines = proc.stderr.decode().strip().splitlines()
    assert len(lines) == 2 and "link type 147 (8 packets) not supported" in lines[0]
    assert json.loads(lines[1])["decode_unsupported_linktype_147"] == 8
    # Alongside a file that decodes: its records are written, the line says which file failed.
    proc = run("--pcap", str(SAMPLES / "quirks" / "quirks-unknown-linktype.pcap"), str(SAMPLES / "quirks" / "quirks-nflog.pcap"))
    assert proc.returncode == 1 and len(records(proc.stdout)) == 1
    assert proc.stderr.decode().count("not supported") == 1
