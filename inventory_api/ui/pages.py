"""Console pages for reading: sign-in/out, overview, catalog, endpoint, actors, PII, changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from analyzer.inventory import reports
from analyzer.inventory.findings import SEVERITIES
from analyzer.inventory.workflow import CLOSED, Triage, triage
from inventory_api import crud, crud_triage, crud_workflow
from inventory_api.crud_triage import EventQuery
from inventory_api.deps import SessionDep
from inventory_api.pagination import InvalidPageRequest
from inventory_api.security import Permission
from inventory_api.ui import auth, data, filters
from inventory_api.ui.auth import UserDep
from inventory_api.ui.render import HEADERS, bars_svg, page, time_chart_svg
from inventory_api.ui.snapshot import Snapshot, current, for_role, suppressed_ids

router = APIRouter()
EndpointId = Annotated[int, Path(ge=1, le=2**31 - 1)]
SnapshotDep = Annotated[Snapshot, Depends(current)]


@router.get("/", response_class=HTMLResponse)
def signin_page(request: Request, session: SessionDep) -> Response:
    try:
        auth.current_user(request, session)
        return RedirectResponse("/ui/overview", status_code=303)
    except auth.SignInRequired:
        pass
    request.app.state.console_snapshots.warm()
    return _signin(request, None)


def _signin(request: Request, error: str | None, status_code: int = 200) -> Response:
    token = auth.signin_token(request)
    response = page(request, "signin.html", None, status_code=status_code, csrf=token, error=error)
    auth.set_signin_cookie(response, request, token)
    return response


@router.post("/signin", response_class=HTMLResponse)
async def signin(request: Request, session: SessionDep) -> Response:
    form = await auth.read_form(request)
    if not auth.signin_token_ok(request, form):
        return _signin(request, "The form expired or was not sent by this page: sign in again.", 403)
    secret = form.get("key")
    if not isinstance(secret, str) or not secret.strip() or len(secret) > 200:
        return _signin(request, "Enter an API key.", 400)
    opened = auth.open_session(session=session, secret=secret.strip())
    if opened is None:
        return _signin(request, "Invalid or revoked key, or a key that cannot read (sensor).", 401)
    token, _key = opened
    response = RedirectResponse("/ui/overview", status_code=303)
    auth.set_session_cookie(response, request, token)
    return response


@router.post("/signout")
def signout(request: Request, session: SessionDep, _form: auth.FormDep) -> Response:
    token = request.cookies.get(auth.SESSION_COOKIE)
    if token:
        auth.close_session(session=session, token=token)
    response = RedirectResponse("/ui/", status_code=303)
    auth.clear_session_cookie(response)
    return response


def open_finding_counts(snap: Snapshot, tri: Triage) -> dict[str, int]:
    """Findings neither closed nor suppressed, per severity."""
    counts = {s: len(snap.by_severity.get(s, ())) for s in SEVERITIES}
    for finding_id in suppressed_ids(snap, tri) | tri.ids_in(CLOSED):
        gone = snap.by_id.get(finding_id)
        if gone is not None:
            counts[gone["severity"]] -= 1
    return counts


@router.get("/overview", response_class=HTMLResponse)
def overview(request: Request, user: UserDep, session: SessionDep, snap: SnapshotDep) -> Response:
    o = snap.overview
    tri = triage(session=session)
    return page(
        request,
        "overview.html",
        user,
        title="Overview",
        o=o,
        taken_at=snap.taken_at,
        week=(o.now - timedelta(days=7)).date().isoformat(),
        traffic_svg=time_chart_svg("Requests per hour", snap.traffic),
        pii_svg=bars_svg("Endpoints per PII type", list(o.pii_by_type[:10])),
        finding_counts=open_finding_counts(snap, tri),
        event_counts=crud_triage.open_event_counts(session=session, tri=tri),
    )


def _catalog(request: Request, session: SessionDep) -> dict[str, object]:
    try:
        cq = filters.parse_catalog(request.query_params)
        lister = crud.list_orphans if cq.orphan else crud.list_endpoints
        result = lister(session=session, filters=cq.filters, sort=cq.sort, limit=cq.limit, cursor=cq.cursor)
        return {"page": result, "f": cq.form, "params": {k: v for k, v in cq.form.items() if v}, "error": None}
    except (filters.FilterError, InvalidPageRequest) as exc:
        form: dict[str, object] = {name: request.query_params.get(name, "") for name in filters.FIELDS}
        form["method"] = request.query_params.getlist("method")
        return {"page": None, "f": form, "params": {}, "error": str(exc)}


@router.get("/catalog", response_class=HTMLResponse)
def catalog(request: Request, user: UserDep, session: SessionDep, snap: SnapshotDep) -> Response:
    ctx = _catalog(request, session)
    return page(
        request, "catalog.html", user, status_code=422 if ctx["error"] else 200, title="Catalog",
        hosts=snap.hosts, methods=filters.METHODS, pii_types=snap.pii_types, sorts=filters.SORTS,
        review_states=("", *filters.REVIEW_STATES), **ctx,
    )


@router.get("/catalog/rows", response_class=HTMLResponse)
def catalog_rows(request: Request, user: UserDep, session: SessionDep) -> Response:
    """The results part of the catalog alone (search as you type replaces it in place)."""
    ctx = _catalog(request, session)
    return page(request, "_catalog_rows.html", user, status_code=422 if ctx["error"] else 200, **ctx)


@router.get("/endpoints/{endpoint_id}", response_class=HTMLResponse)
def endpoint(
    request: Request, user: UserDep, session: SessionDep, snap: SnapshotDep, endpoint_id: EndpointId
) -> Response:
    full = user.can(Permission.READ_SAMPLES)
    detail = crud.get_endpoint_detail(session=session, endpoint_id=endpoint_id, full_samples=full)
    if detail is None:
        return page(request, "error.html", user, status_code=404, title="Not found", detail="No such endpoint.")
    hourly = data.traffic(session, days=14, endpoint_id=endpoint_id)
    statuses = sorted(detail["status_codes"].items(), key=lambda kv: (-kv[1], kv[0]))
    tri = triage(session=session)
    findings = [crud_workflow.queue_finding(for_role(f, full_samples=full), tri) for f in snap.by_endpoint.get(endpoint_id, [])]
    clients = data.endpoint_clients(session=session, endpoint_id=endpoint_id)
    events = crud_triage.list_queue_events(
        session=session, tri=tri, query=EventQuery(state="all", endpoint_id=endpoint_id, show_suppressed=True),
        offset=0, limit=50, full_evidence=full,
    )
    return page(
        request, "endpoint.html", user, title=f"{detail['method']} {detail['path_template']}", e=detail,
        full_samples=full, hourly_svg=time_chart_svg("Requests per hour", hourly),
        status_svg=bars_svg("Responses by status", statuses), findings=findings, clients=clients,
        changes=data.endpoint_changes(session=session, endpoint_id=endpoint_id),
        events=events, actors=crud_triage.event_actors(events.items),
    )


@router.get("/actors", response_class=HTMLResponse)
def actors(request: Request, user: UserDep, session: SessionDep, snap: SnapshotDep) -> Response:
    return page(
        request, "actors.html", user, title="Actors", taken_at=snap.taken_at,
        actors=data.riskiest_actors(session=session), recipients=snap.recipients,
    )


@router.get("/changes", response_class=HTMLResponse)
def changes(request: Request, user: UserDep, session: SessionDep) -> Response:
    return page(request, "changes.html", user, title="Changes", changes=data.recent_changes(session=session))


@router.get("/pii", response_class=HTMLResponse)
def pii(request: Request, user: UserDep, snap: SnapshotDep) -> Response:
    summary = snap.pii
    return page(
        request, "pii.html", user, title="PII report", now=snap.taken_at,
        full_samples=user.can(Permission.READ_SAMPLES),
        by_type_svg=bars_svg("Endpoints per PII type", [(t["type"], t["endpoints"]) for t in summary["by_type"][:12]]),
        **summary,
    )


@router.get("/pii/report.html", response_class=HTMLResponse)
def pii_report_html(user: UserDep, session: SessionDep) -> Response:
    full = user.can(Permission.READ_SAMPLES)
    rows = reports.load_findings(session=session, full_samples=full)
    report = reports.build_report(rows, generated_at=datetime.now(UTC))
    return HTMLResponse(
        reports.render_html(report, rows, full_samples=full),
        headers={**HEADERS, "Content-Security-Policy": reports.HTML_CSP},
    )


@router.get("/pii/report.csv")
def pii_report_csv(user: UserDep, session: SessionDep) -> Response:
    rows = reports.load_findings(session=session, full_samples=user.can(Permission.READ_SAMPLES))
    return Response(
        reports.render_csv(rows).encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={"Cache-Control": "no-store", "Content-Disposition": 'attachment; filename="apicensus-pii.csv"'},
    )
