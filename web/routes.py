"""All web UI routes: one module per page (search, trace, exceptions, stock, dashboard) plus static assets."""

from __future__ import annotations

from pathlib import Path

from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles

from hub.runtime import Hub
from web import compare, dashboard, deliveries, exceptions, home, notifications, search, stock, trace

STATIC = Path(__file__).with_name("static")


def routes(hub: Hub) -> list[BaseRoute]:
    """The pages, each reading through ``hub`` query functions (never SQL of their own)."""
    return [
        *home.routes(hub),
        *search.routes(hub),
        *trace.routes(hub),
        *compare.routes(hub),
        *exceptions.routes(hub),
        *deliveries.routes(hub),
        *stock.routes(hub),
        *dashboard.routes(hub),
        *notifications.routes(hub),
        Mount("/static", app=StaticFiles(directory=str(STATIC)), name="static"),
    ]
