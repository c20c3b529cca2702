"""Flatten a message body into ``(field_path, value)`` pairs, whatever its content type.

Paths use one notation for every format so PII findings and schema inference line up:
``user.address.city`` for nested objects, ``items[].email`` for array elements (the index is dropped
so every element of an array reports under one field), ``form_field`` for form / multipart fields,
``root.child.@attr`` for XML attributes. A plain-text body is one pair with the empty path.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qsl
from xml.etree import ElementTree

import orjson

# Bodies are capped before parsing: PII detection must stay O(small) per exchange, and a field near
# the end of a multi-megabyte body is rare compared with the cost of always parsing all of it.
MAX_BODY_BYTES = 256 * 1024
# Pathological nesting would otherwise blow the recursion limit (and the time budget).
MAX_DEPTH = 32
# Upper bound on pairs per body; huge arrays repeat the same paths, so later elements add little.
MAX_PAIRS = 2000

_BOUNDARY_RE = re.compile(r'boundary="?([^";]+)"?', re.IGNORECASE)
_DISPOSITION_NAME_RE = re.compile(rb'\bname="([^"]*)"', re.IGNORECASE)
_DISPOSITION_FILE_RE = re.compile(rb'\bfilename="?([^";\r\n]*)', re.IGNORECASE)


def _media_type(content_type: str | None) -> str:
    if not content_type:
        return ""
    return content_type.split(";", 1)[0].strip().lower()


class JsonNumber(str):
    """The text of a JSON number (``12345678901`` rather than ``"12345678901"``).

    A plain ``str`` to every consumer; PII detection checks the type, because identifiers,
    counters and timestamps are sent as numbers while phone numbers and card numbers (leading
    zeros, "+", formatting) are sent as strings.
    """

    __slots__ = ()


def _scalar(value: Any) -> str | None:
    """JSON scalar as text; None (JSON null) yields nothing to scan."""
    if value is None:
        return None
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return value
    return JsonNumber(value)


KeyMap = Callable[[str], str]


def _walk_json(node: Any, path: str, out: list[tuple[str, str]], depth: int, key_map: KeyMap | None) -> None:
    if len(out) >= MAX_PAIRS or depth > MAX_DEPTH:
        return
    # orjson yields exact dicts, lists, str, int, float, bool and None. Scalar children are
    # appended here rather than by a recursive call (most leaves are scalars): same pairs, same
    # order, same MAX_PAIRS / MAX_DEPTH cut-offs, without a Python call per leaf.
    kind = type(node)
    if kind is dict or (kind is not list and isinstance(node, dict)):
        prefix = f"{path}." if path else ""
        leaf_ok = depth < MAX_DEPTH  # a scalar child sits at depth + 1
        for key, child in node.items():
            name = key_map(key) if key_map is not None else key
            child_path = prefix + name if prefix else str(name)
            ctype = type(child)
            if ctype is str:
                if leaf_ok and len(out) < MAX_PAIRS:
                    out.append((child_path, child))
            elif child is None or ctype is int or ctype is float or ctype is bool:
                if child is not None and leaf_ok and len(out) < MAX_PAIRS:
                    out.append((child_path, _scalar(child)))  # type: ignore[arg-type]
            else:
                _walk_json(child, child_path, out, depth + 1, key_map)
    elif kind is list or isinstance(node, list):
        child_path = f"{path}[]"
        leaf_ok = depth < MAX_DEPTH
        for child in node:
            ctype = type(child)
            if ctype is str:
                if leaf_ok and len(out) < MAX_PAIRS:
                    out.append((child_path, child))
            elif child is None or ctype is int or ctype is float or ctype is bool:
                if child is not None and leaf_ok and len(out) < MAX_PAIRS:
                    out.append((child_path, _scalar(child)))  # type: ignore[arg-type]
            else:
                _walk_json(child, child_path, out, depth + 1, key_map)
    else:
        text = _scalar(node)
        if text is not None:
            out.append((path, text))


def flatten_json(data: bytes, key_map: KeyMap | None = None) -> list[tuple[str, str]] | None:
    """Pairs from a JSON document, or None when it is not JSON (caller falls back to text)."""
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    out: list[tuple[str, str]] = []
    _walk_json(doc, "", out, 0, key_map)
    return out


def flatten_form(text: str) -> list[tuple[str, str]]:
    return parse_qsl(text, keep_blank_values=False)[:MAX_PAIRS]


def _local(tag: str) -> str:
    # "{namespace}tag" -> "tag": namespaces would make every path unreadable and unique per vendor.
    return tag.rsplit("}", 1)[-1] if tag.startswith("{") else tag


def _walk_xml(elem: ElementTree.Element, path: str, out: list[tuple[str, str]], depth: int) -> None:
    if len(out) >= MAX_PAIRS or depth > MAX_DEPTH:
        return
    for name, value in elem.attrib.items():
        out.append((f"{path}.@{_local(name)}", value))
    children = list(elem)
    text = (elem.text or "").strip()
    if text:
        out.append((path, text))
    for child in children:
        if isinstance(child.tag, str):  # skip comments / processing instructions
            _walk_xml(child, f"{path}.{_local(child.tag)}", out, depth + 1)


def flatten_xml(data: bytes) -> list[tuple[str, str]] | None:
    # A DTD is the only way to get entity expansion (billion laughs, external entities); API
    # payloads never need one, so such documents are scanned as plain text instead of parsed.
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        return None
    try:
        root = ElementTree.fromstring(data)
    except ElementTree.ParseError:
        return None
    out: list[tuple[str, str]] = []
    _walk_xml(root, _local(root.tag), out, 0)
    return out


def _multipart_parts(content_type: str, data: bytes) -> Iterator[tuple[str, str, bytes]]:
    """(name, content type, body) of each part; a tolerant splitter, not a validating parser."""
    match = _BOUNDARY_RE.search(content_type)
    if not match:
        return
    delimiter = b"--" + match.group(1).encode("latin-1")
    for chunk in data.split(delimiter)[1:]:
        if chunk.startswith(b"--"):  # closing delimiter
            break
        head, sep, body = chunk.partition(b"\r\n\r\n")
        if not sep:
            head, sep, body = chunk.partition(b"\n\n")
            if not sep:
                continue
        if body.endswith(b"\r\n"):
            body = body[:-2]
        elif body.endswith(b"\n"):
            body = body[:-1]
        name_match = _DISPOSITION_NAME_RE.search(head)
        name = name_match.group(1).decode("utf-8", "replace") if name_match else ""
        part_type = ""
        for line in head.split(b"\n"):
            if line.lower().startswith(b"content-type:"):
                part_type = line.split(b":", 1)[1].strip().decode("latin-1")
        if _DISPOSITION_FILE_RE.search(head) and not _is_texty(_media_type(part_type)):
            continue  # uploaded binary file: nothing field-shaped to scan
        yield name, part_type, body


def _is_texty(media: str) -> bool:
    return (
        not media
        or media.startswith("text/")
        or media.endswith("json")
        or media.endswith("+json")
        or media.endswith("xml")
        or media == "application/x-www-form-urlencoded"
    )


def _prefixed(prefix: str, pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    if not prefix:
        return pairs
    return [(f"{prefix}.{path}" if path else prefix, value) for path, value in pairs]


def flatten_body(
    content_type: str | None, data: bytes, *, key_map: KeyMap | None = None
) -> list[tuple[str, str]]:
    """``(field_path, value)`` pairs of a decoded body.

    The declared content type picks the parser; when it is absent or wrong (common in captured
    traffic) the first byte decides between JSON, XML and form, and anything else is one text pair.
    Binary bodies (not UTF-8, not a known structured type) yield nothing. ``key_map``, if given,
    renames JSON object keys on the way (PII detection maps data-as-key, such as an e-mail used as
    a map key, to a placeholder so no raw value ends up in a field path).
    """
    if not data:
        return []
    data = data[:MAX_BODY_BYTES]
    media = _media_type(content_type)
    if media.startswith("multipart/"):
        out: list[tuple[str, str]] = []
        for name, part_type, body in _multipart_parts(content_type or "", data):
            out.extend(_prefixed(name, flatten_body(part_type or "text/plain", body, key_map=key_map)))
        return out[:MAX_PAIRS]
    if not _is_texty(media) and media not in ("application/javascript", "application/graphql"):
        return []
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return []
    head = text.lstrip()[:1]
    if media.endswith("json") or (head in ("{", "[") and not media.endswith("xml")):
        pairs = flatten_json(data, key_map)
        if pairs is not None:
            return pairs
    if media.endswith("xml") or head == "<":
        pairs = flatten_xml(data)
        if pairs is not None:
            return pairs
    if media == "application/x-www-form-urlencoded" or (
        not media and "=" in text and " " not in text.strip() and "\n" not in text.strip()
    ):
        return flatten_form(text)
    return [("", text)]
