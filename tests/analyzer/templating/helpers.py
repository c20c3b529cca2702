"""Feeding a Templater the way the pipeline does (observe + match per request, consolidate at the
end of the batch) and reading the inventory back."""

from __future__ import annotations

import random

from analyzer.templating import Templater

H = "api.example.com"
Request = tuple[str, str, int, str | None]  # method, path, status, response shape


def feed(t: Templater, requests: list[Request], host: str = H) -> None:
    for method, path, status, shape in requests:
        t.observe(host, method, path, status, shape)
        t.match(host, method, path)
    t.consolidate()


def tpl(t: Templater, path: str, method: str = "GET", host: str = H) -> str | None:
    m = t.match(host, method, path)
    return m.template if m is not None else None


def zipf(rng: random.Random, pool: list[str], n: int) -> list[str]:
    return rng.choices(pool, weights=[1.0 / k for k in range(1, len(pool) + 1)], k=n)


def name(rng: random.Random) -> str:
    """A made-up object name ("amber-kettle3"), as users name roles, keys and policies."""
    a = rng.choice(["amber", "birch", "cedar", "delta", "ember", "fjord", "gale", "heron", "iris", "jade"])
    b = rng.choice(["kettle", "lamp", "mesa", "notch", "orbit", "pine", "quill", "reef", "stone", "tide"])
    return f"{a}{rng.choice('-_')}{b}{rng.randint(0, 99)}"
