"""Stage 1, inputs: capture files, the sensor's JSONL or stdin -> observations.

A pcap/pcapng goes through the sensor in-process and each exchange becomes an observation
directly (:func:`analyzer.observation.from_exchange`: no JSON, no base64); a JSONL line is parsed
and validated once (:func:`analyzer.observation.from_record`). Problems are reported through
``on_error`` in one line and reading goes on with what is usable: a bad JSONL line is skipped, a
truncated capture yields what came before the damage.
"""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, Any, BinaryIO, cast

import orjson

from analyzer.observation import Observation, ObservationError, from_exchange, from_record

ErrorSink = Callable[[str], None]

_PCAP_MAGICS = (
    b"\xd4\xc3\xb2\xa1",
    b"\xa1\xb2\xc3\xd4",
    b"\x4d\x3c\xb2\xa1",
    b"\xa1\xb2\x3c\x4d",
    b"\x0a\x0d\x0d\x0a",  # pcapng section header block
)
_SHOWN_LINE_ERRORS = 5  # enough to diagnose; more is noise


def sniff_format(head: bytes) -> str | None:
    """``"pcap"``, ``"jsonl"`` or None from a file's first bytes."""
    if head[:4] in _PCAP_MAGICS:
        return "pcap"
    if head.lstrip()[:1] == b"{":
        return "jsonl"
    return None


class _CountingReader(io.RawIOBase):
    """Wraps a binary stream to expose bytes consumed (for the progress bar) on any stream."""

    def __init__(self, raw: IO[bytes]) -> None:
        self._raw = raw
        self.consumed = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._raw.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        self.consumed += n
        return n


@dataclass(slots=True)
class InputProgress:
    """Where reading stands: the CLI's progress bar polls this."""

    name: str = ""
    total_bytes: int | None = None
    reader: _CountingReader | None = None

    @property
    def consumed(self) -> int:
        return self.reader.consumed if self.reader else 0


def read_observations(
    source: str,
    *,
    on_error: ErrorSink,
    progress: InputProgress | None = None,
    sensor_config: Any = None,
) -> Iterator[Observation]:
    """Observations from a pcap/pcapng capture or the sensor's JSONL (``-`` = stdin)."""
    try:
        if source == "-":
            raw: IO[bytes] = sys.stdin.buffer
            total = None
        else:
            raw = open(source, "rb")  # noqa: SIM115 - closed in the finally below
            total = os.fstat(raw.fileno()).st_size
    except OSError as exc:
        on_error(f"{source}: cannot open: {exc.strerror or exc}")
        return
    counting = _CountingReader(raw)
    stream = io.BufferedReader(counting, buffer_size=1 << 20)
    if progress is not None:
        progress.name, progress.total_bytes, progress.reader = source, total, counting
    try:
        kind = sniff_format(stream.peek(64)[:64])
        if kind == "jsonl":
            yield from _read_jsonl(source, stream, on_error)
        elif kind == "pcap":
            yield from _read_pcap(source, cast(BinaryIO, stream), on_error, sensor_config)
        elif not stream.peek(1):
            on_error(f"{source}: empty file")
        else:
            on_error(f"{source}: not a pcap/pcapng capture or the sensor's JSONL output; skipped")
    finally:
        if raw is not sys.stdin.buffer:
            raw.close()


def _read_jsonl(source: str, stream: IO[bytes], on_error: ErrorSink) -> Iterator[Observation]:
    bad = 0
    for lineno, line in enumerate(stream, 1):
        if not line.strip():
            continue
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            reason = f"invalid JSON ({exc.msg})"
        else:
            if isinstance(record, dict) and "method" in record:
                try:
                    yield from_record(record)
                    continue
                except ObservationError as exc:
                    reason = str(exc)
            else:
                reason = "not an exchange record"
        bad += 1
        if bad <= _SHOWN_LINE_ERRORS:
            on_error(f"{source}:{lineno}: {reason}; line skipped")
    if bad > _SHOWN_LINE_ERRORS:
        on_error(f"{source}: {bad} unusable lines skipped in total")


def _read_pcap(source: str, stream: BinaryIO, on_error: ErrorSink, config: Any) -> Iterator[Observation]:
    try:
        from sensor.engine import iter_exchanges
    except ImportError as exc:
        on_error(f"{source}: cannot read captures: the sensor is not available ({exc})")
        return
    count = 0
    try:
        for exchange in iter_exchanges(stream, config):
            count += 1
            yield from_exchange(exchange)
    except Exception as exc:  # noqa: BLE001 - any sensor failure: keep what was read, no traceback
        on_error(f"{source}: capture damaged or cut short after {count} exchanges, which were kept ({exc})")
