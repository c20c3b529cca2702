"""Protobuf messages decoded without a schema, or with names from a FileDescriptorSet.

Schemaless (like ``protoc --decode_raw``): each field becomes a ``PbField`` with its field-number
path (``"2.1"`` for field 1 inside field 2), its wire type and an interpreted value. A
length-delimited field is a string when it is printable UTF-8, else a nested message when it
parses as one completely, else bytes. Printable text is tried first because a nested message
almost always starts with a tag byte below 0x20 (fields 1..3), which is not printable, while
short text can often be misread as a valid message.

With a ``DescriptorRegistry`` (built from the ``FileDescriptorSet`` ``protoc
--descriptor_set_out`` or server reflection give) and a message type, paths use field names
(``"user.email"``) and declared types decide the interpretation. Depth, field count and sample
lengths are bounded; bad input gives tags, never an exception.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

WIRE_VARINT, WIRE_I64, WIRE_LEN, WIRE_SGROUP, WIRE_EGROUP, WIRE_I32 = 0, 1, 2, 3, 4, 5
WIRE_NAMES = {0: "varint", 1: "i64", 2: "len", 3: "sgroup", 4: "egroup", 5: "i32"}

TAG_PB_MALFORMED = "protobuf_malformed"  # the top level is not a valid message
TAG_PB_TRUNCATED = "protobuf_truncated"  # the message was cut (capped or lost); a prefix decoded
TAG_PB_DEPTH = "protobuf_depth_limit"  # nesting deeper than the bound: kept as bytes
TAG_PB_FIELDS = "protobuf_field_limit"  # more fields than the bound: the rest dropped

MAX_DEPTH = 8
MAX_FIELDS = 2000
SAMPLE = 256  # characters / bytes of a value kept


@dataclass(frozen=True, slots=True)
class PbField:
    path: str  # "1.2" (schemaless) or "user.email" (named)
    number: int
    wire_type: str  # WIRE_NAMES value
    kind: str  # "int", "fixed64", "fixed32", "string", "bytes", "message", or a declared type name
    value: int | float | str | bytes | bool | None  # None for messages


@dataclass(frozen=True, slots=True)
class PbMessage:
    fields: tuple[PbField, ...]
    type_name: str | None = None
    tags: tuple[str, ...] = ()

    def as_object(self) -> dict[str, Any]:
        """JSON-like nesting (repeated fields as lists) for schema inference and PII detection."""
        root: dict[str, Any] = {}
        for f in self.fields:
            keys = f.path.split(".")
            node = root
            for key in keys[:-1]:
                child = node.get(key)
                if isinstance(child, list):
                    child = child[-1]
                if not isinstance(child, dict):
                    child = {}
                    node[key] = child
                node = child
            value: Any = {} if f.kind == "message" else (
                f.value.hex() if isinstance(f.value, bytes) else f.value)
            last = keys[-1]
            if last in node:
                existing = node[last]
                if f.kind == "message":
                    node[last] = (existing if isinstance(existing, list) else [existing]) + [value]
                elif isinstance(existing, list):
                    existing.append(value)
                else:
                    node[last] = [existing, value]
            else:
                node[last] = value
        return root


class _Malformed(Exception):
    pass


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = 0
    shift = 0
    while True:
        if pos >= len(data):
            raise _Malformed("truncated varint")
        b = data[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift >= 70:
            raise _Malformed("varint too long")


def _scan(data: bytes) -> list[tuple[int, int, int | bytes]] | None:
    """Top-level (number, wire type, raw value) of ``data`` if it is a valid message, else None."""
    out: list[tuple[int, int, int | bytes]] = []
    pos = 0
    try:
        while pos < len(data):
            key, pos = _varint(data, pos)
            number, wire = key >> 3, key & 7
            if number == 0 or number > 0x1FFFFFFF:
                return None
            if wire == WIRE_VARINT:
                value, pos = _varint(data, pos)
                out.append((number, wire, value))
            elif wire == WIRE_I64:
                if pos + 8 > len(data):
                    return None
                out.append((number, wire, data[pos: pos + 8]))
                pos += 8
            elif wire == WIRE_I32:
                if pos + 4 > len(data):
                    return None
                out.append((number, wire, data[pos: pos + 4]))
                pos += 4
            elif wire == WIRE_LEN:
                length, pos = _varint(data, pos)
                if pos + length > len(data):
                    return None
                out.append((number, wire, data[pos: pos + length]))
                pos += length
            else:
                return None  # groups are long deprecated; 6 and 7 do not exist
            if len(out) > MAX_FIELDS:
                break
    except _Malformed:
        return None
    return out


def _scan_prefix(data: bytes) -> list[tuple[int, int, int | bytes]]:
    """The valid fields at the start of a truncated message."""
    lo, best = 0, []
    # The longest prefix that scans cleanly: walk field by field.
    pos = 0
    while pos < len(data):
        try:
            key, p = _varint(data, pos)
            wire = key & 7
            if wire == WIRE_VARINT:
                _, p = _varint(data, p)
            elif wire == WIRE_I64:
                p += 8
            elif wire == WIRE_I32:
                p += 4
            elif wire == WIRE_LEN:
                length, p = _varint(data, p)
                p += length
            else:
                break
        except _Malformed:
            break
        if p > len(data):
            break
        pos = p
        lo = pos
    scanned = _scan(data[:lo])
    if scanned:
        best = scanned
    return best


def _printable(raw: bytes) -> str | None:
    if not raw:
        return ""
    try:
        s = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if all(c.isprintable() or c in "\t\r\n" for c in s):
        return s
    return None


def decode_message(data: bytes, *, registry: DescriptorRegistry | None = None, type_name: str | None = None,
                   truncated: bool = False, max_depth: int = MAX_DEPTH) -> PbMessage:
    tags: list[str] = []
    top = _scan(data)
    if top is None:
        top = _scan_prefix(data)
        tags.append(TAG_PB_TRUNCATED if truncated else TAG_PB_MALFORMED)
    elif truncated:
        tags.append(TAG_PB_TRUNCATED)
    fields: list[PbField] = []
    info = registry.message(type_name) if registry is not None and type_name else None
    _walk(top, "", 1, max_depth, fields, tags, registry, info)
    if len(fields) >= MAX_FIELDS:
        tags.append(TAG_PB_FIELDS)
    return PbMessage(tuple(fields[:MAX_FIELDS]), type_name if info is not None else None,
                     tuple(dict.fromkeys(tags)))


def _walk(top: list[tuple[int, int, int | bytes]], prefix: str, depth: int, max_depth: int,
          out: list[PbField], tags: list[str], registry: DescriptorRegistry | None,
          info: MessageInfo | None) -> None:
    for number, wire, raw in top:
        if len(out) >= MAX_FIELDS:
            return
        declared = info.fields.get(number) if info is not None else None
        name = declared.name if declared is not None else str(number)
        path = f"{prefix}{name}"
        wname = WIRE_NAMES[wire]
        if isinstance(raw, int):
            kind, value = _varint_value(raw, declared)
            out.append(PbField(path, number, wname, kind, value))
            continue
        if wire == WIRE_I64:
            kind = declared.type if declared is not None else "fixed64"
            v64: int | float = struct.unpack("<d", raw)[0] if kind == "double" else (
                struct.unpack("<q", raw)[0] if kind in ("sfixed64",) else int.from_bytes(raw, "little"))
            out.append(PbField(path, number, wname, kind, v64))
            continue
        if wire == WIRE_I32:
            kind = declared.type if declared is not None else "fixed32"
            v32: int | float = struct.unpack("<f", raw)[0] if kind == "float" else (
                struct.unpack("<i", raw)[0] if kind == "sfixed32" else int.from_bytes(raw, "little"))
            out.append(PbField(path, number, wname, kind, v32))
            continue
        # Length-delimited: declared type first, else the heuristics of the module docstring.
        if declared is not None:
            if declared.type == "message" and registry is not None:
                nested_info = registry.message(declared.type_name)
                nested = _scan(raw) if depth < max_depth else None
                if nested is not None:
                    out.append(PbField(path, number, wname, "message", None))
                    _walk(nested, path + ".", depth + 1, max_depth, out, tags, registry, nested_info)
                    continue
            if declared.type == "string":
                out.append(PbField(path, number, wname, "string", raw.decode("utf-8", "replace")[:SAMPLE]))
                continue
            if declared.type == "bytes":
                out.append(PbField(path, number, wname, "bytes", raw[:SAMPLE]))
                continue
            if declared.type not in ("message",):  # packed repeated scalars
                out.append(PbField(path, number, wname, "packed_" + declared.type, raw[:SAMPLE]))
                continue
        text = _printable(raw)
        if text is not None and (raw and raw[0] >= 0x20 or not raw):
            out.append(PbField(path, number, wname, "string", text[:SAMPLE]))
            continue
        nested = _scan(raw) if raw else None
        if nested:
            if depth >= max_depth:
                tags.append(TAG_PB_DEPTH)
                out.append(PbField(path, number, wname, "bytes", raw[:SAMPLE]))
                continue
            out.append(PbField(path, number, wname, "message", None))
            _walk(nested, path + ".", depth + 1, max_depth, out, tags, registry, None)
            continue
        if text is not None:
            out.append(PbField(path, number, wname, "string", text[:SAMPLE]))
        else:
            out.append(PbField(path, number, wname, "bytes", raw[:SAMPLE]))


_SIGNED = ("int32", "int64")
_ZIGZAG = ("sint32", "sint64")


def _varint_value(raw: int, declared: FieldInfo | None) -> tuple[str, int | bool]:
    if declared is None:
        return "int", raw
    t = declared.type
    if t == "bool":
        return t, bool(raw)
    if t in _ZIGZAG:
        return t, (raw >> 1) ^ -(raw & 1)
    if t in _SIGNED or t == "enum":
        return t, raw - (1 << 64) if raw >= 1 << 63 else raw
    return t, raw


# -- descriptors -----------------------------------------------------------------------------

_TYPE_NAMES = {
    1: "double", 2: "float", 3: "int64", 4: "uint64", 5: "int32", 6: "fixed64", 7: "fixed32", 8: "bool",
    9: "string", 10: "group", 11: "message", 12: "bytes", 13: "uint32", 14: "enum", 15: "sfixed32",
    16: "sfixed64", 17: "sint32", 18: "sint64",
}


@dataclass(frozen=True, slots=True)
class FieldInfo:
    number: int
    name: str
    type: str  # _TYPE_NAMES value
    type_name: str | None  # fully qualified message/enum type, without the leading dot
    repeated: bool


@dataclass(frozen=True, slots=True)
class MessageInfo:
    name: str  # fully qualified
    fields: dict[int, FieldInfo]


class DescriptorError(ValueError):
    """The bytes are not a FileDescriptorSet."""


class DescriptorRegistry:
    """Message and service shapes from a serialized ``google.protobuf.FileDescriptorSet``."""

    def __init__(self) -> None:
        self.messages: dict[str, MessageInfo] = {}
        # "pkg.Service" -> method -> (input type, output type, client streaming, server streaming)
        self.services: dict[str, dict[str, tuple[str, str, bool, bool]]] = {}

    @classmethod
    def from_bytes(cls, data: bytes) -> DescriptorRegistry:
        from google.protobuf import descriptor_pb2
        from google.protobuf.message import DecodeError

        fds = descriptor_pb2.FileDescriptorSet()
        try:
            fds.ParseFromString(data)
        except DecodeError as exc:
            raise DescriptorError(f"not a FileDescriptorSet: {exc}") from exc
        if not fds.file:
            raise DescriptorError("the FileDescriptorSet holds no files")
        reg = cls()
        for file in fds.file:
            package = file.package
            for msg in file.message_type:
                reg._add_message(package, msg)
            for svc in file.service:
                full = f"{package}.{svc.name}" if package else svc.name
                reg.services[full] = {
                    m.name: (m.input_type.lstrip("."), m.output_type.lstrip("."),
                             m.client_streaming, m.server_streaming)
                    for m in svc.method
                }
        return reg

    def _add_message(self, scope: str, msg: Any) -> None:
        full = f"{scope}.{msg.name}" if scope else msg.name
        fields = {
            f.number: FieldInfo(f.number, f.name, _TYPE_NAMES.get(f.type, "unknown"),
                                f.type_name.lstrip(".") or None, f.label == 3)
            for f in msg.field
        }
        self.messages[full] = MessageInfo(full, fields)
        for nested in msg.nested_type:
            self._add_message(full, nested)

    def message(self, name: str | None) -> MessageInfo | None:
        return self.messages.get(name.lstrip(".")) if name else None

    def method_types(self, service: str, method: str) -> tuple[str, str, bool, bool] | None:
        return self.services.get(service, {}).get(method)
