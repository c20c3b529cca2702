"""``/api/v1/findings``: actionable items (severity, kind, evidence), each linked to its endpoint."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request

from analyzer.inventory.findings import build_findings
from inventory_api.deps import Reader, SessionDep
from inventory_api.schemas import NO_NUL
from inventory_api.security import Permission

router = APIRouter(prefix="/findings", tags=["findings"])

Severity = Literal["critical", "high", "medium", "low"]
Kind = Literal["pii_unauthenticated", "credentials_in_url", "pii_in_url", "shadow_pii", "zombie_traffic"]


@router.get("")
def list_findings(
    principal: Reader,
    session: SessionDep,
    request: Request,
    severity: Annotated[list[Severity] | None, Query(max_length=4)] = None,
    kind: Annotated[list[Kind] | None, Query(max_length=5)] = None,
    service: Annotated[
        str | None, Query(min_length=1, max_length=1000, pattern=NO_NUL, description="service host")
    ] = None,
) -> dict[str, Any]:
    items = build_findings(
        session=session,
        full_samples=principal.can(Permission.READ_SAMPLES),
        severities=severity or (),
        kinds=kind or (),
        host=service,
    )
    for item in items:
        endpoint = item["endpoint"]
        endpoint["url"] = str(request.url_for("get_endpoint", endpoint_id=endpoint["id"]))
    counts = {s: 0 for s in ("critical", "high", "medium", "low")}
    for item in items:
        counts[item["severity"]] += 1
    return {"items": items, "counts": counts}
