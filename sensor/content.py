"""Message body collection and Content-Encoding decoding, with caps against decompression bombs.

Bodies are collected as they stream past. Plain bodies keep only the first ``body_cap`` bytes.
Encoded bodies keep up to ``wire_cap`` encoded bytes and are decoded once, when the message ends,
in bounded steps: decoding stops at ``max_decoded`` bytes (tagged as a bomb) and only the first
``body_cap`` decoded bytes are kept. A body labelled compressed that is not (a common server bug)
is kept as is and tagged, and so is one that fails half-way.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Iterator

import brotli
import zstandard

from sensor.records import (
    TAG_BODY_CAPPED,
    TAG_DECODE_ERROR,
    TAG_DECOMPRESSION_BOMB,
    TAG_MISLABELLED_ENCODING,
    Body,
)

STEP = 64 * 1024
IDENTITY = frozenset(("identity", "", "none", "binary", "8bit", "7bit"))
KNOWN = frozenset(("gzip", "x-gzip", "deflate", "br", "zstd"))


class DecodeFailed(Exception):
    pass


def parse_content_encoding(values: list[str]) -> tuple[str, ...]:
    """Codings in the order they were applied, from every Content-Encoding header value."""
    out: list[str] = []
    for value in values:
        for token in value.split(","):
            token = token.strip().lower()
            if token:
                out.append(token)
    return tuple(out)


class BodyCollector:
    __slots__ = ("encodings", "decoding", "cap", "wire_cap", "max_decoded", "parts", "captured", "wire_length")

    def __init__(self, encodings: tuple[str, ...], cap: int, wire_cap: int, max_decoded: int) -> None:
        self.encodings = encodings
        self.decoding = any(e not in IDENTITY for e in encodings)
        self.cap = cap
        self.wire_cap = wire_cap if self.decoding else cap
        self.max_decoded = max_decoded
        self.parts: list[bytes] = []
        self.captured = 0
        self.wire_length = 0

    def feed(self, data: bytes) -> None:
        n = len(data)
        self.wire_length += n
        room = self.wire_cap - self.captured
        if room > 0:
            if n > room:
                data = data[:room]
                n = room
            self.parts.append(data)
            self.captured += n

    def finish(self) -> tuple[Body, list[str]]:
        tags: list[str] = []
        wire = b"".join(self.parts) if len(self.parts) != 1 else self.parts[0]
        complete = self.captured >= self.wire_length
        if not self.decoding:
            if not complete:
                tags.append(TAG_BODY_CAPPED)
            return Body(wire, self.wire_length, self.wire_length, self.encodings), tags
        data, decoded_len, dtags = decode_body(wire, self.encodings, self.cap, self.max_decoded)
        tags.extend(dtags)
        if not complete or decoded_len > len(data):
            tags.append(TAG_BODY_CAPPED)
        return Body(data, self.wire_length, decoded_len, self.encodings), tags


def decode_body(wire: bytes, encodings: tuple[str, ...], cap: int, max_decoded: int) -> tuple[bytes, int, list[str]]:
    """Undo ``encodings`` (applied in order) on ``wire``.

    Returns (first ``cap`` decoded bytes, decoded length, tags). Intermediate layers are held in
    full up to ``max_decoded``; only the outermost result is capped.
    """
    tags: list[str] = []
    data = wire
    layers = [e for e in encodings if e not in IDENTITY]
    length = len(wire)
    for i, coding in enumerate(reversed(layers)):
        last = i == len(layers) - 1
        if coding not in KNOWN:
            tags.append(TAG_DECODE_ERROR)
            return data[:cap], length, tags
        keep = cap if last else max_decoded
        try:
            out, total, bomb = _decode_one(coding, data, keep, max_decoded)
        except DecodeFailed:
            if _looks_plain(data):
                tags.append(TAG_MISLABELLED_ENCODING)
                continue  # labelled but not applied: keep going with the same bytes
            tags.append(TAG_DECODE_ERROR)
            return data[:cap], length, tags
        if bomb:
            tags.append(TAG_DECOMPRESSION_BOMB)
        data, length = out, total
        if bomb:
            break
    return data[:cap], length, tags


def _looks_plain(data: bytes) -> bool:
    sample = data[:512]
    if not sample:
        return True
    printable = sum(1 for b in sample if 32 <= b < 127 or b in (9, 10, 13))
    return printable / len(sample) > 0.9


def _decode_one(coding: str, data: bytes, keep: int, max_decoded: int) -> tuple[bytes, int, bool]:
    if coding in ("gzip", "x-gzip"):
        chunks = _zlib_chunks(data, 47)  # 32+15: gzip or zlib header, detected
    elif coding == "deflate":
        # "deflate" means zlib-wrapped, but many servers send raw deflate.
        wrapped = len(data) >= 2 and (data[0] & 0x0F) == 8 and ((data[0] << 8) | data[1]) % 31 == 0
        chunks = _zlib_chunks(data, 15 if wrapped else -15)
    elif coding == "br":
        chunks = _brotli_chunks(data)
    else:
        chunks = _zstd_chunks(data)
    kept: list[bytes] = []
    kept_len = 0
    total = 0
    produced_any = False
    try:
        for chunk in chunks:
            produced_any = True
            total += len(chunk)
            if kept_len < keep:
                part = chunk[: keep - kept_len]
                kept.append(part)
                kept_len += len(part)
            if total >= max_decoded:
                return b"".join(kept), total, True
    except (zlib.error, brotli.error, zstandard.ZstdError, EOFError) as exc:
        if not produced_any and total == 0:
            raise DecodeFailed(str(exc)) from exc
        # Corrupt or truncated after some output: keep what decoded.
    return b"".join(kept), total, False


def _zlib_chunks(data: bytes, wbits: int) -> Iterator[bytes]:
    d = zlib.decompressobj(wbits)
    pending = data
    while pending and not d.eof:
        out = d.decompress(pending, STEP)
        if out:
            yield out
        pending = d.unconsumed_tail
    if not d.eof:
        # A truncated stream still yields what the decoder could produce.
        out = d.flush()
        if out:
            yield out


def _brotli_chunks(data: bytes) -> Iterator[bytes]:
    d = brotli.Decompressor()
    out = d.process(data, output_buffer_limit=STEP)
    if out:
        yield out
    while not d.is_finished() and not d.can_accept_more_data():
        out = d.process(b"", output_buffer_limit=STEP)
        if not out:
            break
        yield out


def _zstd_chunks(data: bytes) -> Iterator[bytes]:
    dctx = zstandard.ZstdDecompressor()
    yield from dctx.read_to_iter(io.BytesIO(data), read_size=STEP, write_size=STEP)
