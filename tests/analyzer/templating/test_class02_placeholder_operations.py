"""Class 2 (literal siblings merged into a parameter): literals that a value's shape or a
convention marks as routes. camelCase operation names with a digit or two in them
("retrieve3ds2Result") are words, not random tokens; a segment of punctuation alone ("-" for
the current user or any parent, "~") is a placeholder literal beside the parameter it stands for."""

from __future__ import annotations

import random
import string

from analyzer.templating import Templater
from analyzer.templating.values import classify

from .helpers import Request, feed, name, tpl


def test_camel_case_operations_with_digits_are_words_and_random_ids_stay_tokens() -> None:
    for op in ("retrieve3ds2Result", "getV2UserAccountList", "authorise3dsResult", "convertToV3Format"):
        assert classify(op) == "word", op
    rng = random.Random(71)
    alphabet = string.ascii_letters + string.digits
    tokens = 0
    for _ in range(500):
        cand = "".join(rng.choice(alphabet) for _ in range(22))
        if any(c.isdigit() for c in cand) and any(c.isupper() for c in cand) and any(c.islower() for c in cand):
            assert classify(cand) == "token", cand
            tokens += 1
    assert tokens > 400
    for low in ("t535kom58f", "a8f3k2j9q1"):  # lowercase random ids keep their type
        assert classify(low) == "token"


def test_operations_with_digits_beside_word_operations_stay_literal() -> None:
    t = Templater()
    rng = random.Random(72)
    ops = ["authorise", "capture", "cancel", "refund", "retrieve3ds2Result", "adjustAuthorisation"]
    reqs: list[Request] = []
    for _ in range(300):
        op = rng.choice(ops)
        reqs.append(("POST", f"/pal/servlet/Payment/v68/{op}", 200, "pspReference,resultCode"))
    feed(t, reqs)
    assert tpl(t, "/pal/servlet/Payment/v68/retrieve3ds2Result", "POST") == "/pal/servlet/Payment/v68/retrieve3ds2Result"


def test_dash_placeholder_beside_named_objects_stays_literal() -> None:
    t = Templater()
    rng = random.Random(73)
    reqs: list[Request] = []
    users = [name(rng) for _ in range(60)]
    for _ in range(400):
        u = rng.choice(users)
        reqs.append(("GET", f"/apis/v1alpha1/users/{u}", 200, "metadata,spec,status"))
        reqs.append(("PUT", f"/apis/v1alpha1/users/{u}/password", 200, "metadata,spec,status"))
    for _ in range(30):
        reqs.append(("GET", "/apis/v1alpha1/users/-", 200, "metadata,spec,status"))
        reqs.append(("PUT", "/apis/v1alpha1/users/-/password", 200, "metadata,spec,status"))
    feed(t, reqs)
    assert tpl(t, f"/apis/v1alpha1/users/{users[0]}") == "/apis/v1alpha1/users/{user}"
    assert tpl(t, "/apis/v1alpha1/users/-") == "/apis/v1alpha1/users/-"
    assert tpl(t, "/apis/v1alpha1/users/-/password", "PUT") == "/apis/v1alpha1/users/-/password"
