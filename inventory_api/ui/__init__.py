"""The web console at ``/ui/``: server-rendered pages (Jinja2), a session cookie from an API key,
CSRF on every form, the API's roles. Pages read through analyzer/inventory and inventory_api.crud.

``mount(app)`` adds the routes, the static files and the handlers that turn "not signed in" into
a redirect to the sign-in form, a role refusal into a 403 page and a form without its CSRF token
into a 403 (nothing written).
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from inventory_api.ui import auth
from inventory_api.ui.render import HERE, page

PREFIX = "/ui"


def router() -> APIRouter:
    from inventory_api.ui import manage, pages, queue

    ui = APIRouter(prefix=PREFIX, include_in_schema=False)
    for module in (pages, queue, manage):
        ui.include_router(module.router)
    return ui


def mount(app: FastAPI) -> None:
    from inventory_api.ui.snapshot import SnapshotKeeper

    app.state.console_snapshots = SnapshotKeeper(app.state.session_factory)
    app.mount(f"{PREFIX}/static", StaticFiles(directory=HERE / "static"), name="ui-static")
    app.include_router(router())

    @app.get(PREFIX, include_in_schema=False)
    def _ui_root() -> Response:
        return RedirectResponse(f"{PREFIX}/", status_code=307)

    @app.exception_handler(auth.SignInRequired)
    async def _sign_in(request: Request, _exc: auth.SignInRequired) -> Response:
        if request.method == "GET" and request.headers.get("x-console-partial") is None:
            response: Response = RedirectResponse(f"{PREFIX}/", status_code=303)
        else:
            response = Response("sign in first", status_code=401, media_type="text/plain")
        auth.clear_session_cookie(response)
        return response

    @app.exception_handler(auth.PageForbidden)
    async def _forbidden(request: Request, exc: auth.PageForbidden) -> Response:
        session_factory = request.app.state.session_factory
        with session_factory() as session:
            try:
                user = auth.current_user(request, session)
            except auth.SignInRequired:
                user = None
        return page(request, "error.html", user, status_code=403, title="Not allowed", detail=exc.detail)

    @app.exception_handler(auth.FormRefused)
    async def _form_refused(request: Request, exc: auth.FormRefused) -> Response:
        return page(request, "error.html", None, status_code=exc.status_code, title="Form refused", detail=exc.detail)

    @app.exception_handler(auth.CsrfRefused)
    async def _csrf(request: Request, _exc: auth.CsrfRefused) -> Response:
        return page(
            request, "error.html", None, status_code=403, title="Form refused",
            detail="The form was not sent by a console page of this session (missing or wrong CSRF token): nothing was changed.",
        )
