"""Issue 10, classes 7 and 11: the inventory is a function of the traffic, not of where batches
ended (every batch analyze and stream pause ends with ``consolidate()``), and one more full fold
changes nothing."""

from __future__ import annotations

import random
import uuid

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


def _projects(rng: random.Random) -> tuple[list[Request], list[str]]:
    """Projects asked for by name or by UUID (one parameter that absorbs words), with a
    sub-collection under each; returns the traffic and the UUIDs."""
    names = sorted({name(rng) for _ in range(300)})  # a long tail: most are asked for once
    ids = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(30)]
    reqs: list[Request] = []
    for key in names + ids * 3:
        reqs.append(("GET", f"/api/projects/{key}", 200, "id,name,owner,created"))
        if rng.random() < 0.5:
            reqs.append(("GET", f"/api/projects/{key}/members", 200, "[]"))
    rng.shuffle(reqs)
    return reqs, ids


def test_a_404_after_its_value_was_compacted_is_still_a_known_path() -> None:
    """A project answered before and asked for again when it is gone (404): the path is a known
    endpoint asked for a missing object, whether the fold that compacted its id ran before the
    404 (the id is no longer in the trie) or after."""
    reqs, ids = _projects(random.Random(21))
    gone: list[Request] = [("GET", f"/api/projects/{ids[0]}", 404, None), ("GET", f"/api/projects/{ids[1]}", 404, None)]
    whole = Templater()
    feed(whole, gone[:1] + reqs + gone[1:])
    split = _batched(reqs, len(reqs))  # its ids compacted by the consolidation
    feed(split, gone)
    expected = tpl(whole, f"/api/projects/{ids[2]}")
    assert expected is not None and expected.startswith("/api/projects/{")
    for _, path, _, _ in gone:
        assert tpl(split, path) == tpl(whole, path) == expected


def _repos_with_additions(rng: random.Random) -> list[Request]:
    """Repositories of many owners (word parameters, Zipf), each with a few named additions (a
    README, a values file, a history...), the same additions under a thin second route, and a
    key store beside them."""
    pool = [name(rng) for _ in range(200)]
    adds = ["values.yaml", "readme.md", "build_history", "dependencies", "vulnerabilities", "license", "sbom"]
    reqs: list[Request] = []
    for _ in range(rng.randint(800, 3000)):
        r, key = rng.random(), zipf(rng, pool, 1)[0]
        if r < 0.4:
            reqs.append(("GET", f"/projects/{key}/repos/{rng.choice(pool)}", 200, "id,name"))
        elif r < 0.6:
            add = rng.choice(adds)
            reqs.append(("GET", f"/projects/{key}/repos/{rng.choice(pool)}/additions/{add}", 200, rng.choice(["a,b", "c,d", None])))
        elif r < 0.8:
            reqs.append(("GET", f"/thin/{rng.choice(pool[:5])}/additions/{rng.choice(adds[:3])}", 200, "x,y"))
        else:
            reqs.append(("GET", f"/stores/main/keys/{key}", 200, "key,value"))
    return reqs


def test_consolidation_after_a_fold_that_caught_up_is_a_fixed_point() -> None:
    """Storage drained (and so folded) the host right before the end of the batch: nothing is
    pending, yet the consolidation still folds from scratch (the fold before was incremental,
    from the dictionaries of its time), so one more full fold changes nothing."""
    for seed in (1, 3, 6):
        reqs = _repos_with_additions(random.Random(seed))
        t = Templater()
        for i, (method, path, status, shape) in enumerate(reqs, start=1):
            t.observe(H, method, path, status, shape)
            t.match(H, method, path)
            if i % 100 == 0:
                t.drain_merges()
        t.flush()  # every observation folded: nothing pending at the end of the batch
        t.consolidate()
        before = [tpl(t, p, m) for m, p, _, _ in reqs]
        hs = t._hosts[H]  # internal: force one more full fold
        hs.pending, hs.full_obs = 1, 0
        t.consolidate()
        assert [tpl(t, p, m) for m, p, _, _ in reqs] == before, seed


def test_a_probe_beside_compacted_values_stays_noise() -> None:
    """A scanner's 404 at a position whose values were compacted ("/console" beside many files at
    the root, "/api/projects/.env/x" beside compacted projects) is no known path: noise, before or
    after the fold that compacted them."""
    rng = random.Random(9)
    exts = ["txt", "json", "yaml", "csv"]  # several formats: the names are files whole
    files: list[Request] = [
        ("GET", f"/{name(rng).replace('-', '_')}.{exts[i % 4]}", 200, "size,modified") for i in range(40)
    ]
    projects, _ = _projects(random.Random(21))
    probes: list[Request] = [("GET", "/console", 404, None), ("GET", "/server-status", 404, None)]
    probes += [("GET", "/api/projects/cedar-lamp3/shell/run", 404, None)]
    before = Templater()
    feed(before, probes + files + projects)
    after = _batched(files + projects, 1000)
    feed(after, probes)
    for _, path, _, _ in probes:
        assert tpl(before, path) is None, path
        assert tpl(after, path) is None, path
