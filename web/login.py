"""Web login: ``/login`` takes an API key and opens a server-side session (hub.access.sessions); ``/logout`` ends it.

The browser gets an opaque session id in an ``HttpOnly``, ``SameSite=Strict`` cookie (``Secure`` over https)
that expires with the session ([web] session_hours, 12 by default) — never the key. The login form carries a
double-submit CSRF token (OWASP: login CSRF), the session a token of its own; web/guard.py checks both.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.templating import Jinja2Templates

from hub.access import audit
from hub.access.auth import key_for
from hub.access.sessions import end_session, open_session
from hub.config import ApiKey
from hub.errors import Unauthorized
from hub.runtime import Hub
from web.common import local_path
from web.guard import CSRF_COOKIE, CSRF_FIELD, SESSION_COOKIE, cookie, csrf_ok, form_field, session_cookies

templates = Jinja2Templates(directory=str(Path(__file__).with_name("templates")))


def _key_of(hub: Hub, token: str) -> ApiKey | None:
    if not token:
        return None
    try:
        return key_for(hub.config, token)
    except Unauthorized:
        return None


def routes(hub: Hub, now: Callable[[], datetime]) -> list[BaseRoute]:
    """``GET/POST /login`` and ``POST /logout``; ``now`` is the app's clock (naive UTC) that sessions expire by."""

    def page(request: Request, status: int = 200, message: str | None = None) -> Response:
        return templates.TemplateResponse(request, "login.html", {
            "csrf_token": request.state.csrf_token, "message": message,
            "next": local_path(request.query_params.get("next")), "api_key": request.state.api_key,
            "hours": f"{hub.config.session_hours:g}"},
            status_code=status)

    async def login(request: Request) -> Response:
        if request.method == "GET":
            return page(request)
        body = await request.body()
        if not csrf_ok(request.cookies.get(CSRF_COOKIE), form_field(body, CSRF_FIELD)):
            return page(request, 403, "The form expired or came from another site. Try again.")
        key = _key_of(hub, (form_field(body, "key") or "").strip())
        if key is None:
            return page(request, 401, "That API key is unknown or revoked.")
        store, at = hub.started().store, now()
        await end_session(store, request.cookies.get(SESSION_COOKIE))  # a fresh id at every login (no fixation)
        session_id, session = await open_session(store, key, at, timedelta(hours=hub.config.session_hours))
        response = RedirectResponse(local_path(form_field(body, "next")), status_code=303)
        for value in session_cookies(session_id, session, at, secure=request.url.scheme == "https"):
            response.headers.append("set-cookie", value)
        await audit.append(store, actor=key.name, role=key.role, action="web login", result="ok")
        return response

    async def logout(request: Request) -> Response:
        """End the session server-side (the guard checked its CSRF token), so a copied cookie stops working."""
        await end_session(hub.started().store, request.cookies.get(SESSION_COOKIE))
        response = RedirectResponse("/login", status_code=303)
        secure = request.url.scheme == "https"
        response.headers.append("set-cookie", cookie(SESSION_COOKIE, "", secure=secure, http_only=True, max_age=0))
        response.headers.append("set-cookie", cookie(CSRF_COOKIE, "", secure=secure, http_only=False, max_age=0))
        return response

    return [Route("/login", login, methods=["GET", "POST"]), Route("/logout", logout, methods=["POST"])]
