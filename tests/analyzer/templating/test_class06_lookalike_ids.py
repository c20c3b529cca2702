"""Classes 6 and 7: a low-traffic service folds its random ids, even those that read like words,
and one more fold changes nothing."""

from __future__ import annotations

import random
import string

from analyzer.templating import Templater, classify

from .helpers import Request, feed, tpl

_B62 = string.ascii_letters + string.digits


def _id(rng: random.Random, n: int = 10) -> str:
    return "".join(rng.choice(_B62) for _ in range(n))


def test_short_mixed_case_random_ids_are_ids_on_first_sight() -> None:
    for rid in ("QwMxaTRkLp", "hTrQmZaWXcE4bNn", "kUqrzVNa77"):
        assert classify(rid) == "token", rid
    for route in ("getUserById", "XmlHttpRequest", "iPhoneXSMax", "ASPxGridView", "appBankLogoQuery"):
        assert classify(route) == "word", route


def test_word_shaped_ids_beside_their_look_alikes_fold() -> None:
    """Ten-character ids drawn from base62: some read as words ("AOIwaxfMSk"-like, no digit, or
    camelCase by chance); beside the ids of their length they are ids too."""
    rng = random.Random(6)
    ids = [_id(rng) for _ in range(14)]
    # Drawn ids the classifier alone takes for words, as real captures have them.
    ids += ["PqowrtZbEk", "uvFfwNmEbQ", "hokuR12ZXQ"]
    t = Templater()
    reqs: list[Request] = [("PUT", f"/rtc/v1/devices/{i}/ack", 204, None) for i in ids]
    reqs += [("POST", "/rtc/v1/devices/ping", 200, "ok")] * 3
    feed(t, reqs)
    got = {i: tpl(t, f"/rtc/v1/devices/{i}/ack", "PUT") for i in ids}
    assert set(got.values()) == {"/rtc/v1/devices/{deviceId}/ack"}, got
    assert tpl(t, "/rtc/v1/devices/ping", "POST") == "/rtc/v1/devices/ping"
    for hs in t._hosts.values():  # internal: force a full fold
        hs.pending, hs.full_obs = 1, 0
    t.consolidate()
    assert {i: tpl(t, f"/rtc/v1/devices/{i}/ack", "PUT") for i in ids} == got


def test_camel_case_routes_beside_ids_stay_routes() -> None:
    rng = random.Random(7)
    t = Templater()
    reqs: list[Request] = [("GET", f"/rtc/v1/rooms/{_id(rng)}", 200, "id,name") for _ in range(12)]
    routes = ["listActive", "getByOwner"]
    reqs += [("GET", f"/rtc/v1/rooms/{r}", 200, "rooms") for r in routes] * 4
    feed(t, reqs)
    for r in routes:
        assert tpl(t, f"/rtc/v1/rooms/{r}") == f"/rtc/v1/rooms/{r}"
