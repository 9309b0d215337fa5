"""Generic REST poller for ERP/WMS/returns APIs (``style = "rest"``): ``GET <url>?<since_param>=…``.

Each item under ``items_path`` becomes one delivery whose body is the item object, parsed by the
source's adapter (normally ``json`` with its mapping, or ``cloudevents`` when the API serves
CloudEvents); its dedup key is ``<id>@<version>`` — dedup on (source, object id, version).

The API must filter on ``since_param`` (inclusive, ``>=``) over ``cursor_field`` and, for
``pagination = "page"``, sort ascending by it (put the sort in ``params`` if the API needs asking).
Pagination styles:

- ``"page"`` (``page_param``/``limit_param``): keyset over the cursor field. The next request asks again
  from the newest value seen (inclusive, page 1); the page number only grows to step over a full page
  of equal values. Plain page numbers under a fixed filter skip an item whenever an earlier one is
  updated mid-walk (everything shifts left by one); re-asking from the newest value cannot. Every page
  commits its newest value as the cursor.
- ``"cursor"``: the API returns an opaque token at ``next_path``, sent back as ``cursor_param``.
- ``"link"``: ``Link: <…>; rel="next"`` (RFC 8288), followed on the configured host only.

For ``cursor``/``link`` the order is the API's, so the cursor is committed only with the last page,
as the newest value seen but (for times) never later than when the run started: an item updated
behind the walk's position during the run is re-read next time.

Style keys (defaults): ``items_path`` ("items"; "" when the body is the array), ``id_field`` ("id"),
``cursor_field`` ("updated_at"), ``version_field`` (= cursor_field), ``cursor_kind`` ("time" — ISO 8601
— or "number", where ``lookback_seconds`` is subtracted as a number), ``since_param`` ("updated_since"),
``pagination`` ("page"), ``page_param`` ("page"), ``limit_param`` ("limit"), ``first_page`` (1),
``next_path`` ("next_cursor"), ``cursor_param`` ("cursor"), ``params`` (extra query parameters),
``auth_header`` ("authorization"), ``auth_scheme`` ("Bearer"; "" sends the token bare).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx

from collectors.base import dig
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
from hub.errors import ConfigError

_STRINGS = {"items_path": "items", "id_field": "id", "cursor_field": "updated_at", "version_field": "",
            "cursor_kind": "time", "since_param": "updated_since", "pagination": "page", "page_param": "page",
            "limit_param": "limit", "next_path": "next_cursor", "cursor_param": "cursor",
            "auth_header": "authorization", "auth_scheme": "Bearer"}
_KEYS = {*_STRINGS, "first_page", "params"}


def check(options: dict[str, Any], where: str) -> None:
    check_keys(options, _KEYS, where)
    for key in _STRINGS.keys() & options.keys():
        if not isinstance(options[key], str):
            raise ConfigError(f"{where}.{key} must be a string")
    if options.get("cursor_kind", "time") not in ("time", "number"):
        raise ConfigError(f"{where}.cursor_kind must be \"time\" or \"number\"")
    if options.get("pagination", "page") not in ("page", "cursor", "link"):
        raise ConfigError(f"{where}.pagination must be \"page\", \"cursor\" or \"link\"")
    params = options.get("params", {})
    if not isinstance(params, dict) or not all(isinstance(v, str | int) for v in params.values()):
        raise ConfigError(f"{where}.params must map query parameter names to strings")
    if not isinstance(options.get("first_page", 1), int):
        raise ConfigError(f"{where}.first_page must be an integer")


def headers(settings: PollSettings) -> dict[str, str]:
    if not settings.token:
        return {}
    scheme = _opt(settings, "auth_scheme")
    return {_opt(settings, "auth_header").lower(): f"{scheme} {settings.token}" if scheme else settings.token}


def walk(settings: PollSettings, cursor: str | None, now: datetime) -> _RestWalk:
    return _RestWalk(settings, cursor, now)


def _opt(settings: PollSettings, key: str) -> str:
    return str(settings.options.get(key, _STRINGS[key]))


class _RestWalk:
    def __init__(self, settings: PollSettings, cursor: str | None, now: datetime) -> None:
        self._s = settings
        self._numeric = _opt(settings, "cursor_kind") == "number"
        self._mode = _opt(settings, "pagination")
        self._started = now
        self._stored = self._value(cursor) if cursor else None
        self._newest = self._stored
        self._newest_raw = cursor
        self._page = int(settings.options.get("first_page", 1))
        if self._stored is None:
            since: Any = 0 if self._numeric else utc_iso(now - timedelta(seconds=settings.backfill_seconds))
        elif self._numeric:
            since = self._stored - settings.lookback_seconds
            since = int(since) if float(since).is_integer() else since
        else:
            since = utc_iso(self._stored - timedelta(seconds=settings.lookback_seconds))
        self._since = str(since)

    def _value(self, raw: Any) -> Any:
        if self._numeric:
            if isinstance(raw, bool) or not isinstance(raw, int | float | str):
                raise UpstreamError(f"cursor value is not a number: {raw!r}")
            try:
                return float(raw) if not isinstance(raw, int) else raw
            except ValueError:
                raise UpstreamError(f"cursor value is not a number: {raw!r}") from None
        try:
            moment = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
        except ValueError:
            raise UpstreamError(f"cursor value is not ISO 8601: {raw!r}") from None
        return moment if moment.tzinfo else moment.replace(tzinfo=self._started.tzinfo)

    def _params(self) -> dict[str, str | list[str]]:
        params: dict[str, str | list[str]] = {k: str(v) for k, v in self._s.options.get("params", {}).items()}
        params[_opt(self._s, "since_param")] = self._since
        params[_opt(self._s, "limit_param")] = str(self._s.page_size)
        if self._mode == "page":
            params[_opt(self._s, "page_param")] = str(self._page)
        return params

    def first(self) -> Request:
        return Request(self._s.url, self._params())

    def page(self, response: httpx.Response) -> Page:
        body = document(response)
        path = _opt(self._s, "items_path")
        found = dig(body, path) if path else body
        if not isinstance(found, list):
            raise UpstreamError(f"no list of items at {path or 'the top level'!r}")
        id_field, cursor_field = _opt(self._s, "id_field"), _opt(self._s, "cursor_field")
        version_field = _opt(self._s, "version_field") or cursor_field
        items, page_newest = [], None
        for item in found:
            if not isinstance(item, dict):
                raise UpstreamError("an item is not a JSON object")
            ident, raw = dig(item, id_field), dig(item, cursor_field)
            if ident is None or raw is None:
                raise UpstreamError(f"an item without {id_field!r} or {cursor_field!r}")
            value = self._value(raw)
            items.append({"dedup_key": f"{ident}@{dig(item, version_field)}", "body": json_body(item),
                          "headers": {"content-type": "application/json", "x-crosstrace-polled": "rest"}})
            if page_newest is None or value > page_newest[0]:
                page_newest = (value, raw)
            if self._newest is None or value > self._newest:
                self._newest, self._newest_raw = value, raw
        following = self._following(response, body, found, page_newest)
        if self._mode == "page" or following is None:
            return Page(items, self._cursor(final=following is None), following)
        return Page(items, None, following)

    def _following(self, response: httpx.Response, body: Any, found: list[Any],
                   page_newest: tuple[Any, Any] | None) -> Request | None:
        if not found:
            return None
        if self._mode == "page":
            if len(found) < self._s.page_size:
                return None
            assert page_newest is not None
            if str(page_newest[1]) == self._since or self._value(self._since) == page_newest[0]:
                self._page += 1  # a full page of one value: step over it
            else:
                self._since, self._page = str(page_newest[1]), int(self._s.options.get("first_page", 1))
            return Request(self._s.url, self._params())
        if self._mode == "cursor":
            token = dig(body, _opt(self._s, "next_path"))
            if not token:
                return None
            return Request(self._s.url, {**self._params(), _opt(self._s, "cursor_param"): str(token)})
        following = response.links.get("next", {}).get("url")
        if not following:
            return None
        following = str(response.url.join(following))
        if not same_origin(following, self._s.url):
            raise UpstreamError(f"Link rel=next points to another host: {following}")
        return Request(following)

    def _cursor(self, final: bool) -> str | None:
        if self._newest is None or self._newest == self._stored:
            return None
        if self._mode == "page":
            self._stored = self._newest
            return str(self._newest_raw) if self._numeric else utc_iso(self._newest)
        if not final:
            return None
        if self._numeric:
            return str(self._newest_raw)
        return utc_iso(min(self._newest, self._started))
