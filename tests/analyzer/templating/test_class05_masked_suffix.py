"""Class 5: "{id}.json" where the id is a secret-like token (Stripe-style "cus_R1We...", masked
on arrival): the mask keeps the representation suffix, so the endpoint keeps its shape and the
raw token is still never stored."""

from __future__ import annotations

import random
import string

from analyzer.templating import Templater

from .helpers import H, Request, feed, tpl


def _token(rng: random.Random) -> str:
    body = "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(rng.randint(14, 24)))
    return f"{rng.choice(['cus', 'ch', 'pi', 'sub'])}_{body}"


def test_token_ids_in_a_representation_keep_the_suffix() -> None:
    t = Templater()
    rng = random.Random(57)
    reqs: list[Request] = []
    tokens = [_token(rng) for _ in range(60)]
    for tok in tokens:
        reqs.append(("GET", f"/posts/{tok}.json", 200, "id,raw,cooked,post_number"))
        reqs.append(("GET", f"/posts/{tok}", 200, "id,raw,cooked,post_number"))
    feed(t, reqs)
    got = tpl(t, f"/posts/{tokens[0]}.json") or ""
    assert got.startswith("/posts/{") and got.endswith("}.json"), got
    bare = tpl(t, f"/posts/{tokens[0]}") or ""
    assert bare.startswith("/posts/{") and bare.endswith("}"), bare
    state = str(t.to_state())
    assert not any(tok in state for tok in tokens)  # masked, never raw
    assert H in state


def test_an_email_with_a_dot_suffix_is_one_address() -> None:
    t = Templater()
    reqs: list[Request] = [("GET", f"/v1/customers/by-email/user{i}@example.org", 200, "id,email") for i in range(30)]
    feed(t, reqs)
    got = tpl(t, "/v1/customers/by-email/user3@example.org") or ""
    assert got.startswith("/v1/customers/by-email/{") and got.endswith("}") and ".org" not in got, got
