"""Junk is statistics, not inventory (issue 10, class 9).

Two kinds of request facts are kept apart from endpoints and parameters, counted per
(service, method, kind, masked sample) in ``unmatched_requests``:

* ``malformed_target``: the request has no usable target, so it is no request *of an endpoint*:
  the target is empty, not origin-form (``garbage``) or holds whitespace or control characters
  (``GET /uri afterspace``, which the sensor tags ``bad_request_line``), or is only the protocol
  version glued on (``GET /HTTP/1.1``, the target lost with the space). The exchange is
  counted here instead of under an endpoint or a noise path.
* ``bare_query_value``: a query item without ``=`` that is a value, not a name
  (``?13434210384389`` cache busters, ``?AIzaSy...`` keys): the request still counts under its
  endpoint, but the value never becomes a parameter *name*.

Samples are masked: every value-shaped token (numbers, hex, tokens, e-mail addresses, card
numbers...) is replaced by its type, control characters are escaped, length is bounded. A
credential sent as a bare query value is stored as ``{token}``, never as itself.
"""

from __future__ import annotations

import re
from urllib.parse import unquote_plus

from analyzer.templating.paths import is_junk_target
from analyzer.templating.values import STRONG_TYPES, classify

MALFORMED_TARGET = "malformed_target"
BARE_QUERY_VALUE = "bare_query_value"
MAX_SAMPLE_CHARS = 200

# Value shapes that are data whatever the position ("file" names are kept: ``?index.html``).
_VALUE_TYPES = STRONG_TYPES - {"file"}
_SEPARATORS = re.compile(r"([/?&=;,:+\s\x00-\x1f\x7f]+)")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# The protocol version glued to the target ("GET /HTTP/1.1": the space before it lost): the
# request line's target is gone, what is left names no resource.
_GLUED_VERSION = re.compile(r"(?:^|/)HTTP/\d(?:\.\d)?")


def malformed(method: str, target: str, path: str) -> bool:
    """True when the request is no request of an endpoint (see the module docstring).

    The forms RFC 9112 allows besides origin- and absolute-form are not junk: ``CONNECT
    host:port`` (authority-form) and ``OPTIONS *`` (asterisk-form) ask no endpoint either, and
    stay the templater's noise statistics as before. A bad-request-line tag alone does not make
    a target junk (``GET /`` without a version is an HTTP/0.9 request)."""
    if not target.strip():
        return True
    bare = target.partition("#")[0].partition("?")[0]
    if _GLUED_VERSION.fullmatch(bare):
        return True  # (even for CONNECT: a version is no authority)
    if method == "CONNECT" or (target == "*" and method == "OPTIONS"):
        return False
    if target.startswith(("http://", "https://")):
        return is_junk_target(path)  # absolute-form: the path split_target kept is what counts
    return is_junk_target(bare) or _CONTROL.search(target) is not None


def bare_values(query: str) -> tuple[list[str], set[str]]:
    """(types of the bare query values, the raw names parse_qsl gives them) of ``query``."""
    types: list[str] = []
    names: set[str] = set()
    if "&" not in query and ";" not in query and "=" in query:
        return [], set()  # one name=value item: the common case
    for part in query.replace(";", "&").split("&"):
        if not part or "=" in part:
            continue
        name = unquote_plus(part)
        typ = classify(name)
        if typ in _VALUE_TYPES:
            types.append(typ)
            names.add(name[:255])
    return types, names


def masked(text: str) -> str:
    """``text`` with every value-shaped token replaced by ``{type}``, control characters escaped,
    at most MAX_SAMPLE_CHARS characters."""
    out: list[str] = []
    for i, piece in enumerate(_SEPARATORS.split(text[: MAX_SAMPLE_CHARS * 2])):
        if i % 2:
            out.append(_CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", piece))
            continue
        if not piece:
            continue
        typ = classify(piece)
        out.append("{" + typ + "}" if typ in _VALUE_TYPES else _CONTROL.sub("?", piece))
    return "".join(out)[:MAX_SAMPLE_CHARS]
