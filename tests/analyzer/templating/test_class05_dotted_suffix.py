"""Class 5: a parameter after a fixed name's dot ("stream.{container}") whose values are not
known file extensions: many churning words after the same name make the part a parameter and
keep the shape; a saturated set of RPC names after a dot ("users.list") stays literal."""

from __future__ import annotations

import random

from analyzer.templating import Templater

from .helpers import Request, feed, name, tpl, zipf


def test_churning_words_after_a_fixed_name_are_an_in_segment_parameter() -> None:
    t = Templater()
    rng = random.Random(55)
    reqs: list[Request] = []
    for _ in range(250):
        vid = f"{rng.getrandbits(128):032x}"
        reqs.append(("GET", f"/Videos/{vid}/stream.{name(rng)}", 200, "bytes,range,type"))
        reqs.append(("GET", f"/Videos/{vid}/stream", 200, "bytes,range,type"))
    feed(t, reqs)
    got = tpl(t, reqs[0][1]) or ""
    assert got.startswith("/Videos/{") and got.endswith("}/stream.{" + got.rsplit(".{", 1)[-1]), got
    assert ".{" in got
    assert tpl(t, reqs[1][1]) == got.rsplit("/", 1)[0] + "/stream"


def test_saturated_dotted_method_names_stay_literal() -> None:
    t = Templater()
    rng = random.Random(56)
    methods = [f"{obj}.{verb}" for obj in ("users", "chat") for verb in ("list", "info", "lookup", "setPresence", "delete", "update")]
    reqs: list[Request] = []
    for m in zipf(rng, methods, 1500):
        reqs.append(("POST", f"/api/{m}", 200, "ok,response_metadata"))
    feed(t, reqs)
    for m in methods:
        assert tpl(t, f"/api/{m}", "POST") == f"/api/{m}"


def test_file_names_in_several_formats_are_one_value_whole() -> None:
    """"/contents/notes.txt", "/contents/ci.yaml", "/contents/data.json": names before different
    extensions at one position are file names, one parameter for the whole segment, not one
    "{}.txt" / "{}.yaml" endpoint per format."""
    t = Templater()
    rng = random.Random(58)
    reqs: list[Request] = []
    for _ in range(300):
        f = f"{name(rng).replace('-', '_')}.{rng.choice(['txt', 'yaml', 'json', 'md'])}"
        reqs.append(("DELETE", f"/api/v1/repos/octo/widgets/contents/{f}", 200, "commit,content"))
    feed(t, reqs)
    got = {tpl(t, p, "DELETE") for _, p, _, _ in reqs[:40]}
    assert len(got) == 1, got
    only = got.pop() or ""
    assert only.startswith("/api/v1/repos/octo/widgets/contents/{") and only.endswith("}"), only
