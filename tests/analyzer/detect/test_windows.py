"""Bounded windowed state: exact then sketched counts, order-free, serialisable, bounded."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from analyzer.detect.windows import BottomK, CappedSet, DistinctCounter, LruTable, item_hash


def test_distinct_counter_exact_then_within_five_percent() -> None:
    counter = DistinctCounter(exact=64)
    for i in range(64):
        counter.add(item_hash(i))
    assert counter.count() == 64 and item_hash(3) in counter
    for i in range(64, 20_000):
        counter.add(item_hash(i))
        counter.add(item_hash(i))  # repeats do not count
    assert abs(counter.count() - 20_000) / 20_000 < 0.05
    assert len(counter.to_state()[1]) < 2000  # 1 KiB of registers, base64


@given(st.lists(st.integers(min_value=0, max_value=10_000), max_size=400))
def test_distinct_counter_is_order_free_and_round_trips(values: list[int]) -> None:
    a, b = DistinctCounter(), DistinctCounter()
    for v in values:
        a.add(item_hash(v))
    shuffled = list(values)
    random.Random(1).shuffle(shuffled)
    for v in shuffled:
        b.add(item_hash(v))
    assert a.to_state() == b.to_state()
    assert DistinctCounter.from_state(a.to_state()).count() == a.count()
    if len(set(values)) <= 64:
        assert a.count() == len(set(values))


def test_lru_and_capped_set_are_bounded() -> None:
    table: LruTable[int, int] = LruTable(100)
    for i in range(1000):
        table.setdefault(i, lambda i=i: i)
        table.get(0)  # the one kept in use survives
    assert len(table) == 100 and 0 in table and table.evicted == 900
    capped = CappedSet(10)
    for i in range(50):
        capped.add(i)
    assert len(capped) == 10 and 49 in capped and 0 not in capped
    restored = LruTable.from_state(table.to_state(lambda v: v), 100, int)
    assert restored.to_state(lambda v: v) == table.to_state(lambda v: v)


def test_bottom_k_is_the_same_sample_in_any_order() -> None:
    rows = [(item_hash(i), [float(i)]) for i in range(500)]
    a, b = BottomK(50), BottomK(50)
    for h, r in rows:
        a.add(h, r)
    for h, r in reversed(rows):
        b.add(h, r)
    assert a.rows() == b.rows() and len(a) == 50


def test_segmented_lru_evicts_one_use_keys_first_and_round_trips() -> None:
    table: LruTable[str, list[int]] = LruTable(100, probation=10)
    for name in ("a", "b"):  # used twice: protected
        table.setdefault(name, list)
        table.setdefault(name, list).append(1)
    gone: list[str] = []
    table.on_evict = lambda key, _value: gone.append(key)
    for n in range(1000):  # a flood of one-use keys
        table.setdefault(f"once{n}", list)
    assert table.peek("a") == [1] and table.peek("b") == [1]
    assert len(table) == 12 and table.evicted == 990 and len(gone) == 990 and gone[0] == "once0"
    assert "once999" in table and "once0" not in table
    table.get("once995")  # a second use promotes
    for n in range(20):
        table.setdefault(f"later{n}", list)
    assert "once995" in table and "once999" not in table
    copy = LruTable.from_state(table.to_state(lambda v: v), 100, list, probation=10)
    assert copy.to_state(lambda v: v) == table.to_state(lambda v: v)
    assert list(copy.items()) == list(table.items())
    # The two segments together stay within max_keys.
    full: LruTable[int, int] = LruTable(50, probation=10)
    for n in range(200):
        full.setdefault(n, lambda: 1)
        full.setdefault(n, lambda: 1)
    assert len(full) <= 50
