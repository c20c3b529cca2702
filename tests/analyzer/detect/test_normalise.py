"""Decoders: what servers decode, attackers encode."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from analyzer.detect import normalise


def test_double_and_overlong_encodings() -> None:
    assert normalise.url_decode_all("%252e%252e%252f") == "../"
    assert normalise.url_decode_all("%c0%ae%c0%ae%c0%af") == "../"
    assert normalise.url_decode_all("%u003cscript%u003e") == "<script>"
    assert normalise.url_decode_all("a+b", plus=True) == "a b"


def test_entities_escapes_and_folding() -> None:
    assert normalise.html_decode("&lt;img src=x onerror=alert(1)&gt;") == "<img src=x onerror=alert(1)>"
    assert normalise.escape_decode(r"\x3cscript\u003e") == "<script>"
    assert normalise.fold("＜ＳＣＲＩＰＴ＞\x00") == "<script>"
    assert normalise.variants("%253Cscript%253E")[0] == "<script>"


def test_evasion_forms() -> None:
    assert normalise.sql_form("union/**/select/*!50000*/1") == "union select 1"
    assert normalise.shell_form("c'a't /e\\tc/pa$@sswd") == "cat /etc/passwd"
    assert normalise.log4j_form("${${lower:j}${upper:n}di:ldap://x}") == "${jndi:ldap://x}"
    assert normalise.log4j_form("${${::-j}ndi:rmi://x}") == "${jndi:rmi://x}"


@given(st.text(max_size=500))
def test_decoders_are_total(text: str) -> None:
    forms = normalise.variants(text, plus=True)
    assert forms and all(isinstance(f, str) for f in forms)
    normalise.sql_form(text)
    normalise.shell_form(text)
    normalise.log4j_form(text)
