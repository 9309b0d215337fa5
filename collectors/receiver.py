"""``POST /hooks/{source}``: verify the signature on the raw bytes, store the delivery, then answer.

202 + ``{"delivery": id}`` once stored; the same delivery again (the same key from signed content, see
collectors.base) → 200 with the first delivery's id; 401 for a bad signature or stale timestamp (nothing
stored, a counter counts it); 404 unknown source; 405 not POST; 413 too large; 415 wrong content type;
503 + Retry-After when the inbox is full. Anything verified but unparseable is stored and acknowledged, and
the normalizer dead-letters it (a 4xx would only make the sender retry the same bytes for days).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from types import ModuleType
from typing import Any

from collectors.base import SignatureError
from collectors.http import media_type, read_body, request_headers, send_error, send_json
from hub.errors import HubError, MethodNotAllowed, NotFound, Unauthorized, UnsupportedMediaType
from hub.ingest.inbox import dedup_key_for
from hub.runtime import Hub
from hub.telemetry import span

# Headers kept with a delivery: everything but credentials (and any header whose value is the source's secret).
# Credentials, and the marker only the hub's own pollers may set (webhook headers are not signed).
_DROPPED_HEADERS = {"authorization", "cookie", "proxy-authorization", "x-crosstrace-polled"}
_JSON_TYPES = ("application/json", "application/cloudevents+json", "application/cloudevents-batch+json", "text/plain")


class WebhookReceiver:
    """A plain ASGI app mounted at ``/hooks``; the path after it names the source."""

    def __init__(self, hub: Hub, adapters: dict[str, ModuleType], clock: Callable[[], float] = time.time) -> None:
        self._hub = hub
        self._config = hub.config
        self._adapters = adapters
        self._metrics = hub.metrics
        self._clock = clock

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        try:
            await self._handle(scope, receive, send)
        except HubError as error:
            await send_error(send, error)

    async def _handle(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        name = scope["path"].removeprefix(scope.get("root_path", "")).strip("/").removeprefix("hooks/")
        source = self._config.sources.get(name)
        if source is None:
            raise NotFound(f"no source named {name!r} is configured")
        if scope["method"] != "POST":
            raise MethodNotAllowed("webhooks are delivered with POST", headers={"Allow": "POST"})
        headers = request_headers(scope)
        with span("receive") as current:
            current.set_attribute("crosstrace.source", name)
            content_type = media_type(headers)
            if content_type not in _JSON_TYPES:
                self._metrics.inc("crosstrace_deliveries_rejected_total", source=name, reason="content_type")
                raise UnsupportedMediaType(f"content type {content_type or 'missing'!r}: send application/json")
            try:
                body = await read_body(receive, headers, self._config.max_body_bytes)
            except HubError:
                self._metrics.inc("crosstrace_deliveries_rejected_total", source=name, reason="too_large")
                raise
            adapter = self._adapters[source.adapter]
            try:
                adapter.verify(headers, body, source, self._clock(), self._config.signature_tolerance_seconds)
            except SignatureError as exc:
                self._metrics.inc("crosstrace_deliveries_rejected_total", source=name, reason="signature")
                raise Unauthorized(f"signature verification failed: {exc}") from None
            kept = {k: v for k, v in headers.items()  # a header carrying the secret itself (an API key) is a credential
                    if k not in _DROPPED_HEADERS and v.strip() not in source.secrets}
            # Keyed on signed content only (collectors.base): a resent body under a new id header is a repeat.
            key = getattr(adapter, "delivery_key", adapter.dedup_key)(headers, body, source)
            receipt = await self._hub.started().inbox.submit(
                source=name, dedup_key=dedup_key_for(key, body), headers=kept,
                body=body, content_type=content_type)  # received_at: the inbox stamps it on the hub's clock
        await send_json(send, 202 if receipt.new else 200, {"delivery": receipt.delivery_id})
