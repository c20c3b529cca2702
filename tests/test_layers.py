"""The house rules, checked on the source: layers without an arrow back up, an honest
dependency list, and product files a person can hold in their head."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from collections.abc import Iterator
from importlib.metadata import packages_distributions
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PRODUCT = ("sensor", "analyzer", "inventory_api")
# Who may import whom: each layer only what is below it. Not installed, so never imported by the
# product: devtools, bench, tests.
ALLOWED = {
    "sensor": {"sensor"},
    "analyzer": {"sensor", "analyzer"},
    "inventory_api": {"sensor", "analyzer", "inventory_api"},
}
OURS = {"sensor", "analyzer", "inventory_api", "devtools", "bench", "tests", "apicensus_cli", "migrations"}
# Distributions product code needs without an import statement of its own.
LOADED_BY_NAME = {
    "psycopg2-binary": "the PostgreSQL driver SQLAlchemy loads for postgresql:// URLs",
    "faker": "analyzer.pii.names reads its name lists through importlib.import_module",
    "uvloop": "uvicorn loads it by name as the event loop of apicensus serve (loop=\"auto\")",
    "python-multipart": "Starlette's Request.form() imports it by name for the console's forms (inventory_api.ui)",
}
# Product files over this many lines are TEMPORARY exceptions while their owners split them.
MAX_LINES = 1000
BEING_SPLIT: set[str] = set()


def product_files() -> Iterator[Path]:
    for package in PRODUCT:
        yield from sorted((REPO / package).rglob("*.py"))
    yield REPO / "apicensus_cli.py"


def imported(path: Path) -> set[str]:
    """Top-level names of every module ``path`` imports (absolute imports, at any depth)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names


def test_no_arrow_runs_back_up() -> None:
    wrong = []
    for path in product_files():
        layer = path.relative_to(REPO).parts[0]
        if layer not in ALLOWED:
            continue
        for name in imported(path) & OURS:
            if name not in ALLOWED[layer]:
                wrong.append(f"{path.relative_to(REPO)} imports {name}")
    assert wrong == []


def _dependencies() -> dict[str, str]:
    """Declared runtime distributions, normalised name -> as written."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    out = {}
    for spec in project["dependencies"]:
        name = re.match(r"[A-Za-z0-9_.-]+", spec)
        assert name
        out[re.sub(r"[-_.]+", "-", name.group(0)).lower()] = name.group(0)
    return out


def _third_party_imports() -> dict[str, set[str]]:
    """Distribution (normalised) -> product files importing it."""
    dists = packages_distributions()
    found: dict[str, set[str]] = {}
    for path in product_files():
        for name in imported(path) - OURS:
            if name in sys.stdlib_module_names or name == "__future__":
                continue
            for dist in dists.get(name, [name]):
                found.setdefault(re.sub(r"[-_.]+", "-", dist).lower(), set()).add(str(path.relative_to(REPO)))
    return found


def test_every_runtime_dependency_is_imported_by_product_code() -> None:
    used = _third_party_imports()
    unused = [d for d in _dependencies() if d not in used and d not in LOADED_BY_NAME]
    assert unused == [], f"runtime dependencies no product module imports (move them to the dev extra): {unused}"


def test_every_library_product_code_imports_is_declared() -> None:
    declared = _dependencies()
    undeclared = {d: sorted(files)[:3] for d, files in _third_party_imports().items() if d not in declared}
    assert undeclared == {}


def test_no_product_file_over_a_thousand_lines() -> None:
    long = {
        str(p.relative_to(REPO)): n
        for p in product_files()
        if (n := len(p.read_text().splitlines())) > MAX_LINES and str(p.relative_to(REPO)) not in BEING_SPLIT
    }
    assert long == {}


def test_one_alembic_chain() -> None:
    versions = [p for p in REPO.rglob("versions") if p.is_dir() and ".venv" not in p.parts and "tests" not in p.parts]
    assert versions == [REPO / "migrations" / "versions"]
