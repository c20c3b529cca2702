"""Turn OpenAPI specs into realistic concrete traffic, keeping the true template of every request.

Each spec becomes one service (host). Operations get Zipf-distributed popularity so some endpoints
are seen thousands of times and some once or twice; every path parameter gets a realistic value
pool (Zipf-distributed ids, slugs from word lists, usernames, e-mails, dates, hashes, product
codes, file names...) shared by every endpoint that names the same parameter, as real clients
reuse the same objects across endpoints. Responses carry a shape (sorted top-level JSON keys,
derived from the spec's response schema, with optional keys sometimes missing). Scanners probe
every host with paths that only ever get 404, and one host sees nothing but scanners.

Ground truth normalisation: a segment containing any path parameter is a parameter segment
("/{year}/{month}.json" -> "/{}/{}"): the templater works per segment. Parameters that pick a
representation ({format}, {mediaTypeExtension}) are fixed per service (a client uses one format)
and substituted into the truth as literals, in the traffic and in the spec given for guidance.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import string
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

SPEC_DIR = Path(__file__).parent / "specs"
_PARAM = re.compile(r"\{([^}/]+)\}")
METHODS = ("get", "put", "post", "delete", "patch", "head", "options")

# Services: spec file -> host used when the spec names none (or names a placeholder).
SPECS: dict[str, str] = {
    "docker_engine_swagger.yaml": "docker.internal:2375",
    "guru_bufferapp_1.yaml": "api.bufferapp.com",
    "guru_healthcare.gov_1.0.0.yaml": "www.healthcare.gov",
    "guru_jira_7.6.1.yaml": "jira.example.com:8080",
    "guru_trello_1.0.yaml": "api.trello.com",
    "guru_twilio_2010-04-01.yaml": "api.twilio.com",
    "guru_xkcd_1.0.0.yaml": "xkcd.com",
    "kubevirt_swagger.json": "kubevirt.cluster.local",
    "netlify_swagger.yml": "api.netlify.com",
    "nyt_archive_api.json": "api.nytimes.com",
    "nyt_books_api.json": "api.nytimes.com",
    "nyt_community_api_v3.json": "api.nytimes.com",
    "oai_petstore.yaml": "petstore.swagger.io",
    "oai_uspto.yaml": "developer.uspto.gov",
    "pokeapi_openapi.yml": "pokeapi.co",
    "spotify_fixed_openapi.yml": "api.spotify.com",
    "github_like.yaml": "api.codehost.test",
    "shop_like.yaml": "shop.example.com",
}
NOISE_HOST = "203.0.113.9"  # no Host header: the server address names the service
SCANNER_PATHS = (
    "/.env",
    "/wp-login.php",
    "/.git/config",
    "/phpmyadmin/index.php",
    "/admin/config.php",
    "/wp-admin/setup-config.php",
    "/.aws/credentials",
    "/server-status",
    "/actuator/env",
    "/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php",
    "/cgi-bin/luci",
    "/boaform/admin/formLogin",
    "/HNAP1",
    "/console",
    "/.DS_Store",
    "/config.json",
    "/backup.zip",
    "/db.sql",
    "/owa/auth/logon.aspx",
    "/solr/admin/info/system",
    "/api/jsonws/invoke",
    "/telescope/requests",
    "/_ignition/execute-solution",
    "/debug/default/view",
    "/xmlrpc.php",
)

WORDS = [
    "alpha",
    "amber",
    "anchor",
    "apple",
    "arrow",
    "aspen",
    "atlas",
    "autumn",
    "azure",
    "badger",
    "bamboo",
    "banner",
    "basil",
    "beacon",
    "berry",
    "birch",
    "blossom",
    "bluebird",
    "bolt",
    "breeze",
    "brook",
    "cactus",
    "canyon",
    "cedar",
    "celery",
    "chalk",
    "cherry",
    "cinder",
    "citrus",
    "clover",
    "cobalt",
    "comet",
    "coral",
    "cotton",
    "crane",
    "crimson",
    "crystal",
    "cypress",
    "daisy",
    "dawn",
    "delta",
    "desert",
    "dune",
    "eagle",
    "ember",
    "falcon",
    "fern",
    "fjord",
    "flint",
    "forest",
    "fossil",
    "galaxy",
    "garnet",
    "ginger",
    "glacier",
    "granite",
    "harbor",
    "hazel",
    "heron",
    "hollow",
    "honey",
    "indigo",
    "island",
    "ivory",
    "jade",
    "jasper",
    "juniper",
    "kelp",
    "kestrel",
    "lagoon",
    "lantern",
    "laurel",
    "lemon",
    "lilac",
    "linen",
    "lotus",
    "lunar",
    "maple",
    "marble",
    "meadow",
    "mint",
    "mist",
    "moss",
    "nectar",
    "nimbus",
    "oak",
    "ocean",
    "olive",
    "onyx",
    "orchid",
    "otter",
    "pebble",
    "pepper",
    "pine",
    "plum",
    "polar",
    "poppy",
    "prairie",
    "quartz",
    "quill",
    "raven",
    "reef",
    "ridge",
    "river",
    "robin",
    "rose",
    "ruby",
    "saffron",
    "sage",
    "sapphire",
    "scarlet",
    "shadow",
    "sierra",
    "silver",
    "slate",
    "sparrow",
    "spruce",
    "stone",
    "storm",
    "summit",
    "sunset",
    "swift",
    "thistle",
    "thunder",
    "tide",
    "timber",
    "topaz",
    "tulip",
    "tundra",
    "valley",
    "velvet",
    "violet",
    "walnut",
    "willow",
    "winter",
    "wren",
    "zephyr",
]
NOUNS = [
    "lamp",
    "chair",
    "desk",
    "mug",
    "kettle",
    "backpack",
    "jacket",
    "sneaker",
    "blender",
    "speaker",
    "headphones",
    "keyboard",
    "monitor",
    "notebook",
    "pen",
    "bottle",
    "tent",
    "blanket",
    "pillow",
    "candle",
    "vase",
    "clock",
    "wallet",
    "scarf",
    "glove",
    "helmet",
    "bicycle",
    "drone",
    "camera",
    "tripod",
    "charger",
    "cable",
    "router",
    "printer",
    "mattress",
    "sofa",
    "rug",
    "mirror",
    "shelf",
    "toaster",
    "grinder",
]
FIRST = [
    "alice",
    "bob",
    "carol",
    "dave",
    "erin",
    "frank",
    "grace",
    "heidi",
    "ivan",
    "judy",
    "mallory",
    "niaj",
    "olivia",
    "peggy",
    "rupert",
    "sybil",
    "trent",
    "victor",
    "walter",
    "xena",
    "yusuf",
    "zoe",
    "liam",
    "emma",
    "noah",
    "ava",
    "mia",
    "lucas",
    "sofia",
    "mateo",
    "amara",
    "kenji",
    "priya",
    "omar",
    "lena",
]
LAST = [
    "smith",
    "jones",
    "garcia",
    "miller",
    "davis",
    "lopez",
    "wilson",
    "anderson",
    "thomas",
    "moore",
    "martin",
    "lee",
    "perez",
    "white",
    "clark",
]
CATEGORIES = [
    "electronics",
    "books",
    "garden",
    "kitchen",
    "toys",
    "sports",
    "outdoor",
    "beauty",
    "automotive",
    "music",
    "office",
    "pets",
    "baby",
    "grocery",
    "jewelry",
    "shoes",
    "furniture",
    "health",
    "crafts",
    "luggage",
]
CURRENCIES = ["USD", "EUR", "GBP", "JPY", "CHF", "CAD", "AUD", "SEK", "NOK", "DKK", "NZD", "SGD"]
NAMESPACES = [
    "default",
    "prod",
    "staging",
    "dev",
    "team-a",
    "team-b",
    "ci",
    "monitoring",
    "data-platform",
    "payments",
]
EXTENSIONS = ("pdf", "csv", "xlsx", "json", "zip", "png", "txt")
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
BASE62 = string.digits + string.ascii_letters


@dataclass(frozen=True, slots=True)
class Request:
    host: str
    method: str
    path: str
    status: int
    shape: str | None
    truth: str | None  # normalised true template; None for scanner noise
    classes: tuple[str, ...]  # per segment: "lit:<kind>" or "param:<value kind>"


@dataclass(slots=True)
class Operation:
    method: str
    template: str  # full template incl. base path, representation params substituted
    params: dict[str, dict[str, Any]]  # name -> parameter object (schema, enum, x-value-kind)
    shape_keys: tuple[str, ...] | None
    is_list: bool
    weight: float = 1.0


@dataclass(slots=True)
class Service:
    name: str
    host: str
    operations: list[Operation] = field(default_factory=list)


# ----------------------------------------------------------------------------------------------
# Spec loading


def _load(path: Path) -> dict[str, Any]:
    text = path.read_text(encoding="utf-8")
    return (
        json.loads(text)
        if path.suffix == ".json"
        else yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    )


def _resolve(doc: dict[str, Any], obj: Any, depth: int = 0) -> Any:
    while isinstance(obj, dict) and "$ref" in obj and depth < 20:
        ref = obj["$ref"]
        if not isinstance(ref, str) or not ref.startswith("#/"):
            return {}
        node: Any = doc
        for part in ref[2:].split("/"):
            node = node.get(part.replace("~1", "/").replace("~0", "~"), {}) if isinstance(node, dict) else {}
        obj = node
        depth += 1
    return obj


def _schema_keys(doc: dict[str, Any], schema: Any) -> tuple[tuple[str, ...] | None, bool]:
    schema = _resolve(doc, schema)
    if not isinstance(schema, dict):
        return None, False
    if schema.get("type") == "array" or "items" in schema:
        keys, _ = _schema_keys(doc, schema.get("items", {}))
        return ("[]",) + (keys or ()), True
    props: dict[str, Any] = {}
    for sub in schema.get("allOf", []) or []:
        sub = _resolve(doc, sub)
        if isinstance(sub, dict):
            props.update(sub.get("properties", {}) or {})
    props.update(schema.get("properties", {}) or {})
    if not props:
        return None, False
    return tuple(sorted(props)), False


def _response_keys(doc: dict[str, Any], op: dict[str, Any]) -> tuple[tuple[str, ...] | None, bool]:
    responses = op.get("responses", {}) or {}
    for code in ("200", "201", "202", 200, 201, "default"):
        resp = _resolve(doc, responses.get(code))
        if not isinstance(resp, dict):
            continue
        if "schema" in resp:
            return _schema_keys(doc, resp["schema"])
        for media in (resp.get("content") or {}).values():
            if isinstance(media, dict) and "schema" in media:
                return _schema_keys(doc, media["schema"])
    return None, False


def _base_path(doc: dict[str, Any]) -> str:
    if "basePath" in doc:
        base = str(doc["basePath"])
    else:
        url = str(((doc.get("servers") or [{}])[0] or {}).get("url", ""))
        base = re.sub(r"^[a-z{}]+://[^/]+", "", url)
    base = base.rstrip("/")
    return "" if base == "/" else base


# Representation parameters are fixed per service; so is USPTO's {version}, because the product
# requirement is that API version segments ("/v1") stay literal.
REPRESENTATION = {"format": "json", "mediatypeextension": ".json", "version": "v1"}


def load_service(name: str) -> Service:
    doc = _load(SPEC_DIR / name)
    svc = Service(name=name.rsplit(".", 1)[0], host=SPECS[name])
    base = _base_path(doc)
    for raw_path, item in (doc.get("paths") or {}).items():
        item = _resolve(doc, item)
        if not isinstance(item, dict):
            continue
        shared = [_resolve(doc, p) for p in item.get("parameters", []) or []]
        for method, op in item.items():
            if method not in METHODS or not isinstance(op, dict):
                continue
            params: dict[str, dict[str, Any]] = {}
            for p in shared + [_resolve(doc, p) for p in op.get("parameters", []) or []]:
                if isinstance(p, dict) and p.get("in") == "path":
                    params[str(p.get("name"))] = p
            tpl = base + raw_path
            for pname in _PARAM.findall(tpl):
                fixed = REPRESENTATION.get(pname.lower())
                if fixed is not None:
                    tpl = tpl.replace("{" + pname + "}", fixed)
            keys, is_list = _response_keys(doc, op)
            svc.operations.append(Operation(method.upper(), tpl, params, keys, is_list))
    return svc


# ----------------------------------------------------------------------------------------------
# Values


class Values:
    """Value pools per (service, parameter kind): realistic, Zipf-popular, deterministic."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.pools: dict[tuple[str, str], list[str]] = {}
        self.cum: dict[tuple[str, str], list[float]] = {}

    def draw(self, service: str, pname: str, param: dict[str, Any], prev_literal: str) -> tuple[str, str]:
        kind = self.kind(service, pname, param, prev_literal)
        key = (service, kind if kind in SHARED_KINDS else f"{kind}:{pname}:{prev_literal}")
        pool = self.pools.get(key)
        if pool is None:
            pool = self.pools[key] = self._make_pool(kind, param)
            acc = 0.0
            cum: list[float] = []
            for rank in range(1, len(pool) + 1):
                acc += 1.0 / rank  # Zipf popularity: a few hot objects, a long tail seen once
                cum.append(acc)
            self.cum[key] = cum
        return self.rng.choices(pool, cum_weights=self.cum[key])[0], kind

    def kind(self, service: str, pname: str, param: dict[str, Any], prev: str) -> str:
        schema = param.get("schema", param) if isinstance(param, dict) else {}
        explicit = param.get("x-value-kind") if isinstance(param, dict) else None
        if explicit:
            return str(explicit)
        enum = schema.get("enum") or param.get("enum")
        if enum:
            return "enum"
        low = pname.lower().replace("-", "_")
        fmt = str(schema.get("format", ""))
        typ = str(schema.get("type", ""))
        svc = service
        if svc.startswith("docker"):
            return {"id": "hex64", "name": "image_name"}.get(low, "slug")
        if svc.startswith("kubevirt"):
            return {"namespace": "namespace", "name": "k8s_name", "port": "port", "protocol": "protocol"}.get(
                low, "slug"
            )
        if svc.startswith("guru_trello"):
            if low.startswith("id"):
                return "objectid"
            return {"field": "trello_field", "filter": "trello_filter", "token": "hex64"}.get(low, "slug")
        if svc.startswith("guru_twilio"):
            if low.endswith("sid"):
                return "twilio_sid"
            if low == "isocountrycode":
                return "country"
            return "slug"
        if svc.startswith("spotify"):
            if low in ("user_id",):
                return "username"
            if low == "category_id":
                return "category"
            return "base62"
        if svc.startswith("netlify"):
            if low == "site_id":
                return "uuid"
            if low in ("account_slug", "name", "addon", "addonname", "package"):
                return "slug"
            if low in ("file_path", "path"):
                return "filename"
            if low == "key":
                return "slug"
            return "objectid"
        if svc.startswith("guru_jira"):
            if "key" in low and "id" in low:
                return "jira_key"
            if low in ("key", "propertykey", "attributekey", "projecttypekey", "newprojecttypekey"):
                return "slug"
            if low in ("type", "issuetype", "idorname"):
                return "category"
            return "int"
        if svc.startswith("pokeapi"):
            return "int_small"
        if svc.startswith("guru_healthcare"):
            return "state" if low == "statename" else "page_slug"
        if svc.startswith("oai_uspto"):
            return {"dataset": "dataset", "version": "version_slug"}.get(low, "slug")
        if svc.startswith("nyt_archive"):
            return {"year": "year", "month": "month"}.get(low, "int")
        if svc.startswith("nyt_books"):
            return {"date": "date", "list": "list_slug"}.get(low, "slug")
        if fmt == "uuid" or "uuid" in low:
            return "uuid"
        if fmt == "email" or "email" in low:
            return "email"
        if fmt in ("date", "date-time") or "date" in low:
            return "date"
        if typ == "integer" or low.endswith("id") or low.endswith("_id"):
            return "int"
        if low in ("username", "user", "owner", "login"):
            return "username"
        return "slug"

    def _make_pool(self, kind: str, param: dict[str, Any]) -> list[str]:
        r = self.rng
        schema = param.get("schema", param) if isinstance(param, dict) else {}

        def many(fn: Any, n: int) -> list[str]:
            out: list[str] = []
            seen: set[str] = set()
            for _ in range(n * 3):
                v = fn()
                if v not in seen:
                    seen.add(v)
                    out.append(v)
                if len(out) >= n:
                    break
            r.shuffle(out)
            return out

        hexs = "0123456789abcdef"
        if kind == "enum":
            vals = [str(v) for v in (schema.get("enum") or param.get("enum") or []) if str(v)]
            return vals or ["x"]
        if kind == "int":
            lo = r.choice((1, 100, 10_000, 1_000_000))
            return many(lambda: str(r.randint(lo, lo * 50 + 5000)), 5000)
        if kind == "int_small":
            return [str(i) for i in r.sample(range(1, 1200), 1000)]
        if kind == "uuid":
            return many(lambda: str(__import__("uuid").UUID(int=r.getrandbits(128), version=4)), 4000)
        if kind == "objectid":
            return many(
                lambda: f"{r.randint(0x5F000000, 0x66000000):08x}" + "".join(r.choices(hexs, k=16)), 4000
            )
        if kind in ("hex64", "hex32", "sha40"):
            k = {"hex64": 64, "hex32": 32, "sha40": 40}[kind]
            return many(lambda: "".join(r.choices(hexs, k=k)), 4000)
        if kind == "twilio_sid":
            prefix = r.choice(("AC", "CA", "PN", "SM", "RE", "CF", "QU", "AP", "MM", "CL"))
            return many(lambda: prefix + "".join(r.choices(hexs, k=32)), 3000)
        if kind == "base62":
            return many(lambda: "".join(r.choices(BASE62, k=22)), 4000)
        if kind == "ulid":
            return many(lambda: r.choice("01") + "".join(r.choices(CROCKFORD, k=25)), 4000)
        if kind == "token":
            alphabet = string.ascii_letters + string.digits + "-_"
            return many(lambda: "".join(r.choices(alphabet, k=r.choice((32, 43, 48)))), 4000)
        if kind == "email":
            doms = ("example.com", "mail.test", "corp.example.org", "inbox.example.net")
            return many(
                lambda: (
                    f"{r.choice(FIRST)}.{r.choice(LAST)}{r.choice(('', str(r.randint(1, 99))))}@{r.choice(doms)}"
                ),
                3000,
            )
        if kind == "phone":
            return many(
                lambda: (
                    "+"
                    + r.choice(("1", "44", "33", "49", "81"))
                    + "".join(r.choices(string.digits, k=r.choice((9, 10))))
                ),
                3000,
            )
        if kind == "date":
            return many(
                lambda: f"{r.randint(2015, 2025)}-{r.randint(1, 12):02d}-{r.randint(1, 28):02d}", 2000
            )
        if kind == "year":
            return [str(y) for y in r.sample(range(1851, 2025), 174)]
        if kind == "month":
            return [str(m) for m in range(1, 13)]
        if kind == "semver":
            return many(
                lambda: f"{r.choice(('', 'v'))}{r.randint(0, 5)}.{r.randint(0, 30)}.{r.randint(0, 20)}", 400
            )
        if kind == "filename":
            return many(
                lambda: (
                    f"{r.choice(WORDS)}_{r.choice(NOUNS)}{r.randint(1, 99)}.{r.choice(('py', 'md', 'json', 'yaml', 'txt', 'js', 'css'))}"
                ),
                2000,
            )
        if kind == "report_file":
            return many(
                lambda: (
                    f"{r.randint(2019, 2025)}-Q{r.randint(1, 4)}-{r.choice(('summary', 'sales', 'inventory', 'returns', 'tax'))}"
                    f"{r.choice(('', '-final', '-v2', '-' + r.choice(WORDS)))}.{r.choice(EXTENSIONS)}"
                ),
                600,
            )
        if kind == "product_code":
            return many(
                lambda: (
                    f"{r.choice(string.ascii_uppercase)}{r.choice(string.ascii_uppercase)}-{r.randint(10000, 99999)}"
                ),
                3000,
            )
        if kind == "jira_key":
            projects = ["PROJ", "OPS", "WEB", "CORE", "MOB", "DATA"]
            return many(
                lambda: (
                    f"{r.choice(projects)}-{r.randint(1, 4000)}"
                    if r.random() < 0.7
                    else str(r.randint(10000, 99999))
                ),
                3000,
            )
        if kind == "username":

            def user() -> str:
                f, last = r.choice(FIRST), r.choice(LAST)
                return r.choice(
                    (
                        f,
                        f + last,
                        f"{f}_{last}",
                        f"{f[0]}{last}",
                        f"{f}{r.randint(1, 99)}",
                        f"{f}-{r.choice(WORDS)}",
                    )
                )

            return many(user, 3000)
        if kind == "orgname":
            return many(
                lambda: f"{r.choice(WORDS)}{r.choice(('', '-labs', '-io', 'hq', '-team', '-dev'))}", 400
            )
        if kind == "reponame":
            return many(
                lambda: (
                    f"{r.choice(WORDS)}{r.choice(('', '-' + r.choice(WORDS), '-api', '-cli', '.js', '-rs', 'db'))}"
                ),
                2500,
            )
        if kind == "branch":
            return ["main", "master", "develop"] + many(
                lambda: f"{r.choice(('feature', 'fix', 'chore'))}-{r.choice(WORDS)}-{r.choice(NOUNS)}", 500
            )
        if kind in ("slug", "page_slug", "product_slug", "list_slug", "k8s_name", "image_name"):

            def slug() -> str:
                if kind == "product_slug":
                    return f"{r.choice(WORDS)}-{r.choice(NOUNS)}{r.choice(('', '-' + r.choice(('mini', 'pro', 'xl', '2', 'classic'))))}"
                if kind == "k8s_name":
                    return f"{r.choice(('vm', 'web', 'db', 'worker', 'cache'))}-{r.choice(WORDS)}-{''.join(r.choices(string.ascii_lowercase + string.digits, k=5))}"
                if kind == "image_name":
                    return f"{r.choice(WORDS)}{r.choice(('', '-app', '-svc'))}:{r.choice(('latest', '1.25', '3.2.1', 'alpine', 'v2'))}"
                if kind == "page_slug":
                    return f"{r.choice(('how', 'what', 'when', 'can'))}-{r.choice(WORDS)}-{r.choice(NOUNS)}-{r.choice(('works', 'apply', 'change', 'renew'))}"
                if kind == "list_slug":
                    return f"{r.choice(('hardcover', 'paperback', 'e-book', 'audio'))}-{r.choice(('fiction', 'nonfiction', 'advice', 'graphic', 'young-adult', 'business', 'science', 'travel'))}"
                return f"{r.choice(WORDS)}-{r.choice(WORDS)}"

            return many(slug, {"list_slug": 32, "image_name": 300}.get(kind, 1500))
        if kind == "category":
            return list(CATEGORIES)
        if kind == "brand":
            return many(lambda: r.choice(WORDS) + r.choice(("", "co", "works", "labs")), 60)
        if kind == "currency":
            return list(CURRENCIES)
        if kind == "namespace":
            return list(NAMESPACES)
        if kind == "country":
            return ["US", "GB", "FR", "DE", "CA", "AU", "JP", "ES", "IT", "NL", "SE", "BR"]
        if kind == "state":
            return [
                s.lower()
                for s in [
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
                ]
            ]
        if kind == "dataset":
            return ["oa_citations", "cancer_moonshot", "enriched_cited_reference_metadata"]
        if kind == "version_slug":
            return ["v1", "v2"]
        if kind == "trello_field":
            return [
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
            ]
        if kind == "trello_filter":
            return ["all", "open", "closed", "members", "public", "organization", "starred"]
        if kind == "port":
            return [str(p) for p in (22, 80, 443, 3389, 5900, 8080)]
        if kind == "protocol":
            return ["TCP", "UDP"]
        return many(lambda: f"{r.choice(WORDS)}-{r.choice(WORDS)}", 1000)


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
    }
)


# ----------------------------------------------------------------------------------------------
# Traffic


def normalise(template: str) -> str:
    """Template with every parameter segment written "{}" (names and in-segment text dropped)."""
    return "/".join("{}" if "{" in seg else seg for seg in template.split("/"))


def _literal_kind(seg: str, siblings_have_param: bool) -> str:
    if re.fullmatch(r"v\d+(\.\d+)?([a-z]+\d*)?|\d{4}-\d{2}-\d{2}|\d+(\.\d+)?", seg):
        return "lit:version"
    return "lit:static-sibling" if siblings_have_param else "lit:plain"


def _shape(rng: random.Random, keys: tuple[str, ...] | None, op: Operation) -> str | None:
    if keys is None:
        # No schema in the spec: a real body still has keys specific to the endpoint.
        digest = hashlib.sha1(normalise(op.template).encode()).hexdigest()
        specific = {"k" + digest[i : i + 4] for i in (0, 4, 8, 12)}
        keys = ("[]",) if op.is_list else tuple(sorted({"id"} | specific))
    if len(keys) >= 4 and keys[0] != "[]":
        # Optional members are omitted now and then (null fields dropped by serializers).
        keep = [k for k in keys if rng.random() > 0.1]
        keys = tuple(keep) if len(keep) >= 3 else keys
    return ",".join(keys)


def generate(
    seed: int = 7, scale: float = 1.0, services: list[str] | None = None
) -> tuple[list[Request], dict[str, list[tuple[str, str]]]]:
    """All traffic, shuffled into one arrival order, plus each host's spec operations for guidance."""
    rng = random.Random(seed)
    values = Values(rng)
    per_service: list[list[Request]] = []
    guidance: dict[str, list[tuple[str, str]]] = {}
    for name in services or list(SPECS):
        svc = load_service(name)
        if not svc.operations:
            continue
        guidance.setdefault(svc.host, []).extend((op.method, op.template) for op in svc.operations)
        # Which literal positions have a parameter sibling (for per-class miss reporting).
        param_prefixes = set()
        for op in svc.operations:
            segs = normalise(op.template).split("/")
            for i, seg in enumerate(segs):
                if seg == "{}":
                    param_prefixes.add("/".join(segs[:i]))
        ops = list(svc.operations)
        rng.shuffle(ops)
        for rank, op in enumerate(ops, start=1):
            op.weight = 1.0 / rank  # Zipf popularity: a head of busy endpoints, a tail of rare ones
        total_w = sum(op.weight for op in ops)
        n_req = int(scale * min(6000, max(300, 25 * len(ops))))
        index = SpecIndex([op.template for op in svc.operations])
        reqs: list[Request] = []
        for _ in range(n_req):
            x = rng.random() * total_w
            for op in ops:
                x -= op.weight
                if x <= 0:
                    break
            for _attempt in range(8):
                req = _request(rng, values, svc, op, param_prefixes)
                # A drawn value equal to a literal sibling ("/users/me") would be routed to the
                # literal: draw again so the truth stays the template the request came from.
                best = index.best(req.path)
                if best == op.template or "{" not in op.template:
                    break
            else:
                # Every draw collides with a more literal template (an enum of route names):
                # the request belongs to that template.
                if best is not None:
                    req = Request(
                        req.host, req.method, req.path, req.status, req.shape, normalise(best), req.classes
                    )
            reqs.append(req)
        # Scanner noise: ~2% of each host's traffic, always 404.
        for _ in range(max(3, n_req // 50)):
            reqs.append(_noise(rng, svc.host))
        per_service.append(reqs)
    noise_host = [_noise(rng, NOISE_HOST) for _ in range(150)]
    per_service.append(noise_host)
    # Interleave services in one arrival order while each keeps its own order.
    merged: list[Request] = []
    cursors = [iter(r) for r in per_service]
    weights = [len(r) for r in per_service]
    while cursors:
        i = rng.choices(range(len(cursors)), weights=weights)[0]
        try:
            merged.append(next(cursors[i]))
        except StopIteration:
            del cursors[i], weights[i]
    return merged, guidance


class SpecIndex:
    """Literal-first matcher over one service's templates, to keep ground truth unambiguous."""

    def __init__(self, templates: list[str]) -> None:
        self.by_len: dict[int, list[tuple[str, list[re.Pattern[str] | str]]]] = {}
        for tpl in dict.fromkeys(templates):
            segs = tpl.split("/")
            compiled: list[re.Pattern[str] | str] = []
            for seg in segs:
                if "{" in seg:
                    parts = _PARAM.split(seg)
                    rx = "".join(re.escape(x) if i % 2 == 0 else "[^/]+?" for i, x in enumerate(parts))
                    compiled.append(re.compile(rx))
                else:
                    compiled.append(seg)
            self.by_len.setdefault(len(segs), []).append((tpl, compiled))

    def best(self, path: str) -> str | None:
        segs = path.split("/")
        best_key: tuple[int, ...] | None = None
        best_tpl = None
        for tpl, compiled in self.by_len.get(len(segs), []):
            key = []
            for seg, c in zip(segs, compiled, strict=True):
                if isinstance(c, str):
                    if c != seg:
                        break
                    key.append(1)
                else:
                    if not seg or not c.fullmatch(seg):
                        break
                    key.append(0)
            else:
                k = tuple(key)
                if best_key is None or k > best_key:
                    best_key, best_tpl = k, tpl
        return best_tpl


def _noise(rng: random.Random, host: str) -> Request:
    path = rng.choice(SCANNER_PATHS)
    return Request(host, rng.choice(("GET", "GET", "POST")), path, 404, None, None, ())


def _request(
    rng: random.Random, values: Values, svc: Service, op: Operation, param_prefixes: set[str]
) -> Request:
    segs = op.template.split("/")
    norm = normalise(op.template).split("/")
    out: list[str] = []
    classes: list[str] = []
    prev_literal = ""
    for i, seg in enumerate(segs):
        if i == 0:
            out.append(seg)
            continue
        names = _PARAM.findall(seg)
        if not names:
            out.append(seg)
            if seg:
                classes.append(_literal_kind(seg, "/".join(norm[:i]) in param_prefixes))
                prev_literal = seg
            else:
                classes.append("lit:plain")
            continue
        concrete = seg
        kinds = []
        for pname in names:
            value, kind = values.draw(svc.name, pname, op.params.get(pname, {}), prev_literal)
            concrete = concrete.replace("{" + pname + "}", value, 1)
            kinds.append(kind)
        out.append(concrete)
        classes.append("param:" + "+".join(kinds))
    method = op.method
    has_param_tail = "{" in segs[-1]
    roll = rng.random()
    if has_param_tail and roll < 0.03:
        status, shape = 404, '{"error","message"}'
    elif roll < 0.05:
        status, shape = 500, None
    elif roll < 0.07:
        status, shape = 401, "error,message"
    else:
        status = {"POST": 201, "DELETE": 204}.get(method, 200)
        shape = None if status == 204 or method == "HEAD" else _shape(rng, op.shape_keys, op)
    return Request(
        svc.host, method, "/".join(out) or "/", status, shape, normalise(op.template) or "/", tuple(classes)
    )


def iter_specs() -> Iterator[str]:
    yield from SPECS
