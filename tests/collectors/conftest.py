"""Fixtures shared by the collector tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio

from tests.collectors.polling_server import Upstream, serving


@pytest_asyncio.fixture
async def upstream() -> AsyncIterator[Upstream]:
    """The local upstream APIs (Stripe, Shopify, an ERP) on a real uvicorn bound to loopback."""
    up = Upstream()
    async with serving(up):
        yield up
