"""Web login: the UI uses the same API keys as GraphQL, kept in a session cookie, with CSRF protection.

The key goes in an ``HttpOnly``, ``SameSite=Strict`` cookie (``Secure`` when the request came over
https), so page scripts cannot read it and other sites cannot send it. Forms carry a CSRF token checked
against a second cookie (double-submit, OWASP CSRF cheat sheet); scripts may send it as ``X-CSRF-Token``.

:class:`LoginMiddleware` puts the caller on ``request.state``: ``api_key`` (or None), ``actor``,
``role`` and ``csrf_token`` (render it as ``<input type="hidden" name="csrf_token" value="…">``).
With ``[web] require_login = true`` every UI page needs a key (else a redirect to ``/login``), every
unsafe request needs the CSRF token and an operator key, and each is written to the audit log;
with the default ``false`` (the demo) it only fills ``request.state``.
"""

from __future__ import annotations

import hmac
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.templating import Jinja2Templates

from hub import audit
from hub.auth import ROLE_RANK, key_for
from hub.config import ApiKey
from hub.errors import Unauthorized
from hub.privacy import mask_html
from hub.runtime import Hub

SESSION_COOKIE = "ct_session"
CSRF_COOKIE = "ct_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
# Paths with their own authentication (API keys, signatures) or none (health), never behind the login.
OPEN_PREFIXES = ("/graphql", "/hooks", "/ingest", "/healthz", "/metrics", "/static", "/export", "/login", "/logout")
_MAX_FORM = 64 * 1024
_SAFE = {"GET", "HEAD", "OPTIONS"}

templates = Jinja2Templates(directory=str(Path(__file__).with_name("templates")))


def _cookie(name: str, value: str, *, secure: bool, http_only: bool, max_age: int | None = None) -> str:
    parts = [f"{name}={value}", "Path=/", "SameSite=Strict"]
    if http_only:
        parts.append("HttpOnly")
    if secure:
        parts.append("Secure")
    if max_age is not None:
        parts.append(f"Max-Age={max_age}")
    return "; ".join(parts)


def _safe_next(target: str | None) -> str:
    """Only same-site relative paths (``/x``, never ``//host`` or ``/\\host``): no open redirect."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return "/"
    return target


def _key_of(hub: Hub, token: str | None) -> ApiKey | None:
    if not token:
        return None
    try:
        return key_for(hub.config, token)
    except Unauthorized:
        return None


def _form(body: bytes) -> dict[str, str]:
    try:
        parsed = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=50)
    except (UnicodeDecodeError, ValueError):
        return {}
    return {k: v[0] for k, v in parsed.items()}


def masks_personal_data(request: Request) -> bool:
    """Whether this page's viewer gets personal data masked: everyone but an admin session (anonymous included)."""
    key = getattr(request.state, "api_key", None)
    return key is None or ROLE_RANK[key.role] < ROLE_RANK["admin"]


def _csrf_ok(cookie: str | None, presented: str | None) -> bool:
    return bool(cookie) and bool(presented) and hmac.compare_digest(str(cookie), str(presented))


class LoginMiddleware:
    """ASGI middleware: the session's key on ``request.state``, and (when required) login, CSRF and role checks."""

    def __init__(self, app: Any, hub: Hub, *, required: bool | None = None) -> None:
        self.app, self.hub = app, hub
        self.required = hub.config.require_login if required is None else required

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        key = _key_of(self.hub, request.cookies.get(SESSION_COOKIE))
        csrf = request.cookies.get(CSRF_COOKIE) or ""
        new_csrf = None if csrf else secrets.token_urlsafe(24)
        state = scope.setdefault("state", {})
        state.update(api_key=key, actor=key.name if key else None, role=key.role if key else None,
                     csrf_token=csrf or new_csrf)
        path = scope["path"]
        send_with_cookie = self._setting_csrf(send, new_csrf, scope.get("scheme") == "https")
        if (key is None or ROLE_RANK[key.role] < ROLE_RANK["admin"]) and not path.startswith(OPEN_PREFIXES):
            send_with_cookie = _masking_html(send_with_cookie)
        if not self.required or path.startswith(OPEN_PREFIXES):
            await self.app(scope, receive, send_with_cookie)
            return
        if key is None:
            if scope["method"] in _SAFE:
                target = path + ("?" + scope["query_string"].decode() if scope.get("query_string") else "")
                response: Response = RedirectResponse(f"/login?next={quote(target)}", status_code=303)
            else:
                response = _error(401, "unauthorized", "log in at /login with an API key")
            await response(scope, receive, send_with_cookie)
            return
        if scope["method"] in _SAFE:
            await self.app(scope, receive, send_with_cookie)
            return
        body = await _read(receive)
        presented = request.headers.get(CSRF_HEADER) or _form(body).get(CSRF_FIELD)
        if not _csrf_ok(csrf, presented):
            await _error(403, "csrf", "the form is stale or came from another site: reload the page")(
                scope, receive, send_with_cookie)
            return
        if ROLE_RANK[key.role] < ROLE_RANK["operator"]:
            await self._audit(key, scope, "denied")
            await _error(403, "forbidden", f"{key.name!r} is a {key.role} key; actions need operator or above")(
                scope, receive, send_with_cookie)
            return
        status: list[int] = []

        async def capture(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])
            await send_with_cookie(message)

        await self.app(scope, _replay(body), capture)
        await self._audit(key, scope, "ok" if status and status[0] < 400 else "error")

    async def _audit(self, key: ApiKey, scope: dict[str, Any], result: str) -> None:
        await audit.append(self.hub.require_store(), actor=key.name, role=key.role,
                           action=f"web {scope['method']}", object=scope["path"], result=result)

    @staticmethod
    def _setting_csrf(send: Any, token: str | None, secure: bool) -> Any:
        if token is None:
            return send

        async def wrapped(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                header = _cookie(CSRF_COOKIE, token, secure=secure, http_only=False)  # double-submit: not secret
                message = {**message, "headers": [*message.get("headers", []),
                                                   (b"set-cookie", header.encode("latin-1"))]}
            await send(message)

        return wrapped


def _masking_html(send: Any) -> Any:
    """Buffer an HTML page and mask the emails and phone numbers in it (viewers, operators, anonymous)."""
    start: dict[str, Any] = {}
    chunks: list[bytes] = []

    async def wrapped(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            content_type = dict(message.get("headers", [])).get(b"content-type", b"")
            if not content_type.startswith(b"text/html"):
                await send(message)
                return
            start.update(message)
            return
        if not start or message["type"] != "http.response.body":
            await send(message)
            return
        chunks.append(message.get("body", b""))
        if message.get("more_body"):
            return
        body = mask_html(b"".join(chunks).decode("utf-8", "replace")).encode()
        headers = [(k, v) for k, v in start.get("headers", []) if k != b"content-length"]
        await send({**start, "headers": [*headers, (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body, "more_body": False})

    return wrapped


async def _read(receive: Any) -> bytes:
    chunks, size = [], 0
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size <= _MAX_FORM:
            chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


def _replay(body: bytes) -> Any:
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


def _error(status: int, code: str, message: str) -> Response:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


def routes(hub: Hub) -> list[BaseRoute]:
    """``GET/POST /login`` and ``POST /logout``."""

    def page(request: Request, status: int = 200, message: str | None = None) -> Response:
        return templates.TemplateResponse(request, "login.html", {
            "csrf_token": request.state.csrf_token, "message": message,
            "next": _safe_next(request.query_params.get("next")), "api_key": request.state.api_key},
            status_code=status)

    async def login(request: Request) -> Response:
        if request.method == "GET":
            return page(request)
        form = _form(await request.body())
        if not _csrf_ok(request.cookies.get(CSRF_COOKIE), form.get(CSRF_FIELD)):
            return page(request, 403, "The form expired or came from another site. Try again.")
        key = _key_of(hub, form.get("key", "").strip())
        if key is None:
            return page(request, 401, "That API key is unknown or revoked.")
        secure = request.url.scheme == "https"
        response = RedirectResponse(_safe_next(form.get("next")), status_code=303)
        response.headers.append("set-cookie", _cookie(SESSION_COOKIE, form["key"].strip(), secure=secure,
                                                      http_only=True))
        response.headers.append("set-cookie", _cookie(CSRF_COOKIE, secrets.token_urlsafe(24), secure=secure,
                                                      http_only=False))  # a fresh token per session
        await audit.append(hub.require_store(), actor=key.name, role=key.role, action="web login", result="ok")
        return response

    async def logout(request: Request) -> Response:
        form = _form(await request.body())
        presented = request.headers.get(CSRF_HEADER) or form.get(CSRF_FIELD)
        if not _csrf_ok(request.cookies.get(CSRF_COOKIE), presented):
            return _error(403, "csrf", "the form is stale or came from another site: reload the page")
        response = RedirectResponse("/login", status_code=303)
        response.headers.append("set-cookie", _cookie(SESSION_COOKIE, "", secure=request.url.scheme == "https",
                                                      http_only=True, max_age=0))
        return response

    return [Route("/login", login, methods=["GET", "POST"]), Route("/logout", logout, methods=["POST"])]
