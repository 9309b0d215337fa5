"""The app over ASGITransport with the seed's sources, and the seed delivered as signed webhooks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from hub.app import create_app
from hub.config import parse
from hub.runtime import Hub
from tests.web import seed


@asynccontextmanager
async def web_app(store_url: str) -> AsyncIterator[tuple[httpx.AsyncClient, Hub]]:
    app = create_app(parse(seed.raw_config(store_url), {}), evaluate_every=3600)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub.test") as client:
            yield client, app.state.hub


async def deliver_story(client: httpx.AsyncClient, hub: Hub) -> None:
    """Post every delivery of the seed (and one dead letter) and wait until the normalizer has done them."""
    for source, event in seed.story():
        path, body, headers = seed.signed(source, event)
        response = await client.post(path, content=body, headers=headers)
        assert response.status_code == 202, response.text
    path, body, headers = seed.dead_letter()
    assert (await client.post(path, content=body, headers=headers)).status_code == 202
    assert hub.normalizer is not None
    await hub.normalizer.run_until_idle()
