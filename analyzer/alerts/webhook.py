"""Generic webhook: the OCSF event as the JSON body, signed with HMAC-SHA256.

Each delivery is one ``POST`` with ``Content-Type: application/json`` and:

| header | value |
|---|---|
| ``X-APICensus-Delivery`` | the delivery id: the same on every retry of one alert to one destination (idempotency key) |
| ``X-APICensus-Timestamp`` | Unix seconds when this attempt was signed |
| ``X-APICensus-Signature`` | ``v1=<hex HMAC-SHA256(secret, timestamp + "." + delivery id + "." + body)>``; during a key rotation a second ``v1=`` follows, comma-separated |
| ``X-APICensus-Event`` | ``<kind>/<type>``, e.g. ``threat/bola`` |

Verifying a delivery (``verify_signature`` does all of it):

1. recompute the HMAC over ``timestamp.delivery_id.raw_body`` (the raw bytes, before any JSON
   parsing) with the shared secret and compare it to each ``v1=`` value in constant time;
2. reject a timestamp more than ``REPLAY_WINDOW_SECONDS`` (5 minutes) from your clock: a captured
   request cannot be replayed later, and a retry is signed afresh;
3. to refuse a replay *inside* the window, remember delivery ids for the window and drop a
   second one (``seen`` callback) -- the same id also makes retries after a lost response idempotent.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Mapping
from datetime import datetime

import orjson

from analyzer.alerts.model import AlertEvent
from analyzer.alerts.ocsf import to_ocsf

SIGNATURE_HEADER = "X-APICensus-Signature"
TIMESTAMP_HEADER = "X-APICensus-Timestamp"
DELIVERY_HEADER = "X-APICensus-Delivery"
EVENT_HEADER = "X-APICensus-Event"
REPLAY_WINDOW_SECONDS = 300


class SignatureError(ValueError):
    """A webhook delivery that must be rejected; the message says why."""


def signature(secret: str, timestamp: int, delivery_id: str, body: bytes) -> str:
    signed = f"{timestamp}.{delivery_id}.".encode() + body
    return hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()


def sign_headers(
    body: bytes, *, secrets: tuple[str, ...], delivery_id: str, timestamp: int
) -> dict[str, str]:
    if not secrets:
        raise ValueError("a webhook needs at least one secret")
    value = ",".join(f"v1={signature(s, timestamp, delivery_id, body)}" for s in secrets)
    return {SIGNATURE_HEADER: value, TIMESTAMP_HEADER: str(timestamp), DELIVERY_HEADER: delivery_id}


def render(alert: AlertEvent) -> bytes:
    """The webhook body: one OCSF event, compact JSON (sorted keys keep signatures reproducible)."""
    return orjson.dumps(to_ocsf(alert), option=orjson.OPT_SORT_KEYS)


def request(
    alert: AlertEvent, *, secrets: tuple[str, ...], delivery_id: str, now: datetime
) -> tuple[bytes, dict[str, str]]:
    body = render(alert)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "APICensus-Alerts/1",
        EVENT_HEADER: f"{alert.kind.value}/{alert.type_label}",
        **sign_headers(body, secrets=secrets, delivery_id=delivery_id, timestamp=int(now.timestamp())),
    }
    return body, headers


def _header(headers: Mapping[str, str], name: str) -> str | None:
    lowered = name.lower()
    for key, value in headers.items():
        if key.lower() == lowered:
            return value
    return None


def verify_signature(
    body: bytes,
    headers: Mapping[str, str],
    *,
    secret: str,
    now: float,
    tolerance: int = REPLAY_WINDOW_SECONDS,
    seen: Callable[[str], bool] | None = None,
) -> str:
    """Check a received delivery; returns its delivery id or raises :class:`SignatureError`.

    ``seen(delivery_id)`` (optional) returns True when that id was already accepted within the
    window: the delivery is then refused as a replay.
    """
    sig_header = _header(headers, SIGNATURE_HEADER)
    ts_header = _header(headers, TIMESTAMP_HEADER)
    delivery_id = _header(headers, DELIVERY_HEADER)
    if not sig_header or not ts_header or not delivery_id:
        raise SignatureError("missing signature, timestamp or delivery header")
    try:
        timestamp = int(ts_header)
    except ValueError:
        raise SignatureError("timestamp is not an integer") from None
    if abs(now - timestamp) > tolerance:
        raise SignatureError(f"timestamp {timestamp} is outside the {tolerance} s replay window")
    expected = signature(secret, timestamp, delivery_id, body)
    candidates = [part.strip()[3:] for part in sig_header.split(",") if part.strip().startswith("v1=")]
    # Compare against every candidate (no early exit) so timing does not tell which one matched.
    matched = False
    for candidate in candidates:
        matched |= hmac.compare_digest(candidate.encode(), expected.encode())
    if not matched:
        raise SignatureError("signature does not match")
    if seen is not None and seen(delivery_id):
        raise SignatureError(f"delivery {delivery_id} was already received (replay)")
    return delivery_id
