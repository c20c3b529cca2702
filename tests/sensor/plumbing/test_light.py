"""Shared plumbing is importable without the sensor's capture code (the analyzer and the
inventory service import it)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
CAPTURE = ("sensor.engine", "sensor.tcp", "sensor.decode", "sensor.http1", "sensor.framing", "sensor.pcapio")


def test_importing_the_plumbing_loads_no_capture_code() -> None:
    code = (
        "import sys\n"
        "import sensor.plumbing.obs, sensor.plumbing.wire, sensor.plumbing.bind\n"
        "import sensor.ship, sensor.records\n"
        f"print([m for m in {CAPTURE!r} if m in sys.modules])\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_the_analyzer_side_loads_no_capture_code_until_it_reads_a_capture() -> None:
    code = (
        "import sys\n"
        "import analyzer.stream, analyzer.ingest, inventory_api.app\n"
        f"print([m for m in {CAPTURE!r} if m in sys.modules])\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
