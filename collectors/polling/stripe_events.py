"""Stripe Events API poller (``style = "stripe-events"``): ``GET /v1/events`` → one delivery per event.

Each event's delivery body is the event object, the same JSON object Stripe POSTs to a webhook
endpoint (https://docs.stripe.com/api/events/object), and its dedup key is the event id (``evt_…``) —
the key the ``stripe`` webhook adapter uses too, so for a source that has both, a polled event the
webhook already delivered is absorbed by dedup and a missed webhook is filled in (Stripe's guidance
for missed events: https://docs.stripe.com/webhooks/process-undelivered-events).

Paging (https://docs.stripe.com/api/pagination): a list object ``{"object": "list", "data": […],
"has_more": …}``, newest first; the next (older) page is ``starting_after=<last id of this page>``,
id-anchored so events created during the walk do not shift it. ``ending_before`` walks the other
way from an id; it is not used, because an id-anchored forward cursor misses an event that becomes
visible late *behind* the cursor event. Instead each run lists ``created[gte] = cursor − lookback``
(https://docs.stripe.com/api/events/list#list_events-created) down to that time, commits every page's
deliveries as it goes, and moves the cursor (the newest ``created`` seen, epoch seconds) only with the
last page. Stripe lists events up to 30 days back, so ``backfill_seconds`` beyond that reads nothing more.

Style keys: ``types`` (list of event types, Stripe's ``types[]`` filter, at most 20),
``stripe_version`` (sent as ``Stripe-Version``). ``token``: the secret or restricted key (``rk_…``
with read access to events), sent as ``Authorization: Bearer``. ``page_size`` at most 100.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx

from collectors.polling import Page, PollSettings, Request, UpstreamError, check_keys, document, json_body
from hub.errors import ConfigError

_KEYS = {"types", "stripe_version"}


def check(options: dict[str, Any], where: str) -> None:
    check_keys(options, _KEYS, where)
    types = options.get("types", [])
    if not isinstance(types, list) or not all(isinstance(t, str) for t in types) or len(types) > 20:
        raise ConfigError(f"{where}.types must be a list of at most 20 Stripe event types")


def headers(settings: PollSettings) -> dict[str, str]:
    out = {"authorization": f"Bearer {settings.token}"} if settings.token else {}
    if settings.options.get("stripe_version"):
        out["stripe-version"] = str(settings.options["stripe_version"])
    return out


def walk(settings: PollSettings, cursor: str | None, now: datetime) -> _StripeWalk:
    return _StripeWalk(settings, cursor, now)


class _StripeWalk:
    def __init__(self, settings: PollSettings, cursor: str | None, now: datetime) -> None:
        self._settings = settings
        self._stored = int(cursor) if cursor else None
        since = self._stored - settings.lookback_seconds if self._stored is not None else (
            now.timestamp() - settings.backfill_seconds)
        self._params: dict[str, str | list[str]] = {"limit": str(min(settings.page_size, 100)),
                                                    "created[gte]": str(max(0, int(since)))}
        if settings.options.get("types"):
            self._params["types[]"] = list(settings.options["types"])
        self._newest = self._stored

    def first(self) -> Request:
        return Request(self._settings.url + "/v1/events", self._params)

    def page(self, response: httpx.Response) -> Page:
        listing = document(response)
        data = listing.get("data") if isinstance(listing, dict) else None
        if not isinstance(data, list) or listing.get("object") != "list":
            raise UpstreamError("GET /v1/events did not answer a Stripe list object")
        items = []
        for event in listing["data"]:
            if not isinstance(event, dict) or not isinstance(event.get("id"), str) or \
                    isinstance(event.get("created"), bool) or not isinstance(event.get("created"), int):
                raise UpstreamError("a Stripe event without a string id and an integer created")
            items.append({"dedup_key": event["id"], "body": json_body(event),
                          "headers": {"content-type": "application/json", "x-crosstrace-polled": "stripe-events"}})
            self._newest = max(self._newest or 0, event["created"])
        if listing.get("has_more") and listing["data"]:
            return Page(items, None, Request(self.first().url, {**self._params,
                                                                "starting_after": listing["data"][-1]["id"]}))
        moved = self._newest is not None and self._newest != self._stored
        return Page(items, str(self._newest) if moved else None, None)
