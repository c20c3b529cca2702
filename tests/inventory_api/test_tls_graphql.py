"""Encrypted services and GraphQL posture on PostgreSQL: TLS records and GraphQL exchanges go in
through both writers (``apicensus analyze`` and POST /api/v1/ingest), come out of
GET /api/v1/tls-services and as findings of the registry's TLS and GraphQL rules."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import Engine

from sensor.plumbing.wire import encode_batch
from tests.conftest import make_exchange
from tests.inventory_api.conftest import TestClient, analyze, auth

T0 = 1_780_000_000.0
DAY = 86400.0
GQL = "gql.example"
INTROSPECTION = "query IntrospectionQuery { __schema { types { name fields { name } } } }"
ANONYMOUS_INTROSPECTION = "{ __schema { queryType { name } types { name } } }"
DEEP = "query Deep { a { b { c { d { e { f { g { h { i { j { k { l } } } } } } } } } } } }"


def tls_record(uid: str, *, server: str, sni: str | None, version: str, cipher: str, ts: float,
               cert: dict[str, Any] | None = None, tags: list[str] | None = None) -> dict[str, Any]:
    return {
        "schema": 2, "uid": uid, "ts": ts, "end_ts": ts + 1.0, "client": "10.0.0.5:50000", "server": server,
        "method": None, "target": None, "host": sni, "status": None, "protocol": "tls", "stream_id": None,
        "tags": tags or [],
        "proto": {"sni": sni, "alpn_offered": ["h2", "http/1.1"], "alpn": "h2", "version": version,
                  "cipher": cipher, "ja3": "a" * 32, "ja3s": "b" * 32, "ja4": "t13d1516h2_8daaf6152771_02713d6af862",
                  "certificate": cert, "findings": [], "decrypted": False, "application_bytes": [100, 200]},
    }


def cert(subject: str, *, issuer: str, not_before: float, not_after: float, self_signed: bool) -> dict[str, Any]:
    return {"subject": subject, "issuer": issuer, "not_before": not_before, "not_after": not_after,
            "serial": "01", "san": [subject[3:]], "self_signed": self_signed,
            "signature_algorithm": "sha256WithRSAEncryption", "sha256": "c" * 64}


def graphql(query: str, *, ts: float, authorization: str | None = None, response: Any = None,
            name: str | None = None) -> dict[str, Any]:
    headers = [("Content-Type", "application/json")]
    if authorization:
        headers.append(("Authorization", authorization))
    body: dict[str, Any] = {"query": query}
    if name:
        body["operationName"] = name
    return make_exchange(method="POST", target="/graphql", host=GQL, ts=ts, request_headers=headers,
                         request_body=json.dumps(body), response_body=json.dumps(response or {"data": {}}))


GOOD = cert("CN=good.example", issuer="CN=Real CA", not_before=T0 - 30 * DAY, not_after=T0 + 300 * DAY,
            self_signed=False)
BAD = cert("CN=old.example", issuer="CN=old.example", not_before=T0 - 400 * DAY, not_after=T0 - DAY,
           self_signed=True)


@pytest.fixture(scope="module")
def inventory(pg_url: str, engine: Engine, client: TestClient, keys: dict[str, str],
              tmp_path_factory: pytest.TempPathFactory) -> None:
    tmp = tmp_path_factory.mktemp("tlsgql")
    records = [
        tls_record(f"Cgood{i}.tls", server="10.0.0.1:443", sni="good.example", version="TLSv1.3",
                   cipher="TLS_AES_128_GCM_SHA256", ts=T0 + i, cert=GOOD)
        for i in range(3)
    ]
    records.append(tls_record("Cold1.tls", server="10.0.0.2:443", sni="old.example", version="TLSv1.0",
                              cipher="TLS_RSA_WITH_AES_128_CBC_SHA", ts=T0 + 5, cert=BAD, tags=["tls_no_key"]))
    records.append(tls_record("Cold2.tls", server="10.0.0.2:443", sni="old.example", version="TLSv1.2",
                              cipher="TLS_RSA_WITH_3DES_EDE_CBC_SHA", ts=T0 + 6, tags=["tls_no_key"]))
    records += [graphql(ANONYMOUS_INTROSPECTION, ts=T0 + 10 + i) for i in range(2)]  # no credentials, 200
    records.append(graphql(INTROSPECTION, ts=T0 + 12, authorization="Bearer abc.def.ghi", name="IntrospectionQuery"))
    records.append(graphql(DEEP, ts=T0 + 13, authorization="Bearer abc.def.ghi",
                           response={"data": None, "errors": [{"message": "too deep"}, {"message": "x"}]}))
    path = tmp / "records.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    analyze(pg_url, path)
    analyze(pg_url, path)  # re-analysis counts nothing twice
    # The second writer: a sensor batch over HTTP adds a connection to good.example.
    batch = [tls_record("Cgood9.tls", server="10.0.0.1:443", sni="good.example", version="TLSv1.3",
                        cipher="TLS_AES_128_GCM_SHA256", ts=T0 + 50, cert=GOOD)]
    for _ in range(2):
        response = client.post("/api/v1/ingest", content=encode_batch([orjson.dumps(r) for r in batch]),
                               headers={"Content-Type": "application/x-ndjson", "Content-Encoding": "zstd",
                                        **auth(keys["sensor"])})
        assert response.status_code == 200, response.text


def services(client: TestClient, key: str, **params: Any) -> dict[str, Any]:
    response = client.get("/api/v1/tls-services", params=params, headers=auth(key))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.mark.usefixtures("inventory")
def test_tls_services_listed_per_server_and_sni(client: TestClient, keys: dict[str, str]) -> None:
    items = {i["sni"]: i for i in services(client, keys["viewer"])["items"]}
    assert set(items) == {"good.example", "old.example"}
    good, old = items["good.example"], items["old.example"]
    assert good["server"] == "10.0.0.1:443" and good["connections"] == 4  # 3 analysed + 1 ingested (once)
    assert good["versions"] == {"TLSv1.3": 4} and good["ciphers"] == {"TLS_AES_128_GCM_SHA256": 4}
    assert good["alpn"] == "h2" and good["ja3"] == {"a" * 32: 4} and good["decrypted_connections"] == 0
    assert good["certificate"]["subject"] == "CN=good.example" and good["certificate"]["self_signed"] is False
    assert good["last_seen"].startswith("2026-05-28")
    assert old["connections"] == 2 and old["tags"] == {"tls_no_key": 2}
    assert old["versions"] == {"TLSv1.0": 1, "TLSv1.2": 1}
    assert old["version"] == "TLSv1.2" and old["cipher"] == "TLS_RSA_WITH_3DES_EDE_CBC_SHA"  # the newest
    one = services(client, keys["viewer"], sni="old.example")["items"]
    assert [s["id"] for s in one] == [old["id"]]
    page = services(client, keys["viewer"], limit=1)
    assert len(page["items"]) == 1 and page["next_cursor"] is not None
    rest = services(client, keys["viewer"], limit=1, cursor=page["next_cursor"])
    assert rest["next_cursor"] is None and rest["items"][0]["id"] != page["items"][0]["id"]
    detail = client.get(f"/api/v1/tls-services/{old['id']}", headers=auth(keys["viewer"]))
    assert detail.status_code == 200 and detail.json()["sni"] == "old.example"
    assert client.get("/api/v1/tls-services/999999", headers=auth(keys["viewer"])).status_code == 404


def test_tls_services_need_a_reading_key(client: TestClient, keys: dict[str, str]) -> None:
    assert client.get("/api/v1/tls-services").status_code == 401
    assert client.get("/api/v1/tls-services", headers=auth(keys["sensor"])).status_code == 403
    assert client.get("/api/v1/tls-services/1", headers=auth(keys["sensor"])).status_code == 403
    assert client.get("/api/v1/tls-services", params={"cursor": "x"}, headers=auth(keys["viewer"])).status_code == 422


def findings(client: TestClient, key: str, **params: Any) -> list[dict[str, Any]]:
    response = client.get("/api/v1/findings", params={"limit": 100, **params}, headers=auth(key))
    assert response.status_code == 200, response.text
    assert response.json()["next_cursor"] is None  # one page holds them all here
    items: list[dict[str, Any]] = response.json()["items"]
    return items


@pytest.mark.usefixtures("inventory")
def test_tls_posture_findings(client: TestClient, keys: dict[str, str]) -> None:
    tls = [i for i in findings(client, keys["viewer"]) if i["tls_service"] is not None]
    got = {(i["tls_service"]["sni"], i["kind"], i["severity"]) for i in tls}
    assert got == {
        ("old.example", "tls_deprecated_version", "high"),
        ("old.example", "tls_weak_cipher", "high"),  # 3DES, and CBC-SHA1 on TLS 1.0
        ("old.example", "tls_certificate_expired", "high"),
        ("old.example", "tls_certificate_self_signed", "medium"),
    }
    weak = next(i for i in tls if i["kind"] == "tls_weak_cipher")
    assert {(n["cipher"], n["weakness"]) for n in weak["negotiated"]} == {
        ("TLS_RSA_WITH_AES_128_CBC_SHA", "CBC-SHA1 on TLSv1.0"), ("TLS_RSA_WITH_3DES_EDE_CBC_SHA", "3DES")}
    assert all(i["endpoint"] is None and i["tls_service"]["url"].endswith(f"/api/v1/tls-services/{i['tls_service']['id']}")
               for i in tls)
    only = findings(client, keys["viewer"], kind="tls_certificate_self_signed")
    assert [i["tls_service"]["sni"] for i in only] == ["old.example"]
    assert findings(client, keys["viewer"], service="good.example") == []


@pytest.mark.usefixtures("inventory")
def test_graphql_posture_findings(client: TestClient, keys: dict[str, str]) -> None:
    gql = [i for i in findings(client, keys["viewer"], service=GQL)]
    got = {(i["endpoint"]["path_template"], i["kind"]) for i in gql}
    introspection = "/graphql#query {__schema}"
    assert (introspection, "graphql_introspection_unauthenticated") in got
    # The named introspection was sent with credentials: counted, but not a public schema.
    assert ("/graphql#query IntrospectionQuery", "graphql_introspection_unauthenticated") not in got
    assert ("/graphql#query Deep", "graphql_deep_query") in got
    assert ("/graphql#query Deep", "graphql_errors") in got
    deep = next(i for i in gql if i["kind"] == "graphql_deep_query")
    assert deep["graphql"]["max_depth"] == 12 and deep["graphql"]["limit_depth"] == 10
    errors = next(i for i in gql if i["kind"] == "graphql_errors")
    assert errors["graphql"]["errors"] == 2 and errors["graphql"]["errored_operations"] == 1
    public = next(i for i in gql if i["kind"] == "graphql_introspection_unauthenticated")
    assert public["graphql"]["introspection_unauthenticated"] == 2 and public["severity"] == "high"
    detail = client.get(public["endpoint"]["url"], headers=auth(keys["viewer"]))
    assert detail.status_code == 200 and detail.json()["graphql"]["introspection"] == 2
    rest = client.get("/api/v1/endpoints", params={"service": "good.example"}, headers=auth(keys["viewer"]))
    assert rest.status_code == 200 and rest.json()["items"] == []  # a TLS service is not an endpoint


def test_export_json_has_tls_services(pg_url: str, inventory: None, tmp_path: Path) -> None:
    from tests.inventory_api.conftest import cli

    code, _ = cli("export", "--db", pg_url, "--format", "json", "--output", str(tmp_path / "inv.json"))
    assert code == 0
    document = json.loads((tmp_path / "inv.json").read_text())
    assert sorted(s["sni"] for s in document["tls_services"]) == ["good.example", "old.example"]
    gql = {e["path_template"]: e.get("graphql") for e in document["endpoints"] if e["host"] == GQL}
    assert gql["/graphql#query Deep"] == {
        "operations": 1, "errors": 2, "errored_operations": 1, "introspection": 0,
        "introspection_unauthenticated": 0, "max_depth": 12, "max_width": 1, "max_fields": 12}
    assert gql["/graphql#query {__schema}"]["introspection_unauthenticated"] == 2
    assert gql["/graphql#query IntrospectionQuery"]["introspection"] == 1
    assert all("graphql" not in e for e in document["endpoints"] if e["host"] != GQL)
