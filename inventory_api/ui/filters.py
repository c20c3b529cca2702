"""The catalog's filters from an HTML form's query string (blank fields mean "any"): the same
filters, bounds and sort keys as ``GET /api/v1/endpoints``, errors reported on the page."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, get_args

from fastapi.datastructures import QueryParams

from inventory_api import crud
from inventory_api.pagination import MAX_CURSOR_CHARS, SortSpec, parse_sort
from inventory_api.schemas import ReviewState

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
SORTS = (
    ("path", "path A→Z"), ("-path", "path Z→A"), ("-hits", "most hits"), ("hits", "fewest hits"),
    ("-last_seen", "recently seen"), ("last_seen", "least recently seen"), ("-first_seen", "newest"),
    ("first_seen", "oldest"), ("method", "method"),
)
PAGE_SIZES = (25, 50, 100, 200)
_METHOD = re.compile(r"^[A-Za-z]{1,32}$")
_PII_TYPE = re.compile(r"^[A-Za-z0-9_]{1,64}$")
_PII_LOCATION = re.compile(r"^[a-z_]{1,32}$")
_BOOLS = {"true": True, "false": False}
FIELDS = ("q", "service", "pii_type", "pii_location", "unauthenticated", "shadow", "zombie", "spec_verdict",
           "orphan", "seen_since", "seen_before", "owner", "review_state", "sort", "limit", "cursor")


class FilterError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class CatalogQuery:
    filters: crud.EndpointFilters
    sort: SortSpec
    orphan: bool
    limit: int
    cursor: str | None
    form: dict[str, Any]  # what the form shows back (strings), "method" a list


def _text(params: QueryParams, name: str, limit: int) -> str | None:
    value = params.get(name, "").strip()
    if not value:
        return None
    if len(value) > limit or "\x00" in value:
        raise FilterError(f"{name}: at most {limit} characters, no NUL")
    return value


def _date(params: QueryParams, name: str) -> datetime | None:
    value = _text(params, name, 40)
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise FilterError(f"{name}: not a date (YYYY-MM-DD)") from exc
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _bool(params: QueryParams, name: str) -> bool | None:
    value = params.get(name, "")
    if value == "":
        return None
    if value not in _BOOLS:
        raise FilterError(f"{name}: true or false")
    return _BOOLS[value]


def parse_catalog(params: QueryParams) -> CatalogQuery:
    form: dict[str, Any] = {name: params.get(name, "") for name in FIELDS}
    form["method"] = [m.upper() for m in params.getlist("method") if m]
    form["sort"] = form["sort"] or "path"
    form["limit"] = form["limit"] or "50"
    methods = form["method"]
    if len(methods) > 20 or not all(_METHOD.match(m) for m in methods):
        raise FilterError("method: letters only, at most 20")
    pii_type = _text(params, "pii_type", 64)
    if pii_type is not None and not _PII_TYPE.match(pii_type):
        raise FilterError("pii_type: letters, digits and _ (e.g. EMAIL_ADDRESS)")
    pii_location = _text(params, "pii_location", 32)
    if pii_location is not None and not _PII_LOCATION.match(pii_location):
        raise FilterError("pii_location: request, response, query, path or header")
    spec_verdict = _text(params, "spec_verdict", 16)
    if spec_verdict is not None and spec_verdict not in ("documented", "zombie", "shadow"):
        raise FilterError("spec_verdict: documented, zombie or shadow")
    review_state = _text(params, "review_state", 32)
    if review_state is not None and review_state not in REVIEW_STATES:
        raise FilterError(f"review_state: one of {', '.join(REVIEW_STATES)}")
    orphan = _bool(params, "orphan") or False
    try:
        limit = int(form["limit"])
    except ValueError as exc:
        raise FilterError("limit: a number") from exc
    if not 1 <= limit <= max(PAGE_SIZES):
        raise FilterError(f"limit: 1 to {max(PAGE_SIZES)}")
    cursor = params.get("cursor") or None
    if cursor is not None and len(cursor) > MAX_CURSOR_CHARS:
        raise FilterError("cursor too long")
    sort = parse_sort(form["sort"], crud.ORPHAN_SORTS if orphan else crud.ENDPOINT_SORTS)
    filters = crud.EndpointFilters(
        host=_text(params, "service", 1000),
        methods=tuple(dict.fromkeys(methods)),
        pii_type=pii_type.upper() if pii_type else None,
        pii_location=pii_location,
        unauthenticated=_bool(params, "unauthenticated"),
        seen_since=_date(params, "seen_since"),
        seen_before=_date(params, "seen_before"),
        q=_text(params, "q", 200),
        owner=_text(params, "owner", 255),
        review_state=review_state,
        spec_verdict=spec_verdict,
        shadow=_bool(params, "shadow"),
        zombie=_bool(params, "zombie"),
    )
    return CatalogQuery(filters, sort, orphan, limit, cursor, form)


REVIEW_STATES: tuple[str, ...] = get_args(ReviewState)
