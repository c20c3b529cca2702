"""Detection beyond one API style (bench/attacks/gen_styles.py found each of these): ids in query
and POST bodies, identities by API key and session cookie, OAuth form logins, RPC admin methods,
enveloped failures, admin listings and harvests that see everyone's objects, large pages.

Every test goes through the real engine (``DetectionEngine.feed``) and checks both sides: the
behaviour fires, its look-alike stays quiet.
"""

from __future__ import annotations

import base64
import json
import random
from typing import Any
from urllib.parse import quote, urlencode

from analyzer.detect.engine import DetectionEngine
from analyzer.detect.model import DetectExchange
from tests.analyzer.detect.helpers import T0, engine, events_of

HOST = "rpc.example"


def x(ts: float, method: str, path: str, status: int = 200, *, ip: str = "192.0.2.10", key: str | None = None,
      cookie: str | None = None, query: str = "", template: str | None = None, params: tuple[tuple[str, str], ...] = (),
      body: Any = None, form: dict[str, str] | None = None, response: Any = None, pii: tuple[tuple[str, int], ...] = (),
      headers: tuple[tuple[str, str], ...] = ()) -> DetectExchange:
    req = [("Host", HOST), *headers]
    if key is not None:
        req.append(("X-API-Key", key))
    if cookie is not None:
        req.append(("Cookie", cookie))
    raw = b""
    if body is not None:
        raw = json.dumps(body).encode()
        req.append(("Content-Type", "application/json"))
    elif form is not None:
        raw = urlencode(form).encode()
        req.append(("Content-Type", "application/x-www-form-urlencoded"))
    return DetectExchange(
        ts=ts, client_ip=ip, host=HOST, method=method, path=path, query=query, status=status, template=template or path,
        path_params=params, request_headers=tuple(req), request_body=raw,
        response_body=json.dumps(response).encode() if response is not None else b"",
        response_content_type="application/json" if response is not None else "", pii=pii,
    )


def _listing(e: DetectionEngine, ts: float, key: str, ids: list[str]) -> None:
    e.feed(x(ts, "POST", "/api/invoices.list", key=key, body={"limit": 20},
             response={"ok": True, "result": {"invoices": [{"id": i, "email": "a@b.example"} for i in ids]}},
             pii=(("EMAIL", len(ids)),)))


def _hex(n: int) -> str:
    return f"{n:040x}"


def test_bola_on_post_body_ids_with_an_api_key_identity() -> None:
    e = engine()
    victim = [_hex(0xA000 + k) for k in range(4)]
    _listing(e, T0, "sk_live_alice_0001", victim)
    # The attacker's own key reads and updates the victim's invoices by POST (RPC style).
    for n, i in enumerate(victim[:3]):
        e.feed(x(T0 + 600 * (n + 1), "POST", "/api/invoices.get", ip="198.51.100.7", key="sk_live_eve_0002",
                 body={"id": i}, response={"ok": True, "invoice": {"id": i}}, pii=(("EMAIL", 1),)))
    bola = events_of(e, "bola")
    assert [ev.actor.ip for ev in bola] == ["198.51.100.7"] and bola[0].path_template == "/api/invoices.get"
    assert bola[0].actor.identity is not None and bola[0].actor.identity.startswith("key:")


def test_post_that_creates_or_is_refused_in_its_envelope_is_no_bola() -> None:
    e = engine()
    victim = [_hex(0xB000 + k) for k in range(4)]
    _listing(e, T0, "sk_live_alice_0001", victim)
    for n, i in enumerate(victim[:3]):
        # refused with 200 {"ok": false}: an RPC API's "not allowed", nothing was served
        e.feed(x(T0 + 10 * n, "POST", "/api/invoices.get", ip="198.51.100.8", key="sk_live_eve_0003", body={"id": i},
                 response={"ok": False, "error": "not_allowed"}))
        # a creation naming the id (201): its own object now, not a read of another's
        e.feed(x(T0 + 10 * n + 5, "POST", "/api/invoices.copy", 201, ip="198.51.100.8", key="sk_live_eve_0003",
                 body={"invoice_id": i}, response={"ok": True}))
    assert events_of(e, "bola") == []


def test_bola_on_query_ids_with_a_session_cookie_identity() -> None:
    e = engine()
    accounts = [f"acc_{k}Xq9PzLm{k}" for k in range(4)]
    e.feed(x(T0, "GET", "/accounts/list", cookie="sessionid=alice-session-0001",
             response={"accounts": [{"account_id": a} for a in accounts]}))
    for n, a in enumerate(accounts[:3]):
        e.feed(x(T0 + 900 * (n + 1), "GET", "/accounts", ip="198.51.100.9", cookie="csrftoken=abc; sessionid=mallory-0002",
                 query=f"account_id={a}", response={"account_id": a, "email": "x@y.example"}, pii=(("EMAIL", 1),)))
    bola = events_of(e, "bola")
    assert [ev.actor.ip for ev in bola] == ["198.51.100.9"]
    assert bola[0].actor.identity is not None and bola[0].actor.identity.startswith("session:")


def test_catalogue_fetched_by_id_without_a_listing_is_no_bola() -> None:
    e = engine()
    # 30 users each open catalogue items by id (from links): whoever opened an item first
    # "owns" it, so later readers are served another identity's object -- by design.
    for u in range(30):
        for k in range(6):
            item = str(1 + (u * 3 + k) % 40)
            e.feed(x(T0 + u * 20 + k, "GET", f"/catalog/{item}", ip=f"100.64.0.{u + 1}", key=f"sk_live_user_{u:04d}",
                     template="/catalog/{id}", params=(("id", item),), response={"id": item, "name": "Item"}))
    assert events_of(e, "bola") == []


def test_admin_listing_and_harvest_do_not_make_everyones_objects_shared() -> None:
    e = engine()
    owners = {f"sk_live_user_{u:04d}": [_hex(0xC000 + u * 10 + k) for k in range(3)] for u in range(6)}
    for n, (key, ids) in enumerate(owners.items()):
        _listing(e, T0 + n, key, ids)
    everything = [i for ids in owners.values() for i in ids]
    # an admin (and a harvester) is handed every owner's objects in one response
    e.feed(x(T0 + 100, "POST", "/api/admin.invoices.export", ip="10.0.0.2", key="sk_live_admin_0001", body={},
             response={"ok": True, "result": {"invoices": [{"id": i} for i in everything]}}))
    # a later walk over several owners' invoices is still BOLA
    for n, i in enumerate(everything[::4][:3]):
        e.feed(x(T0 + 1000 + 300 * n, "GET", "/api/invoices.get", ip="198.51.100.10", key="sk_live_eve_0009",
                 query=f"id={i}", response={"ok": True, "invoice": {"id": i}}))
    assert [ev.actor.ip for ev in events_of(e, "bola")] == ["198.51.100.10"]
    # ... and the admin reading what its listing showed it is not
    for n, i in enumerate(everything[:4]):
        e.feed(x(T0 + 2000 + n, "GET", "/api/invoices.get", ip="10.0.0.2", key="sk_live_admin_0001", query=f"id={i}",
                 response={"ok": True, "invoice": {"id": i}}))
    assert {ev.actor.ip for ev in events_of(e, "bola")} == {"198.51.100.10"}


def test_enumeration_of_post_body_ids_by_not_found_answers_only() -> None:
    e = engine()
    for k in range(40):
        e.feed(x(T0 + k, "POST", "/api/invoices.get", 404, ip="198.51.100.11", key="sk_live_enum_0001",
                 body={"id": _hex(0xD000 + k * 7919)}, response={"ok": False, "error": "invoice_not_found"}))
    # a client creating 60 objects with ids it chose, answered 200, walks nothing
    for k in range(60):
        e.feed(x(T0 + k, "POST", "/api/invoices.import", ip="192.0.2.30", key="sk_live_importer_01",
                 body={"invoice_id": _hex(0xE000 + k)}, response={"ok": True}))
    # JSON-RPC: the top-level "id" is the call's sequence number
    for k in range(60):
        e.feed(x(T0 + k, "POST", "/rpc", ip="192.0.2.31", key="sk_live_rpc_client_1",
                 body={"jsonrpc": "2.0", "method": "status", "params": {}, "id": k + 1}, response={"jsonrpc": "2.0", "result": 1, "id": k + 1}))
    assert [(ev.actor.ip, ev.subtype) for ev in events_of(e, "enumeration")] == [("198.51.100.11", "not_found")]


def _oauth(ts: float, ip: str, user: str, status: int) -> DetectExchange:
    form = {"grant_type": "password", "username": user, "password": "Winter2024!", "client_id": "web-app", "scope": "read"}
    return x(ts, "POST", "/oauth/token", status, ip=ip, form=form,
             response={"access_token": "…"} if status == 200 else {"error": "invalid_grant"})


def test_credential_stuffing_on_a_form_encoded_oauth_password_grant() -> None:
    e = engine()
    for k in range(30):
        e.feed(_oauth(T0 + k * 2, "198.51.100.12", f"leaked_{k}", 400))
    # one user retrying three times behind the same client_id stays quiet
    for k in range(3):
        e.feed(_oauth(T0 + k * 5, "192.0.2.40", "ana", 400 if k < 2 else 200))
    kinds = sorted((ev.type, ev.actor.ip) for ev in e.events() if ev.type in ("credential_stuffing", "brute_force"))
    assert kinds == [("credential_stuffing", "198.51.100.12")]


def _population(e: DetectionEngine, admin_path: str) -> None:
    for u in range(15):
        for k in range(3):
            e.feed(x(T0 + u * 30 + k, "POST", "/api/invoices.list", ip=f"100.64.1.{u + 1}", key=f"sk_live_user_{u:04d}",
                     body={"limit": 5}, response={"ok": True, "result": {"invoices": []}}))
    e.feed(x(T0 + 600, "POST", admin_path, ip="10.0.0.3", key="sk_live_admin_0001", body={"user_id": "u1", "role": "x"},
             response={"ok": True}))


def test_bfla_on_rpc_admin_methods() -> None:
    e = engine(learning_seconds=900.0)
    _population(e, "/api/admin.users.setRole")
    e.feed(x(T0 + 1200, "POST", "/api/admin.users.setRole", ip="198.51.100.13", key="sk_live_user_0003",
             body={"user_id": "u2", "role": "admin"}, response={"ok": True}))
    # refused in the envelope: nothing was granted
    e.feed(x(T0 + 1300, "POST", "/api/admin.users.setRole", ip="198.51.100.14", key="sk_live_user_0004",
             body={"user_id": "u2", "role": "admin"}, response={"ok": False, "error": "not_authed"}))
    assert [ev.actor.ip for ev in events_of(e, "bfla")] == ["198.51.100.13"]


def test_a_config_file_is_no_admin_function() -> None:
    from analyzer.detect.rules.bfla import admin_template

    assert admin_template("/api/admin.users.list") and admin_template("/v1/users/{id}:promote")
    assert not admin_template("/static/config.json") and not admin_template("/api/orders.get")


def test_mass_harvest_of_pages_too_large_to_parse() -> None:
    e = engine()
    for u in range(6):  # peers with small pages
        for k in range(3):
            e.feed(x(T0 + u * 10 + k, "GET", "/documents", ip=f"100.64.2.{u + 1}", key=f"sk_live_user_{u:04d}",
                     response={"data": [{"id": f"d{u}{k}{j}x", "email": "a@b.example"} for j in range(5)]}, pii=(("EMAIL", 5),)))
    big = {"data": [{"id": f"doc{j:06d}", "owner": {"email": f"user{j}@corp.example", "note": "x" * 120}} for j in range(600)]}
    assert len(json.dumps(big)) > 65536  # beyond what the engine parses: only the PII detector's count says how many
    for k in range(2):
        e.feed(x(T0 + 100 + k * 30, "GET", "/documents", ip="198.51.100.15", key="sk_live_harvest_01", query="per_page=600",
                 response=big, pii=(("EMAIL", 600),)))
    assert [ev.actor.ip for ev in events_of(e, "mass_harvest")] == ["198.51.100.15"]


def test_basic_credentials_identify_and_stuffing_over_basic() -> None:
    e = engine()
    for k in range(20):
        basic = base64.b64encode(f"user{k}:Spring2025".encode()).decode()
        e.feed(x(T0 + k, "GET", "/api/auth.test", 401, ip="198.51.100.16", headers=(("Authorization", f"Basic {basic}"),),
                 response={"ok": False, "error": "invalid_auth"}))
    assert [ev.actor.ip for ev in events_of(e, "credential_stuffing")] == ["198.51.100.16"]


def test_two_word_searches_and_comparison_chains_are_not_sqli_but_their_sql_forms_are() -> None:
    e = engine()
    e.feed(x(T0, "GET", "/v2/search", query="q=select+team", key="sk_live_user_0001"))
    e.feed(x(T0 + 1, "POST", "/v2/notes", key="sk_live_user_0001", body={"body": "if x > 3 && y < 2 then ok"}))
    assert events_of(e, "injection") == []
    e.feed(x(T0 + 2, "GET", "/v2/search", ip="198.51.100.17", query="q=" + "x%27%3B%20select%20password", key="sk_live_eve_0001"))
    e.feed(x(T0 + 3, "GET", "/v2/search", ip="198.51.100.18", query="q=x+%7C%7C+y%3D1", key="sk_live_eve_0002"))
    assert sorted(ev.actor.ip for ev in events_of(e, "injection")) == ["198.51.100.17", "198.51.100.18"]


def test_filter_expressions_are_not_sqli_but_injections_into_them_are() -> None:
    e = engine()
    filters = ["name eq 'Bob' and age gt 30", "amount >= 10 and amount <= 500", "status = \"Open\" AND assignee = currentUser()",
               "startswith(title,'Q3') and size lt 10000", "status:'active' AND metadata['order_id']:'6735'",
               'title:"foo" AND -tag:spam', "sku IN ('A1','B2') and qty > 0"]
    for k, f in enumerate(filters):
        e.feed(x(T0 + k, "GET", "/documents", query="$filter=" + quote(f), key="sk_live_user_0001"))
    assert events_of(e, "injection") == []
    attacks = ["name eq 'Bob' or 'a'='a'", "amount >= 10 and 1=1", "name eq 'x' and sleep(5)", "age gt 30; drop table users--"]
    for k, f in enumerate(attacks):
        e.feed(x(T0 + 10 + k, "GET", "/documents", ip=f"198.51.100.{20 + k}", query="$filter=" + quote(f), key=f"sk_live_eve_{k:04d}"))
    assert sorted(ev.actor.ip for ev in events_of(e, "injection")) == [f"198.51.100.{20 + k}" for k in range(4)]


def test_bola_on_form_encoded_post_ids() -> None:
    e = engine()
    orders = [f"ord_{k}Fq8ZxW{k}p" for k in range(4)]
    e.feed(x(T0, "POST", "/orders/search", key="sk_live_alice_0001", body={"page_size": 20},
             response={"orders": [{"order_id": o} for o in orders]}))
    for n, o in enumerate(orders[:3]):
        e.feed(x(T0 + 700 * (n + 1), "POST", "/orders/get", ip="198.51.100.30", key="sk_live_eve_0030", form={"order_id": o},
                 response={"order": {"order_id": o}}))
    assert [ev.actor.ip for ev in events_of(e, "bola")] == ["198.51.100.30"]


def test_enumeration_answered_not_found_in_the_envelope() -> None:
    e = engine()
    for k in range(30):
        e.feed(x(T0 + k, "GET", "/api/invoices.get", ip="198.51.100.31", key="sk_live_enum_0031", query=f"id={_hex(0xF000 + k * 104729)}",
                 response={"ok": False, "error": "invoice_not_found"}))
    # a client whose lookups succeed walks nothing
    for k in range(30):
        e.feed(x(T0 + k, "GET", "/api/invoices.get", ip="192.0.2.32", key="sk_live_user_0032", query=f"id={_hex(0xF100 + k)}",
                 response={"ok": True, "invoice": {"id": _hex(0xF100 + k)}}))
    assert [(ev.actor.ip, ev.subtype) for ev in events_of(e, "enumeration")] == [("198.51.100.31", "not_found")]


def _web_login(ts: float, ip: str, user: str, ok: bool) -> DetectExchange:
    return DetectExchange(
        ts=ts, client_ip=ip, host=HOST, method="POST", path="/login", status=302 if ok else 200, template="/login",
        request_headers=(("Content-Type", "application/x-www-form-urlencoded"),),
        request_body=urlencode({"username": user, "password": "Hunter2!x"}).encode(),
        response_headers=(("Location", "/app"),) if ok else (("Content-Type", "text/html"),),
        response_body=b"" if ok else b"<form><p class=error>Wrong password</p></form>", response_content_type="" if ok else "text/html",
    )


def test_stuffing_on_a_web_form_that_redirects_when_it_accepts() -> None:
    e = engine()
    for k in range(12):  # users behind one NAT logging in: redirected into the app
        e.feed(_web_login(T0 + k, "203.0.113.5", f"user{k}", True))
    for k in range(25):  # the form shown again, 200, for most of a leaked list
        e.feed(_web_login(T0 + 100 + k, "198.51.100.40", f"leak{k}", k % 10 == 3))
    assert [(ev.type, ev.actor.ip) for ev in e.events() if ev.type != "posture"] == [("credential_stuffing", "198.51.100.40")]


def test_brute_force_refused_in_the_envelope_and_a_token_is_acceptance() -> None:
    e = engine()
    for k in range(12):
        e.feed(x(T0 + k, "POST", "/api/auth.signin", ip="198.51.100.41", body={"email": "ana@corp.example", "password": f"guess{k}"},
                 response={"success": False, "error": "invalid_credentials"}))
    for k in range(12):  # accepted: a token handed out, whatever else the answer carries
        e.feed(x(T0 + k, "POST", "/api/auth.signin", ip="192.0.2.42", body={"email": "li@corp.example", "password": "Right-0ne"},
                 response={"token": "t", "error": None, "warnings": ["password expires soon"]}))
    assert [(ev.type, ev.actor.ip) for ev in e.events() if ev.type != "posture"] == [("brute_force", "198.51.100.41")]


def _page(ts: float, ip: str, path: str, agent: str) -> DetectExchange:
    return DetectExchange(ts=ts, client_ip=ip, host=HOST, method="GET", path=path, status=200,
                          request_headers=(("User-Agent", agent),), response_headers=(("Content-Type", "text/html"),),
                          response_body=b"<!doctype html><div id=root></div><script src=/app.js></script>", response_content_type="text/html")


def test_scanner_against_a_host_answering_every_path_with_its_app_page() -> None:
    e = engine()
    browser = "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0"
    for k in range(30):  # people reloading the app on its routes: one or two paths each
        e.feed(_page(T0 + k, f"100.64.3.{k + 1}", f"/app/d/{k}", browser))
        e.feed(_page(T0 + k + 0.5, f"100.64.3.{k + 1}", "/app", browser))
    words = [f"/{w}{k}" for k, w in enumerate(["admin", "backup", "config", "db", "debug", "old", "tmp", "test"] * 6)]
    for k, path in enumerate(words):  # dirb: its default user agent names no tool
        e.feed(_page(T0 + 60 + k * 0.2, "198.51.100.50", path, "Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1)"))
    # (the probed admin/debug paths answered 200 are posture findings of the host, not alarms)
    assert [(ev.type, ev.actor.ip) for ev in e.events() if ev.type != "posture"] == [("scanner", "198.51.100.50")]


def test_states_saved_before_the_new_tables_load() -> None:
    from analyzer.detect.context import keyed64_hasher
    from analyzer.detect.rules.attacks import ScannerRule
    from analyzer.detect.rules.credentials import CredentialRule
    from analyzer.detect.rules.objects import BolaRule, Ownership
    from tests.analyzer.detect.helpers import settings

    s, h = settings(), keyed64_hasher(b"k")
    bola, creds, scanner = BolaRule(s, h, Ownership(s, h)), CredentialRule(s, h), ScannerRule(s, h)
    # the older engines saved these rules' first table alone
    bola.load_state(bola.foreign_objects.to_state(lambda c: c.to_state(), list))
    creds.load_state(creds.table.to_state(lambda v: v.to_state(), list))
    scanner.load_state(scanner.table.to_state(lambda v: v.to_state(), list))
    assert len(bola.templates) == len(creds.redirects) == len(scanner.bodies) == 0


def test_styles_hour_through_two_checkpoints_gives_the_same_events() -> None:
    from bench.attacks.gen_styles import generate

    traffic = generate(3, users=45)
    straight = engine()
    straight.feed_many(traffic.exchanges)
    straight.close()
    n = len(traffic.exchanges)
    e = engine()
    e.feed_many(traffic.exchanges[: n // 3])
    e = DetectionEngine.from_state(e.state(), e.settings)
    e.feed_many(traffic.exchanges[n // 3 : 2 * n // 3])
    e = DetectionEngine.from_state(e.state(), e.settings)
    e.feed_many(traffic.exchanges[2 * n // 3 :])
    e.close()
    assert sorted((ev.id, ev.count) for ev in e.events()) == sorted((ev.id, ev.count) for ev in straight.events())
    assert {ev.type for ev in straight.events()} >= {"bola", "enumeration", "credential_stuffing", "scanner", "injection"}


def test_anomaly_in_a_small_deployment_whose_baseline_has_its_own_hot_actors() -> None:
    rng = random.Random(5)
    e = engine()
    paths = ("/api/invoices.list", "/api/invoices.get", "/api/users.info", "/api/notes.add", "/api/catalog.items")

    def users(t0: float) -> None:
        for u in range(25):
            for k in range(rng.randint(2, 12)):
                e.feed(x(t0 + u * 10 + k * rng.uniform(5, 20), "GET", rng.choice(paths[: 2 + u % 4]), 200 if rng.random() > 0.05 else 404,
                         ip=f"100.64.4.{u + 1}", key=f"sk_live_user_{u:04d}", response={"ok": True}))

    # 15 minutes of baseline: 25 users, and actors running hot all along (a fifth of the
    # baseline's windows, far more than 1 in 100): two batch jobs, three health probes, two admins
    # going through many admin functions
    for w in range(3):
        t0 = T0 + w * 300
        users(t0)
        for b in range(2):
            for k in range(300):
                e.feed(x(t0 + k * 0.95, "GET", "/api/invoices.get", ip=f"10.0.9.{b + 1}", key=f"sk_live_batch_{b:03d}",
                         query=f"id={_hex(0x1000 + b * 1000 + k)}", response={"ok": True, "email": "a@b.example"}, pii=(("EMAIL", 1),)))
        for p in range(3):
            for k in range(60):
                e.feed(x(t0 + k * 5 + p, "GET", f"/healthz{p}", ip=f"10.0.8.{p + 1}", response={"ok": True}))
        for a in range(2):
            for k in range(36):
                e.feed(x(t0 + k * 8 + a, "GET", f"/api/admin.{['users', 'teams', 'keys', 'audit'][k % 4]}{k % 18}.list",
                         200 if k % 6 else 403, ip=f"10.0.7.{a + 1}", key=f"sk_live_admin_{a:03d}", response={"ok": True}))
    # after it: the same users, and one key probing 20 methods in under two minutes, refused
    users(T0 + 900)
    for k in range(20):
        e.feed(x(T0 + 900 + k * 5, "GET", f"/api/{['keys', 'tenants', 'exports', 'billing', 'audit'][k % 5]}{k}.list", 403,
                 ip="198.51.100.60", key="sk_live_recon_0001", response={"error": "forbidden"}))
    e.close()
    assert [ev.actor.ip for ev in events_of(e, "anomaly")] == ["198.51.100.60"]
