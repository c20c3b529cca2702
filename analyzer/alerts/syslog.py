"""RFC 5424 syslog messages and their transport framing (pure functions, no sockets).

``<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [SD-ELEMENT] MSG``

- PRI = facility * 8 + severity (critical 2, high 3 error, medium 4 warning, low 5 notice, info 6).
- TIMESTAMP is RFC 3339 UTC with milliseconds; HOSTNAME, APP-NAME, PROCID and MSGID are printable
  US-ASCII without spaces (48/128/32 characters at most), ``-`` when empty.
- One SD-ELEMENT ``[apicensus@32473 ...]`` carries the delivery id (``id``, the receiver's
  idempotency key), kind, type and severity. 32473 is the example Private Enterprise Number of
  RFC 5612, used until a registered one is configured (``SD_ID``). PARAM-VALUE escapes ``"``,
  ``\\`` and ``]`` with a backslash.
- MSG is the CEF line (or OCSF JSON); a non-ASCII MSG is UTF-8 prefixed with the BOM, as RFC 5424
  section 6.4 requires.

Framing: UDP (RFC 5426) sends one message per datagram, truncated to ``udp_max_bytes`` at a
UTF-8 boundary; TCP (RFC 6587 section 3.4.1) and TLS (RFC 5425 section 4.3) use octet counting:
``MSG-LEN SP SYSLOG-MSG``, so messages may contain line breaks.
"""

from __future__ import annotations

import os
import socket
from datetime import datetime

from analyzer.alerts.model import AlertEvent, Severity

SD_ID = "apicensus@32473"
BOM = "\ufeff".encode()
SYSLOG_SEVERITY = {
    Severity.CRITICAL: 2,
    Severity.HIGH: 3,
    Severity.MEDIUM: 4,
    Severity.LOW: 5,
    Severity.INFO: 6,
}


def header_field(value: str | None, limit: int) -> str:
    """A HEADER field: printable US-ASCII (33-126) only, at most ``limit`` characters, ``-`` if empty."""
    cleaned = "".join(ch if 33 <= ord(ch) <= 126 else "_" for ch in (value or ""))[:limit]
    return cleaned or "-"


def escape_param(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def timestamp(value: datetime) -> str:
    # RFC 3339 with at most 6 fractional digits and an explicit Z.
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def build_message(
    alert: AlertEvent,
    msg: str,
    *,
    delivery_id: str,
    facility: int,
    app_name: str = "apicensus",
    hostname: str | None = None,
    procid: str | None = None,
    now: datetime,
) -> bytes:
    """One RFC 5424 message (bytes, no framing)."""
    pri = facility * 8 + SYSLOG_SEVERITY[alert.severity]
    params = {
        "id": delivery_id,
        "uid": alert.uid,
        "kind": alert.kind.value,
        "type": alert.type_label,
        "severity": alert.severity.label,
        "host": alert.service.host,
    }
    sd = "[" + SD_ID + "".join(f' {k}="{escape_param(v)}"' for k, v in params.items()) + "]"
    head = " ".join(
        [
            f"<{pri}>1",
            timestamp(now),
            header_field(hostname or socket.gethostname(), 255),
            header_field(app_name, 48),
            header_field(procid or str(os.getpid()), 128),
            header_field(alert.type_label.replace("/", "."), 32),
            sd,
        ]
    )
    body = msg.encode("utf-8")
    if not msg.isascii():
        body = BOM + body
    # HEADER fields are ASCII by construction; PARAM-VALUEs are UTF-8 (RFC 5424 section 6.3.3).
    return head.encode("utf-8") + b" " + body


def frame_octet_counting(message: bytes) -> bytes:
    """RFC 6587 / RFC 5425 octet-counting frame."""
    return str(len(message)).encode("ascii") + b" " + message


def truncate_utf8(message: bytes, limit: int) -> bytes:
    """At most ``limit`` bytes, cut at a UTF-8 character boundary (RFC 5426 datagrams)."""
    if len(message) <= limit:
        return message
    cut = limit
    while cut > 0 and (message[cut] & 0xC0) == 0x80:
        cut -= 1
    return message[:cut]
