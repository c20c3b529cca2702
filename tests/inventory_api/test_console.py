"""The web console (/ui/) through HTTP: sign-in, session cookie, CSRF, roles, workflow, specs.

Real PostgreSQL filled by the real analyzer from the sample captures; the app in-process
(Starlette's TestClient); the browser test (test_console_browser.py) drives the same pages in chromium.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from analyzer.db.models import (
    ConsoleSession,
    FindingActivity,
    FindingState,
    Service,
    SuppressionRule,
    ThreatEvent,
)
from analyzer.db.session import make_session_factory
from tests.inventory_api.conftest import SAMPLE_PCAPS, TestClient, analyze, spec_rows

DATA = Path(__file__).parent / "data"
PAGES = ("/ui/overview", "/ui/catalog", "/ui/findings", "/ui/actors", "/ui/pii", "/ui/specs", "/ui/changes",
         "/ui/settings", "/ui/endpoints/1", "/ui/catalog/rows", "/ui/pii/report.html", "/ui/pii/report.csv")


@pytest.fixture(scope="module")
def app(pg_url: str, engine: Engine) -> Iterator[object]:
    from inventory_api.app import create_app
    from inventory_api.settings import ApiSettings

    analyze(pg_url, *SAMPLE_PCAPS)
    application = create_app(ApiSettings(database_url=pg_url))
    yield application
    application.state.console_snapshots.close()  # before the module's database is dropped


def browser(app: object, base_url: str = "http://testserver") -> TestClient:
    return TestClient(app, base_url=base_url, follow_redirects=False)  # type: ignore[arg-type]


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, "no CSRF field in the form"
    return match.group(1)


def sign_in(app: object, key: str, base_url: str = "http://testserver") -> TestClient:
    client = browser(app, base_url)
    form = client.get("/ui/")
    assert form.status_code == 200 and 'type="password"' in form.text
    response = client.post("/ui/signin", data={"csrf": csrf_of(form.text), "key": key})
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/ui/overview"
    return client


def test_nothing_but_sign_in_is_served_anonymously(app: object) -> None:
    client = browser(app)
    for path in PAGES:
        response = client.get(path)
        assert response.status_code == 303 and response.headers["location"] == "/ui/", path
    assert client.get("/ui/").status_code == 200
    assert client.get("/ui/static/console.css").status_code == 200
    # Partial requests (search as you type) get 401, not a redirect into the results table.
    assert client.get("/ui/catalog/rows", headers={"X-Console-Partial": "1"}).status_code == 401
    # A forged cookie is no session.
    client.cookies.set("apc_session", "x" * 43, path="/ui")
    assert client.get("/ui/overview").status_code == 303


def test_sign_in_refuses_bad_keys_and_missing_csrf(app: object, keys: dict[str, str]) -> None:
    client = browser(app)
    token = csrf_of(client.get("/ui/").text)
    assert client.post("/ui/signin", data={"csrf": token, "key": "apc_wrong"}).status_code == 401
    assert client.post("/ui/signin", data={"csrf": token, "key": keys["sensor"]}).status_code == 401
    refused = client.post("/ui/signin", data={"key": keys["admin"]})
    assert refused.status_code == 403 and "apc_session" not in refused.headers.get("set-cookie", "")
    other = browser(app)  # a token from another browser's form (its cookie differs)
    other.get("/ui/")
    assert other.post("/ui/signin", data={"csrf": token, "key": keys["admin"]}).status_code == 403


def test_session_cookie_flags_and_hashed_storage(app: object, keys: dict[str, str], engine: Engine) -> None:
    client = browser(app)
    token = csrf_of(client.get("/ui/").text)
    response = client.post("/ui/signin", data={"csrf": token, "key": keys["analyst"]})
    cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith("apc_session="))
    value = cookie.split(";")[0].split("=", 1)[1]
    flags = cookie.lower()
    assert "httponly" in flags and "samesite=strict" in flags and "max-age=28800" in flags
    assert "secure" not in flags  # plain HTTP here
    with engine.connect() as conn:
        stored = conn.scalars(select(ConsoleSession.token_hash)).all()
    assert hashlib.sha256(value.encode()).hexdigest() in stored and value not in stored
    tls = browser(app, "https://testserver")
    tls_token = csrf_of(tls.get("/ui/").text)
    tls_cookie = tls.post("/ui/signin", data={"csrf": tls_token, "key": keys["analyst"]}).headers["set-cookie"]
    assert "secure" in tls_cookie.lower()


def test_every_page_renders_for_admin(app: object, keys: dict[str, str]) -> None:
    client = sign_in(app, keys["admin"])
    for path in PAGES:
        response = client.get(path)
        assert response.status_code == 200, (path, response.text[:500])
        if response.headers["content-type"].startswith("text/html") and path != "/ui/pii/report.html":
            assert "default-src 'none'" in response.headers["content-security-policy"]
    overview = client.get("/ui/overview").text
    assert "<svg" in overview and "Traffic over time" in overview and 'id="finding-counts"' in overview


def test_viewer_cannot_reach_admin_pages_and_sees_masked_samples(app: object, keys: dict[str, str]) -> None:
    viewer = sign_in(app, keys["viewer"])
    assert viewer.get("/ui/settings").status_code == 403
    assert viewer.post("/ui/settings/keys", data={"csrf": csrf_of(viewer.get("/ui/overview").text),
                                                  "role": "admin"}).status_code == 403
    analyst = sign_in(app, keys["analyst"])
    assert analyst.get("/ui/settings").status_code == 403
    samples = {}
    for name, client in (("viewer", viewer), ("analyst", analyst)):
        page = client.get("/ui/findings?state=all").text
        samples[name] = re.findall(r'<td class="sample">([^<]*)</td>',
                                   client.get(f"/ui/endpoints/{_pii_endpoint(page)}").text)
    assert samples["viewer"] and len(samples["viewer"]) == len(samples["analyst"])
    assert samples["viewer"] != samples["analyst"]
    assert all(set(s) <= set("*X-.@ ") or s == "—" for s in samples["viewer"]), samples["viewer"]


def _pii_endpoint(html: str) -> int:
    match = re.search(r'data-finding="(?:pii_unauthenticated|shadow_pii):(\d+)"', html)
    assert match, "the sample captures produce PII findings"
    return int(match.group(1))


def test_forms_without_csrf_are_refused_and_change_nothing(app: object, keys: dict[str, str], engine: Engine) -> None:
    client = sign_in(app, keys["admin"])
    finding = re.search(r'data-finding="([^"]+)"', client.get("/ui/findings").text)
    assert finding
    before = _count(engine, FindingActivity)
    for data in ({"finding_id": finding.group(1), "state": "resolved"},
                 {"finding_id": finding.group(1), "state": "resolved", "csrf": "0" * 64}):
        assert client.post("/ui/findings/state", data=data).status_code == 403
    assert client.post("/ui/specs/1/delete", data={}).status_code == 403
    assert client.post("/ui/suppressions", data={"kind": "shadow_pii", "service_id": "1", "reason": "x",
                                                 "expires": "2999-01-01"}).status_code == 403
    assert client.post("/ui/signout", data={}).status_code == 403
    assert client.post("/ui/settings/keys", data={"role": "admin"}).status_code == 403
    assert _count(engine, FindingActivity) == before and _count(engine, SuppressionRule) == 0
    # Another session's token is not this one's.
    other = sign_in(app, keys["admin"])
    stolen = csrf_of(other.get("/ui/findings").text)
    assert client.post("/ui/findings/state", data={"finding_id": finding.group(1), "state": "resolved",
                                                   "csrf": stolen}).status_code == 403


def _count(engine: Engine, model: type) -> int:
    with engine.connect() as conn:
        return conn.scalar(select(func.count()).select_from(model)) or 0


def test_workflow_acknowledge_resolve_and_suppress(app: object, keys: dict[str, str], engine: Engine) -> None:
    analyst = sign_in(app, keys["analyst"])
    queue = analyst.get("/ui/findings").text
    finding_id = re.search(r'data-finding="([^"]+)"', queue).group(1)  # type: ignore[union-attr]
    token = csrf_of(queue)
    moved = analyst.post("/ui/findings/state", data={"csrf": token, "finding_id": finding_id, "state": "acknowledged",
                                                     "assignee": "alice", "comment": "looking", "back": ""})
    assert moved.status_code == 303
    page = analyst.get(moved.headers["location"]).text
    assert "is now acknowledged" in page
    row = re.search(rf'data-finding="{re.escape(finding_id)}">.*?</tr>', page, re.S)
    assert row and "st-acknowledged" in row.group(0) and "alice" in row.group(0)
    analyst.post("/ui/findings/state", data={"csrf": token, "finding_id": finding_id, "state": "false_positive"})
    assert f'data-finding="{finding_id}"' not in analyst.get("/ui/findings").text  # closed: not in the active view
    assert f'data-finding="{finding_id}"' in analyst.get("/ui/findings?state=closed").text
    with engine.connect() as conn:
        assert conn.scalar(select(FindingState.state).where(FindingState.finding_id == finding_id)) == "false_positive"
        assert conn.scalar(select(func.count()).where(FindingActivity.finding_id == finding_id)) == 2
    detail = analyst.get(f"/ui/findings/{finding_id}").text
    history = re.search(r'<table id="history">.*?</table>', detail, re.S)
    assert history and history.group(0).count("<tr>") == 3 and "looking" in history.group(0)  # header + 2 changes
    assert analyst.get("/ui/findings/shadow_pii:999999").status_code == 404
    # Bad input: a clear message, nothing stored.
    bad = analyst.post("/ui/findings/state", data={"csrf": token, "finding_id": "nope:1", "state": "resolved"})
    assert "unknown finding" in analyst.get(bad.headers["location"]).text
    # Suppress a kind on the endpoint of another open finding: it leaves the queue until shown.
    other = [f for f in re.findall(r'data-finding="([^"]+)"', analyst.get("/ui/findings").text) if f != finding_id][0]
    kind, eid = other.split(":")
    past = analyst.post("/ui/suppressions", data={"csrf": token, "kind": kind, "endpoint_id": eid, "reason": "known",
                                                  "expires": "2001-01-01"})
    assert "future" in analyst.get(past.headers["location"]).text
    no_reason = analyst.post("/ui/suppressions", data={"csrf": token, "kind": kind, "endpoint_id": eid, "reason": " ",
                                                       "expires": "2999-01-01"})
    assert "reason is required" in analyst.get(no_reason.headers["location"]).text
    expires = (datetime.now(UTC) + timedelta(days=30)).date().isoformat()
    analyst.post("/ui/suppressions", data={"csrf": token, "kind": kind, "endpoint_id": eid,
                                           "reason": "accepted by the owner", "expires": expires})
    assert f'data-finding="{other}"' not in analyst.get("/ui/findings").text
    assert f'data-finding="{other}"' in analyst.get("/ui/findings?suppressed=true").text
    with engine.connect() as conn:
        rule_id = conn.scalar(select(SuppressionRule.id).where(SuppressionRule.reason == "accepted by the owner"))
    analyst.post(f"/ui/suppressions/{rule_id}/delete", data={"csrf": token})
    assert f'data-finding="{other}"' in analyst.get("/ui/findings").text
    viewer = sign_in(app, keys["viewer"])
    assert viewer.post("/ui/findings/state", data={"csrf": csrf_of(viewer.get("/ui/findings").text),
                                                   "finding_id": other, "state": "resolved"}).status_code == 403


def test_catalog_filters_sort_paging_and_errors(app: object, keys: dict[str, str]) -> None:
    client = sign_in(app, keys["viewer"])
    every = client.get("/ui/catalog/rows?limit=200").text
    paths = re.findall(r'<td class="path"><a href="/ui/endpoints/\d+">([^<]+)</a>', every)
    assert len(paths) > 5 and paths == sorted(paths)
    invoices = client.get("/ui/catalog/rows?q=invoice").text
    found = re.findall(r'<td class="path"><a href="/ui/endpoints/\d+">([^<]+)</a>', invoices)
    assert found and all("invoice" in p.lower() for p in found)
    hits = [int(h.replace(",", "")) for h in re.findall(r'<td class="num">([\d,]+)</td>',
                                                         client.get("/ui/catalog/rows?sort=-hits&limit=200").text)]
    assert hits == sorted(hits, reverse=True)
    deletes = client.get("/ui/catalog/rows?method=DELETE&limit=200").text
    assert re.findall(r'<td class="method">(\w+)</td>', deletes) and set(
        re.findall(r'<td class="method">(\w+)</td>', deletes)) == {"DELETE"}
    first = client.get("/ui/catalog?limit=25")
    following = re.search(r'id="next-page" href="([^"]+)"', first.text)
    assert following, "more than one page"
    second = client.get(following.group(1).replace("&amp;", "&")).text
    page1 = re.findall(r'href="/ui/endpoints/(\d+)"', first.text)
    page2 = re.findall(r'href="/ui/endpoints/(\d+)"', second)
    assert page2 and not set(page1) & set(page2)
    for bad in ("seen_since=yesterday", "sort=nope", "cursor=%%%", "limit=100000", "unauthenticated=maybe"):
        response = client.get(f"/ui/catalog?{bad}")
        assert response.status_code == 422 and 'class="flash error"' in response.text, bad


def test_spec_upload_diff_delete(app: object, keys: dict[str, str], engine: Engine) -> None:
    viewer = sign_in(app, keys["viewer"])
    token = csrf_of(viewer.get("/ui/specs").text)
    document = (DATA / "shop-1.yaml").read_bytes()
    assert viewer.post("/ui/specs", data={"csrf": token}, files={"document": ("s.yaml", document)}).status_code == 403
    before = spec_rows(engine)
    analyst = sign_in(app, keys["analyst"])
    token = csrf_of(analyst.get("/ui/specs").text)
    broken = analyst.post("/ui/specs", data={"csrf": token}, files={"document": ("x.yaml", b"openapi: [")})
    assert broken.status_code == 422 and "Not imported" in broken.text and spec_rows(engine) == before
    done = analyst.post("/ui/specs", data={"csrf": token}, files={"document": ("shop-1.yaml", document)})
    assert done.status_code == 201 and 'id="import-result"' in done.text, done.text[-800:]
    spec_id = int(re.findall(r'href="/ui/specs/(\d+)"', done.text)[-1])
    diff = analyst.get(f"/ui/specs/{spec_id}").text
    assert "/v1/orders" in diff and 'id="spec-operations"' in diff and "observed" in diff
    assert "Observed, not documented" in diff
    analyst.post(f"/ui/specs/{spec_id}/delete", data={"csrf": token})
    assert spec_rows(engine) == before


def test_sign_out_and_revoked_keys_end_sessions(app: object, keys: dict[str, str], engine: Engine) -> None:
    client = sign_in(app, keys["viewer"])
    token = csrf_of(client.get("/ui/overview").text)
    out = client.post("/ui/signout", data={"csrf": token})
    assert out.status_code == 303 and out.headers["location"] == "/ui/"
    assert client.get("/ui/overview").status_code == 303
    admin = sign_in(app, keys["admin"])
    created = admin.post("/ui/settings/keys", data={"csrf": csrf_of(admin.get("/ui/settings").text),
                                                    "name": "temp", "role": "viewer"})
    secret = re.search(r'id="new-secret">([^<]+)<', created.text).group(1)  # type: ignore[union-attr]
    temp = sign_in(app, secret)
    assert temp.get("/ui/overview").status_code == 200
    key_id = re.findall(r"<tr><td>(\d+)</td><td>temp</td>", admin.get("/ui/settings").text)[0]
    admin.post(f"/ui/settings/keys/{key_id}/revoke", data={"csrf": csrf_of(admin.get("/ui/settings").text)})
    assert temp.get("/ui/overview").status_code == 303


def test_oversized_or_unsized_forms_are_refused(app: object, keys: dict[str, str]) -> None:
    from analyzer.inventory.specs import MAX_SPEC_BYTES

    client = sign_in(app, keys["analyst"])
    token = csrf_of(client.get("/ui/specs").text)
    huge = client.post("/ui/specs", data={"csrf": token}, headers={"Content-Length": str(MAX_SPEC_BYTES * 2)},
                       content=b"x")
    assert huge.status_code == 413
    def chunks() -> Iterator[bytes]:
        yield f"csrf={token}&state=resolved".encode()

    unsized = client.post("/ui/findings/state", content=chunks(),
                          headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert unsized.status_code == 411


def test_findings_follow_a_spec_import(app: object, keys: dict[str, str]) -> None:
    """The queue is read from a snapshot: documenting the shop's endpoints removes their
    shadow_pii findings once it is rebuilt (seconds), without a restart."""
    import time

    client = sign_in(app, keys["analyst"])

    def shop_shadow() -> int:
        page = client.get("/ui/findings?kind=shadow_pii&service=api.shop.example&state=all").text
        return len(re.findall(r'data-finding="shadow_pii:', page))

    before = shop_shadow()
    assert before > 0, "the sample captures give the shop undocumented endpoints carrying PII"
    token = csrf_of(client.get("/ui/specs").text)
    spec = (
        "openapi: 3.0.3\ninfo: {title: ShopAll, version: '1'}\nservers: [{url: 'https://api.shop.example'}]\n"
        "paths:\n" + "".join(
            f"  '{p}': {{{m.lower()}: {{responses: {{'200': {{description: ok}}}}}}}}\n"
            for m, p in re.findall(r'<td class="method">(\w+)</td>\s*<td class="path"><a href="/ui/endpoints/\d+">([^<]+)<',
                                   client.get("/ui/catalog?service=api.shop.example&limit=200").text)
        )
    )
    done = client.post("/ui/specs", data={"csrf": token}, files={"document": ("all.yaml", spec.encode())})
    assert done.status_code == 201, done.text[-500:]
    deadline = time.monotonic() + 20
    while shop_shadow() >= before:
        assert time.monotonic() < deadline, "the findings snapshot did not follow the import"
        time.sleep(0.2)
    spec_id = int(re.findall(r'href="/ui/specs/(\d+)"', done.text)[-1])
    client.post(f"/ui/specs/{spec_id}/delete", data={"csrf": token})


def test_settings_list_destinations_with_their_delivery_status(app: object, keys: dict[str, str], engine: Engine) -> None:
    """Each alert destination with its outbox status (delivered, waiting, last error)."""
    from sqlalchemy import insert

    from analyzer.alerts.outbox_sql import STATUS
    from analyzer.alerts.wiring import create_integration

    admin = sign_in(app, keys["admin"])
    assert "soc-webhook" not in admin.get("/ui/settings").text
    with make_session_factory(engine)() as session:
        create_integration(session, {"id": "soc-webhook", "kind": "webhook", "url": "https://soc.example/hooks/apicensus",
                                     "secret": "a-webhook-secret-of-some-length"})
        session.commit()
    with engine.begin() as conn:
        conn.execute(insert(STATUS).values(destination_id="soc-webhook", delivered_total=41, failed_total=2,
                                           dropped_total=0, folded_total=0, last_error="HTTP 503"))
    page = admin.get("/ui/settings").text
    assert 'id="destinations"' in page and "soc-webhook" in page and "HTTP 503" in page and "41" in page


def test_sessions_per_key_are_bounded(app: object, keys: dict[str, str], engine: Engine) -> None:
    from inventory_api.ui.auth import MAX_SESSIONS_PER_KEY

    clients = [sign_in(app, keys["viewer"]) for _ in range(MAX_SESSIONS_PER_KEY + 3)]
    with engine.connect() as conn:
        key_ids = conn.scalars(select(ConsoleSession.key_id)).all()
    assert max(key_ids.count(k) for k in set(key_ids)) == MAX_SESSIONS_PER_KEY
    assert clients[0].get("/ui/overview").status_code == 303  # the oldest was ended
    assert clients[-1].get("/ui/overview").status_code == 200


def test_destination_secrets_are_never_shown(app: object, keys: dict[str, str], engine: Engine) -> None:
    """A Slack destination: its URL (which carries the token) shown up to the host only."""
    from analyzer.alerts.wiring import create_integration

    with make_session_factory(engine)() as session:
        create_integration(session, {"id": "team-slack", "kind": "slack",
                                     "url": "https://hooks.slack.com/services/T0/B0/XXXXsecretpath"})
        session.commit()
    page = sign_in(app, keys["admin"]).get("/ui/settings").text
    assert "hooks.slack.com" in page and "team-slack" in page and "slack" in page
    assert "XXXXsecretpath" not in page and "/services/" not in page


def _planted_event(engine: Engine, evidence: dict[str, object]) -> tuple[str, int, str]:
    """A threat event on a real endpoint, stored as detection stores it (the sample captures'
    events are host-wide posture events): (event id, endpoint id, host)."""
    from sqlalchemy import insert

    from analyzer.db.models import Endpoint, Service, ThreatEvent

    with engine.begin() as conn:
        eid, method, path, host = conn.execute(
            select(Endpoint.id, Endpoint.method, Endpoint.path_template, Service.host)
            .join(Service, Service.id == Endpoint.service_id).order_by(Endpoint.hits.desc(), Endpoint.id).limit(1)
        ).one()
        now = datetime.now(UTC)
        event_id = hashlib.sha256(f"planted {now.isoformat()}".encode()).hexdigest()[:24]
        conn.execute(insert(ThreatEvent).values(
            event_id=event_id, type="injection", subtype="sql", severity="high", title="SQL injection attempt",
            actor_key="ip:203.0.113.9", actor_ip="203.0.113.9", host=host, method=method, path_template=path,
            window_start=now, window_seconds=60.0, first_seen=now, last_seen=now, count=3, evidence=evidence,
        ))
    return event_id, eid, host


def _event_row(html: str, item_id: str) -> str:
    row = re.search(rf'<tr id="event-\d+" data-finding="{re.escape(item_id)}">.*?</tr>', html, re.S)
    assert row, f"{item_id} not in the events table"
    return row.group(0)


def test_threat_events_share_the_findings_workflow(app: object, keys: dict[str, str], engine: Engine) -> None:
    """Events are listed beside findings with the same filters, states, assignee, comment,
    history and suppression rules; the endpoint page lists its own; viewers see no excerpts."""
    event_id, endpoint_id, host = _planted_event(engine, {"snippet": "id=1' OR '1'='1", "param": "id"})
    item = f"event:{event_id}"
    with engine.connect() as conn:
        stored = conn.scalar(select(func.count()).select_from(ThreatEvent)) or 0
    analyst = sign_in(app, keys["analyst"])
    queue = analyst.get("/ui/findings").text
    assert len(re.findall(r'<tr id="event-\d+" data-finding="event:', queue)) == min(stored, 50) > 1
    assert "open" in _event_row(queue, item) and "data-finding=\"shadow_pii:" in queue  # beside findings
    # Filters: kind (an event type leaves no finding, a finding kind no event), severity, service.
    only = analyst.get("/ui/findings?kind=injection").text
    assert item in only and not re.search(r'data-finding="(?!event:)', only)
    assert "data-finding=\"event:" not in analyst.get("/ui/findings?kind=shadow_pii").text
    assert item not in analyst.get("/ui/findings?severity=low").text
    assert item in analyst.get("/ui/findings?severity=high").text
    other_host = analyst.get(f"/ui/findings?service={host}x").text
    assert "data-finding=\"event:" not in other_host
    # The same form as findings: acknowledge with an assignee and a comment.
    token = csrf_of(queue)
    moved = analyst.post("/ui/findings/state", data={"csrf": token, "finding_id": item, "state": "acknowledged",
                                                     "assignee": "bob", "comment": "blocking the address"})
    assert moved.status_code == 303 and "is now acknowledged" in analyst.get(moved.headers["location"]).text
    row = _event_row(analyst.get("/ui/findings").text, item)
    assert "st-acknowledged" in row and "bob" in row and "blocking the address" in row
    assert item in analyst.get("/ui/findings?state=acknowledged").text
    assert item not in analyst.get("/ui/findings?state=open").text
    detail = analyst.get(f"/ui/events/{event_id}").text
    assert "acknowledged" in detail and "blocking the address" in re.search(
        r'<table id="history">.*?</table>', detail, re.S).group(0)  # type: ignore[union-attr]
    assert "1&#39; OR &#39;1&#39;=&#39;1" in detail  # the (already masked) excerpt, for an analyst
    assert analyst.get(f"/ui/findings/{item}").headers["location"] == f"/ui/events/{event_id}"
    analyst.post("/ui/findings/state", data={"csrf": token, "finding_id": item, "state": "resolved"})
    assert item not in analyst.get("/ui/findings").text and item in analyst.get("/ui/findings?state=closed").text
    with engine.connect() as conn:
        assert conn.scalar(select(FindingState.state).where(FindingState.finding_id == item)) == "resolved"
        assert conn.scalar(select(func.count()).where(FindingActivity.finding_id == item)) == 2
    # Ids naming no stored event are refused with a message, nothing stored.
    for bad in ("event:" + "0" * 24, "event:../x", "event:"):
        refused = analyst.post("/ui/findings/state", data={"csrf": token, "finding_id": bad, "state": "resolved"})
        assert "unknown event" in analyst.get(refused.headers["location"]).text or "no such event" in analyst.get(
            refused.headers["location"]).text, bad
    assert analyst.get("/ui/events/" + "0" * 24).status_code == 404
    # The endpoint page lists its events with their state.
    endpoint_page = analyst.get(f"/ui/endpoints/{endpoint_id}").text
    listed = re.search(r'<table id="endpoint-events">.*?</table>', endpoint_page, re.S)
    assert listed and item in listed.group(0) and "st-resolved" in listed.group(0)
    changes = re.search(r'<table id="endpoint-changes">.*?</table>', endpoint_page, re.S)
    assert changes and "new endpoint" in changes.group(0)  # the analysis recorded it
    actors = re.search(r'<table id="endpoint-actors">.*?</table>', endpoint_page, re.S)
    assert actors and "203.0.113.9" in actors.group(0) and "injection" in actors.group(0)
    # Suppression: the event type on the endpoint's service, with a reason and an expiry.
    analyst.post("/ui/findings/state", data={"csrf": token, "finding_id": item, "state": "open"})
    with engine.connect() as conn:
        service_id = conn.scalar(select(Service.id).where(Service.host == host))
    expires = (datetime.now(UTC) + timedelta(days=7)).date().isoformat()
    added = analyst.post("/ui/suppressions", data={"csrf": token, "kind": "injection", "service_id": str(service_id),
                                                   "reason": "pentest this week", "expires": expires})
    assert "added" in analyst.get(added.headers["location"]).text
    assert item not in analyst.get("/ui/findings").text
    shown = _event_row(analyst.get("/ui/findings?suppressed=true").text, item)
    assert "suppressed by rule" in shown
    with engine.connect() as conn:
        rule_id = conn.scalar(select(SuppressionRule.id).where(SuppressionRule.reason == "pentest this week"))
    overview = analyst.get("/ui/overview").text
    assert 'id="event-counts"' in overview
    analyst.post(f"/ui/suppressions/{rule_id}/delete", data={"csrf": token})
    assert item in analyst.get("/ui/findings").text
    # Viewers: the excerpt masked, no workflow form, a forged change refused.
    viewer = sign_in(app, keys["viewer"])
    seen = viewer.get(f"/ui/events/{event_id}").text
    assert "OR" not in seen and "[masked]" in seen and 'action="/ui/findings/state"' not in seen
    assert viewer.post("/ui/findings/state", data={"csrf": csrf_of(viewer.get("/ui/findings").text),
                                                   "finding_id": item, "state": "resolved"}).status_code == 403
    assert analyst.post("/ui/findings/state", data={"finding_id": item, "state": "resolved"}).status_code == 403
    with engine.connect() as conn:
        assert conn.scalar(select(FindingState.state).where(FindingState.finding_id == item)) == "open"


def test_workflow_through_the_api(app: object, keys: dict[str, str], engine: Engine) -> None:
    """PUT /api/v1/{events,findings}/{id}/workflow makes the console's change (analyst and up;
    viewer 403), GET shows state and history, /api/v1/events carries the state."""
    from tests.inventory_api.conftest import auth

    event_id, _eid, _host = _planted_event(engine, {"param": "q"})
    api = browser(app)
    url = f"/api/v1/events/{event_id}/workflow"
    body = {"state": "acknowledged", "assignee": "carol", "comment": "triaged by the SOC"}
    assert api.put(url, json=body, headers=auth(keys["viewer"])).status_code == 403
    assert api.put(url, json=body).status_code == 401
    assert api.get(url, headers=auth(keys["viewer"])).json()["state"] == "open"
    done = api.put(url, json=body, headers=auth(keys["analyst"]))
    assert done.status_code == 200, done.text
    assert done.json()["state"] == "acknowledged" and done.json()["assignee"] == "carol"
    assert [h["comment"] for h in done.json()["history"]] == ["triaged by the SOC"]
    assert api.put(url, json={"state": "closed"}, headers=auth(keys["admin"])).status_code == 422
    assert api.put(url, json={**body, "extra": 1}, headers=auth(keys["admin"])).status_code == 422
    assert api.put(f"/api/v1/events/{'f' * 24}/workflow", json=body, headers=auth(keys["admin"])).status_code == 404
    listed = api.get("/api/v1/events?type=injection&limit=100", headers=auth(keys["viewer"])).json()["items"]
    assert {"state": "acknowledged", "assignee": "carol"}.items() <= next(
        i for i in listed if i["id"] == event_id).items()
    acknowledged = api.get("/api/v1/events?state=acknowledged&limit=500", headers=auth(keys["viewer"])).json()
    assert event_id in {i["id"] for i in acknowledged["items"]}
    assert {i["state"] for i in acknowledged["items"]} == {"acknowledged"}
    still_open = api.get("/api/v1/events?state=open&limit=500", headers=auth(keys["viewer"])).json()["items"]
    assert still_open and event_id not in {i["id"] for i in still_open}
    assert api.get("/api/v1/events?state=closed", headers=auth(keys["viewer"])).status_code == 422
    console = sign_in(app, keys["viewer"]).get("/ui/findings?state=acknowledged&kind=injection").text
    assert "carol" in _event_row(console, f"event:{event_id}")
    # Findings: the same change, the same storage.
    finding = api.get("/api/v1/findings?kind=shadow_pii", headers=auth(keys["viewer"])).json()["items"][0]["id"]
    moved = api.put(f"/api/v1/findings/{finding}/workflow", json={"state": "accepted_risk", "comment": "owner ok"},
                    headers=auth(keys["admin"]))
    assert moved.status_code == 200 and moved.json()["state"] == "accepted_risk"
    with engine.connect() as conn:
        assert conn.scalar(select(FindingState.state).where(FindingState.finding_id == finding)) == "accepted_risk"
    assert api.put("/api/v1/findings/nope:1/workflow", json=body, headers=auth(keys["admin"])).status_code == 404
    assert api.put(f"/api/v1/findings/{finding}/workflow", json=body,
                   headers=auth(keys["viewer"])).status_code == 403


def test_tls_posture_findings_in_the_queue(app: object, keys: dict[str, str], engine: Engine) -> None:
    """TLS findings name a TLS service, not an endpoint: the queue lists them (the snapshot
    follows tls_services), they move through the workflow (console and API) and a rule on the
    service of their SNI silences them."""
    import time

    from sqlalchemy import insert

    from analyzer.db.models import TlsService
    from tests.inventory_api.conftest import auth

    now = datetime.now(UTC)
    with engine.begin() as conn:
        host, service_id = conn.execute(select(Service.host, Service.id).order_by(Service.id).limit(1)).one()
        tls_id = conn.execute(insert(TlsService).values(
            server="192.0.2.10:443", sni=host, connections=4, decrypted=0, version="TLS 1.2", negotiated={},
            alpns={}, ja3={}, ja3s={}, ja4={}, tags={}, cert_self_signed=True, first_seen=now, last_seen=now,
        ).returning(TlsService.id)).scalar_one()
    item = f"tls_certificate_self_signed:tls{tls_id}"
    analyst = sign_in(app, keys["analyst"])
    deadline = time.monotonic() + 20
    while item not in (queue := analyst.get("/ui/findings?kind=tls_certificate_self_signed").text):
        assert time.monotonic() < deadline, "the findings snapshot did not follow the TLS service"
        time.sleep(0.2)
    assert "192.0.2.10:443" in queue
    assert analyst.get("/ui/overview").status_code == 200
    assert item in analyst.get(f"/ui/findings?service={host}&kind=tls_certificate_self_signed").text
    assert "TLS service 192.0.2.10:443" in analyst.get(f"/ui/findings/{item}").text
    token = csrf_of(queue)
    moved = analyst.post("/ui/findings/state", data={"csrf": token, "finding_id": item, "state": "acknowledged"})
    assert "is now acknowledged" in analyst.get(moved.headers["location"]).text
    api = browser(app)
    done = api.put(f"/api/v1/findings/{item}/workflow", json={"state": "accepted_risk"}, headers=auth(keys["admin"]))
    assert done.status_code == 200 and done.json()["state"] == "accepted_risk"
    assert item in analyst.get("/ui/findings?state=closed").text
    analyst.post("/ui/findings/state", data={"csrf": token, "finding_id": item, "state": "open"})
    expires = (datetime.now(UTC) + timedelta(days=7)).date().isoformat()
    analyst.post("/ui/suppressions", data={"csrf": token, "kind": "tls_certificate_self_signed",
                                           "service_id": str(service_id), "reason": "internal CA", "expires": expires})
    assert item not in analyst.get("/ui/findings").text
    assert "suppressed by rule" in analyst.get("/ui/findings?suppressed=true&kind=tls_certificate_self_signed").text


def test_changes_and_actors_pages_list_typed_rows(app: object, keys: dict[str, str], engine: Engine) -> None:
    """The changes page lists the newest change events with their endpoints; the actors page the
    stored actors by risk with masked hints only (never a hash or a raw credential)."""
    from sqlalchemy import func, select

    from analyzer.db.models import ChangeEvent, ThreatActor

    viewer = sign_in(app, keys["viewer"])
    with engine.connect() as conn:
        newest = conn.execute(
            select(ChangeEvent.type, ChangeEvent.endpoint_id).order_by(ChangeEvent.detected_at.desc(), ChangeEvent.id.desc())
        ).first()
        actors = conn.scalar(select(func.count()).select_from(ThreatActor)) or 0
        riskiest = conn.execute(select(ThreatActor.ip).order_by(ThreatActor.risk.desc(), ThreatActor.last_seen.desc())).first()
        hashes = list(conn.scalars(select(ThreatActor.key).where(ThreatActor.key.not_like("ip:%")).limit(20)))
    assert newest is not None and actors > 0 and riskiest is not None
    changes = viewer.get("/ui/changes")
    assert changes.status_code == 200 and 'id="changes"' in changes.text
    assert newest.type.replace("_", " ") in changes.text
    if newest.endpoint_id is not None:
        assert f'/ui/endpoints/{newest.endpoint_id}"' in changes.text
    page = viewer.get("/ui/actors")
    assert page.status_code == 200 and 'id="actors"' in page.text
    assert page.text.count("<tr>", page.text.index('id="actors"'), page.text.index('id="recipients"')
                           if 'id="recipients"' in page.text else len(page.text)) == min(actors, 200) + 1
    assert (riskiest.ip or "—") in page.text
    assert not any(h in page.text for h in hashes)  # identities only as masked hints
