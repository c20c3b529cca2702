"""Analyzer pipeline against real PostgreSQL: counts, idempotence, auth, PII masking, merges,
templating state across restarts."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, inspect, select, text

from analyzer.db import crud
from analyzer.db.models import Endpoint, EndpointStatus, NoisePath, Service, TemplaterState
from analyzer.db.session import make_engine, run_migrations, session_scope
from analyzer.db.settings import AnalyzerSettings
from analyzer.observation import service_name, split_target
from analyzer.pipeline import Analyzer

Make = Callable[..., dict[str, Any]]


@pytest.fixture(scope="module")
def engine(pg_url: str) -> Iterator[Engine]:
    eng = make_engine(pg_url)
    run_migrations(eng)
    yield eng
    eng.dispose()


def truncate_all(engine: Engine) -> None:
    tables = [t for t in inspect(engine).get_table_names() if t != "alembic_version"]
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))


@pytest.fixture(autouse=True)
def _empty_db(engine: Engine) -> None:
    truncate_all(engine)


def run(
    engine: Engine,
    records: list[dict[str, Any]],
    *,
    batch_size: int = 1000,
    pii: bool = False,
    templater: Any = None,
) -> Analyzer:
    analyzer = Analyzer(
        engine,
        AnalyzerSettings(database_url="unused", batch_size=batch_size, pii_enabled=pii),
        templater=templater,
    )
    # Copies: the pipeline annotates records (uid), and tests re-feed the same list.
    try:
        analyzer.feed([dict(r) for r in records])
        analyzer.flush()
    finally:
        analyzer.close()
    return analyzer


def export(engine: Engine) -> dict[tuple[str, str, str], dict[str, Any]]:
    with session_scope(engine) as session:
        doc = crud.export_inventory(session=session)
    return {(e["host"], e["method"], e["path_template"]): e for e in doc["endpoints"]}


def users_traffic(exchange: Make) -> list[dict[str, Any]]:
    records = []
    for i in range(12):
        records.append(
            exchange(
                target=f"/api/users/{1000 + i}?expand=orders&limit={i}",
                ts=1_700_000_000.0 + i * 600,  # 12 x 10 min: spans 3 hours
                client=f"10.0.0.{i % 3}:{40000 + i}",
                status=200 if i % 4 else 404 if i == 4 else 500,
                request_headers=[("Authorization", "Bearer eyJhbGciOi.x.y")],
                response_body=json.dumps(
                    {"id": 1000 + i, "name": "x", "tags": ["a"], "address": {"zip": "1"}}
                ),
            )
        )
    return records


def test_service_name_and_target() -> None:
    assert service_name("API.Example.com:80", "192.0.2.1:80") == "api.example.com"
    assert service_name("api.example.com:8080", None) == "api.example.com:8080"
    assert service_name("", "192.0.2.1:80") == "192.0.2.1"
    assert service_name(None, "192.0.2.1:8443") == "192.0.2.1:8443"
    assert split_target("http://h/a/b?x=1#f") == ("/a/b", "x=1")
    assert split_target("/a?") == ("/a", "")


def test_counts_first_last_status_and_activity(engine: Engine, exchange: Make) -> None:
    records = users_traffic(exchange)
    run(engine, records, batch_size=5)  # several batches: counts add up across upserts
    ep = export(engine)[("api.example.com", "GET", "/api/users/{userId}")]
    assert ep["hits"] == 12
    assert ep["first_seen"] == "2023-11-14T22:13:20Z"
    assert ep["last_seen"] == "2023-11-15T00:03:20Z"
    assert ep["status_codes"] == {"200": 9, "404": 1, "500": 2}
    assert ep["clients"] == 3  # source ports are not clients
    assert ep["servers"] == ["192.0.2.10:80"]
    assert sum(ep["hourly"].values()) == 12 and len(ep["hourly"]) == 3
    params = {(p["in"], p["name"]): p for p in ep["parameters"]}
    assert params[("path", "userId")]["type"] == "integer"
    assert params[("query", "limit")] == {
        "name": "limit",
        "in": "query",
        "type": "integer",
        "types": {"integer": 12},
        "count": 12,
        "presence": 1.0,
    }
    fields = ep["response_body"]
    assert ep["response_bodies"] == 12
    assert ep["content_types"] == {"request": {}, "response": {"application/json": 12}}
    assert fields["id"]["type"] == "integer" and fields["id"]["presence"] == 1.0
    assert fields["tags[]"]["type"] == "string"
    assert fields["address.zip"]["type"] == "string"
    assert ep["unauthenticated"] is False and ep["auth"] == {"bearer": 12}


def test_reingest_is_idempotent(engine: Engine, exchange: Make) -> None:
    records = users_traffic(exchange)
    run(engine, records[:7], batch_size=3)
    before_partial = export(engine)
    run(engine, records, batch_size=4)  # overlaps the first run: only the 5 new ones count
    run(engine, records, batch_size=100)  # the same again: nothing changes
    after = export(engine)
    ep = after[("api.example.com", "GET", "/api/users/{userId}")]
    assert ep["hits"] == 12
    assert sum(ep["status_codes"].values()) == 12
    assert sum(ep["hourly"].values()) == 12
    assert before_partial[("api.example.com", "GET", "/api/users/{userId}")]["hits"] == 7
    with session_scope(engine) as session:
        assert crud.inventory_totals(session=session)["exchanges"] == 12
        assert session.scalar(select(Service.hits)) == 12
    # Duplicates inside one run (same uid twice in the input) count once too.
    dup = exchange(target="/health", uid="same-uid")
    analyzer = run(engine, [dup, dup, dup])
    assert analyzer.stats.duplicates == 2
    assert export(engine)[("api.example.com", "GET", "/health")]["hits"] == 1


def test_unauthenticated_logic(engine: Engine, exchange: Make) -> None:
    records = [
        # 2xx without credentials: unauthenticated.
        exchange(target="/public/catalog", status=200),
        exchange(target="/public/catalog", status=200, request_headers=[("Authorization", "Bearer t")]),
        # Only ever refused without credentials: not unauthenticated.
        exchange(target="/admin/settings", status=401),
        exchange(target="/admin/settings", status=403),
        exchange(target="/admin/settings", status=200, request_headers=[("Authorization", "Basic dTpw")]),
        # Credentials of every other kind.
        exchange(target="/keyed/a", status=200, request_headers=[("X-API-Key", "k1")]),
        exchange(target="/keyed/a", status=200, request_headers=[("X-Auth-Token", "t1")]),
        exchange(target="/keyed/a?api_key=abc", status=200),
        exchange(target="/keyed/a", status=200, request_headers=[("Cookie", "_ga=GA1; sessionid=s3cr3t")]),
        # Analytics cookies are not credentials.
        exchange(target="/tracked/page", status=204, request_headers=[("Cookie", "_ga=GA1.2; _gid=GA1.3")]),
    ]
    eps = {k[2]: v for k, v in export_after(engine, records).items()}
    assert eps["/public/catalog"]["unauthenticated"] is True
    assert eps["/public/catalog"]["unauthenticated_2xx"] == 1
    assert eps["/admin/settings"]["unauthenticated"] is False
    assert eps["/admin/settings"]["unauthenticated_hits"] == 2
    assert eps["/keyed/a"]["unauthenticated"] is False
    assert eps["/keyed/a"]["auth"] == {"api-key-header": 2, "api-key-query": 1, "cookie": 1}
    assert eps["/tracked/page"]["unauthenticated"] is True
    with session_scope(engine) as session:
        assert crud.inventory_totals(session=session)["unauthenticated"] == 2


def export_after(engine: Engine, records: list[dict[str, Any]]) -> dict[tuple[str, str, str], dict[str, Any]]:
    run(engine, records)
    return export(engine)


RAW_PII = {
    "email": "jane.doe.private@example.org",
    "phone": "+1 415-555-0134",
    "card": "4111 1111 1111 1111",
    "ssn": "078-05-1120",
}


def test_pii_stored_masked_never_raw(engine: Engine, exchange: Make) -> None:
    records = []
    for i in range(4):
        records.append(
            exchange(
                method="POST",
                target=f"/v1/customers?email={RAW_PII['email'].replace('@', '%40')}&page={i}",
                status=201,
                request_headers=[("Content-Type", "application/json"), ("Authorization", "Bearer t")],
                request_body=json.dumps(
                    {
                        "customer": {"email": RAW_PII["email"], "phone": RAW_PII["phone"]},
                        "payment": {"card_number": RAW_PII["card"]},
                        "ssn": RAW_PII["ssn"],
                    }
                ),
                response_body=json.dumps({"id": i, "contact": {"email": RAW_PII["email"]}}),
            )
        )
    run(engine, records, pii=True, batch_size=3)
    ep = export(engine)[("api.example.com", "POST", "/v1/customers")]
    findings = {(p["location"], p["field"], p["type"]): p for p in ep["pii"]}
    email = [
        p for (loc, fld, typ), p in findings.items() if typ == "EMAIL_ADDRESS" and "customer.email" in fld
    ]
    assert email, f"no email finding in {sorted(findings)}"
    assert email[0]["count"] == 4
    assert set(ep["pii"][0]) >= {"type", "location", "field", "count", "sample"}
    # Nothing raw anywhere in the database: dump every row of every table as text.
    dump = []
    with engine.connect() as conn:
        for table in inspect(engine).get_table_names():
            dump += [row[0] for row in conn.execute(text(f"SELECT t::text FROM {table} t"))]
    blob = "\n".join(dump)
    for kind, value in RAW_PII.items():
        for variant in {value, value.replace(" ", ""), value.replace("-", "")}:
            assert variant not in blob, f"raw {kind} stored in the database"


class _MergingTemplater:
    """Stand-in templater: literal paths until told to merge, to test re-homing exactly."""

    def __init__(self) -> None:
        self.merge_to: dict[str, str] = {}
        self.pending: list[tuple[str, str, str, str]] = []

    def observe(
        self, host: str, method: str, path: str, status: int | None, shape: str | None = None
    ) -> None:
        pass

    def match(self, host: str, method: str, path: str) -> Any:
        from analyzer.templating import TemplateMatch

        template = self.merge_to.get(path, path)
        return TemplateMatch(template=template, params=(), template_id=template)

    def merge(self, host: str, method: str, old: str, new: str) -> None:
        self.merge_to[old] = new
        self.pending.append((host, method, old, new))

    def drain_merges(self) -> list[tuple[str, str, str, str]]:
        out, self.pending = self.pending, []
        return out

    def consolidate(self) -> list[tuple[str, str, str, str]]:
        return self.drain_merges()

    def to_state(self) -> dict[str, Any]:
        return {"merge_to": self.merge_to}


def test_merges_rehome_counts(engine: Engine, exchange: Make) -> None:
    templater = _MergingTemplater()
    first = [
        exchange(target="/items/apple", status=200, ts=1_700_000_100.0, client="10.0.0.1:1"),
        exchange(target="/items/apple", status=500, ts=1_700_000_200.0, client="10.0.0.2:1"),
        exchange(target="/items/pear", status=200, ts=1_700_000_050.0, client="10.0.0.1:2"),
    ]
    run(engine, first, templater=templater)
    with session_scope(engine) as session:  # ownership set by a person must survive the merge
        session.execute(
            Endpoint.__table__.update().where(Endpoint.path_template == "/items/apple").values(owner="team-a")
        )
    templater.merge("api.example.com", "GET", "/items/apple", "/items/{item}")
    templater.merge("api.example.com", "GET", "/items/pear", "/items/{item}")
    run(
        engine,
        [exchange(target="/items/apple", status=200, ts=1_700_000_300.0, client="10.0.0.3:1")],
        templater=templater,
    )
    eps = export(engine)
    assert [k[2] for k in eps] == ["/items/{item}"]
    ep = eps[("api.example.com", "GET", "/items/{item}")]
    assert ep["hits"] == 4
    assert ep["status_codes"] == {"200": 3, "500": 1}
    assert ep["first_seen"] == "2023-11-14T22:14:10Z" and ep["last_seen"] == "2023-11-14T22:18:20Z"
    assert ep["clients"] == 3
    assert ep["owner"] == "team-a"
    with session_scope(engine) as session:
        assert session.scalar(select(EndpointStatus.count).where(EndpointStatus.status == 200)) == 3


def test_real_templater_merge_rehomes_across_batches(engine: Engine, exchange: Make) -> None:
    fruits = ["apple", "banana", "cherry", "date", "elder", "fig", "grape", "kiwi", "lemon", "mango"]
    records = [
        exchange(target=f"/shop/items/{f}", response_body=json.dumps({"id": i, "name": f, "price": 1.5}))
        for i, f in enumerate(fruits)
    ]
    run(engine, records, batch_size=1)  # one per batch: the first is stored literally, then merged
    eps = export(engine)
    shop = {k[2]: v["hits"] for k, v in eps.items() if k[2].startswith("/shop/")}
    assert sum(shop.values()) == len(fruits)
    assert shop == {"/shop/items/{item}": len(fruits)}


def test_templating_state_survives_restart(engine: Engine, exchange: Make) -> None:
    fruits = ["apple", "banana", "cherry", "date", "elder", "fig"]
    first = run(
        engine,
        [exchange(target=f"/shop/items/{f}", response_body=json.dumps({"id": 1, "name": f})) for f in fruits],
    )
    template_id = export(engine)[("api.example.com", "GET", "/shop/items/{item}")]["template_id"]
    del first
    with session_scope(engine) as session:
        assert session.scalar(select(TemplaterState.id)) == 1
        state = crud.load_templater_state(session=session)
    assert state and state.get("hosts")
    # A new Analyzer builds its Templater from the database (as a new process would): an unseen
    # word value lands on the learned template at once, with the same template id.
    second = run(
        engine, [exchange(target="/shop/items/zucchini", response_body=json.dumps({"id": 2, "name": "z"}))]
    )
    assert second.stats.merges == 0
    eps = export(engine)
    ep = eps[("api.example.com", "GET", "/shop/items/{item}")]
    assert ep["hits"] == len(fruits) + 1
    assert ep["template_id"] == template_id
    assert ("api.example.com", "GET", "/shop/items/zucchini") not in eps


def test_noise_kept_as_statistics(engine: Engine, exchange: Make) -> None:
    records = [exchange(target="/.env", status=404, host="api.example.com") for _ in range(3)]
    records.append(exchange(target="/wp-login.php", status=404, host="api.example.com"))
    analyzer = run(engine, records)
    assert analyzer.stats.noise == 4
    assert export(engine) == {}
    with session_scope(engine) as session:
        rows = session.execute(
            select(NoisePath.path, NoisePath.status, NoisePath.count).order_by(NoisePath.path)
        ).all()
    assert [tuple(r) for r in rows] == [("/.env", 404, 3), ("/wp-login.php", 404, 1)]


def test_bodies_of_every_format(engine: Engine, exchange: Make) -> None:
    boundary = "XyZ"
    multipart = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="title"\r\n\r\nhello\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n'
        f"Content-Type: image/png\r\n\r\n\x89PNG\r\n--{boundary}--\r\n"
    )
    records = [
        exchange(
            method="POST",
            target="/form",
            request_headers=[("Content-Type", "application/x-www-form-urlencoded")],
            request_body="user=bob&age=42&remember=true",
        ),
        exchange(
            method="POST",
            target="/xml",
            request_headers=[("Content-Type", "application/xml")],
            request_body='<order id="7"><line><sku>a</sku></line><line><sku>b</sku></line></order>',
        ),
        exchange(
            method="POST",
            target="/upload",
            request_headers=[("Content-Type", f"multipart/form-data; boundary={boundary}")],
            request_body=multipart,
        ),
        exchange(
            method="POST",
            target="/json",
            request_headers=[("Content-Type", "application/json")],
            request_body=json.dumps({"items": [{"email": "a"}, {"email": "b", "qty": 2}]}),
        ),
    ]
    exported = export_after(engine, records)
    eps = {k[2]: v["request_body"] for k, v in exported.items()}
    assert {p: f["type"] for p, f in eps["/form"].items()} == {
        "user": "string",
        "age": "integer",
        "remember": "boolean",
    }
    assert eps["/xml"]["order.@id"]["type"] == "integer"
    assert eps["/xml"]["order.line[].sku"]["type"] == "string"
    assert eps["/upload"]["file"]["type"] == "file"
    assert exported[("api.example.com", "POST", "/upload")]["content_types"]["request"] == {
        "multipart/form-data": 1
    }
    assert eps["/json"]["items[].email"] == {
        "type": "string",
        "types": {"string": 1},
        "count": 1,
        "presence": 1.0,
    }
    assert eps["/json"]["items[].qty"]["type"] == "integer"


def test_response_only_records_are_skipped(engine: Engine, exchange: Make) -> None:
    record = exchange(target="/x")
    record["method"], record["target"] = None, None
    analyzer = run(engine, [record])
    assert analyzer.stats.skipped == 1
    with session_scope(engine) as session:
        assert session.scalar(select(Endpoint.id)) is None


def test_hostile_and_malformed_records_do_not_break_a_batch(engine: Engine, exchange: Make) -> None:
    weird = [
        exchange(target="/a\x00b/" + "x" * 5000, host="h\x00st.example"),
        exchange(
            method="POST",
            target="/json",
            request_headers=[("Content-Type", "application/json\x00"), ("Authorization", "B\x00earer t")],
            request_body='{"k\\u0000ey": 1, "deep": ' + "[" * 200 + "]" * 200 + "}",
        ),
        exchange(target="http://abs.example/abs/path?q=1", status=200),
    ]
    bad_types = exchange(target="/types")
    bad_types.update(status="200", ts="yesterday", client=5, request_headers="nope", response_headers=[["x"]])
    bad_b64 = exchange(target="/b64")
    bad_b64["response_body"] = {"data": "!!!not base64", "b64": True, "captured": 13}
    analyzer = run(engine, [*weird, bad_types, bad_b64], pii=True)
    # A NUL in the target is no request of an endpoint (issue 10, class 9): a masked statistic.
    assert (analyzer.stats.analysed, analyzer.stats.malformed) == (4, 1)
    eps = export(engine)
    assert not any(k[0] == "hst.example" for k in eps)
    with session_scope(engine) as session:
        junk = crud.export_inventory(session=session)["unmatched"]
    assert [(u["host"], u["kind"], u["sample"][:7], u["count"]) for u in junk] == [
        ("hst.example", "malformed_target", "/a\\x00b", 1)
    ]
    assert ("api.example.com", "GET", "/abs/path") in eps
    assert eps[("api.example.com", "GET", "/types")]["status_codes"] == {"none": 1}
    assert "key" in eps[("api.example.com", "POST", "/json")]["request_body"]


def test_pii_worker_process_gives_the_same_findings(engine: Engine, exchange: Make) -> None:
    """In-process, worker-only, and worker + work stealing: identical PII aggregates."""
    from analyzer.pii import default_detector

    records = [
        exchange(
            method="POST",
            target=f"/v1/signup?ref={i}",
            request_headers=[("Content-Type", "application/json")],
            request_body=json.dumps({"email": f"person{i}@mail.example.org", "nickname": f"n{i}"}),
            response_body=json.dumps({"id": i}),
            ts=1_700_000_000.0 + i,
        )
        for i in range(700)
    ]
    results = []
    for workers, detector in ((0, None), (1, None), (1, default_detector())):
        truncate_all(engine)
        analyzer = Analyzer(
            engine,
            AnalyzerSettings(database_url="unused", batch_size=300, pii_workers=workers),
            detector=detector,
        )
        try:
            analyzer.feed([dict(r) for r in records])
            analyzer.flush()
        finally:
            analyzer.close()
        assert analyzer.stats.pii_errors == 0
        results.append(export(engine)[("api.example.com", "POST", "/v1/signup")]["pii"])
    assert results[0] == results[1] == results[2]
    email = [p for p in results[0] if p["type"] == "EMAIL_ADDRESS"]
    assert email and email[0]["count"] == 700


def test_unavailable_pii_detector_is_reported_not_fatal(
    engine: Engine, exchange: Make, monkeypatch: pytest.MonkeyPatch
) -> None:
    from analyzer.pipeline import pii as pipeline_pii

    def broken() -> Any:
        raise ImportError("presidio_analyzer is not installed")

    monkeypatch.setattr(pipeline_pii, "_default_detector", broken)
    errors: list[str] = []
    for workers in (0, 1):
        truncate_all(engine)
        analyzer = Analyzer(
            engine,
            AnalyzerSettings(database_url="unused", batch_size=300, pii_workers=workers),
            on_error=errors.append,
        )
        try:
            analyzer.feed([exchange(target=f"/ok/{i}") for i in range(450)])
            analyzer.flush()
        finally:
            analyzer.close()
        assert analyzer.stats.pii_errors == 450
        assert analyzer.stats.analysed == 450
    assert errors and "presidio_analyzer is not installed" in errors[0]


def test_imported_spec_templates_win(engine: Engine, exchange: Make) -> None:
    from analyzer.db.models import ApiSpec, SpecOperation

    records = [exchange(target="/rates/usd", host="fx.example.com", ts=1_700_000_000.0 + i) for i in range(3)]
    records += [exchange(target="/rates/eur", host="fx.example.com", ts=1_700_000_100.0)]
    # Traffic alone: two values are too few to call "rates/<word>" a parameter.
    run(engine, records)
    assert {k[2] for k in export(engine) if k[0] == "fx.example.com"} == {"/rates/usd", "/rates/eur"}
    truncate_all(engine)
    with session_scope(engine) as session:
        spec = ApiSpec(name="fx", version="1")
        session.add(spec)
        session.flush()
        session.add(SpecOperation(spec_id=spec.id, host="fx.example.com", method="GET",
                                  path_template="/rates/{currency}"))
    run(engine, records)
    got = {k[2]: v["hits"] for k, v in export(engine).items() if k[0] == "fx.example.com"}
    assert got == {"/rates/{currency}": 4}
