"""The outbound notification log ``/notifications``: each endpoint's health and the latest notifications with their
attempts. Reads through ``hub.exceptions.notify_log``, as GraphQL ``notificationEndpoints``/``notifications`` do;
resending and enabling are GraphQL mutations (operator)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from hub.exceptions import notify_log
from hub.runtime import Hub
from web.common import render


def routes(hub: Hub) -> list[BaseRoute]:
    async def page(request: Request) -> Response:
        store = hub.started().store
        endpoints = await notify_log.endpoints(store, hub.config.notifications)
        messages = await notify_log.messages(store, first=50)
        # an endpoint's URL may carry its token (a chat webhook's): masked as every value is but for admins (render)
        return render(request, "notifications.html", {"endpoints": endpoints, "messages": messages})

    return [Route("/notifications", page)]
