"""Actors: keyed hashes and masked hints only; proxy hops only from trusted proxies."""

from __future__ import annotations

import base64

from hypothesis import given
from hypothesis import strategies as st

from analyzer.detect.actors import (
    ActorResolver,
    cookie_pairs,
    decode_basic,
    decode_jwt,
    forwarded_hops,
    mask_hint,
)
from analyzer.detect.model import DetectExchange
from tests.analyzer.detect.helpers import SECRET, T0, engine, ex, jwt

PLANTED_SUB = "planted-subject-8c1f2e"
PLANTED_KEY = "pk_live_PLANTEDKEY1234567890"
PLANTED_COOKIE = "PLANTEDSESSIONVALUE9f8e7d"
PLANTED_USER = "planted.user@example.org"
PLANTED_PASSWORD = "PlantedPassw0rd!"


def _planted_exchanges() -> list[DetectExchange]:
    basic = base64.b64encode(f"{PLANTED_USER}:{PLANTED_PASSWORD}".encode()).decode()
    return [
        ex(T0, "/a", headers=(("Authorization", f"Bearer {jwt({'iss': 'acme', 'sub': PLANTED_SUB, 'exp': T0 + 60})}"),)),
        ex(T0 + 1, "/b", headers=(("X-API-Key", PLANTED_KEY),)),
        ex(T0 + 2, "/c", headers=(("Cookie", f"theme=dark; sessionid={PLANTED_COOKIE}"),)),
        ex(T0 + 3, "/d", status=401, headers=(("Authorization", f"Basic {basic}"),)),
        ex(T0 + 4, "/login", status=401, method="POST", body={"username": PLANTED_USER, "password": PLANTED_PASSWORD}),
        ex(T0 + 5, "/e", query=f"api_key={PLANTED_KEY}"),
    ]


def test_identities_are_keyed_hashes_with_masked_hints() -> None:
    resolver = ActorResolver(SECRET)
    kinds = []
    for x in _planted_exchanges()[:4]:
        identity = resolver.identity(x)
        assert identity is not None
        kinds.append(identity.kind)
        assert len(identity.key) == 32 and all(c in "0123456789abcdef" for c in identity.key)
        for raw in (PLANTED_SUB, PLANTED_KEY, PLANTED_COOKIE, PLANTED_USER, PLANTED_PASSWORD):
            assert raw not in identity.hint and raw[:5] not in identity.hint
    assert kinds == ["jwt", "api_key", "session", "basic"]
    # Same secret, same id; another deployment's secret, another id.
    x = _planted_exchanges()[0]
    assert resolver.identity(x) == ActorResolver(SECRET).identity(x)
    assert resolver.identity(x).key != ActorResolver(b"other").identity(x).key  # type: ignore[union-attr]


def test_nothing_raw_leaves_the_engine() -> None:
    """Events, actors, flows and the serialised state hold none of the planted values."""
    e = engine(brute_min_failures=1)
    e.feed_many(_planted_exchanges())
    e.close()
    blobs = [e.state()] + [repr(ev.to_json()).encode() for ev in e.events()] + [repr(a).encode() for a in e.actors()]
    for blob in blobs:
        for raw in (PLANTED_SUB, PLANTED_KEY, PLANTED_COOKIE, PLANTED_USER, PLANTED_PASSWORD):
            assert raw.encode() not in blob


def test_forwarded_hop_only_behind_a_trusted_proxy() -> None:
    headers = (("X-Forwarded-For", "203.0.113.7, 10.0.0.2"),)
    x = DetectExchange(ts=T0, client_ip="10.0.0.1", host="h", method="GET", path="/", request_headers=headers)
    assert ActorResolver(SECRET).client_ip(x) == "10.0.0.1"  # no trust configured: the peer
    assert ActorResolver(SECRET, ["10.0.0.0/8"]).client_ip(x) == "203.0.113.7"  # nearest untrusted hop
    spoof = DetectExchange(ts=T0, client_ip="198.51.100.9", host="h", method="GET", path="/", request_headers=headers)
    assert ActorResolver(SECRET, ["10.0.0.0/8"]).client_ip(spoof) == "198.51.100.9"  # untrusted peer: ignored
    fwd = (("Forwarded", 'for="[2001:db8::7]:4711";proto=https, for=10.0.0.3'),)
    x6 = DetectExchange(ts=T0, client_ip="10.0.0.1", host="h", method="GET", path="/", request_headers=fwd)
    assert ActorResolver(SECRET, ["10.0.0.0/8"]).client_ip(x6) == "2001:db8::7"


def test_mask_hint_never_shows_much() -> None:
    for value in ("a", "ab", "abc", "abcdef", "abcdefghijkl", "x" * 40):
        hint = mask_hint(value)
        shown = hint.replace("…", "")
        assert len(shown) <= 4 and (len(value) < 3 or len(shown) <= len(value) / 3 + 1)


@given(st.text(max_size=300))
def test_parsers_are_total(text: str) -> None:
    decode_jwt(text)
    decode_basic(text)
    cookie_pairs(text)
    forwarded_hops([("X-Forwarded-For", text), ("Forwarded", text)])


@given(st.binary(max_size=200), st.binary(max_size=200))
def test_jwt_decoder_is_total_on_segments(head: bytes, body: bytes) -> None:
    token = f"{base64.urlsafe_b64encode(head).decode()}.{base64.urlsafe_b64encode(body).decode()}.x"
    info = decode_jwt(token)
    assert info is None or isinstance(info.claim_names, tuple)


@given(st.binary(min_size=1, max_size=200), st.text(max_size=300))
def test_resolver_hash_is_hmac_sha256_of_kind_and_value(secret: bytes, value: str) -> None:
    # The resolver copies precomputed HMAC states; the stored identity keys must stay
    # HMAC-SHA256(secret, kind NUL value) for every secret length (longer than a block: hashed).
    import hashlib
    import hmac

    expected = hmac.new(secret, f"api_key\x00{value}".encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()[:32]
    assert ActorResolver(secret).hash("api_key", value) == expected
