"""Bounded, windowed state in the manner of Zeek's SumStats: distinct counts per key per window.

* :func:`item_hash` -- a stable 64-bit hash (BLAKE2b): the same in every process, so state built
  by one analyzer means the same in another (Python's ``hash`` is salted per process).
* :class:`DistinctCounter` -- exact up to ``exact`` members (thresholds in the tens are exact),
  then a HyperLogLog of 2**10 one-byte registers (1 KiB, ~3% standard error). Union-based, so the
  count does not depend on the order or batching of the additions.
* :class:`CappedSet` -- membership of at most ``cap`` 64-bit hashes, oldest insert evicted first.
* :class:`LruTable` -- at most ``max_keys`` keys, least recently used evicted first (counted);
  optionally segmented (one-use keys in a small probation segment, evicted first).
* :class:`BottomK` -- the ``k`` items with the smallest hashes: a uniform sample that is the same
  whatever order the items came in.

All of them serialise to JSON-able lists (``to_state`` / ``from_state``) in a canonical order.
"""

from __future__ import annotations

import base64
import hashlib
import heapq
import math
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

HLL_P = 10
HLL_M = 1 << HLL_P
_HLL_ALPHA = 0.7213 / (1 + 1.079 / HLL_M)
_MASK64 = (1 << 64) - 1


def item_hash(*parts: object) -> int:
    """Stable 64-bit hash of the parts' text."""
    text = "\x1f".join(str(p) for p in parts).encode("utf-8", "surrogatepass")
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "big")


def window_start(ts: float, size: float) -> float:
    return math.floor(ts / size) * size


class DistinctCounter:
    """Distinct members: an exact set up to ``exact`` members, then a HyperLogLog."""

    __slots__ = ("_exact", "_regs", "_limit", "_estimate")

    def __init__(self, exact: int = 64) -> None:
        self._limit = exact
        self._exact: set[int] | None = set()
        self._regs: bytearray | None = None
        self._estimate = -1  # cached sketch estimate (-1: stale)

    def add(self, h: int) -> bool:
        """Add a 64-bit hash; True when the count may have grown."""
        if self._exact is not None:
            if h in self._exact:
                return False
            self._exact.add(h)
            if len(self._exact) > self._limit:
                self._to_sketch()
            return True
        return self._add_sketch(h)

    def __contains__(self, h: int) -> bool:
        """Exact while small; once a sketch, membership is unknown (answers False)."""
        return self._exact is not None and h in self._exact

    def _add_sketch(self, h: int) -> bool:
        regs = self._regs
        assert regs is not None
        idx = h & (HLL_M - 1)
        rest = (h >> HLL_P) | (1 << (64 - HLL_P))  # a sentinel bit bounds the rank
        rank = (rest & -rest).bit_length()
        if rank > regs[idx]:
            regs[idx] = rank
            self._estimate = -1
            return True
        return False

    def _to_sketch(self) -> None:
        members = self._exact or set()
        self._exact = None
        self._regs = bytearray(HLL_M)
        for h in members:
            self._add_sketch(h)

    def count(self) -> int:
        if self._exact is not None:
            return len(self._exact)
        if self._estimate >= 0:
            return self._estimate
        regs = self._regs
        assert regs is not None
        zeros = regs.count(0)
        estimate = _HLL_ALPHA * HLL_M * HLL_M / sum(2.0**-r for r in regs)
        if estimate <= 2.5 * HLL_M and zeros:
            estimate = HLL_M * math.log(HLL_M / zeros)
        self._estimate = max(int(round(estimate)), self._limit + 1)
        return self._estimate

    def merge(self, other: DistinctCounter) -> None:
        if other._exact is not None:
            for h in sorted(other._exact):
                self.add(h)
            return
        if self._exact is not None:
            self._to_sketch()
        assert self._regs is not None and other._regs is not None
        self._regs = bytearray(max(a, b) for a, b in zip(self._regs, other._regs, strict=True))
        self._estimate = -1

    def to_state(self) -> list[Any]:
        if self._exact is not None:
            return ["e", sorted(self._exact)]
        assert self._regs is not None
        return ["h", base64.b64encode(bytes(self._regs)).decode()]

    @classmethod
    def from_state(cls, data: list[Any], exact: int = 64) -> DistinctCounter:
        counter = cls(exact)
        if data[0] == "e":
            counter._exact = set(data[1])
        else:
            counter._exact = None
            counter._regs = bytearray(base64.b64decode(data[1]))
        return counter


class CappedSet:
    """At most ``cap`` members; when full, the oldest insert goes first."""

    __slots__ = ("_items", "_cap")

    def __init__(self, cap: int) -> None:
        self._cap = cap
        self._items: dict[int, None] = {}

    def add(self, h: int) -> None:
        if h in self._items:
            return
        self._items[h] = None
        if len(self._items) > self._cap:
            del self._items[next(iter(self._items))]

    def __contains__(self, h: int) -> bool:
        return h in self._items

    def __len__(self) -> int:
        return len(self._items)

    def to_state(self) -> list[int]:
        return list(self._items)  # insertion order is part of the state (eviction order)

    @classmethod
    def from_state(cls, data: list[int], cap: int) -> CappedSet:
        capped = cls(cap)
        capped._items = dict.fromkeys(data)
        return capped


K = TypeVar("K")
V = TypeVar("V")


def _itself(value: V) -> V:
    """The factory of a value given as it is (``LruTable.setdefault_value``, ``replace``)."""
    return value


class LruTable(Generic[K, V]):
    """A dict of at most ``max_keys`` entries, least recently used evicted first.

    With ``probation`` > 0 it is a segmented LRU (SLRU): a key enters a probation segment of at
    most ``probation`` keys and moves to the protected segment on its second use; a full table
    evicts the oldest probation key first. So a flood of one-request keys (20,000 one-shot
    tokens) costs ``probation`` entries, not ``max_keys``, and never pushes out keys seen twice.
    The two segments together stay within ``max_keys``."""

    __slots__ = ("_data", "_new", "_max", "_probation", "evicted", "on_evict")

    def __init__(self, max_keys: int, probation: int = 0) -> None:
        self._probation = max(0, min(probation, max_keys - 1)) if probation else 0
        self._max = max_keys - self._probation
        self._data: OrderedDict[K, V] = OrderedDict()
        self._new: OrderedDict[K, V] = OrderedDict()
        self.evicted = 0
        # Called with each evicted (key, value): what an owner must still write out (not serialised).
        self.on_evict: Callable[[K, V], None] | None = None

    def _protect(self, key: K, value: V) -> None:
        self._data[key] = value
        if len(self._data) > self._max:
            self._evict(self._data.popitem(last=False))

    def _evict(self, item: tuple[K, V]) -> None:
        self.evicted += 1
        if self.on_evict is not None:
            self.on_evict(*item)

    def get(self, key: K) -> V | None:
        value = self._data.get(key)
        if value is not None:
            self._data.move_to_end(key)
            return value
        if self._new:
            value = self._new.pop(key, None)
            if value is not None:
                self._protect(key, value)
        return value

    def peek(self, key: K) -> V | None:
        value = self._data.get(key)
        if value is None and self._new:
            value = self._new.get(key)
        return value

    def setdefault(self, key: K, factory: Callable[..., V], *args: Any) -> V:
        """The value at ``key`` (now the most recently used), else ``factory(*args)`` inserted
        (the arguments rather than a closure: no function object built per lookup)."""
        data = self._data
        value = data.get(key)
        if value is not None:
            data.move_to_end(key)
            return value
        if self._probation:
            new = self._new
            value = new.pop(key, None)
            if value is not None:
                self._protect(key, value)
                return value
            value = new[key] = factory(*args)
            if len(new) > self._probation:
                self._evict(new.popitem(last=False))
            return value
        value = data[key] = factory(*args)
        if len(data) > self._max:
            self._evict(data.popitem(last=False))
        return value

    def setdefault_value(self, key: K, default: V) -> V:
        """:meth:`setdefault` with the value itself: for cheap, shared values (an owner's hash
        per object, ~3 per response)."""
        return self.setdefault(key, _itself, default)

    def replace(self, key: K, value: V) -> None:
        """Set ``key``'s value and make it the most recently used (as ``pop`` + ``setdefault``)."""
        if key in self._data:
            self._data[key] = value
            self._data.move_to_end(key)
            return
        self.pop(key)
        self.setdefault(key, _itself, value)

    def pop(self, key: K) -> V | None:
        value = self._data.pop(key, None)
        if value is None and self._new:
            value = self._new.pop(key, None)
        return value

    def items(self) -> Iterator[tuple[K, V]]:
        return iter([*self._data.items(), *self._new.items()])

    def __len__(self) -> int:
        return len(self._data) + len(self._new)

    def __contains__(self, key: object) -> bool:
        return key in self._data or key in self._new

    def to_state(self, value_state: Callable[[V], Any], key_state: Callable[[K], Any] = lambda k: k) -> list[Any]:
        state: list[Any] = [self.evicted, [[key_state(k), value_state(v)] for k, v in self._data.items()]]
        if self._new:
            state.append([[key_state(k), value_state(v)] for k, v in self._new.items()])
        return state

    @classmethod
    def from_state(
        cls,
        data: list[Any],
        max_keys: int,
        value_from: Callable[[Any], V],
        key_from: Callable[[Any], K] = lambda k: k,
        probation: int = 0,
    ) -> LruTable[K, V]:
        """``probation`` as the table was built with (a state without a probation segment, e.g.
        of an older engine, loads as all-protected)."""
        table: LruTable[K, V] = cls(max_keys, probation)
        table.evicted = int(data[0])
        for key, value in data[1]:
            table._data[key_from(key)] = value_from(value)
        for key, value in data[2] if len(data) > 2 else ():
            table._new[key_from(key)] = value_from(value)
        return table


class BottomK:
    """The ``k`` (hash, row) pairs with the smallest hashes: an order-free uniform sample."""

    __slots__ = ("_k", "_rows", "_heap")

    def __init__(self, k: int) -> None:
        self._k = k
        self._rows: dict[int, list[float]] = {}
        self._heap: list[int] = []  # negated hashes: the largest kept hash is at the top

    def add(self, h: int, row: list[float]) -> None:
        if h in self._rows:
            return
        if len(self._rows) < self._k:
            self._rows[h] = row
            heapq.heappush(self._heap, -h)
            return
        worst = -self._heap[0]
        if h < worst:
            heapq.heapreplace(self._heap, -h)
            del self._rows[worst]
            self._rows[h] = row

    def rows(self) -> list[list[float]]:
        return [self._rows[h] for h in sorted(self._rows)]

    def __len__(self) -> int:
        return len(self._rows)

    def to_state(self) -> list[Any]:
        return [[h, self._rows[h]] for h in sorted(self._rows)]

    @classmethod
    def from_state(cls, data: list[Any], k: int) -> BottomK:
        sample = cls(k)
        sample._rows = {int(h): [float(v) for v in row] for h, row in data}
        sample._heap = [-h for h in sample._rows]
        heapq.heapify(sample._heap)
        return sample


def mask64(value: int) -> int:
    return value & _MASK64
