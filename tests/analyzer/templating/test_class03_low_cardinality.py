"""Class 3: low-cardinality parameters kept literal. Copies of one thing (secret-engine mounts,
tenants) carry the same routes below them and answer alike there: whatever their number and
traffic share, even right after the root, they are one parameter; a literal beside them with
routes of its own stays literal."""

from __future__ import annotations

import random

from analyzer.templating import Templater

from .helpers import Request, feed, name, tpl, zipf

# Two engines, each mounted two or three times; every mount answers like its siblings.
ENGINES = {
    "pki": ["ca", "crl", "roles", "issue", "cert", "config"],
    "kv": ["data", "metadata", "destroy", "config"],
}
MOUNTS = ["pki", "pki-2", "team-pki", "kv", "kv-prod"]


def _mount_traffic(rng: random.Random, n: int) -> list[Request]:
    reqs: list[Request] = []
    for mount in zipf(rng, MOUNTS, n):
        engine = "pki" if "pki" in mount else "kv"
        route = rng.choice(ENGINES[engine])
        if route in ("ca", "crl", "config"):
            reqs.append(("GET", f"/{mount}/{route}", 200, f"data,lease_id,{engine}_{route}"))
        else:
            reqs.append(("POST", f"/{mount}/{route}/{name(rng)}", 200, f"data,warnings,{engine}_{route}"))
    # The system backend beside the mounts: routes of its own, answering otherwise.
    for _ in range(n // 3):
        route = rng.choice(["health", "mounts", "leader", "seal-status", "policies"])
        shape = {"health": "initialized,sealed,standby", "mounts": "data,auth,secret", "leader": "ha_enabled,is_self",
                 "seal-status": "type,t,n,progress", "policies": "keys,policies"}[route]  # fmt: skip
        reqs.append(("GET", f"/sys/{route}", 200, shape))
    return reqs


def test_copies_with_the_same_routes_are_one_parameter_at_the_root() -> None:
    t = Templater()
    feed(t, _mount_traffic(random.Random(31), 900))
    for mount in MOUNTS:
        assert (tpl(t, f"/{mount}/config") or "").startswith("/{"), mount
    pki = tpl(t, "/team-pki/roles/whatever", "POST")
    assert pki is not None and pki.startswith("/{") and pki.endswith("/roles/{role}")
    assert tpl(t, "/sys/health") == "/sys/health"
    assert tpl(t, "/sys/seal-status") == "/sys/seal-status"


def test_collections_with_their_own_answers_stay_literal() -> None:
    """Collections sharing route names ("create", "prune", "json") but answering differently are
    distinct resources, not copies."""
    t = Templater()
    rng = random.Random(32)
    reqs: list[Request] = []
    for _ in range(600):
        kind = rng.choice(["containers", "images", "volumes", "networks"])
        op = rng.choice(["json", "create", "prune"])
        shape = {"json": f"{kind}_list,Id,Names", "create": f"Id,Warnings,{kind}_created", "prune": f"{kind}Deleted,SpaceReclaimed"}[op]
        reqs.append(("GET" if op == "json" else "POST", f"/{kind}/{op}", 200, shape))
    feed(t, reqs)
    for kind in ("containers", "images", "volumes", "networks"):
        assert tpl(t, f"/{kind}/json") == f"/{kind}/json"
        assert tpl(t, f"/{kind}/prune", "POST") == f"/{kind}/prune"


def test_a_look_alike_pair_stays_literal() -> None:
    """Two siblings with the same routes below ("/algo/spot/...", "/algo/futures/...") are as
    often a product pair as two copies: it takes a family of copies to make a parameter."""
    t = Templater()
    rng = random.Random(33)
    reqs: list[Request] = []
    for _ in range(600):
        line = rng.choice(["spot", "futures"])
        op = rng.choice(["open", "history", "children", "order"])
        shape = {"open": "total,orders", "history": "start,end,rows", "children": "parent,subs", "order": "id,qty"}[op]
        reqs.append(("GET", f"/sapi/v1/algo/{line}/{op}", 200, shape))
    feed(t, reqs)
    assert tpl(t, "/sapi/v1/algo/spot/open") == "/sapi/v1/algo/spot/open"
    assert tpl(t, "/sapi/v1/algo/futures/order") == "/sapi/v1/algo/futures/order"


IMAGE_TYPES = ["Primary", "Art", "Backdrop", "Banner", "Logo", "Thumb", "Disc", "Box", "Screenshot", "Menu"]


def test_enum_values_followed_by_ids_answering_alike_are_a_parameter() -> None:
    """Words followed by ids are collection names ("/users/{id}"), except when many of them sit
    under one route and answer alike shape for shape: "/Items/{id}/Images/{imageType}/{index}"."""
    t = Templater()
    rng = random.Random(34)
    reqs: list[Request] = []
    items = [f"{rng.getrandbits(128):032x}" for _ in range(200)]
    for _ in range(1500):
        item, kind = rng.choice(items), rng.choice(IMAGE_TYPES)
        if rng.random() < 0.5:
            reqs.append(("HEAD", f"/Items/{item}/Images/{kind}/{rng.randint(0, 9)}", 200, None))
        else:
            reqs.append(("POST", f"/Items/{item}/Images/{kind}", 200, "id,imageTag,path,width"))
    # Real collections right below the root stay literal though each is followed by ids.
    for _ in range(300):
        coll = rng.choice(["users", "groups", "devices", "plugins", "sessions"])
        reqs.append(("GET", f"/{coll}/{rng.randint(1, 10**5)}", 200, f"id,{coll}_name,{coll}_owner"))
    feed(t, reqs)
    for kind in IMAGE_TYPES:
        got = tpl(t, f"/Items/{items[0]}/Images/{kind}/3", "HEAD")
        assert got is not None and got.startswith("/Items/{itemId}/Images/{") and got.count("{") == 3, (kind, got)
    assert tpl(t, "/users/12") == "/users/{userId}"
    assert tpl(t, "/devices/12") == "/devices/{deviceId}"


def test_image_kinds_asked_for_by_head_are_one_parameter() -> None:
    """"/Studios/{id}/Images/Primary/3", ".../Images/Backdrop/1", ...: a dozen kinds, each followed
    by an index, most kinds only ever probed with HEAD (no body, so no shape to compare), a few
    also read with GET answering one image record: the values of one low-cardinality parameter."""
    t = Templater()
    rng = random.Random(33)
    kinds = ["Primary", "Art", "Backdrop", "Banner", "Box", "BoxRear", "Disc", "Logo", "Menu", "Thumb"]
    reqs: list[Request] = []
    for kind in zipf(rng, kinds, 700):
        studio = name(rng)
        reqs.append(("GET", f"/Studios/{studio}/Items", 200, "Items,TotalRecordCount"))
        if kind not in kinds[:3] or rng.random() < 0.5:
            reqs.append(("HEAD", f"/Studios/{studio}/Images/{kind}/{rng.randint(0, 40)}", 200, None))
        else:
            reqs.append(("GET", f"/Studios/{studio}/Images/{kind}/{rng.randint(0, 40)}", 200, "Height,Width,Path"))
    feed(t, reqs)
    got = {tpl(t, f"/Studios/abc/Images/{kind}/7", "HEAD") for kind in kinds}
    assert len(got) == 1, got
    only = got.pop() or ""
    assert only.startswith("/Studios/{") and "/Images/{" in only, only


def test_a_filter_of_reserved_words_below_a_sub_collection_is_a_parameter() -> None:
    """ "/teams/{id}/projects/all|open|public|archived": only read, answering the same list, nothing
    below them: the sub-collection's filter, though its values are reserved words; every value,
    the one seen last too, matches the one template."""
    t = Templater()
    rng = random.Random(31)
    filters = ["all", "open", "public", "archived", "starred"]
    reqs: list[Request] = []
    for _ in range(300):
        team = str(rng.randint(10**6, 10**7))
        reqs.append(
            ("GET", f"/v2/teams/{team}/projects/{zipf(rng, filters, 1)[0]}", 200, "id,name,owner,state")
        )
        reqs.append(("GET", f"/v2/teams/{team}", 200, "id,name,members"))
    feed(t, reqs)
    got = {tpl(t, f"/v2/teams/42/projects/{f}") for f in filters}
    assert len(got) == 1 and (got.pop() or "").startswith("/v2/teams/{"), got


def test_reserved_words_beside_sub_routes_stay_literal() -> None:
    """The same words where one of them has a route below it, or is written to, are routes."""
    t = Templater()
    rng = random.Random(32)
    reqs: list[Request] = []
    for _ in range(300):
        team = str(rng.randint(10**6, 10**7))
        reqs.append(("GET", f"/v2/teams/{team}/projects/all", 200, "id,name,owner,state"))
        reqs.append(("POST", f"/v2/teams/{team}/projects/import", 200, "id,name,owner,state"))
        reqs.append(("GET", f"/v2/teams/{team}/projects/search", 200, "id,name,owner,state"))
    feed(t, reqs)
    for route in ("all", "search"):
        assert (tpl(t, f"/v2/teams/42/projects/{route}") or "").endswith(f"/projects/{route}")
    assert (tpl(t, "/v2/teams/42/projects/import", "POST") or "").endswith("/projects/import")


CATEGORIES = ["books", "garden", "toys", "kitchen", "music", "sports", "pets", "office", "outdoor", "shoes",
              "beauty", "baby", "jewelry", "crafts", "grocery", "tools", "furniture", "luggage"]  # fmt: skip


def test_kinds_whose_named_items_answer_alike_are_a_parameter() -> None:
    """ "/packages/{owner}/books|garden|.../{name}": a dozen and more values after an owner, each
    holding churning names, the names below every one answering the same record: a kind."""
    t = Templater()
    rng = random.Random(33)
    owners = ["alice", "bob42", "carol-x", "dave_d", "erin7", "frank-rose"]
    reqs: list[Request] = []
    for _ in range(400):
        owner, kind, item = rng.choice(owners), zipf(rng, CATEGORIES, 1)[0], name(rng)
        if rng.random() < 0.7:
            reqs.append(("GET", f"/api/v1/packages/{owner}/{kind}/{item}", 200, "id,name,type,version,owner"))
        else:
            reqs.append(("GET", f"/api/v1/packages/{owner}/{kind}/{item}/files", 200, "id,name,size,md5"))
    feed(t, reqs)
    got = {tpl(t, f"/api/v1/packages/alice/{kind}/zz-top9") for kind in CATEGORIES}
    assert len(got) == 1 and (got.pop() or "").count("{") == 3, got


def test_sub_collections_whose_items_answer_each_their_own_stay_literal() -> None:
    """As many sub-collections of an object, each holding churning names, but the items of each
    answer a record of their own ("/namespaces/{ns}/pods/{name}" beside ".../services/{name}")."""
    t = Templater()
    rng = random.Random(34)
    reqs: list[Request] = []
    for _ in range(400):
        ns, kind, item = rng.choice(["prod", "dev-1", "team_x"]), zipf(rng, CATEGORIES, 1)[0], name(rng)
        shape = f"apiVersion,kind,metadata,{kind}_spec,{kind}_status,{kind}_extra"
        reqs.append(("GET", f"/api/v1/namespaces/{ns}/{kind}/{item}", 200, shape))
    feed(t, reqs)
    for kind in CATEGORIES[:5]:
        assert f"/{kind}/" in (tpl(t, f"/api/v1/namespaces/prod/{kind}/zz-top9") or "")
