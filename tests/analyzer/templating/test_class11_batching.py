"""Issue 10, classes 7 and 11: the inventory is a function of the traffic, not of where batches
ended (every batch analyze and stream pause ends with ``consolidate()``), and one more full fold
changes nothing."""

from __future__ import annotations

import random

from analyzer.templating import Templater
from tests.analyzer.templating.helpers import H, Request, feed, name, tpl, zipf


def _batched(reqs: list[Request], size: int) -> Templater:
    t = Templater()
    for start in range(0, len(reqs), size):
        feed(t, reqs[start : start + size])  # ends with consolidate(): a batch, or a stream pause
    return t


def _fading_tail(rng: random.Random) -> list[Request]:
    """Keys of a store asked for by name: at first nearly every name is new (a long tail), later
    the same ones come back again and again (the tail fades); beside them a few busy routes."""
    pool = [name(rng) for _ in range(400)]
    reqs: list[Request] = []
    for i in range(3000):
        fresh = i < 600 and rng.random() < 0.7
        key = pool[i % 400] if fresh else zipf(rng, pool[:150], 1)[0]
        reqs.append(("GET", f"/stores/main/keys/{key}", 200, "key,value,version"))
        if rng.random() < 0.2:
            reqs.append(("GET", f"/stores/main/{rng.choice(['config', 'stats', 'health'])}", 200, "status,uptime"))
    return reqs


def _drained(reqs: list[Request], size: int, drain_every: int = 100) -> Templater:
    """Batches of ``size`` (each ended by consolidate()) while storage drains every
    ``drain_every`` requests, whatever the batching."""
    t = Templater()
    for start in range(0, len(reqs), size):
        batch = reqs[start : start + size]
        for i, (method, path, status, shape) in enumerate(batch, start=start + 1):
            t.observe(H, method, path, status, shape)
            t.match(H, method, path)
            if i % drain_every == 0:
                t.drain_merges()
        t.consolidate()
    return t


def test_hysteresis_is_judged_on_the_traffic_not_on_the_batching() -> None:
    """Hysteresis is judged once per checkpoint of the host's traffic (256, 1024, 4096...
    observations), at the first drain or consolidation after it: where batches end does not
    choose which folds judge it."""
    reqs = _fading_tail(random.Random(5))
    states = []
    for size in (len(reqs), 500, 97):
        t = _drained(reqs, size)
        hs = t._hosts[H]  # internal: which positions hold by hysteresis
        states.append((sorted(hs.sticky), sorted(hs.proofs.items()), [tpl(t, p, m) for m, p, _, _ in reqs]))
    assert states[1] == states[0]
    assert states[2] == states[0]
    assert tpl(t, "/stores/main/keys/brand-new-key7") == "/stores/main/keys/{key}"


def test_a_file_after_compacted_files_joins_their_parameter() -> None:
    """Files at an API root ("/notes_amber3.txt", ...): once several were seen (and compacted by
    a fold), one more arriving after that fold is one of them, as it would be had the fold come
    later."""
    rng = random.Random(9)
    files = [f"{name(rng).replace('-', '_')}.txt" for _ in range(12)]
    early: list[Request] = [("GET", f"/{f}", 200, "size,modified") for f in files[:8] for _ in range(3)]
    late: list[Request] = [("GET", f"/{files[8]}", 200, "size,modified")]
    late += [("GET", "/health", 200, "status,uptime")] * 5
    whole = Templater()
    feed(whole, early + late)
    split = _batched(early, len(early))
    feed(split, late)
    assert tpl(split, f"/{files[8]}") == tpl(whole, f"/{files[8]}") == tpl(whole, f"/{files[0]}")
    assert tpl(whole, "/health") == "/health"
