"""Turn OpenAPI specs into realistic concrete traffic, keeping the true template of every request.

Each spec becomes one service (host): the specs bundled in ``specs/`` and, when the shared
evaluation corpus is present (``--corpus``, default ``../shared/corpus`` beside the repository),
every spec there too. Operations get Zipf-distributed popularity so some endpoints are seen
thousands of times and some once or twice; every path parameter gets a realistic value pool
chosen from its schema and name (``valuegen``), shared by every endpoint that names the same
kind of value, as real clients reuse the same objects across endpoints. Responses carry a shape
(sorted top-level JSON keys, derived from the spec's response schema, with optional keys
sometimes missing). Scanners probe every host with paths that only ever get 404, and one host
sees nothing but scanners.

Ground truth: the spec's template with every parameter written "{}" and the text around it kept
("/{year}/{month}.json" -> "/{}/{}.json", "People('{UserName}')" -> "People('{}')"). Parameters
that pick a representation ({format}, {mediaTypeExtension}) or an API version ({apiVersion} with
values v1/v2) are fixed per service (a client uses one; versions are literals by the product's
rule) and substituted into the truth as literals, in the traffic and in the spec given for
guidance.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from bench.templating.valuegen import Values

SPEC_DIR = Path(__file__).parent / "specs"
REPO = Path(__file__).resolve().parents[2]
CORPUS_DIR = Path(os.environ.get("APICENSUS_SHARED_CORPUS", REPO.parent / "shared" / "corpus"))
_PARAM = re.compile(r"\{([^}/]+)\}")
METHODS = ("get", "put", "post", "delete", "patch", "head", "options")

# Hosts of the bundled specs (the corpus-only ones take theirs from the spec, see spec_host).
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


@dataclass(frozen=True, slots=True)
class Request:
    host: str
    method: str
    path: str
    status: int
    shape: str | None
    truth: str | None  # normalised true template; None for scanner noise
    classes: tuple[str, ...]  # per segment: "lit:<kind>", "param:<value kind>" or "inseg:<kinds>"
    param_names: tuple[str, ...] = ()  # the spec's parameter names, in path order


@dataclass(slots=True)
class Operation:
    method: str
    template: str  # full template incl. base path, representation params substituted
    params: dict[str, tuple[dict[str, Any], dict[str, Any]]]  # name -> (parameter, resolved schema)
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


_VERSION_VALUE = re.compile(r"v\d+(\.\d+)?|\d+\.\d+")
_REPRESENTATION_NAMES = {"format": "json", "mediatypeextension": ".json"}


def fixed_value(pname: str, param: dict[str, Any], schema: dict[str, Any]) -> str | None:
    """The one value a client uses for a parameter that picks a representation or an API version
    (it is then a literal of the truth), or None for a real parameter."""
    low = pname.lower()
    if low in _REPRESENTATION_NAMES:
        return _REPRESENTATION_NAMES[low]
    if "version" not in low:
        return None
    enum = [str(v) for v in schema.get("enum") or param.get("enum") or []]
    example = param.get("example", schema.get("example"))
    default = schema.get("default", param.get("default"))
    pattern = str(schema.get("pattern", ""))
    candidates = [str(v) for v in (default, example) if v is not None] + enum
    m = re.fullmatch(r"\^?\(?(v\d+)\)?\$?", pattern)
    if m:
        candidates.append(m.group(1))
    for v in candidates:
        if _VERSION_VALUE.fullmatch(v):
            return v
    return "v1" if low == "version" and not candidates else None


def spec_files(corpus: Path | None = None) -> dict[str, Path]:
    """Spec file name -> path: the bundled specs, then the corpus's (bundled copies win)."""
    files = {p.name: p for p in sorted(SPEC_DIR.iterdir()) if p.suffix in (".json", ".yaml", ".yml")}
    corpus_specs = (corpus if corpus is not None else CORPUS_DIR) / "specs"
    if corpus_specs.is_dir():
        for p in sorted(corpus_specs.iterdir()):
            if p.suffix in (".json", ".yaml", ".yml"):
                files.setdefault(p.name, p)
    return files


def spec_host(name: str, doc: dict[str, Any]) -> str:
    """The host of a spec's service: the bundled mapping, else the spec's own host when it names
    a real one, else one made from the file name."""
    if name in SPECS:
        return SPECS[name]
    url = str(((doc.get("servers") or [{}])[0] or {}).get("url", "")) or str(doc.get("host", ""))
    host = urlsplit(url if "//" in url else "//" + url).hostname or ""
    if "." in host and "{" not in url and not host.startswith(("localhost", "example.")):
        return host
    return re.sub(r"[^a-z0-9]+", "-", name.rsplit(".", 1)[0].lower()).strip("-") + ".test"


def load_service(name: str, path: Path | None = None) -> Service:
    doc = _load(path if path is not None else SPEC_DIR / name)
    svc = Service(name=name.rsplit(".", 1)[0], host=spec_host(name, doc))
    base = _base_path(doc)
    for raw_path, item in (doc.get("paths") or {}).items():
        item = _resolve(doc, item)
        if not isinstance(item, dict):
            continue
        shared = [_resolve(doc, p) for p in item.get("parameters", []) or []]
        for method, op in item.items():
            if method not in METHODS or not isinstance(op, dict):
                continue
            params: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
            for p in shared + [_resolve(doc, p) for p in op.get("parameters", []) or []]:
                if isinstance(p, dict) and p.get("in") == "path":
                    schema = _resolve(doc, p.get("schema", p))
                    params[str(p.get("name"))] = (p, schema if isinstance(schema, dict) else {})
            tpl = base + raw_path
            for pname in _PARAM.findall(tpl):
                param, schema = params.get(pname, ({}, {}))
                fixed = fixed_value(pname, param, schema)
                if fixed is not None:
                    tpl = tpl.replace("{" + pname + "}", fixed)
            keys, is_list = _response_keys(doc, op)
            svc.operations.append(Operation(method.upper(), tpl, params, keys, is_list))
    return svc


# ----------------------------------------------------------------------------------------------
# Traffic


_ANY_PARAM = re.compile(r"\{[^}/]*\}")


def normalise(template: str) -> str:
    """Template with every parameter written "{}", the text around it kept ("{}.json")."""
    return _ANY_PARAM.sub("{}", template) if "{" in template else template


def normalise_segments(template: str) -> str:
    """Per-segment view: every segment holding a parameter is "{}" (in-segment text dropped)."""
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
    seed: int = 7, scale: float = 1.0, services: list[str] | None = None, corpus: Path | None = None
) -> tuple[list[Request], dict[str, list[tuple[str, str]]]]:
    """All traffic, shuffled into one arrival order, plus each host's spec operations for guidance."""
    rng = random.Random(seed)
    values = Values(rng)
    per_service: list[list[Request]] = []
    guidance: dict[str, list[tuple[str, str]]] = {}
    files = spec_files(corpus)
    for name in services or list(files):
        svc = load_service(name, files.get(name))
        if not svc.operations:
            continue
        guidance.setdefault(svc.host, []).extend((op.method, op.template) for op in svc.operations)
        per_service.append(_service_traffic(rng, values, svc, scale))
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


def _service_traffic(rng: random.Random, values: Values, svc: Service, scale: float) -> list[Request]:
    # Which literal positions have a parameter sibling (for per-class miss reporting).
    param_prefixes = set()
    for op in svc.operations:
        segs = normalise(op.template).split("/")
        for i, seg in enumerate(segs):
            if "{" in seg:
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
            # Every draw collides with a more literal template (an enum of route names): the
            # request belongs to that template.
            if best is not None:
                req = Request(
                    req.host, req.method, req.path, req.status, req.shape, normalise(best), req.classes
                )
        reqs.append(req)
    # Scanner noise: ~2% of each host's traffic, always 404.
    for _ in range(max(3, n_req // 50)):
        reqs.append(_noise(rng, svc.host))
    return reqs


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
        best_key: tuple[float, ...] | None = None
        best_tpl = None
        for tpl, compiled in self.by_len.get(len(segs), []):
            key: list[float] = []
            for seg, c in zip(segs, compiled, strict=True):
                if isinstance(c, str):
                    if c != seg:
                        break
                    key.append(1)
                else:
                    if not seg or not c.fullmatch(seg):
                        break
                    # In-segment literal text is more specific than a whole-segment parameter.
                    key.append(len(c.pattern.replace("[^/]+?", "")) / 1000)
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
    names_out: list[str] = []
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
            param, schema = op.params.get(pname, ({}, {}))
            value, kind = values.draw(svc.name, pname, param, schema, prev_literal)
            concrete = concrete.replace("{" + pname + "}", value, 1)
            kinds.append(kind)
            names_out.append(pname)
        out.append(concrete)
        whole = len(names) == 1 and seg == "{" + names[0] + "}"
        classes.append(("param:" if whole else "inseg:") + "+".join(kinds))
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
        svc.host,
        method,
        "/".join(out) or "/",
        status,
        shape,
        normalise(op.template) or "/",
        tuple(classes),
        tuple(names_out),
    )


def iter_specs(corpus: Path | None = None) -> Iterator[str]:
    yield from spec_files(corpus)
