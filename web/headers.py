"""Security headers on every response of the web UI and the API routes beside it (OWASP Secure Headers).

The UI's Content-Security-Policy allows exactly what the pages use: their one script and stylesheet from
``/static``, the ``style="…"`` attributes the templates and SVG charts carry (``style-src-attr``), ``fetch``
of the live queue from the same origin, forms posting to the same origin; no framing (``frame-ancestors``
and ``X-Frame-Options: DENY`` for older browsers). A route that sets its own CSP keeps it: GraphiQL at
``/graphql`` does (``web/graphiql.py``: its scripts and stylesheets are from this origin too, but not ours).
"""

from __future__ import annotations

from typing import Any

UI_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; style-src-attr 'unsafe-inline'; "
          "img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
HEADERS = (
    (b"content-security-policy", UI_CSP.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),  # ids in our URLs (orders, tracking numbers) never leave the site
    (b"cross-origin-opener-policy", b"same-origin"),
)
# RFC 6797: only sent over https (a browser ignores it over http); two years, the common preload value.
HSTS = (b"strict-transport-security", b"max-age=63072000; includeSubDomains")


class SecurityHeaders:
    """ASGI middleware: adds each of :data:`HEADERS` a response does not already carry (and HSTS over https)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = HEADERS + ((HSTS,) if scope.get("scheme") == "https" else ())

        async def with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [(name, value) for name, value in extra if name not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)
