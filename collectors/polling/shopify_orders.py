"""Shopify orders poller (``style = "shopify-orders"``): ``GET /admin/api/<version>/orders.json``.

Each order becomes a delivery whose body is the order object (what an ``orders/updated`` webhook
POSTs) with ``X-Shopify-Topic: orders/updated``, so the ``shopify`` adapter parses it; its dedup key is
``<order id>@<updated_at>``: one delivery per version of an order, a re-read version stored once.
Each once-per-order step the order shows (created; paid; cancelled — ``collectors.shopify.order_steps``)
becomes a delivery too, with that topic and the key ``<order id>:<topic>``: the first poll stores it,
later polls are absorbed by dedup. So does each refund in the order's ``refunds[]`` (``refunds/create``, body
the refund, key ``<refund id>:refunds/create``) and each fulfillment in ``fulfillments[]``
(``fulfillments/create``, key ``<fulfillment id>:fulfillments/create``; and, once it has a shipment status or
failed, its version as ``fulfillments/update``, key ``<fulfillment id>@<updated_at>``) —
``collectors.shopify.polled_facts``. Order, refund and fulfillment webhooks of a polled source carry the
same keys, so these deliveries fill exactly the webhooks that were missed (Shopify's guidance: reconcile
missed webhooks by polling with ``updated_at_min``,
https://shopify.dev/docs/apps/build/webhooks/best-practices#implement-reconciliation-jobs).

Paging (https://shopify.dev/docs/api/usage/pagination-rest): the first request carries the filters
(``updated_at_min = cursor − lookback``, ``status=any`` — the default lists only open orders —,
``order=updated_at asc``, ``limit`` ≤ 250); later pages are the ``Link: <…>; rel="next"`` URL exactly
as given (a ``page_info`` request may carry no other filter). Because the walk is ascending by
``updated_at`` and an update only moves an order later, every order at or before a page's newest
``updated_at`` has been read once that page is in: each page commits its cursor (that newest time,
UTC ISO 8601), so a long backfill keeps its progress across a crash.

Style keys: ``api_version`` (default ``"2025-01"``), ``status`` (default ``"any"``). ``url``: the shop,
``https://<shop>.myshopify.com``. ``token``: the Admin API access token, sent as
``X-Shopify-Access-Token``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx

from collectors.polling import (
    Page,
    PollSettings,
    Request,
    UpstreamError,
    check_keys,
    document,
    json_body,
    same_origin,
    utc_iso,
)
from collectors.shopify import order_key, polled_facts
from hub.errors import ConfigError

_KEYS = {"api_version", "status"}
DEFAULT_API_VERSION = "2025-01"


def check(options: dict[str, Any], where: str) -> None:
    check_keys(options, _KEYS, where)
    for key in _KEYS & options.keys():
        if not isinstance(options[key], str) or not options[key]:
            raise ConfigError(f"{where}.{key} must be a non-empty string")


def headers(settings: PollSettings) -> dict[str, str]:
    return {"x-shopify-access-token": settings.token} if settings.token else {}


def walk(settings: PollSettings, cursor: str | None, now: datetime) -> _ShopifyWalk:
    return _ShopifyWalk(settings, cursor, now)


def _time(value: Any) -> datetime:
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise UpstreamError(f"an order's updated_at is not ISO 8601: {value!r}") from None
    if moment.tzinfo is None:
        raise UpstreamError(f"an order's updated_at has no UTC offset: {value!r}")
    return moment


class _ShopifyWalk:
    def __init__(self, settings: PollSettings, cursor: str | None, now: datetime) -> None:
        self._settings = settings
        self._version = settings.options.get("api_version", DEFAULT_API_VERSION)
        self._stored = _time(cursor) if cursor else None
        self._newest = self._stored
        self._since = (self._stored - timedelta(seconds=settings.lookback_seconds) if self._stored
                       else now - timedelta(seconds=settings.backfill_seconds))

    def first(self) -> Request:
        return Request(f"{self._settings.url}/admin/api/{self._version}/orders.json",
                       {"updated_at_min": utc_iso(self._since), "limit": str(min(self._settings.page_size, 250)),
                        "status": self._settings.options.get("status", "any"), "order": "updated_at asc"})

    def page(self, response: httpx.Response) -> Page:
        body = document(response)
        orders = body.get("orders") if isinstance(body, dict) else None
        if not isinstance(orders, list):
            raise UpstreamError("orders.json did not answer {\"orders\": [...]}")
        items = []
        shop = httpx.URL(self._settings.url).host
        for order in orders:
            if not isinstance(order, dict) or order.get("id") is None or not order.get("updated_at"):
                raise UpstreamError("an order without id or updated_at")
            updated = _time(order["updated_at"])
            body = json_body(order)
            for topic, resource in (("orders/updated", order), *polled_facts(order)):
                items.append({"dedup_key": order_key(topic, resource),
                              "body": body if resource is order else json_body(resource),
                              "headers": {"content-type": "application/json", "x-shopify-topic": topic,
                                          "x-shopify-api-version": self._version, "x-shopify-shop-domain": shop,
                                          "x-crosstrace-polled": "shopify-orders"}})
            if self._newest is None or updated > self._newest:
                self._newest = updated
        cursor = utc_iso(self._newest) if self._newest is not None and self._newest != self._stored else None
        self._stored = self._newest
        following = next_link(response, self._settings.url)
        return Page(items, cursor, following if orders else None)


def next_link(response: httpx.Response, base: str) -> Request | None:
    """The ``Link: <…>; rel="next"`` page exactly as given (https://shopify.dev/docs/api/usage/pagination-rest),
    followed only on the configured shop's host."""
    following = response.links.get("next", {}).get("url")
    if not following:
        return None
    following = str(response.url.join(following))
    if not same_origin(following, base):
        raise UpstreamError(f"Link rel=next points to another host: {following}")
    return Request(following)
