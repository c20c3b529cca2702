"""Realistic values for path parameters, chosen from each parameter's schema *and* name.

``value_kind`` decides what a parameter holds, in this order: an explicit ``x-value-kind`` (the
two specs written for the benchmark), what is known of a real API's id formats (``KNOWN``: Trello
ids are Mongo ids, Twilio's are prefixed SIDs...), the schema (enum, format, type, pattern, an
example shaped like an id), then the name (``*_mount_path``, title, username, owner, e-mail, ip,
date, sha, token, version, language, country, type/kind/status...). Ids whose format neither
says (``accountId: string``) take the service's *house style*, one per service, picked from its
name: integer, UUID, 32-hex GUID, Mongo id, base62, 13-character upper-case (Square-like),
7-character (PagerDuty-like ``PXXXXXX``), prefixed (``cus_...``) or snowflake.

``Values.draw`` keeps one Zipf-popular pool per (service, kind) for kinds every endpoint shares
(the same users everywhere), else per parameter; pools are deterministic for a seed.
"""

from __future__ import annotations

import random
import re
import string
import uuid
import zlib
from collections.abc import Callable
from typing import Any

from bench.templating.wordlists import (
    CATEGORIES,
    CURRENCIES,
    EXTENSIONS,
    FIRST,
    LAST,
    NAMESPACES,
    NOUNS,
    WORDS,
)

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
BASE62 = string.digits + string.ascii_letters
HEX = "0123456789abcdef"

# Kinds whose pool is shared by every parameter of that kind in a service (same users everywhere).
SHARED_KINDS = frozenset(
    {
        "username",
        "namespace",
        "currency",
        "category",
        "uuid",
        "email",
        "phone",
        "orgname",
        "reponame",
        "k8s_name",
        "hex64",
        "image_name",
        "ip",
        "language",
        "country",
        "title",
    }
)
HOUSE_STYLES = ("int", "uuid", "hex32", "objectid", "base62", "upper13", "short7", "prefixed", "snowflake")


def _known(service: str, low: str) -> str | None:
    """Id formats of real APIs whose specs only say ``string``."""
    if service.startswith("docker"):
        return {"id": "hex64", "name": "image_name"}.get(low, "slug")
    if service.startswith("kubevirt"):
        return {"namespace": "namespace", "name": "k8s_name", "port": "port", "protocol": "protocol"}.get(
            low, "slug"
        )
    if service.startswith("guru_trello"):
        if low.startswith("id"):
            return "objectid"
        return {"field": "trello_field", "filter": "trello_filter", "token": "hex64"}.get(low, "slug")
    if service.startswith("guru_twilio"):
        if low.endswith("sid"):
            return "twilio_sid"
        return "country" if low == "isocountrycode" else None
    if service.startswith("spotify"):
        return {"user_id": "username", "category_id": "category"}.get(low, "base62")
    if service.startswith("netlify"):
        if low == "site_id":
            return "uuid"
        if low in ("account_slug", "name", "addon", "addonname", "package", "key"):
            return "slug"
        return "filename" if low in ("file_path", "path") else "objectid"
    if service.startswith("guru_jira"):
        if "key" in low and "id" in low:
            return "jira_key"
        if low in ("key", "propertykey", "attributekey", "projecttypekey", "newprojecttypekey"):
            return "slug"
        return "category" if low in ("type", "issuetype", "idorname") else "int"
    if service.startswith("pokeapi"):
        return "int_small"
    if service.startswith("guru_healthcare"):
        return "state" if low == "statename" else "page_slug"
    if service.startswith("oai_uspto"):
        return {"dataset": "dataset"}.get(low, "slug")
    if service.startswith("nyt_archive"):
        return {"year": "year", "month": "month"}.get(low, "int")
    if service.startswith("nyt_books"):
        return {"date": "date", "list": "list_slug"}.get(low, "slug")
    if service.startswith("lnd_"):
        if "txid" in low or "hash" in low:
            return "hex64"
        if low == "pub_key":
            return "hex66"
        return "int" if low.endswith(("index", "id", "amt")) else None
    if service.startswith("jellyfin") and (low.endswith("id") or low == "id"):
        return "hex32"  # Jellyfin writes its GUIDs without dashes
    if service.startswith("mastodon") and low.endswith("id"):
        return "snowflake"
    if service.startswith("docusign") and low.endswith("id"):
        return "uuid"
    if service.startswith("square") and low.endswith("id"):
        return "upper13"
    if service.startswith("harbor"):
        return {"reference": "digest", "digest": "digest", "repository_name": "reponame"}.get(low)
    return None


def house_style(service: str) -> str:
    return HOUSE_STYLES[zlib.crc32(service.encode()) % len(HOUSE_STYLES)]


_ID_NAME = re.compile(r"(^|_|-|[a-z])(id|ID|Id|sid|Sid|SID|uid|ref|reference|key|Key|number|Number)$|^id")


def value_kind(service: str, pname: str, param: dict[str, Any], schema: dict[str, Any]) -> str:
    explicit = param.get("x-value-kind")
    if explicit:
        return str(explicit)
    low = pname.lower().replace("-", "_").replace(".", "_")
    known = _known(service, low)
    if known:
        return known
    if schema.get("enum") or param.get("enum"):
        return "enum"
    fmt = str(schema.get("format", "")).lower()
    typ = str(schema.get("type", "")).lower()
    by_format = {
        "uuid": "uuid",
        "guid": "uuid",
        "date": "date",
        "date-time": "datetime",
        "email": "email",
        "ipv4": "ip",
        "ipv6": "ip6",
    }.get(fmt)
    if by_format:
        return by_format
    by_name = _kind_by_name(low)
    if by_name:
        return by_name
    if typ in ("integer", "number") or fmt.startswith(("int", "uint")):
        if low in ("index", "pos", "position", "page", "seq", "attempt", "run") or low.endswith(
            ("index", "seq")
        ):
            return "int_small"
        return "int"
    if typ == "boolean":
        return "bool"
    example = param.get("example", schema.get("example"))
    if isinstance(example, str) and _id_shaped(example):
        return "like:" + example
    pattern = str(schema.get("pattern", ""))
    if pattern in (r"^\d+$", "^[0-9]+$"):
        return "int"
    if _ID_NAME.search(pname) or low in ("id", "key"):
        return house_style(service)
    return "slug"


def _kind_by_name(low: str) -> str | None:
    checks: list[tuple[Callable[[str], bool], str]] = [
        (lambda n: n.endswith("mount_path"), "mount"),
        (lambda n: "uuid" in n or "guid" in n, "uuid"),
        (lambda n: "email" in n, "email"),
        (lambda n: n in ("ip", "ip_address", "ipaddress", "address_ip", "client_ip"), "ip"),
        (lambda n: n.endswith(("date", "day")) or n in ("start", "end"), "date"),
        (lambda n: n in ("year",), "year"),
        (lambda n: n in ("month",), "month"),
        (lambda n: n in ("lat", "latitude", "lon", "lng", "longitude"), "coord"),
        (lambda n: n in ("sha", "commit", "commit_sha", "revision") or n.endswith("sha"), "sha40"),
        (lambda n: "digest" in n or n.endswith("hash"), "hex64"),
        (lambda n: "title" in n or n in ("pagename", "page_name", "article", "wiki_page"), "title"),
        (
            lambda n: (
                n
                in ("username", "user", "login", "owner", "author", "collaborator", "assignee", "urlusername")
            ),
            "username",
        ),
        (lambda n: n in ("org", "organization", "orgname", "org_name", "team", "template_owner"), "orgname"),
        (lambda n: n in ("repo", "repository", "repo_name", "template_repo"), "reponame"),
        (lambda n: n in ("branch", "ref", "basehead", "base", "head"), "branch"),
        (lambda n: "token" in n or n in ("nonce", "secret", "pay_req"), "token"),
        (lambda n: n in ("version", "tag", "tag_name", "release"), "semver"),
        (lambda n: "lang" in n or "locale" in n, "language"),
        (lambda n: "country" in n, "country"),
        (lambda n: "currency" in n, "currency"),
        (lambda n: n in ("symbol", "pair", "ticker"), "symbol"),
        (lambda n: "namespace" in n, "namespace"),
        (
            lambda n: n in ("filename", "file_name", "filepath", "file_path", "path", "file", "attachment"),
            "filename",
        ),
        (lambda n: n in ("phone", "phone_number", "msisdn"), "phone"),
        (
            lambda n: n.endswith(
                (
                    "type",
                    "kind",
                    "status",
                    "state",
                    "category",
                    "mode",
                    "scope",
                    "provider",
                    "filter",
                    "format",
                    "subsystem",
                    "source",
                    "action",
                    "part",
                    "field",
                    "color",
                    "flag",
                )
            ),
            "category",
        ),
        (lambda n: "slug" in n, "slug"),
        (lambda n: n.endswith("name") or n == "name", "name"),
    ]
    for test, kind in checks:
        if test(low):
            return kind
    return None


def _id_shaped(example: str) -> bool:
    """An example that shows an id's format ("4aawyAB9vmqN3uQ7FjRGTy", "PN123..."), not a word."""
    digits = sum(c.isdigit() for c in example)
    return len(example) >= 6 and digits >= 2 and re.fullmatch(r"[A-Za-z0-9_\-]+", example) is not None


class Values:
    """Value pools per (service, parameter kind): realistic, Zipf-popular, deterministic."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.pools: dict[tuple[str, str], list[str]] = {}
        self.cum: dict[tuple[str, str], list[float]] = {}

    def draw(
        self, service: str, pname: str, param: dict[str, Any], schema: dict[str, Any], prev_literal: str
    ) -> tuple[str, str]:
        kind = value_kind(service, pname, param, schema)
        key = (service, kind if kind in SHARED_KINDS else f"{kind}:{pname}:{prev_literal}")
        pool = self.pools.get(key)
        if pool is None:
            pool = self.pools[key] = self._make_pool(kind, param, schema)
            acc = 0.0
            cum: list[float] = []
            for rank in range(1, len(pool) + 1):
                acc += 1.0 / rank  # Zipf popularity: a few hot objects, a long tail seen once
                cum.append(acc)
            self.cum[key] = cum
        return self.rng.choices(pool, cum_weights=self.cum[key])[0], kind.split(":", 1)[0]

    def _many(self, fn: Callable[[], str], n: int) -> list[str]:
        out: list[str] = []
        seen: set[str] = set()
        for _ in range(n * 3):
            v = fn()
            if v not in seen:
                seen.add(v)
                out.append(v)
            if len(out) >= n:
                break
        self.rng.shuffle(out)
        return out

    def _make_pool(self, kind: str, param: dict[str, Any], schema: dict[str, Any]) -> list[str]:
        r = self.rng
        if kind.startswith("like:"):
            return self._many(lambda: _shaped_like(r, kind[5:]), 3000)
        if kind == "enum":
            vals = [str(v) for v in (schema.get("enum") or param.get("enum") or []) if str(v)]
            return vals or ["x"]
        if kind == "mount":
            default = str(schema.get("default") or param.get("default") or "secret")
            return [default, f"{default}-2", f"team-{default}", f"{default}-prod"][: r.choice((2, 3, 4))]
        maker = _MAKERS.get(kind)
        if maker is not None:
            fn, n = maker
            return self._many(lambda: fn(r), n)
        fixed = _FIXED.get(kind)
        if fixed is not None:
            return list(fixed)
        if kind in ("slug", "page_slug", "product_slug", "list_slug", "k8s_name", "image_name"):
            return self._many(lambda: _slug(r, kind), {"list_slug": 32, "image_name": 300}.get(kind, 1500))
        if kind == "category":
            return list(CATEGORIES)
        if kind == "year":
            return [str(y) for y in r.sample(range(1851, 2025), 174)]
        if kind == "int_small":
            return [str(i) for i in r.sample(range(1, 1200), 1000)]
        if kind == "int":
            lo = r.choice((1, 100, 10_000, 1_000_000))
            return self._many(lambda: str(r.randint(lo, lo * 50 + 5000)), 5000)
        if kind == "twilio_sid":
            prefix = r.choice(("AC", "CA", "PN", "SM", "RE", "CF", "QU", "AP", "MM", "CL"))
            return self._many(lambda: prefix + "".join(r.choices(HEX, k=32)), 3000)
        if kind == "prefixed":
            prefix = r.choice(("cus_", "ch_", "acct_", "pi_", "sub_", "in_"))
            return self._many(lambda: prefix + "".join(r.choices(BASE62, k=r.choice((14, 16, 24)))), 3000)
        return self._many(lambda: f"{r.choice(WORDS)}-{r.choice(WORDS)}", 1000)


def _shaped_like(r: random.Random, example: str) -> str:
    """A value with the example's shape: each digit, small and capital letter redrawn in kind."""
    out = []
    for c in example:
        if c.isdigit():
            out.append(r.choice(string.digits))
        elif c.islower():
            out.append(r.choice(string.ascii_lowercase))
        elif c.isupper():
            out.append(r.choice(string.ascii_uppercase))
        else:
            out.append(c)
    return "".join(out)


def _slug(r: random.Random, kind: str) -> str:
    if kind == "product_slug":
        extra = r.choice(("", "-" + r.choice(("mini", "pro", "xl", "2", "classic"))))
        return f"{r.choice(WORDS)}-{r.choice(NOUNS)}{extra}"
    if kind == "k8s_name":
        tail = "".join(r.choices(string.ascii_lowercase + string.digits, k=5))
        return f"{r.choice(('vm', 'web', 'db', 'worker', 'cache'))}-{r.choice(WORDS)}-{tail}"
    if kind == "image_name":
        return f"{r.choice(WORDS)}{r.choice(('', '-app', '-svc'))}:{r.choice(('latest', '1.25', '3.2.1', 'alpine', 'v2'))}"
    if kind == "page_slug":
        return (
            f"{r.choice(('how', 'what', 'when', 'can'))}-{r.choice(WORDS)}-{r.choice(NOUNS)}-"
            f"{r.choice(('works', 'apply', 'change', 'renew'))}"
        )
    if kind == "list_slug":
        genre = r.choice(
            ("fiction", "nonfiction", "advice", "graphic", "young-adult", "business", "science", "travel")
        )
        return f"{r.choice(('hardcover', 'paperback', 'e-book', 'audio'))}-{genre}"
    return f"{r.choice(WORDS)}-{r.choice(WORDS)}"


def _user(r: random.Random) -> str:
    f, last = r.choice(FIRST), r.choice(LAST)
    return r.choice(
        (f, f + last, f"{f}_{last}", f"{f[0]}{last}", f"{f}{r.randint(1, 99)}", f"{f}-{r.choice(WORDS)}")
    )


_TITLE_WORDS = ["Caf%C3%A9", "M%C3%BCnchen", "S%C3%A3o_Paulo", "Pok%C3%A9mon", "Z%C3%BCrich", "Bj%C3%B6rk"]


def _title(r: random.Random) -> str:
    """Encyclopedia-style titles: "Albert_Einstein", "Caf%C3%A9_au_lait", "History_of_Oak"."""
    roll = r.random()
    if roll < 0.35:
        return f"{r.choice(FIRST).capitalize()}_{r.choice(LAST).capitalize()}"
    if roll < 0.5:
        return f"{r.choice(_TITLE_WORDS)}_{r.choice(('au_lait', 'Metro', 'district', 'history', 'culture'))}"
    if roll < 0.75:
        return f"{r.choice(('History_of', 'List_of', 'Geography_of', 'Economy_of'))}_{r.choice(WORDS).capitalize()}"
    return r.choice(WORDS).capitalize() + r.choice(("", "_" + r.choice(NOUNS), "_(" + r.choice(NOUNS) + ")"))


def _email(r: random.Random) -> str:
    doms = ("example.com", "mail.test", "corp.example.org", "inbox.example.net")
    return f"{r.choice(FIRST)}.{r.choice(LAST)}{r.choice(('', str(r.randint(1, 99))))}@{r.choice(doms)}"


def _filename(r: random.Random) -> str:
    ext = r.choice(("py", "md", "json", "yaml", "txt", "js", "css"))
    return f"{r.choice(WORDS)}_{r.choice(NOUNS)}{r.randint(1, 99)}.{ext}"


def _report_file(r: random.Random) -> str:
    name = r.choice(("summary", "sales", "inventory", "returns", "tax"))
    return (
        f"{r.randint(2019, 2025)}-Q{r.randint(1, 4)}-{name}"
        f"{r.choice(('', '-final', '-v2', '-' + r.choice(WORDS)))}.{r.choice(EXTENSIONS)}"
    )


def _jira_key(r: random.Random) -> str:
    projects = ["PROJ", "OPS", "WEB", "CORE", "MOB", "DATA"]
    return f"{r.choice(projects)}-{r.randint(1, 4000)}" if r.random() < 0.7 else str(r.randint(10000, 99999))


def _branch(r: random.Random) -> str:
    return f"{r.choice(('feature', 'fix', 'chore'))}-{r.choice(WORDS)}-{r.choice(NOUNS)}"


_MAKERS: dict[str, tuple[Callable[[random.Random], str], int]] = {
    "uuid": (lambda r: str(uuid.UUID(int=r.getrandbits(128), version=4)), 4000),
    "hex32": (lambda r: "".join(r.choices(HEX, k=32)), 4000),
    "objectid": (lambda r: f"{r.randint(0x5F000000, 0x66000000):08x}" + "".join(r.choices(HEX, k=16)), 4000),
    "hex64": (lambda r: "".join(r.choices(HEX, k=64)), 4000),
    "hex66": (lambda r: "0" + r.choice("23") + "".join(r.choices(HEX, k=64)), 2000),
    "sha40": (lambda r: "".join(r.choices(HEX, k=40)), 4000),
    "digest": (lambda r: "sha256:" + "".join(r.choices(HEX, k=64)), 2000),
    "base62": (lambda r: "".join(r.choices(BASE62, k=22)), 4000),
    "upper13": (lambda r: "".join(r.choices(string.ascii_uppercase + string.digits, k=13)), 3000),
    "short7": (lambda r: "P" + "".join(r.choices(string.ascii_uppercase + string.digits, k=6)), 3000),
    "snowflake": (lambda r: str(r.randint(10**17, 2 * 10**17)), 4000),
    "ulid": (lambda r: r.choice("01") + "".join(r.choices(CROCKFORD, k=25)), 4000),
    "token": (
        lambda r: "".join(r.choices(string.ascii_letters + string.digits + "-_", k=r.choice((32, 43, 48)))),
        4000,
    ),
    "email": (_email, 3000),
    "phone": (
        lambda r: "+" + r.choice(("1", "44", "33", "49", "81")) + "".join(r.choices(string.digits, k=10)),
        3000,
    ),
    "ip": (
        lambda r: (
            f"{r.choice((10, 172, 192, 81, 203))}.{r.randint(0, 255)}.{r.randint(0, 255)}.{r.randint(1, 254)}"
        ),
        3000,
    ),
    "ip6": (lambda r: "2001:db8:" + ":".join(f"{r.getrandbits(16):x}" for _ in range(3)) + "::1", 2000),
    "date": (lambda r: f"{r.randint(2015, 2025)}-{r.randint(1, 12):02d}-{r.randint(1, 28):02d}", 2000),
    "datetime": (
        lambda r: (
            f"{r.randint(2015, 2025)}-{r.randint(1, 12):02d}-{r.randint(1, 28):02d}T{r.randint(0, 23):02d}:{r.randint(0, 59):02d}:00Z"
        ),
        2000,
    ),
    "coord": (lambda r: f"{r.uniform(-80, 80):.4f}", 3000),
    "semver": (
        lambda r: f"{r.choice(('', 'v'))}{r.randint(0, 5)}.{r.randint(0, 30)}.{r.randint(0, 20)}",
        400,
    ),
    "filename": (_filename, 2000),
    "report_file": (_report_file, 600),
    "product_code": (
        lambda r: (
            f"{r.choice(string.ascii_uppercase)}{r.choice(string.ascii_uppercase)}-{r.randint(10000, 99999)}"
        ),
        3000,
    ),
    "jira_key": (_jira_key, 3000),
    "username": (_user, 3000),
    "name": (
        lambda r: r.choice(
            (
                f"{r.choice(WORDS)}-{r.choice(NOUNS)}",
                r.choice(WORDS) + str(r.randint(1, 9)),
                f"{r.choice(WORDS)}_{r.choice(WORDS)}",
            )
        ),
        1200,
    ),
    "title": (_title, 3000),
    "orgname": (lambda r: f"{r.choice(WORDS)}{r.choice(('', '-labs', '-io', 'hq', '-team', '-dev'))}", 400),
    "reponame": (
        lambda r: (
            f"{r.choice(WORDS)}{r.choice(('', '-' + r.choice(WORDS), '-api', '-cli', '.js', '-rs', 'db'))}"
        ),
        2500,
    ),
    "branch": (_branch, 500),
    "brand": (lambda r: r.choice(WORDS) + r.choice(("", "co", "works", "labs")), 60),
}

_FIXED: dict[str, tuple[str, ...]] = {
    "currency": tuple(CURRENCIES),
    "namespace": tuple(NAMESPACES),
    "country": ("US", "GB", "FR", "DE", "CA", "AU", "JP", "ES", "IT", "NL", "SE", "BR"),
    "language": ("en", "fr", "de", "es", "it", "ja", "pt-BR", "zh-CN", "nl", "sv"),
    "month": tuple(str(m) for m in range(1, 13)),
    "bool": ("true", "false"),
    "symbol": ("BTCUSDT", "ETHUSDT", "BNBBTC", "ETHBTC", "SOLUSDT", "XRPUSDT", "ADAUSDT", "DOGEUSDT"),
    "state": (
        "alabama",
        "alaska",
        "arizona",
        "arkansas",
        "california",
        "colorado",
        "connecticut",
        "delaware",
        "florida",
        "georgia",
        "hawaii",
        "idaho",
        "illinois",
        "indiana",
        "iowa",
        "kansas",
        "kentucky",
        "louisiana",
        "maine",
        "maryland",
        "massachusetts",
        "michigan",
        "minnesota",
        "mississippi",
        "missouri",
        "montana",
        "nebraska",
        "nevada",
        "ohio",
        "oklahoma",
        "oregon",
        "pennsylvania",
        "tennessee",
        "texas",
        "utah",
        "vermont",
        "virginia",
        "washington",
        "wisconsin",
        "wyoming",
    ),
    "dataset": ("oa_citations", "cancer_moonshot", "enriched_cited_reference_metadata"),
    "trello_field": (
        "name",
        "desc",
        "closed",
        "idOrganization",
        "pinned",
        "url",
        "shortUrl",
        "dateLastActivity",
        "idBoard",
        "pos",
        "subscribed",
    ),
    "trello_filter": ("all", "open", "closed", "members", "public", "organization", "starred"),
    "port": ("22", "80", "443", "3389", "5900", "8080"),
    "protocol": ("TCP", "UDP"),
}
