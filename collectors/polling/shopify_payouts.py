"""Shopify Payments payouts poller (``style = "shopify-payouts"``).

Reads ``GET /admin/api/<version>/shopify_payments/payouts.json?status=paid&date_min=…``
(https://shopify.dev/docs/api/admin-rest/latest/resources/payouts) and stores each paid payout as a
delivery with ``X-Shopify-Topic: payouts/paid``, key ``<payout id>:payout:paid``
(``collectors.shopify_payments.payout_key``, also the key of a payout webhook on this source). For each
one it then reads the payout's balance transactions, ``GET /admin/api/<version>/shopify_payments/balance/
transactions.json?payout_id=<id>`` (https://shopify.dev/docs/api/admin-rest/latest/resources/transactions),
every page, and stores one more delivery, key ``<payout id>:payout:transactions``: the payout with
``transactions`` filled in and ``X-Crosstrace-Polled: shopify-payout-detail``, from which the adapter
relates the payout to every order it settled — as ``stripe-events`` does for a Stripe payout.

Paging: both lists follow ``Link: <…>; rel="next"`` (https://shopify.dev/docs/api/usage/pagination-rest).
Cursor: the newest payout ``date`` seen (``YYYY-MM-DD``), committed with the run's last page. A payout is
listed by the day it is paid, but may turn ``paid`` a few days after a run has read that day (in transit):
each run re-reads ``lookback_days`` before the cursor, dedup absorbing what is already stored.

Style keys: ``api_version`` (default ``"2025-01"``), ``lookback_days`` (default 3). ``url``: the shop,
``https://<shop>.myshopify.com``; ``token``: an Admin API access token with ``read_shopify_payments_payouts``,
sent as ``X-Shopify-Access-Token``. ``page_size`` at most 250.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
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
    shopify_orders,
)
from collectors.polling.shopify_orders import DEFAULT_API_VERSION, next_link
from collectors.shopify_payments import PAYOUT_DETAIL, payout_key
from hub.errors import ConfigError

_KEYS = {"api_version", "lookback_days"}


def check(options: dict[str, Any], where: str) -> None:
    check_keys(options, _KEYS, where)
    version = options.get("api_version", DEFAULT_API_VERSION)
    if not isinstance(version, str) or not version:
        raise ConfigError(f"{where}.api_version must be a non-empty string")
    days = options.get("lookback_days", 3)
    if isinstance(days, bool) or not isinstance(days, int) or days < 0:
        raise ConfigError(f"{where}.lookback_days must be a whole number of days, 0 or more (got {days!r})")


def headers(settings: PollSettings) -> dict[str, str]:
    return shopify_orders.headers(settings)  # the same X-Shopify-Access-Token


def walk(settings: PollSettings, cursor: str | None, now: datetime) -> _PayoutWalk:
    return _PayoutWalk(settings, cursor, now)


def _date(value: Any, what: str) -> date:
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise UpstreamError(f"{what} is not a date (YYYY-MM-DD): {value!r}") from None


class _PayoutWalk:
    def __init__(self, settings: PollSettings, cursor: str | None, now: datetime) -> None:
        self._settings = settings
        self._base = f"{settings.url}/admin/api/{settings.options.get('api_version', DEFAULT_API_VERSION)}"
        self._stored = _date(cursor, "the stored cursor") if cursor else None
        since = (self._stored - timedelta(days=settings.options.get("lookback_days", 3)) if self._stored
                 else (now - timedelta(seconds=settings.backfill_seconds)).date())
        self._limit = str(min(settings.page_size, 250))
        self._params = {"status": "paid", "date_min": since.isoformat(), "limit": self._limit}
        self._newest = self._stored
        self._payouts: list[dict[str, Any]] = []  # paid payouts whose balance transactions are still to read
        self._covered: list[dict[str, Any]] = []  # balance transactions read so far for self._payouts[0]
        self._resume: Request | None = None  # the payouts page to go on with once their transactions are read

    def first(self) -> Request:
        return Request(f"{self._base}/shopify_payments/payouts.json", self._params)

    def page(self, response: httpx.Response) -> Page:
        if self._payouts:
            return self._transactions_page(response)
        payouts = _listing(response, "payouts")
        items = []
        for payout in payouts:
            key = payout_key(payout)
            if key is None or payout.get("date") is None:
                raise UpstreamError("a payout without id, status or date")
            moment = _date(payout["date"], f"payout {payout['id']}'s date")
            self._newest = max(self._newest or moment, moment)
            if payout["status"] == "paid":  # the filter asked for paid ones: anything else is not settled
                items.append(_item(key, "payouts/paid", payout, "shopify-payouts"))
                self._payouts.append(payout)
        following = next_link(response, self._settings.url) if payouts else None
        if self._payouts:
            self._resume = following
            return Page(items, None, self._transactions_request())
        return self._then(items, following)

    def _transactions_request(self) -> Request:
        return Request(f"{self._base}/shopify_payments/balance/transactions.json",
                       {"payout_id": str(self._payouts[0]["id"]), "limit": self._limit})

    def _transactions_page(self, response: httpx.Response) -> Page:
        transactions = _listing(response, "transactions")
        self._covered += transactions
        following = next_link(response, self._settings.url) if transactions else None
        if following is not None:
            return Page([], None, following)
        payout = self._payouts.pop(0)
        detail = {**payout, "transactions": self._covered}
        self._covered = []
        items = [_item(f"{payout['id']}:payout:transactions", "payouts/paid", detail, PAYOUT_DETAIL)]
        return self._then(items, self._transactions_request() if self._payouts else self._resume)

    def _then(self, items: list[dict[str, Any]], following: Request | None) -> Page:
        """A page going on to ``following``; the last one (None) moves the cursor to the newest date seen."""
        if following is not None:
            return Page(items, None, following)
        moved = self._newest is not None and self._newest != self._stored
        return Page(items, self._newest.isoformat() if moved and self._newest else None, None)


def _listing(response: httpx.Response, name: str) -> list[dict[str, Any]]:
    body = document(response)
    listed = body.get(name) if isinstance(body, dict) else None
    if not isinstance(listed, list) or not all(isinstance(item, dict) for item in listed):
        raise UpstreamError(f"{response.request.url.path} did not answer {{\"{name}\": [...]}}")
    return listed


def _item(key: str, topic: str, body: dict[str, Any], polled: str) -> dict[str, Any]:
    return {"dedup_key": key, "body": json_body(body),
            "headers": {"content-type": "application/json", "x-shopify-topic": topic, "x-crosstrace-polled": polled}}
