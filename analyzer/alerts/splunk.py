"""Splunk HTTP Event Collector (HEC) requests.

``POST <url>`` (normally ``https://splunk:8088/services/collector/event``) with
``Authorization: Splunk <token>``. The body is one JSON envelope per alert, concatenated (HEC's
batch form, no array): ``{"time", "host", "source", "sourcetype", "index"?, "event", "fields"}``
where ``event`` is the OCSF event and ``fields`` are indexed fields (flat strings: severity, kind,
type, service, delivery id) for fast filtering. ``time`` is the alert's epoch seconds.

HEC answers ``{"text": "Success", "code": 0}``; ``code`` 4/3 (bad or missing token) and 6
(invalid data format) are configuration or payload errors, 9 (server busy) is retried.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence

import orjson

from analyzer.alerts.destinations import Destination
from analyzer.alerts.model import AlertEvent
from analyzer.alerts.ocsf import to_ocsf


def envelope(
    alert: AlertEvent, destination: Destination, *, delivery_id: str, host: str | None = None
) -> bytes:
    body: dict[str, object] = {
        "time": round(alert.detected_at.timestamp(), 3),
        "host": host or socket.gethostname(),
        "source": destination.splunk_source,
        "sourcetype": destination.splunk_sourcetype,
        "event": to_ocsf(alert),
        "fields": {
            "severity": alert.severity.label,
            "kind": alert.kind.value,
            "alert_type": alert.type_label,
            "service": alert.service.host,
            "delivery_id": delivery_id,
        },
    }
    if destination.splunk_index:
        body["index"] = destination.splunk_index
    return orjson.dumps(body)


def batch_body(items: Sequence[tuple[AlertEvent, str]], destination: Destination) -> bytes:
    """Several envelopes in one request body: newline-separated JSON objects."""
    return b"\n".join(envelope(alert, destination, delivery_id=delivery_id) for alert, delivery_id in items)


def headers(destination: Destination) -> dict[str, str]:
    return {
        "Authorization": f"Splunk {destination.token}",
        "Content-Type": "application/json",
        "User-Agent": "APICensus-Alerts/1",
    }
