"""What every page shares: the Jinja environment and its filters, the hub's clock, small request helpers."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from markupsafe import Markup, escape
from starlette.requests import Request
from starlette.responses import Response
from starlette.templating import Jinja2Templates

from hub.access.auth import ROLE_RANK
from hub.access.privacy import mask_json, mask_text
from hub.ingest.values import json_text
from hub.runtime import Hub
from web.evidence import evidence_view
from web.folding import fold_refs

templates = Jinja2Templates(directory=str(Path(__file__).with_name("templates")))

# Who a person acting in the UI is recorded as: the session's key name (web/guard.py puts it on
# ``request.state.actor``); every state-changing request has one, so this fallback is never written.
WEB_ACTOR = "web"


def actor_of(request: Request) -> str:
    return str(getattr(request.state, "actor", None) or WEB_ACTOR)


def now_of(hub: Hub) -> datetime:
    """The hub's clock (the app's, as the evaluator's and GraphQL's); naive UTC."""
    return hub.now()


def iso_utc(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value is not None else ""


def ts(value: datetime | None) -> Markup:
    """A time element: UTC in the text and the title; a few lines of JS rewrite the text in local time."""
    if value is None:
        return Markup('<span class="muted">—</span>')
    utc = value.strftime("%Y-%m-%d %H:%M:%S UTC")
    return Markup('<time datetime="{}" title="{}">{}</time>').format(iso_utc(value), utc, utc)


def duration(seconds: float | None) -> str:
    """``93`` → ``1m 33s``; ``90000`` → ``1d 1h``; negative (out of order) keeps its sign."""
    if seconds is None:
        return ""
    sign = "−" if seconds < 0 else ""
    s = int(abs(seconds))
    if s < 60:
        return f"{sign}{s}s"
    if s < 3600:
        return f"{sign}{s // 60}m {s % 60}s" if s % 60 else f"{sign}{s // 60}m"
    if s < 86400:
        return f"{sign}{s // 3600}h {s % 3600 // 60}m" if s % 3600 // 60 else f"{sign}{s // 3600}h"
    return f"{sign}{s // 86400}d {s % 86400 // 3600}h" if s % 86400 // 3600 else f"{sign}{s // 86400}d"


def age(value: datetime | str | None, now: datetime) -> str:
    """How long ago ``value`` (a naive UTC time, or one in ISO 8601 as exception evidence holds it) was."""
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return ""
        value = parsed.astimezone(UTC).replace(tzinfo=None) if parsed.tzinfo else parsed
    return duration(max((now - value).total_seconds(), 0)) if value is not None else ""


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """``1 event``, ``2 events``, ``0 events`` (``nouns`` for an irregular plural)."""
    return f"{count} {noun if count == 1 else nouns or noun + 's'}"


def pretty(value: Any) -> str:
    """JSON pretty-printed for a ``<pre>`` (autoescaped by the template)."""
    return json_text(value, indent=2, sort_keys=True, default=str)


def pretty_body(body: bytes | None, masked: bool = False) -> str:
    """A raw delivery body: pretty JSON when it parses, else the text as received (bytes shown safely).

    ``masked``: personal data replaced (hub.access.privacy), for callers below admin (web.login.masks_personal_data).
    """
    if body is None:
        return ""
    text = body.decode("utf-8", errors="replace")
    try:
        parsed = json.loads(text)
    except (ValueError, RecursionError):  # json.loads raises RecursionError on absurd nesting
        return mask_text(text) if masked else text
    return json_text(mask_json(parsed) if masked else parsed, indent=2)


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def local_path(target: str | None, default: str = "/") -> str:
    """``target`` when it is a path on this site (``/x?y``), else ``default``: never an open redirect.

    Browsers read ``\\`` as ``/`` and drop tabs and newlines inside a URL (WHATWG URL Standard), so
    ``//host``, ``/\\host``, ``/<tab>/host`` and ``https://host`` all name another site; each is refused.
    """
    if not target or _CONTROL.search(target) or not target.startswith("/") or target[1:2] in ("/", "\\"):
        return default
    parts = urlsplit(target.replace("\\", "/"))
    return default if parts.scheme or parts.netloc else target


def query_with(request: Request, **changes: Any) -> str:
    """The current query string with some parameters replaced (``None`` drops one)."""
    params = [(k, v) for k, v in request.query_params.multi_items() if k not in changes]
    for key, value in changes.items():
        if value is None:
            continue
        for item in value if isinstance(value, list | tuple) else [value]:
            params.append((key, str(item)))
    return "?" + urlencode(params) if params else "?"


def parse_minutes(text: str | None) -> timedelta | None:
    """An age filter: ``30`` (minutes), ``2h``, ``3d``; ``None``/empty/garbage → no filter."""
    if not text:
        return None
    text = text.strip().lower()
    units = {"m": 1, "h": 60, "d": 1440}
    try:
        if text[-1] in units:
            return timedelta(minutes=float(text[:-1]) * units[text[-1]])
        return timedelta(minutes=float(text))
    except (ValueError, IndexError):
        return None


def masks_personal_data(request: Request) -> bool:
    """Whether this page's viewer gets personal data masked: everyone but an admin session (anonymous included)."""
    key = getattr(request.state, "api_key", None)
    return key is None or ROLE_RANK[key.role] < ROLE_RANK["admin"]


def render(request: Request, template: str, context: dict[str, Any], status_code: int = 200) -> Response:
    """A page; for everyone but an admin session every value it shows is masked first (hub.access.privacy's rule set:
    refs by namespace, records by key, texts by shape), so links and attributes built from values are masked too."""
    if masks_personal_data(request):
        context = mask_json(context)
    return templates.TemplateResponse(request, template, context, status_code=status_code)


def not_found(request: Request, title: str, hint: str) -> Response:
    return render(request, "message.html", {"title": title, "hint": hint}, status_code=404)


def bad_request(request: Request, title: str, hint: str) -> Response:
    return render(request, "message.html", {"title": title, "hint": hint}, status_code=400)


templates.env.filters["ts"] = ts
templates.env.filters["duration"] = duration
templates.env.filters["age"] = age
templates.env.filters["plural"] = plural
templates.env.filters["pretty"] = pretty
templates.env.filters["iso"] = iso_utc
templates.env.filters["evidence_view"] = evidence_view
templates.env.filters["fold_refs"] = fold_refs
templates.env.globals["escape"] = escape
