"""Class 5 (OData): an entity set is asked for bare ("/svc/Orders") and by key ("/svc/Orders(42)",
"/svc/Lines(OrderID=1,ProductID=2)") at the same position. The key segment names the set, so the
bare name beside it is that collection, a literal: many entity sets, some rarely used, must not
merge into one "/svc/{}"."""

from __future__ import annotations

import random

from analyzer.templating import Templater

from .helpers import Request, feed, tpl, zipf


def _sets(rng: random.Random) -> list[str]:
    # Made-up entity-set names of the OData styles (plural nouns, Snake_Case view names).
    stems = ["Widget", "Gadget", "Invoice_Line", "Shipment", "Crate", "Pallet", "Vendor", "Quote", "Ledger"]
    extra = [f"{s}_by_{by}" for s in stems[:5] for by in ("Region", "Year", "Month")]
    return (
        [s + "s" for s in stems] + extra + [f"{stems[rng.randrange(9)]}_Sales_for_{rng.randint(1990, 2030)}"]
    )


def test_entity_sets_named_by_their_key_segments_stay_literal() -> None:
    t = Templater()
    rng = random.Random(51)
    sets = _sets(rng)
    reqs: list[Request] = []
    for es in zipf(rng, sets, 2500):
        method = rng.choice(["GET", "GET", "POST"])
        if rng.random() < 0.5:
            reqs.append((method, f"/Shop/Shop.svc/{es}", 200, "@odata.context,value"))
        elif rng.random() < 0.5:
            reqs.append(
                ("GET", f"/Shop/Shop.svc/{es}({rng.randint(1, 10**5)})", 200, "@odata.context,Id,Name")
            )
        else:
            key = f"{es}(Code='{rng.randint(1, 999)}',Year={rng.randint(1990, 2030)})"
            reqs.append(("GET", f"/Shop/Shop.svc/{key}", 200, "@odata.context,Code,Year"))
    feed(t, reqs)
    seen = {es for es in sets if any(f"/{es}(" in p for _, p, _, _ in reqs)}
    assert len(seen) >= 15
    for es in seen:
        assert tpl(t, f"/Shop/Shop.svc/{es}") == f"/Shop/Shop.svc/{es}"
    # The keys keep their shape and template only the values.
    some = sorted(seen)[0]
    got = tpl(t, f"/Shop/Shop.svc/{some}(777)") or tpl(t, f"/Shop/Shop.svc/{some}(Code='1',Year=2000)")
    assert got is not None and got.startswith(f"/Shop/Shop.svc/{some}(") and "{" in got


def test_names_without_key_segments_still_fold() -> None:
    """The rule rests on key segments: plain slugs that churn under one route still become one
    parameter (the rule must not make every word a collection)."""
    t = Templater()
    rng = random.Random(52)
    reqs: list[Request] = []
    for _ in range(400):
        slug = f"{rng.choice(['amber', 'birch', 'cedar', 'delta'])}-{rng.randint(1, 10**6)}"
        reqs.append(("GET", f"/Shop/Shop.svc/Pages/{slug}", 200, "title,body,updated"))
    feed(t, reqs)
    assert (tpl(t, reqs[0][1]) or "").startswith("/Shop/Shop.svc/Pages/{")
