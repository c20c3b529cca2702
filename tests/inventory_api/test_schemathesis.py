"""Schemathesis against the service's own OpenAPI schema: no 5xx, no response outside what the schema declares.

The app runs on a fresh PostgreSQL database filled by the real analyzer from ``sample_pcaps``; every call
carries an admin key, so every operation (reads and mutations) is exercised past authentication.

Beyond what the schema alone suggests, the strategies carry issue 14's inputs (each was a 500): forged
pagination cursors (NUL, lone surrogates, UTC offsets beyond +/-15:59, deep nesting, ids past 64 bits or
of 5,000 digits), PATCH bodies with lone surrogates, OpenAPI imports with integers over 4,300 digits,
YAML dates such as 2001-02-30 or year 0 and lone surrogates, and sensor batches of hostile records
(bench/fuzz_ingest.py). With the database away, every operation must answer the documented 503.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import Engine

from bench.fuzz_ingest import hostile_lines
from tests.inventory_api.conftest import SAMPLE_PCAPS, analyze, auth

MAX_EXAMPLES = 30
MAX_EXAMPLES_DATABASE_DOWN = 10

# Sensor batches (POST /ingest): JSON lines of exchange-shaped records, or arbitrary bytes.
_record = st.fixed_dictionaries(
    {"method": st.sampled_from(["GET", "POST", "X", ""]), "target": st.text(max_size=40)},
    optional={"uid": st.text(max_size=20), "host": st.text(max_size=20), "status": st.integers(-1, 999),
              "ts": st.floats(allow_nan=False, allow_infinity=False)},
)
schemathesis.openapi.media_type(
    "application/x-ndjson",
    st.one_of(
        st.lists(_record, max_size=5).map(lambda rs: b"\n".join(orjson.dumps(r) for r in rs)),
        st.binary(max_size=200),
        st.randoms(use_true_random=False).map(lambda rng: hostile_lines(rng, f"st-{rng.getrandbits(48):x}")),
    ),
)

# OpenAPI imports (POST /specs, parsed as JSON or YAML whatever the media type): small documents
# whose values are what issue 14 found, in JSON and in YAML.
_INFO = 'info: {title: t, version: "1"}\n'
_HOSTILE_SCALARS = st.sampled_from([
    "9" * 4301, "-" + "1" * 5000, "2001-02-30", "0000-01-01", "2001-02-29T25:61:00Z", "1e99999", ".nan",
    '"\\ud800"', '"a\\udfffb"', "!!binary AAAA", "!!timestamp 2001-13-01", "*unknown_alias", "~",
])
_SPEC_DOCS = st.one_of(
    st.tuples(_HOSTILE_SCALARS, st.sampled_from(["version", "title", "default", "example", "maxLength"])).map(
        lambda pair: (
            f"openapi: 3.0.0\ninfo: {{title: t, version: {pair[0]}}}\n" if pair[1] in ("version", "title") else
            f"openapi: 3.0.0\n{_INFO}paths:\n  /a/{{id}}:\n    get:\n      parameters:\n      - name: id\n"
            f"        in: path\n        required: true\n        schema: {{type: integer, {pair[1]}: {pair[0]}}}\n"
            f"      responses: {{'200': {{description: ok}}}}\n"
        ).encode("utf-8", "surrogatepass")
    ),
    st.sampled_from([
        b'{"openapi": "3.0.0", "info": {"title": "t", "version": ' + b"9" * 5000 + b'}, "paths": {}}',
        b'{"swagger": "2.0", "info": {"title": "t", "version": "1"}, "paths": {"/a": {"get": {"responses": '
        b'{"200": {"description": "ok", "schema": {"maximum": ' + b"1" * 4400 + b"}}}}}}}",
        b"openapi: 3.1.0\ninfo: {title: t, version: 1}\nx-when: 2001-02-30\npaths: {}\n",
        b"openapi: 3.1.0\ninfo: {title: t, version: 1}\nx-when: 0000-01-01\npaths: {}\n",
        b'openapi: 3.1.0\ninfo: {title: "\\ud800", version: 1}\npaths: {}\n',
        b"openapi: 3.1.0\ninfo: {title: t, version: 1}\npaths: {}\nx: " + b"[" * 3000 + b"]" * 3000 + b"\n",
    ]),
    st.binary(max_size=100),
)
schemathesis.openapi.media_type("application/yaml", _SPEC_DOCS)

# Forged cursors: what the service hands out is base64 of {"s": sort, "v": value, "id": id}.
_SORTS = {"/api/v1/endpoints": ["path", "-hits", "first_seen", "-last_seen", "method", "id"],
          "/api/v1/services": ["host", "-hits", "first_seen", "-last_seen", "id"]}
_OFFSET_TIMES = st.builds(
    lambda year, hours, minutes, sign: f"{year:04d}-01-01T00:00:00{sign}{hours:02d}:{minutes:02d}",
    st.sampled_from([0, 1, 2000, 9999]), st.integers(0, 23), st.integers(0, 59), st.sampled_from("+-"),
)
_CURSOR_VALUES = st.one_of(
    st.text(max_size=20), st.integers(-(2**70), 2**70), st.floats(), st.none(), st.booleans(), _OFFSET_TIMES,
    st.lists(st.integers(), max_size=3), st.sampled_from(["/a\x00b", "\ud800", "a\udfff", "2001-02-30T00:00:00Z"]),
)
_CURSOR_IDS = st.one_of(st.integers(-(2**70), 2**70), st.floats(), st.text(max_size=5), st.none())


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode("utf-8", "surrogatepass")).decode().rstrip("=")


def _forged_cursor(sort: str) -> st.SearchStrategy[str]:
    return st.one_of(
        st.builds(lambda v, i: json.dumps({"s": sort, "v": v, "id": i}), _CURSOR_VALUES, _CURSOR_IDS).map(_b64),
        st.sampled_from([
            "[" * 3000 + "]" * 3000,
            json.dumps({"s": sort, "v": "/a", "id": 1})[:-1] + ', "x": ' + "[" * 3000 + "]" * 3000 + "}",
            '{"s": "' + sort + '", "v": "/a", "id": ' + "9" * 5000 + "}",
            '{"s": "' + sort + '", "v": "\\ud800", "id": 1}',
        ]).map(_b64),
        st.text(max_size=40),
    )


_SURROGATES = st.sampled_from(["\ud800", "a\udfffb", "\udc00\ud800", ["\ud800"], {"\ud800": "x"}])


SENT: dict[str, list[int]] = {"cursor": [], "surrogate": []}  # hostile inputs sent: statuses answered


def hostile(case: Any, data: st.DataObject) -> str | None:
    """Issue 14's inputs into ``case``: a forged cursor where the operation pages, a lone surrogate
    in a PATCH body."""
    path = case.operation.path
    if path in _SORTS:
        sort = data.draw(st.sampled_from(_SORTS[path]))
        case.query = {**(case.query or {}), "sort": sort, "cursor": data.draw(_forged_cursor(sort))}
        return "cursor"
    if case.method.upper() == "PATCH" and isinstance(case.body, dict):
        key = data.draw(st.sampled_from(sorted(case.body) or ["owner"]))
        # As bytes: json.dumps escapes the surrogate ("\\ud800"), which schemathesis's own
        # validation of a dict body could not even encode.
        case.body = json.dumps({**case.body, key: data.draw(_SURROGATES)}).encode()
        return "surrogate"
    return None
CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance, content_type_conformance]


@pytest.fixture(scope="module")
def admin_headers(pg_url: str, engine: Engine, keys: dict[str, str]) -> dict[str, str]:
    analyze(pg_url, *SAMPLE_PCAPS)
    return auth(keys["admin"])


@pytest.fixture(scope="module")
def app(pg_url: str, admin_headers: dict[str, str]) -> Iterator[Any]:
    from inventory_api.app import create_app
    from inventory_api.settings import ApiSettings

    application = create_app(ApiSettings(database_url=pg_url, max_page_size=100))
    yield application
    application.state.engine.dispose()


@pytest.fixture(scope="module")
def api_schema(app: Any, admin_headers: dict[str, str]) -> Any:
    # The schema itself is served behind a key, like everything but /health.
    return schemathesis.openapi.from_asgi("/api/v1/openapi.json", app, headers=admin_headers)


def _operations() -> list[tuple[str, str]]:
    """Every (method, path) in the app's schema; building the schema touches no database."""
    from inventory_api.app import create_app
    from inventory_api.settings import ApiSettings

    raw = create_app(ApiSettings(database_url="postgresql+psycopg2://unused@127.0.0.1/unused")).openapi()
    return [
        (method.upper(), path)
        for path, item in raw["paths"].items()
        for method in item
        if method in {"get", "put", "post", "patch", "delete", "head", "options"}
    ]


# schemathesis.pytest.from_fixture needs pytest internals that pytest 9 removed: one test per operation,
# each a Hypothesis run over the operation's strategy.
@pytest.mark.parametrize(("method", "path"), _operations(), ids=lambda value: value)
def test_api_conforms_to_its_schema(
    api_schema: Any, admin_headers: dict[str, str], method: str, path: str
) -> None:
    operation = api_schema[path][method]

    @given(case=operation.as_strategy(), data=st.data())
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    def run(case: Any, data: st.DataObject) -> None:
        kind = hostile(case, data) if data.draw(st.booleans()) else None
        response = case.call_and_validate(headers=admin_headers, checks=CHECKS)
        if kind:
            SENT[kind].append(response.status_code)

    run()


def test_what_schemathesis_found_stays_fixed(client: Any, admin_headers: dict[str, str]) -> None:
    """Each was a 500: an offset PostgreSQL refuses (beyond +/-15:59), one overflowing year 1, a NUL."""
    url = "/api/v1/endpoints"
    far = client.get(url, params={"seen_before": "2000-01-01T00:00:00+16:00"}, headers=admin_headers)
    same = client.get(url, params={"seen_before": "1999-12-31T08:00:00Z"}, headers=admin_headers)
    assert far.status_code == same.status_code == 200
    assert far.json() == same.json()
    everything = client.get(url, params={"limit": 100}, headers=admin_headers).json()
    assert everything["items"]
    early = client.get(
        url, params={"seen_since": "0001-01-01T00:00:00+10:00", "limit": 100}, headers=admin_headers
    )
    assert early.status_code == 200 and early.json() == everything

    service_id = client.get("/api/v1/services", headers=admin_headers).json()["items"][0]["id"]
    for method, path, kwargs in [
        ("GET", "/api/v1/findings", {"params": {"service": "\x00"}}),
        ("GET", "/api/v1/endpoints", {"params": {"owner": "a\x00"}}),
        ("GET", "/api/v1/services", {"params": {"q": "\x00"}}),
        ("PATCH", f"/api/v1/services/{service_id}", {"json": {"tags": ["\x00"]}}),
        ("PATCH", f"/api/v1/services/{service_id}", {"json": {"application": "\x00"}}),
    ]:
        response = client.request(method, path, headers=admin_headers, **kwargs)
        assert response.status_code == 422, (method, path, kwargs, response.text)
        assert isinstance(response.json()["detail"], list)


def test_the_hostile_inputs_reached_the_service() -> None:
    """The forged cursors and surrogate PATCH bodies were sent (the operations' tests ran first, in
    file order) and answered 4xx: refused as documented, not silently dropped by the client."""
    if not any(SENT.values()):
        pytest.skip("run with the operations' tests (file order): none of them ran")
    assert len(SENT["cursor"]) >= 10 and len(SENT["surrogate"]) >= 5, SENT
    assert 422 in SENT["cursor"] and 422 in SENT["surrogate"], SENT
    assert all(status < 500 for statuses in SENT.values() for status in statuses), SENT


# -- the database away ---------------------------------------------------------------------------


@schemathesis.check
def documented_503(ctx: Any, response: Any, case: Any) -> bool | None:
    """With the database away: 503 with the documented body, or a 4xx refused before any query
    (a request that is malformed), never another 5xx."""
    if response.status_code >= 500:
        assert response.status_code == 503, f"{response.status_code}: {response.text[:200]}"
        if case.operation.path == "/health":
            assert response.json() == {"status": "degraded", "database": "unreachable"}, response.text[:200]
        else:
            assert response.json() == {"detail": "database unavailable, retry later"}, response.text[:200]
            assert response.headers.get("retry-after") in ("5", ["5"]), response.headers
    return None


DOWN_CHECKS = [documented_503, response_schema_conformance, status_code_conformance, content_type_conformance]


@pytest.fixture(scope="module")
def down_schema() -> Any:
    from inventory_api.app import create_app
    from inventory_api.settings import ApiSettings

    # Nothing listens on port 1: every connection is refused, at once.
    application = create_app(ApiSettings(database_url="postgresql+psycopg2://postgres@127.0.0.1:1/nothing"))
    # The served schema needs a key, and so the database: the same document, built in-process.
    schema = schemathesis.openapi.from_dict(application.openapi())
    schema.app = application
    yield schema
    application.state.engine.dispose()


@pytest.mark.parametrize(("method", "path"), _operations(), ids=lambda value: value)
def test_with_the_database_away_every_operation_answers_the_documented_503(
    down_schema: Any, method: str, path: str
) -> None:
    operation = down_schema[path][method]
    answered: list[int] = []

    @given(case=operation.as_strategy(), data=st.data())
    @settings(max_examples=MAX_EXAMPLES_DATABASE_DOWN, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
    def run(case: Any, data: st.DataObject) -> None:
        if data.draw(st.booleans()):
            hostile(case, data)
        response = case.call_and_validate(headers=auth("apc_" + "x" * 43), checks=DOWN_CHECKS)
        answered.append(response.status_code)

    run()
    assert 503 in answered, answered  # the key lookup itself needs the database: most calls get here
