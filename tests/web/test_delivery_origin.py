"""The raw delivery views say how the hub authenticated what it stored, whatever the vendor's header names."""

from __future__ import annotations

from types import SimpleNamespace

from hub.config import parse
from web.deliveries import how_it_came

CONFIG = parse({"sources": [
    {"name": "pos", "kind": "pos", "adapter": "square", "secret": "k"},
    {"name": "erp", "kind": "erp", "adapter": "json", "secret": "k", "options": {"mapping": {"id": "id", "type": "t"}}},
]}, {})


def _delivery(source: str, **headers: str) -> SimpleNamespace:
    return SimpleNamespace(source=source, headers=headers)


def test_webhooks_polled_items_and_ingest_are_told_apart() -> None:
    square = how_it_came(_delivery("pos", **{"x-square-hmacsha256-signature": "abc="}), CONFIG)
    assert square.startswith("verified on receipt by the square adapter")
    polled = how_it_came(_delivery("erp", **{"x-crosstrace-polled": "rest"}), CONFIG)
    assert polled == "fetched by the erp poller (rest); no webhook signature"
    assert how_it_came(_delivery("ingest"), CONFIG).startswith("posted to /ingest with an API key")
    assert "its source's adapter" in how_it_came(_delivery("gone"), CONFIG)  # a source since removed
