"""The ``tls_services`` table: written per batch (inside the batch's transaction, under the
inventory lock both writers hold), read by the export, the API and the findings rules.

A batch's services are merged into their stored rows read-modify-write: the count maps are JSON
and merge in Python (bounded, analyzer.protocols.tls.merge_counts), which is safe because every
writer holds the inventory lock (analyzer/db/locking.py) while it writes.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from analyzer.db.models import TlsService
from analyzer.protocols.tls import TlsAgg, TlsKey, merge_counts

_MAPS = ("negotiated", "alpns", "ja3", "ja3s", "ja4", "tags")
_CHUNK = 200


def _dt(ts: float | None) -> datetime | None:
    if ts is None or not -62135596800.0 < ts < 253402300800.0:
        return None
    return datetime.fromtimestamp(ts, UTC)


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def store_tls(session: Session, services: Mapping[TlsKey, TlsAgg]) -> int:
    """Merge a batch's TLS services into the table; returns how many rows were new."""
    keys = list(services)
    existing: dict[TlsKey, TlsService] = {}
    for start in range(0, len(keys), _CHUNK):
        chunk = keys[start: start + _CHUNK]
        rows = session.scalars(select(TlsService).where(tuple_(TlsService.server, TlsService.sni).in_(chunk)))
        existing.update({(r.server, r.sni): r for r in rows})
    created = 0
    for key, agg in services.items():
        first, last = _dt(agg.first) or datetime.fromtimestamp(0, UTC), _dt(agg.last) or datetime.fromtimestamp(0, UTC)
        row = existing.get(key)
        if row is None:
            row = TlsService(server=key[0], sni=key[1], connections=0, decrypted=0, first_seen=first,
                             last_seen=last, **{m: {} for m in _MAPS})
            session.add(row)
            created += 1
        row.connections = (row.connections or 0) + agg.connections
        row.decrypted = (row.decrypted or 0) + agg.decrypted
        row.first_seen = min(_utc(row.first_seen) or first, first)
        newer = last >= (_utc(row.last_seen) or last)
        row.last_seen = max(_utc(row.last_seen) or last, last)
        if newer or row.version is None:
            row.version = agg.version or row.version
            row.cipher = agg.cipher or row.cipher
            row.alpn = agg.alpn or row.alpn
        for name in _MAPS:
            setattr(row, name, merge_counts(getattr(row, name), getattr(agg, name)))
        cert = agg.certificate
        if cert is not None and (newer or row.cert_sha256 is None):
            row.cert_subject = cert["subject"]
            row.cert_issuer = cert["issuer"]
            row.cert_not_before = _dt(cert["not_before"])
            row.cert_not_after = _dt(cert["not_after"])
            row.cert_self_signed = cert["self_signed"]
            row.cert_sha256 = cert["sha256"]
            row.cert_san = cert["san"]
    session.flush()
    return created


def _iso(value: datetime | None) -> str | None:
    v = _utc(value)
    return v.isoformat() if v is not None else None


def versions_of(negotiated: Mapping[str, int]) -> dict[str, int]:
    out: dict[str, int] = {}
    for key, n in negotiated.items():
        version = key.split(" ", 1)[0]
        out[version] = out.get(version, 0) + n
    return out


def ciphers_of(negotiated: Mapping[str, int]) -> dict[str, int]:
    out: dict[str, int] = {}
    for key, n in negotiated.items():
        cipher = key.split(" ", 1)[1] if " " in key else key
        out[cipher] = out.get(cipher, 0) + n
    return out


def service_dict(row: TlsService) -> dict[str, Any]:
    """One service as the export and the API show it."""
    negotiated = dict(row.negotiated or {})
    certificate = None
    if row.cert_sha256 is not None or row.cert_subject is not None:
        certificate = {
            "subject": row.cert_subject, "issuer": row.cert_issuer,
            "not_before": _iso(row.cert_not_before), "not_after": _iso(row.cert_not_after),
            "self_signed": row.cert_self_signed, "sha256": row.cert_sha256, "san": list(row.cert_san or ()),
        }
    return {
        "id": row.id,
        "server": row.server,
        "sni": row.sni or None,
        "connections": row.connections,
        "decrypted_connections": row.decrypted,
        "version": row.version,
        "cipher": row.cipher,
        "alpn": row.alpn,
        "versions": versions_of(negotiated),
        "ciphers": ciphers_of(negotiated),
        "negotiated": negotiated,
        "alpn_counts": dict(row.alpns or {}),
        "ja3": dict(row.ja3 or {}),
        "ja3s": dict(row.ja3s or {}),
        "ja4": dict(row.ja4 or {}),
        "tags": dict(row.tags or {}),
        "certificate": certificate,
        "first_seen": _iso(row.first_seen),
        "last_seen": _iso(row.last_seen),
    }


def list_tls_services(session: Session, *, sni: str | None = None, server: str | None = None,
                      limit: int | None = None, after_id: int = 0) -> list[dict[str, Any]]:
    """Services ordered by id (keyset: ``after_id``), optionally one SNI or server."""
    stmt = select(TlsService).where(TlsService.id > after_id).order_by(TlsService.id)
    if sni is not None:
        stmt = stmt.where(TlsService.sni == sni)
    if server is not None:
        stmt = stmt.where(TlsService.server == server)
    if limit is not None:
        stmt = stmt.limit(limit)
    return [service_dict(row) for row in session.scalars(stmt)]


def add_tls_to_export(session: Session, document: dict[str, Any]) -> dict[str, Any]:
    """``export --format json``: the inventory document with its ``tls_services``."""
    document["tls_services"] = list_tls_services(session)
    return document
