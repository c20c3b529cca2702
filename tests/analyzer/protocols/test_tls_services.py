"""TLS records folded into encrypted services (pure), and stored and merged on SQLite."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from analyzer.observation import from_record
from analyzer.protocols.tls import MAX_KEYS, OTHER, aggregate_tls, merge_counts, weak_cipher


def record(uid: str, **proto: Any) -> dict[str, Any]:
    base = {"sni": "api.example", "version": "TLSv1.2", "cipher": "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
            "alpn": "h2", "ja3": "j" * 32, "ja4": "t12d_x", "decrypted": False}
    return {"schema": 2, "uid": uid, "ts": 1_780_000_000.0, "method": None, "target": None, "host": None,
            "client": "10.0.0.5:4000", "server": "10.0.0.1:443", "status": None, "protocol": "tls",
            "proto": {**base, **proto}, "tags": ["tls_no_key"]}


def test_records_fold_per_server_and_sni() -> None:
    obs = [from_record(record("a")), from_record(record("b", version="TLSv1.0", cipher="X")),
           from_record(record("c", sni=None)), from_record(record("d", decrypted=True))]
    services = aggregate_tls(obs)
    assert set(services) == {("10.0.0.1:443", "api.example"), ("10.0.0.1:443", "")}
    agg = services[("10.0.0.1:443", "api.example")]
    assert agg.connections == 3 and agg.decrypted == 1 and agg.tags == {"tls_no_key": 3}
    assert agg.negotiated == {"TLSv1.2 TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256": 2, "TLSv1.0 X": 1}


def test_bad_fields_are_unknown_not_errors() -> None:
    bad = record("x", sni=7, version=["?"], cipher=None, alpn={"a": 1}, ja3=3.5, certificate="not a dict")
    (agg,) = aggregate_tls([from_record(bad)]).values()
    assert agg.connections == 1 and not agg.negotiated and not agg.alpns and agg.certificate is None
    cert = {"subject": "CN=x", "not_after": "soon", "san": ["a", 3, "b"] * 50, "self_signed": "yes"}
    (agg,) = aggregate_tls([from_record(record("y", certificate=cert))]).values()
    assert agg.certificate is not None and agg.certificate["not_after"] is None
    assert agg.certificate["self_signed"] is None and len(agg.certificate["san"]) <= 20


def test_count_maps_are_bounded() -> None:
    obs = [from_record(record(f"u{i}", ja3=f"{i:032x}")) for i in range(MAX_KEYS + 10)]
    (agg,) = aggregate_tls(obs).values()
    assert len(agg.ja3) == MAX_KEYS + 1 and agg.ja3[OTHER] == 10
    merged = merge_counts(dict(agg.ja3), {f"new{i}": 1 for i in range(5)})
    assert len(merged) == MAX_KEYS + 1 and merged[OTHER] == 15 and sum(merged.values()) == MAX_KEYS + 15


def test_weak_cipher_names() -> None:
    assert weak_cipher("TLS_RSA_WITH_RC4_128_SHA", "TLSv1.2") == "RC4"
    assert weak_cipher("TLS_RSA_WITH_3DES_EDE_CBC_SHA", "TLSv1.2") == "3DES"
    assert weak_cipher("TLS_RSA_EXPORT_WITH_DES40_CBC_SHA", "TLSv1.2") == "EXPORT"
    assert weak_cipher("TLS_RSA_WITH_NULL_SHA256", "TLSv1.2") == "NULL"
    assert weak_cipher("TLS_RSA_WITH_AES_128_CBC_SHA", "TLSv1.0") == "CBC-SHA1 on TLSv1.0"
    assert weak_cipher("TLS_RSA_WITH_AES_128_CBC_SHA", "TLSv1.2") is None
    assert weak_cipher("TLS_RSA_WITH_AES_128_CBC_SHA256", "TLSv1.0") is None
    assert weak_cipher("TLS_AES_128_GCM_SHA256", "TLSv1.3") is None


def test_stored_merged_and_listed_on_sqlite(tmp_path: Path) -> None:
    from analyzer.db.session import make_engine, run_migrations, session_scope
    from analyzer.inventory.tls_services import list_tls_services, store_tls

    engine = make_engine(f"sqlite:///{tmp_path / 'tls.db'}")
    run_migrations(engine)
    first = aggregate_tls([from_record(record("a")), from_record(record("b", ja3="k" * 32))])
    later = record("c", version="TLSv1.3", cipher="TLS_AES_128_GCM_SHA256")
    later["ts"] += 100
    second = aggregate_tls([from_record(later)])
    with session_scope(engine) as session:
        assert store_tls(session, first) == 1
    with session_scope(engine) as session:
        assert store_tls(session, second) == 0
    with session_scope(engine) as session:
        (svc,) = list_tls_services(session)
    engine.dispose()
    assert svc["connections"] == 3 and svc["version"] == "TLSv1.3"
    assert svc["versions"] == {"TLSv1.2": 2, "TLSv1.3": 1} and svc["ja3"] == {"j" * 32: 2, "k" * 32: 1}
    assert svc["first_seen"] < svc["last_seen"] and svc["tags"] == {"tls_no_key": 3}
