"""Amazon SP-API Finances v0 poller (``style = "amazon-finances"``): settled financial event groups → deliveries.

A *financial event group* is one Amazon settlement period: money posted while it is ``Open``, then paid out
(``OriginalTotal``, ``FundTransferDate``) once ``Closed``. Each run lists the groups started since the
cursor (``GET /finances/v0/financialEventGroups?FinancialEventGroupStartedAfter=…``, operation
``listFinancialEventGroups``) and, for every group no longer open, reads all its events
(``GET /finances/v0/financialEventGroups/{eventGroupId}/financialEvents``, ``listFinancialEventsByGroupId``),
both paged by ``NextToken`` (https://developer-docs.amazon.com/sp-api/docs/finances-api-reference; shapes in
amzn/selling-partner-api-models ``models/finances-api-model/financesV0.json``). One delivery per settled group,
dedup key ``financial-event-group:<id>``: ``{"FinancialEventGroup": group, "FinancialEvents": {lists of every
page concatenated}}`` with ``X-Crosstrace-Polled: amazon-finances``; the ``amazon-sp`` adapter turns it into
the settlement and its gross and fee events (``collectors.amazon_finances``).

Cursor (the shared inclusive rule): an open group is not read yet, so the cursor never passes the start of
the oldest group still open — it closes in a later run, inside the re-read window. Otherwise the cursor is
the newest ``FinancialEventGroupStart`` seen. Closed groups re-read by the lookback are absorbed by dedup.

Auth: ``token`` is sent as ``x-amz-access-token`` (an LWA access token; SP-API no longer needs SigV4). It
expires after an hour, so refresh it outside (``headers`` may name ``env:…``). ``page_size`` at most 100
(``MaxResultsPerPage``). No style-specific keys.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx

from collectors.amazon_finances import POLLED, merge
from collectors.polling import Page, PollSettings, Request, UpstreamError, check_keys, document, json_body, utc_iso

_GROUPS = "/finances/v0/financialEventGroups"


def check(options: dict[str, Any], where: str) -> None:
    check_keys(options, set(), where)


def headers(settings: PollSettings) -> dict[str, str]:
    return {"x-amz-access-token": settings.token} if settings.token else {}


def walk(settings: PollSettings, cursor: str | None, now: datetime) -> _FinancesWalk:
    return _FinancesWalk(settings, cursor, now)


class _FinancesWalk:
    def __init__(self, settings: PollSettings, cursor: str | None, now: datetime) -> None:
        self._settings = settings
        self._stored = cursor
        stored = _moment(cursor) if cursor else None
        since = stored - timedelta(seconds=settings.lookback_seconds) if stored is not None else (
            now - timedelta(seconds=settings.backfill_seconds))
        self._limit = str(min(settings.page_size, 100))
        self._since = utc_iso(since)
        self._newest: datetime | None = None
        self._open: datetime | None = None  # start of the oldest group still open
        self._settled: list[dict[str, Any]] = []  # closed groups whose events are being read
        self._pages: list[dict[str, Any]] = []  # FinancialEvents pages read so far for self._settled[0]
        self._resume: Request | None = None  # the groups page to go on with once the settled ones are read

    def first(self) -> Request:
        return Request(self._settings.url + _GROUPS, {"MaxResultsPerPage": self._limit,
                                                      "FinancialEventGroupStartedAfter": self._since})

    def page(self, response: httpx.Response) -> Page:
        if self._settled:
            return self._events_page(response)
        payload = _payload(response, _GROUPS)
        groups = payload.get("FinancialEventGroupList") or []
        if not isinstance(groups, list):
            raise UpstreamError(f"GET {_GROUPS}: FinancialEventGroupList is not a list")
        for group in groups:
            started = _started(group)
            self._newest = max(self._newest or started, started)
            if str(group.get("ProcessingStatus", "")).lower() == "open":
                self._open = min(self._open or started, started)
            else:
                self._settled.append(group)
        following = self._next(payload, self.first())
        if self._settled:
            self._resume = following
            return Page([], None, self._events_request())
        return self._then([], following)

    def _events_request(self) -> Request:
        group_id = quote(str(self._settled[0]["FinancialEventGroupId"]), safe="")
        return Request(f"{self._settings.url}{_GROUPS}/{group_id}/financialEvents",
                       {"MaxResultsPerPage": self._limit})

    def _events_page(self, response: httpx.Response) -> Page:
        payload = _payload(response, f"{_GROUPS}/{{id}}/financialEvents")
        events = payload.get("FinancialEvents") or {}
        if not isinstance(events, dict):
            raise UpstreamError("a financialEvents page whose FinancialEvents is not an object")
        self._pages.append(events)
        following = self._next(payload, self._events_request())
        if following is not None:
            return Page([], None, following)
        group = self._settled.pop(0)
        item = {"dedup_key": f"financial-event-group:{group['FinancialEventGroupId']}",
                "body": json_body({"FinancialEventGroup": group, "FinancialEvents": merge(self._pages)}),
                "headers": {"content-type": "application/json", "x-crosstrace-polled": POLLED}}
        self._pages = []
        return self._then([item], self._events_request() if self._settled else self._resume)

    def _next(self, payload: dict[str, Any], same: Request) -> Request | None:
        """The same listing's next page (``NextToken``, with the page size), or None at its end."""
        token = payload.get("NextToken")
        if not isinstance(token, str) or not token:
            return None
        return Request(same.url, {"MaxResultsPerPage": self._limit, "NextToken": token})

    def _then(self, items: list[dict[str, Any]], following: Request | None) -> Page:
        """A page going on to ``following``; the last one (None) moves the cursor (see the module doc)."""
        if following is not None:
            return Page(items, None, following)
        moved = self._open if self._open is not None else self._newest
        cursor = moved.isoformat() if moved is not None else None
        return Page(items, cursor if cursor != self._stored else None, None)


def _payload(response: httpx.Response, path: str) -> dict[str, Any]:
    body = document(response)
    payload = body.get("payload") if isinstance(body, dict) else None
    if not isinstance(payload, dict):
        raise UpstreamError(f"GET {path} did not answer an SP-API payload object")
    return payload


def _started(group: Any) -> datetime:
    if not isinstance(group, dict) or not isinstance(group.get("FinancialEventGroupId"), str):
        raise UpstreamError("a financial event group without a string FinancialEventGroupId")
    try:
        return _moment(str(group.get("FinancialEventGroupStart")))
    except ValueError:
        raise UpstreamError(f"financial event group {group['FinancialEventGroupId']}: FinancialEventGroupStart "
                            f"{group.get('FinancialEventGroupStart')!r} is not a time") from None


def _moment(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)  # SP-API times are UTC
