"""Real local receivers for alert delivery tests: an HTTP server and a syslog listener on 127.0.0.1.

- :class:`HttpReceiver`: a threaded HTTP/1.1 server (plain or TLS) that records every request
  (path, headers, raw body), answers with a programmable status, and can be taken down and
  brought back on the same port (``down()``/``up()``: connections are refused meanwhile).
- :class:`SyslogReceiver`: UDP, TCP or TLS; TCP/TLS streams are split by RFC 6587 octet counting,
  so a wrong frame length shows up as a garbled message, not a silent pass.
- :func:`make_certificates`: a throwaway CA and a server certificate for 127.0.0.1/localhost,
  generated with ``cryptography`` at test time (nothing is checked in).

Parsers for what arrives (RFC 5424, CEF) live in the tests, written from the RFCs, independent of
the product's renderers.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import socket
import socketserver
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Certificates:
    ca_file: Path
    cert_file: Path
    key_file: Path


def make_certificates(
    directory: Path, *, names: tuple[str, ...] = ("localhost",), ips: tuple[str, ...] = ("127.0.0.1",)
) -> Certificates:
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "APICensus test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    sans: list[x509.GeneralName] = [x509.DNSName(n) for n in names]
    sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    out = Certificates(directory / "ca.pem", directory / "server.pem", directory / "server.key")
    out.ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    out.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    out.key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return out


def _server_context(certs: Certificates) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(certs.cert_file, certs.key_file)
    return context


def _free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- HTTP -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReceivedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    received_at: float


Responder = Callable[[ReceivedRequest], tuple[int, dict[str, str], bytes]]


def ok_json(_request: ReceivedRequest) -> tuple[int, dict[str, str], bytes]:
    return 200, {"Content-Type": "application/json"}, b'{"ok": true}'


class HttpReceiver:
    def __init__(self, *, certs: Certificates | None = None, responder: Responder = ok_json) -> None:
        self.certs = certs
        self.responder = responder
        self.requests: list[ReceivedRequest] = []
        self._lock = threading.Lock()
        self._connections: set[Any] = set()
        self.port = _free_port()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.up()

    @property
    def url(self) -> str:
        scheme = "https" if self.certs else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    def up(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in separate writes: without TCP_NODELAY, Nagle holds the body
            # until the client's delayed ACK (40 ms) and every keep-alive request pays for it.
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                return

            def setup(self) -> None:
                super().setup()
                with receiver._lock:
                    receiver._connections.add(self.request)

            def finish(self) -> None:
                with receiver._lock:
                    receiver._connections.discard(self.request)
                super().finish()

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                request = ReceivedRequest(
                    "POST", self.path, {k: v for k, v in self.headers.items()}, body, time.time()
                )
                status, headers, payload = receiver.responder(request)
                with receiver._lock:
                    receiver.requests.append(request)
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        ThreadingHTTPServer.allow_reuse_address = True
        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        if self.certs is not None:
            server.socket = _server_context(self.certs).wrap_socket(server.socket, server_side=True)
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def down(self) -> None:
        """Stop listening and drop kept-alive connections too: a sender sees the receiver gone."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        with self._lock:
            connections, self._connections = list(self._connections), set()
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.down()

    def snapshot(self) -> list[ReceivedRequest]:
        with self._lock:
            return list(self.requests)


# -- syslog ------------------------------------------------------------------------------------------


def split_octet_counted(buffer: bytes) -> tuple[list[bytes], bytes]:
    """Complete RFC 6587 frames in ``buffer`` and the unconsumed rest."""
    messages = []
    while True:
        space = buffer.find(b" ")
        if space <= 0:
            return messages, buffer
        length_text = buffer[:space]
        if not length_text.isdigit():
            raise ValueError(f"bad octet count {length_text[:20]!r}")
        length = int(length_text)
        end = space + 1 + length
        if len(buffer) < end:
            return messages, buffer
        messages.append(buffer[space + 1 : end])
        buffer = buffer[end:]


@dataclass
class SyslogReceiver:
    transport: str  # udp | tcp | tls
    certs: Certificates | None = None
    messages: list[bytes] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    port: int = 0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        receiver = self
        if self.transport == "udp":

            class UdpHandler(socketserver.BaseRequestHandler):
                def handle(self) -> None:
                    data = self.request[0]
                    with receiver._lock:
                        receiver.messages.append(data)

            self._server: socketserver.BaseServer = socketserver.ThreadingUDPServer(
                ("127.0.0.1", 0), UdpHandler
            )
        else:
            context = _server_context(self.certs) if self.transport == "tls" and self.certs else None

            class StreamHandler(socketserver.BaseRequestHandler):
                def handle(self) -> None:
                    conn = self.request
                    try:
                        if context is not None:
                            conn = context.wrap_socket(conn, server_side=True)
                        buffer = b""
                        while True:
                            chunk = conn.recv(65536)
                            if not chunk:
                                break
                            buffer += chunk
                            frames, buffer = split_octet_counted(buffer)
                            with receiver._lock:
                                receiver.messages.extend(frames)
                        if buffer:
                            receiver.errors.append(f"trailing partial frame: {buffer[:50]!r}")
                    except (OSError, ssl.SSLError, ValueError) as exc:
                        receiver.errors.append(f"{exc.__class__.__name__}: {exc}")

            socketserver.ThreadingTCPServer.allow_reuse_address = True
            server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), StreamHandler)
            server.daemon_threads = True
            self._server = server
        self.port = int(self._server.server_address[1])  # type: ignore[index]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def wait_for(self, count: int, timeout: float = 5.0) -> list[bytes]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.messages) >= count:
                    return list(self.messages)
            time.sleep(0.02)
        with self._lock:
            return list(self.messages)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
