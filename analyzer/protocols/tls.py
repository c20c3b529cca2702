"""TLS connections as encrypted services (pure functions): the sensor's ``tls`` records of a
batch folded per (server ip:port, SNI).

Each record (README, record schema 2: ``proto`` has ``sni``, ``alpn``, ``version``, ``cipher``,
``ja3``/``ja3s``/``ja4``, ``certificate``, ``decrypted``) adds one connection. What varies per
connection is counted in bounded maps (:data:`MAX_KEYS` entries, the rest under ``"other"``):
``negotiated`` ("TLSv1.2 TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"), ALPN, fingerprints and the
record's tags (``tls_no_key``, ``tls_decrypt_failed``...: a key that is missing or wrong is a
count here, never an error). The certificate kept is the newest connection's leaf.

Posture is judged from these facts by the findings registry (analyzer.inventory.findings):
:func:`weak_cipher` and :data:`DEPRECATED_VERSIONS` are its vocabulary.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from analyzer.observation import Observation, clean_text

PROTOCOL_TLS = "tls"
MAX_KEYS = 32  # distinct keys per count map of one service; more go to OTHER
OTHER = "other"
MAX_SAN = 20
DEPRECATED_VERSIONS = frozenset({"SSLv3", "TLSv1.0", "TLSv1.1"})
# Cipher name parts that make a suite weak (IANA names, as the sensor reports them).
_WEAK_PARTS = ("_NULL_", "WITH_NULL", "_EXPORT", "_RC4_", "_RC2_", "_DES_", "_DES40_", "_3DES_", "_anon_", "_MD5")

TlsKey = tuple[str, str]  # (server "ip:port", SNI or "")


def weak_cipher(cipher: str, version: str | None) -> str | None:
    """Why ``cipher`` (negotiated under ``version``) is weak, else None: NULL, EXPORT, RC4/RC2,
    DES/3DES, anonymous key exchange, MD5 MACs; CBC with SHA-1 on TLS 1.0 (BEAST, Lucky13)."""
    name = cipher + "_"
    for part in _WEAK_PARTS:
        if part in name:
            return part.strip("_").replace("WITH_", "")
    if version in ("TLSv1.0", "SSLv3") and "_CBC_SHA_" in name:
        return "CBC-SHA1 on " + version
    return None


@dataclass(slots=True)
class TlsAgg:
    """One service's connections in a batch."""

    connections: int = 0
    decrypted: int = 0
    first: float = float("inf")
    last: float = float("-inf")
    version: str | None = None  # of the newest connection
    cipher: str | None = None
    alpn: str | None = None
    latest: float = float("-inf")
    negotiated: Counter[str] = field(default_factory=Counter)
    alpns: Counter[str] = field(default_factory=Counter)
    ja3: Counter[str] = field(default_factory=Counter)
    ja3s: Counter[str] = field(default_factory=Counter)
    ja4: Counter[str] = field(default_factory=Counter)
    tags: Counter[str] = field(default_factory=Counter)
    certificate: dict[str, Any] | None = None  # newest leaf (see _certificate)
    certificate_ts: float = float("-inf")


def _text(value: Any, limit: int) -> str | None:
    return clean_text(value, limit) if isinstance(value, str) and value else None


def _certificate(value: Any) -> dict[str, Any] | None:
    if not isinstance(value, Mapping):
        return None
    not_before, not_after = value.get("not_before"), value.get("not_after")
    san = value.get("san")
    return {
        "subject": _text(value.get("subject"), 512),
        "issuer": _text(value.get("issuer"), 512),
        "not_before": float(not_before) if isinstance(not_before, int | float) else None,
        "not_after": float(not_after) if isinstance(not_after, int | float) else None,
        "self_signed": value.get("self_signed") if isinstance(value.get("self_signed"), bool) else None,
        "sha256": _text(value.get("sha256"), 64),
        "san": [clean_text(s, 255) for s in san[:MAX_SAN] if isinstance(s, str)] if isinstance(san, list) else [],
    }


def bump(counts: Counter[str], key: str | None, n: int = 1) -> None:
    """Count ``key`` in a bounded map: a new key past MAX_KEYS is counted as OTHER."""
    if not key:
        return
    if key in counts or len(counts) < MAX_KEYS:
        counts[key] += n
    else:
        counts[OTHER] += n


def merge_counts(stored: Mapping[str, Any] | None, new: Mapping[str, int]) -> dict[str, int]:
    """A stored map plus a batch's counts, bounded as :func:`bump` bounds them."""
    out: Counter[str] = Counter()
    for k, v in (stored or {}).items():
        if isinstance(k, str) and isinstance(v, int):
            bump(out, k, v)
    for k, v in new.items():
        bump(out, k, v)
    return dict(out)


def service_key(obs: Observation) -> TlsKey:
    proto = obs.proto if isinstance(obs.proto, Mapping) else {}
    return (clean_text(obs.server or "", 64), _text(proto.get("sni"), 255) or "")


def aggregate_tls(observations: Iterable[Observation]) -> dict[TlsKey, TlsAgg]:
    """The batch's ``tls`` records per service (other observations are ignored)."""
    out: dict[TlsKey, TlsAgg] = {}
    for obs in observations:
        if obs.protocol != PROTOCOL_TLS:
            continue
        proto = obs.proto if isinstance(obs.proto, Mapping) else {}
        key = service_key(obs)
        agg = out.get(key)
        if agg is None:
            agg = out[key] = TlsAgg()
        ts = obs.ts
        agg.connections += 1
        agg.first = min(agg.first, ts)
        agg.last = max(agg.last, obs.end_ts if isinstance(obs.end_ts, float) and obs.end_ts > ts else ts)
        if proto.get("decrypted") is True:
            agg.decrypted += 1
        version, cipher, alpn = _text(proto.get("version"), 16), _text(proto.get("cipher"), 128), _text(
            proto.get("alpn"), 64)
        if version or cipher:
            bump(agg.negotiated, f"{version or '?'} {cipher or '?'}")
            if ts >= agg.latest:
                agg.latest, agg.version, agg.cipher, agg.alpn = ts, version, cipher, alpn
        bump(agg.alpns, alpn)
        bump(agg.ja3, _text(proto.get("ja3"), 64))
        bump(agg.ja3s, _text(proto.get("ja3s"), 64))
        bump(agg.ja4, _text(proto.get("ja4"), 64))
        for tag in obs.tags[:16]:
            bump(agg.tags, clean_text(tag, 64))
        cert = _certificate(proto.get("certificate"))
        if cert is not None and ts >= agg.certificate_ts:
            agg.certificate, agg.certificate_ts = cert, ts
    return out
