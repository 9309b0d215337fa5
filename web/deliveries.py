"""One raw delivery ``/deliveries/{id}``: headers, pretty body, state and error, and the events it became.

Dead letters never became events, so this is where their bytes can be read before a replay. Reads through
``hub.store.queries`` (``get_delivery``, ``events_by_delivery``), as GraphQL ``delivery`` does.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from hub.config import Config
from hub.runtime import Hub
from hub.store import inbox_log
from hub.store import queries as q
from web.common import masks_personal_data, not_found, pretty_body, render

_POLLED_HEADER = "x-crosstrace-polled"  # set by the pollers on what they fetch (collectors.json_mapping)
_INGEST_SOURCE = "ingest"  # the pseudo-source of /ingest deliveries (collectors.ingest)


def how_it_came(delivery: Any, config: Config) -> str:
    """How the hub authenticated a stored delivery: every webhook kept was verified (a failure is a 401 and
    nothing is stored), /ingest takes an API key, and a poller fetched the rest itself."""
    if delivery.source == _INGEST_SOURCE:
        return "posted to /ingest with an API key (CloudEvents); no webhook signature"
    if _POLLED_HEADER in delivery.headers:
        return f"fetched by the {delivery.source} poller ({delivery.headers[_POLLED_HEADER]}); no webhook signature"
    source = config.sources.get(delivery.source)
    adapter = f"the {source.adapter} adapter" if source is not None else "its source's adapter"
    return (f"verified on receipt by {adapter} (a delivery that fails verification is refused with 401 and "
            "never stored)")


def routes(hub: Hub) -> list[BaseRoute]:
    async def delivery(request: Request) -> Response:
        delivery_id = request.path_params["delivery_id"]
        await inbox_log.caught_up(hub.started().store)  # a delivery just acknowledged is found
        async with hub.started().store.read() as conn:
            row = await q.get_delivery(conn, delivery_id)
            if row is None:
                return not_found(request, f"No delivery {delivery_id}",
                                 "Deliveries are kept until retention removes them; check the id in the exception "
                                 "or the event it came from.")
            event_ids = (await q.events_by_delivery(conn, [delivery_id])).get(delivery_id, [])
        return render(request, "delivery.html", {
            "delivery": row, "body": pretty_body(row.body, masks_personal_data(request)), "event_ids": event_ids,
            "how_it_came": how_it_came(row, hub.config)})

    return [Route("/deliveries/{delivery_id}", delivery)]
