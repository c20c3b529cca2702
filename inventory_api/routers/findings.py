"""``/api/v1/findings``: actionable items (severity, kind, evidence), each linked to its endpoint
(or, for TLS posture, to its TLS service)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Request, status

from analyzer.inventory.findings import (
    KINDS,
    SEVERITIES,
    FindingKey,
    build_findings,
    page_after,
    severity_counts,
)
from analyzer.inventory.workflow import WorkflowError, parse_finding_id
from inventory_api.deps import Annotator, Reader, SessionDep, SettingsDep, page_limit
from inventory_api.pagination import MAX_CURSOR_CHARS, decode_key_cursor, encode_key_cursor
from inventory_api.routers.workflow import change_workflow, workflow_public
from inventory_api.schemas import NO_NUL, error_responses
from inventory_api.schemas_threats import WorkflowPublic, WorkflowUpdate
from inventory_api.security import Permission

router = APIRouter(prefix="/findings", tags=["findings"])

# The query's choices come from the rules (analyzer.inventory.findings.RULES): a new rule is
# listed, validated and counted here without touching this router.
Severity = StrEnum("Severity", {s: s for s in SEVERITIES})  # type: ignore[misc]
Kind = StrEnum("Kind", {k: k for k in KINDS})  # type: ignore[misc]
CURSOR_SCOPE = "findings"
CURSOR_SHAPE = (int, int, str, str, str, str)  # analyzer.inventory.findings.order_key


@router.get("")
def list_findings(
    principal: Reader,
    session: SessionDep,
    settings: SettingsDep,
    request: Request,
    severity: Annotated[list[Severity] | None, Query(max_length=len(SEVERITIES))] = None,
    kind: Annotated[list[Kind] | None, Query(max_length=len(KINDS))] = None,
    service: Annotated[
        str | None, Query(min_length=1, max_length=1000, pattern=NO_NUL, description="service host")
    ] = None,
    limit: Annotated[int | None, Query(ge=1, description="page size (default and maximum: the API settings)")] = None,
    cursor: Annotated[str | None, Query(max_length=MAX_CURSOR_CHARS, description="next_cursor of the page before")] = None,
) -> dict[str, Any]:
    """One page of findings (most severe first) and ``counts`` per severity over all that match."""
    size = page_limit(limit, settings)
    after: FindingKey | None = None
    if cursor is not None:
        after = decode_key_cursor(cursor, CURSOR_SCOPE, CURSOR_SHAPE)  # type: ignore[assignment]
    everything = build_findings(
        session=session,
        full_samples=principal.can(Permission.READ_SAMPLES),
        severities=[s.value for s in severity or ()],
        kinds=[k.value for k in kind or ()],
        host=service,
    )
    items, next_key = page_after(everything, after=after, limit=size)
    for item in items:
        endpoint = item["endpoint"]
        if endpoint is not None:
            endpoint["url"] = str(request.url_for("get_endpoint", endpoint_id=endpoint["id"]))
        tls = item.get("tls_service")
        if tls is not None:
            tls["url"] = str(request.url_for("get_tls_service", tls_service_id=tls["id"]))
    return {
        "items": items,
        "counts": severity_counts(everything),
        "next_cursor": None if next_key is None else encode_key_cursor(CURSOR_SCOPE, next_key),
    }


FindingId = Annotated[
    str, Path(min_length=3, max_length=128, pattern="^[a-z0-9_]+:(tls)?[0-9]+$", description="a finding's id (kind:endpoint id, kind:tls<id>)")
]


def _finding_id(finding_id: str) -> str:
    try:
        parse_finding_id(finding_id, KINDS)
    except WorkflowError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc)) from exc
    return finding_id


@router.get("/{finding_id}/workflow", response_model=WorkflowPublic, responses=error_responses(404, 422))
def get_finding_workflow(_principal: Reader, session: SessionDep, finding_id: FindingId) -> WorkflowPublic:
    """The finding's place in the findings & events workflow, with its history."""
    return workflow_public(session=session, item_id=_finding_id(finding_id))


@router.put("/{finding_id}/workflow", response_model=WorkflowPublic, responses=error_responses(403, 404, 422))
def set_finding_workflow(
    principal: Annotator, session: SessionDep, finding_id: FindingId, change: WorkflowUpdate
) -> WorkflowPublic:
    """Move the finding in the workflow (open, acknowledged, resolved, false_positive, accepted_risk)."""
    return change_workflow(session=session, principal=principal, item_id=_finding_id(finding_id), change=change)
