"""Who is calling the web UI and whether they may: sessions, the login redirect, CSRF and origin checks, roles and
the audit log — for every UI path, always (only the demo opens a session without a key, on loopback).

:class:`WebGuard` puts the caller on ``request.state``: ``api_key`` (or None), ``actor``, ``role``,
``session`` and ``csrf_token`` (forms render it as ``<input type="hidden" name="csrf_token" value="…">``;
scripts may send it as ``X-CSRF-Token``). A page without a session redirects to ``/login``. Every other
method needs (OWASP CSRF Prevention Cheat Sheet) a request that is not cross-site by ``Sec-Fetch-Site`` or
``Origin``, a live session, that session's CSRF token and, except ``/logout``, an operator or admin key; each
one, refused or done, is written to the audit log under the session's key name.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Match

from hub.access import audit
from hub.access.auth import ROLE_RANK
from hub.access.privacy import mask_html
from hub.access.sessions import Session, find_session, open_session
from hub.config import ApiKey
from hub.errors import Busy
from hub.runtime import Hub

SESSION_COOKIE = "ct_session"
CSRF_COOKIE = "ct_csrf"  # the session's token for scripts; before a login, the login form's double-submit token
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
# Paths with their own authentication (API keys, signatures) or none (health): the guard leaves them alone.
# /graphql reads no cookie at all, so a cross-site POST there is anonymous (resolvers.GraphQLApp).
API_PREFIXES = ("/graphql", "/hooks", "/ingest", "/healthz", "/metrics", "/static", "/export")
LOGIN, LOGOUT = "/login", "/logout"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
MAX_BODY = 1024 * 1024  # a UI form is a few KiB; the routes apply their own, smaller limits
_TOKEN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def cookie(name: str, value: str, *, secure: bool, http_only: bool, max_age: int | None = None) -> str:
    """A ``Set-Cookie`` value: ``Path=/``, ``SameSite=Strict`` (never sent on another site's request)."""
    parts = [f"{name}={value}", "Path=/", "SameSite=Strict"]
    if http_only:
        parts.append("HttpOnly")
    if secure:
        parts.append("Secure")
    if max_age is not None:
        parts.append(f"Max-Age={max_age}")
    return "; ".join(parts)


def session_cookies(session_id: str, session: Session, now: datetime, secure: bool) -> list[str]:
    """The session id (``HttpOnly``: page scripts never see it) and its CSRF token, both ending with the session."""
    max_age = max(0, int((session.expires_at - now).total_seconds()))
    return [cookie(SESSION_COOKIE, session_id, secure=secure, http_only=True, max_age=max_age),
            cookie(CSRF_COOKIE, session.csrf_token, secure=secure, http_only=False, max_age=max_age)]


def csrf_ok(expected: str | None, presented: str | None) -> bool:
    return bool(expected) and bool(presented) and hmac.compare_digest(str(expected), str(presented))


def form_field(body: bytes, name: str) -> str | None:
    """One field of an ``application/x-www-form-urlencoded`` body; None when absent or unreadable."""
    try:
        values = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=10_000).get(name)
    except (UnicodeDecodeError, ValueError):
        return None
    return values[0] if values else None


def cross_site(request: Request) -> str | None:
    """Why an unsafe request came from another site, else None.

    A browser's ``Sec-Fetch-Site`` decides when sent (W3C Fetch Metadata; it also holds behind a proxy that
    rewrites ``Host``); older browsers are judged by ``Origin`` against ``Host``; clients that send neither
    (curl, scripts) by the CSRF token alone. Go's ``http.CrossOriginProtection`` follows the same order.
    """
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        return None if site in ("same-origin", "none") else f"Sec-Fetch-Site: {site}"
    origin = request.headers.get("origin")
    if origin is not None and (origin == "null" or
                               urlsplit(origin).netloc.lower() != request.headers.get("host", "").lower()):
        return f"Origin: {origin}"
    return None


def error(status: int, code: str, message: str) -> Response:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


class WebGuard:
    """ASGI middleware in front of the UI routes (see the module docstring).

    ``open_as``: the demo's key. A browser on a loopback ``Host`` without a session gets one for it (the
    Host check stops a DNS-rebinding page from riding it); everything else is as without it.
    """

    def __init__(self, app: Any, hub: Hub, *, now: Callable[[], datetime], open_as: ApiKey | None = None) -> None:
        self.app, self.hub, self.now, self.open_as = app, hub, now, open_as
        self.lifetime = timedelta(hours=hub.config.session_hours)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"].startswith(API_PREFIXES) or not _routed(scope):
            await self.app(scope, receive, send)  # an unknown path is a plain 404 for everyone: it shows nothing
            return
        try:
            store = self.hub.started().store
        except Busy as exc:  # before start, after stop: 503 and when to come back, as the API answers
            await JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)(scope, receive, send)
            return
        request, now, path = Request(scope), self.now(), scope["path"]
        secure, method = scope.get("scheme") == "https", scope["method"]
        session = await find_session(store, self.hub.config, request.cookies.get(SESSION_COOKIE), now)
        cookies: list[str] = []
        if (session is None and self.open_as is not None and method in SAFE_METHODS and path not in (LOGIN, LOGOUT)
                and request.url.hostname in LOOPBACK_HOSTS):
            session_id, session = await open_session(store, self.open_as, now, self.lifetime)
            cookies += session_cookies(session_id, session, now, secure)
        token = session.csrf_token if session is not None else request.cookies.get(CSRF_COOKIE, "")
        if session is None and not (16 <= len(token) <= 64 and set(token) <= _TOKEN_CHARS):
            token = secrets.token_urlsafe(24)  # the login form's double-submit token (OWASP), until a login
            cookies.append(cookie(CSRF_COOKIE, token, secure=secure, http_only=False))
        key = session.key if session is not None else None
        scope.setdefault("state", {}).update(api_key=key, actor=key.name if key else None,
                                             role=key.role if key else None, session=session, csrf_token=token)
        send = _setting_cookies(send, cookies)
        if key is None or ROLE_RANK[key.role] < ROLE_RANK["admin"]:
            send = _masking_html(send)  # the UI masks personal data for everyone but an admin
        if method in SAFE_METHODS:
            if key is None and path not in (LOGIN, LOGOUT) and request.headers.get("sec-fetch-mode", "navigate") \
                    not in ("navigate", "nested-navigate"):
                # a script's fetch (the live queue) must not swap the login page in for its rows (Fetch Metadata)
                await error(401, "unauthorized", "the session ended: log in again at /login")(scope, receive, send)
            elif key is None and path not in (LOGIN, LOGOUT):
                target = path + ("?" + scope["query_string"].decode("latin-1") if scope.get("query_string") else "")
                await RedirectResponse(f"{LOGIN}?next={quote(target)}", status_code=303)(scope, receive, send)
            else:
                await self.app(scope, receive, send)
            return
        await self._unsafe(scope, receive, send, request, key, session)

    async def _unsafe(self, scope: dict[str, Any], receive: Any, send: Any, request: Request, key: ApiKey | None,
                      session: Session | None) -> None:
        path = scope["path"]
        refusal: Response | None = None
        why = cross_site(request)
        body = None if why is not None else await _read(receive)
        if why is not None:
            refusal = error(403, "cross_site", f"refused a request from another site ({why})")
        elif body is None:
            refusal = error(413, "too_large", f"a form is at most {MAX_BODY} bytes")
        elif path == LOGIN or (path == LOGOUT and session is None):
            pass  # the login form checks its own token; a logout without a session has nothing to end
        elif session is None:
            refusal = error(401, "unauthorized", "log in at /login with an API key")
        else:
            presented = request.headers.get(CSRF_HEADER) or form_field(body, CSRF_FIELD)
            if not csrf_ok(session.csrf_token, presented):
                refusal = error(403, "csrf", "the form is stale or came from another site: reload the page")
            elif path != LOGOUT and ROLE_RANK[session.key.role] < ROLE_RANK["operator"]:
                refusal = error(403, "forbidden", f"{session.key.name!r} is a {session.key.role} key; "
                                                  "actions need operator or above")
        if refusal is not None:
            if key is not None:
                await self._audit(key, scope, "denied")
            await refusal(scope, receive, send)
            return
        if path == LOGIN or session is None:
            await self.app(scope, _replay(body or b""), send)
            return
        status: list[int] = []

        async def capture(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])
            await send(message)

        await self.app(scope, _replay(body or b""), capture)
        await self._audit(session.key, scope, "ok" if status and status[0] < 400 else "error")

    async def _audit(self, key: ApiKey, scope: dict[str, Any], result: str) -> None:
        await audit.append(self.hub.started().store, actor=key.name, role=key.role,
                           action=f"web {scope['method']}", object=scope["path"], result=result)


def _routed(scope: dict[str, Any]) -> bool:
    """Whether a route of the app answers this path (whatever the method)."""
    app = scope.get("app")
    routes = getattr(getattr(app, "router", None), "routes", None)
    if routes is None:
        return True
    return any(route.matches(scope)[0] != Match.NONE for route in routes)


def _setting_cookies(send: Any, cookies: list[str]) -> Any:
    if not cookies:
        return send

    async def wrapped(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []),
                                               *((b"set-cookie", c.encode("latin-1")) for c in cookies)]}
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


async def _read(receive: Any) -> bytes | None:
    """The request body, or None once it passes :data:`MAX_BODY` (the rest is drained, not kept)."""
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b"".join(chunks) if size <= MAX_BODY else None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size <= MAX_BODY:
            chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks) if size <= MAX_BODY else None


def _replay(body: bytes) -> Any:
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive
