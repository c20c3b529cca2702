"""Class 6: ids kept literal on rare endpoints. Names seen once or twice each under a plural
collection are ids even when the endpoint answers no body (DELETE, PUT with 204), so there is
no response shape to compare; and a handful of rare routes beside busy ones stay literal."""

from __future__ import annotations

import random

from analyzer.templating import Templater

from .helpers import Request, feed, name, tpl


def test_shapeless_rare_names_under_a_plural_collection_are_ids() -> None:
    t = Templater()
    rng = random.Random(61)
    reqs: list[Request] = []
    for _ in range(200):
        owner, repo = name(rng), name(rng)
        reqs.append(("GET", f"/api/v1/repos/{owner}/{repo}/issues", 200, "id,title,state"))
    secrets = [name(rng) for _ in range(6)]
    for s in secrets:
        reqs.append((rng.choice(["DELETE", "PUT"]), f"/api/v1/repos/ownerx/repox/actions/secrets/{s}", 204, None))
    reqs.append(("PUT", f"/api/v1/repos/ownerx/repox/actions/secrets/{secrets[0]}", 201, "name,created_at"))
    feed(t, reqs)
    got = {tpl(t, f"/api/v1/repos/ownerx/repox/actions/secrets/{s}", "DELETE") for s in secrets}
    assert len(got) == 1, got
    only = got.pop() or ""
    assert only.endswith("/actions/secrets/{secret}") or (only.endswith("}") and "/secrets/{" in only), only


def test_busy_routes_under_a_plural_collection_stay_literal() -> None:
    t = Templater()
    reqs: list[Request] = []
    for _ in range(40):
        for route in ("search", "recent"):
            reqs.append(("DELETE", f"/api/v1/caches/{route}", 204, None))
    feed(t, reqs)
    assert tpl(t, "/api/v1/caches/search", "DELETE") == "/api/v1/caches/search"
    assert tpl(t, "/api/v1/caches/recent", "DELETE") == "/api/v1/caches/recent"


def test_upper_case_ids_without_digits_are_ids_on_first_sight() -> None:
    """Square-style ids drawn from letters only ("QYNUZBVMVKYKQ") on endpoints seen once: typed by
    their shape, whereas upper-case words ("AUTHORIZATION") stay words."""
    from analyzer.templating.values import classify

    rng = random.Random(62)
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    ids: list[str] = []
    while len(ids) < 200:
        cand = "".join(rng.choice(letters) for _ in range(13))
        if sum(c in "AEIOU" for c in cand) <= 2:  # the common case of random letters
            ids.append(cand)
    assert all(classify(i) == "token" for i in ids)
    assert classify("AUTHORIZATION") == "word" and classify("DOWNLOADS") == "word"
    t = Templater()
    feed(t, [("GET", f"/v2/payments/{ids[0]}", 200, "payment"), ("GET", f"/v2/vendors/{ids[1]}", 200, "vendor")])
    assert tpl(t, f"/v2/payments/{ids[0]}") == "/v2/payments/{paymentId}"


def test_rare_names_known_through_a_sub_route_join_the_rare_ids() -> None:
    """"/categories/{name}" read twice, "/categories/{name}/posts" for three other names, each seen
    once: one parameter, not three literal endpoints."""
    t = Templater()
    rng = random.Random(63)
    reqs: list[Request] = [("GET", "/v1alpha1/categories", 200, "items,total,page") for _ in range(30)]
    direct = [name(rng) for _ in range(2)]
    below = [name(rng) for _ in range(3)]
    reqs += [("GET", f"/v1alpha1/categories/{n}", 200, "metadata,spec,status") for n in direct + direct]
    reqs += [("GET", f"/v1alpha1/categories/{n}/posts", 200, "items,total,page") for n in below]
    feed(t, reqs)
    got = {tpl(t, f"/v1alpha1/categories/{n}/posts") for n in below}
    assert len(got) == 1, got
    assert (got.pop() or "").endswith("}/posts")


def test_rare_names_after_a_singular_noun_are_ids_when_shaped_like_names() -> None:
    """"/sys/policy/anchor3", "/sys/policy/lantern-willow", ...: three or more names seen once or
    twice each after a singular noun are ids; rare route words there ("/sys/config/cors",
    "/sys/config/ui") stay literal."""
    t = Templater()
    rng = random.Random(64)
    reqs: list[Request] = [("GET", "/sys/health", 200, "initialized,sealed,standby") for _ in range(50)]
    names = [name(rng) for _ in range(4)]
    reqs += [("DELETE", f"/sys/policy/{n}", 204, None) for n in names]
    reqs += [("GET", f"/sys/config/{r}", 200, "data,lease_id") for r in ("cors", "ui", "auditing")]
    feed(t, reqs)
    got = {tpl(t, f"/sys/policy/{n}", "DELETE") for n in names}
    assert len(got) == 1 and (got.pop() or "").startswith("/sys/policy/{"), got
    for r in ("cors", "ui", "auditing"):
        assert tpl(t, f"/sys/config/{r}") == f"/sys/config/{r}"


def test_rare_names_read_and_written_are_one_parameter() -> None:
    """ "/v1/roles/amber3" read, "/v1/roles/lantern-willow" written (a POST answering another
    shape than the reads): names seen once or twice each never contradict one another, so the
    written ones join the read ones, one endpoint, not literals beside it."""
    t = Templater()
    rng = random.Random(65)
    reqs: list[Request] = [("GET", "/v1/health", 200, "initialized,sealed,standby") for _ in range(50)]
    read = [name(rng) for _ in range(2)]
    written = [name(rng) for _ in range(2)]
    reqs += [("GET", f"/v1/roles/{n}", 200, "data,lease_id,policies") for n in read]
    reqs += [("POST", f"/v1/roles/{n}", 200, "warnings,auth,request_id") for n in written]
    feed(t, reqs)
    got = {tpl(t, f"/v1/roles/{n}") for n in read} | {tpl(t, f"/v1/roles/{n}", "POST") for n in written}
    assert len(got) == 1 and (got.pop() or "").startswith("/v1/roles/{"), got
