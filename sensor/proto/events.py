"""What every protocol parser under ``sensor.proto`` shares: sides, bounds, anomaly counters.

Each parser is sans-I/O (h11's model): one object per connection, fed the reassembled bytes of
either direction with ``feed(side, data, ts)``, told about missing bytes with ``feed_gap`` and
about the end with ``close``; each call returns the events that became complete. Anomalies are
data: they travel as tags on events and as counts in ``counters`` (Zeek's weird.log), so nothing
in the input can make a parser raise. Every buffer a parser keeps has a bound given to it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Protocol

CLIENT = 0  # side that opened the connection (sent the first request bytes)
SERVER = 1

Headers = tuple[tuple[str, str], ...]


class ConnectionParser(Protocol):
    """The seam phase 2 plugs into the sensor's connection: one parser per protocol."""

    counters: Counter[str]

    def feed(self, side: int, data: bytes, ts: float) -> Sequence[object]: ...

    def feed_gap(self, side: int, size: int, ts: float) -> Sequence[object]: ...

    def close(self, ts: float) -> Sequence[object]: ...


def first_header(headers: Headers, name: str) -> str | None:
    """Value of the first header called ``name`` (lower-case), or None."""
    for key, value in headers:
        if key == name:
            return value
    return None


class BoundedBuffer:
    """A byte buffer that refuses to grow past ``limit`` (the caller decides what to drop).

    ``view`` is the pending bytes; ``consume`` drops bytes from the front without copying the
    rest each time (the front offset is compacted once it passes half the buffer).
    """

    __slots__ = ("_buf", "_start", "limit")

    def __init__(self, limit: int) -> None:
        self._buf = bytearray()
        self._start = 0
        self.limit = limit

    def __len__(self) -> int:
        return len(self._buf) - self._start

    def append(self, data: bytes) -> bool:
        """Add ``data``; False (and nothing added) when that would pass the limit."""
        if len(self) + len(data) > self.limit:
            return False
        if self._start and self._start * 2 >= len(self._buf):
            del self._buf[: self._start]
            self._start = 0
        self._buf += data
        return True

    def peek(self, n: int, offset: int = 0) -> bytes:
        s = self._start + offset
        return bytes(self._buf[s: s + n])

    def consume(self, n: int) -> bytes:
        s = self._start
        out = bytes(self._buf[s: s + n])
        self._start = min(s + n, len(self._buf))
        if self._start == len(self._buf):
            self._buf.clear()
            self._start = 0
        return out

    def clear(self) -> None:
        self._buf.clear()
        self._start = 0

    def byte(self, i: int) -> int:
        return self._buf[self._start + i]
