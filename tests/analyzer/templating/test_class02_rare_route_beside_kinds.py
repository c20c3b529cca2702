"""Class 2 (literal siblings merged into a parameter): a handful of busy kinds of one thing after
a singular noun ("/identity/oidc/assignment|scope|client|role/{name}"), each holding its own
names and routes, are routes; one rarely used route beside them (".well-known" asked for twice)
says nothing about whether the busy ones are a fixed set, so it must not turn them into values."""

from __future__ import annotations

import random

from analyzer.templating import Templater

from .helpers import Request, feed, name, tpl


def test_busy_kinds_stay_literal_beside_a_rare_route() -> None:
    t = Templater()
    rng = random.Random(91)
    kinds = {"assignment": 1500, "provider": 500, "scope": 200, "client": 80, "role": 40}
    reqs: list[Request] = []
    for kind, n in kinds.items():
        reqs.append(("GET", f"/identity/oidc/{kind}/", 200, "keys"))
        for _ in range(n):
            reqs.append((rng.choice(["GET", "POST", "DELETE"]), f"/identity/oidc/{kind}/{name(rng)}", 200, "data"))
    for _ in range(15):
        reqs.append(("GET", f"/identity/oidc/provider/{name(rng)}/authorize", 200, "code"))
    reqs.append(("GET", "/identity/oidc/.well-known/openid-configuration", 200, "issuer,jwks_uri"))
    reqs.append(("GET", "/identity/oidc/.well-known/keys", 200, "keys"))
    rng.shuffle(reqs)
    feed(t, reqs)
    for kind in kinds:
        got = tpl(t, f"/identity/oidc/{kind}/amber-lamp7") or ""
        assert got.startswith(f"/identity/oidc/{kind}/{{"), got
    assert tpl(t, "/identity/oidc/.well-known/keys") == "/identity/oidc/.well-known/keys"
