"""Class 2: literal siblings merged into a parameter. A handful of siblings, each asked for again
and again, with alike sub-trees (named objects below each) is a fixed set of routes: ids and
names churn, routes saturate."""

from __future__ import annotations

import random

from analyzer.templating import Templater

from .helpers import Request, feed, name, tpl, zipf


def test_a_saturated_handful_of_siblings_stays_literal() -> None:
    t = Templater()
    rng = random.Random(21)
    reqs: list[Request] = []
    for _ in range(800):
        kind = rng.choice(["acl", "password", "rgp", "egp"])
        method = rng.choice(["GET", "POST", "DELETE"])
        reqs.append((method, f"/sys/policies/{kind}/{name(rng)}", 200, "data,lease_id,renewable"))
    feed(t, reqs)
    for kind in ("acl", "password", "rgp", "egp"):
        assert tpl(t, f"/sys/policies/{kind}/anything") == f"/sys/policies/{kind}/{{{kind}}}" or (
            (tpl(t, f"/sys/policies/{kind}/anything") or "").startswith(f"/sys/policies/{kind}/{{")
        )


def test_teams_that_keep_arriving_are_a_parameter() -> None:
    """The same sub-tree under values that churn (teams seen once or twice) is one parameter."""
    t = Templater()
    rng = random.Random(22)
    reqs: list[Request] = []
    for _ in range(12):
        team = f"{name(rng)}x"
        for _ in range(rng.choice((1, 2))):
            reqs.append(("GET", f"/teams/{team}/members/{rng.randint(1, 10**6)}", 200, "id,login,role"))
            reqs.append(("GET", f"/teams/{team}/repos", 200, "id,full_name,private"))
    for _ in range(100):
        reqs.append(("GET", "/teams/search", 200, "total_count,items"))
    feed(t, reqs)
    assert tpl(t, "/teams/newcomer/members/5") == "/teams/{team}/members/{memberId}"
    assert tpl(t, "/teams/search") == "/teams/search"


def test_method_shaped_leaves_answering_alike_stay_literal() -> None:
    """camelCase and dotted operation names ("openOrders", "orders.list") are operations even when
    they answer alike."""
    t = Templater()
    rng = random.Random(23)
    ops = ["openOrders", "historicalOrders", "subOrders", "allOrders", "myTrades"]
    reqs: list[Request] = []
    for _ in range(600):
        reqs.append(("GET", f"/sapi/v1/algo/{rng.choice(ops)}", 200, "total,orders,rows"))
        reqs.append(
            ("POST", f"/api/{rng.choice(['orders.list', 'orders.info', 'orders.history'])}", 200, "ok,items")
        )
    feed(t, reqs)
    for op in ops:
        assert tpl(t, f"/sapi/v1/algo/{op}") == f"/sapi/v1/algo/{op}"
    assert tpl(t, "/api/orders.info", "POST") == "/api/orders.info"


def test_actions_posted_under_an_id_stay_literal() -> None:
    """ "/accounts/{id}/follow|unfollow|block|..." all answer the same relationship record, but
    each is only ever POSTed to and asked for again and again beside read sub-resources: a fixed
    set of operations on the account, not the values of one parameter."""
    t = Templater()
    rng = random.Random(24)
    acts = ["follow", "unfollow", "block", "unblock", "mute", "unmute", "pin", "unpin", "note", "endorse"]
    reads = ["followers", "following", "statuses", "lists"]
    reqs: list[Request] = []
    for _ in range(1500):
        acct = str(rng.randint(10**15, 10**16))
        if rng.random() < 0.6:
            reqs.append(
                (
                    "POST",
                    f"/api/v1/accounts/{acct}/{zipf(rng, acts, 1)[0]}",
                    200,
                    "id,following,blocking,muting,note",
                )
            )
        else:
            reqs.append(("GET", f"/api/v1/accounts/{acct}/{rng.choice(reads)}", 200, "id,acct,display_name"))
    feed(t, reqs)
    for act in acts:
        got = tpl(t, f"/api/v1/accounts/123/{act}", "POST") or ""
        assert got.startswith("/api/v1/accounts/{") and got.endswith(f"}}/{act}"), got


def test_rpc_operations_posted_after_a_literal_stay_literal() -> None:
    t = Templater()
    rng = random.Random(25)
    ops = ["add", "get", "list", "delete", "grant", "revoke", "changepw"]
    reqs: list[Request] = []
    for _ in range(900):
        reqs.append(("POST", f"/v3/auth/user/{zipf(rng, ops, 1)[0]}", 200, "header,user,roles"))
    feed(t, reqs)
    for op in ops:
        assert tpl(t, f"/v3/auth/user/{op}", "POST") == f"/v3/auth/user/{op}"


def test_names_posted_to_that_keep_arriving_are_a_parameter() -> None:
    """POSTing to named objects ("/transit/sign/{key}") is no operation set: the names churn."""
    t = Templater()
    rng = random.Random(26)
    reqs: list[Request] = []
    for _ in range(300):
        reqs.append(("POST", f"/transit/sign/{name(rng)}", 200, "data,lease_id,renewable"))
    feed(t, reqs)
    got = tpl(t, reqs[0][1], "POST") or ""
    assert got.startswith("/transit/sign/{") and got.endswith("}")


def test_sub_resources_answering_a_bare_envelope_alike_stay_literal() -> None:
    """"/merchants/{id}/billingEntities|payoutSettings|..." all answer a one-key envelope
    ({"data": [...]}): a bare key alike is no evidence the siblings are one thing (unrelated
    endpoints answer so), so they stay literal sub-resources."""
    t = Templater()
    rng = random.Random(27)
    subs = ["billingEntities", "payoutSettings", "shippingLocations", "terminalProducts", "terminalModels", "splitRules"]
    reqs: list[Request] = []
    for sub in zipf(rng, subs, 1200):
        merchant = "M" + "".join(rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ23456789") for _ in range(12))
        reqs.append(("GET", f"/v3/merchants/{merchant}/{sub}", 200, "data"))
        reqs.append(("GET", f"/v3/merchants/{merchant}", 200, "id,name,status,_links"))
    feed(t, reqs)
    seen = {p.rsplit("/", 1)[1]: p for _, p, _, _ in reqs if p.count("/") == 4}
    for sub in subs:
        got = tpl(t, seen[sub]) or ""
        assert got.startswith("/v3/merchants/{") and got.endswith(f"}}/{sub}"), got


def test_operations_in_a_representation_first_seen_once_each_stay_literal() -> None:
    """"/uploads/create-multipart.json", "/uploads/complete-multipart.json", ...: early on each was
    seen once (a tail, so "{}.json" then), later each is POSTed to again and again. The early
    verdict must not stick: word values in a pattern are not compacted away, so a later fold
    still sees them and keeps the operations literal."""
    t = Templater()
    rng = random.Random(28)
    ops = ["create-multipart", "complete-multipart", "abort-multipart", "complete-external-upload", "generate-presigned-put"]
    reqs: list[Request] = [("POST", f"/uploads/{op}.json", 201, "key,upload_id,url") for op in ops]
    for op in zipf(rng, ops, 1500):
        reqs.append(("POST", f"/uploads/{op}.json", 201, "key,upload_id,url"))
        reqs.append(("GET", f"/t/{rng.randint(1, 10**6)}.json", 200, "id,title,posts_count"))
    feed(t, reqs)
    for op in ops:
        assert tpl(t, f"/uploads/{op}.json", "POST") == f"/uploads/{op}.json"


def test_actions_posted_under_an_id_with_no_read_sibling_stay_literal() -> None:
    """A write-only API ("/orders/{ref}/settle|void|refunds|...", every one POSTed, answering one
    modification record, nothing read beside them): bare words asked for again and again after
    an id are the object's operations, not the values of a second parameter."""
    t = Templater()
    rng = random.Random(27)
    acts = ["settle", "void", "refunds", "reversals", "priceChanges"]
    reqs: list[Request] = []
    for _ in range(80):
        ref = f"{rng.choice(['amber', 'birch', 'cedar'])}-{rng.choice(['kite', 'lamp', 'mesa'])}"
        reqs.append(("POST", f"/v3/orders/{ref}/{zipf(rng, acts, 1)[0]}", 201, "ref,status,order_ref"))
    feed(t, reqs)
    for act in acts:
        got = tpl(t, f"/v3/orders/birch-kite/{act}", "POST") or ""
        assert got.startswith("/v3/orders/{") and got.endswith(f"}}/{act}"), got


def test_names_posted_to_after_an_id_are_a_parameter() -> None:
    """The same write-only shape with object names in the last position (digits, separators in
    them, new ones arriving) is a second parameter."""
    t = Templater()
    rng = random.Random(28)
    reqs: list[Request] = []
    for _ in range(300):
        reqs.append(("POST", f"/v3/vaults/{rng.randint(1, 40)}/{name(rng)}", 201, "ref,status,key_ref"))
    feed(t, reqs)
    got = tpl(t, reqs[0][1], "POST") or ""
    assert got.startswith("/v3/vaults/{") and got.endswith("}") and got.count("{") == 2, got


def test_busy_siblings_whose_methods_never_meet_stay_literal() -> None:
    """ "/docs/{id}/head-content" only ever read, ".../revert-content" only ever written, both
    answering the same content record again and again: different operations, not one parameter
    (one handler serves every value of a parameter alike), even where a sibling collection
    (pages beside posts) would otherwise prove them values."""
    t = Templater()
    rng = random.Random(29)
    ops = {"content": ("GET", "PUT"), "head-content": ("GET",), "release-content": ("GET",),
           "revert-content": ("PUT",), "recycle": ("PUT",)}  # fmt: skip
    reqs: list[Request] = []
    for _ in range(300):
        doc, coll = name(rng), rng.choice(("posts", "pages"))
        op = rng.choice(list(ops))
        reqs.append((rng.choice(ops[op]), f"/v1/{coll}/{doc}/{op}", 200, "raw,content,rawType,version"))
        reqs.append(("GET", f"/v1/{coll}/{doc}", 200, "metadata,spec,status"))
    feed(t, reqs)
    for op, methods in ops.items():
        got = tpl(t, f"/v1/posts/amber-kettle3/{op}", methods[0]) or ""
        assert got.startswith("/v1/posts/{") and got.endswith(f"}}/{op}"), got


def test_fields_read_alike_are_still_a_parameter() -> None:
    """The same shape where every value is read (and written) alike: field names below an id."""
    t = Templater()
    rng = random.Random(30)
    fields = ["name", "desc", "due", "pos", "closed", "labels"]
    reqs: list[Request] = []
    for _ in range(300):
        card = str(rng.randint(10**9, 10**10))
        reqs.append((rng.choice(("GET", "GET", "PUT")), f"/v1/cards/{card}/{rng.choice(fields)}", 200, "_value,id"))
        reqs.append(("GET", f"/v1/cards/{card}", 200, "id,name,desc,due,pos"))
    feed(t, reqs)
    got = {tpl(t, f"/v1/cards/123/{f}") for f in fields}
    assert len(got) == 1 and (got.pop() or "").count("{") == 2, got


def test_kinds_after_a_singular_noun_with_differing_routes_stay_literal() -> None:
    """ "/identity/entity|group|persona/...": a handful of busy values after a singular noun whose
    routes below overlap (id, name) but differ (entity also has merge, batch-delete) are kinds
    of one thing, routes; copies after a singular noun carry the same routes and stay a parameter
    ("/ds-api/{dataset}/v1/fields|records")."""
    t = Templater()
    rng = random.Random(35)
    routes = {"entity": ["id", "name", "merge", "batch-delete"], "group": ["id", "name"], "persona": ["id"]}
    reqs: list[Request] = []
    for _ in range(400):
        kind = rng.choice(list(routes))
        route = rng.choice(routes[kind])
        tail = f"/{name(rng)}" if route in ("id", "name") else ""
        reqs.append(("POST", f"/v1/identity/{kind}/{route}{tail}", 200, "data,lease_id,renewable"))
        dataset = rng.choice(["oa_citations", "cancer_moonshot", "cited_metadata"])
        reqs.append(("GET", f"/ds-api/{dataset}/v1/{rng.choice(['fields', 'records'])}", 200, "fields,total"))
    feed(t, reqs)
    for kind in routes:
        assert (tpl(t, f"/v1/identity/{kind}/id/amber-kettle3", "POST") or "").startswith(f"/v1/identity/{kind}/")
    got = {tpl(t, f"/ds-api/{d}/v1/fields") for d in ("oa_citations", "cancer_moonshot", "cited_metadata")}
    assert len(got) == 1 and (got.pop() or "").startswith("/ds-api/{"), got


def test_busy_routes_beside_accounts_at_an_api_root_stay_literal() -> None:
    """ "/api/v1/user", "/api/v1/purge" beside a churning tail of account slugs
    ("/api/v1/{account}/sites"): a busy value holding none of the accounts' routes is a route of
    its own; a busy account, holding their routes, stays one of them."""
    t = Templater()
    rng = random.Random(36)
    reqs: list[Request] = []
    for _ in range(400):
        r = rng.random()
        if r < 0.15:
            reqs.append(("GET", "/api/v1/user", 200, "id,email,full_name"))
        elif r < 0.25:
            reqs.append(("POST", "/api/v1/purge", 202, "ok,queued"))
        elif r < 0.35:
            reqs.append(("GET", "/api/v1/busy-corp/sites", 200, "id,name,url"))
        else:
            account = f"{name(rng)}x"
            reqs.append(("GET", f"/api/v1/{account}/{rng.choice(['sites', 'members'])}", 200, "id,name,url"))
    feed(t, reqs)
    assert tpl(t, "/api/v1/user") == "/api/v1/user"
    assert tpl(t, "/api/v1/purge", "POST") == "/api/v1/purge"
    assert tpl(t, "/api/v1/busy-corp/sites") == tpl(t, "/api/v1/newcomer-9/sites")
    assert (tpl(t, "/api/v1/newcomer-9/sites") or "").startswith("/api/v1/{")


def test_busy_collections_answering_alike_at_an_api_root_stay_literal() -> None:
    """ "/api/v1/blocks", "/api/v1/mutes", "/api/v1/endorsements": each a list of accounts, asked
    for again and again right under the API root: collections of one kind of record, not the
    values of a parameter (values churn)."""
    t = Templater()
    rng = random.Random(37)
    colls = ["blocks", "mutes", "endorsements", "directory", "followers"]
    reqs: list[Request] = [
        ("GET", f"/api/v1/{zipf(rng, colls, 1)[0]}", 200, "id,username,acct,display_name") for _ in range(300)
    ]
    reqs += [("GET", "/api/v1/instance", 200, "uri,title,version") for _ in range(50)]
    feed(t, reqs)
    for c in colls:
        assert tpl(t, f"/api/v1/{c}") == f"/api/v1/{c}"
