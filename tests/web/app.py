"""The app over ASGITransport with the seed's sources, and the seed delivered as signed webhooks."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import httpx

from hub.app import create_app
from hub.config import ApiKey, parse
from hub.runtime import Hub
from tests.support import OPERATOR_KEY
from tests.web import seed


@asynccontextmanager
async def web_app(store_url: str, *, login_as: str | None = OPERATOR_KEY, open_ui_as: str | None = None,
                  base_url: str = "http://hub.test", clock: Callable[[], float] = time.time,
                  extra: dict | None = None) -> AsyncIterator[tuple[httpx.AsyncClient, Hub]]:
    """The app and a client; ``login_as`` logs the client in through ``/login`` and sends the session's CSRF
    token as ``X-CSRF-Token`` from then on (as a script would); ``open_ui_as`` names the key the UI opens as
    without a login (what ``crosstrace demo`` does on loopback); ``extra`` adds or replaces config sections."""
    config = parse({**seed.raw_config(store_url), **(extra or {})}, {})
    open_as: ApiKey | None = next(k for k in config.api_keys if k.name == open_ui_as) if open_ui_as else None
    app = create_app(config, evaluate_every=3600, clock=clock, open_ui_as=open_as)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=base_url) as client:
            if login_as is not None:
                assert (await login(client, login_as)).status_code == 303
                client.headers["x-csrf-token"] = client.cookies["ct_csrf"]
            yield client, app.state.hub


def form_token(page: str) -> str:
    """The CSRF token a page's forms carry."""
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, page
    return match.group(1)


async def login(client: httpx.AsyncClient, key: str, next_: str = "/") -> httpx.Response:
    """Log in through the login form, as a browser does."""
    page = await client.get("/login", params={"next": next_})
    return await client.post("/login", data={"key": key, "csrf_token": form_token(page.text), "next": next_})


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
