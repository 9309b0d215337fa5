"""``POST /ingest``: CloudEvents 1.0, structured or batch, authenticated by API key (operator or admin).

Unlike webhooks, the caller is our own client: a malformed request is answered 400 naming the event
index and the field, so nothing unusable is stored. The delivery is kept under the pseudo-source
``ingest``; each event is attributed to the configured source its ``source`` attribute names.
"""

from __future__ import annotations

from typing import Any

from collectors import cloudevents
from collectors.base import ParseError, body_digest, header, load_json
from collectors.http import media_type, read_body, request_headers, send_error, send_json
from hub.access.auth import authenticate, require_role
from hub.config import Config
from hub.errors import BadRequest, HubError, MethodNotAllowed, UnsupportedMediaType
from hub.ingest.handoff import Handoff
from hub.ingest.inbox import dedup_key_for
from hub.ingest.values import RefusedValue, check_events
from hub.model import Delivery, Event
from hub.runtime import Hub
from hub.telemetry import span

INGEST_SOURCE = "ingest"


class IngestEndpoint:
    """A plain ASGI app for ``/ingest``."""

    def __init__(self, hub: Hub) -> None:
        self._hub = hub
        self._config = hub.config

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        try:
            await self._handle(scope, receive, send)
        except HubError as error:
            await send_error(send, error)

    async def _handle(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["method"] != "POST":
            raise MethodNotAllowed("events are posted with POST", headers={"Allow": "POST"})
        headers = request_headers(scope)
        require_role(authenticate(self._config, headers.get("authorization")), "operator")
        if media_type(headers) not in cloudevents.CONTENT_TYPES:
            raise UnsupportedMediaType("send application/cloudevents+json or application/cloudevents-batch+json")
        with span("receive") as current:
            current.set_attribute("crosstrace.source", INGEST_SOURCE)
            body = await read_body(receive, headers, self._config.max_body_bytes)
            traceparent = header(headers, "traceparent")
            try:
                items = cloudevents.envelopes(load_json(body))
                for index, item in enumerate(items):
                    if item["source"] not in self._config.sources:
                        raise BadRequest(f"event[{index}].source: {item['source']!r} is not a configured source")
                # What the normalizer would dead-letter, our own client hears now (hub.ingest.values: the same check).
                events = check_events(_events(items, self._config, traceparent))
            except (ParseError, RefusedValue) as exc:
                raise BadRequest(str(exc)) from None
            single = f"{items[0]['source']}/{items[0]['id']}" if len(items) == 1 else None
            running = self._hub.started()
            receipt = await running.inbox.submit(
                source=INGEST_SOURCE, dedup_key=dedup_key_for(single, body) if single else body_digest(body),
                headers={k: v for k, v in headers.items() if k != "authorization"}, body=body,
                content_type=media_type(headers))  # received_at: the inbox stamps it on the hub's clock
            if receipt.new and running.normalizer is not None:  # its normalizer parses nothing again
                self._hub.handoff.put(receipt.delivery_id, body, traceparent, events)
        await send_json(send, 202 if receipt.new else 200, {"delivery": receipt.delivery_id, "events": len(items)})


def parse(delivery: Delivery, config: Config, handoff: Handoff | None = None) -> list[Event]:
    """Events of an ``/ingest`` delivery, each attributed to the source its CloudEvent names (those the receiver
    parsed, when it handed them over)."""
    traceparent = header(delivery.headers, "traceparent")
    handed = handoff.take(delivery.id, delivery.body, traceparent) if handoff is not None else None
    if handed is not None:
        return handed
    return _events(cloudevents.envelopes(load_json(delivery.body)), config, traceparent)


def _events(items: list[dict[str, Any]], config: Config, traceparent: str | None) -> list[Event]:
    result = []
    for index, item in enumerate(items):
        source = config.sources.get(item["source"])
        if source is None:
            raise ParseError(f"event[{index}].source: {item['source']!r} is no longer a configured source")
        result.append(cloudevents.to_event(item, index, source.name, source.refs, traceparent))
    return result
