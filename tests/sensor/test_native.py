"""The sensor's hot modules run mypyc-compiled when the install could build them, else as pure
Python (sensor/_native.py). Both must write the same records; a stale build must not be used."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from sensor import _native

REPO = Path(__file__).resolve().parents[2]
CAPTURES = (sorted((REPO / "sample_pcaps").glob("*.pcap")) + sorted((REPO / "sample_pcaps" / "corpus").glob("*.pcap*"))
            + sorted((REPO / "sample_pcaps" / "quirks").glob("*.pcap")))


def _sensor(env_extra: dict[str, str]) -> tuple[bytes, str]:
    env = {**os.environ, **env_extra}
    out = subprocess.run([sys.executable, "-m", "apicensus_cli", "sensor", "--pcap", *map(str, CAPTURES)],
                         cwd=REPO, env=env, capture_output=True, timeout=300)
    which = subprocess.run([sys.executable, "-c", "import sensor._native as n; print(n.describe())"],
                           cwd=REPO, env=env, capture_output=True, text=True, timeout=60).stdout.strip()
    return out.stdout, which


@pytest.mark.skipif(not _native.COMPILED, reason=f"the sensor is not compiled here: {_native.REASON}")
def test_compiled_and_pure_python_write_the_same_records() -> None:
    compiled, which_c = _sensor({})
    pure, which_p = _sensor({_native.PURE_ENV: "1"})
    assert which_c == "mypyc-compiled"
    assert which_p.startswith("pure Python") and _native.PURE_ENV in which_p
    assert compiled and compiled == pure


def test_an_edited_source_is_never_shadowed_by_a_stale_build(tmp_path: Path) -> None:
    """A copy of the package whose hot module differs from the recorded digest imports pure."""
    import shutil

    copy = tmp_path / "sensor"
    shutil.copytree(REPO / "sensor", copy, ignore=shutil.ignore_patterns("__pycache__"))
    (copy / "tcp.py").write_text((copy / "tcp.py").read_text() + "\n# edited\n")
    probe = subprocess.run([sys.executable, "-c", "import sensor._native as n, sensor.tcp as t; "
                            "print(n.describe()); print(t.__file__)"],
                           cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(tmp_path)},
                           capture_output=True, text=True, timeout=60)
    assert probe.returncode == 0, probe.stderr
    which, module_file = probe.stdout.strip().splitlines()
    assert which.startswith("pure Python")
    assert module_file.endswith("tcp.py")


def test_the_hot_modules_type_check_as_mypyc_checks_them() -> None:
    """mypyc type-checks before compiling (with the project's mypy settings) and a single error
    makes the install fall back to pure Python with only a warning: at half the speed. This keeps
    that from happening unnoticed. ``--no-site-packages``: the build runs isolated, where third-party
    packages (cryptography) are absent and so typed Any."""
    pytest.importorskip("mypy")
    sources = [f"sensor/{name}.py" for name in _native.HOT_MODULES]
    result = subprocess.run([sys.executable, "-m", "mypy", "--no-site-packages", "--ignore-missing-imports", *sources], cwd=REPO,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.skipif(not os.environ.get("APICENSUS_REQUIRE_COMPILED"), reason="only where the install must compile (CI)")
def test_the_install_compiled_the_sensor() -> None:
    """CI sets APICENSUS_REQUIRE_COMPILED: a build that fell back to pure Python (a type error
    the isolated build saw) fails here instead of halving the sensor's speed unnoticed."""
    assert _native.COMPILED, _native.REASON
