"""Spec import bounds (issue 14): a small document that would multiply servers x paths x methods
is refused fast, naming the limit; values that cannot be built are 422, never 500."""

from __future__ import annotations

import contextlib
import io
import json
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine

from tests.inventory_api.conftest import TestClient, auth, cli, spec_rows


def multiplying_document(servers: int = 60, paths: int = 2_000) -> bytes:
    """~100 KB of JSON that would store servers x paths x 8 operations (here 960,000)."""
    item = {m: {"responses": {}} for m in ("get", "put", "post", "delete", "options", "head", "patch", "trace")}
    return json.dumps(
        {
            "openapi": "3.0.3",
            "info": {"title": "Multiplier", "version": "1"},
            "servers": [{"url": f"/s{i}"} for i in range(servers)],
            "paths": {f"/p{i}": item for i in range(paths)},
        },
        separators=(",", ":"),
    ).encode()


def test_a_multiplying_document_is_413_fast_naming_the_limit(
    client: TestClient, keys: dict[str, str], engine: Engine
) -> None:
    before = spec_rows(engine)
    body = multiplying_document()
    started = time.monotonic()
    response = client.post("/api/v1/specs", content=body, headers=auth(keys["analyst"]))
    elapsed = time.monotonic() - started
    assert response.status_code == 413, response.text
    assert "APICENSUS_SPEC_MAX_OPERATIONS" in response.json()["detail"]
    assert "20000" in response.json()["detail"]
    assert elapsed < 5, elapsed
    assert spec_rows(engine) == before


def test_too_many_servers_is_413(client: TestClient, keys: dict[str, str]) -> None:
    response = client.post("/api/v1/specs", content=multiplying_document(servers=500, paths=1),
                           headers=auth(keys["admin"]))
    assert response.status_code == 413
    assert "APICENSUS_SPEC_MAX_SERVERS" in response.json()["detail"]


def test_the_cli_names_the_limit(tmp_path: Path, pg_url: str, engine: Engine) -> None:
    path = tmp_path / "multiplier.json"
    path.write_bytes(multiplying_document())
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code, out = cli("spec", "import", str(path), "--db", pg_url)
    assert code == 2 and out == ""
    assert "APICENSUS_SPEC_MAX_OPERATIONS" in err.getvalue() and "nothing imported" in err.getvalue()


def test_the_limit_is_a_setting(monkeypatch: pytest.MonkeyPatch, client: TestClient, keys: dict[str, str]) -> None:
    """Both ways, on a small document (2 x 30 x 8 = 480 operations): refused under a lower limit,
    stored under a higher one (the default, 20,000, is exercised above)."""
    document = multiplying_document(servers=2, paths=30)
    monkeypatch.setenv("APICENSUS_SPEC_MAX_OPERATIONS", "400")
    refused = client.post("/api/v1/specs", content=document, headers=auth(keys["admin"]), params={"host": "few.example"})
    assert refused.status_code == 413 and "400" in refused.json()["detail"], refused.text
    monkeypatch.setenv("APICENSUS_SPEC_MAX_OPERATIONS", "500")
    response = client.post("/api/v1/specs", content=document, headers=auth(keys["admin"]), params={"host": "many.example"})
    assert response.status_code == 201, response.text
    assert response.json()["operations"] == 2 * 30 * 8


UNBUILDABLE = [
    # A JSON integer over Python's 4,300-digit conversion limit.
    (b'{"openapi": "3.0.0", "info": {"title": "x", "x-n": ' + b"9" * 5000 + b'}, "paths": {}}', "invalid JSON"),
    (b"openapi: 3.0.0\ninfo: {title: x, x-n: " + b"9" * 5000 + b"}\npaths: {}\n", "invalid YAML value"),
    # YAML timestamps the loader recognises but cannot build.
    (b"openapi: 3.0.0\ninfo: {title: x, x-released: 2001-02-30}\npaths: {}\n", "invalid YAML value"),
    (b"openapi: 3.0.0\ninfo: {title: x, x-released: 0000-01-01}\npaths: {}\n", "invalid YAML value"),
    # Lone surrogates, as JSON escapes and as YAML escapes.
    (b'{"openapi": "3.0.0", "info": {"title": "x\\ud800"}, "paths": {}}', "lone surrogate"),
    (b'openapi: 3.0.0\ninfo: {title: "x\\ud800"}\npaths: {}\n', "invalid YAML"),
    (b'{"openapi": "3.0.0", "info": {"title": "x"}, "paths": {"/\\udfff": {}}}', "lone surrogate"),
]


@pytest.mark.parametrize(("document", "message"), UNBUILDABLE)
def test_unbuildable_values_are_422(
    client: TestClient, keys: dict[str, str], engine: Engine, document: bytes, message: str
) -> None:
    before = spec_rows(engine)
    response = client.post("/api/v1/specs", content=document, headers=auth(keys["admin"]))
    assert response.status_code == 422, response.text
    assert message in response.json()["detail"]
    assert spec_rows(engine) == before
