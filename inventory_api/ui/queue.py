"""The findings & events queue: filters, workflow changes and suppression rules (forms: CSRF).

Findings come from the console's snapshot; threat events are read per request through
:mod:`inventory_api.crud_triage` (typed rows). Both share one workflow (item ids ``kind:endpoint``
and ``event:<hash>``), one form and one set of suppression rules."""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from analyzer.detect.model import EVENT_TYPES
from analyzer.inventory.findings import KINDS
from analyzer.inventory.workflow import (
    EVENT_PREFIX,
    STATES,
    WorkflowError,
    add_suppression,
    delete_suppression,
    set_state,
    suppressions,
    triage,
)
from inventory_api import crud_triage, crud_workflow
from inventory_api.crud_triage import QUEUE_SEVERITIES, SUPPRESSIBLE_KINDS, EventQuery
from inventory_api.deps import SessionDep
from inventory_api.security import Permission
from inventory_api.ui import auth
from inventory_api.ui.auth import ConsoleUser, FormDep, UserDep
from inventory_api.ui.render import page
from inventory_api.ui.snapshot import Snapshot, current, for_role, select_findings

router = APIRouter()
PAGE = 50
STATE_CHOICES = (("active", "open + acknowledged"), ("open", "open"), ("acknowledged", "acknowledged"),
                 ("closed", "resolved / false positive / accepted risk"), ("all", "all"))
NEXT_STATE = {"open": "acknowledged", "acknowledged": "resolved", "resolved": "open",
              "false_positive": "open", "accepted_risk": "open"}


def _annotator(user: ConsoleUser) -> ConsoleUser:
    if not user.can(Permission.ANNOTATE):
        raise auth.PageForbidden(f"role {user.role.value!r} may not change findings")
    return user


@router.get("/findings", response_class=HTMLResponse)
def findings(
    request: Request, user: UserDep, session: SessionDep, snap: Annotated[Snapshot, Depends(current)]
) -> Response:
    q = request.query_params
    state, severity, kind = q.get("state", ""), q.get("severity", ""), q.get("kind", "")
    f: dict[str, str] = {
        "state": state if state in dict(STATE_CHOICES) else "active",
        "severity": severity if severity in QUEUE_SEVERITIES else "",
        "kind": kind if kind in SUPPRESSIBLE_KINDS else "",
        "service": (q.get("service") or "").strip()[:1000].replace("\x00", ""),
        "suppressed": "true" if q.get("suppressed") == "true" else "",
    }
    offset, event_offset = _offset(q.get("offset")), _offset(q.get("event_offset"))
    tri = triage(session=session)
    items = select_findings(
        snap, tri, state=f["state"], severity=f["severity"], kind=f["kind"], host=f["service"],
        show_suppressed=bool(f["suppressed"]),
    )
    full = user.can(Permission.READ_SAMPLES)
    shown = [
        crud_workflow.queue_finding(for_role(i, full_samples=full), tri) for i in items[offset : offset + PAGE]
    ]
    # Events: the same filters; a finding kind as the kind filter leaves no event, and back.
    events = crud_triage.QueueEventPage((), 0)
    if not f["kind"] or f["kind"] in EVENT_TYPES:
        events = crud_triage.list_queue_events(
            session=session, tri=tri,
            query=EventQuery(state=f["state"], severity=f["severity"], type=f["kind"], host=f["service"],
                             show_suppressed=bool(f["suppressed"])),
            offset=event_offset, limit=PAGE, full_evidence=full,
        )
    params = {k: v for k, v in f.items() if v}
    return page(
        request, "findings.html", user, title="Findings & events", f=f, params=params,
        items=shown, total=len(items), taken_at=snap.taken_at, offset=offset, limit=PAGE,
        severities=QUEUE_SEVERITIES, kinds=KINDS, event_types=EVENT_TYPES, states=STATES,
        state_choices=STATE_CHOICES, next_state=NEXT_STATE,
        back=str(request.url.query)[:2000], can_annotate=user.can(Permission.ANNOTATE),
        suppressions=suppressions(session=session), now=datetime.now(UTC), hosts=snap.hosts,
        events=events, event_offset=event_offset,
        flash=q.get("flash"), flash_kind="error" if q.get("error") else "ok",
    )


@router.get("/findings/{finding_id}", response_class=HTMLResponse)
def finding(
    request: Request, user: UserDep, session: SessionDep, snap: Annotated[Snapshot, Depends(current)],
    finding_id: Annotated[str, Path(max_length=128)],
) -> Response:
    event_id = finding_id.removeprefix(EVENT_PREFIX)
    if event_id != finding_id and event_id.isascii() and event_id.isalnum():  # an event: its own page
        return RedirectResponse(f"/ui/events/{event_id}", status_code=303)
    item = snap.by_id.get(finding_id)
    if item is None:
        return page(request, "error.html", user, status_code=404, title="Not found",
                    detail="No such finding (it may have been fixed since: findings follow the inventory).")
    tri = triage(session=session)
    return page(
        request, "finding.html", user, title=item["kind"],
        i=crud_workflow.queue_finding(for_role(item, full_samples=user.can(Permission.READ_SAMPLES)), tri),
        history=crud_workflow.workflow_view(session=session, item_id=finding_id).history, states=STATES,
        can_annotate=user.can(Permission.ANNOTATE),
    )


def _offset(raw: str | None) -> int:
    return int(raw) if raw is not None and raw.isdigit() and len(raw) < 9 else 0


@router.get("/events/{event_id}", response_class=HTMLResponse)
def event(
    request: Request, user: UserDep, session: SessionDep,
    event_id: Annotated[str, Path(max_length=crud_triage.MAX_EVENT_ID, pattern="^[0-9A-Za-z]+$")],
) -> Response:
    tri = triage(session=session)
    item = crud_triage.get_queue_event(
        session=session, tri=tri, event_id=event_id, full_evidence=user.can(Permission.READ_SAMPLES)
    )
    if item is None:
        return page(request, "error.html", user, status_code=404, title="Not found", detail="No such threat event.")
    return page(
        request, "event.html", user, title=item.title, i=item, states=STATES,
        history=crud_workflow.workflow_view(session=session, item_id=item.id).history,
        can_annotate=user.can(Permission.ANNOTATE),
    )


def _back(form_back: Any, message: str, error: bool = False) -> RedirectResponse:
    from urllib.parse import parse_qsl, urlencode

    pairs = [(k, v) for k, v in parse_qsl(form_back if isinstance(form_back, str) else "") if k not in ("flash", "error")]
    pairs.append(("flash", message[:300]))
    if error:
        pairs.append(("error", "1"))
    return RedirectResponse(f"/ui/findings?{urlencode(pairs)}", status_code=303)


def _str(form: Any, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


@router.post("/findings/state")
def change_state(user: UserDep, session: SessionDep, form: FormDep) -> Response:
    _annotator(user)
    finding_id = _str(form, "finding_id")
    try:
        crud_triage.check_item_id(session=session, item_id=finding_id)
        set_state(
            session=session, finding_id=finding_id, state=_str(form, "state"),
            assignee=_str(form, "assignee") or None, comment=_str(form, "comment") or None,
            by_key=user.principal.key_id,
        )
    except WorkflowError as exc:
        return _back(form.get("back"), str(exc), error=True)
    return _back(form.get("back"), f"{finding_id} is now {_str(form, 'state').replace('_', ' ')}")


@router.post("/suppressions")
def create_suppression(user: UserDep, session: SessionDep, form: FormDep) -> Response:
    _annotator(user)
    try:
        endpoint_raw, service_raw = _str(form, "endpoint_id"), _str(form, "service_id")
        if any(v and (not v.isdigit() or len(v) > 9) for v in (endpoint_raw, service_raw)):
            raise WorkflowError("endpoint and service are ids")
        try:
            expires = datetime.combine(datetime.fromisoformat(_str(form, "expires")).date(), time.max, tzinfo=UTC)
        except ValueError as exc:
            raise WorkflowError("expires: a date (YYYY-MM-DD)") from exc
        rule_id = add_suppression(
            session=session, kind=_str(form, "kind"), kinds=SUPPRESSIBLE_KINDS,
            endpoint_id=int(endpoint_raw) if endpoint_raw else None,
            service_id=int(service_raw) if service_raw and not endpoint_raw else None,
            reason=_str(form, "reason"), expires_at=expires, by_key=user.principal.key_id,
        )
    except WorkflowError as exc:
        return _back("", str(exc), error=True)
    return _back("", f"suppression rule {rule_id} added")


@router.post("/suppressions/{rule_id}/delete")
def remove_suppression(
    user: UserDep, session: SessionDep, form: FormDep, rule_id: Annotated[int, Path(ge=1, le=2**31 - 1)]
) -> Response:
    _annotator(user)
    removed = delete_suppression(session=session, rule_id=rule_id)
    return _back("", f"suppression rule {rule_id} removed" if removed else "no such rule", error=not removed)
