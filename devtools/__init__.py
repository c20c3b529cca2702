"""Developer tools: test-traffic generators for tests, benches and sample captures.

Not part of the product: this package is not installed (pyproject.toml lists only sensor,
analyzer and inventory_api), so nothing in those may import it. Tests and benches run from the
repository root, where it is importable.
"""
