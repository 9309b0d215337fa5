"""An admin finds a customer's orders by email or phone through the keyed hash index; others cannot; erasure
removes the entries (real HTTP over ASGITransport, on SQLite and PostgreSQL)."""

from __future__ import annotations

import re

import httpx
import pytest
from sqlalchemy import select

from hub.access.erasure import erase_customer
from hub.store.tables import contact_index
from tests.support import ADMIN_KEY, OPERATOR_KEY, cloudevent, gql
from tests.web import seed
from tests.web.app import deliver_story, login, web_app

EMAIL, PHONE = "Ana.Lima@Example.org", "+351 912 345 678"


def _customer_order() -> tuple[str, bytes, dict[str, str]]:
    event = cloudevent("shop", "order.placed", [("shop:order", "W3003")], id="s-3003",
                       customer={"email": EMAIL, "phone": PHONE, "first_name": "Ana"})
    return seed.signed("shop", event)


@pytest.mark.asyncio
async def test_an_admin_finds_orders_by_email_or_phone_and_erasure_forgets_them(store_url: str) -> None:
    async with web_app(store_url, login_as=ADMIN_KEY) as (admin, hub):
        path, body, headers = _customer_order()
        assert (await admin.post(path, content=body, headers=headers)).status_code == 202
        await deliver_story(admin, hub)
        order = await admin.get("/search", params={"ref": "W3003"})
        assert order.status_code == 303
        for typed in (EMAIL, " ana.lima@example.ORG ", "ana.lima%40example.org", PHONE, "00351-912-345-678"):
            found = await admin.get("/search", params={"ref": typed})
            assert found.status_code == 303 and found.headers["location"] == order.headers["location"], typed

        audited = await gql(admin, '{ auditLog(first: 20, filter: {action: "web contact search"}) '
                                   '{ nodes { actor result object } } }')
        entries = audited["data"]["auditLog"]["nodes"]
        assert [(e["actor"], e["result"]) for e in entries] == [("root", "ok")] * 5, entries
        assert len({e["object"] for e in entries}) == 2  # the email and the phone, however typed
        assert all(e["object"].startswith("contact=sha256:") and "lima" not in e["object"] for e in entries)

        async with hub.started().store.read() as conn:
            stored = (await conn.execute(select(contact_index.c.digest))).scalars().all()
        # keyed hashes (64 hex digits), no value: a hex digest may contain "912" by chance, so no substring check
        assert len(stored) == 2 and all(re.fullmatch("[0-9a-f]{64}", d) for d in stored), stored

        async with httpx.AsyncClient(transport=admin._transport, base_url=str(admin.base_url)) as operator:
            assert (await login(operator, OPERATOR_KEY)).status_code == 303
            hidden = await operator.get("/search", params={"ref": EMAIL})
            assert hidden.status_code == 404 and "for admins" in hidden.text
            assert (await operator.get("/search", params={"ref": PHONE})).status_code == 404

        await erase_customer(hub.started().store, email=EMAIL, actor="root", role="admin")
        async with hub.started().store.read() as conn:
            assert (await conn.execute(select(contact_index.c.digest))).scalars().all() == []
        for typed in (EMAIL, PHONE):
            assert (await admin.get("/search", params={"ref": typed})).status_code == 404
