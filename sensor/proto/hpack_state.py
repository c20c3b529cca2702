"""HPACK (RFC 7541) header-block decoding for a passive reader, one decoder per direction.

Why not ``hpack.Decoder`` as is: an endpoint's decoder may fail hard on a bad index, and after any
failure its dynamic table is wrong forever. A sensor often joins a connection half-way, when the
table already holds entries it never saw. This decoder keeps the entries it did see (newest
first, sizes tracked, eviction as the RFC says) and treats references past them as *unknown*:
the header is dropped and counted, and everything else in the block still decodes, including
new insertions, so later blocks recover. It reuses the ``hpack`` package's static table and
Huffman decoder (the parts with nothing passive-specific about them).
"""

from __future__ import annotations

from collections import deque

from hpack.exceptions import HPACKDecodingError
from hpack.huffman_table import decode_huffman
from hpack.table import HeaderTable

STATIC: tuple[tuple[str, str], ...] = tuple(
    (n.decode("latin-1"), v.decode("latin-1")) for n, v in HeaderTable.STATIC_TABLE
)
STATIC_LEN = len(STATIC)  # 61
ENTRY_OVERHEAD = 32
MAX_STRING = 1 << 20  # a single name or value longer than this is not a header we keep


class HpackError(Exception):
    """Internal: the block is malformed from this point on."""


def text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


class HeaderBlockResult:
    __slots__ = ("headers", "unknown", "error")

    def __init__(self) -> None:
        self.headers: list[tuple[str, str]] = []
        self.unknown = 0  # references to dynamic-table entries this reader never saw
        self.error = False  # the block is malformed (the table is reset to unknown)


class HpackDecoder:
    """Dynamic-table state of one direction; ``decode`` one header block at a time."""

    __slots__ = ("entries", "size", "max_size", "limit", "complete", "unknown_refs")

    def __init__(self, *, complete: bool = True, limit: int = 4096) -> None:
        # (name, value) or None for an entry whose content was not seen (a name we could not resolve)
        self.entries: deque[tuple[str | None, str, int]] = deque()  # (name, value, size)
        self.size = 0
        self.max_size = limit
        self.limit = limit  # SETTINGS_HEADER_TABLE_SIZE the decoding side announced
        # complete: the table was followed from the connection's start; a reference past the
        # known entries is then a protocol error rather than something we missed.
        self.complete = complete
        self.unknown_refs = 0

    def set_limit(self, limit: int) -> None:
        self.limit = max(0, min(limit, 1 << 24))

    def decode(self, block: bytes) -> HeaderBlockResult:
        result = HeaderBlockResult()
        pos = 0
        n = len(block)
        try:
            while pos < n:
                b = block[pos]
                if b & 0x80:
                    index, pos = _integer(block, pos, 7)
                    header = self._lookup(index)
                    if header is None or header[0] is None:
                        result.unknown += 1
                    else:
                        result.headers.append((header[0], header[1]))
                elif b & 0x40:
                    name, value, pos = self._literal(block, pos, 6, result)
                    self._insert(name, value)
                    if name is not None:
                        result.headers.append((name, value))
                elif b & 0x20:
                    size, pos = _integer(block, pos, 5)
                    if size > self.limit:
                        raise HpackError("table size update above the announced limit")
                    self.max_size = size
                    self._evict(0)
                else:
                    name, value, pos = self._literal(block, pos, 4, result)
                    if name is not None:
                        result.headers.append((name, value))
        except (HpackError, HPACKDecodingError, IndexError):
            result.error = True
            # Insertions in the rest of this block are lost, so later indices cannot be trusted.
            self.entries.clear()
            self.size = 0
            self.complete = False
        self.unknown_refs += result.unknown
        return result

    # -- internals ---------------------------------------------------------------------------
    def _lookup(self, index: int) -> tuple[str | None, str] | None:
        if index == 0:
            raise HpackError("index 0")
        if index <= STATIC_LEN:
            return STATIC[index - 1]
        i = index - STATIC_LEN - 1
        if i < len(self.entries):
            name, value, _ = self.entries[i]
            return name, value
        if self.complete:
            raise HpackError("index past the dynamic table")
        return None

    def _literal(self, block: bytes, pos: int, prefix: int,
                 result: HeaderBlockResult) -> tuple[str | None, str, int]:
        index, pos = _integer(block, pos, prefix)
        name: str | None
        if index:
            header = self._lookup(index)
            name = header[0] if header is not None else None
            if name is None:
                result.unknown += 1
        else:
            raw, pos = _string(block, pos)
            name = text(raw).lower()
        raw_value, pos = _string(block, pos)
        return name, text(raw_value), pos

    def _insert(self, name: str | None, value: str) -> None:
        # A name we could not resolve still occupies the table: estimate it as 10 bytes so the
        # positions of later entries stay right (eviction may drift; the table is approximate then).
        size = ENTRY_OVERHEAD + len(value.encode("utf-8", "surrogatepass")) + (
            len(name.encode("utf-8", "surrogatepass")) if name is not None else 10)
        if size > self.max_size:
            self.entries.clear()
            self.size = 0
            return
        self._evict(size)
        self.entries.appendleft((name, value, size))
        self.size += size

    def _evict(self, incoming: int) -> None:
        while self.entries and self.size + incoming > self.max_size:
            self.size -= self.entries.pop()[2]


def _integer(data: bytes, pos: int, prefix: int) -> tuple[int, int]:
    mask = (1 << prefix) - 1
    value = data[pos] & mask
    pos += 1
    if value < mask:
        return value, pos
    shift = 0
    while True:
        if pos >= len(data):
            raise HpackError("truncated integer")
        b = data[pos]
        pos += 1
        value += (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return value, pos
        if shift > 28:
            raise HpackError("integer too large")


def _string(data: bytes, pos: int) -> tuple[bytes, int]:
    if pos >= len(data):
        raise HpackError("truncated string")
    huffman = data[pos] & 0x80
    length, pos = _integer(data, pos, 7)
    if length > MAX_STRING or pos + length > len(data):
        raise HpackError("string past the block")
    raw = data[pos: pos + length]
    pos += length
    if huffman:
        raw = decode_huffman(raw)
    return raw, pos
