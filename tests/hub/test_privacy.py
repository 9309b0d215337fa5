"""Personal data: masked for viewers and operators in every field, erased for good by ``eraseCustomer``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from hub.access.privacy import MASK, mask_json, mask_leaves, mask_text
from hub.runtime import Hub
from tests.paths import FIXTURES
from tests.support import ADMIN_KEY, OPERATOR_KEY, VIEWER_KEY, cloudevent, dumps, gql, running_app, signed_headers

EMAIL = "Ana.Lima@Example.org"
MASKED_EMAIL = f"A{MASK}@{MASK}.org"
CUSTOMER = {"email": EMAIL, "first_name": "Ana", "last_name": "Lima", "phone": "+351 912 345 678",
            "default_address": {"name": "Ana Lima", "address1": "Rua das Flores 12", "city": "Porto",
                                "zip": "4050-262", "country_code": "PT"}}
DELIVERIES = """{ deliveries(first: 10) { nodes { id body headers error eventIds } } }"""
TRACE = """query($ref: String!) { transaction(ref: $ref) { id refs { namespace value } events { id type
  refs { namespace value } lines { sku qty } amount { value currency } occurredAt } } }"""


def order_event(n: int, email: str = EMAIL) -> dict[str, Any]:
    event = cloudevent("shop", "order.placed", [("shop:order", f"100{n}"), ("shop:customer_email", email, "related")],
                       id=f"order-{n}", lines=[{"sku": "SKU-1", "qty": 2, "location": "WH-1"}],
                       amount={"value": "49.90", "currency": "EUR", "kind": "total"})
    street = "Rua das Flores 12" if email == EMAIL else "Avenida Central 9"
    event["data"]["customer"] = CUSTOMER | {"email": email, "default_address": {
        **CUSTOMER["default_address"], "address1": street}}  # type: ignore[dict-item]
    event["data"]["shipping_address"] = {"first_name": "Ana", "address1": street, "phone": "912345678",
                                         "city": "Porto", "country": "Portugal"}
    event["data"]["note"] = f"gift wrap, confirm with {email}"
    return event


async def deliver(client: httpx.AsyncClient, hub: Hub, *events: dict[str, Any]) -> None:
    for event in events:
        body = dumps(event)
        response = await client.post("/hooks/shop", content=body, headers=signed_headers(body))
        assert response.status_code == 202, response.text
    await hub.normalizer.run_until_idle()


def test_masking_keeps_ids_amounts_and_places_and_hides_people() -> None:
    masked = mask_json(order_event(1))
    data = masked["data"]
    # masks stay useful: an email keeps its first character and top-level domain, a phone its last two digits
    assert data["customer"]["email"] == MASKED_EMAIL and data["customer"]["first_name"] == MASK
    assert data["customer"]["phone"] == f"{MASK}78" and data["customer"]["default_address"]["name"] == MASK
    assert data["customer"]["default_address"]["address1"] == MASK
    assert data["shipping_address"]["phone"] == f"{MASK}78" and data["shipping_address"]["address1"] == MASK
    assert data["customer"]["default_address"]["city"] == "Porto" and data["shipping_address"]["country"] == "Portugal"
    assert data["refs"][1]["value"] == MASKED_EMAIL and data["refs"][0]["value"] == "1001"
    assert data["amount"] == {"value": "49.90", "currency": "EUR", "kind": "total"}
    assert data["lines"] == [{"sku": "SKU-1", "qty": 2, "location": "WH-1"}]
    assert masked["time"] == "2026-11-01T12:00:00Z" and data["note"] == f"gift wrap, confirm with {MASKED_EMAIL}"
    assert mask_text("call +44 20 7946 0958 or (555) 555-0100") == f"call {MASK}58 or (555) 555-0100"
    assert mask_text("(555) 555-0100") == f"{MASK}00" and mask_text("12345678.90") == "12345678.90"
    assert mask_text("2026-11-01") == "2026-11-01" and mask_text("SO-1042") == "SO-1042"


def test_street_addresses_and_known_personal_values_in_free_text_are_masked() -> None:
    for free_text, masked in (("ERP refused 221B Baker Street, London", f"ERP refused {MASK}, London"),
                         ("ship to Rua das Flores 12, Porto", f"ship to {MASK}, Porto"),
                         ("Lieferung an Hauptstraße 5, 10115 Berlin", f"Lieferung an {MASK}, 10115 Berlin"),
                         ("SO-1042: 12 units of SKU-1 short at WH-1", "SO-1042: 12 units of SKU-1 short at WH-1"),
                         ("timeout after 30 s (attempt 3 of 5)", "timeout after 30 s (attempt 3 of 5)")):
        assert mask_text(free_text) == masked, free_text
    payload = {"customer": {"first_name": "Ana", "last_name": "Lima"}, "note": "call Ana Lima before 5pm",
               "sku": "Lima"}
    masked_payload = mask_json(payload)
    assert masked_payload["note"] == f"call Ana {MASK} before 5pm"  # "Ana" alone is too short to hunt
    assert masked_payload["sku"] == "Lima"  # a lone value is judged by its key, not by the payload's names


def test_a_real_shopify_order_keeps_its_name_and_loses_its_customer() -> None:
    order = json.loads((FIXTURES / "shopify" / "order.json").read_text())["order"]
    masked = json.dumps(mask_json(order))
    emails = {order.get("email"), (order.get("customer") or {}).get("email")} - {None, ""}
    assert emails and not any(e in masked for e in emails)
    assert mask_json(order)["name"] == order["name"] and mask_json(order)["id"] == order["id"]
    for address in ("shipping_address", "billing_address"):
        if order.get(address) and order[address].get("address1"):
            assert order[address]["address1"] not in masked


@pytest.mark.asyncio
async def test_viewers_and_operators_see_personal_data_masked_everywhere_admins_see_it(store_url: str) -> None:
    async with running_app(store_url) as (client, hub):
        await deliver(client, hub, order_event(1))
        seen = {}
        for role, key in (("viewer", VIEWER_KEY), ("operator", OPERATOR_KEY), ("admin", ADMIN_KEY)):
            result = await gql(client, DELIVERIES, key=key)
            trace = await gql(client, TRACE, key=key, ref="1001")
            assert "errors" not in result and "errors" not in trace, (result, trace)
            seen[role] = json.dumps([result, trace])
            if role != "admin":
                body = json.loads(result["data"]["deliveries"]["nodes"][0]["body"])
                assert body["data"]["amount"]["value"] == "49.90" and body["data"]["customer"]["email"] == MASKED_EMAIL
                refs = {r["namespace"]: r["value"] for r in trace["data"]["transaction"]["refs"]}
                assert refs["shop:order"] == "1001" and refs["shop:customer_email"] == MASKED_EMAIL
    for role in ("viewer", "operator"):
        for secret in (EMAIL, EMAIL.lower(), "Rua das Flores", "912 345 678", '"Lima"'):
            assert secret not in seen[role], (role, secret)
    assert EMAIL in seen["admin"] and "Rua das Flores" in seen["admin"]


async def _bytes_on_disk(store_url: str) -> bytes:
    """The store's files as bytes: the database, the inbox's own log file, and their write-ahead logs."""
    path = Path(store_url.split("///", 1)[1])
    files = (path, Path(f"{path}-wal"), Path(f"{path}.inbox"), Path(f"{path}.inbox-wal"))
    return b"".join(p.read_bytes() for p in files if p.exists())


async def _rows_mentioning(hub: Hub, needle: str) -> list[str]:
    """Every stored row, in every table, whose text mentions ``needle`` (case-insensitively)."""
    from hub.store.tables import POSTGRESQL_ONLY_TABLES, metadata

    found = []
    async with hub.started().store.read() as conn:
        for table in metadata.sorted_tables:
            if table.name in POSTGRESQL_ONLY_TABLES and conn.dialect.name != "postgresql":
                continue  # the dedup key tables: SQLite has none
            for row in (await conn.execute(table.select())).all():
                text_ = " ".join(v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in row)
                if needle.lower() in text_.lower():
                    found.append(f"{table.name}: {text_[:120]}")
    return found


@pytest.mark.asyncio
async def test_erasure_leaves_no_trace_of_the_email_on_disk_and_keeps_the_facts(store_url: str) -> None:
    other = "someone.else@example.com"
    async with running_app(store_url) as (client, hub):
        await deliver(client, hub, order_event(1), order_event(2), order_event(3, email=other))
        erp = cloudevent("erp", "erp.posted", [("erp:so", "SO-1"), ("shop:order", "1001")], id="erp-1",
                         amount={"value": "49.90", "currency": "EUR", "kind": "total"})
        erp["data"]["ship_to"] = {"name": "Ana Lima", "street": "Rua das Flores 12", "city": "Porto"}
        await deliver(client, hub, erp)  # no email in it: erased because it is the same transaction
        before = await gql(client, TRACE, ref="1001")
        assert await _rows_mentioning(hub, EMAIL)
        if store_url.startswith("sqlite"):
            assert EMAIL.lower().encode() in (await _bytes_on_disk(store_url)).lower()  # the grep can fail

        denied = await gql(client, f'mutation {{ eraseCustomer(email: "{EMAIL}") {{ deliveries }} }}', key=OPERATOR_KEY)
        assert denied["errors"][0]["extensions"]["code"] == "FORBIDDEN"
        erased = await gql(client, 'mutation($e: String) { eraseCustomer(email: $e) { deliveries events refs '
                                   'transactionIds } }', e=EMAIL)
        assert "errors" not in erased, erased
        report = erased["data"]["eraseCustomer"]
        assert report["deliveries"] == 3 and report["refs"] == 2 and len(report["transactionIds"]) == 2

        assert await _rows_mentioning(hub, EMAIL) == []
        assert await _rows_mentioning(hub, "Rua das Flores") == []
        assert await _rows_mentioning(hub, other)  # the other customer is untouched
        after = await gql(client, TRACE, ref="1001")
        facts = [(e["id"], e["type"], e["lines"], e["amount"], e["occurredAt"])
                 for e in before["data"]["transaction"]["events"]]
        assert facts == [(e["id"], e["type"], e["lines"], e["amount"], e["occurredAt"])
                         for e in after["data"]["transaction"]["events"]]
        assert after["data"]["transaction"]["id"] == before["data"]["transaction"]["id"]
        assert (await gql(client, TRACE, ref="SO-1"))["data"]["transaction"]["id"] == after["data"]["transaction"]["id"]
        bodies = [json.loads(n["body"]) for n in (await gql(client, DELIVERIES))["data"]["deliveries"]["nodes"]]
        first = next(b for b in bodies if b["id"] == "order-1")
        assert first["data"]["customer"]["default_address"]["city"] == "Porto"
        assert first["data"]["customer"]["email"] == "[erased]" and first["data"]["amount"]["value"] == "49.90"

        log = await gql(client, "{ auditLog(first: 5) { nodes { actor action object result detail } } }")
        entry = log["data"]["auditLog"]["nodes"][0]
        assert (entry["actor"], entry["action"], entry["result"]) == ("root", "eraseCustomer", "ok")
        assert entry["object"].startswith("sha256:") and entry["detail"]["deliveries"] == 3
        assert EMAIL.lower() not in json.dumps(log).lower()
        if store_url.startswith("postgresql"):
            async with hub.started().store.read() as conn:
                hits = (await conn.execute(text("SELECT count(*) FROM deliveries WHERE position(:n in "
                                                "lower(convert_from(body, 'UTF8'))) > 0"),
                                           {"n": EMAIL.lower()})).scalar_one()
            assert hits == 0
    if store_url.startswith("sqlite"):
        on_disk = (await _bytes_on_disk(store_url)).lower()
        assert EMAIL.lower().encode() not in on_disk and b"rua das flores" not in on_disk
        assert other.encode() in on_disk


@pytest.mark.asyncio
async def test_erasure_by_ref_and_bad_input(store_url: str) -> None:
    async with running_app(store_url) as (client, hub):
        await deliver(client, hub, order_event(1), order_event(2, email="b@example.com"))
        bad = await gql(client, "mutation { eraseCustomer { deliveries } }")
        assert bad["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
        bad = await gql(client, 'mutation { eraseCustomer(email: "not-an-email") { deliveries } }')
        assert bad["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
        erased = await gql(client, 'mutation { eraseCustomer(ref: "1001") { deliveries refs } }')
        assert erased["data"]["eraseCustomer"] == {"deliveries": 1, "refs": 1}
        assert await _rows_mentioning(hub, EMAIL) == []
        assert await _rows_mentioning(hub, "b@example.com")


def test_one_rule_set_finds_every_case_of_issue_13_and_spares_operational_values() -> None:
    """Shapes in free text (non-ASCII emails, national phones, secret links) and keys anywhere (mobile, tel, msisdn,
    ship_to/gift names, GPS, Shopify's status link and tokens, camelCase too), without touching order numbers,
    SKUs, EANs, amounts, times, dates or tracking numbers."""
    for free_text, masked in (
            ("write to ánä@exämple.org", f"write to á{MASK}@{MASK}.org"),
            ("ship-confirm-ana@example.org", f"s{MASK}@{MASK}.org"),
            ("call 0151 2345678, or (030) 1234567", f"call {MASK}78, or {MASK}67"),
            ("06 12 34 56 78 / 0049 151 2345678", f"{MASK}78 / {MASK}78"),
            ("status: https://checkout.shopify.com/1/checkouts/ab12/thank_you_token?key=99ff done",
             f"status: {MASK} done")):
        assert mask_text(free_text) == masked, free_text
    for kept in ("2026-11-01T12:00:00Z", "01/12/2026 10:30", "SO-1042", "#1001", "0080001234", "036000291452",
                 "028-1234567-1234567", "49.90", "12345678.90", "1Z999AA10123456784", "9400 1000 0000 0000 0000 00",
                 "SKU-0151-2345678", "attempt 3 of 5 after 30 s",
                 "http://wwwapps.ups.com/etracking/tracking.cgi?InquiryNumber1=1Z2345&TypeOfInquiryNumber=T"):
        assert mask_text(kept) == kept, kept
    payload = {"order": {"name": "#1001", "order_status_url": "https://shop.example/1/orders/ab/authenticate?key=k1",
                         "token": "b1946ac9", "cart_token": "68778783ad29", "checkoutToken": "4207896aad57",
                         "total": "49.90",
                         "ship_to": {"name": "Carla Mendes", "city": "Berlin", "latitude": 52.52, "lng": "13.40"},
                         "gift": {"recipient": "Beatriz Sousa", "wrapped": True},
                         "contact": {"mobile": "01709876543", "tel": "0301234567", "msisdn": "4915123456789"},
                         "shippingAddress": {"latitude": "45.41634", "longitude": "-75.6868", "zip": "40202"}},
               "refs": [{"namespace": "erp:customer_phone", "value": "01709876543"},
                        {"namespace": "erp:sales_order", "value": "0080001234"}]}
    order = mask_json(payload)["order"]
    assert (order["name"], order["total"], order["ship_to"]["city"]) == ("#1001", "49.90", "Berlin")
    assert order["order_status_url"] == MASK and order["token"] == order["cart_token"] == order["checkoutToken"] == MASK
    assert order["ship_to"]["name"] == MASK and order["gift"] == {"recipient": MASK, "wrapped": True}
    assert order["ship_to"]["latitude"] == order["ship_to"]["lng"] == MASK
    assert order["shippingAddress"] == {"latitude": MASK, "longitude": MASK, "zip": "40202"}
    assert order["contact"] == {"mobile": f"{MASK}43", "tel": f"{MASK}67", "msisdn": f"{MASK}89"}
    assert mask_json(payload)["refs"] == [{"namespace": "erp:customer_phone", "value": f"{MASK}43"},
                                          {"namespace": "erp:sales_order", "value": "0080001234"}]


def test_masking_the_leaves_of_a_known_structure_gives_what_mask_json_gives() -> None:
    """mask_leaves (the compiled hot documents' masking): the values under personal keys are hunted in the other
    texts, JSON texts are masked by key and their personal values hunted too, lists of texts are masked item by
    item; a leaf that is not a JSON scalar sends the whole value through mask_json."""
    def value() -> dict[str, Any]:
        systems = ["shop", "call +49 151 2345678", '{"full_name": "Hortense Wilde"}']
        return {"tx": {"id": 7, "systems": systems, "events": [
            {"last_name": "Ramirez", "error": "paid by Ramirez Lopez", "ok": True, "lag": 1.5},
            {"last_name": None, "error": '{"customer": {"name": "Quentin Blake"}}', "ok": False, "lag": None},
            {"last_name": "Zed", "error": "Quentin Blake called Hortense Wilde", "ok": None, "lag": 2}]}}

    def leaves(data: dict[str, Any]) -> list[tuple[dict[str, Any], tuple[str, ...], tuple[str, ...]]]:
        shown = ("error", "ok", "lag")
        events = data["tx"]["events"]
        return [(data["tx"], (), ("id", "systems")), *[(event, ("last_name",), shown) for event in events]]

    expected = mask_json(value())
    assert not {"Ramirez", "Quentin", "Hortense"} & set(json.dumps(expected).replace('"', " ").split())
    data = value()
    assert mask_leaves(data, leaves(data)) == expected
    data = value()
    data["tx"]["events"][2]["ok"] = {"phone": "0151 2345678"}
    assert mask_leaves(data, leaves(data)) == mask_json(data)
