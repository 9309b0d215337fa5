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

Payout fees: a ``payout.paid`` event carries no balance transactions, so for each one listed the walk
also reads ``GET /v1/balance_transactions?payout=<po_…>`` (https://docs.stripe.com/api/balance_transactions/list,
paged by ``starting_after``) and stores one more delivery, key ``<evt_…>:balance_transactions``: the event
with ``data.object.balance_transactions`` filled in and ``X-Crosstrace-Polled: stripe-payout-detail``,
from which the ``stripe`` adapter derives only the payout's ``gross`` and ``fee`` events and its refs to
the charges and refunds it covers (the payout event itself comes from the plain delivery or webhook).

Style keys: ``types`` (list of event types, Stripe's ``types[]`` filter, at most 20),
``stripe_version`` (sent as ``Stripe-Version``), ``payout_fees`` (default true: read each paid payout's
balance transactions; the key then needs read access to balance transactions too). ``token``: the secret
or restricted key (``rk_…`` with read access to events), sent as ``Authorization: Bearer``. ``page_size``
at most 100.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx

from collectors.base import dig
from collectors.polling import Page, PollSettings, Request, UpstreamError, check_keys, document, json_body
from collectors.stripe import PAYOUT_DETAIL
from hub.errors import ConfigError

_KEYS = {"types", "stripe_version", "payout_fees"}


def check(options: dict[str, Any], where: str) -> None:
    check_keys(options, _KEYS, where)
    types = options.get("types", [])
    if not isinstance(types, list) or not all(isinstance(t, str) for t in types) or len(types) > 20:
        raise ConfigError(f"{where}.types must be a list of at most 20 Stripe event types")
    if not isinstance(options.get("payout_fees", True), bool):
        raise ConfigError(f"{where}.payout_fees must be true or false")


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
        self._limit = str(min(settings.page_size, 100))
        self._params: dict[str, str | list[str]] = {"limit": self._limit, "created[gte]": str(max(0, int(since)))}
        if settings.options.get("types"):
            self._params["types[]"] = list(settings.options["types"])
        self._newest = self._stored
        self._fees = settings.options.get("payout_fees", True)
        self._payouts: list[dict[str, Any]] = []  # payout.paid events whose balance transactions are being read
        self._covered: list[dict[str, Any]] = []  # balance transactions read so far for self._payouts[0]
        self._resume: Request | None = None  # the events page to go on with once the payouts are read

    def first(self) -> Request:
        return Request(self._settings.url + "/v1/events", self._params)

    def page(self, response: httpx.Response) -> Page:
        if self._payouts:
            return self._balance_page(response)
        data, has_more = _listing(response, "/v1/events")
        items = []
        for event in data:
            if not isinstance(event, dict) or not isinstance(event.get("id"), str) or \
                    isinstance(event.get("created"), bool) or not isinstance(event.get("created"), int):
                raise UpstreamError("a Stripe event without a string id and an integer created")
            items.append(_item(event["id"], event, "stripe-events"))
            self._newest = max(self._newest or 0, event["created"])
            if self._fees and event.get("type") == "payout.paid" and isinstance(dig(event, "data.object.id"), str):
                self._payouts.append(event)
        following = Request(self.first().url, {**self._params, "starting_after": data[-1]["id"]}) \
            if has_more and data else None
        if self._payouts:
            self._resume = following
            return Page(items, None, self._balance_request())
        return self._then(items, following)

    def _balance_request(self, after: str | None = None) -> Request:
        payout = self._payouts[0]["data"]["object"]["id"]
        params = {"payout": str(payout), "limit": self._limit}
        return Request(self._settings.url + "/v1/balance_transactions",
                       {**params, "starting_after": after} if after else params)

    def _balance_page(self, response: httpx.Response) -> Page:
        data, has_more = _listing(response, "/v1/balance_transactions")
        if not all(isinstance(txn, dict) and isinstance(txn.get("id"), str) for txn in data):
            raise UpstreamError("a Stripe balance transaction without a string id")
        self._covered += data
        if has_more and data:
            return Page([], None, self._balance_request(data[-1]["id"]))
        event = self._payouts.pop(0)
        items = []
        if any(txn.get("type") not in ("payout", "payout_cancel") for txn in self._covered):
            detail = {**event, "data": {**event["data"], "object": {
                **event["data"]["object"], "balance_transactions": self._covered}}}
            items.append(_item(f"{event['id']}:balance_transactions", detail, PAYOUT_DETAIL))
        self._covered = []
        return self._then(items, self._balance_request() if self._payouts else self._resume)

    def _then(self, items: list[dict[str, Any]], following: Request | None) -> Page:
        """A page going on to ``following``; the last one (None) moves the cursor to the newest event seen."""
        if following is not None:
            return Page(items, None, following)
        moved = self._newest is not None and self._newest != self._stored
        return Page(items, str(self._newest) if moved else None, None)


def _listing(response: httpx.Response, path: str) -> tuple[list[Any], bool]:
    listing = document(response)
    data = listing.get("data") if isinstance(listing, dict) else None
    if not isinstance(data, list) or listing.get("object") != "list":
        raise UpstreamError(f"GET {path} did not answer a Stripe list object")
    return data, bool(listing.get("has_more"))


def _item(key: str, body: dict[str, Any], polled: str) -> dict[str, Any]:
    return {"dedup_key": key, "body": json_body(body),
            "headers": {"content-type": "application/json", "x-crosstrace-polled": polled}}
