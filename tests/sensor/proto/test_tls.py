"""TLS: facts and fingerprints, and decryption of real TLS 1.2/1.3 sessions made on 127.0.0.1."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sensor.proto.events import CLIENT
from sensor.proto.tls import (
    FINDING_EXPIRED,
    FINDING_SELF_SIGNED,
    KeyLog,
    TlsClientHelloSeen,
    TlsPlaintext,
    TlsReader,
    TlsSessionInfo,
)
from sensor.proto.tls_hello import is_weak_cipher

REPO = Path(__file__).resolve().parents[3]
CASES = [
    ("1.2", "ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256"),
    ("1.2", "ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384"),
    ("1.2", "ECDHE-RSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305"),
    ("1.3", "TLS_AES_256_GCM_SHA384", "TLS_AES_256_GCM_SHA384"),
    ("1.3", "TLS_CHACHA20_POLY1305_SHA256", "TLS_CHACHA20_POLY1305_SHA256"),
    ("1.3", "TLS_AES_128_GCM_SHA256", "TLS_AES_128_GCM_SHA256"),
]


def _record(tmp: Path, version: str, cipher: str) -> tuple[list[tuple[int, bytes]], str, dict[str, str]]:
    env = dict(os.environ)
    if version == "1.3":
        conf = tmp / "openssl.cnf"
        conf.write_text("openssl_conf = c\n[c]\nssl_conf = s\n[s]\nsystem_default = d\n[d]\n"
                        f"Ciphersuites = {cipher}\n")
        env["OPENSSL_CONF"] = str(conf)
    subprocess.run([sys.executable, "-m", "tests.sensor.proto.tls_recorder", str(tmp), version, cipher],
                   cwd=REPO, env=env, check=True, timeout=60)
    raw = (tmp / "wire.bin").read_bytes()
    wire = []
    pos = 0
    while pos < len(raw):
        n = int.from_bytes(raw[pos + 1: pos + 5], "big")
        wire.append((raw[pos], raw[pos + 5: pos + 5 + n]))
        pos += 5 + n
    return wire, (tmp / "keylog.txt").read_text(), json.loads((tmp / "plain.json").read_text())


def _run(wire: list[tuple[int, bytes]], keylog: KeyLog | None) -> tuple[TlsReader, list[object]]:
    reader = TlsReader(keylog=keylog)
    out: list[object] = []
    for side, data in wire:
        for i in range(0, len(data), 700):  # records split across segments
            out.extend(reader.feed(side, data[i: i + 700], 1.0))
    out.extend(reader.close(2.0))
    return reader, out


@pytest.mark.parametrize(("version", "cipher", "expect"), CASES)
def test_decrypts_real_session_to_exact_plaintext(tmp_path: Path, version: str, cipher: str, expect: str) -> None:
    wire, keylog, plain = _record(tmp_path, version, cipher)
    assert plain["cipher"] == expect
    reader, out = _run(wire, KeyLog.parse(keylog))
    got = [b"".join(e.data for e in out if isinstance(e, TlsPlaintext) and e.side == s) for s in (0, 1)]
    assert got[0] == bytes.fromhex(plain["client"])
    assert got[1] == bytes.fromhex(plain["server"])
    (info,) = [e for e in out if isinstance(e, TlsSessionInfo)]
    assert info.decrypted and info.version == f"TLSv{version}" and info.sni == "secure.test"
    assert info.alpn_offered == ("http/1.1",) and info.ja3 and info.ja4 and info.ja4.startswith(f"t1{version[-1]}d")
    # The certificate is in clear in TLS 1.2 and read from the decrypted handshake in TLS 1.3.
    assert info.certificate is not None and "CN=secure.test" in info.certificate.subject
    assert FINDING_EXPIRED in info.findings and FINDING_SELF_SIGNED in info.findings


def test_wrong_or_missing_key_is_a_tag(tmp_path: Path) -> None:
    wire, keylog, _ = _record(tmp_path, "1.3", "TLS_AES_128_GCM_SHA256")
    wrong = "\n".join(f"{a} {b} {'00' * (len(c) // 2)}" for a, b, c in (ln.split() for ln in keylog.splitlines() if ln and not ln.startswith("#")))
    reader, out = _run(wire, KeyLog.parse(wrong))
    assert not [e for e in out if isinstance(e, TlsPlaintext)]
    assert "tls_decrypt_failed" in reader.tags and reader.counters["decrypt_failures"] >= 1
    reader, out = _run(wire, KeyLog())
    (info,) = [e for e in out if isinstance(e, TlsSessionInfo)]
    assert "tls_no_key" in info.tags and not info.decrypted and info.sni == "secure.test"
    reader, out = _run(wire, None)  # no key log at all: facts only
    assert any(isinstance(e, TlsClientHelloSeen) for e in out)


def test_session_inside_tls_reaches_the_next_parser(tmp_path: Path) -> None:
    from sensor.proto.session import ProtocolDetected, ProtoConfig, ProtoSession

    wire, keylog, _ = _record(tmp_path, "1.2", "ECDHE-RSA-AES128-GCM-SHA256")
    session = ProtoSession(config=ProtoConfig(keylog=KeyLog.parse(keylog)), ports=(40000, 443))
    out: list[object] = []
    for side, data in wire:
        out.extend(session.feed(side, data, 1.0))
    out.extend(session.close(2.0))
    detected = [e for e in out if isinstance(e, ProtocolDetected)]
    assert detected[0].protocol == "tls"
    assert any(d.nested and d.protocol == "http/1.1" for d in detected)


def test_weak_ciphers() -> None:
    assert is_weak_cipher(0x0005) and is_weak_cipher(0x000A) and is_weak_cipher(0xC012)
    assert not is_weak_cipher(0xC02F) and not is_weak_cipher(0x1301) and not is_weak_cipher(0x00FF)


def test_keylog_bad_lines_counted() -> None:
    log = KeyLog.parse("# comment\nCLIENT_RANDOM zz 00\nCLIENT_RANDOM " + "ab" * 32 + " " + "cd" * 48 + "\nbad\n")
    assert log.bad_lines == 2 and log.get(bytes.fromhex("ab" * 32), "CLIENT_RANDOM") == bytes.fromhex("cd" * 48)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_garbage_and_truncated_records(data: bytes) -> None:
    reader = TlsReader(keylog=KeyLog())
    reader.feed(CLIENT, b"\x16\x03\x01" + len(data).to_bytes(2, "big") + b"\x01" + data, 1.0)
    reader.feed(1, b"\x16\x03\x03\x00\x30\x02" + data, 1.0)
    reader.feed(1, data, 1.0)
    reader.close(2.0)
