"""Which implementation of the sensor's hot modules gets imported: mypyc-compiled or pure Python.

``setup.py`` compiles the modules in ``HOT_MODULES`` with mypyc when it can (an install-time
step; nothing is built or downloaded at run time) and records the SHA-256 of every source it
compiled in ``_compiled.json`` beside the extension modules. The compiled modules are used only
when all of them are there and every source is still byte-identical to what was compiled.
Otherwise -- no compiler or no mypyc at install time, a source edited since (an editable
install keeps the extensions next to the sources, and Python would prefer a stale extension over
the edited ``.py``), or ``APICENSUS_PURE_PYTHON=1`` in the environment -- all of them are
imported from their ``.py`` files. All or none: compiled modules call each other directly and
share classes, so a mix would break the parser's ``type(event) is ...`` dispatch.
"""

from __future__ import annotations

import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import json
import os
import sys
import types
from collections.abc import Sequence
from pathlib import Path

PACKAGE = "sensor"
HOT_MODULES = ("pcapio", "decode", "tcp", "framing", "http1_syntax", "http1", "connection", "engine")
GROUP = "_hot__mypyc"  # mypyc's shared library holding the code of all of them
MANIFEST = "_compiled.json"
PURE_ENV = "APICENSUS_PURE_PYTHON"

_HERE = Path(__file__).resolve().parent


def source_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _extension_exists(name: str) -> bool:
    return any((_HERE / f"{name}{suffix}").exists() for suffix in importlib.machinery.EXTENSION_SUFFIXES)


def _compiled_usable() -> tuple[bool, str]:
    if os.environ.get(PURE_ENV):
        return False, f"{PURE_ENV} is set"
    try:
        manifest = json.loads((_HERE / MANIFEST).read_text())
    except (OSError, ValueError):
        return False, "not compiled at install time"
    if not _extension_exists(GROUP):
        return False, "compiled library missing"
    for name in HOT_MODULES:
        if not _extension_exists(name):
            return False, f"compiled {name} missing"
        try:
            digest = source_digest(_HERE / f"{name}.py")
        except OSError:
            continue  # an install without sources: the compiled module is all there is
        if digest != manifest.get(name):
            return False, f"{name}.py changed since it was compiled"
    return True, "mypyc-compiled"


class _SourcesFirst(importlib.abc.MetaPathFinder):
    """Import the hot modules from their ``.py`` files even where an extension module sits beside."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None = None, target: types.ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        package, _, name = fullname.rpartition(".")
        if package != PACKAGE or name not in HOT_MODULES:
            return None
        source = _HERE / f"{name}.py"
        if not source.exists():
            return None
        return importlib.util.spec_from_file_location(fullname, source)


COMPILED, REASON = _compiled_usable()
if not COMPILED and any(_extension_exists(name) for name in HOT_MODULES):
    sys.meta_path.insert(0, _SourcesFirst())


def describe() -> str:
    """One line for benchmarks and ``--stats``-style reports."""
    return "mypyc-compiled" if COMPILED else f"pure Python ({REASON})"
