"""Class 10: parameter names read like a person wrote them. A folder is no noun for its files
("/rtl/{file}", but "/images/{imageFile}"), and a word value right after a singular word is
that word's name ("/theme/{themeName}"), never a copy of the folder's name ("/theme/{theme}")."""

from __future__ import annotations

from analyzer.templating.model import PathParam
from analyzer.templating.naming import render


def _name(kinds: tuple[tuple[str, str], ...]) -> str:
    return render(kinds)[0]


def test_files_are_named_after_a_plural_folder_only() -> None:
    assert _name((("static", ""), ("images", ""), ("", "file"))) == "/static/images/{imageFile}"
    assert _name((("static", ""), ("ltr", ""), ("", "file"))) == "/static/ltr/{file}"
    assert _name((("static", ""), ("css", ""), ("", "file"))) == "/static/css/{file}"
    assert _name((("downloads", ""), ("", "file"))) == "/downloads/{downloadFile}"


def test_a_word_after_a_singular_word_is_its_name() -> None:
    text, params = render((("app", ""), ("theme", ""), ("", "string"), ("css", "")))
    assert text == "/app/theme/{themeName}/css"
    assert params == (PathParam("themeName", "string", 2),)
    # Members of a plural collection are named by the singular noun; ids keep their suffix.
    assert _name((("users", ""), ("", "string"))) == "/users/{user}"
    assert _name((("theme", ""), ("", "integer"))) == "/theme/{themeId}"
