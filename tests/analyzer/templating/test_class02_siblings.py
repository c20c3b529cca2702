"""Class 2 (issue 10): literal siblings are not merged into one parameter.

Leaves right after an API version ("/v68/capture", "/v68/refund") answering alike are the
operations of one RPC-style API, and leaves shaped like method names are operations wherever
they sit; both stay literal. Real ids at the same places still fold on their long tail, and
alike leaves after a resource word ("/rates/EUR") still fold.
"""

from __future__ import annotations

import random

from analyzer.templating import Templater

H = "pay.example.com"
VERBS = [
    "authorise",
    "capture",
    "refund",
    "cancel",
    "donate",
    "adjust",
    "technicalCancel",
    "cancelOrRefund",
    "voidPendingRefund",
    "getAuthenticationResult",
]


def feed(t: Templater, reqs: list[tuple[str, str, int, str | None]]) -> None:
    for method, path, status, shape in reqs:
        t.observe(H, method, path, status, shape)
        t.match(H, method, path)
    t.consolidate()


def tpl(t: Templater, path: str, method: str = "GET") -> str | None:
    m = t.match(H, method, path)
    return m.template if m is not None else None


def test_operations_after_a_version_stay_literal() -> None:
    rng = random.Random(2)
    t = Templater()
    # Every operation answers the same envelope, as payment RPC APIs do.
    reqs = [
        ("POST", f"/pal/servlet/Payment/v68/{rng.choice(VERBS)}", 200, "pspReference,response,resultCode")
        for _ in range(600)
    ]
    feed(t, reqs)
    for verb in VERBS:
        assert tpl(t, f"/pal/servlet/Payment/v68/{verb}", "POST") == f"/pal/servlet/Payment/v68/{verb}"


def test_method_shaped_leaves_stay_literal_after_any_word() -> None:
    rng = random.Random(3)
    t = Templater()
    ops = ["postMessage", "listUsers", "getInfo", "setTopic", "inviteMember"]
    feed(t, [("POST", f"/rpc/chat/{rng.choice(ops)}", 200, "ok,channel,ts") for _ in range(300)])
    for op in ops:
        assert tpl(t, f"/rpc/chat/{op}", "POST") == f"/rpc/chat/{op}"


def test_alike_leaves_after_a_resource_word_still_fold() -> None:
    # The counterpart: this must fail if the rule is applied everywhere.
    rng = random.Random(4)
    t = Templater()
    cur = ["USD", "EUR", "GBP", "JPY", "CHF"]
    feed(t, [("GET", f"/v1/rates/{rng.choice(cur)}", 200, "base,quote,rate,as_of") for _ in range(300)])
    assert tpl(t, "/v1/rates/EUR") == "/v1/rates/{rate}"


def test_ids_after_a_version_still_fold_on_their_long_tail() -> None:
    rng = random.Random(5)
    t = Templater()
    words = ["amber", "birch", "cedar", "delta", "ember", "fjord", "grove", "heath", "islet", "juniper"]
    reqs = []
    for i in range(400):
        name = f"{rng.choice(words)}-{rng.choice(words)}-{i}"
        reqs.append(("GET", f"/v2/{name}", 200, "id,owner,created"))
    feed(t, reqs)
    got = tpl(t, "/v2/cedar-amber-17")
    assert got is not None and got.startswith("/v2/{") and got.endswith("}")


def test_operation_names_with_digits_are_words_not_tokens() -> None:
    # "authorise3ds2" reads like a word; random ids with digits scattered among letters do not.
    from analyzer.templating import classify

    assert classify("authorise3ds2") == "word"
    assert classify("retrieve3ds2Result") == "word"
    for rid in ("t535kom58f", "a8f3k2j9q1", "uOPmuPwVaIxayvquMANLTt", "qAcabblEK1ax2OTPkzs9kT"):
        assert classify(rid) == "token", rid


def test_operations_with_digits_after_a_version_stay_literal() -> None:
    rng = random.Random(6)
    t = Templater()
    ops = ["authorise", "authorise3ds2", "retrieve3ds2Result", "capture", "refund", "cancel"]
    feed(t, [("POST", f"/Payment/v68/{rng.choice(ops)}", 200, "pspReference,resultCode") for _ in range(400)])
    for op in ops:
        assert tpl(t, f"/Payment/v68/{op}", "POST") == f"/Payment/v68/{op}"


def test_sub_collections_and_actions_below_an_id_stay_literal() -> None:
    rng = random.Random(7)
    t = Templater()
    subs = ["captures", "refunds", "reversals", "cancels", "amountUpdates"]
    reqs = []
    for _ in range(500):
        pid = "".join(rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789") for _ in range(16))
        reqs.append(
            ("POST", f"/v71/payments/{pid}/{rng.choice(subs)}", 201, "paymentPspReference,status,amount")
        )
    feed(t, reqs)
    for sub in subs:
        got = tpl(t, f"/v71/payments/QWERTY1234567890/{sub}", "POST")
        assert got is not None and got.endswith("}/" + sub), got


def test_field_leaves_below_an_id_still_fold() -> None:
    # Counterpart: singular field names below an id answering alike are values of one parameter.
    rng = random.Random(8)
    t = Templater()
    fields = ["name", "desc", "closed", "pinned", "url"]
    reqs = [
        ("GET", f"/boards/{rng.randint(1, 10**9)}/{rng.choice(fields)}", 200, "_value") for _ in range(500)
    ]
    feed(t, reqs)
    got = tpl(t, "/boards/77/name")
    assert got is not None and got.startswith("/boards/{") and not got.endswith("/name"), got
