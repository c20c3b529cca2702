"""A small, bounded Hessian 2.0 decoder (the serialization Dubbo uses by default).

Own code rather than ``python-hessian``: that package decodes Hessian 1 (its 2.0 support is
partial and it raises on truncated input); a sensor needs Hessian 2's compact forms, a cap on
depth, items and string lengths, and a clean ``HessianError`` on anything malformed. Values map
to Python: None, bool, int, float, str, bytes, list, dict; objects become dicts with a
``"$class"`` key; dates are epoch milliseconds.
"""

from __future__ import annotations

import struct
from typing import Any

MAX_DEPTH = 16
MAX_ITEMS = 10_000
MAX_STRING = 1 << 20



def _text(raw: bytes) -> str:
    """Hessian's UTF-8 as text that is valid Unicode (records are JSON): Java writes characters
    beyond the BMP as CESU-8 surrogate pairs, which are joined; anything else undecodable (a
    lone surrogate, garbage) becomes U+FFFD instead of a lone surrogate no encoder accepts."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        units = raw.decode("utf-8", "surrogatepass").encode("utf-16-le", "surrogatepass")
    except UnicodeError:
        return raw.decode("utf-8", "replace")
    return units.decode("utf-16-le", "replace")

class HessianError(ValueError):
    pass


class HessianDecoder:
    def __init__(self, data: bytes, pos: int = 0) -> None:
        self.data = data
        self.pos = pos
        self.classes: list[tuple[str, list[str]]] = []
        self.refs: list[Any] = []
        self.types: list[str] = []
        self.items = 0

    def at_end(self) -> bool:
        return self.pos >= len(self.data)

    def _byte(self) -> int:
        if self.pos >= len(self.data):
            raise HessianError("truncated")
        b = self.data[self.pos]
        self.pos += 1
        return b

    def _take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise HessianError("truncated")
        out = self.data[self.pos: self.pos + n]
        self.pos += n
        return out

    def _count(self) -> None:
        self.items += 1
        if self.items > MAX_ITEMS:
            raise HessianError("too many items")

    def read(self, depth: int = 0) -> Any:
        if depth > MAX_DEPTH:
            raise HessianError("too deep")
        self._count()
        b = self._byte()
        if b <= 0x1F:
            return self._utf8(b)
        if b <= 0x2F:
            return self._take(b - 0x20)
        if b <= 0x33:
            return self._utf8(((b - 0x30) << 8) | self._byte())
        if b <= 0x37:
            return self._take(((b - 0x34) << 8) | self._byte())
        if b <= 0x3F:
            return ((b - 0x3C) << 16) + int.from_bytes(self._take(2), "big")
        if 0x80 <= b <= 0xBF:
            return b - 0x90
        if 0xC0 <= b <= 0xCF:
            return ((b - 0xC8) << 8) + self._byte()
        if 0xD0 <= b <= 0xD7:
            return ((b - 0xD4) << 16) + int.from_bytes(self._take(2), "big")
        if 0xD8 <= b <= 0xEF:
            return b - 0xE0
        if b >= 0xF0:
            return ((b - 0xF8) << 8) + self._byte()
        if 0x60 <= b <= 0x6F:
            return self._object(b - 0x60, depth)
        if 0x70 <= b <= 0x77:
            self._type()
            return self._items(b - 0x70, depth)
        if 0x78 <= b <= 0x7F:
            return self._items(b - 0x78, depth)
        c = chr(b)
        if c == "N":
            return None
        if c == "T":
            return True
        if c == "F":
            return False
        if c == "I":
            return struct.unpack(">i", self._take(4))[0]
        if c == "L":
            return struct.unpack(">q", self._take(8))[0]
        if c == "Y":
            return struct.unpack(">i", self._take(4))[0]
        if c == "D":
            return struct.unpack(">d", self._take(8))[0]
        if b == 0x5B:
            return 0.0
        if b == 0x5C:
            return 1.0
        if b == 0x5D:
            return float(struct.unpack(">b", self._take(1))[0])
        if b == 0x5E:
            return float(struct.unpack(">h", self._take(2))[0])
        if b == 0x5F:
            return struct.unpack(">i", self._take(4))[0] / 1000.0
        if c == "J":
            return struct.unpack(">q", self._take(8))[0]
        if b == 0x4B:
            return struct.unpack(">i", self._take(4))[0] * 60000
        if c in "SR":
            return self._chunked_string(b)
        if c in "BA":
            return self._chunked_binary(b)
        if c == "C":
            name = self._string_value()
            n = self.read(depth + 1)
            if not isinstance(n, int) or n < 0 or n > 1024:
                raise HessianError("bad class definition")
            self.classes.append((name, [self._string_value() for _ in range(n)]))
            return self.read(depth)  # the definition precedes the value it describes
        if c == "O":
            idx = self.read(depth + 1)
            if not isinstance(idx, int):
                raise HessianError("bad object reference")
            return self._object(idx, depth)
        if c in "UW":
            if c == "U":
                self._type()
            out: list[Any] = []
            while True:
                if self.pos < len(self.data) and self.data[self.pos] == 0x5A:
                    self.pos += 1
                    return out
                out.append(self.read(depth + 1))
        if c in "VX":
            if c == "V":
                self._type()
            n = self.read(depth + 1)
            if not isinstance(n, int) or n < 0:
                raise HessianError("bad list length")
            return self._items(n, depth)
        if c in "MH":
            if c == "M":
                self._type()
            m: dict[Any, Any] = {}
            while True:
                if self.pos < len(self.data) and self.data[self.pos] == 0x5A:
                    self.pos += 1
                    return m
                key = self.read(depth + 1)
                m[key if isinstance(key, (str, int, float, bool, type(None))) else repr(key)] = self.read(depth + 1)
        if c == "Q":
            idx = self.read(depth + 1)
            if isinstance(idx, int) and 0 <= idx < len(self.refs):
                return self.refs[idx]
            return {"$ref": idx}
        raise HessianError(f"unknown code 0x{b:02x}")

    def _items(self, n: int, depth: int) -> list[Any]:
        if n > MAX_ITEMS:
            raise HessianError("list too long")
        out = [self.read(depth + 1) for _ in range(n)]
        self.refs.append(out)
        return out

    def _type(self) -> str:
        t = self.read()
        if isinstance(t, str):
            self.types.append(t)
            return t
        if isinstance(t, int) and 0 <= t < len(self.types):
            return self.types[t]
        return ""

    def _object(self, idx: int, depth: int) -> dict[str, Any]:
        if not 0 <= idx < len(self.classes):
            raise HessianError("object with unknown class")
        name, fields = self.classes[idx]
        obj: dict[str, Any] = {"$class": name}
        self.refs.append(obj)
        for f in fields:
            obj[f] = self.read(depth + 1)
        return obj

    def _utf8(self, chars: int) -> str:
        """``chars`` UTF-16 units of (CESU-8 style) UTF-8."""
        if chars > MAX_STRING:
            raise HessianError("string too long")
        start = self.pos
        data = self.data
        p = start
        for _ in range(chars):
            if p >= len(data):
                raise HessianError("truncated string")
            b = data[p]
            p += 1 if b < 0x80 else 2 if b < 0xE0 else 3 if b < 0xF0 else 4
        if p > len(data):
            raise HessianError("truncated string")
        self.pos = p
        return _text(data[start:p])

    def _chunked_string(self, code: int) -> str:
        parts: list[str] = []
        while True:
            n = int.from_bytes(self._take(2), "big")
            parts.append(self._utf8(n))
            if code == 0x53:
                return "".join(parts)
            code = self._byte()
            if code <= 0x1F:
                parts.append(self._utf8(code))
                return "".join(parts)
            if code not in (0x52, 0x53):
                raise HessianError("bad string chunk")

    def _chunked_binary(self, code: int) -> bytes:
        parts: list[bytes] = []
        while True:
            parts.append(self._take(int.from_bytes(self._take(2), "big")))
            if code == 0x42:
                return b"".join(parts)
            code = self._byte()
            if 0x20 <= code <= 0x2F:
                parts.append(self._take(code - 0x20))
                return b"".join(parts)
            if code not in (0x41, 0x42):
                raise HessianError("bad binary chunk")

    def _string_value(self) -> str:
        v = self.read()
        if not isinstance(v, str):
            raise HessianError("string expected")
        return v


def decode_all(data: bytes, limit: int = 64) -> tuple[list[Any], bool]:
    """Up to ``limit`` consecutive values; True when the data ended cleanly."""
    dec = HessianDecoder(data)
    out: list[Any] = []
    try:
        while not dec.at_end() and len(out) < limit:
            out.append(dec.read())
    except HessianError:
        return out, False
    return out, True
