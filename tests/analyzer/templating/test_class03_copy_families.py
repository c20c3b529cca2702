"""Class 3 (low-cardinality parameter kept literal), mounts: where copies of one thing sit at a
position ("/{mount}/config|roles|creds/..." for many database mounts), copies of another kind
with only a couple of routes ("/totp/code|keys", "/totp-2/...", "/team-totp/...") are mount
values too; a literal route beside them with routes of its own ("/sys/...") stays literal."""

from __future__ import annotations

import random

from analyzer.templating import Templater

from .helpers import Request, feed, name, tpl


def test_small_families_of_copies_join_the_proven_copies() -> None:
    t = Templater()
    rng = random.Random(101)
    reqs: list[Request] = []
    db_mounts = ["database", "database-2", "team-db", "db-prod", "pg", "pg-2"]
    totp_mounts = ["totp", "totp-2", "team-totp"]
    for _ in range(900):
        m = rng.choice(db_mounts)
        route = rng.choice(["config", "roles", "creds", "static-roles"])
        reqs.append(("GET", f"/{m}/{route}/{name(rng)}", 200, f"{route},data,lease_id"))
    for _ in range(150):
        m = rng.choice(totp_mounts)
        route = rng.choice(["code", "keys"])
        reqs.append(("GET", f"/{m}/{route}/{name(rng)}", 200, f"{route}_value,data"))
    for _ in range(300):
        route = rng.choice(["health", "seal-status", "leader", "mounts", "policies"])
        reqs.append(("GET", f"/sys/{route}", 200, f"{route},initialized"))
    rng.shuffle(reqs)
    feed(t, reqs)
    db = tpl(t, "/pg-2/roles/amber-lamp7") or ""
    assert db.startswith("/{") and db.endswith("/roles/{role}"), db
    got = {tpl(t, f"/{m}/code/amber-lamp7") for m in totp_mounts}
    assert len(got) == 1, got
    only = got.pop() or ""
    assert only.startswith("/{") and "/code/{" in only, only
    assert tpl(t, "/sys/leader") == "/sys/leader"
