"""Personal data is masked in every field of every payload below admin: the selection is built from the schema.

For each root query field and mutation (found by introspection, not listed by hand) the test selects every
field reachable from it (interfaces expanded to each implementation, a type not re-entered on its own path),
over a store holding a customer's email, phone and street in deliveries, events, refs, errors, exceptions,
their history and assignee. Viewers and operators must never see them; the admin must (so the walk provably
reaches the data, and the test can fail).

Issue 13 item 4 widens the seed to every case found unmasked before (an email inside an event id, a non-ASCII
email, a national-format phone, ``mobile``/``tel``/``msisdn``, names under ``ship_to`` and ``gift.recipient``, GPS
coordinates, Shopify's ``order_status_url`` and checkout/cart tokens, in a real Shopify order webhook and a
CloudEvent) and walks the other ways out too: every CSV/NDJSON export, OCEL JSON and SQLite, every UI page and
the notifications sent to a real receiver.
"""

from __future__ import annotations

import html
import json
import sqlite3
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLInterfaceType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    GraphQLUnionType,
    Undefined,
    build_client_schema,
    get_introspection_query,
    get_named_type,
)

from collectors import shopify
from hub.exceptions.notify_targets import ACTIONS
from hub.export.rows import LISTS
from hub.runtime import Hub
from tests.hub.test_keys_web_login import login
from tests.hub.test_notify import NOTIFY_SECRET, Receiver, receiving
from tests.hub.test_privacy import EMAIL, deliver, order_event
from tests.paths import FIXTURES
from tests.resolvers.introspected import literal
from tests.support import ADMIN_KEY, ERP_SECRET, OPERATOR_KEY, VIEWER_KEY, WMS_SECRET, cloudevent, gql, running_app

SHOPIFY_SECRET = "shpss_storefront-secret-for-tests"
SOURCES = {"sources": [{"name": "erp", "kind": "erp", "adapter": "cloudevents", "secret": ERP_SECRET},
                       {"name": "wms", "kind": "wms", "adapter": "cloudevents", "secret": WMS_SECRET},
                       {"name": "shop", "kind": "commerce", "adapter": "cloudevents", "secret": ERP_SECRET},
                       {"name": "storefront", "kind": "commerce", "adapter": "shopify", "secret": SHOPIFY_SECRET,
                        # business attributes holding personal data, listed per transaction
                        "attributes": {"billing_address.name": "customer_name", "email": "contact"}}]}
IDN_EMAIL = "ánä@exämple.org"
NATIONAL_PHONE = "0151 2345678"
MOBILE, TEL, MSISDN = "01709876543", "0301234567", "4915123456789"  # bare digits: only their key says "phone"
SHIP_TO_NAME, GIFT_RECIPIENT = "Carla Mendes", "Beatriz Sousa"
# Shopify's order status page link (REST Order resource, `order_status_url`): whoever holds it sees the order.
STATUS_KEY = "753621327b9e8a64789651bf221dfe35"
ORDER_STATUS_URL = f"https://checkout.shopify.com/112233/checkouts/4207896aad57dfb159/thank_you_token?key={STATUS_KEY}"
CHECKOUT_TOKEN = "4207896aad57dfb159"
SHOPIFY_ORDER = json.loads((FIXTURES / "shopify" / "order.json").read_text())["order"]
SEEDED = (IDN_EMAIL, NATIONAL_PHONE, MOBILE, TEL, MSISDN, SHIP_TO_NAME, GIFT_RECIPIENT,
          SHOPIFY_ORDER["shipping_address"]["latitude"], SHOPIFY_ORDER["shipping_address"]["longitude"],
          STATUS_KEY, CHECKOUT_TOKEN, SHOPIFY_ORDER["cart_token"], SHOPIFY_ORDER["token"],
          SHOPIFY_ORDER["email"], "chestnut street 92", "bob norman")
PERSONAL = (EMAIL.lower(), "rua das flores", "912 345 678", "912345678", *(v.lower() for v in SEEDED))
UNLIMITED = {"graphql": {"max_depth": 40, "max_tokens": 200_000, "max_aliases": 1000, "max_cost": 10**9,
                         "cost_bucket": 10**9}}
MAX_NESTING = 6


def _arguments(field: Any, chosen: dict[str, Any]) -> str:
    """Required arguments, connection sizes, and any argument the seed has a value for."""
    args = [f"{n}: {literal(a.type, n, chosen)}" for n, a in field.args.items()
            if n in chosen or n == "first" or (isinstance(a.type, GraphQLNonNull) and a.default_value is Undefined)]
    return f"({', '.join(args)})" if args else ""


def _selection(schema: GraphQLSchema, type_: Any, path: tuple[str, ...], chosen: dict[str, Any]) -> str:
    """Every field of ``type_`` (and of each implementation of an interface or union), recursively."""
    named = get_named_type(type_)
    if isinstance(named, GraphQLInterfaceType | GraphQLUnionType):
        parts = ["__typename"] + [f"... on {t.name} {_selection(schema, t, path, chosen)}"
                                  for t in schema.get_possible_types(named)]
        return "{ " + " ".join(parts) + " }"
    assert isinstance(named, GraphQLObjectType)
    parts = ["__typename"]
    for name, field in named.fields.items():
        inner = get_named_type(field.type)
        if isinstance(inner, GraphQLScalarType | GraphQLEnumType):
            parts.append(f"{name}{_arguments(field, chosen)}")
        elif inner.name not in path and len(path) < MAX_NESTING:
            parts.append(f"{name}{_arguments(field, chosen)} {_selection(schema, inner, (*path, inner.name), chosen)}")
    return "{ " + " ".join(parts) + " }"


def _operations(schema: GraphQLSchema, kind: str, chosen: dict[str, dict[str, Any]]) -> dict[str, str]:
    root = schema.query_type if kind == "query" else schema.mutation_type
    assert root is not None
    operations = {}
    for name, field in root.fields.items():
        values = {**chosen["*"], **chosen.get(name, {})}
        inner = get_named_type(field.type)
        selection = "" if isinstance(inner, GraphQLScalarType | GraphQLEnumType) else \
            _selection(schema, inner, (root.name, inner.name), values)
        operations[name] = f"{kind} {{ {name}{_arguments(field, values)} {selection} }}"
    return operations


def _leaks(result: Any) -> list[str]:
    text = result if isinstance(result, str) else json.dumps(result, ensure_ascii=False)
    text = unquote(html.unescape(text)).lower()  # a value in a link (`?ref=…%40…`) or an attribute counts too
    return [value for value in PERSONAL if value in text]


def shopify_order() -> dict[str, Any]:
    """Shopify's order fixture with what a live order also carries: the status page link, a checkout token, a
    national-format phone and a non-ASCII email in its note."""
    order = json.loads(json.dumps(SHOPIFY_ORDER))
    order.update(order_status_url=ORDER_STATUS_URL, checkout_token=CHECKOUT_TOKEN,
                 note=f"call {NATIONAL_PHONE} or write to {IDN_EMAIL}")
    order["shipping_address"]["phone"] = NATIONAL_PHONE
    return order


async def seed(client: httpx.AsyncClient, hub: Hub) -> None:
    """One transaction (order 1001) holding every case: the cloudevent order, a Shopify order webhook for the same
    customer and a failed ERP sync whose id, refs, error and payload carry personal data; evaluated, so its
    exception (evidence, message) exists too."""
    await deliver(client, hub, order_event(1))
    body = json.dumps(shopify_order()).encode()
    response = await client.post("/hooks/storefront", content=body, headers={
        "content-type": "application/json", "x-shopify-topic": "orders/create", "x-shopify-event-id": "shop-evt-1",
        "x-shopify-hmac-sha256": shopify.sign(SHOPIFY_SECRET, body)})
    assert response.status_code == 202, response.text
    erp = cloudevent("erp", "sync.failed", [("erp:so", "SO-1"), ("shop:order", "1001"),
                                            ("storefront:order", str(SHOPIFY_ORDER["id"])),
                                            ("erp:customer_email", IDN_EMAIL, "related"),
                                            ("erp:customer_phone", NATIONAL_PHONE, "related")],
                     id=f"ship-confirm-{IDN_EMAIL}", status="failed",
                     error=f"ERP refused the ship-to of {EMAIL} (+351 912 345 678, Rua das Flores 12); "
                           f"call {NATIONAL_PHONE} or {IDN_EMAIL}")
    erp["data"].update(ship_to={"name": SHIP_TO_NAME, "city": "Berlin"},
                       gift={"recipient": GIFT_RECIPIENT, "message": "Happy birthday"},
                       contact={"mobile": MOBILE, "tel": TEL, "msisdn": MSISDN})
    await deliver(client, hub, erp)
    await hub.evaluator.tick()


@pytest.mark.asyncio
async def test_no_field_of_any_payload_shows_personal_data_below_admin(store_url: str) -> None:
    async with running_app(store_url, extra={**UNLIMITED, **SOURCES}) as (client, hub):
        await seed(client, hub)
        tx = (await gql(client, '{ transaction(ref: "1001") { id events { id deliveryId } exceptions { id } } }'))[
            "data"]["transaction"]
        assert tx["exceptions"], "the failed sync raised no exception: nothing to walk"
        exception_id = tx["exceptions"][0]["id"]
        assigned = await gql(client, 'mutation($id: ID!, $who: String!) { assignException(id: $id, assignee: $who, '
                                     'note: $who) { count } }', key=OPERATOR_KEY, id=exception_id, who=EMAIL)
        assert "errors" not in assigned, assigned
        ids = [tx["id"], exception_id, *(e["id"] for e in tx["events"]), tx["events"][0]["deliveryId"]]
        chosen: dict[str, dict[str, Any]] = {
            "*": {"ref": "1001", "sku": "SKU-1"}, "metrics": {"timezone": "UTC", "kind": "order"},
            "delivery": {"id": tx["events"][0]["deliveryId"]}, "node": {"id": tx["events"][-1]["id"]},
            "nodes": {"ids": ids}, "replayDelivery": {"id": tx["events"][0]["deliveryId"]},
            "acknowledgeException": {"id": exception_id}, "assignException": {"id": exception_id, "assignee": EMAIL},
            "resolveException": {"id": exception_id},
        }
        schema = build_client_schema((await gql(client, get_introspection_query()))["data"])
        queries, mutations = _operations(schema, "query", chosen), _operations(schema, "mutation", chosen)
        assert len(queries) >= 15 and len(mutations) >= 9

        shown: dict[str, set[str]] = {"viewer": set(), "operator": set(), "admin": set()}
        values: dict[str, set[str]] = {"viewer": set(), "operator": set(), "admin": set()}
        for name, operation in queries.items():
            for role, key in (("viewer", VIEWER_KEY), ("operator", OPERATOR_KEY), ("admin", ADMIN_KEY)):
                result = await gql(client, operation, key=key)
                internal = [e for e in result.get("errors", []) if e.get("extensions", {}).get("code") == "INTERNAL"]
                assert not internal, (name, role, internal)
                assert name != "metrics" or (result.get("data") or {}).get("metrics"), result  # walked, not refused
                if leaked := _leaks(result):
                    shown[role].add(name)
                    values[role].update(leaked)
        for name in ("acknowledgeException", "assignException", "resolveException", "replayDelivery",
                     *sorted(set(mutations) - {"eraseCustomer", "purgeExpired"})):
            for role, key in (("viewer", VIEWER_KEY), ("operator", OPERATOR_KEY), ("admin", ADMIN_KEY)):
                if leaked := _leaks(await gql(client, mutations[name], key=key)):
                    shown[role].add(f"mutation {name}")
                    values[role].update(leaked)
    assert shown["viewer"] == set() and shown["operator"] == set(), (shown, values)
    assert values["admin"] == set(PERSONAL), set(PERSONAL) - values["admin"]  # the walk reaches every seeded value
    assert {"transaction", "transactions", "transactionsByRef", "deliveries", "delivery", "exceptions", "node",
            "nodes", "mutation assignException"} <= shown["admin"], shown["admin"]


async def _ocel_sqlite_text(content: bytes, folder: Path) -> str:
    """Every row of every table of an OCEL SQLite export, as text."""
    path = folder / f"ocel-{len(list(folder.iterdir()))}.sqlite"
    path.write_bytes(content)
    db = sqlite3.connect(path)
    try:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return "\n".join(str(row) for table in tables for row in db.execute(f'SELECT * FROM "{table}"'))
    finally:
        db.close()


async def _ways_out(client: httpx.AsyncClient, hub: Hub, key: str | None, folder: Path) -> dict[str, str]:
    """What one caller receives from every export and every UI page (``key``: the UI login, or none)."""
    got: dict[str, str] = {}
    auth = {"authorization": f"Bearer {key}"} if key else {}
    if key is not None:
        for name in LISTS:
            for fmt in ("csv", "ndjson"):
                response = await client.get(f"/export/{name}.{fmt}", headers=auth)
                assert response.status_code == 200, response.text
                got[f"{name}.{fmt}"] = response.text
        response = await client.get("/export/ocel.json", headers=auth)
        assert response.status_code == 200, response.text
        got["ocel.json"] = response.text
        response = await client.get("/export/ocel.sqlite", headers=auth)
        assert response.status_code == 200, response.text
        got["ocel.sqlite"] = await _ocel_sqlite_text(response.content, folder)
    client.cookies.clear()
    if key is not None:
        assert (await login(client, key)).status_code == 303
    tx = (await gql(client, '{ transaction(ref: "1001") { id events { id deliveryId } } }'))["data"]["transaction"]
    exceptions = (await gql(client, "{ exceptions(first: 20) { nodes { id } } }"))["data"]["exceptions"]["nodes"]
    assert exceptions, "nothing raised: no exception page to walk"
    pages = ["/", "/dashboard", "/exceptions", "/exceptions?status=open&status=acknowledged&status=resolved",
             "/exceptions/live", "/search?ref=1001", "/stock", f"/t/{tx['id']}",
             *(f"/t/{tx['id']}?event={e['id']}" for e in tx["events"]),
             *(f"/deliveries/{e['deliveryId']}" for e in tx["events"])]
    for page in pages:
        response = await client.get(page, follow_redirects=True)
        assert response.status_code == 200, (page, response.status_code)
        got[page] = response.text
    return got


@pytest.mark.asyncio
async def test_no_export_page_or_notification_shows_personal_data_below_admin(store_url: str, tmp_path: Path) -> None:
    receiver = Receiver(failures=0)
    async with receiving(receiver) as base:
        target = {"name": "ops", "url": f"{base}/ops", "secret": NOTIFY_SECRET, "actions": list(ACTIONS)}
        async with running_app(store_url, extra={**SOURCES, "notifications": [target]}) as (client, hub):
            await seed(client, hub)
            exception_id = (await gql(client, "{ exceptions(first: 1) { nodes { id } } }"))[
                "data"]["exceptions"]["nodes"][0]["id"]
            assigned = await gql(client, 'mutation($id: ID!, $who: String!) { assignException(id: $id, '
                                         'assignee: $who, note: $who) { count } }', id=exception_id, who=IDN_EMAIL)
            assert "errors" not in assigned, assigned
            await hub.notifier.run_once()
            assert {m["type"] for m in receiver.accepted} >= {"exception.opened", "exception.assigned"}
            seen = {role: await _ways_out(client, hub, key, tmp_path)
                    for role, key in (("anonymous", None), ("viewer", VIEWER_KEY), ("operator", OPERATOR_KEY),
                                      ("admin", ADMIN_KEY))}
    seen["notified"] = {m["id"]: json.dumps(m, ensure_ascii=False) for m in receiver.accepted}
    leaks = {role: {way: leaked for way, text in outputs.items() if (leaked := _leaks(text))}
             for role, outputs in seen.items()}
    for role in ("anonymous", "viewer", "operator", "notified"):
        assert leaks[role] == {}, (role, leaks[role])
    admin_saw = {value for leaked in leaks["admin"].values() for value in leaked}
    assert admin_saw == set(PERSONAL), set(PERSONAL) - admin_saw  # the walk reaches every seeded value
    for way in ("events.csv", "events.ndjson", "ocel.json", "ocel.sqlite"):
        assert IDN_EMAIL in leaks["admin"][way] and NATIONAL_PHONE in leaks["admin"][way], way
