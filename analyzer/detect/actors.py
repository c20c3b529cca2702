"""Who sent an exchange: the client address and, when present, an identity.

The client is the TCP peer, or -- when the peer is a trusted proxy -- the nearest untrusted hop of
``X-Forwarded-For`` / ``Forwarded`` (walking right to left, so a client cannot forge its way past
the proxies; with a chain of trusted proxies that is the first hop).

The identity is, by precedence: a JWT's ``iss`` + ``sub`` (decoded, never verified), an API key
(header or query), a session cookie, a Basic user name. It leaves this module only as
``HMAC-SHA256(secret, kind + value)`` plus a short masked hint: no function here returns, stores
or logs a raw token, key, cookie, user name or password. Parsing is total: any bytes in, a
result or ``None`` out, never an exception.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

from analyzer.detect.model import ActorRef, DetectExchange

MAX_TOKEN = 8192  # longer Authorization values are not decoded

# Header names (lower-case) that carry an API key.
API_KEY_HEADERS = frozenset(
    {"x-api-key", "api-key", "apikey", "x-apikey", "x-api-token", "x-auth-token", "x-access-token", "x-token"}
)
API_KEY_QUERY = frozenset({"api_key", "apikey", "api-key", "key", "access_token", "token", "auth_token"})
_TOKEN_SCHEMES = frozenset({"bearer", "token", "jwt", "apikey", "api-key", "key", "dpop"})
_DIGEST_USER = re.compile(r'username="([^"]{1,256})"', re.IGNORECASE)
_AWS_CREDENTIAL = re.compile(r"Credential=([A-Za-z0-9]{8,128})/")
_SESSION_COOKIE = re.compile(
    r"sess|^sid$|_sid$|token|auth|jwt|^connect\.sid$|^laravel_|^_?[a-z0-9]*_session$|^remember",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class Identity:
    """A keyed hash of who the client claims to be, and a hint a human can recognise."""

    kind: str  # jwt | api_key | session | basic
    key: str  # hex HMAC-SHA256 (first 128 bits)
    hint: str  # masked: never more than a few characters of the value


@dataclass(frozen=True, slots=True)
class Actor:
    ip: str
    identity: Identity | None
    # Derived once per exchange on first use (every rule asks for the key, several for the
    # reference): not compared, not shown.
    _key: str | None = field(default=None, init=False, compare=False, repr=False)
    _ref: ActorRef | None = field(default=None, init=False, compare=False, repr=False)

    @property
    def key(self) -> str:
        """The identity's hash when there is one, else the address: what per-actor state uses."""
        key = self._key
        if key is None:
            key = self.identity.key if self.identity is not None else f"ip:{self.ip}"
            object.__setattr__(self, "_key", key)
        return key

    def ref(self) -> ActorRef:
        """The event's view of the actor (immutable, so one shared per exchange)."""
        ref = self._ref
        if ref is None:
            if self.identity is None:
                ref = ActorRef(ip=self.ip)
            else:
                ref = ActorRef(ip=self.ip, identity=self.identity.hint, key=self.identity.key)
            object.__setattr__(self, "_ref", ref)
        return ref


@dataclass(frozen=True, slots=True)
class JwtInfo:
    """What posture rules may know of a JWT: never the token, never claim values but iss/sub."""

    alg: str | None
    iss: str
    sub: str
    exp: float | None
    iat: float | None
    claim_names: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class BasicInfo:
    user: str
    weakness: str | None  # short | dictionary | equals_user | None


def keyed_hash(secret: bytes, kind: str, value: str) -> str:
    # hmac.digest: the one-shot C path, same HMAC-SHA256 as hmac.new (several times cheaper).
    return hmac.digest(secret, f"{kind}\x00{value}".encode("utf-8", "surrogatepass"), "sha256").hex()[:32]


def mask_hint(value: str) -> str:
    """A few characters of ``value``: the first two and last two of long values, one of short ones.

    At most four characters of the value are shown, and never more than a third of it.
    """
    n = len(value)
    if n >= 12:
        return f"{value[:2]}…{value[-2:]}"
    if n >= 6:
        return f"{value[:1]}…{value[-1:]}"
    if n >= 3:
        return f"{value[:1]}…"
    return "…"


def _b64url(segment: str) -> bytes | None:
    try:
        return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError):
        return None


def _json_object(raw: bytes | None) -> dict[str, Any] | None:
    if raw is None:
        return None
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


_DECODED: dict[bytes, JwtInfo | None] = {}  # by a digest of the token (never the token), bounded


def decode_jwt(token: str) -> JwtInfo | None:
    """Header and claims of a compact JWS/JWT, without verifying anything; ``None`` if not one."""
    if len(token) > MAX_TOKEN or token.count(".") != 2:
        return None
    digest = hashlib.blake2b(token.encode("utf-8", "surrogatepass"), digest_size=16).digest()
    if digest in _DECODED:
        return _DECODED[digest]
    if len(_DECODED) >= 20_000:
        _DECODED.clear()
    info = _DECODED[digest] = _decode_jwt(token)
    return info


def _decode_jwt(token: str) -> JwtInfo | None:
    head_b64, body_b64, _sig = token.split(".")
    header = _json_object(_b64url(head_b64))
    claims = _json_object(_b64url(body_b64))
    if header is None or claims is None:
        return None
    alg = header.get("alg")
    return JwtInfo(
        alg=str(alg) if alg is not None else None,
        iss=str(claims.get("iss") or "")[:256],
        sub=str(claims.get("sub") or claims.get("client_id") or claims.get("username") or "")[:256],
        exp=_number(claims.get("exp")),
        iat=_number(claims.get("iat")),
        claim_names=tuple(sorted(str(k)[:64] for k in claims)[:64]),
    )


def decode_basic(value: str) -> tuple[str, str] | None:
    """``Basic dXNlcjpwdw==`` (the part after the scheme) -> (user, password)."""
    raw = _b64url(value.strip().replace("+", "-").replace("/", "_")) if len(value) <= MAX_TOKEN else None
    if raw is None or b":" not in raw:
        return None
    user, _, password = raw.decode("utf-8", "replace").partition(":")
    return user, password


def cookie_pairs(header: str) -> list[tuple[str, str]]:
    pairs = []
    for part in header.split(";"):
        name, sep, value = part.partition("=")
        if sep and name.strip() and value.strip():
            pairs.append((name.strip(), value.strip().strip('"')))
    return pairs


def _ip_or_none(text: str) -> str | None:
    text = text.strip().strip('"')
    if text.startswith("["):  # Forwarded: for="[2001:db8::1]:4711"
        text = text[1:].split("]", 1)[0]
    elif text.count(":") == 1:  # v4:port
        text = text.split(":", 1)[0]
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


def forwarded_hops(headers: Iterable[tuple[str, str]]) -> list[str]:
    """Addresses of the proxy chain, client first: X-Forwarded-For and Forwarded ``for=``."""
    xff: list[str] = []
    fwd: list[str] = []
    for name, value in headers:
        lname = name.lower()
        if lname == "x-forwarded-for":
            xff.extend(h for h in (_ip_or_none(p) for p in value.split(",")) if h)
        elif lname == "forwarded":
            for element in value.split(","):
                for pair in element.split(";"):
                    key, _, val = pair.strip().partition("=")
                    if key.lower() == "for":
                        hop = _ip_or_none(val)
                        if hop:
                            fwd.append(hop)
    return fwd or xff  # RFC 7239 wins when both are present


class ActorResolver:
    """Actors of exchanges under one deployment secret and one set of trusted proxies."""

    def __init__(self, secret: bytes, trusted_proxies: Iterable[str] = ()) -> None:
        if not secret:
            raise ValueError("detection needs a deployment secret (APICENSUS_DETECT_SECRET) for keyed hashes")
        self._secret = secret
        # HMAC-SHA256's two keyed SHA-256 states, computed once and copied per value: the same
        # digest as ``hmac.digest(secret, ...)`` (RFC 2104), without re-deriving the padded key
        # for each of the ~one identity per exchange a stream of one-shot tokens brings.
        key = (hashlib.sha256(secret).digest() if len(secret) > 64 else secret).ljust(64, b"\x00")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))
        self._trusted = tuple(ipaddress.ip_network(c, strict=False) for c in trusted_proxies)
        # Clients repeat their credentials on every request: identities cached by a digest of the
        # credential (never the credential itself), bounded.
        self._cache: dict[bytes, Identity | None] = {}

    @property
    def secret_bytes(self) -> bytes:
        return self._secret

    def hash(self, kind: str, value: str) -> str:
        """:func:`keyed_hash` under this resolver's secret."""
        inner = self._inner.copy()
        inner.update(f"{kind}\x00{value}".encode("utf-8", "surrogatepass"))
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.hexdigest()[:32]

    def _trusted_ip(self, ip: str) -> bool:
        if not self._trusted:
            return False
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            return False
        return any(addr.version == net.version and addr in net for net in self._trusted)

    def client_ip(self, x: DetectExchange) -> str:
        if not self._trusted_ip(x.client_ip):
            return x.client_ip
        hops = forwarded_hops(x.request_headers)
        for hop in reversed(hops):
            if not self._trusted_ip(hop):
                return hop
        return hops[0] if hops else x.client_ip

    def identity(self, x: DetectExchange, query: Iterable[tuple[str, str]] = ()) -> Identity | None:
        jwt: Identity | None = None
        api_key: Identity | None = None
        session: Identity | None = None
        basic: Identity | None = None
        for name, value in x.request_headers:
            lname = name.lower()
            if lname == "authorization":
                scheme, _, cred = value.strip().partition(" ")
                scheme = scheme.lower()
                cred = cred.strip()
                if scheme == "basic":
                    pair = decode_basic(cred)
                    if pair is not None:
                        basic = Identity("basic", self.hash("basic", pair[0]), f"basic:{mask_hint(pair[0])}")
                elif scheme == "digest":
                    user = _DIGEST_USER.search(cred)
                    if user is not None:
                        basic = Identity("basic", self.hash("basic", user.group(1)), f"digest:{mask_hint(user.group(1))}")
                elif scheme.startswith("aws4-"):
                    access = _AWS_CREDENTIAL.search(cred)
                    if access is not None:
                        api_key = api_key or self._key_identity(access.group(1))
                elif scheme in _TOKEN_SCHEMES and cred:
                    jwt = jwt or self._token_identity(cred)
                elif not cred and scheme not in _TOKEN_SCHEMES:  # a bare token, no scheme word
                    jwt = jwt or self._token_identity(value.strip())
            elif lname in API_KEY_HEADERS and value.strip():
                api_key = api_key or self._key_identity(value.strip())
            elif lname == "cookie" and session is None:
                for cname, cvalue in cookie_pairs(value):
                    if cvalue.count(".") == 2 and jwt is None:
                        jwt = self._jwt_identity(cvalue)
                    if _SESSION_COOKIE.search(cname):
                        session = Identity(
                            "session", self.hash("session", f"{cname}={cvalue}"), f"session:{cname[:24]}:{mask_hint(cvalue)}"
                        )
                        break
        if api_key is None and jwt is None:
            for qname, qvalue in query:
                if qname.lower() in API_KEY_QUERY and qvalue:
                    api_key = self._token_identity(qvalue)
                    break
        return jwt or api_key or session or basic

    def _jwt_identity(self, token: str) -> Identity | None:
        digest = hashlib.blake2b(token.encode("utf-8", "surrogatepass"), digest_size=16).digest()
        if digest in self._cache:
            return self._cache[digest]
        if len(self._cache) >= 50_000:
            self._cache.clear()
        identity = self._cache[digest] = self._jwt_identity_uncached(token)
        return identity

    def _jwt_identity_uncached(self, token: str) -> Identity | None:
        info = decode_jwt(token)
        if info is None:
            return None
        if info.sub:
            subject = f"{info.iss}\x00{info.sub}"
            return Identity("jwt", self.hash("jwt", subject), f"jwt:{mask_hint(info.sub)}")
        # No subject: the token itself is the identity (still only hashed).
        return Identity("jwt", self.hash("jwt-token", token), "jwt:…")

    def _key_identity(self, value: str) -> Identity:
        # Memoised by an unkeyed digest of the key (never the key itself), like JWTs: an API
        # key repeats on every request of its client and the HMAC is the costly part.
        digest = hashlib.blake2b(value.encode("utf-8", "surrogatepass"), digest_size=16, person=b"api_key").digest()
        cached = self._cache.get(digest)
        if cached is not None:
            return cached
        if len(self._cache) >= 50_000:
            self._cache.clear()
        identity = self._cache[digest] = Identity("api_key", self.hash("api_key", value), f"key:{mask_hint(value)}")
        return identity

    def _token_identity(self, token: str) -> Identity:
        if token.count(".") != 2:  # not a compact JWT: an opaque token, no decoding to try
            return self._key_identity(token)
        return self._jwt_identity(token) or self._key_identity(token)

    def actor(self, x: DetectExchange, query: Iterable[tuple[str, str]] = ()) -> Actor:
        return Actor(ip=self.client_ip(x), identity=self.identity(x, query))


def credentials_of(x: DetectExchange, common_passwords: frozenset[str]) -> tuple[JwtInfo | None, BasicInfo | None]:
    """What posture rules may know of a request's credentials, from one parse of its
    ``Authorization`` header: the JWT of ``Bearer`` (decoded, never verified), or the Basic user
    name and how weak the password is (the password itself is dropped)."""
    value = x.request_header("authorization")
    if not value:
        return None, None
    scheme, _, cred = value.strip().partition(" ")
    scheme = scheme.lower()
    if scheme == "bearer":
        return decode_jwt(cred.strip()), None
    if scheme != "basic":
        return None, None
    pair = decode_basic(cred)
    if pair is None:
        return None, None
    user, password = pair
    return None, BasicInfo(user=user, weakness=password_weakness(password, user, common_passwords))


def password_weakness(password: str, user: str, common_passwords: frozenset[str]) -> str | None:
    """``short`` (< 8), ``dictionary`` (a common password, also with trailing digits/punctuation
    removed), ``equals_user``, else ``None``."""
    if len(password) < 8:
        return "short"
    if user and password.lower() == user.lower():
        return "equals_user"
    lowered = password.lower()
    stripped = lowered.rstrip("0123456789!@#$%^&*.?_-")
    if lowered in common_passwords or (len(stripped) >= 4 and stripped in common_passwords):
        return "dictionary"
    return None
