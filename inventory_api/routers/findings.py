"""``/api/v1/findings``: actionable items (severity, kind, evidence), each linked to its endpoint
(or, for TLS posture, to its TLS service)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from analyzer.inventory.findings import KINDS, SEVERITIES, build_findings, severity_counts
from inventory_api.deps import Reader, SessionDep
from inventory_api.schemas import NO_NUL
from inventory_api.security import Permission

router = APIRouter(prefix="/findings", tags=["findings"])

# The query's choices come from the rules (analyzer.inventory.findings.RULES): a new rule is
# listed, validated and counted here without touching this router.
Severity = StrEnum("Severity", {s: s for s in SEVERITIES})  # type: ignore[misc]
Kind = StrEnum("Kind", {k: k for k in KINDS})  # type: ignore[misc]


@router.get("")
def list_findings(
    principal: Reader,
    session: SessionDep,
    request: Request,
    severity: Annotated[list[Severity] | None, Query(max_length=len(SEVERITIES))] = None,
    kind: Annotated[list[Kind] | None, Query(max_length=len(KINDS))] = None,
    service: Annotated[
        str | None, Query(min_length=1, max_length=1000, pattern=NO_NUL, description="service host")
    ] = None,
) -> dict[str, Any]:
    items = build_findings(
        session=session,
        full_samples=principal.can(Permission.READ_SAMPLES),
        severities=[s.value for s in severity or ()],
        kinds=[k.value for k in kind or ()],
        host=service,
    )
    for item in items:
        endpoint = item["endpoint"]
        if endpoint is not None:
            endpoint["url"] = str(request.url_for("get_endpoint", endpoint_id=endpoint["id"]))
        tls = item.get("tls_service")
        if tls is not None:
            tls["url"] = str(request.url_for("get_tls_service", tls_service_id=tls["id"]))
    return {"items": items, "counts": severity_counts(items)}
