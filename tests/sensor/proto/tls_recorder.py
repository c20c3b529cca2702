"""Run a real TLS server and client on 127.0.0.1 through a recording TCP relay.

``python -m tests.sensor.proto.tls_recorder OUT_DIR VERSION CIPHER`` (VERSION 1.2 or 1.3; CIPHER an
OpenSSL TLS 1.2 cipher name, or for 1.3 the suite, which the parent selects through OPENSSL_CONF)
writes ``wire.bin`` (records in arrival order: side byte, 4-byte length, bytes), ``keylog.txt``
(the client's SSLKEYLOGFILE) and ``plain.json`` (what each side sent, hex).

:func:`record` runs it in a subprocess (a TLS 1.3 suite is chosen through OPENSSL_CONF, which
OpenSSL reads once per process) and :func:`write_pcap` turns the relayed bytes into a capture of
one TCP connection (handshake, segments of at most ``mss`` bytes, FIN), as a mirror port shows it.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import socket
import ssl
import sys
import threading
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

REQUESTS = [b"GET /api/v1/users/%d HTTP/1.1\r\nHost: secure.test\r\n\r\n" % i for i in range(3)]


def _cert(out: Path) -> tuple[Path, Path]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "secure.test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1234).not_valid_before(now - datetime.timedelta(days=2))
            .not_valid_after(now - datetime.timedelta(days=1))  # expired: a posture finding
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("secure.test")]), critical=False)
            .sign(key, hashes.SHA256()))
    cp, kp = out / "cert.pem", out / "key.pem"
    cp.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    kp.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption()))
    return cp, kp


def main(out: Path, version: str, cipher: str) -> None:
    cp, kp = _cert(out)
    tls_version = ssl.TLSVersion.TLSv1_2 if version == "1.2" else ssl.TLSVersion.TLSv1_3
    sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    sctx.load_cert_chain(cp, kp)
    sctx.minimum_version = sctx.maximum_version = tls_version
    sctx.set_alpn_protocols(["http/1.1"])
    cctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    cctx.check_hostname = False
    cctx.verify_mode = ssl.CERT_NONE
    cctx.minimum_version = cctx.maximum_version = tls_version
    cctx.keylog_filename = str(out / "keylog.txt")
    cctx.set_alpn_protocols(["http/1.1"])
    if version == "1.2":
        cctx.set_ciphers(cipher)
    server_sock = socket.create_server(("127.0.0.1", 0))
    relay_sock = socket.create_server(("127.0.0.1", 0))
    wire: list[tuple[int, bytes]] = []
    lock = threading.Lock()
    responses: list[bytes] = []

    def serve() -> None:
        conn, _ = server_sock.accept()
        with sctx.wrap_socket(conn, server_side=True) as tls:
            for i in range(len(REQUESTS)):
                got = b""
                while not got.endswith(b"\r\n\r\n"):
                    got += tls.recv(4096)
                body = b'{"id": %d, "email": "user%d@example.com"}' % (i, i)
                resp = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
                responses.append(resp)
                tls.sendall(resp)
            with contextlib.suppress(OSError, ssl.SSLError):
                tls.unwrap()

    def pipe(src: socket.socket, dst: socket.socket, side: int) -> None:
        while True:
            try:
                data = src.recv(65536)
            except OSError:
                data = b""
            if not data:
                with contextlib.suppress(OSError):
                    dst.shutdown(socket.SHUT_WR)
                return
            with lock:
                wire.append((side, data))
            dst.sendall(data)

    def relay() -> None:
        down, _ = relay_sock.accept()
        up = socket.create_connection(server_sock.getsockname())
        a = threading.Thread(target=pipe, args=(down, up, 0))
        b = threading.Thread(target=pipe, args=(up, down, 1))
        a.start()
        b.start()
        a.join(20)
        b.join(20)
        down.close()
        up.close()

    threads = [threading.Thread(target=serve), threading.Thread(target=relay)]
    for t in threads:
        t.start()
    with socket.create_connection(relay_sock.getsockname(), timeout=20) as raw, \
            cctx.wrap_socket(raw, server_hostname="secure.test") as tls:
        for req in REQUESTS:
            tls.sendall(req)
            want = len(responses) + 1
            got = b""
            while b"}" not in got:
                got += tls.recv(4096)
            assert want
        negotiated = tls.cipher()
        with contextlib.suppress(OSError, ssl.SSLError):
            tls.unwrap()
    for t in threads:
        t.join(20)
    with (out / "wire.bin").open("wb") as f:
        for side, data in wire:
            f.write(bytes([side]) + len(data).to_bytes(4, "big") + data)
    (out / "plain.json").write_text(json.dumps({
        "client": b"".join(REQUESTS).hex(), "server": b"".join(responses).hex(),
        "cipher": negotiated[0] if negotiated else None}))


def record(out: Path, version: str, cipher: str) -> tuple[list[tuple[int, bytes]], str, dict[str, str]]:
    """(relayed chunks as (side, bytes), key log text, plain.json) of one real session."""
    import os
    import subprocess

    env = dict(os.environ)
    if version == "1.3":
        conf = out / "openssl.cnf"
        conf.write_text("openssl_conf = c\n[c]\nssl_conf = s\n[s]\nsystem_default = d\n[d]\n"
                        f"Ciphersuites = {cipher}\n")
        env["OPENSSL_CONF"] = str(conf)
    repo = Path(__file__).resolve().parents[3]
    subprocess.run([sys.executable, "-m", "tests.sensor.proto.tls_recorder", str(out), version, cipher],
                   cwd=repo, env=env, check=True, timeout=60)
    raw = (out / "wire.bin").read_bytes()
    wire = []
    pos = 0
    while pos < len(raw):
        n = int.from_bytes(raw[pos + 1: pos + 5], "big")
        wire.append((raw[pos], raw[pos + 5: pos + 5 + n]))
        pos += 5 + n
    return wire, (out / "keylog.txt").read_text(), json.loads((out / "plain.json").read_text())


def write_pcap(wire: list[tuple[int, bytes]], path: Path, *, client: tuple[str, int] = ("10.1.0.2", 51000),
               server: tuple[str, int] = ("10.1.0.1", 443), mss: int = 1400, ts: float = 1_780_000_000.0) -> None:
    """One TCP connection carrying ``wire`` (side 0 = client) in order, as Ethernet frames."""
    from devtools.synth import PcapWriter, TcpFlow

    flow = TcpFlow(client, server, client_isn=1000, server_isn=5000)
    frames = [flow.syn(), flow.syn_ack(), flow.ack(True)]
    for side, data in wire:
        from_client = side == 0
        for i in range(0, len(data), mss):
            chunk = data[i: i + mss]
            frames.append(flow.data(from_client, flow.sent(from_client), chunk, psh=True))
            flow.advance(from_client, len(chunk))
        frames.append(flow.ack(not from_client))
    frames += [flow.fin(True), flow.fin(False), flow.ack(True)]
    with PcapWriter(path) as writer:
        for frame in frames:
            ts += 0.0005
            writer.write(ts, frame)


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2], sys.argv[3])
