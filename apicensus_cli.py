"""The one console command, ``apicensus``: each part registers its own subcommands."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# Each module exposes ``register(subparsers)``; a subcommand sets ``func`` returning an exit code.
# Imported lazily per part so ``apicensus sensor`` does not pay for pandas or presidio at start-up.
PARTS = ("sensor.cli", "analyzer.cli", "analyzer.report_cli", "inventory_api.cli")


def version() -> str:
    """The installed distribution's version; the source tree's pyproject when run from a clone."""
    from importlib import metadata

    try:
        return metadata.version("apicensus")
    except metadata.PackageNotFoundError:
        import re
        from pathlib import Path

        pyproject = Path(__file__).with_name("pyproject.toml")
        found = re.search(r'^version = "([^"]+)"', pyproject.read_text(), re.M) if pyproject.exists() else None
        return f"{found.group(1)} (source)" if found else "unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="apicensus", description="Passive API discovery and inventory.")
    parser.add_argument("--version", action="version", version=f"apicensus {version()}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module_name in PARTS:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            # The part is not there (yet): fine. A missing dependency inside it is not: say so.
            if exc.name is None or not module_name.startswith(exc.name):
                raise
            continue
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # Downstream closed the pipe (e.g. `| head`): not an error of ours.
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
