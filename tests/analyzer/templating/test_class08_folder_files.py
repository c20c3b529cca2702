"""Class 8: one folder's files end one way. Sibling files in one folder are all values of the
folder's parameter, or all literals, decided over the folder's evidence, never split by each
name's shape (short words, reserved words, numbers, long separated names)."""

from __future__ import annotations

from analyzer.templating import Templater
from analyzer.templating.folders import is_file_name, value_kind

from .helpers import Request, feed, tpl

# Every shape a static folder's names take: plain words, a reserved word ("new", "save"),
# numbers, long separated names, camelCase.
ICONS = ["arrow.gif", "new.gif", "save.gif", "2001.gif", "2002.gif", "close-button-dark.gif",
         "tab_separator.gif", "spinner.gif", "pageHeader.gif", "dot.gif"]


def test_a_static_folder_is_one_parameter_whatever_the_names() -> None:
    t = Templater()
    reqs: list[Request] = [("GET", f"/skin/plain/ltr/{icon}", 200, None) for icon in ICONS]
    reqs += [("GET", "/skin/plain/main.css", 200, None), ("GET", "/", 200, None)]
    feed(t, reqs)
    got = {icon: tpl(t, f"/skin/plain/ltr/{icon}") for icon in ICONS}
    assert set(got.values()) == {"/skin/plain/ltr/{file}"}, got
    # A file seen once at its position stays a literal: one file is no folder.
    assert tpl(t, "/skin/plain/main.css") == "/skin/plain/main.css"


def test_sibling_files_join_a_parameter_proven_by_the_words() -> None:
    """Word file names proven a parameter on their own evidence take the reserved-word file
    beside them ("latest.png" is no route among pictures)."""
    t = Templater()
    pics = ["harbor-view.png", "city-lights.png", "old-bridge.png", "night-sky.jpg", "river-bank.png",
            "green-hills.jpg", "latest.png"]
    reqs: list[Request] = [("GET", f"/gallery/pictures/{p}", 200, None) for p in pics]
    feed(t, reqs)
    assert {tpl(t, f"/gallery/pictures/{p}") for p in pics} == {"/gallery/pictures/{pictureFile}"}


def test_well_known_files_at_the_root_stay_literal() -> None:
    """Right under the root, a generated-looking name or two beside well-known files prove
    nothing: "/favicon.ico" stays itself."""
    t = Templater()
    reqs: list[Request] = [
        ("GET", "/favicon.ico", 200, None),
        ("GET", "/apple-touch-icon-120x120.png", 200, None),
        ("GET", "/crossdomain.swf", 200, None),
        ("GET", "/api/v1/status", 200, "ok"),
    ]
    feed(t, reqs * 3)
    assert tpl(t, "/favicon.ico") == "/favicon.ico"
    assert tpl(t, "/apple-touch-icon-120x120.png") == "/apple-touch-icon-120x120.png"


def test_one_more_fold_keeps_the_folder_whole() -> None:
    t = Templater()
    feed(t, [("GET", f"/skin/plain/ltr/{icon}", 200, None) for icon in ICONS])
    before = {icon: tpl(t, f"/skin/plain/ltr/{icon}") for icon in ICONS}
    for hs in t._hosts.values():  # internal: force a full fold
        hs.pending, hs.full_obs = 1, 0
    t.consolidate()
    assert {icon: tpl(t, f"/skin/plain/ltr/{icon}") for icon in ICONS} == before


def test_files_and_representations() -> None:
    assert is_file_name("new.png") and is_file_name("2001.gif") and is_file_name("jquery.min.js")
    assert not is_file_name("orders.json") and not is_file_name("index.html") and not is_file_name("orders")
    assert value_kind("2001.gif") == "file"  # an id with an extension, in a folder: a file
    assert value_kind("2001") == "integer"
