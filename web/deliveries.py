"""One raw delivery ``/deliveries/{id}``: headers, pretty body, state and error, and the events it became.

Dead letters never became events, so this is where their bytes can be read before a replay. Reads through
``hub.store.queries`` (``get_delivery``, ``events_by_delivery``), as GraphQL ``delivery`` does.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from hub.runtime import Hub
from hub.store import queries as q
from web.common import not_found, pretty_body, render
from web.login import masks_personal_data


def routes(hub: Hub) -> list[BaseRoute]:
    async def delivery(request: Request) -> Response:
        delivery_id = request.path_params["delivery_id"]
        async with hub.require_store().read() as conn:
            row = await q.get_delivery(conn, delivery_id)
            if row is None:
                return not_found(request, f"No delivery {delivery_id}",
                                 "Deliveries are kept until retention removes them; check the id in the exception "
                                 "or the event it came from.")
            event_ids = (await q.events_by_delivery(conn, [delivery_id])).get(delivery_id, [])
        return render(request, "delivery.html", {
            "delivery": row, "body": pretty_body(row.body, masks_personal_data(request)), "event_ids": event_ids})

    return [Route("/deliveries/{delivery_id}", delivery)]
