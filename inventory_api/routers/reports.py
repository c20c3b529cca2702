"""``/api/v1/reports/pii``: PII exposure for compliance staff, as JSON, CSV or one HTML page."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, JSONResponse, Response

from analyzer.inventory import reports
from inventory_api.deps import Reader, SessionDep
from inventory_api.security import Permission

router = APIRouter(prefix="/reports", tags=["reports"])


@router.get(
    "/pii",
    response_model=None,
    responses={
        200: {
            "description": "The report: JSON (default), CSV or HTML per ``format``",
            "content": {
                "application/json": {"schema": {"type": "object"}},
                "text/csv": {"schema": {"type": "string"}},
                "text/html": {"schema": {"type": "string"}},
            },
        }
    },
)
def pii_report(
    principal: Reader,
    session: SessionDep,
    format: Annotated[Literal["json", "csv", "html"], Query(description="json, csv or html")] = "json",
) -> Response:
    full_samples = principal.can(Permission.READ_SAMPLES)
    rows = reports.load_findings(session=session, full_samples=full_samples)
    now = datetime.now(UTC)
    no_store = {"Cache-Control": "no-store"}
    if format == "csv":
        name = f"apicensus-pii-report-{now:%Y%m%d-%H%M%S}.csv"
        return Response(
            content=reports.render_csv(rows).encode("utf-8"),
            media_type="text/csv; charset=utf-8",
            headers={**no_store, "Content-Disposition": f'attachment; filename="{name}"'},
        )
    report = reports.build_report(rows, generated_at=now)
    if format == "html":
        return HTMLResponse(
            reports.render_html(report, rows, full_samples=full_samples),
            headers={**no_store, "Content-Security-Policy": reports.HTML_CSP},
        )
    # Already JSON-native (ISO strings, ints): skip FastAPI's per-value encoding, which takes
    # seconds on tens of thousands of findings.
    return JSONResponse(report, headers=no_store)
