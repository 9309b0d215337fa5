"""Delivers the simulated vendors' webhooks to ``POST /hooks/{source}`` over real HTTP, signed at send time.

Like a real sender it signs each attempt with the current (simulated) time, retries a 5xx, 429 or a
connection error with backoff, and gives up after a few attempts. ``stats`` counts answers by status.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Callable

import httpx

from hub.demo import signing
from hub.demo.payloads import iso
from hub.demo.scenario import Send

_ATTEMPTS = 5


class Sender:
    def __init__(self, client: httpx.AsyncClient, hub_url: str, secrets: dict[str, str],
                 clock: Callable[[], float]) -> None:
        self._client = client
        self._hub_url = hub_url
        self._secrets = secrets
        self._clock = clock
        self.stats: Counter[str] = Counter()
        self.failures: list[str] = []

    async def deliver(self, send: Send) -> None:
        """POST the send; counts the outcome, never raises for an HTTP failure."""
        body = json.dumps(send.body, separators=(",", ":")).encode()
        status = "error"
        for attempt in range(_ATTEMPTS):
            try:
                headers = vendor_headers(send, body, self._secrets, self._hub_url, int(self._clock()))
                response = await self._client.post(f"{self._hub_url}/hooks/{send.source}", content=body,
                                                   headers=headers, timeout=30)
                status = str(response.status_code)
                if response.status_code < 500 and response.status_code != 429:
                    break
            except httpx.HTTPError as exc:
                status = exc.__class__.__name__
            await asyncio.sleep(0.2 * 2 ** attempt)
        self.stats[status] += 1
        if status not in ("200", "202") and len(self.failures) < 20:
            self.failures.append(f"{send.source}: {status}")


def vendor_headers(send: Send, body: bytes, secrets: dict[str, str], hub_url: str, now: int) -> dict[str, str]:
    """The vendor's headers for ``body``: content type and its signature scheme, stamped ``now``."""
    s, meta = secrets, send.meta
    if send.source == "shop":
        signed = signing.shopify(s["DEMO_SHOPIFY_SECRET"], body, meta["topic"], meta["event_id"],
                                 meta.get("triggered_at", iso(now)))
    elif send.source == "stripe":
        signed = signing.stripe(s["DEMO_STRIPE_SECRET"], body, now)
    elif send.source == "pos":
        signed = signing.square(s["DEMO_SQUARE_KEY"], f"{hub_url}/hooks/pos", body)
    elif send.source == "easypost":
        signed = signing.easypost(s["DEMO_EASYPOST_SECRET"], body)
    elif send.source == "amazon":
        signed = signing.eventbridge_api_key(s["DEMO_AMAZON_SECRET"])
    elif send.source == "wms":
        msg_id = "msg_" + str(send.body.get("event_id") or send.body.get("eventId"))
        signed = signing.standard_webhooks(s["DEMO_WMS_SECRET"], msg_id, now, body)
    elif send.source == "returns":
        signed = signing.hmac_hex(s["DEMO_RETURNS_SECRET"], body)
    else:
        raise ValueError(f"no simulated vendor sends to {send.source!r}")
    return {"content-type": "application/json", "user-agent": f"demo-{send.source}/1.0", **signed}
