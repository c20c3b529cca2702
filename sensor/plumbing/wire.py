"""The wire format of shipped batches, shared by the sensor (which writes it) and the analyzers
and the inventory service (which read it): zstd-compressed JSON lines, one exchange record each;
plus the NATS JetStream subject and stream every part agrees on.

Standard library, orjson and zstandard only at import time (nats is imported when connecting).
"""

from __future__ import annotations

import contextlib
import zlib
from collections.abc import Iterable, Iterator
from typing import Any

import orjson
import zstandard

BATCH_CONTENT_TYPE = "application/x-ndjson"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
GZIP_MAGIC = b"\x1f\x8b"
# Bounds on the receiving side, checked while decoding: a sensor batch is at most 4 MiB and 500
# records by default (sensor --ship-batch); more than this is a bomb or a misconfiguration.
MAX_BATCH_BYTES = 64 * 1024 * 1024
MAX_BATCH_RECORDS = 50_000

def subject_for(stream: str) -> str:
    return f"{stream}.exchanges"


def valid_stream_name(name: str) -> bool:
    # JetStream stream names: no whitespace, '.', '*', '>', path separators.
    return bool(name) and not any(c in name for c in " \t\r\n.*>/\\") and len(name) <= 200


# ------------------------------------------------------------------------------- batch format


def encode_batch(lines: Iterable[bytes]) -> bytes:
    """JSON lines (one record each, no newline inside) -> one zstd frame."""
    return zstandard.ZstdCompressor(level=3).compress(b"\n".join(lines) + b"\n")


class BatchFormatError(ValueError):
    """A shipped batch that cannot be read (bad compression, truncated, not JSON lines, too big)."""


class BatchTooLarge(BatchFormatError):
    """A batch over the decoded-size or record-count bound (the message names which)."""


# Compressed input fed to the decompressor at a time: one zstd step then yields at most ~32 MiB
# (RLE blocks are 4 bytes for 128 KiB), so a bomb is refused after one step past the bound.
_STEP = 1024
_GZIP_STEP = 1024 * 1024  # decoded bytes per gzip step (zlib bounds its output itself)


def _zstd_chunks(payload: bytes) -> Iterator[bytes]:
    view = memoryview(payload)
    while view:
        d = zstandard.ZstdDecompressor().decompressobj()
        for start in range(0, len(view), _STEP):
            out = d.decompress(view[start : start + _STEP].tobytes())
            if out:
                yield out
            if d.eof:  # another frame may follow (concatenated frames are one stream)
                view = memoryview(d.unused_data + view[start + _STEP :].tobytes())
                break
        else:
            raise BatchFormatError("batch cannot be decompressed: zstd frame truncated (does not end cleanly)")


def _gzip_chunks(payload: bytes) -> Iterator[bytes]:
    data = payload
    while data:
        d = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        pending = data
        while pending and not d.eof:
            out = d.decompress(pending, _GZIP_STEP)
            pending = d.unconsumed_tail
            if out:
                yield out
        if not d.eof:
            raise BatchFormatError("batch cannot be decompressed: gzip stream truncated (does not end cleanly)")
        data = d.unused_data
        if data and data[:2] != GZIP_MAGIC:  # trailing garbage after the last member
            raise BatchFormatError("batch cannot be decompressed: data after the gzip stream")


def _chunks(payload: bytes) -> Iterator[bytes]:
    if payload[:4] == ZSTD_MAGIC:
        return _zstd_chunks(payload)
    if payload[:2] == GZIP_MAGIC:
        return _gzip_chunks(payload)
    return iter((payload,))


def decode_batch(
    payload: bytes, *, limit: int = MAX_BATCH_BYTES, max_records: int = MAX_BATCH_RECORDS
) -> list[dict[str, Any]]:
    """A batch as shipped (zstd, gzip or plain JSON lines) -> records, decoded as a stream.

    Lines that are not JSON objects (or nest deeper than 255 levels) are skipped. Raises :class:`BatchTooLarge` as soon as the
    decoded size passes ``limit``, the non-blank lines pass ``max_records`` or all lines (blank
    ones included) pass twice that (nothing beyond is decompressed; counted per chunk in C, so a
    few KB of compressed newlines cannot hold a decoder for a minute), :class:`BatchFormatError` for a payload that cannot be decompressed or does not
    end cleanly (a truncated zstd frame or gzip stream): a batch is taken whole or not at all."""
    records: list[dict[str, Any]] = []
    size = 0
    lines = 0
    newlines = 0
    max_lines = 2 * max_records
    tail: list[bytes] = []  # the current line's pieces so far

    def take(line: bytes) -> None:
        nonlocal lines
        if not line.strip():
            return
        lines += 1
        if lines > max_records:
            raise BatchTooLarge(f"batch larger than {max_records} records")
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError:
            return
        if isinstance(record, dict):
            try:  # orjson reads 1,024 levels but writes 255: deeper records overflow Python's stack later
                orjson.dumps(record)
            except orjson.JSONEncodeError:
                return
            records.append(record)

    try:
        for chunk in _chunks(payload):
            size += len(chunk)
            if size > limit:
                raise BatchTooLarge(f"batch larger than {limit} bytes decompressed")
            newlines += chunk.count(b"\n")
            if newlines > max_lines:
                raise BatchTooLarge(f"batch larger than {max_records} records ({max_lines} lines, blank ones included)")
            start = 0
            while (end := chunk.find(b"\n", start)) != -1:
                take(b"".join((*tail, chunk[start:end])) if tail else chunk[start:end])
                tail.clear()
                start = end + 1
            if start < len(chunk):
                tail.append(chunk[start:])
    except BatchFormatError:
        raise
    except (zstandard.ZstdError, zlib.error) as exc:
        raise BatchFormatError(f"batch cannot be decompressed: {exc}") from exc
    take(b"".join(tail))
    if not records and size and lines:
        raise BatchFormatError("batch holds no JSON exchange records")
    return records


# ---------------------------------------------------------------------------------- JetStream


async def connect_jetstream(url: str, *, timeout: float = 5.0, **options: Any) -> tuple[Any, Any]:
    """A NATS connection and its JetStream context; raises when no server answers."""
    import nats

    async def _quiet(_exc: Exception) -> None:  # reconnect noise: failures surface as send errors
        return None

    servers = [u.strip() for u in url.split(",") if u.strip()]
    nc = await nats.connect(
        servers=servers,
        connect_timeout=timeout,
        allow_reconnect=options.pop("allow_reconnect", True),
        max_reconnect_attempts=options.pop("max_reconnect_attempts", 3),
        reconnect_time_wait=options.pop("reconnect_time_wait", 0.5),
        error_cb=options.pop("error_cb", _quiet),
        **options,
    )
    return nc, nc.jetstream(timeout=timeout)


async def ensure_stream(js: Any, stream: str, *, max_bytes: int = -1) -> Any:
    """The stream's info, creating it first when it does not exist."""
    from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
    from nats.js.errors import NotFoundError

    try:
        return await js.stream_info(stream)
    except NotFoundError:
        pass
    config = StreamConfig(
        name=stream,
        subjects=[f"{stream}.>"],
        retention=RetentionPolicy.WORK_QUEUE,
        discard=DiscardPolicy.NEW,
        storage=StorageType.FILE,
        max_bytes=max_bytes,
        duplicate_window=300.0,
    )
    with contextlib.suppress(Exception):  # created meanwhile by another sensor or analyzer
        await js.add_stream(config)
    return await js.stream_info(stream)
