"""Planted raw PII and credentials, the traffic that carries them, and a scanner for their traces.

``planted_traffic()`` builds exchange records (the sensor's JSON-lines form) and raw HTTP/1.1
conversations that carry every planted value in every place traffic can: path segments (on
endpoints that template and on endpoints seen once), 404 noise paths, query values, JSON bodies,
headers, cookies, bearer JWTs, API keys and Basic credentials. ``needles()`` spells each value the
ways it could come back (as is, lower case, percent-encoded, digits only); ``Scanner`` looks for
them in anything: rows, compressed blobs, JSON, base64, files, HTTP answers.
"""

from __future__ import annotations

import base64
import gzip
import json
import re
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from tests.conftest import make_exchange

HOST = "people.example.com"
SHOP = "shop.example.com"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


# -- the planted values ---------------------------------------------------------------------------

# SSNs on /people/{ssn} (many: the segment must template) and one on an endpoint seen once.
PEOPLE_SSNS = [f"{531 + i % 7:03d}-{41 + i:02d}-{7302 + 13 * i:04d}" for i in range(24)]
RARE_SSN = "219-47-8836"
NOISE_SSNS = [f"{612 + i % 5:03d}-{23 + i:02d}-{5511 + 7 * i:04d}" for i in range(12)]
EMAILS = [f"planted.person{i}@example-mail.org" for i in range(12)]
NOISE_EMAILS = [f"Lost.Visitor{i}@Example-Mail.net" for i in range(12)]
RARE_EMAIL = "Once.Only.Planted@example-mail.org"
PHONES = [f"+1415555{1200 + 37 * i:04d}" for i in range(10)]
CARDS = ["4539578763621486", "5425233430109903", "4012888888881881", "4916338506082832", "5105105105105100",
         "4111111111111111", "5555555555554444", "4000056655665556", "2223003122003222", "6011111111111117"]
IBANS = ["DE89370400440532013000", "GB82WEST12345698765432", "FR1420041010050500013M02606",
         "NL91ABNA0417164300", "ES9121000418450200051332", "IT60X0542811101000000123456"]
IPS = [f"203.0.113.{40 + 7 * i}" for i in range(10)]
# Body, query and header values.
BODY_EMAIL = "body.planted@example-mail.org"
BODY_SSN = "078-51-1203"
BODY_CARD = "4263982640269299"
BODY_IBAN = "DE44500105175407324931"
BODY_PHONE = "+442071838750"
QUERY_EMAIL = "query.planted@example-mail.org"
QUERY_SSN = "457-55-5462"
QUERY_CARD = "4485275742308327"
HEADER_EMAIL = "header.planted@example-mail.org"
# Credentials.
JWT_SIG = "Zq3xPl4nTeDs1gN4tUrEkQ9vB7mW2cY5hJ8aR0tLoEw"
JWT = ".".join([
    _b64url(b'{"alg":"HS256","typ":"JWT"}'),
    _b64url(b'{"sub":"planted-subject-8812","email":"jwt.planted@example-mail.org","exp":1900000000}'),
    JWT_SIG,
])
JWT_EMAIL = "jwt.planted@example-mail.org"
API_KEY = "sk_live_PlAnTeD9f8e7d6c5b4a3f2e1d0c9b8a"
QUERY_API_KEY = "AKPLANTEDQUERYKEY7731xx99"
BASIC_USER = "planted.admin"
BASIC_PASSWORD = "Pl4nted-Passw0rd!x"
BASIC = base64.b64encode(f"{BASIC_USER}:{BASIC_PASSWORD}".encode()).decode("ascii")
SESSION_COOKIE = "PLANTEDsess10nT0kenAbCdEf0123456789"
RESET_TOKEN = "rst_9QvPlAnTeD4kLm2Nx7Rw5Ty8Uz3Bc6De"
# PII inside a segment, as a query name, as a body key, in a URL's userinfo.
FILE_SSN = "348-21-6690"
FILE_EMAIL = "file.planted@example-mail.org"
KEY_EMAIL = "keyed.planted@example-mail.org"
QUERY_NAME_EMAIL = "qname.planted@example-mail.org"
URL_PASSWORD = "UrlPl4ntedSecret77"
INNER_SSN = "281-63-4410"
INNER_EMAIL = "inner.planted@example-mail.org"
INNER_CARD = "4929804463622139"
GQL_EMAIL = "gql.planted@example-mail.org"
GQL_PHONE = "+13125550187"


def planted_values() -> list[str]:
    """Every raw value the traffic carries and nothing may keep."""
    values = [*PEOPLE_SSNS, RARE_SSN, *NOISE_SSNS, *EMAILS, *NOISE_EMAILS, RARE_EMAIL, *PHONES, *CARDS,
              *IBANS, *IPS, BODY_EMAIL, BODY_SSN, BODY_CARD, BODY_IBAN, BODY_PHONE, QUERY_EMAIL, QUERY_SSN,
              QUERY_CARD, HEADER_EMAIL, JWT, JWT_SIG, JWT_EMAIL, API_KEY, QUERY_API_KEY, BASIC, BASIC_PASSWORD,
              SESSION_COOKIE, RESET_TOKEN, FILE_SSN, FILE_EMAIL, KEY_EMAIL, QUERY_NAME_EMAIL, URL_PASSWORD,
              INNER_SSN, INNER_EMAIL, INNER_CARD, GQL_EMAIL, GQL_PHONE]
    assert len(set(values)) == len(values)
    return values


def needles(values: Iterable[str]) -> dict[str, str]:
    """Spelling -> the planted value: as is, lower case, percent-encoded, digits only."""
    out: dict[str, str] = {}
    for v in values:
        spellings = {v, v.lower(), quote(v, safe=""), quote(v, safe="").lower(), quote(v, safe="@+")}
        digits = re.sub(r"\D", "", v)
        if len(digits) >= 9 and not v.isdigit():
            spellings.add(digits)
        for s in spellings:
            out[s] = v
    return out


# -- the traffic ----------------------------------------------------------------------------------

def _json(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"))


def planted_records(prefix: str, ts: float = 1_700_000_000.0) -> list[dict[str, Any]]:
    """Exchange records carrying every planted value; ``prefix`` keeps uids apart per batch."""
    recs: list[dict[str, Any]] = []

    def add(**kw: Any) -> None:
        nonlocal ts
        ts += 1.0
        recs.append(make_exchange(host=kw.pop("host", HOST), ts=ts, uid=f"{prefix}-{len(recs):05d}", **kw))

    bearer = [("Authorization", f"Bearer {JWT}")]
    # Path segments on endpoints that template.
    for i, ssn in enumerate(PEOPLE_SSNS):
        add(target=f"/api/people/{ssn}", request_headers=bearer,
            response_body=_json({"id": i, "ssn": ssn, "email": EMAILS[i % len(EMAILS)]}))
    for i, mail in enumerate(EMAILS):
        add(target=f"/api/users/{quote(mail, safe='@') if i % 2 else mail}/profile", request_headers=bearer,
            response_body=_json({"email": mail, "phone": PHONES[i % len(PHONES)]}))
    for i, phone in enumerate(PHONES):
        add(method="POST", target=f"/api/sms/{quote(phone, safe='') if i % 3 == 0 else phone}",
            request_headers=[("X-API-Key", API_KEY)], request_body=_json({"text": "hello"}))
    for card in CARDS:
        add(target=f"/api/cards/{card}/limits", request_headers=[("Cookie", f"session={SESSION_COOKIE}; theme=dark")],
            response_body=_json({"card": card, "limit": 500}))
    for i, iban in enumerate(IBANS):
        add(target=f"/api/accounts/{iban}", request_headers=[("Authorization", f"Basic {BASIC}")],
            response_body=_json({"iban": iban, "balance": 10 * i}))
    for ip in IPS:
        add(target=f"/api/hosts/{ip}/ports", request_headers=[("X-Forwarded-For", ip)],
            response_body=_json({"address": ip, "open": [22, 443]}))
    # Endpoints seen once: nothing templates them.
    add(target=f"/api/tax/{RARE_SSN}/summary", request_headers=bearer, response_body=_json({"ssn": RARE_SSN}))
    add(method="DELETE", target=f"/api/subscribers/{RARE_EMAIL}", request_headers=bearer, status=204,
        response_body="")
    # Tokens in paths seen once, PII inside a segment, as a query name, as a body key, in userinfo.
    add(method="POST", target=f"/api/password-reset/{RESET_TOKEN}", request_body=_json({"new": "x"}))
    add(target=f"/api/keys/{API_KEY}/usage", response_body=_json({"calls": 3}))
    add(target=f"/api/sessions/{JWT}", response_body=_json({"valid": True}))
    add(target=f"/api/exports/{FILE_SSN}.pdf", response_headers=[("Content-Type", "application/pdf")])
    add(target=f"/api/avatars/{FILE_EMAIL}.png", response_headers=[("Content-Type", "image/png")])
    add(target=f"/api/lookup?{QUERY_NAME_EMAIL}", response_body=_json({"found": False}))
    add(target="/api/teams/7/members", response_body=_json({"by_email": {KEY_EMAIL: {"role": "owner"}}}))
    add(target=f"http://{BASIC_USER}:{URL_PASSWORD}@{HOST}/api/me/settings", response_body=_json({"ok": True}))
    add(target=f"/api/lookup/by-ssn-{INNER_SSN}", response_body=_json({"found": True}))
    add(target=f"/api/users/email={INNER_EMAIL}/orders", response_body=_json({"orders": []}))
    add(method="POST", target=f"/api/pay/card_{INNER_CARD}", request_body=_json({"amount": 5}))
    for _ in range(2):
        add(method="POST", target="/graphql", host=SHOP, request_headers=[("Content-Type", "application/json")],
            request_body=_json({"query": f'query Lookup($p: String) {{ user(email: "{GQL_EMAIL}") {{ id }} '
                                         f'byPhone: user(phone: $p) {{ id }} }}', "variables": {"p": GQL_PHONE}}),
            response_body=_json({"data": {"user": {"id": 1}, "byPhone": {"id": 2}}}))
    # 404 noise.
    for mail in NOISE_EMAILS:
        add(target=f"/lookup/{mail}", status=404, response_body=_json({"error": "not found"}))
    for ssn in NOISE_SSNS:
        add(target=f"/old/records/{ssn}/view", status=404, response_body="")
    # Query, headers, cookies, bodies.
    for _ in range(3):
        add(target=f"/api/search?email={quote(QUERY_EMAIL)}&ssn={QUERY_SSN}&card={QUERY_CARD}&api_key={QUERY_API_KEY}",
            request_headers=[("X-User-Email", HEADER_EMAIL), ("Cookie", f"session={SESSION_COOKIE}")],
            response_body=_json({"results": [{"email": QUERY_EMAIL}]}))
        add(method="POST", target="/api/customers", host=SHOP,
            request_headers=[("Authorization", f"Basic {BASIC}"), ("Content-Type", "application/json")],
            request_body=_json({"email": BODY_EMAIL, "ssn": BODY_SSN, "card": BODY_CARD, "iban": BODY_IBAN,
                                "phone": BODY_PHONE, "password": BASIC_PASSWORD}),
            response_body=_json({"customer": {"email": BODY_EMAIL, "iban": BODY_IBAN, "token": JWT}}))
        add(target="/api/me", host=SHOP, request_headers=bearer,
            response_body=_json({"email": JWT_EMAIL, "api_key": API_KEY, "session": SESSION_COOKIE}))
    return recs


def planted_http() -> list[tuple[bytes, bytes]]:
    """Raw HTTP/1.1 (request, response) pairs for a capture: paths, headers, cookies, bodies."""
    pairs: list[tuple[bytes, bytes]] = []

    def resp(status: str, body: str) -> bytes:
        return (f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
                f"{body}").encode()

    for ssn in PEOPLE_SSNS[:8]:
        pairs.append((f"GET /api/people/{ssn} HTTP/1.1\r\nHost: {HOST}\r\nAuthorization: Bearer {JWT}\r\n\r\n".encode(),
                      resp("200 OK", _json({"ssn": ssn, "email": EMAILS[0]}))))
    for mail in NOISE_EMAILS[:4]:
        pairs.append((f"GET /lookup/{mail} HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode(), resp("404 Not Found", "{}")))
    body = _json({"email": BODY_EMAIL, "card": BODY_CARD, "iban": BODY_IBAN})
    pairs.append((
        f"POST /api/customers?ssn={QUERY_SSN} HTTP/1.1\r\nHost: {SHOP}\r\nAuthorization: Basic {BASIC}\r\n"
        f"Cookie: session={SESSION_COOKIE}\r\nX-API-Key: {API_KEY}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n{body}".encode(),
        resp("201 Created", _json({"email": BODY_EMAIL, "phone": BODY_PHONE}))))
    pairs.append((f"GET /api/tax/{RARE_SSN}/summary HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode(),
                  resp("200 OK", _json({"ssn": RARE_SSN}))))
    return pairs


# -- the scanner ----------------------------------------------------------------------------------

_B64 = re.compile(r"^[A-Za-z0-9+/_-]{16,}={0,2}$")


def _unpack(blob: bytes) -> bytes:
    """A blob with every zlib / gzip / zstd layer removed."""
    for _ in range(4):
        try:
            if blob[:2] == b"\x1f\x8b":
                blob = gzip.decompress(blob)
            elif blob[:4] == b"\x28\xb5\x2f\xfd":
                import zstandard

                blob = zstandard.ZstdDecompressor().decompressobj().decompress(blob)
            elif blob[:1] == b"\x78":
                blob = zlib.decompress(blob)
            else:
                break
        except Exception:  # noqa: BLE001 - not compressed after all: scan as is
            break
    return blob


def texts(value: Any) -> Iterator[str]:
    """Every text a stored value can be read as: itself, decompressed, JSON-decoded, base64-decoded."""
    if value is None or isinstance(value, (bool, int, float)):
        if isinstance(value, int) and not isinstance(value, bool):
            yield str(value)
        return
    if isinstance(value, memoryview):
        value = value.tobytes()
    if isinstance(value, (bytes, bytearray)):
        raw = _unpack(bytes(value))
        yield from texts(raw.decode("utf-8", "replace"))
        return
    if isinstance(value, (dict, list, tuple)):
        yield json.dumps(value, ensure_ascii=False, default=str)
        for item in value.values() if isinstance(value, dict) else value:
            if isinstance(item, (str, bytes, dict, list)):
                yield from texts(item)
        return
    text = str(value)
    yield text
    stripped = text.strip()
    if stripped[:1] in ("{", "[", '"'):
        try:
            decoded = json.loads(stripped)
        except ValueError:
            decoded = None
        if decoded is not None and not isinstance(decoded, (int, float, bool)):
            yield from texts(decoded)
    for word in re.findall(r"[A-Za-z0-9+/_-]{16,}={0,2}", text) if len(text) < 200_000 else ():
        if not _B64.match(word):
            continue
        try:
            raw = base64.b64decode(word + "=" * (-len(word) % 4), altchars=b"-_" if "-" in word or "_" in word else None)
        except ValueError:
            continue
        if raw.isascii():
            yield raw.decode("ascii")


@dataclass
class Scanner:
    """Looks for every spelling of every planted value; counts what it looked at."""

    values: list[str]
    locations: set[str] = field(default_factory=set)
    leaks: dict[str, set[str]] = field(default_factory=dict)  # location -> planted values found

    def __post_init__(self) -> None:
        self._needles = needles(self.values)
        self._pattern = re.compile("|".join(re.escape(n) for n in sorted(self._needles, key=len, reverse=True)))
        # A match also stands for every planted value inside it (a JWT holds its signature).
        self._within = {n: {v for m, v in self._needles.items() if m in n} for n in self._needles}

    def find(self, location: str, text: str) -> None:
        for m in self._pattern.finditer(text):
            self.leaks.setdefault(location, set()).update(self._within[m.group(0)])

    def scan(self, location: str, value: Any) -> None:
        self.locations.add(location)
        for text in texts(value):
            self.find(location, text)

    def report(self) -> str:
        lines = [f"{loc}: {sorted(v[:24] for v in found)[:6]}{' ...' if len(found) > 6 else ''} ({len(found)})"
                 for loc, found in sorted(self.leaks.items())]
        return "\n".join(lines)


def scan_database(scanner: Scanner, url: str, label: str) -> int:
    """Every column of every table of the database (reflected): the number of cells read."""
    from sqlalchemy import MetaData, select

    from analyzer.db.session import make_engine

    engine = make_engine(url)
    cells = 0
    try:
        meta = MetaData()
        meta.reflect(bind=engine)
        with engine.connect() as conn:
            for table in meta.sorted_tables:
                for column in table.columns:
                    scanner.locations.add(f"{label}:{table.name}.{column.name}")
                for row in conn.execute(select(table)):
                    for column, value in zip(table.columns, row, strict=True):
                        cells += 1
                        loc = f"{label}:{table.name}.{column.name}"
                        for text in texts(value):
                            scanner.find(loc, text)
    finally:
        engine.dispose()
    return cells
