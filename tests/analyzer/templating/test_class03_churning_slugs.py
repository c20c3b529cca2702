"""Class 3 (low-cardinality parameter kept literal), slugs before an id: a word seen followed by
an id reads as a collection name ("/users/{id}"), but dozens of them at one position, each
asked for once or twice and new ones still arriving ("/c/{slug}/{id}.json"), are the values of
a parameter. Collections stay literal: a handful of busy ones after a literal, and the many
rarely used collections right after an API root."""

from __future__ import annotations

import random

from analyzer.templating import Templater

from .helpers import Request, feed, tpl


def _slug(rng: random.Random) -> str:
    a = rng.choice(["amber", "birch", "cedar", "delta", "ember", "fjord", "gale", "heron", "iris", "jade"])
    b = rng.choice(["kettle", "lamp", "mesa", "notch", "orbit", "pine", "quill", "reef", "stone", "tide"])
    return f"{a}-{b}"


def test_many_churning_slugs_before_ids_are_a_parameter() -> None:
    t = Templater()
    rng = random.Random(81)
    reqs: list[Request] = []
    for _ in range(300):
        reqs.append(("GET", f"/c/{rng.randint(100, 9999)}/show.json", 200, "category"))
    slugs = list(dict.fromkeys(_slug(rng) for _ in range(60)))[:30]
    for s in slugs:
        for _ in range(rng.choice([1, 1, 2])):
            reqs.append(("GET", f"/c/{s}/{rng.randint(100, 9999)}.json", 200, "category,topic_list"))
    rng.shuffle(reqs)
    feed(t, reqs)
    got = {tpl(t, f"/c/{s}/77.json") for s in slugs}
    assert len(got) == 1, got
    only = got.pop() or ""
    assert only.startswith("/c/{") and only.endswith("}.json") and only.count("{") == 2, only


def test_busy_collections_after_a_literal_stay_literal() -> None:
    t = Templater()
    rng = random.Random(82)
    reqs: list[Request] = []
    kinds = ["orders", "items", "carts", "invoices", "refunds", "coupons"]
    for _ in range(600):
        k = rng.choice(kinds)
        reqs.append(("GET", f"/store/{k}/{rng.randint(1, 99999)}", 200, f"{k},id"))
    feed(t, reqs)
    for k in kinds:
        assert tpl(t, f"/store/{k}/42") == f"/store/{k}/{{{k[:-1]}Id}}"


def test_rare_collections_under_an_api_root_stay_literal() -> None:
    t = Templater()
    rng = random.Random(83)
    words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet", "kilo",
             "lima", "mike", "november", "oscar", "papa", "quebec", "romeo", "sierra", "tango", "uniform", "victor"]
    reqs: list[Request] = []
    for i, w in enumerate(words):
        for _ in range(1 if i % 3 else 2):
            reqs.append(("GET", f"/api/{w}s/{rng.randint(1, 99999)}", 200, f"{w},id"))
    feed(t, reqs)
    assert tpl(t, "/api/alphas/42") == "/api/alphas/{alphaId}"
    assert tpl(t, "/api/victors/42") == "/api/victors/{victorId}"
