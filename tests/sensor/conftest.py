"""Shared helpers for the sensor tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from sensor.config import SensorConfig
from sensor.engine import iter_exchanges
from sensor.records import Exchange

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "sample_pcaps"
CORPUS_COPIES = SAMPLES / "corpus"
QUIRK_CAPTURES = SAMPLES / "quirks"


def _shared_corpus() -> Path:
    """``../shared/corpus`` beside the clone, or beside a parent directory (a git worktree lives
    deeper than the main clone); the first candidate when none exists, so skips name it."""
    candidates = [parent / "shared" / "corpus" for parent in REPO.parents]
    return next((c for c in candidates if c.is_dir()), candidates[0])


SHARED_CORPUS = _shared_corpus()


def run_capture(path: Path, config: SensorConfig | None = None) -> list[Exchange]:
    return list(iter_exchanges(path, config))


@pytest.fixture
def corpus_copy():
    def get(name: str) -> Path:
        return CORPUS_COPIES / name

    return get


@pytest.fixture
def netns_api_lab():
    """Two network namespaces joined by a veth pair, the JSON API of ``tests.netns`` serving in
    one (``lab.base_url``); removed after the test whatever happened. Skips where namespaces
    cannot be made (not root, no iproute2, no CAP_SYS_ADMIN)."""
    from tests import netns

    reason = netns.skip_reason()
    if reason:
        pytest.skip(reason)
    with netns.api_lab() as lab:
        yield lab


@pytest.fixture
def netns_veth_pair():
    """Like ``netns_api_lab`` without the API: two namespaces and the veth pair between them."""
    from tests import netns

    reason = netns.skip_reason()
    if reason:
        pytest.skip(reason)
    with netns.netns_pair() as pair:
        yield pair
