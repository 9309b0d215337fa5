"""Fixtures shared by the end-to-end tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio

from tests.e2e.server import Server, free_port, write_config


@pytest_asyncio.fixture
async def server(tmp_path: Path, store_url: str) -> AsyncIterator[Server]:
    """A real ``crosstrace serve`` on a free port, on the store of ``store_url`` (SQLite and PostgreSQL)."""
    hub = Server(write_config(tmp_path, store_url), free_port())
    await asyncio.to_thread(hub.start)
    try:
        yield hub
    finally:
        await asyncio.to_thread(hub.stop)
