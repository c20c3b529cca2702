"""``/api/v1/integrations``: alert destinations (administrators only); secrets never returned."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, HTTPException, Path, Request, Response, status

from analyzer.alerts.destinations import DestinationError
from analyzer.alerts.outbox_sql import SqlOutbox
from analyzer.alerts.wiring import create_integration, delete_integration, get_integration, list_integrations
from analyzer.alerts.worker import status_table
from inventory_api.deps import Admin, SessionDep, bounded_body
from inventory_api.schemas import error_responses

router = APIRouter(prefix="/integrations", tags=["integrations"])

IntegrationId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
MAX_INTEGRATION_BYTES = 64 * 1024


def _notify(request: Request) -> None:
    service = getattr(request.app.state, "delivery", None)
    if service is not None:
        service.notify()


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(400, 409, 413),
    openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}}},
)
def create(
    _principal: Admin,
    session: SessionDep,
    data: Annotated[bytes, Depends(bounded_body(MAX_INTEGRATION_BYTES, "integration"))],
) -> dict[str, Any]:
    """A destination: ``{"kind": "webhook", "url": ..., "secret": ...}`` (also slack, splunk_hec,
    syslog); ``rules`` optional (none = every finding, threat event and change)."""
    try:
        body = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, detail=f"invalid JSON: {exc}") from exc
    try:
        destination = create_integration(session, body)
    except DestinationError as exc:
        code = status.HTTP_409_CONFLICT if "exists already" in str(exc) else 422
        raise HTTPException(code, detail=str(exc)) from exc
    session.commit()
    return destination.public()


@router.get("")
def list_all(_principal: Admin, session: SessionDep, request: Request) -> list[dict[str, Any]]:
    """Every destination with its delivery status (queued, failed, totals, last error)."""
    return [dict(row) for row in status_table(SqlOutbox(request.app.state.engine), list_integrations(session))]


@router.get("/{integration_id}/status", responses=error_responses(404))
def get_status(
    _principal: Admin, session: SessionDep, request: Request, integration_id: IntegrationId
) -> dict[str, Any]:
    destination = get_integration(session, integration_id)
    if destination is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="no such integration")
    return dict(status_table(SqlOutbox(request.app.state.engine), [destination])[0])


@router.delete("/{integration_id}", status_code=status.HTTP_204_NO_CONTENT, responses=error_responses(404))
def delete(_principal: Admin, session: SessionDep, integration_id: IntegrationId) -> Response:
    if not delete_integration(session, integration_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="no such integration")
    session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{integration_id}/test", status_code=status.HTTP_202_ACCEPTED, responses=error_responses(404))
def send_test(_principal: Admin, session: SessionDep, request: Request, integration_id: IntegrationId) -> dict[str, Any]:
    """Queue a test alert for this destination only."""
    import uuid
    from datetime import UTC, datetime

    from analyzer.alerts.dispatch import AlertDispatcher
    from analyzer.alerts.model import alert_from_change_event

    destination = get_integration(session, integration_id)
    if destination is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="no such integration")
    alert = alert_from_change_event(
        {"id": f"test-{uuid.uuid4().hex[:12]}", "type": "new_endpoint", "host": "apicensus.test",
         "method": "GET", "path_template": "/test", "title": "APICensus test alert", "severity": "info",
         "ts": datetime.now(UTC)}
    )
    report = AlertDispatcher(outbox=SqlOutbox(request.app.state.engine), destinations=[destination]).submit([alert])
    _notify(request)
    return {"queued": report.queued, "uid": alert.uid}
