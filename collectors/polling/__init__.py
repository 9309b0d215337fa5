"""Poll adapters: one module per upstream API style, each turning API pages into inbox items.

A style module exposes ``check(options, where)`` (raises :class:`~hub.errors.ConfigError` for a bad
style-specific key), ``headers(settings)`` (auth and version headers) and ``walk(settings, cursor,
now) -> Walk``: the pages of one poll run, from the stored cursor. Style modules do no I/O; the
runtime (``collectors.poller``) sends the requests, retries, and commits each :class:`Page`.

Cursor rule shared by every style: the cursor is *inclusive* and each run re-reads from ``cursor −
lookback``; a page's ``cursor`` is only set when every item at or before it has been read (so a crash
after that commit cannot skip anything), and dedup on ``(source, dedup_key)`` absorbs the re-reads.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import httpx

from hub.config import Source, resolve_secret
from hub.errors import ConfigError
from hub.ingest.values import json_text

__all__ = ["STYLES", "Page", "PollSettings", "Request", "UpstreamError", "Walk", "poll_settings"]


class UpstreamError(Exception):
    """The upstream answered something a retry will not fix (unexpected shape, 4xx other than 429)."""


@dataclass(frozen=True, slots=True)
class Request:
    """One GET: ``params`` None when ``url`` already carries its query (a ``Link: rel="next"`` URL)."""

    url: str
    params: Mapping[str, str | list[str]] | None = None


@dataclass(frozen=True, slots=True)
class Page:
    """What one response yields: inbox items (``hub.ingest.polling.commit_poll`` shape), the cursor to commit with
    them (None: keep the stored one), and the next request (None: the run is finished)."""

    items: list[dict[str, Any]]
    cursor: str | None
    next: Request | None


class Walk(Protocol):
    def first(self) -> Request: ...

    def page(self, response: httpx.Response) -> Page: ...


@dataclass(frozen=True, slots=True)
class PollSettings:
    """A source's ``[sources.options.poll]`` table, validated (see ``collectors.poller`` for the keys)."""

    source: str
    style: str
    url: str
    interval_seconds: float = 60.0
    page_size: int = 100
    lookback_seconds: float = 300.0
    backfill_seconds: float = 7 * 86400.0
    timeout_seconds: float = 30.0
    max_attempts: int = 5
    backoff_base_seconds: float = 1.0
    backoff_cap_seconds: float = 60.0
    max_retry_after_seconds: float = 600.0
    failure_threshold: int = 5
    cooldown_seconds: float = 300.0
    token: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)  # the style-specific keys


_NUMBERS = {"interval_seconds", "lookback_seconds", "backfill_seconds", "timeout_seconds", "backoff_base_seconds",
            "backoff_cap_seconds", "max_retry_after_seconds", "cooldown_seconds"}
_COUNTS = {"page_size", "max_attempts", "failure_threshold"}
_COMMON = {"url", "style", "token", "headers", *_NUMBERS, *_COUNTS}


def poll_settings(source: Source, environ: Mapping[str, str] | None = None) -> PollSettings | None:
    """The source's validated poll settings, or None when it has no ``options.poll`` table."""
    raw = source.options.get("poll")
    if raw is None:
        return None
    where = f"source {source.name!r}: options.poll"
    if not isinstance(raw, dict):
        raise ConfigError(f"{where} must be a table ([sources.options.poll])")
    style = raw.get("style")
    if style not in STYLES:
        raise ConfigError(f"{where}.style = {style!r}: expected one of {', '.join(STYLES)}")
    url = raw.get("url")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise ConfigError(f"{where}.url must be an http(s) URL")
    values: dict[str, Any] = {}
    for key in _NUMBERS & raw.keys():
        value = raw[key]
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise ConfigError(f"{where}.{key} must be a non-negative number of seconds (got {value!r})")
        values[key] = float(value)
    for key in _COUNTS & raw.keys():
        value = raw[key]
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ConfigError(f"{where}.{key} must be a positive integer (got {value!r})")
        values[key] = value
    env = os.environ if environ is None else environ
    token = raw.get("token")
    if token is not None:
        if not isinstance(token, str):
            raise ConfigError(f"{where}.token must be a string such as \"env:NAME\"")
        token = resolve_secret(token, f"{where}.token", env)  # type: ignore[arg-type]
    headers = raw.get("headers", {})
    if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
        raise ConfigError(f"{where}.headers must map header names to strings")
    headers = {k.lower(): resolve_secret(v, f"{where}.headers.{k}", env) for k, v in headers.items()}  # type: ignore[arg-type]
    options = {k: v for k, v in raw.items() if k not in _COMMON}
    STYLES[style].check(options, where)
    return PollSettings(source=source.name, style=style, url=url.rstrip("/"), token=token, headers=headers,
                        options=options, **values)


def check_keys(options: Mapping[str, Any], allowed: set[str], where: str) -> None:
    """Refuse a style-specific key the style does not know (a typo would silently change behaviour)."""
    unknown = set(options) - allowed
    if unknown:
        raise ConfigError(f"{where}: unknown key {sorted(unknown)[0]!r}: expected one of "
                          f"{sorted(_COMMON | allowed)}")


def json_body(value: Any) -> bytes:
    """An upstream object as a delivery body: compact UTF-8 JSON (parsers read it like the webhook's)."""
    return json_text(value, separators=(",", ":")).encode()


def document(response: httpx.Response) -> Any:
    """The response's JSON, or :class:`UpstreamError` naming what came back instead."""
    try:
        return response.json()
    except (ValueError, RecursionError):  # json.loads raises RecursionError, not ValueError, at depth ~1000
        raise UpstreamError(f"expected JSON from {response.request.url.path}, got "
                            f"{response.headers.get('content-type', 'no content type')}") from None


def utc_iso(moment: datetime) -> str:
    """ISO 8601 in UTC with a ``Z`` (second precision): what both Shopify and most REST APIs accept."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def from_epoch(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def same_origin(url: str, base: str) -> bool:
    """A ``Link`` URL is followed only on the configured host: the API token is never sent elsewhere."""
    a, b = httpx.URL(url), httpx.URL(base)
    return (a.scheme, a.host, a.port) == (b.scheme, b.host, b.port)


from collectors.polling import (  # noqa: E402 - the styles use the helpers above
    amazon_finances,
    rest,
    shopify_orders,
    shopify_payouts,
    stripe_events,
)

STYLES = {"stripe-events": stripe_events, "shopify-orders": shopify_orders, "shopify-payouts": shopify_payouts,
          "rest": rest, "amazon-finances": amazon_finances}
