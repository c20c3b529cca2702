"""What the rules need of one exchange, derived once: actor, parsed bodies, object ids, logins.

Object ids: values a request names an object by (template placeholders, ``id``-like query and
body fields) and values a response hands out (``id``-like JSON fields at any depth, a
``Location`` header). Only their keyed 64-bit hashes are kept: ownership learned from responses
is a set of hashes per identity.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

import orjson

from analyzer.detect.actors import Actor, ActorResolver, decode_basic, mask_hint, password_weakness
from analyzer.detect.model import DetectExchange, query_pairs

_ID_NAME = re.compile(r"^(?:id|uuid|guid|key|pk|oid|uid|_id)$|(?:_id|Id|ID|_uuid|Uuid|_key|_no|Number|_number)$")
_ID_VALUE = re.compile(
    r"^(?:\d{1,19}|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|"
    r"[0-9a-fA-F]{16,64}|(?=[A-Za-z0-9_-]*\d)[A-Za-z][A-Za-z0-9_-]{3,40})$"
)
_NUMERIC = re.compile(r"^\d{1,19}$")
_UUIDISH = re.compile(r"^(?:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|[0-9a-fA-F]{16,64})$")
PAGINATION = frozenset(
    {"page", "offset", "limit", "cursor", "start", "skip", "per_page", "perpage", "pagesize", "page_size",
     "size", "after", "before", "from", "to", "count", "top", "pagenumber", "page_number", "since", "until"}
)
_PASSWORD_FIELDS = frozenset({"password", "passwd", "pwd", "pass", "passphrase", "secret", "pin", "pass_word"})
_USER_FIELDS = frozenset(
    {"username", "user", "login", "email", "user_name", "userid", "user_id", "account", "phone", "mail",
     "name", "uname", "login_id", "identifier", "client_id"}
)
MAX_JSON = 65536
MAX_IDS = 200
MAX_LIST_ITEMS = 100  # objects of one list whose ids are learned (a page's first hundred)


_KEYED: dict[tuple[bytes, str], int] = {}  # ids repeat across exchanges: bounded memo
_KEYED_MAX = 50_000


def keyed64(secret: bytes, value: str) -> int:
    """64-bit keyed hash (BLAKE2b with the deployment secret) of an id or name."""
    key = (secret, value)
    cached = _KEYED.get(key)
    if cached is not None:
        return cached
    digest = hashlib.blake2b(value.encode("utf-8", "surrogatepass"), digest_size=8, key=secret[:64]).digest()
    if len(_KEYED) >= _KEYED_MAX:
        _KEYED.clear()
    result = _KEYED[key] = int.from_bytes(digest, "big")
    return result


def keyed64_hasher(secret: bytes) -> Callable[[str], int]:
    """:func:`keyed64` bound to one secret, with its own bounded memo keyed by the value alone
    (the engine hashes ~10 values per exchange; most repeat: endpoints, ids, actor keys)."""
    memo: dict[str, int] = {}
    key = secret[:64]
    blake2b = hashlib.blake2b
    from_bytes = int.from_bytes

    def hasher(value: str) -> int:
        cached = memo.get(value)
        if cached is not None:
            return cached
        if len(memo) >= _KEYED_MAX:
            memo.clear()
        result = memo[value] = from_bytes(blake2b(value.encode("utf-8", "surrogatepass"), digest_size=8, key=key).digest(), "big")
        return result

    return hasher


def looks_like_id(value: str) -> bool:
    if value.isdigit() and value.isascii():
        # The common case (numeric ids, JSON integers): 1-19 digits match the first form,
        # 20-64 the hex one; no reserved word is numeric.
        return len(value) <= 64
    return bool(_ID_VALUE.match(value)) and value.lower() not in ("me", "self", "current", "mine", "new")


def numeric_id(value: str) -> int | None:
    return int(value) if _NUMERIC.match(value) else None


def blinded_number(value: str, offset: int) -> int | None:
    """A numeric id shifted by a keyed offset (``numeric_offset``): differences and order, all
    that runs and spans need, survive; the id itself (a card or account number) is never kept in
    memory tables or the saved state. At most 10**19 + 2**62 < 2**64, as the state's JSON holds."""
    number = numeric_id(value)
    return None if number is None else number + offset


def numeric_offset(hasher: Callable[[str], int]) -> int:
    """The deployment's keyed offset for :func:`blinded_number` (the same in every analyzer)."""
    return hasher("numeric-id-offset") & ((1 << 62) - 1)


@dataclass(frozen=True, slots=True)
class Login:
    """A login attempt: the user name only as a keyed hash plus a masked hint."""

    user_hash: int
    user_hint: str
    failed: bool
    succeeded: bool
    password_weakness: str | None


@dataclass(slots=True)
class Seen:
    """One exchange as the rules see it (built once per exchange by :func:`build`)."""

    x: DetectExchange
    actor: Actor
    query: list[tuple[str, str]]
    request_json: Any
    response_json: Any
    template: str  # the template, or the path with id-like segments as {id}
    path_params: tuple[tuple[str, str], ...]
    ok: bool
    records: int
    pii_records: int
    request_ids: list[tuple[str, str]]  # (field, value): objects the request names
    response_ids: list[str]  # ids the response hands out (raw values, hashed by the rules)
    login: Login | None
    _endpoint_hash: int | None = None

    @property
    def endpoint_key(self) -> str:
        return f"{self.x.host} {self.x.method} {self.template}"

    def endpoint_hash(self, hasher: Callable[[str], int]) -> int:
        """The keyed hash of ``endpoint_key`` (computed once per exchange)."""
        if self._endpoint_hash is None:
            self._endpoint_hash = hasher(self.endpoint_key)
        return self._endpoint_hash


def _parse_json(body: bytes, given: Any, content_type: str) -> Any:
    if given is not None:
        return given
    if not body or len(body) > MAX_JSON:
        return None
    head = body.lstrip()[:1]
    if "json" not in content_type and head not in (b"{", b"["):
        return None
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return None


_ID_KEYS: dict[str, bool] = {}  # JSON keys repeat: is this key an id's name (bounded memo)


def _id_key(key: str) -> bool:
    verdict = _ID_KEYS.get(key)
    if verdict is None:
        if len(_ID_KEYS) >= 10_000:
            _ID_KEYS.clear()
        verdict = _ID_KEYS[key] = bool(_ID_NAME.search(key))
    return verdict


def _walk_ids(value: Any, out: list[str], depth: int = 0) -> None:
    # Exact types (parsed JSON holds no subclasses; bool is not an id): this runs on every
    # response of every identity, so no isinstance chains, no calls for scalars in lists, and
    # the objects of a list walked in place (a page of 100 objects is not 100 calls).
    if len(out) >= MAX_IDS or depth > 8:
        return
    kind = type(value)
    if kind is dict:
        _walk_dict(value, out, depth)
    elif kind is list:
        for item in value[:MAX_LIST_ITEMS]:
            item_kind = type(item)
            if item_kind is dict:
                if len(out) >= MAX_IDS or depth >= 8:
                    return
                _walk_dict(item, out, depth + 1)
            elif item_kind is list:
                _walk_ids(item, out, depth + 1)


def _walk_dict(value: dict[Any, Any], out: list[str], depth: int) -> None:
    # The id-name memo read inline (one dict lookup per key, no call): ~8 keys per object, a
    # page of 100 objects per response on list endpoints. Nested objects are walked directly
    # (what _walk_ids would do for them, one call fewer), and integers need no pattern: a
    # non-negative one is digits (an id up to 64 of them, as looks_like_id says); a negative
    # one is no id.
    memo = _ID_KEYS
    for key, item in value.items():
        item_kind = type(item)
        if item_kind is str:
            verdict = memo.get(key)
            if verdict is None:
                verdict = _id_key(key if type(key) is str else str(key))
            if verdict and looks_like_id(item):
                out.append(item)
        elif item_kind is int:
            verdict = memo.get(key)
            if verdict is None:
                verdict = _id_key(key if type(key) is str else str(key))
            if verdict and item >= 0:
                text = str(item)
                if len(text) <= 64:
                    out.append(text)
        elif item_kind is dict:
            if len(out) < MAX_IDS and depth < 8:
                _walk_dict(item, out, depth + 1)
        elif item_kind is list:
            _walk_ids(item, out, depth + 1)


def record_count(value: Any) -> int:
    """Objects in a response: a top-level list's length, or the longest list one level down."""
    if isinstance(value, list):
        return len(value)
    if isinstance(value, dict):
        lengths = [len(v) for v in value.values() if isinstance(v, list)]
        if lengths:
            return max(lengths)
        return 1 if value else 0
    return 0


def _derived_template(path: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    segments = path.split("/")
    params: list[tuple[str, str]] = []
    for i, seg in enumerate(segments):
        if seg and (_NUMERIC.match(seg) or _UUIDISH.match(seg)):
            params.append((f"id{len(params) or ''}", seg))
            segments[i] = "{" + params[-1][0] + "}"
    return "/".join(segments), tuple(params)


def _form_pairs(body: bytes) -> list[tuple[str, str]]:
    text = body[:MAX_JSON].decode("utf-8", "replace")
    pairs = []
    for part in text.split("&"):
        name, sep, value = part.partition("=")
        if sep:
            pairs.append((unquote_plus(name), unquote_plus(value)))
    return pairs


def _login(x: DetectExchange, request_json: Any, resolver: ActorResolver, common: frozenset[str]) -> Login | None:
    """Credential fields in the body (or Basic credentials) and what the server said."""
    user: str | None = None
    user_from_client = False
    password: str | None = None
    fields: list[tuple[str, Any]] = []
    if isinstance(request_json, dict):
        fields = list(request_json.items())
    elif x.request_body and x.method in ("POST", "PUT") and b"=" in x.request_body[:4096]:
        fields = list(_form_pairs(x.request_body))
    for name, value in fields:
        lname = str(name).lower()
        if lname in _PASSWORD_FIELDS and isinstance(value, str):
            password = value
        elif (
            lname in _USER_FIELDS
            and isinstance(value, str | int)
            and not isinstance(value, bool)
            # An OAuth password grant carries the application's client_id next to the user's
            # name: the user is the one tried, client_id only when no other field names one.
            and (lname != "client_id" or user is None or user_from_client)
        ):
            user, user_from_client = str(value), lname == "client_id"
    if password is None:
        auth = x.request_header("authorization") or ""
        scheme, _, cred = auth.strip().partition(" ")
        if scheme.lower() == "basic":
            pair = decode_basic(cred)
            if pair is not None:
                user, password = pair
    if password is None or user is None or x.status is None:
        return None
    return Login(
        user_hash=keyed64(resolver.secret_bytes, f"user\x00{user.lower()}"),
        user_hint=mask_hint(user),
        failed=x.status in (401, 403) or (x.status == 400 and bool(password)),
        succeeded=200 <= x.status < 300,
        password_weakness=password_weakness(password, user, common),
    )


def ok_status(status: int | None) -> bool:
    return status is not None and 200 <= status < 300


def build(x: DetectExchange, resolver: ActorResolver, common_passwords: frozenset[str]) -> Seen:
    query = query_pairs(x.query)
    actor = resolver.actor(x, query)
    request_ctype = (x.request_header("content-type") or "").lower()
    request_json = _parse_json(x.request_body, x.request_json, request_ctype)
    # The response is read for ownership (an identity's 2xx) and record counts (PII present).
    needs_response = (ok_status(x.status) and actor.identity is not None) or bool(x.pii)
    response_json = _parse_json(x.response_body, x.response_json, x.response_content_type) if needs_response else None
    if x.template is not None:
        template, params = x.template, x.path_params
    else:
        template, params = _derived_template(x.path)
    ok = x.status is not None and 200 <= x.status < 300
    records = x.response_records if x.response_records is not None else record_count(response_json)
    pii_records = max(records, 1) if (x.pii and ok) else 0
    request_ids = [(name, value) for name, value in params if looks_like_id(value)]
    for name, value in query:
        if name.lower() not in PAGINATION and _id_key(name) and looks_like_id(value):
            request_ids.append((name, value))
    if isinstance(request_json, dict) and x.method not in ("POST",):
        for name, value in list(request_json.items())[:50]:
            if (
                isinstance(value, str | int)
                and not isinstance(value, bool)
                and _id_key(str(name))
                and looks_like_id(str(value))
            ):
                request_ids.append((str(name), str(value)))
    response_ids: list[str] = []
    if ok and actor.identity is not None:  # ownership is learned per identity only
        _walk_ids(response_json, response_ids)
        location = x.response_header("location")
        if location:
            tail = location.rstrip("/").rsplit("/", 1)[-1]
            if looks_like_id(tail):
                response_ids.append(tail)
    login = _login(x, request_json, resolver, common_passwords)
    return Seen(
        x=x,
        actor=actor,
        query=query,
        request_json=request_json,
        response_json=response_json,
        template=template,
        path_params=params,
        ok=ok,
        records=records,
        pii_records=pii_records,
        request_ids=request_ids[:MAX_IDS],
        response_ids=response_ids,
        login=login,
    )
