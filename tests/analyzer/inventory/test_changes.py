"""Change history: what each batch adds to the inventory becomes change rows with before/after,
on PostgreSQL and SQLite, through the real pipeline (templater, PII detector, verdicts)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from analyzer.db.models import ChangeEvent, EndpointField, EndpointParam
from analyzer.db.session import make_engine, run_migrations, session_scope
from analyzer.db.settings import AnalyzerSettings
from analyzer.inventory.changes import change_dict, record_unseen
from analyzer.inventory.verdicts import recompute
from analyzer.pipeline import Analyzer

Make = Callable[..., dict[str, Any]]
DAY = 86400.0
T0 = 1_700_000_000.0


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    url = f"sqlite:///{tmp_path / 'changes.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    eng = make_engine(url)
    run_migrations(eng)
    if request.param == "postgresql":
        from sqlalchemy import inspect, text

        tables = [t for t in inspect(eng).get_table_names() if t != "alembic_version"]
        with eng.begin() as conn:
            conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
    yield eng
    eng.dispose()


def run(engine: Engine, records: list[dict[str, Any]], *, pii: bool = False) -> None:
    analyzer = Analyzer(engine, AnalyzerSettings(database_url="unused", batch_size=1000, pii_enabled=pii))
    try:
        analyzer.feed([dict(r) for r in records])
        analyzer.flush()
    finally:
        analyzer.close()


def changes(engine: Engine) -> list[dict[str, Any]]:
    with session_scope(engine) as session:
        return [change_dict(r) for r in session.scalars(select(ChangeEvent).order_by(ChangeEvent.id))]


def by_type(rows: list[dict[str, Any]], change_type: str) -> list[dict[str, Any]]:
    return [r for r in rows if r["type"] == change_type]


def test_batches_record_new_service_endpoint_parameter_field_and_unauthenticated(
    engine: Engine, exchange: Make
) -> None:
    auth = [("Authorization", "Bearer abc.def.ghi")]
    first = [
        exchange(target="/v1/orders?page=1", ts=T0, request_headers=auth, response_body='{"id": 1}'),
        exchange(target="/v1/orders?page=2", ts=T0 + 5, request_headers=auth, response_body='{"id": 2}'),
    ]
    run(engine, first)
    rows = changes(engine)
    assert [r["host"] for r in by_type(rows, "new_service")] == ["api.example.com"]
    new_ep = by_type(rows, "new_endpoint")
    assert [(r["method"], r["path_template"]) for r in new_ep] == [("GET", "/v1/orders")]
    assert new_ep[0]["before"] is None and new_ep[0]["after"]["hits"] == 2
    assert "query:page" in new_ep[0]["after"]["parameters"]
    # Details of a new endpoint are in its row, not rows of their own.
    assert not by_type(rows, "new_parameter") and not by_type(rows, "new_response_field")
    assert new_ep[0]["observed_at"].timestamp() == pytest.approx(T0)

    # Re-analysing the same exchanges changes nothing.
    run(engine, first)
    assert len(changes(engine)) == len(rows)

    later = [
        exchange(target="/v1/orders?page=3&sort=desc", ts=T0 + DAY, response_body='{"id": 3, "total": 9}'),
    ]
    run(engine, later)
    new = changes(engine)[len(rows):]
    assert {r["type"] for r in new} == {"new_parameter", "new_response_field", "unauthenticated_2xx"}
    (param,) = by_type(new, "new_parameter")
    assert param["subject"] == "query:sort" and param["after"]["name"] == "sort"
    (fld,) = by_type(new, "new_response_field")
    assert fld["subject"] == "total" and fld["after"]["types"]
    (unauth,) = by_type(new, "unauthenticated_2xx")
    assert unauth["before"] == {"unauthenticated_2xx": 0} and unauth["after"] == {"unauthenticated_2xx": 1}
    assert unauth["severity"] == "high"
    assert unauth["observed_at"].timestamp() == pytest.approx(T0 + DAY)

    # First/last seen (capture time) and learned-at on parameters and fields.
    with session_scope(engine) as session:
        sort = session.execute(select(EndpointParam).where(EndpointParam.name == "sort")).scalar_one()
        page = session.execute(select(EndpointParam).where(EndpointParam.name == "page")).scalar_one()
        total = session.execute(select(EndpointField).where(EndpointField.path == "total")).scalar_one()
        assert sort.first_seen is not None and sort.first_seen.timestamp() == pytest.approx(T0 + DAY)
        assert page.first_seen is not None and page.first_seen.timestamp() == pytest.approx(T0)
        assert page.last_seen is not None and page.last_seen.timestamp() == pytest.approx(T0 + DAY)
        assert page.learned_at is not None and sort.learned_at is not None
        assert page.learned_at < sort.learned_at
        assert total.first_seen is not None and total.learned_at is not None


def test_new_pii_type_on_a_known_endpoint(engine: Engine, exchange: Make) -> None:
    run(engine, [exchange(target="/users/me", ts=T0, response_body='{"name": "x"}')], pii=True)
    body = json.dumps({"email": "jane.doe@example.org", "phone": "+1 415 555 2671"})
    run(engine, [exchange(target="/users/me", ts=T0 + 60, response_body=body)], pii=True)
    pii = by_type(changes(engine), "new_pii_type")
    assert {r["subject"] for r in pii} >= {"EMAIL_ADDRESS"}
    email = next(r for r in pii if r["subject"] == "EMAIL_ADDRESS")
    assert email["before"] == {"pii_types": []} and "EMAIL_ADDRESS" in email["after"]["pii_types"]
    assert email["severity"] == "medium"
    # The raw value is evidence, not cargo: never in a change row.
    assert "jane.doe@example.org" not in json.dumps(changes(engine), default=str)


def test_unseen_once_per_quiet_spell_and_verdict_transitions(engine: Engine, exchange: Make) -> None:
    run(engine, [exchange(target="/old", ts=T0), exchange(target="/new", ts=T0 + 40 * DAY)])
    with session_scope(engine) as session:
        assert record_unseen(session, days=30) == 1
        assert record_unseen(session, days=30) == 0  # once per quiet spell
    (unseen,) = by_type(changes(engine), "endpoint_unseen")
    assert unseen["path_template"] == "/old" and unseen["after"]["unseen_days"] == pytest.approx(40, abs=0.1)

    spec = {
        "openapi": "3.0.3",
        "info": {"title": "t", "version": "1"},
        "servers": [{"url": "http://api.example.com"}],
        "paths": {
            "/old": {"get": {"responses": {"200": {"description": "ok"}}}},
            "/new": {"get": {"responses": {"200": {"description": "ok"}}}},
        },
    }
    with session_scope(engine) as session:
        recompute(session)  # no spec: both shadow, no previous verdict -> no transitions
    assert not by_type(changes(engine), "became_shadow")
    _import(engine, spec)
    spec2 = json.loads(json.dumps(spec))
    spec2["info"]["version"] = "2"
    spec2["paths"]["/old"]["get"]["deprecated"] = True
    del spec2["paths"]["/new"]
    _import(engine, spec2)
    rows = changes(engine)
    assert [r["path_template"] for r in by_type(rows, "became_shadow")] == ["/new"]
    zombies = {r["path_template"]: r for r in by_type(rows, "became_zombie")}
    # /old is deprecated in the latest spec; /new was removed from it (in an older one only).
    assert zombies["/old"]["after"]["reasons"] == ["deprecated"]
    assert zombies["/new"]["after"]["reasons"] == ["removed"]
    assert zombies["/old"]["before"] == {"verdict": "documented"} and len(zombies) == 2


def _import(engine: Engine, spec: dict[str, Any]) -> None:
    from analyzer.db.session import make_session_factory
    from analyzer.inventory.specs import import_specs, parse_spec

    with make_session_factory(engine)() as session:
        import_specs(session=session, specs=[(parse_spec(json.dumps(spec).encode()), "spec.json")], host=None)
