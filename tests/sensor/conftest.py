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
SHARED_CORPUS = REPO.parent / "shared" / "corpus"


def run_capture(path: Path, config: SensorConfig | None = None) -> list[Exchange]:
    return list(iter_exchanges(path, config))


@pytest.fixture
def corpus_copy():
    def get(name: str) -> Path:
        return CORPUS_COPIES / name

    return get
