"""Optional install-time compilation of the sensor's hot modules with mypyc.

Metadata lives in pyproject.toml; this file only adds extension modules. ``pip install .`` or
``pip install -e .`` compiles sensor.pcapio/decode/tcp/framing/http1/engine (see
``sensor/_native.py``) into C extensions -- about twice the sensor's packet rate -- and records a
digest of each compiled source. Whenever that is not possible (mypyc missing, a type error, no C
compiler, a compiler error) the build warns and goes on: the package installs pure Python, which
behaves identically. ``APICENSUS_PURE_PYTHON=1`` skips compilation (and, at run time, its use).
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("_sensor_native", ROOT / "sensor" / "_native.py")
assert _spec is not None and _spec.loader is not None
native = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(native)

SOURCES = [f"sensor/{name}.py" for name in native.HOT_MODULES]


def _warn(message: str) -> None:
    print(f"apicensus: {message}; the sensor is installed as pure Python (same behaviour, slower)",
          file=sys.stderr)


def _mypyc_extensions() -> list:
    if os.environ.get(native.PURE_ENV):
        return []
    try:
        from mypyc.build import mypycify
    except ImportError:
        _warn("mypyc is not available")
        return []
    old = os.getcwd()
    os.chdir(ROOT)  # mypyc names modules after the paths it is given
    try:
        return mypycify(
            ["--ignore-missing-imports", *SOURCES],
            opt_level="3",
            group_name=f"{native.PACKAGE}.{native.GROUP.removesuffix('__mypyc')}",
        )
    except (Exception, SystemExit) as exc:  # mypyc exits on type errors
        _warn(f"mypyc could not compile the sensor ({exc!r})")
        return []
    finally:
        os.chdir(old)


class OptionalBuildExt(build_ext):
    """Build the extensions, or none of them: a failed compile leaves a working pure install."""

    def run(self) -> None:
        if not self.extensions:
            return
        try:
            super().run()
        except Exception as exc:  # CompileError, LinkError, a missing compiler...
            _warn(f"compiling the sensor failed ({exc})")
            self._remove_outputs()
            return
        self._write_manifest()

    def _outputs(self) -> list[Path]:
        paths = []
        for inplace in {False, bool(self.inplace)}:
            saved, self.inplace = self.inplace, inplace
            try:
                paths += [Path(self.get_ext_fullpath(ext.name)) for ext in self.extensions]
            finally:
                self.inplace = saved
        return paths

    def _remove_outputs(self) -> None:
        for path in self._outputs():
            path.unlink(missing_ok=True)

    def _write_manifest(self) -> None:
        digests = {name: native.source_digest(ROOT / "sensor" / f"{name}.py") for name in native.HOT_MODULES}
        for directory in {path.parent for path in self._outputs() if path.parent.name == native.PACKAGE}:
            directory.mkdir(parents=True, exist_ok=True)
            (directory / native.MANIFEST).write_text(json.dumps(digests, indent=1) + "\n")


setup(ext_modules=_mypyc_extensions(), cmdclass={"build_ext": OptionalBuildExt})
