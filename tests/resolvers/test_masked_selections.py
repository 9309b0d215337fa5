"""Below admin, GraphQL selections cannot slip personal data past masking (resolvers.masked_selections): masking
reads the result's keys, so a field masking reads cannot be aliased, and a ref's ``value`` comes with its
``namespace``. Real store, real app over HTTP; the admin reads the same value, so the data is provably there."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.hub.test_privacy import deliver
from tests.support import ADMIN_KEY, OPERATOR_KEY, VIEWER_KEY, cloudevent, running_app

NAME = "Norman Quist"  # a personal ref value no text pattern recognises: only its namespace says it is personal
ALIASED = 'query { transaction(ref: "1001") { refs { kind: namespace value } } }'
BARE_VALUE = 'query { transaction(ref: "1001") { refs { value role } } }'
FRAGMENT = 'query { transaction(ref: "1001") { refs { ...R } } } fragment R on Ref { namespace v: value }'
PLAIN = 'query { transaction(ref: "1001") { refs { namespace value } } }'


async def post(client: httpx.AsyncClient, query: str, key: str) -> tuple[str, dict[str, Any]]:
    response = await client.post("/graphql", json={"query": query}, headers={"authorization": f"Bearer {key}"})
    assert response.status_code in (200, 400), response.text
    return response.text, response.json()


@pytest.mark.asyncio
async def test_aliases_and_bare_ref_values_cannot_unmask_personal_data(store_url: str) -> None:
    async with running_app(store_url) as (client, hub):
        await deliver(client, hub, cloudevent("shop", "order.placed", [
            ("shop:order", "1001"), ("shop:customer_name", NAME, "related")], id="order-1"))
        for query in (ALIASED, BARE_VALUE, FRAGMENT):
            text, admin = await post(client, query, ADMIN_KEY)
            assert "errors" not in admin and NAME in text, text  # the admin sees it: the selection reaches it
            for key in (OPERATOR_KEY, VIEWER_KEY):
                text, body = await post(client, query, key)
                assert NAME not in text, (query, text)
                assert body.get("data") is None and body["errors"], body
                assert "masked" in body["errors"][0]["message"], body
        text, body = await post(client, PLAIN, OPERATOR_KEY)  # selected as it is: answered, the value masked
        assert "errors" not in body and body["data"]["transaction"]["refs"] and NAME not in text, text
