"""Labelled synthetic exchanges for the PII benchmark (and tests).

Each generated exchange is a record dict in the sensor's ``Exchange.to_dict()`` shape plus its
endpoint key and its gold labels: the set of (location, type) pairs it really carries. Values are
valid by construction (Luhn cards, mod-97 IBANs, GB 11643 CN ids, libphonenumber-valid phones)
and every endpoint also carries look-alikes that must NOT be reported: order numbers, epoch
timestamps, SKUs, UUIDs, prices, non-birth dates, 18-digit numbers failing the CN checksum,
Luhn-failing 16-digit numbers. Deterministic for a given seed.
"""

from __future__ import annotations

import base64
import json
import random
import string
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any
from urllib.parse import quote, urlencode

import phonenumbers

Label = tuple[str, str]  # (location, type)


@dataclass
class Sample:
    endpoint: str  # "METHOD /template"
    record: dict[str, Any]
    labels: set[Label] = field(default_factory=set)


FIRST = [
    "Wei",
    "Li",
    "Fang",
    "Min",
    "James",
    "Mary",
    "Olivia",
    "Liam",
    "Sofia",
    "Ahmed",
    "Priya",
    "Lukas",
    "Chloé",
    "Mateo",
    "Yuki",
    "Sean",
    "Aisha",
    "Noah",
    "Emma",
    "Björn",
]
LAST = [
    "Zhang",
    "Wang",
    "Chen",
    "Liu",
    "Smith",
    "Johnson",
    "Garcia",
    "Müller",
    "O'Brien",
    "Nakamura",
    "Patel",
    "Kowalski",
    "Dubois",
    "Rossi",
    "Nguyen",
    "Andersson",
    "Okafor",
    "Silva",
    "Kim",
    "Ivanova",
]
CJK_NAMES = ["张伟", "王芳", "李娜", "刘洋", "陈静", "杨磊"]
STREETS = ["Oak", "Maple", "Baker", "High", "Church", "Elm", "Park", "Victoria", "Sunset", "Lincoln"]
STREET_TYPES = ["Street", "Avenue", "Road", "Lane", "Drive", "St", "Ave", "Blvd"]
CITIES = ["Springfield", "London", "Shanghai", "Berlin", "Austin", "Leeds", "Shenzhen", "Toronto"]
CN_REGIONS = ["110105", "310115", "440305", "330106", "510104", "320102"]
US_AREAS = ["212", "415", "646", "312", "617", "206", "303", "512"]


def luhn_complete(prefix_and_body: str) -> str:
    digits = [int(d) for d in prefix_and_body]
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2 == 0:  # these positions are doubled once the check digit is appended
            d *= 2
            d -= 9 if d > 9 else 0
        total += d
    return prefix_and_body + str((10 - total % 10) % 10)


def luhn_valid(number: str) -> bool:
    return luhn_complete(number[:-1]) == number


def card(rng: random.Random) -> str:
    prefix, length = rng.choice([("4", 16), ("51", 16), ("55", 16), ("2221", 16), ("34", 15), ("6011", 16)])
    body = prefix + "".join(rng.choice(string.digits) for _ in range(length - len(prefix) - 1))
    number = luhn_complete(body)
    if length == 16 and rng.random() < 0.4:
        return " ".join(number[i : i + 4] for i in range(0, 16, 4))
    return number


def luhn_failing_16(rng: random.Random) -> str:
    while True:
        n = rng.choice("456") + "".join(rng.choice(string.digits) for _ in range(15))
        if not luhn_valid(n):
            return n


def iban(rng: random.Random) -> str:
    country, bban = rng.choice(
        [
            ("GB", lambda: "".join(rng.choice(string.ascii_uppercase) for _ in range(4)) + _digits(rng, 14)),
            ("DE", lambda: _digits(rng, 18)),
            ("NL", lambda: "".join(rng.choice(string.ascii_uppercase) for _ in range(4)) + _digits(rng, 10)),
            (
                "FR",
                lambda: (
                    _digits(rng, 10)
                    + "".join(rng.choice(string.ascii_uppercase + string.digits) for _ in range(11))
                    + _digits(rng, 2)
                ),
            ),
        ]
    )
    bban_value = bban()
    rearranged = bban_value + country + "00"
    numeric = "".join(str(int(c, 36)) for c in rearranged)
    check = 98 - int(numeric) % 97
    value = f"{country}{check:02d}{bban_value}"
    if rng.random() < 0.4:
        return " ".join(value[i : i + 4] for i in range(0, len(value), 4))
    return value


def _digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(string.digits) for _ in range(n))


_CN_W = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def cn_id(rng: random.Random) -> str:
    born = date(1950, 1, 1) + timedelta(days=rng.randrange(20000))
    body = rng.choice(CN_REGIONS) + born.strftime("%Y%m%d") + _digits(rng, 3)
    return body + "10X98765432"[sum(int(d) * w for d, w in zip(body, _CN_W, strict=True)) % 11]


def cn_id_lookalike(rng: random.Random) -> str:
    """18 digits shaped like an id (region + date) whose check digit is wrong."""
    good = cn_id(rng)
    wrong = rng.choice([c for c in "0123456789" if c != good[-1]])
    return good[:-1] + wrong


def ssn(rng: random.Random) -> str:
    area = rng.choice([a for a in range(1, 900) if a != 666])
    value = f"{area:03d}-{rng.randrange(1, 100):02d}-{rng.randrange(1, 10000):04d}"
    return value if rng.random() < 0.7 else value.replace("-", "")


# Allocated mainland mobile prefixes (China Mobile / Unicom / Telecom), so libphonenumber agrees.
CN_MOBILE_PREFIXES = [
    "130",
    "131",
    "132",
    "135",
    "136",
    "137",
    "138",
    "139",
    "150",
    "151",
    "152",
    "157",
    "158",
    "159",
    "176",
    "177",
    "178",
    "180",
    "181",
    "183",
    "185",
    "186",
    "187",
    "188",
    "189",
    "199",
]


def cn_mobile(rng: random.Random) -> str:
    number = rng.choice(CN_MOBILE_PREFIXES) + _digits(rng, 8)
    style = rng.randrange(3)
    if style == 0:
        return number
    if style == 1:
        return f"+86 {number[:3]} {number[3:7]} {number[7:]}"
    return "+86" + number


def intl_phone(rng: random.Random) -> str:
    while True:
        if rng.random() < 0.5:
            raw = f"+44 7{rng.randrange(400, 999)} {_digits(rng, 6)}"
        else:
            raw = f"+1 ({rng.choice(US_AREAS)}) {rng.randrange(200, 999)}-{_digits(rng, 4)}"
        if phonenumbers.is_valid_number(phonenumbers.parse(raw, None)):
            return raw


def person(rng: random.Random) -> str:
    if rng.random() < 0.15:
        return rng.choice(CJK_NAMES)
    return f"{rng.choice(FIRST)} {rng.choice(LAST)}"


def street(rng: random.Random) -> str:
    return f"{rng.randrange(1, 9999)} {rng.choice(STREETS)} {rng.choice(STREET_TYPES)}"


def dob(rng: random.Random) -> str:
    born = date(1940, 1, 1) + timedelta(days=rng.randrange(25000))
    return rng.choice([born.isoformat(), born.strftime("%m/%d/%Y"), born.isoformat() + "T00:00:00Z"])


def recent_date(rng: random.Random) -> str:
    return (date(2023, 1, 1) + timedelta(days=rng.randrange(700))).isoformat()


def epoch(rng: random.Random, ms: bool = False) -> int:
    ts = rng.randrange(1_600_000_000, 1_800_000_000)
    return ts * 1000 + rng.randrange(1000) if ms else ts


def ip(rng: random.Random) -> str:
    return rng.choice(
        [
            f"203.0.113.{rng.randrange(1, 255)}",
            f"198.51.100.{rng.randrange(1, 255)}",
            f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}",
        ]
    )


def jwt(rng: random.Random) -> str:
    def b64(obj: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    sig = base64.urlsafe_b64encode(rng.randbytes(32)).rstrip(b"=").decode()
    return f"{b64({'alg': 'HS256', 'typ': 'JWT'})}.{b64({'sub': str(rng.randrange(10**6)), 'iat': epoch(rng)})}.{sig}"


def api_key(rng: random.Random) -> str:
    alnum = string.ascii_letters + string.digits
    return rng.choice(["sk_live_", "pk_test_", ""]) + "".join(rng.choice(alnum) for _ in range(28))


def password(rng: random.Random) -> str:
    return "".join(
        rng.choice(string.ascii_letters + string.digits + "!@#$%") for _ in range(rng.randrange(8, 16))
    )


def sku(rng: random.Random) -> str:
    return f"SKU-{rng.randrange(10000, 99999)}-{rng.choice(['XS', 'M', 'XL'])}"


def price(rng: random.Random) -> str:
    return f"{rng.randrange(1, 2000)}.{rng.randrange(100):02d}"


def order_no(rng: random.Random) -> str:
    # Deliberately phone- and card-shaped: 11 digits starting 13x, or a long numeric order id.
    return rng.choice(
        [
            "13" + _digits(rng, 9),
            "20" + _digits(rng, 14),
            f"ORD-{recent_date(rng).replace('-', '')}-{rng.randrange(9999):04d}",
        ]
    )


def email(rng: random.Random) -> str:
    first, last = rng.choice(FIRST).lower(), rng.choice(LAST).lower().replace("'", "")
    first = first.encode("ascii", "ignore").decode() or "user"
    last = last.encode("ascii", "ignore").decode() or "x"
    return f"{first}.{last}{rng.randrange(100)}@{rng.choice(['example.com', 'mail.co.uk', 'corp.example.org', 'qq.com', '163.com'])}"


# --- record construction ----------------------------------------------------------------------

COMMON_REQ_HEADERS = [
    ["Host", "api.example.com"],
    ["User-Agent", "okhttp/4.12.0"],
    ["Accept", "application/json"],
    ["Accept-Encoding", "gzip"],
    ["Connection", "keep-alive"],
]


def _record(
    rng: random.Random,
    method: str,
    target: str,
    *,
    req_headers: list[list[str]] | None = None,
    resp_headers: list[list[str]] | None = None,
    req_body: str | bytes = "",
    resp_body: str | bytes = "",
    req_type: str | None = None,
    resp_type: str | None = "application/json",
) -> dict[str, Any]:
    headers = [list(h) for h in COMMON_REQ_HEADERS] + [
        ["X-Request-Id", str(uuid.UUID(int=rng.getrandbits(128)))]
    ]
    headers += req_headers or []
    if req_type:
        headers.append(["Content-Type", req_type])
    response = [
        ["Date", "Mon, 27 Nov 2023 10:00:00 GMT"],
        ["Server", "nginx"],
        ["Cache-Control", "no-store"],
        ["ETag", f'W/"{rng.getrandbits(64):x}"'],
    ]
    if resp_type:
        response.append(["Content-Type", resp_type])
    response += resp_headers or []

    def body(data: str | bytes) -> dict[str, Any]:
        raw = data.encode() if isinstance(data, str) else data
        try:
            return {
                "data": raw.decode("utf-8"),
                "b64": False,
                "captured": len(raw),
                "length": len(raw),
                "wire_length": len(raw),
                "content_encoding": [],
            }
        except UnicodeDecodeError:
            return {
                "data": base64.b64encode(raw).decode(),
                "b64": True,
                "captured": len(raw),
                "length": len(raw),
                "wire_length": len(raw),
                "content_encoding": [],
            }

    return {
        "schema": 1,
        "uid": f"C{rng.getrandbits(48):x}",
        "ts": float(epoch(rng)),
        "method": method,
        "host": "api.example.com",
        "target": target,
        "version": "1.1",
        "status": 200,
        "request_headers": headers,
        "response_headers": response,
        "request_body": body(req_body),
        "response_body": body(resp_body),
        "tags": [],
    }


def _json(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False)


def ep_create_user(rng: random.Random) -> Sample:
    labels: set[Label] = {
        ("request", "PERSON"),
        ("request", "EMAIL_ADDRESS"),
        ("request", "CREDENTIAL"),
        ("response", "EMAIL_ADDRESS"),
        ("header", "CREDENTIAL"),
    }
    mail = email(rng)
    body: dict[str, Any] = {
        "first_name": rng.choice(FIRST),
        "last_name": rng.choice(LAST),
        "email": mail,
        "password": password(rng),
        "marketing_opt_in": rng.random() < 0.5,
        "locale": "en-GB",
    }
    if rng.random() < 0.7:
        body["phone"] = intl_phone(rng)
        labels.add(("request", "PHONE_NUMBER"))
    if rng.random() < 0.7:
        body["birth_date"] = dob(rng)
        labels.add(("request", "DATE_OF_BIRTH"))
    if rng.random() < 0.7:
        body["address"] = {
            "street": street(rng),
            "city": rng.choice(CITIES),
            "zip": f"{rng.randrange(10000, 99999)}",
            "country": "US",
        }
        labels.add(("request", "LOCATION"))
    resp = {
        "id": rng.randrange(10**6, 10**9),
        "email": mail,
        "created_at": recent_date(rng) + "T10:00:00Z",
        "version": 3,
    }
    return Sample(
        "POST /api/v1/users",
        _record(
            rng,
            "POST",
            "/api/v1/users",
            req_headers=[["Authorization", "Bearer " + jwt(rng)]],
            req_body=_json(body),
            req_type="application/json",
            resp_body=_json(resp),
        ),
        labels,
    )


def ep_get_user(rng: random.Random) -> Sample:
    labels: set[Label] = {("response", "PERSON"), ("response", "PHONE_NUMBER"), ("header", "CREDENTIAL")}
    user: dict[str, Any] = {
        "id": rng.randrange(10**6),
        "name": person(rng),
        "mobile": cn_mobile(rng),
        "updated_at": epoch(rng),
        "status": "active",
        "score": round(rng.random() * 100, 2),
    }
    if rng.random() < 0.6:
        user["id_card"] = cn_id(rng)
        labels.add(("response", "CN_RESIDENT_ID"))
    if rng.random() < 0.6:
        user["last_login_ip"] = ip(rng)
        labels.add(("response", "IP_ADDRESS"))
    target = f"/api/v1/users/{rng.randrange(10**6)}"
    return Sample(
        "GET /api/v1/users/{id}",
        _record(
            rng,
            "GET",
            target,
            req_headers=[["Cookie", f"sessionid={rng.getrandbits(128):032x}; theme=dark"]],
            resp_body=_json({"user": user}),
        ),
        labels,
    )


def ep_user_by_email(rng: random.Random) -> Sample:
    target = f"/api/v1/users/by-email/{quote(email(rng), safe='@')}"
    return Sample(
        "GET /api/v1/users/by-email/{email}",
        _record(
            rng,
            "GET",
            target,
            resp_body=_json({"found": True, "user_id": str(uuid.UUID(int=rng.getrandbits(128)))}),
        ),
        {("path", "EMAIL_ADDRESS")},
    )


def ep_payment(rng: random.Random) -> Sample:
    labels: set[Label] = {("request", "CREDIT_CARD"), ("request", "PERSON"), ("header", "CREDENTIAL")}
    body: dict[str, Any] = {
        "card": {
            "number": card(rng),
            "holder": person(rng),
            "expiry": "12/27",
            "cvv": str(rng.randrange(100, 999)),
        },
        "amount": price(rng),
        "currency": "EUR",
        "order_id": order_no(rng),
        "reference": cn_id_lookalike(rng),
        "value": luhn_failing_16(rng),
    }
    if rng.random() < 0.5:
        body["refund_iban"] = iban(rng)
        labels.add(("request", "IBAN_CODE"))
    resp = {
        "payment_id": str(uuid.UUID(int=rng.getrandbits(128))),
        "status": "authorized",
        "amount": body["amount"],
        "created": epoch(rng, ms=True),
    }
    return Sample(
        "POST /api/v2/payments",
        _record(
            rng,
            "POST",
            "/api/v2/payments",
            req_headers=[["X-Api-Key", api_key(rng)]],
            req_body=_json(body),
            req_type="application/json; charset=utf-8",
            resp_body=_json(resp),
        ),
        labels,
    )


def ep_orders(rng: random.Random) -> Sample:
    query = urlencode({"customer_email": email(rng), "page": rng.randrange(1, 9), "since": epoch(rng)})
    orders = [
        {
            "order_no": order_no(rng),
            "sku": sku(rng),
            "price": price(rng),
            "placed_at": recent_date(rng),
            "tracking_number": cn_id_lookalike(rng),
            "qty": rng.randrange(1, 5),
        }
        for _ in range(rng.randrange(1, 4))
    ]
    return Sample(
        "GET /api/v1/orders",
        _record(
            rng,
            "GET",
            f"/api/v1/orders?{query}",
            resp_body=_json(
                {"orders": orders, "next_page_token": base64.urlsafe_b64encode(rng.randbytes(18)).decode()}
            ),
        ),
        {("query", "EMAIL_ADDRESS")},
    )


def ep_login(rng: random.Random) -> Sample:
    form = urlencode({"username": email(rng), "password": password(rng), "remember": "1"})
    resp = {
        "access_token": jwt(rng),
        "refresh_token": api_key(rng),
        "token_type": "Bearer",
        "expires_in": 3600,
    }
    return Sample(
        "POST /api/v1/auth/login",
        _record(
            rng,
            "POST",
            "/api/v1/auth/login",
            req_body=form,
            req_type="application/x-www-form-urlencoded",
            resp_body=_json(resp),
            resp_headers=[["Set-Cookie", f"session={rng.getrandbits(128):x}; HttpOnly; Path=/"]],
        ),
        {
            ("request", "EMAIL_ADDRESS"),
            ("request", "CREDENTIAL"),
            ("response", "CREDENTIAL"),
            ("header", "CREDENTIAL"),
        },
    )


def ep_kyc(rng: random.Random) -> Sample:
    boundary = f"----form{rng.getrandbits(40):x}"
    parts = [
        ("full_name", person(rng)),
        ("id_number", cn_id(rng)),
        ("date_of_birth", dob(rng)),
        ("nationality", "CN"),
    ]
    chunks = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{n}"\r\n\r\n{v}\r\n'.encode()
        for n, v in parts
    ]
    chunks.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="document"; filename="id.jpg"\r\nContent-Type: image/jpeg\r\n\r\n'.encode()
        + b"\xff\xd8\xff\xe0"
        + rng.randbytes(64)
        + b"\r\n"
    )
    chunks.append(f"--{boundary}--\r\n".encode())
    resp = {"status": "pending", "reference": cn_id_lookalike(rng), "submitted": recent_date(rng)}
    return Sample(
        "POST /api/v1/kyc",
        _record(
            rng,
            "POST",
            "/api/v1/kyc",
            req_body=b"".join(chunks),
            req_type=f"multipart/form-data; boundary={boundary}",
            resp_body=_json(resp),
        ),
        {("request", "PERSON"), ("request", "CN_RESIDENT_ID"), ("request", "DATE_OF_BIRTH")},
    )


def ep_soap(rng: random.Random) -> Sample:
    xml = (
        f'<?xml version="1.0"?><Customer xmlns="urn:crm"><Name>{person(rng)}</Name><SSN>{ssn(rng)}</SSN>'
        f"<Phone>{intl_phone(rng)}</Phone><Address><Street>{street(rng)}</Street><City>{rng.choice(CITIES)}</City></Address>"
        f"<Since>{recent_date(rng)}</Since><Balance>{price(rng)}</Balance></Customer>"
    )
    resp = (
        f"<Result><Id>{rng.randrange(10**9)}</Id><Status>OK</Status><Created>{epoch(rng)}</Created></Result>"
    )
    return Sample(
        "POST /soap/CustomerService",
        _record(
            rng,
            "POST",
            "/soap/CustomerService",
            req_body=xml,
            req_type="text/xml; charset=utf-8",
            resp_body=resp,
            resp_type="application/xml",
        ),
        {("request", "PERSON"), ("request", "US_SSN"), ("request", "PHONE_NUMBER"), ("request", "LOCATION")},
    )


TICKET_TEMPLATES: list[tuple[str, tuple[str, ...]]] = [
    ("Please call me back on {phone}, I am available after 5pm.", ("PHONE_NUMBER",)),
    ("My e-mail changed, please use {email} from now on.", ("EMAIL_ADDRESS",)),
    ("I moved, the new delivery address is {street}, {city}.", ("LOCATION",)),
    ("Order {order} arrived damaged, item {sku} cost {price}.", ()),
    ("The app crashes when I open settings since {date}.", ()),
    ("Refund to {iban} please, the order was cancelled.", ("IBAN_CODE",)),
]


def ep_ticket(rng: random.Random) -> Sample:
    template, types = rng.choice(TICKET_TEMPLATES)
    message = template.format(
        phone=rng.choice([intl_phone(rng), cn_mobile(rng)]),
        email=email(rng),
        street=street(rng),
        city=rng.choice(CITIES),
        order=order_no(rng),
        sku=sku(rng),
        price=price(rng),
        date=recent_date(rng),
        iban=iban(rng),
    )
    body = {
        "subject": "Help needed",
        "message": message,
        "priority": rng.choice(["low", "high"]),
        "created_at": epoch(rng),
    }
    return Sample(
        "POST /api/v1/support/tickets",
        _record(
            rng,
            "POST",
            "/api/v1/support/tickets",
            req_body=_json(body),
            req_type="application/json",
            resp_body=_json({"ticket_id": rng.randrange(10**7)}),
        ),
        {("request", t) for t in types},
    )


def ep_product(rng: random.Random) -> Sample:
    code = sku(rng)
    ean = "4" + _digits(rng, 12)
    resp = {
        "sku": code,
        "name": rng.choice(["Widget Pro", "Gadget Max", "Desk Lamp"]),
        "price": float(price(rng)),
        "barcode": ean,
        "released": recent_date(rng),
        "updated_at": epoch(rng, ms=True),
        "stock": rng.randrange(500),
        "dimensions": {"width": 12.5, "height": 30.0},
        "batch_no": _digits(rng, 9),
    }
    return Sample(
        "GET /api/v1/products/{sku}",
        _record(rng, "GET", f"/api/v1/products/{code}", resp_body=_json(resp)),
        set(),
    )


def ep_geo(rng: random.Random) -> Sample:
    addr = ip(rng)
    resp = {
        "ip": addr,
        "city": rng.choice(CITIES),
        "country": "GB",
        "asn": rng.randrange(1000, 65000),
        "updated": recent_date(rng),
    }
    return Sample(
        "GET /api/v1/geo/lookup",
        _record(rng, "GET", f"/api/v1/geo/lookup?ip={addr}&fields=city,country", resp_body=_json(resp)),
        {("query", "IP_ADDRESS"), ("response", "IP_ADDRESS")},
    )


def ep_balance(rng: random.Random) -> Sample:
    account = iban(rng).replace(" ", "")
    resp = {
        "balance": price(rng),
        "currency": "EUR",
        "as_of": recent_date(rng),
        "transactions": rng.randrange(100),
    }
    return Sample(
        "GET /api/v1/accounts/{iban}/balance",
        _record(rng, "GET", f"/api/v1/accounts/{account}/balance", resp_body=_json(resp)),
        {("path", "IBAN_CODE")},
    )


def ep_health(rng: random.Random) -> Sample:
    resp = {
        "status": "ok",
        "uptime": rng.randrange(10**6),
        "version": "2.14.3",
        "build": f"{rng.getrandbits(32):08x}",
        "time": epoch(rng),
    }
    return Sample("GET /healthz", _record(rng, "GET", "/healthz", resp_body=_json(resp)), set())


def ep_events(rng: random.Random) -> Sample:
    events = [
        {
            "event": rng.choice(["click", "view", "scroll"]),
            "ts": epoch(rng, ms=True),
            "session": str(uuid.UUID(int=rng.getrandbits(128))),
            "trace_id": f"{rng.getrandbits(128):032x}",
            "duration_ms": rng.randrange(5000),
            "value": luhn_failing_16(rng),
            "viewport": "1920x1080",
            "build": "1.2.3",
        }
        for _ in range(rng.randrange(1, 5))
    ]
    return Sample(
        "POST /api/v1/events",
        _record(
            rng,
            "POST",
            "/api/v1/events",
            req_body=_json({"events": events}),
            req_type="application/json",
            resp_body="",
            resp_type=None,
        ),
        set(),
    )


def ep_contact(rng: random.Random) -> Sample:
    mobile = rng.choice(CN_MOBILE_PREFIXES) + _digits(rng, 8)
    resp = {
        "contact": {
            "name": person(rng),
            "tel": cn_mobile(rng),
            "wechat": f"wx_{rng.getrandbits(24):x}",
            "tags": ["vip"],
        }
    }
    return Sample(
        "GET /api/v1/contacts/{mobile}",
        _record(rng, "GET", f"/api/v1/contacts/{mobile}", resp_body=_json(resp)),
        {("path", "PHONE_NUMBER"), ("response", "PERSON"), ("response", "PHONE_NUMBER")},
    )


def ep_employee(rng: random.Random) -> Sample:
    labels: set[Label] = {
        ("request", "PERSON"),
        ("request", "US_SSN"),
        ("request", "DATE_OF_BIRTH"),
        ("request", "LOCATION"),
    }
    emp: dict[str, Any] = {
        "name": person(rng),
        "ssn": ssn(rng),
        "dob": dob(rng),
        "home_address": f"{street(rng)}, {rng.choice(CITIES)}",
        "hired_on": recent_date(rng),
        "salary": rng.randrange(30000, 200000),
    }
    if rng.random() < 0.5:
        emp["bank"] = {"iban": iban(rng), "bic": "DEUTDEFF"}
        labels.add(("request", "IBAN_CODE"))
    target = f"/api/v1/employees/{rng.randrange(10**5)}?notify=true"
    return Sample(
        "PUT /api/v1/employees/{id}",
        _record(
            rng,
            "PUT",
            target,
            req_body=_json({"employee": emp}),
            req_type="application/json",
            resp_body=_json({"updated": True, "etag": f"{rng.getrandbits(64):x}"}),
        ),
        labels,
    )


ENDPOINTS: tuple[Callable[[random.Random], Sample], ...] = (
    ep_create_user,
    ep_get_user,
    ep_user_by_email,
    ep_payment,
    ep_orders,
    ep_login,
    ep_kyc,
    ep_soap,
    ep_ticket,
    ep_product,
    ep_geo,
    ep_balance,
    ep_health,
    ep_events,
    ep_contact,
    ep_employee,
)


def generate(n: int, seed: int = 7) -> list[Sample]:
    """``n`` labelled exchanges, endpoints drawn round-robin-ish so each gets a fair share."""
    rng = random.Random(seed)
    return [
        ENDPOINTS[i % len(ENDPOINTS)](rng) if i < len(ENDPOINTS) else rng.choice(ENDPOINTS)(rng)
        for i in range(n)
    ]


# --- a second group written after the detector was tuned: other naming conventions and traps -------


def ep_member_profile(rng: random.Random) -> Sample:
    profile = {
        "memberId": rng.randrange(10**6),
        "displayName": person(rng),
        "contactInfo": {
            "emailAddr": email(rng),
            "cellPhone": intl_phone(rng),
            "homeAddr": {"line1": street(rng), "postalCode": "SW1A 1AA", "cityName": rng.choice(CITIES)},
        },
        "dateOfBirth": dob(rng),
        "lastSeenIp": rng.choice(["2001:db8::1", "2001:db8:85a3::8a2e:370:7334", ip(rng)]),
        "preferences": {"lang": "en", "newsletter": False},
        "memberSince": recent_date(rng),
    }
    return Sample(
        "GET /v2/members/{memberId}/profile",
        _record(rng, "GET", f"/v2/members/{profile['memberId']}/profile", resp_body=_json(profile)),
        {
            ("response", "PERSON"),
            ("response", "EMAIL_ADDRESS"),
            ("response", "PHONE_NUMBER"),
            ("response", "LOCATION"),
            ("response", "DATE_OF_BIRTH"),
            ("response", "IP_ADDRESS"),
        },
    )


def ep_search(rng: random.Random) -> Sample:
    labels: set[Label] = {("query", "PHONE_NUMBER")}
    q = rng.choice(["blue widgets", "order status", f"invoice {_digits(rng, 10)}"])
    if rng.random() < 0.3:
        q = f"messages from {email(rng)}"
        labels.add(("query", "EMAIL_ADDRESS"))
    query = urlencode(
        {
            "q": q,
            "phone": cn_mobile(rng).replace(" ", ""),
            "limit": 20,
            "callback": "cb_123",
            "_": epoch(rng, ms=True),
        }
    )
    return Sample(
        "GET /api/search",
        _record(
            rng, "GET", f"/api/search?{query}", resp_body=_json({"hits": [], "took_ms": rng.randrange(90)})
        ),
        labels,
    )


def ep_graphql(rng: random.Random) -> Sample:
    mail, phone = email(rng), intl_phone(rng)
    body = {
        "query": f'mutation {{ updateUser(input: {{email: "{mail}", phone: "{phone}"}}) {{ id updatedAt }} }}',
        "variables": {
            "input": {
                "ssn": ssn(rng),
                "fullName": person(rng),
                "clientMutationId": str(uuid.UUID(int=rng.getrandbits(128))),
            }
        },
        "operationName": "UpdateUser",
    }
    return Sample(
        "POST /graphql",
        _record(
            rng,
            "POST",
            "/graphql",
            req_body=_json(body),
            req_type="application/json",
            resp_body=_json({"data": {"updateUser": {"id": "VXNlcjox", "updatedAt": epoch(rng)}}}),
        ),
        {
            ("request", "EMAIL_ADDRESS"),
            ("request", "PHONE_NUMBER"),
            ("request", "US_SSN"),
            ("request", "PERSON"),
        },
    )


def ep_invoice_pdf(rng: random.Random) -> Sample:
    # The invoice number is card-shaped and may pass Luhn: the path segment before it must veto it.
    invoice = luhn_complete("4" + _digits(rng, 14)) if rng.random() < 0.5 else "4" + _digits(rng, 15)
    target = f"/api/v1/invoices/{invoice}/pdf?token={jwt(rng)}&download=1"
    return Sample(
        "GET /api/v1/invoices/{invoiceNo}/pdf",
        _record(rng, "GET", target, resp_body=b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", resp_type="application/pdf"),
        {("query", "CREDENTIAL")},
    )


def ep_stripe_webhook(rng: random.Random) -> Sample:
    event = {
        "id": f"evt_{rng.getrandbits(64):x}",
        "type": "charge.succeeded",
        "created": epoch(rng),
        "data": {
            "object": {
                "amount": rng.randrange(100, 100000),
                "currency": "usd",
                "billing_details": {
                    "name": person(rng),
                    "email": email(rng),
                    "phone": intl_phone(rng),
                    "address": {
                        "line1": street(rng),
                        "city": rng.choice(CITIES),
                        "postal_code": f"{rng.randrange(10000, 99999)}",
                        "country": "US",
                    },
                },
                "payment_method_details": {
                    "card": {
                        "brand": "visa",
                        "last4": _digits(rng, 4),
                        "exp_month": 12,
                        "exp_year": 2027,
                        "fingerprint": "".join(rng.choice(string.ascii_letters) for _ in range(16)),
                    }
                },
            }
        },
    }
    headers = [["Stripe-Signature", f"t={epoch(rng)},v1={rng.getrandbits(256):064x}"]]
    return Sample(
        "POST /api/v1/webhooks/stripe",
        _record(
            rng,
            "POST",
            "/api/v1/webhooks/stripe",
            req_headers=headers,
            req_body=_json(event),
            req_type="application/json",
            resp_body=_json({"received": True}),
        ),
        {
            ("request", "PERSON"),
            ("request", "EMAIL_ADDRESS"),
            ("request", "PHONE_NUMBER"),
            ("request", "LOCATION"),
        },
    )


def ep_cn_order(rng: random.Random) -> Sample:
    body = {
        "收货人": rng.choice(CJK_NAMES),
        "手机号": cn_mobile(rng).replace(" ", "").replace("+86", ""),
        "收货地址": rng.choice(
            ["广东省深圳市南山区科技园路1号", "浙江省杭州市西湖区文三路90号", "北京市北京市朝阳区建国路88号"]
        ),
        "订单号": rng.choice(CN_MOBILE_PREFIXES) + _digits(rng, 8),
        "金额": price(rng),
        "下单时间": epoch(rng),
    }
    return Sample(
        "POST /api/v1/orders/create",
        _record(
            rng,
            "POST",
            "/api/v1/orders/create",
            req_body=_json(body),
            req_type="application/json",
            resp_body=_json({"code": 0, "msg": "ok"}),
        ),
        {("request", "PERSON"), ("request", "PHONE_NUMBER"), ("request", "LOCATION")},
    )


def ep_basic_auth(rng: random.Random) -> Sample:
    creds = base64.b64encode(f"{email(rng)}:{password(rng)}".encode()).decode()
    return Sample(
        "GET /api/v1/reports/daily",
        _record(
            rng,
            "GET",
            f"/api/v1/reports/daily?date={recent_date(rng)}",
            req_headers=[["Authorization", f"Basic {creds}"]],
            resp_body=_json({"rows": rng.randrange(1000), "generated": epoch(rng)}),
        ),
        {("header", "CREDENTIAL")},
    )


ENDPOINTS = (
    *ENDPOINTS,
    ep_member_profile,
    ep_search,
    ep_graphql,
    ep_invoice_pdf,
    ep_stripe_webhook,
    ep_cn_order,
    ep_basic_auth,
)
