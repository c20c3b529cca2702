"""Body and parameter schema inference: field paths (``items[].email``) with JSON-ish types.

Every function here is bounded (depth, array items sampled, fields per body) because it runs on
every exchange of untrusted traffic; a body we cannot parse yields ``None`` rather than an error.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, unquote_plus
from xml.etree import ElementTree

import orjson

from analyzer.templating.privacy import key_label

FieldSet = frozenset[tuple[str, str]]  # {(field path, type)}; frozen: hashable, counted as a whole

_INT_RE = re.compile(r"^-?\d{1,18}$")
_NUM_RE = re.compile(r"^-?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?$")
_UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_BOOL_VALUES = frozenset({"true", "false"})

JSON = "json"
FORM = "form"
XML = "xml"
MULTIPART = "multipart"


def scalar_type(value: str) -> str:
    """Type of a textual value (query string, form field, XML text)."""
    if value == "":
        return "empty"
    if _INT_RE.match(value):
        return "integer"
    if _NUM_RE.match(value):
        return "number"
    if value.lower() in _BOOL_VALUES:
        return "boolean"
    if _UUID_RE.match(value):
        return "uuid"
    return "string"


def media_type(content_type: str | None) -> str:
    """``application/json; charset=utf-8`` -> ``application/json`` (lower-case, no parameters)."""
    if not content_type:
        return ""
    return content_type.split(";", 1)[0].strip().lower().replace("\x00", "")[:255]


def body_kind(mtype: str, data: bytes) -> str | None:
    """Which parser applies; sniffs JSON when the type is missing or generic."""
    if "json" in mtype:
        return JSON
    if mtype == "application/x-www-form-urlencoded":
        return FORM
    if mtype.startswith("multipart/"):
        return MULTIPART
    if "xml" in mtype:
        return XML
    if mtype in ("", "text/plain", "application/octet-stream"):
        head = data[:1].lstrip() or data.lstrip()[:1]
        if head in (b"{", b"["):
            return JSON
    return None


def query_params(query: str) -> list[tuple[str, str]]:
    """(name, type) for each query parameter, in order; names are percent-decoded."""
    out: list[tuple[str, str]] = []
    for name, value in parse_qsl(query, keep_blank_values=True):
        out.append((key_label(name)[:255], scalar_type(value)))
    return out


class _Walker:
    __slots__ = ("fields", "max_fields", "max_items", "max_depth")

    def __init__(self, max_fields: int, max_items: int, max_depth: int) -> None:
        self.fields: set[tuple[str, str]] = set()
        self.max_fields = max_fields
        self.max_items = max_items
        self.max_depth = max_depth

    def add(self, path: str, typ: str) -> bool:
        if len(self.fields) >= self.max_fields:
            return False
        self.fields.add((path[:512], typ))
        return True

    def json(self, value: object, path: str, depth: int) -> None:
        # Hot path (every JSON body of every exchange): type() identity checks and a local
        # set instead of isinstance chains and method calls; the field cap is checked per
        # container, so a body may overshoot it by one container's worth of scalars.
        fields = self.fields
        t = type(value)
        if t is dict:
            if path:
                fields.add((path[:512], "object"))
            if depth >= self.max_depth or len(fields) >= self.max_fields:
                return
            prefix = path + "." if path else ""
            for key, child in value.items():  # type: ignore[attr-defined]
                if len(key) >= 15 or "@" in key or key[:1] in _PII_KEY_STARTS:
                    key = key_label(key)  # a map keyed by e-mail address: "{email}", never the address
                ct = type(child)
                if ct is dict or ct is list:
                    self.json(child, prefix + key, depth + 1)
                else:
                    fields.add(((prefix + key)[:512], _SCALAR_TYPES.get(ct, "string")))
        elif t is list:
            fields.add((path or "$", "array"))
            if depth >= self.max_depth or len(fields) >= self.max_fields:
                return
            apath = path + "[]"
            for child in value[: self.max_items]:  # type: ignore[index]
                ct = type(child)
                if ct is dict or ct is list:
                    self.json(child, apath, depth + 1)
                else:
                    fields.add((apath[:512], _SCALAR_TYPES.get(ct, "string")))
        else:
            fields.add((path or "$", _SCALAR_TYPES.get(t, "string")))

    def xml(self, elem: ElementTree.Element, path: str, depth: int) -> None:
        for attr, value in elem.attrib.items():
            self.add(f"{path}.@{_local(attr)}", scalar_type(value))
        children = list(elem)
        if not children:
            text = (elem.text or "").strip()
            self.add(path, scalar_type(text) if text else "empty")
            return
        self.add(path, "object")
        if depth >= self.max_depth:
            return
        counts: dict[str, int] = {}
        for child in children:
            tag = _local(child.tag) if isinstance(child.tag, str) else ""
            if tag:
                counts[tag] = counts.get(tag, 0) + 1
        seen: dict[str, int] = {}
        for child in children:
            raw_tag: object = child.tag  # a function for comments and processing instructions
            if not isinstance(raw_tag, str):
                continue
            tag = _local(raw_tag)
            n = seen.get(tag, 0)
            if n >= self.max_items or len(self.fields) >= self.max_fields:
                continue
            seen[tag] = n + 1
            suffix = "[]" if counts[tag] > 1 else ""
            self.xml(child, f"{path}.{tag}{suffix}", depth + 1)


_PII_KEY_STARTS = frozenset("0123456789+")

_SCALAR_TYPES: dict[type, str] = {
    str: "string",
    int: "integer",
    float: "number",
    bool: "boolean",
    type(None): "null",
}


def _local(tag: str) -> str:
    # "{namespace}name" -> "name": namespaces are noise for an inventory.
    return tag.rsplit("}", 1)[-1]


def _multipart_boundary(content_type: str) -> bytes | None:
    match = re.search(r'boundary="?([^";]+)"?', content_type, re.IGNORECASE)
    return match.group(1).encode("latin-1", "replace") if match else None


def _multipart_fields(content_type: str, data: bytes, walker: _Walker) -> bool:
    boundary = _multipart_boundary(content_type)
    if not boundary:
        return False
    found = False
    for part in data.split(b"--" + boundary):
        head, sep, body = part.partition(b"\r\n\r\n")
        if not sep:
            head, sep, body = part.partition(b"\n\n")
        if not sep:
            continue
        head_text = head.decode("latin-1")
        name_match = re.search(r'\bname="([^"]*)"', head_text, re.IGNORECASE)
        if not name_match:
            continue
        found = True
        name = name_match.group(1)
        if re.search(r"\bfilename\*?=", head_text, re.IGNORECASE):
            walker.add(name, "file")
        else:
            value = body.rstrip(b"\r\n").decode("utf-8", "replace")
            walker.add(name, scalar_type(value))
    return found


def infer_body(
    content_type: str | None,
    data: bytes,
    *,
    max_fields: int = 500,
    max_items: int = 20,
    max_depth: int = 16,
) -> FieldSet | None:
    """Field paths and types of one body, or ``None`` when empty or not a structured format."""
    if not data:
        return None
    mtype = media_type(content_type)
    kind = body_kind(mtype, data)
    if kind is None:
        return None
    walker = _Walker(max_fields, max_items, max_depth)
    try:
        if kind == JSON:
            walker.json(orjson.loads(data), "", 0)
        elif kind == FORM:
            text = data.decode("utf-8", "replace")
            for pair in text.split("&"):
                if not pair:
                    continue
                name, _, value = pair.partition("=")
                walker.add(unquote_plus(name), scalar_type(unquote_plus(value)))
        elif kind == XML:
            # expat (Python >= 3.11 bundles >= 2.4) refuses entity-expansion bombs; external
            # entities are never fetched by ElementTree.
            root = ElementTree.fromstring(data)
            walker.xml(root, _local(root.tag), 0)
        elif kind == MULTIPART and not _multipart_fields(content_type or "", data, walker):
            return None
    except (orjson.JSONDecodeError, ElementTree.ParseError, ValueError, RecursionError):
        return None
    fields = walker.fields
    if any("\x00" in path for path, _ in fields):  # PostgreSQL text cannot hold NUL
        return frozenset((path.replace("\x00", ""), typ) for path, typ in fields)
    return frozenset(fields)
