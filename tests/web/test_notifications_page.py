"""The notification log page ``/notifications`` over real HTTP on SQLite and PostgreSQL, against a real receiver that
always fails: the endpoint disabled after two failures in a row, each attempt's status, the URL for admins only."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from tests.hub.test_notify import NOTIFY_SECRET, Receiver, receiving
from tests.support import ADMIN_KEY
from tests.web.app import deliver_story, login, web_app


@pytest.mark.asyncio
async def test_the_page_shows_each_endpoints_health_and_every_attempt(store_url: str) -> None:
    async with receiving(Receiver(failures=10_000)) as base:
        target = {"name": "ops", "url": f"{base}/ops?token=s3cret", "secret": NOTIFY_SECRET,
                  "disable_after_failures": 2}
        async with web_app(store_url, extra={"notifications": [target]}) as (client, hub):
            empty = await client.get("/notifications")
            assert empty.status_code == 200 and "Nothing sent yet." in empty.text
            await deliver_story(client, hub)
            await hub.started().evaluator.tick(hub.now() + timedelta(days=30))  # the story's late steps open
            await hub.notifier.run_once()
            for hours in (1, 2, 3):
                await hub.notifier.send_due(hub.now() + timedelta(hours=hours))
            page = await client.get("/notifications")
            assert page.status_code == 200
            text = page.text
            assert 'data-endpoint="ops"' in text and "disabled" in text
            assert "2 failed attempts in a row, the last: HTTP 500" in text
            assert re.search(r"<td>\d+ of 2</td>", text)
            assert "token=s3cret" not in text  # the URL may carry a token: masked for all but admins
            assert 'data-message="msg_' in text and "(500" in text and "HTTP 500" in text
            assert 'href="/notifications" class="here"' in text
            await login(client, ADMIN_KEY, "/notifications")
            as_admin = await client.get("/notifications")
            assert as_admin.status_code == 200 and "token=s3cret" in as_admin.text
