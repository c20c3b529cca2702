"""The error classes of issue 10, one test each, on crafted traffic of several API styles.

Each test feeds a Templater the way the pipeline does (observe + match per request, then
consolidate at the end of the batch) and asserts the inventory a person would write.
"""

from __future__ import annotations

import json
import random
import uuid

from analyzer.templating import Templater, classify

H = "api.example.com"


def feed(t: Templater, requests: list[tuple[str, str, int, str | None]], host: str = H) -> None:
    for method, path, status, shape in requests:
        t.observe(host, method, path, status, shape)
        t.match(host, method, path)


def tpl(t: Templater, path: str, method: str = "GET", host: str = H) -> str | None:
    m = t.match(host, method, path)
    return m.template if m is not None else None


def zipf(rng: random.Random, pool: list[str], n: int) -> list[str]:
    return rng.choices(pool, weights=[1.0 / k for k in range(1, len(pool) + 1)], k=n)


# -- class 1: a constant id-like segment is a literal -------------------------------------------


def test_class1_constant_id_like_root_is_a_literal() -> None:
    t = Templater()
    rng = random.Random(1)
    app = "5f3a9c2e7b1d4a6f8e0c2b4d"  # the same Mongo-like app id in every request
    reqs = []
    for _ in range(400):
        sub = rng.choice(["users", "orders", "settings", "events"])
        if sub in ("users", "orders"):
            reqs.append(("GET", f"/apps/{app}/{sub}/{rng.randint(1, 10**6)}", 200, "id,name,kind"))
        else:
            reqs.append(("GET", f"/apps/{app}/{sub}", 200, f"items,{sub}"))
    feed(t, reqs)
    t.consolidate()
    assert tpl(t, f"/apps/{app}/users/77") == f"/apps/{app}/users/{{userId}}"
    assert tpl(t, f"/apps/{app}/settings") == f"/apps/{app}/settings"
    # A second app seen later turns the position into a parameter.
    other = "6a1b2c3d4e5f60718293a4b5"
    feed(t, [("GET", f"/apps/{other}/users/5", 200, "id,name,kind")])
    t.consolidate()
    assert tpl(t, f"/apps/{other}/users/5") == "/apps/{appId}/users/{userId}"


# -- class 2: literal siblings stay apart -------------------------------------------------------


def test_class2_rpc_method_names_are_not_merged() -> None:
    t = Templater()
    rng = random.Random(2)
    methods = [
        "chat.postMessage", "users.list", "users.info", "conversations.history", "conversations.list",
        "files.upload", "reactions.add", "team.info", "auth.test", "chat.update", "users.lookupByEmail",
        "pins.add", "bots.info", "emoji.list", "dnd.info", "stars.add", "search.messages", "views.open",
    ]  # fmt: skip
    verbs = ["redeemCode", "bookTicker", "getAsset", "placeOrder", "queryOrder", "cancelOrder",
             "openOrders", "myTrades", "tradeFee", "assetDetail", "depositAddress", "withdrawHistory"]  # fmt: skip
    reqs = [("POST", f"/api/{m}", 200, f"ok,{m}") for m in zipf(rng, methods, 600)]
    reqs += [("GET", f"/sapi/v1/{v}", 200, None) for v in zipf(rng, verbs, 300)]
    reqs += [("POST", "/api/rarely.used" + str(i), 200, None) for i in range(3)]
    feed(t, reqs)
    t.consolidate()
    for m in methods:
        assert tpl(t, f"/api/{m}", "POST") == f"/api/{m}"
    for v in verbs:
        assert tpl(t, f"/sapi/v1/{v}") == f"/sapi/v1/{v}"


def test_class2_route_siblings_saturate_while_ids_churn() -> None:
    t = Templater()
    rng = random.Random(3)
    # Forty operations under an item, Zipf-popular (some seen once), answering one envelope...
    ops = [f"Op{name}" for name in ("Similar", "Intros", "ThemeSongs", "Download", "Images", "Lyrics")]
    ops += [f"Extra{i}" for i in range(34)]
    reqs = []
    for op in zipf(rng, ops, 3000):
        reqs.append(("GET", f"/Items/{uuid.UUID(int=rng.getrandbits(128)).hex}/{op}", 200, None))
    # ...while usernames under /u/ keep arriving.
    users = [f"user{k}{rng.choice('abcdefgh')}" for k in range(3000)]
    reqs += [("GET", f"/u/{u}", 200, "id,username,name") for u in zipf(rng, users, 800)]
    feed(t, reqs)
    t.consolidate()
    assert tpl(t, "/Items/0123456789abcdef0123456789abcdef/OpSimilar") == "/Items/{itemId}/OpSimilar"
    assert tpl(t, "/Items/0123456789abcdef0123456789abcdef/Extra33") in (
        "/Items/{itemId}/Extra33",
        None,
    )
    assert tpl(t, "/u/brandnew") == "/u/{u}"


# -- class 3: low-cardinality parameters --------------------------------------------------------


def test_class3_low_cardinality_values_answering_alike_are_a_parameter() -> None:
    t = Templater()
    rng = random.Random(4)
    reqs = []
    for _ in range(300):
        reqs.append(
            ("GET", f"/rates/{rng.choice(['USD', 'EUR', 'GBP', 'JPY', 'CHF'])}", 200, "base,quote,rate,as_of")
        )
        kind = rng.choice(["virtualmachines", "disks", "snapshots"])
        ns = rng.choice(["default", "prod", "staging", "dev"])
        reqs.append(("GET", f"/namespaces/{ns}/{kind}", 200, f"apiVersion,items,kind,metadata,{kind}"))
    feed(t, reqs)
    t.consolidate()
    assert tpl(t, "/rates/EUR") == "/rates/{rate}"
    assert tpl(t, "/namespaces/prod/disks") == "/namespaces/{namespace}/disks"


# -- class 4: titles ----------------------------------------------------------------------------


def test_class4_titles_are_one_parameter() -> None:
    t = Templater()
    rng = random.Random(5)
    first = ["Albert", "Marie", "Isaac", "Ada", "Alan", "Grace", "Nikola", "Rosalind", "Niels", "Emmy"]
    last = [
        "Einstein",
        "Curie",
        "Newton",
        "Lovelace",
        "Turing",
        "Hopper",
        "Tesla",
        "Franklin",
        "Bohr",
        "Noether",
    ]
    titles = [f"{a}_{b}" for a in first for b in last] + [
        "Caf%C3%A9_au_lait",
        "M%C3%BCnchen",
        "Mercury_(planet)",
    ]
    reqs = []
    for title in zipf(rng, titles, 900):
        shape = "title,pageid,extract" if rng.random() < 0.8 else "title,pageid,redirect,to"
        reqs.append(("GET", f"/wiki/{title}", 200, shape))
    feed(t, reqs)
    t.consolidate()
    for title in titles:
        assert tpl(t, f"/wiki/{title}") == "/wiki/{wikiName}", title


# -- class 5: parameters inside a segment -------------------------------------------------------


def test_class5_parameters_inside_a_segment_keep_the_shape() -> None:
    t = Templater()
    rng = random.Random(6)
    people = ["russellwhyte", "scottketchum", "ronaldmundy", "javieralfred", "willieashmore"]
    reqs = []
    for _ in range(200):
        reqs.append(("GET", f"/TripPin/People('{rng.choice(people)}')", 200, "UserName,FirstName,LastName"))
        reqs.append(
            ("GET", f"/TripPin/Airports('K{rng.choice('ABCDEFG')}{rng.choice('XYZ')}')", 200, "IcaoCode,Name")
        )
        lat, lon = rng.uniform(-80, 80), rng.uniform(-170, 170)
        reqs.append(("GET", f"/TripPin/GetNearestAirport(lat={lat:.4f},lon={lon:.4f})", 200, "IcaoCode,Name"))
        reqs.append(("GET", "/TripPin/GetFavoriteAirline()", 200, "AirlineCode,Name"))
        pkg = rng.choice(["Newtonsoft.Json", "Serilog", "xunit"])
        reqs.append(("GET", f"/feed/Packages(Id='{pkg}',Version='{rng.randint(1, 9)}.0')", 200, "Id,Version"))
        reqs.append(
            (
                "GET",
                f"/repos/compare/{rng.choice(['main', 'v1.0'])}...{rng.choice(['dev', 'fix-x'])}",
                200,
                None,
            )
        )
        reqs.append(
            (
                "GET",
                f"/photos/{rng.randint(1, 10**6)}/thumbnail.{rng.choice(['jpg', 'png', 'webp'])}",
                200,
                None,
            )
        )
        reqs.append(("GET", f"/Calls/CA{rng.getrandbits(128):032x}.json", 200, "sid,status"))
        reqs.append(("GET", f"/archive/{rng.randint(1990, 2020)}/{rng.randint(1, 12)}.json", 200, "docs"))
    feed(t, reqs)
    t.consolidate()
    assert tpl(t, "/TripPin/People('anyone')") == "/TripPin/People('{person}')"
    assert tpl(t, "/TripPin/Airports('KSEA')") == "/TripPin/Airports('{airport}')"
    assert (
        tpl(t, "/TripPin/GetNearestAirport(lat=1.5,lon=2.5)")
        == "/TripPin/GetNearestAirport(lat={lat},lon={lon})"
    )
    assert (
        tpl(t, "/TripPin/GetFavoriteAirline()") == "/TripPin/GetFavoriteAirline()"
    )  # two functions, two templates
    assert tpl(t, "/feed/Packages(Id='x',Version='1.0')") == "/feed/Packages(Id='{id}',Version='{version}')"
    assert tpl(t, "/repos/compare/main...feature") == "/repos/compare/{base}...{head}"
    assert tpl(t, "/photos/5/thumbnail.gif") == "/photos/{photoId}/thumbnail.{extension}"
    assert tpl(t, f"/Calls/CA{7:032x}.json") == "/Calls/{callId}.json"
    assert tpl(t, "/archive/1999/5.json") == "/archive/{archiveId}/{archiveId2}.json"
    m = t.match(H, "GET", "/TripPin/GetNearestAirport(lat=1.5,lon=2.5)")
    assert m is not None and [(p.name, p.index) for p in m.params] == [("lat", 1), ("lon", 1)]


# -- class 6: ids on rare endpoints --------------------------------------------------------------


def test_class6_ids_on_rare_endpoints_are_typed() -> None:
    assert classify("PXK3J9L") == "token"  # PagerDuty-style 7-character id
    assert classify("LHT7YSGJZ5YX2") == "token"  # Square-style
    assert classify("10.20.30.40") == "ip"
    assert classify("2001:db8::1") == "ip"
    assert classify("cus_R1WewEu2NUSh3WB8") == "token"
    t = Templater()
    feed(
        t,
        [
            ("GET", "/incidents/PXK3J9L/notes", 200, "notes"),
            ("GET", "/hosts/10.20.30.40/status", 200, "up,since"),
            ("DELETE", "/subscriptions/sub_cIjiaHKWbykjDRPR", 204, None),
            ("GET", "/members/jo.doe%40example.com", 200, "id,role"),
        ],
    )
    t.consolidate()
    assert tpl(t, "/incidents/PXK3J9L/notes") == "/incidents/{incidentId}/notes"
    assert tpl(t, "/hosts/10.20.30.40/status") == "/hosts/{hostIp}/status"
    assert tpl(t, "/subscriptions/sub_cIjiaHKWbykjDRPR", "DELETE") == "/subscriptions/{subscriptionId}"
    assert tpl(t, "/members/jo.doe%40example.com") == "/members/{memberEmail}"


# -- class 7 and 11: consolidated whatever the batching -----------------------------------------


def _small_capture(rng: random.Random) -> list[tuple[str, str, int, str | None]]:
    reqs = []
    for _ in range(10):
        # Random 10-character ids, letters and digits mixed.
        token = "".join(rng.choices("abcdefghijklmnopqrstuvwxyz", k=4)) + str(rng.randint(10, 99))
        token += "".join(rng.choices("abcdefghijklmnopqrstuvwxyz0123456789", k=3)) + str(rng.randint(1, 9))
        reqs.append(("POST", f"/api/optionsrequest/{token}", 200, "status,options,expires"))
    for _ in range(30):
        reqs.append(("GET", "/api/config", 200, "version,features"))
        reqs.append(("GET", f"/api/users/{rng.randint(1, 10**5)}", 200, "id,name"))
    rng.shuffle(reqs)
    return reqs


def test_class7_one_shot_analyze_ends_consolidated() -> None:
    t = Templater()
    reqs = _small_capture(random.Random(7))
    feed(t, reqs)
    t.consolidate()
    got = {tpl(t, p, m) for m, p, _, _ in reqs}
    assert got == {"/api/optionsrequest/{optionsrequestId}", "/api/config", "/api/users/{userId}"}
    # One more full fold changes nothing.
    for hs in t._hosts.values():  # internal: force a full re-fold
        hs.pending, hs.full_obs = 1, 0
    t.consolidate()
    assert {tpl(t, p, m) for m, p, _, _ in reqs} == got


def test_class11_batching_does_not_change_the_inventory() -> None:
    rng = random.Random(11)
    reqs = _small_capture(rng)
    users = [f"{a}{b}" for a in ("amber", "birch", "cedar", "delta", "ember") for b in range(40)]
    reqs += [("GET", f"/people/{u}", 200, "id,handle") for u in zipf(rng, users, 400)]
    reqs += [
        ("GET", f"/orders/{rng.randint(1, 10**6)}/lines/{rng.randint(1, 9)}", 200, "sku,qty")
        for _ in range(300)
    ]
    rng.shuffle(reqs)
    inventories = []
    for size in (len(reqs), 500, 97, 13):
        t = Templater()
        for start in range(0, len(reqs), size):
            feed(t, reqs[start : start + size])
            t.consolidate()  # a batch analyze, or a stream pause
        inventories.append([tpl(t, p, m) for m, p, _, _ in reqs])
    assert all(inv == inventories[0] for inv in inventories[1:])


# -- class 8: one observed value is a literal ----------------------------------------------------


def test_class8_one_value_seen_is_a_literal() -> None:
    t = Templater()
    reqs = [("GET", "/generate_204", 204, None)] * 20
    reqs += [("POST", "/wp-comments-post.php", 200, None), ("GET", "/files/100MB.bin", 200, None)]
    reqs += [("GET", "/images/logo.png", 200, None), ("GET", "/images/header-background.png", 200, None)]
    reqs += [("GET", "/images/footer.png", 200, None)]
    feed(t, reqs)
    assert tpl(t, "/generate_204") == "/generate_204"  # on first sight too
    t.consolidate()
    assert tpl(t, "/generate_204") == "/generate_204"
    assert tpl(t, "/wp-comments-post.php", "POST") == "/wp-comments-post.php"
    assert tpl(t, "/files/100MB.bin") == "/files/{file}"  # under a plural collection: a file
    # Sibling images are one template whatever their names' length.
    assert tpl(t, "/images/logo.png") == tpl(t, "/images/header-background.png") == "/images/{imageFile}"


# -- class 9: junk is not inventory ---------------------------------------------------------------


def test_class9_junk_request_lines_are_unmatched_statistics() -> None:
    t = Templater()
    feed(t, [("GET", f"/users/{i}", 200, "id") for i in range(1, 50)])
    for junk in ("/uri afterspace", "garbage\x01target", "*", "http//bad", "/a/../../etc/passwd\x00"):
        t.observe(H, "GET", junk, 400, None)
        assert t.match(H, "GET", junk) is None, junk
    t.consolidate()
    assert "/uri afterspace" in t.noise_stats(H)  # kept as an unmatched-request statistic
    assert tpl(t, "/users/5") == "/users/{userId}"


# -- class 10: parameter names a person would write -----------------------------------------------


def test_class10_names_from_the_resource_noun() -> None:
    t = Templater()
    feed(
        t,
        [
            ("GET", "/movies/8812", 200, "id,title"),
            ("GET", "/categories/3/policies/9", 200, "id"),
            ("GET", "/customers/by-email/jo%40example.com", 200, "id"),
            ("GET", "/registration5Gz/1.2.3", 200, "id"),
            ("GET", "/people/4411", 200, "id"),
        ],
    )
    assert tpl(t, "/movies/8812") == "/movies/{movieId}"
    assert tpl(t, "/categories/3/policies/9") == "/categories/{categoryId}/policies/{policyId}"
    assert tpl(t, "/customers/by-email/jo%40example.com") == "/customers/by-email/{byEmail}"
    assert tpl(t, "/registration5Gz/1.2.3") == "/registration5Gz/{version}"
    assert tpl(t, "/people/4411") == "/people/{personId}"


# -- issue 14: PII in paths -----------------------------------------------------------------------

PLANTED = ["jane.roe@example.com", "536-90-4821", "4111111111111111", "+14155550123", "5500-0000-0000-0004"]


def test_pii_segments_are_typed_parameters_and_never_stored_raw() -> None:
    t = Templater()
    rng = random.Random(14)
    reqs = []
    for value in PLANTED:
        reqs.append(("GET", f"/people/{value}", 200, "id,name"))
        reqs.append(("GET", f"/people/{value}/history", 200, "events"))
        reqs.append(("GET", f"/lookup/{value}", 404, None))  # noise statistics too
    reqs += [("GET", f"/people/{rng.randint(1, 10**6)}", 200, "id,name") for _ in range(50)]
    reqs += [("GET", f"/accounts/{PLANTED[1]}/summary", 200, "total")] * 60  # constant, still PII
    feed(t, reqs)
    t.consolidate()
    for value in PLANTED:
        got = tpl(t, f"/people/{value}/history")
        assert got is not None and got.startswith("/people/{") and value not in got
    summary = tpl(t, f"/accounts/{PLANTED[1]}/summary")
    assert summary == "/accounts/{accountSsn}/summary"
    state = json.dumps(t.to_state())
    for value in PLANTED:
        assert value not in state
        assert value.replace("@", "%40") not in state
    assert not any(value in path for value in PLANTED for path in t.noise_stats(H))
    # Decisions do not need the raw values: a round trip gives the same templates.
    r = Templater.from_state(json.loads(state))
    probes = [p for _, p, _, _ in reqs] + ["/people/other@example.org/history"]
    assert [tpl(t, p) for p in probes] == [tpl(r, p) for p in probes]
