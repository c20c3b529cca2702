"""The analyzer pipeline, in stages, each a module:

1. ``inputs``: captures (through the sensor, in-process), JSONL, stdin -> observations;
2. ``normalise``: the order-free facts of one observation (service, path, auth, body schemas),
   and the PII detector's view of it;
3. ``aggregate``: a batch of normalised exchanges + the templater -> the batch's counts (pure);
4. ``store``: the one writer of the inventory (and the templater's load from it);
5. ``detect``: runtime threat detection on each stored batch (events, actors, data flows and the
   engine's state, in the batch's transaction).

``run`` drives them for a batch analysis (batching, dedupe, PII scheduling in ``pii``, threat
detection in a forked worker, ``detect_worker``; both forked through ``forked``);
:mod:`analyzer.ingest` drives them for shared, lock-ordered ingestion (NATS analyzers, the
service's ingest route).

Names are imported on first use (PEP 562): ``analyzer.pipeline.pii`` must stay importable with
the standard library only (the CLI forks the PII worker before loading SQLAlchemy).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from analyzer.pipeline.inputs import InputProgress, read_observations
    from analyzer.pipeline.run import Analyzer, RunStats, analyze

__all__ = ["Analyzer", "InputProgress", "RunStats", "analyze", "read_observations"]

_HOMES = {
    "Analyzer": "analyzer.pipeline.run",
    "RunStats": "analyzer.pipeline.run",
    "analyze": "analyzer.pipeline.run",
    "InputProgress": "analyzer.pipeline.inputs",
    "read_observations": "analyzer.pipeline.inputs",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value
