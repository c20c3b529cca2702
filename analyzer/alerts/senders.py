"""Transports: send rendered alerts to one destination and report a result per delivery.

- HTTP (webhook, Slack, Splunk HEC) through ``httpx``: connect/read/write timeouts from the
  destination, TLS verification on by default (a CA file or ``tls_verify: false`` per
  destination), redirects never followed, proxy environment variables ignored.
- Syslog over UDP (RFC 5426), TCP (RFC 6587 octet counting) or TLS (RFC 5425) with the standard
  library's ``socket``/``ssl``: TLS 1.2+, certificate and host name checked against the system
  store or ``tls_ca_file`` (``tls_server_name`` when connecting by address), optional client
  certificate for mutual TLS.

Syslog has no acknowledgements: a message written to a TCP/TLS socket that the kernel accepted
counts as delivered, and a UDP datagram as soon as it is sent (a refused port is noticed only
when the kernel reports ICMP unreachable on a later send). Receivers that need exactly-once drop
repeats by the ``id`` parameter of the ``apicensus@32473`` structured-data element.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

import httpx
import orjson

from analyzer.alerts import cef, slack, splunk, syslog, webhook
from analyzer.alerts.destinations import Destination, DestinationKind, SyslogTransport
from analyzer.alerts.ocsf import to_ocsf
from analyzer.alerts.outbox import OutboxItem
from analyzer.alerts.policy import SendResult, classify_http


class Sender(Protocol):
    def send(self, items: Sequence[OutboxItem], *, now: datetime) -> list[SendResult]:
        """One result per item, in order."""
        ...

    def close(self) -> None: ...


def _describe(exc: BaseException) -> str:
    text = str(exc) or exc.__class__.__name__
    return f"{exc.__class__.__name__}: {text}"[:500]


def client_ssl_context(destination: Destination) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=destination.tls_ca_file)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if not destination.tls_verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if destination.tls_client_cert:
        context.load_cert_chain(destination.tls_client_cert, destination.tls_client_key)
    return context


class HttpSender:
    """Webhook, Slack and Splunk HEC over one pooled ``httpx.Client`` per destination."""

    def __init__(self, destination: Destination) -> None:
        self.destination = destination
        timeout = httpx.Timeout(destination.timeout_seconds, connect=min(5.0, destination.timeout_seconds))
        self._client = httpx.Client(
            timeout=timeout,
            verify=client_ssl_context(destination),
            follow_redirects=False,
            trust_env=False,
            headers={"User-Agent": "APICensus-Alerts/1"},
        )

    def close(self) -> None:
        self._client.close()

    def _post(self, body: bytes, headers: dict[str, str]) -> SendResult:
        assert self.destination.url is not None
        try:
            response = self._client.post(self.destination.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return SendResult(ok=False, retryable=True, error=_describe(exc))
        result = classify_http(response.status_code, response.headers.get("Retry-After"))
        if not result.ok:
            detail = response.text[:200].replace("\n", " ")
            result = SendResult(
                ok=False,
                retryable=result.retryable,
                error=f"{result.error} from {self.destination.url.split('?')[0][:200]}: {detail}",
                retry_after=result.retry_after,
            )
        return result

    def send(self, items: Sequence[OutboxItem], *, now: datetime) -> list[SendResult]:
        d = self.destination
        if d.kind is DestinationKind.SPLUNK_HEC:
            body = splunk.batch_body([(i.alert, i.delivery_id) for i in items], d)
            return [self._post(body, splunk.headers(d))] * len(items)
        results: list[SendResult] = []
        for item in items:
            if d.kind is DestinationKind.SLACK:
                body = orjson.dumps(slack.render(item.alert, console_url=d.console_url))
                headers = {"Content-Type": "application/json"}
            else:
                secrets = tuple(s for s in (d.secret, d.previous_secret) if s)
                body, headers = webhook.request(
                    item.alert, secrets=secrets, delivery_id=item.delivery_id, now=now
                )
            result = self._post(body, headers)
            results.append(result)
            if not result.ok and result.retryable:
                # The receiver is down or refusing: do not hammer it with the rest of the batch.
                results.extend([result] * (len(items) - len(results)))
                break
        return results


class SyslogSender:
    """RFC 5424 messages over UDP, TCP or TLS; one connection per batch."""

    def __init__(self, destination: Destination, *, hostname: str | None = None) -> None:
        self.destination = destination
        self.hostname = hostname or socket.gethostname()
        self._context = (
            client_ssl_context(destination) if destination.transport is SyslogTransport.TLS else None
        )

    def close(self) -> None:
        return None

    def message(self, item: OutboxItem, *, now: datetime) -> bytes:
        d = self.destination
        if d.syslog_format == "json":
            text = orjson.dumps(to_ocsf(item.alert)).decode()
        else:
            text = cef.to_cef(item.alert)
        return syslog.build_message(
            item.alert,
            text,
            delivery_id=item.delivery_id,
            facility=d.facility,
            app_name=d.app_name,
            hostname=self.hostname,
            now=now,
        )

    def send(self, items: Sequence[OutboxItem], *, now: datetime) -> list[SendResult]:
        d = self.destination
        assert d.host is not None and d.port is not None
        messages = [self.message(i, now=now) for i in items]
        try:
            if d.transport is SyslogTransport.UDP:
                return self._send_udp(messages)
            return self._send_stream(messages)
        except (OSError, ssl.SSLError) as exc:
            return [SendResult(ok=False, retryable=True, error=_describe(exc))] * len(items)

    def _send_udp(self, messages: list[bytes]) -> list[SendResult]:
        d = self.destination
        assert d.host is not None and d.port is not None
        family = socket.AF_INET6 if ":" in d.host else socket.AF_INET
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            sock.settimeout(d.timeout_seconds)
            sock.connect((d.host, d.port))
            for message in messages:
                sock.send(syslog.truncate_utf8(message, d.udp_max_bytes))
        return [SendResult(ok=True)] * len(messages)

    def _send_stream(self, messages: list[bytes]) -> list[SendResult]:
        d = self.destination
        assert d.host is not None and d.port is not None
        raw = socket.create_connection((d.host, d.port), timeout=d.timeout_seconds)
        conn: socket.socket = raw
        try:
            if self._context is not None:
                conn = self._context.wrap_socket(raw, server_hostname=d.tls_server_name or d.host)
            results: list[SendResult] = []
            for message in messages:
                try:
                    conn.sendall(syslog.frame_octet_counting(message))
                except (OSError, ssl.SSLError) as exc:
                    failed = SendResult(ok=False, retryable=True, error=_describe(exc))
                    return results + [failed] * (len(messages) - len(results))
                results.append(SendResult(ok=True))
            _close_gracefully(conn, min(2.0, d.timeout_seconds))
            return results
        finally:
            conn.close()
            raw.close()


def _close_gracefully(conn: socket.socket, timeout: float) -> None:
    """End the stream so the receiver reads everything: TLS close_notify, then our FIN, then wait
    (bounded) for the receiver's EOF. Closing with unread data (a TLS 1.3 session ticket) would
    make the kernel send a reset, and a reset can discard messages the receiver has not read."""
    try:
        conn.settimeout(timeout)
        if isinstance(conn, ssl.SSLSocket):
            conn = conn.unwrap()
        conn.shutdown(socket.SHUT_WR)
        while conn.recv(4096):
            pass
    except (OSError, ssl.SSLError):
        pass
    finally:
        conn.close()


def make_sender(destination: Destination) -> Sender:
    if destination.kind is DestinationKind.SYSLOG:
        return SyslogSender(destination)
    return HttpSender(destination)
