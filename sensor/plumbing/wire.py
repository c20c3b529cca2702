"""The wire format of shipped batches, shared by the sensor (which writes it) and the analyzers
and the inventory service (which read it): zstd-compressed JSON lines, one exchange record each;
plus the NATS JetStream subject and stream every part agrees on.

Standard library, orjson and zstandard only at import time (nats is imported when connecting).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from typing import Any

import orjson
import zstandard

BATCH_CONTENT_TYPE = "application/x-ndjson"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
GZIP_MAGIC = b"\x1f\x8b"
# Decompressed batch bound on the receiving side: a batch is a few MB at most; more is a bomb.
MAX_BATCH_BYTES = 256 * 1024 * 1024

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
    """A shipped batch that cannot be read (bad compression, not JSON lines, too big)."""


def decode_batch(payload: bytes, *, limit: int = MAX_BATCH_BYTES) -> list[dict[str, Any]]:
    """A batch as shipped (zstd, gzip or plain JSON lines) -> records. Lines that are not JSON
    objects are skipped; a payload that cannot be decompressed raises BatchFormatError."""
    data = payload
    try:
        if payload[:4] == ZSTD_MAGIC:
            reader = zstandard.ZstdDecompressor().stream_reader(payload)
            data = reader.read(limit + 1)
        elif payload[:2] == GZIP_MAGIC:
            import gzip
            import io

            with gzip.GzipFile(fileobj=io.BytesIO(payload)) as gz:
                data = gz.read(limit + 1)
    except (zstandard.ZstdError, OSError, EOFError) as exc:
        raise BatchFormatError(f"batch cannot be decompressed: {exc}") from exc
    if len(data) > limit:
        raise BatchFormatError(f"batch larger than {limit} bytes decompressed")
    records = []
    for line in data.splitlines():
        if not line.strip():
            continue
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if isinstance(record, dict):
            records.append(record)
    if not records and data.strip():
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
