"""Console pages that change the inventory's configuration: specs (import by upload, history,
diff against observed traffic, delete) and settings (keys; alert destinations, admin only)."""

from __future__ import annotations

import re
from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.exc import DataError

from analyzer.alerts.outbox_sql import SqlOutbox
from analyzer.inventory.specs import MAX_SPEC_BYTES, SpecError, import_specs, parse_spec
from inventory_api import crud
from inventory_api.deps import SessionDep
from inventory_api.schemas import ApiKeyCreate
from inventory_api.security import Permission, Role
from inventory_api.ui import auth, data
from inventory_api.ui.auth import AdminDep, ConsoleUser, FormDep, UserDep
from inventory_api.ui.render import page

router = APIRouter()
Id = Annotated[int, Path(ge=1, le=2**31 - 1)]
_HOST = re.compile(r"^[A-Za-z0-9.\-\[\]:]{1,255}$")


def _importer(user: ConsoleUser) -> ConsoleUser:
    if not user.can(Permission.IMPORT_SPECS):
        raise auth.PageForbidden(f"role {user.role.value!r} may not import or delete specs")
    return user


def _specs_page(
    request: Request, user: ConsoleUser, session: SessionDep, *, status_code: int = 200, **extra: Any
) -> Response:
    hosts = data.services_choice(session)
    return page(
        request, "specs.html", user, status_code=status_code, title="Specs", specs=crud.list_specs(session=session),
        hosts=hosts, hosts_by_id=dict(hosts), can_import=user.can(Permission.IMPORT_SPECS), **extra,
    )


@router.get("/specs", response_class=HTMLResponse)
def specs(request: Request, user: UserDep, session: SessionDep) -> Response:
    return _specs_page(request, user, session, flash=request.query_params.get("flash"))


@router.post("/specs", response_class=HTMLResponse)
async def upload_spec(request: Request, user: UserDep, session: SessionDep, form: FormDep) -> Response:
    _importer(user)
    upload = form.get("document")
    host = form.get("host")
    host = host.strip() if isinstance(host, str) and host.strip() else None

    def refused(message: str, status_code: int) -> Response:
        return _specs_page(request, user, session, status_code=status_code, flash=message, flash_kind="error")

    if upload is None or isinstance(upload, str):
        return refused("Choose an OpenAPI document to upload.", 400)
    if host is not None and not _HOST.match(host):
        return refused("The service host has characters a host cannot have.", 400)
    body = await upload.read(MAX_SPEC_BYTES + 1)
    if len(body) > MAX_SPEC_BYTES:
        return refused(f"The document is larger than {MAX_SPEC_BYTES:,} bytes.", 413)
    if not body.strip():
        return refused("The uploaded file is empty.", 400)
    name = (upload.filename or "upload")[:255].replace("\x00", "")
    try:
        spec = parse_spec(body, source=name)
        (result,) = import_specs(session=session, specs=[(spec, name)], host=host)
    except SpecError as exc:
        return refused(f"Not imported: {exc}", 422)
    except DataError as exc:
        return refused(f"Not imported, the document cannot be stored: {str(exc.orig).strip().splitlines()[0]}", 422)
    request.app.state.console_snapshots.invalidate()  # verdicts changed: findings follow
    return _specs_page(request, user, session, status_code=201, imported=asdict(result))


@router.get("/specs/{spec_id}", response_class=HTMLResponse)
def spec(request: Request, user: UserDep, session: SessionDep, spec_id: Id) -> Response:
    detail = data.spec_detail(session, spec_id)
    if detail is None:
        return page(request, "error.html", user, status_code=404, title="Not found", detail="No such spec.")
    return page(request, "spec.html", user, title=detail["name"], s=detail)


@router.post("/specs/{spec_id}/delete")
def delete_spec(request: Request, user: UserDep, session: SessionDep, _form: FormDep, spec_id: Id) -> Response:
    _importer(user)
    done = data.delete_spec(session, spec_id)
    request.app.state.console_snapshots.invalidate()
    return RedirectResponse(f"/ui/specs?flash={'spec+deleted' if done else 'no+such+spec'}", status_code=303)


def _settings(request: Request, user: ConsoleUser, session: SessionDep, **extra: Any) -> Response:
    return page(
        request, "settings.html", user, title="Settings", keys=crud.list_api_keys(session=session),
        roles=[r.value for r in Role],
        destinations=data.alert_destinations(session=session, outbox=SqlOutbox(request.app.state.engine)), **extra,
    )


@router.get("/settings", response_class=HTMLResponse)
def settings(request: Request, user: AdminDep, session: SessionDep) -> Response:
    return _settings(request, user, session, flash=request.query_params.get("flash"))


@router.post("/settings/keys", response_class=HTMLResponse)
def create_key(request: Request, user: AdminDep, session: SessionDep, form: FormDep) -> Response:
    role, name = form.get("role"), form.get("name")
    if role not in {r.value for r in Role}:
        return _settings(request, user, session, flash="Unknown role.", flash_kind="error")
    clean = name.strip()[:255].replace("\x00", "") if isinstance(name, str) and name.strip() else None
    _row, secret = crud.create_api_key(session=session, key_in=ApiKeyCreate(role=Role(str(role)), name=clean))
    return _settings(request, user, session, new_secret=secret)


@router.post("/settings/keys/{key_id}/revoke")
def revoke_key(user: AdminDep, session: SessionDep, _form: FormDep, key_id: Id) -> Response:
    if key_id == user.principal.key_id:
        return RedirectResponse("/ui/settings?flash=you+cannot+revoke+the+key+you+are+signed+in+with", status_code=303)
    done = crud.revoke_api_key(session=session, key_id=key_id)
    return RedirectResponse(f"/ui/settings?flash={'key+revoked' if done else 'no+such+key'}", status_code=303)
