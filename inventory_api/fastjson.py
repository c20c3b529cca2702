"""Pre-serialised JSON answers for the hot read routes.

A route returning a pydantic model is validated twice by FastAPI (the model, then the response
model again) and encoded through ``jsonable_encoder``: about half the CPU of a catalog read. The
list routes instead encode the plain dicts ``crud`` builds (already in the public shape, checked
against the response model in tests/inventory_api/test_fastjson.py) with orjson; a detail is
validated once by its model and dumped by pydantic's own encoder. The routes keep their
``response_model`` for the OpenAPI schema.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import Response
from pydantic import BaseModel

# UTC as "Z", as pydantic writes it; non-str dict keys (e.g. status codes) as strings.
_OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_NON_STR_KEYS


class JsonBytes(Response):
    media_type = "application/json"


def page(items: list[dict[str, Any]], next_cursor: str | None) -> JsonBytes:
    """``{"items": [...], "next_cursor": ...}`` from dicts in the public shape."""
    return JsonBytes(orjson.dumps({"items": items, "next_cursor": next_cursor}, option=_OPTIONS))


def model(value: BaseModel) -> JsonBytes:
    """One validated model, encoded once (no second validation by FastAPI)."""
    return JsonBytes(value.__pydantic_serializer__.to_json(value))
