"""Storage: migrations on PostgreSQL and SQLite, upsert semantics, ownership kept, re-homing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, inspect, select, text

from analyzer.db import crud
from analyzer.db.models import SCHEMA_REVISION, Base, Endpoint, EndpointField, PiiFinding, Service
from analyzer.db.session import make_engine, run_migrations, session_scope

T0 = datetime(2024, 1, 1, tzinfo=UTC)
T1 = datetime(2024, 1, 2, tzinfo=UTC)


@pytest.fixture(scope="module")
def engine(pg_url: str) -> Iterator[Engine]:
    eng = make_engine(pg_url)
    run_migrations(eng)
    yield eng
    eng.dispose()


def test_migrations_create_every_model_table_and_are_rerunnable(engine: Engine) -> None:
    run_migrations(engine)  # second run: no-op
    tables = set(inspect(engine).get_table_names())
    assert set(Base.metadata.tables) <= tables
    with engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == SCHEMA_REVISION
    columns = {c["name"] for c in inspect(engine).get_columns("endpoints")}
    # Ready for the inventory API: ownership and spec verdict columns exist, nullable.
    assert {"owner", "application", "business_unit", "tags", "review_state", "spec_verdict"} <= columns
    assert {"api_specs", "spec_operations"} <= tables


def test_schema_revision_constant_is_alembic_head(engine: Engine) -> None:
    from alembic.script import ScriptDirectory

    from analyzer.db.models import SCHEMA_REVISION
    from analyzer.db.session import alembic_config, current_revision

    assert ScriptDirectory.from_config(alembic_config()).get_current_head() == SCHEMA_REVISION
    assert current_revision(engine) == SCHEMA_REVISION


def test_migrations_match_models(engine: Engine) -> None:
    """The migration and the models must not drift apart (autogenerate finds nothing to do)."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from analyzer.db.models import include_in_schema_comparison

    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_object": include_in_schema_comparison})
        diff = compare_metadata(context, Base.metadata)
    assert diff == []


def _service(session: object, host: str, hits: int, first: datetime, last: datetime) -> int:
    return crud.upsert_services(
        session=session, rows=[{"host": host, "hits": hits, "first_seen": first, "last_seen": last}]
    )[host]


def _endpoint(
    session: object, service_id: int, template: str, hits: int, first: datetime, last: datetime
) -> int:
    row = {
        "service_id": service_id,
        "method": "GET",
        "path_template": template,
        "template_id": None,
        "hits": hits,
        "first_seen": first,
        "last_seen": last,
        "authenticated_hits": hits,
        "unauthenticated_hits": 0,
        "unauthenticated_2xx": 0,
        "request_bodies": 0,
        "response_bodies": hits,
    }
    return crud.upsert_endpoints(session=session, rows=[row])[(service_id, "GET", template)]


def test_upserts_add_counts_and_widen_time_range(engine: Engine) -> None:
    with session_scope(engine) as s:
        sid = _service(s, "db-upsert.example", 2, T1, T1)
        _service(s, "db-upsert.example", 3, T0, T0)
        eid = _endpoint(s, sid, "/a", 2, T1, T1)
        assert _endpoint(s, sid, "/a", 5, T0, T1) == eid
    with session_scope(engine) as s:
        svc = s.scalars(select(Service).where(Service.host == "db-upsert.example")).one()
        assert (svc.hits, svc.first_seen, svc.last_seen) == (5, T0, T1)
        ep = s.get(Endpoint, eid)
        assert (ep.hits, ep.first_seen, ep.last_seen, ep.response_bodies) == (7, T0, T1, 7)


def test_ownership_survives_reanalysis_upserts(engine: Engine) -> None:
    with session_scope(engine) as s:
        sid = _service(s, "db-owned.example", 1, T0, T0)
        eid = _endpoint(s, sid, "/owned", 1, T0, T0)
        s.execute(
            Endpoint.__table__.update()
            .where(Endpoint.id == eid)
            .values(
                owner="payments",
                application="checkout",
                business_unit="retail",
                tags=["pci"],
                review_state="reviewed",
            )
        )
        s.execute(Service.__table__.update().where(Service.id == sid).values(owner="payments"))
    with session_scope(engine) as s:
        _service(s, "db-owned.example", 1, T1, T1)
        _endpoint(s, sid, "/owned", 1, T1, T1)
    with session_scope(engine) as s:
        ep = s.get(Endpoint, eid)
        assert (ep.owner, ep.application, ep.business_unit, ep.tags, ep.review_state) == (
            "payments",
            "checkout",
            "retail",
            ["pci"],
            "reviewed",
        )
        assert ep.hits == 2
        assert s.get(Service, sid).owner == "payments"


def test_rehome_merges_children_and_keeps_first_pii_sample(engine: Engine) -> None:
    with session_scope(engine) as s:
        sid = _service(s, "db-merge.example", 3, T0, T1)
        old = _endpoint(s, sid, "/u/alice", 1, T0, T0)
        new = _endpoint(s, sid, "/u/{user}", 2, T1, T1)
        crud.upsert_endpoint_children(
            session=s,
            rows_by_model={
                EndpointField: [
                    {"endpoint_id": old, "part": "response", "path": "id", "type": "integer", "count": 1},
                    {"endpoint_id": new, "part": "response", "path": "id", "type": "integer", "count": 2},
                    {"endpoint_id": old, "part": "response", "path": "nick", "type": "string", "count": 1},
                ],
                PiiFinding: [
                    {
                        "endpoint_id": old,
                        "type": "EMAIL_ADDRESS",
                        "location": "response",
                        "field": "email",
                        "count": 1,
                        "sample": "a***@e***.com",
                        "first_seen": T0,
                        "last_seen": T0,
                    },
                    {
                        "endpoint_id": new,
                        "type": "EMAIL_ADDRESS",
                        "location": "response",
                        "field": "email",
                        "count": 2,
                        "sample": "b***@e***.com",
                        "first_seen": T1,
                        "last_seen": T1,
                    },
                ],
            },
        )
        assert crud.rehome_endpoint(
            session=s,
            host="db-merge.example",
            method="GET",
            old_template="/u/alice",
            new_template="/u/{user}",
        )
        # Unknown old template: nothing to do.
        assert not crud.rehome_endpoint(
            session=s, host="db-merge.example", method="GET", old_template="/nope", new_template="/u/{user}"
        )
    with session_scope(engine) as s:
        assert s.get(Endpoint, old) is None
        ep = s.get(Endpoint, new)
        assert (ep.hits, ep.first_seen, ep.last_seen) == (3, T0, T1)
        fields = dict(
            s.execute(
                select(EndpointField.path, EndpointField.count).where(EndpointField.endpoint_id == new)
            ).all()
        )
        assert fields == {"id": 3, "nick": 1}
        pii = s.execute(select(PiiFinding).where(PiiFinding.endpoint_id == new)).scalars().one()
        assert (pii.count, pii.sample, pii.first_seen, pii.last_seen) == (3, "b***@e***.com", T0, T1)


def test_rehome_to_new_template_renames(engine: Engine) -> None:
    with session_scope(engine) as s:
        sid = _service(s, "db-rename.example", 1, T0, T0)
        eid = _endpoint(s, sid, "/v/1", 1, T0, T0)
        assert crud.rehome_endpoint(
            session=s, host="db-rename.example", method="GET", old_template="/v/1", new_template="/v/{id}"
        )
    with session_scope(engine) as s:
        assert s.get(Endpoint, eid).path_template == "/v/{id}"


def test_sqlite_embedded_database(tmp_path: object) -> None:
    """SQLite is the embedded default: same migrations, same upserts."""
    eng = make_engine(f"sqlite:///{tmp_path}/inventory.db")
    try:
        run_migrations(eng)
        run_migrations(eng)
        with session_scope(eng) as s:
            sid = _service(s, "lite.example", 1, T1, T1)
            _service(s, "lite.example", 1, T0, T0)
            eid = _endpoint(s, sid, "/x", 1, T1, T1)
            _endpoint(s, sid, "/x", 2, T0, T0)
            crud.save_templater_state(session=s, state={"a": 1})
            crud.save_templater_state(session=s, state={"a": 2})
        with session_scope(eng) as s:
            ep = s.get(Endpoint, eid)
            assert ep.hits == 3
            assert ep.first_seen.replace(tzinfo=UTC) == T0 and ep.last_seen.replace(tzinfo=UTC) == T1
            assert crud.load_templater_state(session=s) == {"a": 2}
            doc = crud.export_inventory(session=s)
        assert doc["endpoints"][0]["first_seen"] == "2024-01-01T00:00:00Z"
    finally:
        eng.dispose()


def test_error_reason_is_one_line_of_the_drivers_message() -> None:
    """What every command prints and the ingest child answers for a database error."""
    from sqlalchemy.exc import OperationalError

    from analyzer.db.session import error_reason, make_engine

    engine = make_engine("postgresql://postgres@127.0.0.1:1/nothing_listens_here", connect_args={"connect_timeout": 2})
    with pytest.raises(OperationalError) as caught:
        engine.connect()
    engine.dispose()
    assert "\n" in str(caught.value)  # SQLAlchemy's message runs over lines (SQL, background link)
    reason = error_reason(caught.value)
    assert "\n" not in reason and "127.0.0.1" in reason and reason == str(caught.value.orig).strip().splitlines()[0]
    # A driver error without text: the type, where the commands' own line raised IndexError.
    assert error_reason(OperationalError("SELECT 1", {}, Exception())) == "OperationalError"
