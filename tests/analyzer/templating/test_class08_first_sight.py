"""Class 8: literals parameterised on first sight. A route asked for in a representation
("/tag_groups.json", "/uploads/complete-external-upload.json") is a route name, however long and
separated; generated file names carry digits ("invoice_8812.csv", "2024-Q3-summary.pdf")."""

from __future__ import annotations

import random

from analyzer.templating import Templater, classify

from .helpers import Request, feed, tpl

ROUTES = ["tag_groups", "user_actions", "site_settings", "user-badges", "admin_dashboard", "categories"]


def test_route_names_in_a_representation_are_words() -> None:
    assert classify("tag_groups.json") == "word"
    assert classify("complete-external-upload.json") == "word"
    assert classify("invoice_8812.csv") == "file"
    assert classify("2024-Q3-summary.pdf") == "file"
    assert classify("quarterly-report-final.pdf") == "file"
    # Page slugs are sentences, not route names: alike values of one page parameter.
    assert classify("how-to-renew-coverage.json") == "file"


def test_route_names_with_json_suffix_stay_literal_at_the_root() -> None:
    t = Templater()
    rng = random.Random(81)
    reqs: list[Request] = []
    for _ in range(400):
        route = rng.choice(ROUTES)
        reqs.append(("GET", f"/{route}.json", 200, f"{route},meta"))
        op = rng.choice(["abort-multipart", "complete-external-upload", "generate-presigned-put"])
        reqs.append(("POST", f"/uploads/{op}.json", 200, f"ok,{op}"))
    feed(t, reqs)
    for route in ROUTES:
        assert tpl(t, f"/{route}.json") == f"/{route}.json"
    assert tpl(t, "/uploads/abort-multipart.json", "POST") == "/uploads/abort-multipart.json"
