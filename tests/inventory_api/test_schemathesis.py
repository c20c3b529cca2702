"""Schemathesis against the service's own OpenAPI schema: no 5xx, no response outside what the schema declares.

The app runs on a fresh PostgreSQL database filled by the real analyzer from ``sample_pcaps``; every call
carries an admin key, so every operation (reads and mutations) is exercised past authentication.
"""

from __future__ import annotations

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

from tests.inventory_api.conftest import SAMPLE_PCAPS, analyze, auth

MAX_EXAMPLES = 30

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
    ),
)
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

    @given(case=operation.as_strategy())
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    def run(case: Any) -> None:
        case.call_and_validate(headers=admin_headers, checks=CHECKS)

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
