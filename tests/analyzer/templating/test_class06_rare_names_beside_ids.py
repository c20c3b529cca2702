"""Class 6 (id kept literal, rare endpoint), names beside typed ids: under a plural collection
whose members are also reached by number ("/groups/{id}"), a few names people give, each seen
once or twice with the same sub-route below ("/groups/{name}/members.json"), are the same
objects by name; plain route words with sub-trees beside the ids stay routes."""

from __future__ import annotations

import random

from analyzer.templating import Templater

from .helpers import Request, feed, name, tpl


def test_rare_names_with_a_common_sub_route_beside_ids_are_a_parameter() -> None:
    t = Templater()
    rng = random.Random(111)
    reqs: list[Request] = []
    for _ in range(300):
        reqs.append(("GET", f"/groups/{rng.randint(1, 99999)}.json", 200, "group"))
        reqs.append(("GET", f"/groups/{rng.randint(1, 99999)}", 200, "group"))
    names = list(dict.fromkeys(name(rng) for _ in range(12)))[:8]
    for i, n in enumerate(names):
        for _ in range(1 + i % 2):
            reqs.append(("GET", f"/groups/{n}/members.json", 200, "members,meta"))
    rng.shuffle(reqs)
    feed(t, reqs)
    got = {tpl(t, f"/groups/{n}/members.json") for n in names}
    assert len(got) == 1, got
    only = got.pop() or ""
    assert only.startswith("/groups/{") and only.endswith("}/members.json"), only


def test_plain_route_words_with_sub_trees_beside_ids_stay_routes() -> None:
    t = Templater()
    rng = random.Random(112)
    reqs: list[Request] = []
    for _ in range(300):
        reqs.append(("GET", f"/orders/{rng.randint(1, 99999)}", 200, "order"))
    for word in ("open", "closed", "shipped"):
        reqs.append(("GET", f"/orders/{word}/summary", 200, "count,total"))
    feed(t, reqs)
    assert tpl(t, "/orders/open/summary") == "/orders/open/summary"
    assert tpl(t, "/orders/shipped/summary") == "/orders/shipped/summary"
