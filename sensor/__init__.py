"""Passive HTTP/1 API sensor. ``sensor._native`` picks compiled or pure-Python hot modules."""

from sensor import _native  # noqa: F401 - must run before any hot module is imported
