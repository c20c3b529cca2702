"""Class 6 (id kept literal, rare endpoint): leaves of a proven name parameter asked for once by
another method ("POST /totp/keys/{name}" beside GETs of other names) answer nothing the
others answer, so they found a group of their own; never contradicting the proven group and
shaped like names people give, they are its values. Plain words so placed ("/lists/{id}/name")
are fields or acts and stay literal."""

from __future__ import annotations

import random

from analyzer.templating import Templater

from .helpers import Request, feed, name, tpl


def test_rare_names_answering_only_another_method_join_the_proven_names() -> None:
    t = Templater()
    rng = random.Random(121)
    reqs: list[Request] = []
    for _ in range(200):
        reqs.append(("GET", "/totp/keys/", 200, "keys"))
    got_names = list(dict.fromkeys(name(rng) for _ in range(12)))
    for n in got_names[:6]:
        reqs.append(("GET", f"/totp/keys/{n}", 200, "account_name,issuer,period"))
    posted = got_names[6:8]
    for n in posted:
        reqs.append(("POST", f"/totp/keys/{n}", 200, "barcode,url"))
    feed(t, reqs)
    ref = tpl(t, f"/totp/keys/{got_names[0]}") or ""
    assert ref.startswith("/totp/keys/{"), ref
    for n in posted:
        assert tpl(t, f"/totp/keys/{n}", "POST") == ref


def test_plain_field_words_stay_literal() -> None:
    t = Templater()
    rng = random.Random(122)
    reqs: list[Request] = []
    for _ in range(300):
        reqs.append(("GET", f"/lists/{rng.randint(1, 99999)}", 200, "id,name,closed"))
    for field in ("name", "closed", "pos", "subscribed"):
        reqs.append(("PUT", f"/lists/{rng.randint(1, 99999)}/{field}", 200, "id,name,closed"))
    reqs.append(("POST", f"/lists/{rng.randint(1, 99999)}/archiveAllCards", 200, "limits"))
    feed(t, reqs)
    assert tpl(t, "/lists/42/archiveAllCards", "POST") == "/lists/{listId}/archiveAllCards"


def test_rare_kebab_case_acts_do_not_tip_busy_routes_into_a_parameter() -> None:
    t = Templater()
    rng = random.Random(123)
    reqs: list[Request] = []
    for _ in range(200):
        pid = name(rng)
        reqs.append(("GET", f"/plugins/{pid}", 200, "metadata,spec,status"))
        route = rng.choice(["reset-config", "json-config", "setting"])
        reqs.append(("PUT", f"/plugins/{pid}/{route}", 200, "metadata,spec,status"))
    reqs.append(("POST", f"/plugins/{name(rng)}/upgrade-from-uri", 200, "message"))
    feed(t, reqs)
    assert tpl(t, "/plugins/amber-lamp7/reset-config", "PUT") == "/plugins/{plugin}/reset-config"
