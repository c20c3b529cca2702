"""Decoders for payload inspection: what an attacker encoded, the way a server will decode it.

Each function is pure and total (any text in, text out, no exception). :func:`variants` returns
the distinct forms of one value that the injection signatures are matched against: the value
URL-decoded up to three times (``%252e`` is a double-encoded ``.``), ``%uXXXX`` and overlong
UTF-8 (``%c0%ae``) resolved, HTML entities resolved, NUL bytes and ``\\`` path separators
normalised, Unicode compatibility forms folded (full-width ``＜script＞``), lower-cased. Evasion
transforms specific to one class (SQL comments, shell quoting, Log4j lookups) live here too, and
each signature says which one it needs.
"""

from __future__ import annotations

import html
import re
import unicodedata
from urllib.parse import unquote, unquote_plus

MAX_VALUE = 8192  # characters of one value inspected; the rest cannot change a verdict
MAX_ROUNDS = 3

_PCT = re.compile(r"%[0-9a-fA-F]{2}")
_PCT_U = re.compile(r"%u([0-9a-fA-F]{4})")
_OVERLONG = re.compile(r"%c0%(?:ae|af|2e|2f)|%c1%(?:9c|1c|af)|%e0%80%(?:ae|af)", re.IGNORECASE)
_OVERLONG_MAP = {"ae": ".", "2e": ".", "af": "/", "2f": "/", "9c": "\\", "1c": "\\"}
_BACKSLASH_ESC = re.compile(r"\\(?:x([0-9a-fA-F]{2})|u([0-9a-fA-F]{4}))")
_SQL_COMMENT = re.compile(r"/\*(?!!).*?\*/|/\*!\d*|\*/|--[^\n]*$|#[^\n]*$", re.MULTILINE | re.DOTALL)
_LAX_ENTITY = re.compile(r"&(tab|newline|colon|lpar|rpar|sol|bsol|lt|gt|quot|apos|lbrace|rbrace|lcub|rcub|dollar);?", re.IGNORECASE)
_LAX_MAP = {"tab": "\t", "newline": "\n", "colon": ":", "lpar": "(", "rpar": ")", "sol": "/", "bsol": "\\",
            "lt": "<", "gt": ">", "quot": '"', "apos": "'", "lbrace": "{", "rbrace": "}", "lcub": "{", "rcub": "}",
            "dollar": "$"}
_SPACES = re.compile(r"\s+")
_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u00b4": "'", "\u02bc": "'", "\u201c": '"', "\u201d": '"'})
_LOG4J_LOOKUP = re.compile(r"\$\{(?:lower:|upper:|::-|[a-z]+:[^:{}]*:-)([^{}]*)\}", re.IGNORECASE)
_LOG4J_DATE = re.compile(r"\$\{date:'([^'{}]*)'\}", re.IGNORECASE)
_UNSET_VAR = re.compile(r"(?<=[;|&`\s])\$[a-z_]\w{0,8}\s+(?=[a-z])")
_SHELL_NOISE = re.compile(r"""["'\\^]|\$@|\$\$|\$!|\$[-_](?=[a-z])|\$\{?[0-9*@#?]\}?|``|\$\(\)|<\(\)|>\(\)""")


def _overlong(match: re.Match[str]) -> str:
    return _OVERLONG_MAP.get(match.group(0)[-2:].lower(), "")


def url_decode(value: str, plus: bool = False) -> str:
    """One round of percent-decoding (``%uXXXX`` and overlong UTF-8 included)."""
    if "%" not in value and not (plus and "+" in value):
        return value
    value = _OVERLONG.sub(_overlong, value)
    value = _PCT_U.sub(lambda m: chr(int(m.group(1), 16)), value)
    return unquote_plus(value, errors="replace") if plus else unquote(value, errors="replace")


def url_decode_all(value: str, plus: bool = False) -> str:
    """Percent-decode until stable, at most :data:`MAX_ROUNDS` rounds (double encoding)."""
    for _ in range(MAX_ROUNDS):
        decoded = url_decode(value, plus)
        if decoded == value:
            break
        value = decoded
    return value


def html_decode(value: str) -> str:
    if "&" not in value:
        return value
    # Entities without their ';' (``&#x3c``) are decoded by browsers too, and the names of
    # whitespace/punctuation entities in any case (``&tab;`` for ``&Tab;``).
    # Each round, as an XML attribute's "&amp;tab;" is "&tab;" to the HTML that renders it.
    for _ in range(2):
        decoded = html.unescape(_LAX_ENTITY.sub(lambda m: _LAX_MAP[m.group(1).lower()], value))
        if decoded == value:
            break
        value = decoded
    return value


def escape_decode(value: str) -> str:
    r"""``\x3c`` and ``\u003c`` escapes (JavaScript, JSON written by hand)."""
    if "\\" not in value:
        return value
    return _BACKSLASH_ESC.sub(lambda m: chr(int(m.group(1) or m.group(2), 16)), value)


def fold(value: str) -> str:
    """NUL bytes out, Unicode compatibility forms folded, lower case."""
    if "\x00" in value:
        value = value.replace("\x00", "")
    if not value.isascii():
        value = unicodedata.normalize("NFKC", value)
    return value.lower()


def sql_form(value: str) -> str:
    """SQL comments to spaces, whitespace runs to one space (``UNION/**/SELECT``)."""
    if "/*" in value or "--" in value or "#" in value:
        value = _SQL_COMMENT.sub(" ", value)
    if not value.isascii():  # typographic quotes close strings in lax SQL front ends
        value = value.translate(_QUOTES)
    return _SPACES.sub(" ", value)


def shell_form(value: str) -> str:
    """Shell quoting and empty expansions removed: ``c'a't``, ``c\\at``, ``ca$@t`` -> ``cat``;
    an unset variable before a word (``;$a cat``) expands to nothing."""
    value = value.replace("${IFS}", " ").replace("$IFS", " ").replace("${ifs}", " ").replace("$ifs", " ")
    return _UNSET_VAR.sub("", _SHELL_NOISE.sub("", value))


def log4j_form(value: str) -> str:
    """Log4j lookups that only spell characters resolved: ``${${lower:j}ndi:`` -> ``${jndi:``."""
    if "${" not in value:
        return value
    for _ in range(8):
        resolved = _LOG4J_DATE.sub(lambda m: m.group(1), _LOG4J_LOOKUP.sub(lambda m: m.group(1), value))
        if resolved == value:
            break
        value = resolved
    return value


_PROSE_WORD = re.compile(r"[a-z]{2,}")
_SENTENCE_END = re.compile(r"[a-z)][.!?](?=\s|$)")
PROSE_MIN_CHARS = 400
PROSE_HEAD = 160


def is_prose(text: str) -> bool:
    """A document in natural language (an article, a ticket, a long comment): at least three
    sentences and sixty words, nearly all of it letters and spaces. Such text mentions SQL (a
    tutorial quotes ``' or 1=1 --``) rather than being spliced into a query."""
    if len(text) < PROSE_MIN_CHARS:
        return False
    words = _PROSE_WORD.findall(text)
    if len(words) < 60 or len(_SENTENCE_END.findall(text)) < 3:
        return False
    letters = sum(len(w) for w in words) + text.count(" ") + text.count("\n")
    return letters >= 0.8 * len(text)


_FIRST_SENTENCE = re.compile(r"[^\n]*?[a-z)][.!?](?=\s)|[^\n]*")


def prose_head(text: str) -> str:
    """The first sentence (or line) of a document, at most :data:`PROSE_HEAD` characters."""
    match = _FIRST_SENTENCE.match(text)
    return (match.group(0) if match else text)[:PROSE_HEAD]


_CODE_FENCE = re.compile(r"^[ \t]*```[\w+-]*[ \t]*$.*?^[ \t]*```[ \t]*$", re.MULTILINE | re.DOTALL)


def strip_code_fences(text: str) -> str:
    """Markdown fenced code blocks (a line of three backticks, the code, another) blanked: a
    README's ``npm install`` or ``SELECT ...`` sample is documentation, not a command or query
    spliced into one. (The price: a payload fenced in ``` lines is left to the other classes.)"""
    if "```" not in text:
        return text
    return _CODE_FENCE.sub(" ", text)


def variants(value: str, plus: bool = False) -> tuple[str, ...]:
    """Distinct lower-cased forms of ``value`` to match: decoded (up to 3 rounds), entities and
    escapes resolved, folded. The first is always the fully decoded form."""
    value = value[:MAX_VALUE]
    decoded = fold(escape_decode(html_decode(url_decode_all(value, plus))))
    forms = [decoded]
    once = fold(url_decode(value, plus))
    if once not in forms:
        forms.append(once)
    return tuple(forms)
