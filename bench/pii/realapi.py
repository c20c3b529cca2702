"""Labelled exchanges in the shapes of real public APIs (the specs in ``../shared/corpus/specs`` and
their documented examples): the families where PII detection goes wrong on traffic nobody tuned for.

* numbers that are ids: long numeric order / transaction / file ids that pass Luhn by chance (one
  in ten does), in bodies, paths and query strings, sequential invoice numbers, PSP references,
  snowflake and etcd member ids;
* versions: ``3.3.101.7`` in ``lower``/``upper``, ``<d:Version>1.1.23.0</d:Version>`` in OData atom
  feeds (also cut short, so only text is left), build stamps like ``2024.10.24.16.53.42``,
  ``product/4.2.10.3`` tokens;
* OAuth 1.0a nonces in ``Authorization: OAuth ...`` and in query strings;
* ``address`` fields holding IPs and host names (Kubernetes nodes, Docker, Alertmanager, etcd);
* ``name`` fields of things, not people: repositories, apps (``displayName: "cba"``), projects,
  artists, pokemon, networks, accounts of companies;
* people where no field name says so: the bare ``name`` of ``/customers/{id}``, FHIR ``Patient``
  names, ``author=Chris Sanders`` in a query string, names in free text and in search queries.

Person names come from the shared FakeNameGenerator file when ``../shared`` is there (3,000
identities of many name sets), else from the 30-row sample in ``tests/analyzer/data``, plus the
synthetic generator's own lists; none of them is the detector's name list. Deterministic per seed.
"""

from __future__ import annotations

import csv
import random
import string
import uuid
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from urllib.parse import quote, urlencode

from bench.pii import synth
from bench.pii.synth import Label, Sample, _digits, _json, _record

ROOT = Path(__file__).resolve().parents[2]
_FAKENAME_FILES = (
    ROOT.parent / "shared" / "corpus" / "pii" / "presidio_FakeNameGenerator.com_3000.csv",
    ROOT.parents[1] / "shared" / "corpus" / "pii" / "presidio_FakeNameGenerator.com_3000.csv",
    ROOT / "tests" / "analyzer" / "data" / "pii_fakename_sample.csv",
)


@lru_cache(maxsize=1)
def name_pool() -> tuple[tuple[tuple[str, str], ...], str]:
    """((given name, surname), ...) and where they came from."""
    for path in _FAKENAME_FILES:
        if path.exists():
            with path.open(encoding="utf-8-sig", newline="") as fh:
                rows = [(r["GivenName"].strip(), r["Surname"].strip()) for r in csv.DictReader(fh)]
            rows = [r for r in rows if r[0] and r[1]]
            pairs = [(f, s) for f in synth.FIRST for s in synth.LAST]
            return tuple(rows + pairs[:: max(1, len(pairs) // 100)]), str(path)
    return tuple((f, s) for f in synth.FIRST for s in synth.LAST), "bench/pii/synth.py lists"


def full_name(rng: random.Random) -> str:
    given, surname = rng.choice(name_pool()[0])
    return f"{given} {surname}"


def given_surname(rng: random.Random) -> tuple[str, str]:
    return rng.choice(name_pool()[0])


def _hex(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789abcdef") for _ in range(n))


def _alnum(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(n))


def long_id(rng: random.Random, length: int = 16) -> str:
    """A random numeric id of card length with a card-like first digit: passes Luhn one time in ten."""
    return rng.choice("3456") + _digits(rng, length - 1)


def private_ip(rng: random.Random) -> str:
    return rng.choice(
        [
            f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(2, 254)}",
            f"172.{rng.randrange(16, 32)}.{rng.randrange(256)}.{rng.randrange(2, 254)}",
            f"192.168.{rng.randrange(256)}.{rng.randrange(2, 254)}",
        ]
    )


def version4(rng: random.Random) -> str:
    return f"{rng.randrange(1, 12)}.{rng.randrange(0, 12)}.{rng.randrange(0, 250)}.{rng.randrange(0, 250)}"


# -- ids that look like cards --------------------------------------------------------------------


def ep_wechat_orders(rng: random.Random) -> Sample:
    orders = [
        {
            "transaction_id": "42000" + _digits(rng, 23),
            "out_trade_no": long_id(rng, rng.choice([16, 18, 19])),
            "openid": "oUpF8u" + _alnum(rng, 22),
            "total_fee": rng.randrange(1, 100000),
            "time_end": f"2024{rng.randrange(1, 13):02d}{rng.randrange(1, 29):02d}{_digits(rng, 6)}",
            "trade_state": rng.choice(["SUCCESS", "REFUND", "NOTPAY"]),
        }
        for _ in range(rng.randrange(2, 8))
    ]
    query = urlencode({"mch_id": "1230000109", "nonce_str": _alnum(rng, 32), "sign": _hex(rng, 32).upper()})
    return Sample(
        "GET /pay/orderquery",
        _record(
            rng,
            "GET",
            f"/pay/orderquery?{query}",
            resp_body=_json({"return_code": "SUCCESS", "orders": orders}),
        ),
        set(),
    )


def ep_file_by_id(rng: random.Random) -> Sample:
    file_id = long_id(rng, rng.choice([16, 19]))
    resp = {"id": file_id, "name": f"report-{rng.randrange(1000)}.pdf", "size": rng.randrange(10**6)}
    return Sample(
        "GET /api/v2/files/{id}/content",
        _record(rng, "GET", f"/api/v2/files/{file_id}/content?rev={long_id(rng)}", resp_body=_json(resp)),
        set(),
    )


def ep_invoices_sequential(rng: random.Random) -> Sample:
    start = 4_000_000_000_000_000 + rng.randrange(10**8)
    items = [
        {"number": str(start + i), "status": rng.choice(["paid", "open"]), "total": synth.price(rng)}
        for i in range(rng.randrange(5, 12))
    ]
    return Sample(
        "GET /api/v1/invoices",
        _record(
            rng, "GET", f"/api/v1/invoices?page={rng.randrange(1, 20)}", resp_body=_json({"items": items})
        ),
        set(),
    )


def ep_cards_on_file(rng: random.Random) -> Sample:
    # The counterpart: a field that does hold cards (every value passes Luhn) stays a card field.
    cards = [
        {"number": synth.card(rng).replace(" ", ""), "holder": full_name(rng), "exp": "11/28"}
        for _ in range(rng.randrange(1, 4))
    ]
    return Sample(
        "GET /api/v1/wallet/cards",
        _record(rng, "GET", "/api/v1/wallet/cards", resp_body=_json({"cards": cards})),
        {("response", "CREDIT_CARD"), ("response", "PERSON")},
    )


def ep_adyen_payment(rng: random.Random) -> Sample:
    given, surname = given_surname(rng)
    body = {
        "amount": {"currency": "EUR", "value": rng.randrange(100, 100000)},
        "reference": f"ORDER-{_digits(rng, 8)}",
        "paymentMethod": {
            "type": "scheme",
            "encryptedCardNumber": "adyenjs_0_1_25$" + _alnum(rng, 40),
            "holderName": f"{given} {surname}",
        },
        "shopperEmail": f"{given.lower()}.{surname.lower()}@example.com".encode("ascii", "ignore").decode(),
        "shopperIP": f"203.0.113.{rng.randrange(1, 255)}",
        "shopperName": {"firstName": given, "lastName": surname},
        "billingAddress": {
            "street": rng.choice(["Infinite Loop", "Simon Carmiggeltstraat", "Baker Street"]),
            "houseNumberOrName": str(rng.randrange(1, 300)),
            "city": rng.choice(synth.CITIES),
            "postalCode": str(rng.randrange(10000, 99999)),
            "country": "NL",
        },
        "merchantAccount": "AcmeShopECOM",
    }
    resp = {
        "pspReference": "88" + _digits(rng, 14),
        "resultCode": "Authorised",
        "merchantReference": body["reference"],
    }
    labels: set[Label] = {
        ("request", "PERSON"),
        ("request", "EMAIL_ADDRESS"),
        ("request", "IP_ADDRESS"),
        ("request", "LOCATION"),
        ("header", "CREDENTIAL"),
    }
    return Sample(
        "POST /v71/payments",
        _record(
            rng,
            "POST",
            "/v71/payments",
            req_headers=[["X-API-Key", "AQE" + _alnum(rng, 60)]],
            req_body=_json(body),
            req_type="application/json",
            resp_body=_json(resp),
        ),
        labels,
    )


def ep_binance_order(rng: random.Random) -> Sample:
    query = urlencode(
        {
            "symbol": rng.choice(["BTCUSDT", "ETHBTC"]),
            "orderId": long_id(rng, 16),
            "timestamp": synth.epoch(rng, ms=True),
            "recvWindow": 5000,
            "signature": _hex(rng, 64),
        }
    )
    resp = {
        "symbol": "BTCUSDT",
        "orderId": int(long_id(rng, 16)),
        "clientOrderId": _alnum(rng, 22),
        "transactTime": synth.epoch(rng, ms=True),
        "price": synth.price(rng),
        "status": "FILLED",
    }
    return Sample(
        "GET /api/v3/order",
        _record(
            rng,
            "GET",
            f"/api/v3/order?{query}",
            req_headers=[["X-MBX-APIKEY", _alnum(rng, 64)]],
            resp_body=_json(resp),
        ),
        {("header", "CREDENTIAL")},
    )


# -- nonces --------------------------------------------------------------------------------------


def ep_oauth1(rng: random.Random) -> Sample:
    nonce = _digits(rng, rng.choice([16, 19])) if rng.random() < 0.6 else _alnum(rng, 32)
    header = (
        f'OAuth oauth_consumer_key="{_alnum(rng, 25)}", oauth_nonce="{nonce}", '
        f'oauth_signature="{quote(_alnum(rng, 27) + "=", safe="")}", oauth_signature_method="HMAC-SHA1", '
        f'oauth_timestamp="{synth.epoch(rng)}", oauth_token="{rng.randrange(10**8, 10**9)}-{_alnum(rng, 40)}", '
        'oauth_version="1.0"'
    )
    query = urlencode({"count": 20, "since_id": long_id(rng, 19), "oauth_nonce": _digits(rng, 16)})
    return Sample(
        "GET /1.1/statuses/home_timeline.json",
        _record(
            rng,
            "GET",
            f"/1.1/statuses/home_timeline.json?{query}",
            req_headers=[["Authorization", header]],
            resp_body=_json(
                [{"id_str": long_id(rng, 19), "text": "Shipping the new release today", "retweet_count": 3}]
            ),
        ),
        {("header", "CREDENTIAL")},
    )


def ep_oidc_token(rng: random.Random) -> Sample:
    form = urlencode(
        {
            "grant_type": "authorization_code",
            "code": _alnum(rng, 32),
            "redirect_uri": "https://app.example.com/callback",
            "client_id": _alnum(rng, 20),
            "client_secret": _alnum(rng, 40),
            "nonce": _digits(rng, 16),
            "state": _digits(rng, 16),
        }
    )
    resp = {
        "access_token": synth.jwt(rng),
        "id_token": synth.jwt(rng),
        "token_type": "Bearer",
        "expires_in": 3600,
    }
    return Sample(
        "POST /oauth/token",
        _record(
            rng,
            "POST",
            "/oauth/token",
            req_body=form,
            req_type="application/x-www-form-urlencoded",
            resp_body=_json(resp),
        ),
        {("request", "CREDENTIAL"), ("response", "CREDENTIAL")},
    )


# -- versions ------------------------------------------------------------------------------------


def ep_extension_versions(rng: random.Random) -> Sample:
    lower = version4(rng)
    resp = {
        "id": _alnum(rng, 32).lower(),
        "versions": [
            {
                "version": version4(rng),
                "min_browser": f"{rng.randrange(90, 130)}.0.{_digits(rng, 4)}.{rng.randrange(200)}",
            }
        ],
        "range": {"lower": lower, "upper": version4(rng)},
        "build": f"2024.{rng.randrange(1, 13)}.{rng.randrange(1, 29)}.{rng.randrange(24)}.{rng.randrange(60)}.{rng.randrange(60)}",
        "client": f"UpdateAgent/{version4(rng)} (Windows NT 10.0; Win64; x64)",
    }
    return Sample(
        "GET /service/update2/json",
        _record(
            rng, "GET", f"/service/update2/json?prodversion={version4(rng)}&os=win", resp_body=_json(resp)
        ),
        set(),
    )


def ep_nuget_odata(rng: random.Random) -> Sample:
    package = rng.choice(["Newtonsoft.Json", "Serilog", "Dapper", "AutoMapper", "Polly"])
    version = version4(rng)
    xml = (
        '<?xml version="1.0" encoding="utf-8"?><feed xml:base="https://www.nuget.org/api/v2" '
        'xmlns="http://www.w3.org/2005/Atom" xmlns:d="http://schemas.microsoft.com/ado/2007/08/dataservices" '
        'xmlns:m="http://schemas.microsoft.com/ado/2007/08/dataservices/metadata"><entry>'
        f"<id>https://www.nuget.org/api/v2/Packages(Id='{package}',Version='{version}')</id>"
        f'<title type="text">{package}</title><m:properties><d:Version>{version}</d:Version>'
        f'<d:NormalizedVersion>{version}</d:NormalizedVersion><d:DownloadCount m:type="Edm.Int64">{rng.randrange(10**9)}</d:DownloadCount>'
        f"<d:Dependencies>Microsoft.CSharp:{version4(rng)}:net45</d:Dependencies>"
        f'<d:Published m:type="Edm.DateTime">{synth.recent_date(rng)}T10:00:00</d:Published></m:properties></entry></feed>'
    )
    if rng.random() < 0.4:  # the capture's body cap cut it: no longer XML, scanned as text
        xml = xml[: rng.randrange(len(xml) // 2, len(xml) - 40)]
    return Sample(
        "GET /api/v2/Packages(Id='{id}',Version='{version}')",
        _record(
            rng,
            "GET",
            f"/api/v2/Packages(Id='{package}',Version='{version}')",
            resp_body=xml,
            resp_type="application/atom+xml;type=entry;charset=utf-8",
        ),
        set(),
    )


def ep_status_build(rng: random.Random) -> Sample:
    stamp = f"2024.{rng.randrange(10, 13)}.{rng.randrange(10, 29)}.{rng.randrange(10, 24)}.{rng.randrange(10, 60)}.{rng.randrange(10, 60)}"
    resp = {"status": "ok", "build_id": stamp, "release": stamp[:10], "commit": _hex(rng, 40)}
    return Sample(
        "GET /api/status",
        _record(rng, "GET", "/api/status", resp_headers=[["X-Build", stamp]], resp_body=_json(resp)),
        set(),
    )


# -- addresses that are network addresses ---------------------------------------------------------


def ep_k8s_node(rng: random.Random) -> Sample:
    ip = private_ip(rng)
    host = "ip-" + ip.replace(".", "-") + ".ec2.internal"
    resp = {
        "kind": "Node",
        "metadata": {"name": host, "uid": str(uuid.UUID(int=rng.getrandbits(128)))},
        "status": {
            "addresses": [{"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": host}],
            "nodeInfo": {
                "kubeletVersion": f"v1.{rng.randrange(24, 31)}.{rng.randrange(10)}",
                "kernelVersion": f"5.10.{rng.randrange(100, 250)}-{rng.randrange(100, 250)}.{rng.randrange(100, 999)}.amzn2.x86_64",
                "osImage": "Amazon Linux 2",
                "containerRuntimeVersion": "containerd://1.7.11",
            },
        },
    }
    return Sample(
        "GET /api/v1/nodes/{name}",
        _record(
            rng,
            "GET",
            f"/api/v1/nodes/{host}",
            req_headers=[["Authorization", "Bearer " + synth.jwt(rng)]],
            resp_body=_json(resp),
        ),
        {("response", "IP_ADDRESS"), ("header", "CREDENTIAL")},
    )


def ep_docker_network(rng: random.Random) -> Sample:
    subnet = f"172.{rng.randrange(17, 31)}"
    containers = {
        _hex(rng, 64): {
            "Name": f"{rng.choice(['web', 'db', 'cache', 'worker'])}-{i}",
            "IPv4Address": f"{subnet}.0.{i + 2}/16",
            "MacAddress": "02:42:ac:11:00:" + f"{i + 2:02x}",
        }
        for i in range(rng.randrange(1, 4))
    }
    resp = {
        "Name": rng.choice(["bridge", "backend", "frontend_default"]),
        "Id": _hex(rng, 64),
        "Driver": "bridge",
        "IPAM": {"Config": [{"Subnet": f"{subnet}.0.0/16", "Gateway": f"{subnet}.0.1"}]},
        "Containers": containers,
    }
    return Sample(
        "GET /v1.43/networks/{id}",
        _record(rng, "GET", f"/v1.43/networks/{resp['Id']}", resp_body=_json(resp)),
        {("response", "IP_ADDRESS")},
    )


def ep_alertmanager_status(rng: random.Random) -> Sample:
    peers = [
        {"address": f"{private_ip(rng)}:9094", "name": "01H" + _alnum(rng, 23).upper()} for _ in range(2)
    ]
    resp = {
        "cluster": {"name": "01H" + _alnum(rng, 23).upper(), "peers": peers, "status": "ready"},
        "versionInfo": {"version": "0.26.0", "revision": _hex(rng, 8), "goVersion": "go1.21.3"},
        "uptime": "2024-10-24T16:53:42.000Z",
    }
    return Sample(
        "GET /api/v2/status",
        _record(rng, "GET", "/api/v2/status", resp_body=_json(resp)),
        {("response", "IP_ADDRESS")},
    )


def ep_etcd_members(rng: random.Random) -> Sample:
    members = [
        {
            "ID": str(rng.randrange(10**19, 2**64)),
            "name": f"infra{i}",
            "peerURLs": [f"http://{private_ip(rng)}:2380"],
            "clientURLs": [f"http://{private_ip(rng)}:2379"],
        }
        for i in range(3)
    ]
    resp = {
        "header": {"cluster_id": str(rng.randrange(10**19, 2**64)), "revision": str(rng.randrange(10**6))},
        "members": members,
    }
    return Sample(
        "POST /v3/cluster/member/list",
        _record(
            rng,
            "POST",
            "/v3/cluster/member/list",
            req_body="{}",
            req_type="application/json",
            resp_body=_json(resp),
        ),
        set(),
    )


# -- names that are not people --------------------------------------------------------------------

APP_NAMES = [
    "cba",
    "Billing Portal",
    "prod-gateway",
    "Internal Tools",
    "Data Sync",
    "Support Bot",
    "Acme Mobile",
    "abc",
    "Zapier Integration",
]


def ep_repo(rng: random.Random) -> Sample:
    owner = rng.choice(["octocat", "torvalds", "acme-corp", "gitea"])
    repo = rng.choice(["hello-world", "linux", "api-gateway", "docs", "Spoon-Knife"])
    labels: set[Label] = set()
    owner_obj: dict[str, object] = {"id": rng.randrange(10**6), "login": owner, "full_name": ""}
    if rng.random() < 0.7:
        owner_obj["full_name"] = full_name(rng)
        owner_obj["email"] = f"{owner}@users.noreply.example.com"
        labels |= {("response", "PERSON"), ("response", "EMAIL_ADDRESS")}
    resp = {
        "id": rng.randrange(10**7),
        "name": repo,
        "full_name": f"{owner}/{repo}",
        "owner": owner_obj,
        "description": rng.choice(["My first repository on GitHub!", "Linux kernel source tree", ""]),
        "default_branch": "main",
        "clone_url": f"https://git.example.com/{owner}/{repo}.git",
    }
    return Sample(
        "GET /api/v1/repos/{owner}/{repo}",
        _record(rng, "GET", f"/api/v1/repos/{owner}/{repo}", resp_body=_json(resp)),
        labels,
    )


def ep_app(rng: random.Random) -> Sample:
    resp = {
        "id": str(uuid.UUID(int=rng.getrandbits(128))),
        "name": rng.choice(APP_NAMES),
        "displayName": rng.choice(APP_NAMES),
        "client": {
            "name": rng.choice(APP_NAMES),
            "client_id": _alnum(rng, 20),
            "client_secret": _alnum(rng, 40),
        },
        "owner": {"type": "team", "name": rng.choice(["Platform Team", "payments", "SRE"])},
    }
    return Sample(
        "GET /v2/apps/{id}",
        _record(rng, "GET", f"/v2/apps/{resp['id']}", resp_body=_json(resp)),
        {("response", "CREDENTIAL")},
    )


def ep_artist(rng: random.Random) -> Sample:
    artist = rng.choice(["Daft Punk", "Radiohead", "Massive Attack", "The Beatles", "Portishead"])
    resp = {
        "id": _alnum(rng, 22),
        "name": artist,
        "genres": ["electronic"],
        "popularity": rng.randrange(100),
        "type": "artist",
        "top_track": {
            "name": rng.choice(["Get Lucky", "Karma Police", "Teardrop"]),
            "album": {"name": "Random Access Memories"},
        },
    }
    return Sample(
        "GET /v1/artists/{id}", _record(rng, "GET", f"/v1/artists/{resp['id']}", resp_body=_json(resp)), set()
    )


def ep_pokemon(rng: random.Random) -> Sample:
    name = rng.choice(["bulbasaur", "pikachu", "charmander", "mew"])
    resp = {
        "id": rng.randrange(1, 900),
        "name": name,
        "abilities": [{"ability": {"name": "overgrow"}}],
        "species": {"name": name},
    }
    return Sample(
        "GET /api/v2/pokemon/{id}",
        _record(rng, "GET", f"/api/v2/pokemon/{resp['id']}", resp_body=_json(resp)),
        set(),
    )


def ep_company_account(rng: random.Random) -> Sample:
    resp = {
        "accountIdGuid": str(uuid.UUID(int=rng.getrandbits(128))),
        "accountName": rng.choice(["Acme Corp", "Globex Inc", "Initech LLC", "Umbrella Holdings"]),
        "billingPeriodStartDate": synth.recent_date(rng),
        "planName": "Business Pro",
    }
    return Sample(
        "GET /v2/accounts/{accountId}",
        _record(rng, "GET", f"/v2/accounts/{resp['accountIdGuid']}", resp_body=_json(resp)),
        set(),
    )


def ep_project(rng: random.Random) -> Sample:
    name = rng.choice(["library", "apollo", "Website Redesign", "Project Phoenix"])
    resp = {
        "project_id": rng.randrange(1000),
        "name": name,
        "owner_name": "admin",
        "metadata": {"public": "true"},
    }
    return Sample(
        "GET /api/v2.0/projects/{name}",
        _record(rng, "GET", f"/api/v2.0/projects/{quote(name)}", resp_body=_json(resp)),
        set(),
    )


# -- people without a telling field name ----------------------------------------------------------


def ep_customer_bare_name(rng: random.Random) -> Sample:
    cid = rng.randrange(10**6)
    resp = {
        "id": cid,
        "name": full_name(rng),
        "email": synth.email(rng),
        "created_at": synth.recent_date(rng),
        "tier": "gold",
    }
    return Sample(
        "GET /api/customers/{id}",
        _record(rng, "GET", f"/api/customers/{cid}", resp_body=_json(resp)),
        {("response", "PERSON"), ("response", "EMAIL_ADDRESS")},
    )


def ep_users_wrapped(rng: random.Random) -> Sample:
    uid = rng.randrange(10**6)
    resp = {
        "data": {"id": uid, "name": full_name(rng), "role": rng.choice(["admin", "member"])},
        "meta": {"version": "2"},
    }
    return Sample(
        "GET /api/v1/users/{id}",
        _record(rng, "GET", f"/api/v1/users/{uid}", resp_body=_json(resp)),
        {("response", "PERSON")},
    )


def ep_fhir_patient(rng: random.Random) -> Sample:
    given, surname = given_surname(rng)
    resp = {
        "resourceType": "Patient",
        "id": _alnum(rng, 12).lower(),
        "name": [{"use": "official", "family": surname, "given": [given]}],
        "gender": rng.choice(["male", "female"]),
        "birthDate": synth.dob(rng)[:10],
        "address": [
            {
                "line": [synth.street(rng)],
                "city": rng.choice(synth.CITIES),
                "postalCode": str(rng.randrange(1000, 9999)),
            }
        ],
    }
    return Sample(
        "GET /fhir/Patient/{id}",
        _record(
            rng,
            "GET",
            f"/fhir/Patient/{resp['id']}",
            resp_body=_json(resp),
            resp_type="application/fhir+json",
        ),
        {("response", "PERSON"), ("response", "DATE_OF_BIRTH"), ("response", "LOCATION")},
    )


def ep_patients_list(rng: random.Random) -> Sample:
    items = [
        {"id": rng.randrange(10**5), "name": full_name(rng), "ward": rng.choice(["A", "B", "ICU"])}
        for _ in range(rng.randrange(1, 5))
    ]
    return Sample(
        "GET /api/patients",
        _record(
            rng,
            "GET",
            f"/api/patients?ward={rng.choice(['A', 'B'])}",
            resp_body=_json({"results": items, "count": len(items)}),
        ),
        {("response", "PERSON")},
    )


def ep_books_author(rng: random.Random) -> Sample:
    author = full_name(rng)
    query = urlencode({"author": author, "api-key": _alnum(rng, 32)})
    resp = {
        "status": "OK",
        "results": [
            {
                "book_title": rng.choice(["Practical Packet Analysis", "The Silent Patient", "Deep Work"]),
                "book_author": author,
                "publication_dt": synth.recent_date(rng),
            }
        ],
    }
    return Sample(
        "GET /svc/books/v3/reviews.json",
        _record(rng, "GET", f"/svc/books/v3/reviews.json?{query}", resp_body=_json(resp)),
        {("query", "PERSON"), ("query", "CREDENTIAL"), ("response", "PERSON")},
    )


def ep_jira_issue(rng: random.Random) -> Sample:
    reporter = full_name(rng)
    login = reporter.split()[0].lower()
    resp = {
        "key": f"PROJ-{rng.randrange(1, 9999)}",
        "fields": {
            "summary": rng.choice(["Export fails on Monday", "Login page is slow", "Update Release Notes"]),
            "reporter": {"name": login, "displayName": reporter, "emailAddress": synth.email(rng)},
            "assignee": {"name": "jsmith", "displayName": full_name(rng)},
            "project": {"name": rng.choice(["Website Redesign", "Mobile App"]), "key": "PROJ"},
        },
    }
    return Sample(
        "GET /rest/api/2/issue/{key}",
        _record(rng, "GET", f"/rest/api/2/issue/{resp['key']}", resp_body=_json(resp)),
        {("response", "PERSON"), ("response", "EMAIL_ADDRESS")},
    )


NEUTRAL_TEXT = [
    "Deploy to Production failed on Monday, rolling back.",
    "The New York office is closed for Black Friday.",
    "Please review the Release Notes before the Customer Support call.",
    "Google Cloud Storage latency is back to normal.",
    "Export fails when the Date Range spans two years.",
]


def ep_ticket_comment(rng: random.Random) -> Sample:
    labels: set[Label] = set()
    if rng.random() < 0.5:
        person = full_name(rng)
        text = rng.choice(
            [
                f"Hi team, {person} reported that the export fails since Monday.",
                f"Thanks to {person} for the detailed report.",
                f"Escalated by {person}; waiting for the vendor.",
            ]
        )
        labels.add(("request", "PERSON"))
    else:
        text = rng.choice(NEUTRAL_TEXT)
    tid = rng.randrange(10**5)
    return Sample(
        "POST /api/v2/tickets/{id}/comments",
        _record(
            rng,
            "POST",
            f"/api/v2/tickets/{tid}/comments",
            req_body=_json({"comment": {"body": text, "public": True}}),
            req_type="application/json",
            resp_body=_json({"id": rng.randrange(10**9), "created_at": synth.recent_date(rng)}),
        ),
        labels,
    )


def ep_contact_search(rng: random.Random) -> Sample:
    labels: set[Label] = set()
    if rng.random() < 0.5:
        q = full_name(rng)
        labels.add(("query", "PERSON"))
    else:
        q = rng.choice(["blue widgets", "New York", "Release Notes", "invoice overdue", "Black Friday"])
    return Sample(
        "GET /api/contacts/search",
        _record(
            rng,
            "GET",
            f"/api/contacts/search?{urlencode({'q': q, 'limit': 20})}",
            resp_body=_json({"hits": [], "total": 0}),
        ),
        labels,
    )


def ep_mastodon_account(rng: random.Random) -> Sample:
    display = full_name(rng)
    username = display.split()[0].lower().encode("ascii", "ignore").decode() or "user"
    resp = {
        "id": "1" + _digits(rng, 17),
        "username": username,
        "acct": username,
        "display_name": display,
        "note": "<p>Coffee, code and cats.</p>",
        "url": f"https://mastodon.example/@{username}",
        "followers_count": rng.randrange(10**4),
    }
    return Sample(
        "GET /api/v1/accounts/{id}",
        _record(rng, "GET", f"/api/v1/accounts/{resp['id']}", resp_body=_json(resp)),
        {("response", "PERSON")},
    )


def ep_northwind_customer(rng: random.Random) -> Sample:
    cid = "".join(rng.choice(string.ascii_uppercase) for _ in range(5))
    resp = {
        "@odata.context": "https://services.odata.org/V4/Northwind/Northwind.svc/$metadata#Customers/$entity",
        "CustomerID": cid,
        "CompanyName": rng.choice(["Alfreds Futterkiste", "Around the Horn", "Bottom-Dollar Markets"]),
        "ContactName": full_name(rng),
        "ContactTitle": rng.choice(["Sales Representative", "Owner", "Marketing Manager"]),
        "Address": rng.choice(["Obere Str. 57", "120 Hanover Sq.", "23 Tsawassen Blvd."]),
        "City": rng.choice(synth.CITIES),
        "PostalCode": str(rng.randrange(10000, 99999)),
        "Country": "Germany",
        "Phone": f"030-{_digits(rng, 7)}",
    }
    return Sample(
        "GET /Northwind.svc/Customers('{id}')",
        _record(rng, "GET", f"/V4/Northwind/Northwind.svc/Customers('{cid}')", resp_body=_json(resp)),
        {("response", "PERSON"), ("response", "LOCATION"), ("response", "PHONE_NUMBER")},
    )


def ep_twilio_message(rng: random.Random) -> Sample:
    labels: set[Label] = {("request", "PHONE_NUMBER"), ("header", "CREDENTIAL")}
    if rng.random() < 0.5:
        body = f"Your driver {full_name(rng)} is arriving in 5 minutes."
        labels.add(("request", "PERSON"))
    else:
        body = rng.choice(
            ["Your code is 493021", "Reminder: appointment tomorrow at 10:00", "Order shipped!"]
        )
    form = urlencode({"To": synth.intl_phone(rng), "From": synth.intl_phone(rng), "Body": body})
    sid = "AC" + _hex(rng, 32)
    import base64

    basic = base64.b64encode(f"{sid}:{_hex(rng, 32)}".encode()).decode()
    return Sample(
        "POST /2010-04-01/Accounts/{AccountSid}/Messages.json",
        _record(
            rng,
            "POST",
            f"/2010-04-01/Accounts/{sid}/Messages.json",
            req_headers=[["Authorization", f"Basic {basic}"]],
            req_body=form,
            req_type="application/x-www-form-urlencoded",
            resp_body=_json({"sid": "SM" + _hex(rng, 32), "status": "queued"}),
        ),
        labels,
    )


ENDPOINTS: tuple[Callable[[random.Random], Sample], ...] = (
    ep_wechat_orders,
    ep_file_by_id,
    ep_invoices_sequential,
    ep_cards_on_file,
    ep_adyen_payment,
    ep_binance_order,
    ep_oauth1,
    ep_oidc_token,
    ep_extension_versions,
    ep_nuget_odata,
    ep_status_build,
    ep_k8s_node,
    ep_docker_network,
    ep_alertmanager_status,
    ep_etcd_members,
    ep_repo,
    ep_app,
    ep_artist,
    ep_pokemon,
    ep_company_account,
    ep_project,
    ep_customer_bare_name,
    ep_users_wrapped,
    ep_fhir_patient,
    ep_patients_list,
    ep_books_author,
    ep_jira_issue,
    ep_ticket_comment,
    ep_contact_search,
    ep_mastodon_account,
    ep_northwind_customer,
    ep_twilio_message,
)


def generate(n: int, seed: int = 17) -> list[Sample]:
    """``n`` labelled exchanges, every endpoint first, then drawn at random."""
    rng = random.Random(seed)
    return [ENDPOINTS[i](rng) if i < len(ENDPOINTS) else rng.choice(ENDPOINTS)(rng) for i in range(n)]
