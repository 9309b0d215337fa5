"""A local upstream for poller tests: Stripe ``/v1/events`` and ``/v1/balance_transactions``, Shopify
``orders.json``, ``shopify_payments/payouts.json``, ``…/balance/transactions.json``, ``inventory_items.json``
and ``locations.json``, and an ERP REST API,
served by a real uvicorn on a loopback port inside the test's event loop.

Shapes follow the vendors' documentation: Stripe's list object (https://docs.stripe.com/api/pagination,
events as in tests/fixtures/stripe/fixtures3.json), Shopify's ``{"orders": [...]}`` with a
``Link`` header of ``page_info`` URLs (https://shopify.dev/docs/api/usage/pagination-rest; orders as in
tests/fixtures/shopify/order.json). Faults are scripted per API: ``"429:<Retry-After>"``,
``"500"``, ``"timeout"`` (the request hangs until the server stops), ``""`` (served normally), each
used by one request in turn;
``hooks`` mutate the data before the n-th request (an item updated mid-walk, a late commit); ``block``
holds the n-th request until released (to SIGKILL a poller mid-run at a known point).
"""

from __future__ import annotations

import asyncio
import base64
import copy
import json
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.paths import FIXTURES

EPOCH = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)  # the tests' clock starts here
_EST = timedelta(hours=-5)  # Shopify renders times in the shop's zone, e.g. "2008-01-10T11:00:00-05:00"


def stripe_event(n: int, created: int) -> dict[str, Any]:
    """A ``payment_intent.succeeded`` event shaped like Stripe's (fixtures3.json ``event`` wrapping its
    ``payment_intent``), with its own ids."""
    resources = json.loads((FIXTURES / "stripe" / "fixtures3.json").read_text())["resources"]
    event = copy.deepcopy(resources["event"])
    intent = copy.deepcopy(resources["payment_intent"])
    intent.update(id=f"pi_{n:06d}", status="succeeded", amount_received=intent["amount"],
                  metadata={"order_id": str(5000 + n)})
    event.update(id=f"evt_{n:06d}", created=created, type="payment_intent.succeeded", data={"object": intent})
    return event


def shopify_order(n: int, updated: datetime) -> dict[str, Any]:
    """The fixture order (450789469, "#1001") as order ``n``, last updated at ``updated``."""
    order = copy.deepcopy(json.loads((FIXTURES / "shopify" / "order.json").read_text())["order"])
    order.update(id=450789469 + n, name=f"#{1001 + n}", order_number=1001 + n, updated_at=shopify_time(updated))
    for fulfillment in order.get("fulfillments", []):  # the fixture's failed fulfillment 255858046, per order
        tracking = f"1Z2345-{n}"  # its own parcel: a shared tracking number would join the orders
        fulfillment.update(id=fulfillment["id"] + n, order_id=order["id"], tracking_number=tracking,
                           tracking_numbers=[tracking])
    return order


def shopify_time(moment: datetime) -> str:
    return moment.astimezone(timezone(_EST)).isoformat()


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


class Upstream:
    """The upstream systems' data and the faults to inject; ``requests`` logs (api, query) per request."""

    def __init__(self) -> None:
        self.events: list[tuple[int, int, dict[str, Any]]] = []  # (created, position, event)
        self.orders: dict[int, dict[str, Any]] = {}
        self.items: dict[str, dict[str, Any]] = {}
        self.balance: dict[str, list[dict[str, Any]]] = {}  # payout id → its balance transactions
        self.payouts: list[dict[str, Any]] = []  # Shopify Payments payouts, as payouts.json lists them
        self.payout_transactions: dict[int, list[dict[str, Any]]] = {}  # Shopify payout id → balance transactions
        self.groups: list[dict[str, Any]] = []  # Amazon financial event groups
        self.group_events: dict[str, list[dict[str, Any]]] = {}  # group id → its FinancialEvents, one per page
        self.inventory_items: list[dict[str, Any]] = []  # Shopify InventoryItems (inventory_items.json?ids=…)
        self.locations: list[dict[str, Any]] = []  # Shopify Locations (locations.json)
        self.tokens: list[str | None] = []  # the X-Shopify-Access-Token of each inventory item / location lookup
        self.faults: dict[str, list[str]] = {"stripe": [], "shopify": [], "rest": [], "amazon": []}
        self.hooks: dict[str, dict[int, Callable[[], None]]] = {"stripe": {}, "shopify": {}, "rest": {},
                                                                 "amazon": {}}
        self.block: dict[str, int] = {}
        self.blocked = asyncio.Event()
        self.release = asyncio.Event()
        self.stopping = asyncio.Event()
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.url = ""

    # --- data helpers -------------------------------------------------------------------------
    def add_event(self, event: dict[str, Any], position: int | None = None) -> None:
        self.events.append((event["created"], len(self.events) if position is None else position, event))

    def put_order(self, order: dict[str, Any]) -> None:
        self.orders[order["id"]] = order

    def put_item(self, item: dict[str, Any]) -> None:
        self.items[item["id"]] = item

    def expected_stripe(self) -> set[str]:
        return {event["id"] for _, _, event in self.events}

    def expected_shopify(self) -> set[str]:
        """Per order: its current version, the once-per-order steps it shows (created; paid; cancelled), each
        refund's creation, each fulfillment's creation and (with a shipment status, or failed) its version."""
        keys = {f"{o['id']}@{o['updated_at']}" for o in self.orders.values()}
        for order in self.orders.values():
            keys |= {f"{r['id']}:refunds/create" for r in order.get("refunds", [])}
            for fulfillment in order.get("fulfillments", []):
                keys.add(f"{fulfillment['id']}:fulfillments/create")
                if fulfillment.get("shipment_status") or fulfillment.get("status") in ("cancelled", "error", "failure"):
                    keys.add(f"{fulfillment['id']}@{fulfillment['updated_at']}")
        keys |= {f"{o['id']}:orders/create" for o in self.orders.values()}
        keys |= {f"{o['id']}:orders/paid" for o in self.orders.values()
                 if o.get("financial_status") in ("paid", "partially_refunded", "refunded")}
        return keys | {f"{o['id']}:orders/cancelled" for o in self.orders.values() if o.get("cancelled_at")}

    def expected_rest(self) -> set[str]:
        return {f"{i['id']}@{i['version']}" for i in self.items.values()}

    def count(self, api: str) -> int:
        return sum(1 for name, _ in self.requests if name == api)

    # --- request plumbing ---------------------------------------------------------------------
    async def _gate(self, api: str, request: Request) -> Response | None:
        self.requests.append((api, dict(request.query_params)))
        number = self.count(api)
        if number in self.hooks[api]:
            self.hooks[api][number]()
        if self.block.get(api) == number:
            self.blocked.set()
            await self.release.wait()
        if self.faults[api]:
            fault = self.faults[api].pop(0)
            if not fault:
                return None
            if fault == "timeout":
                await self.stopping.wait()
                return Response(status_code=504)
            if fault.startswith("429"):
                headers = {"retry-after": fault.split(":", 1)[1]} if ":" in fault else {}
                return JSONResponse({"error": {"message": "Too many requests"}}, status_code=429, headers=headers)
            return JSONResponse({"error": {"message": "internal"}}, status_code=int(fault))
        return None

    async def stripe(self, request: Request) -> Response:
        if (fault := await self._gate("stripe", request)) is not None:
            return fault
        query = request.query_params
        limit = min(int(query.get("limit", "10")), 100)
        since = int(query.get("created[gte]", "0"))
        listed = [e for created, _, e in sorted(self.events, key=lambda t: (t[0], t[1]), reverse=True)
                  if created >= since]
        if "starting_after" in query:
            ids = [e["id"] for e in listed]
            listed = listed[ids.index(query["starting_after"]) + 1:]
        page = listed[:limit]
        return JSONResponse({"object": "list", "data": page, "has_more": len(listed) > limit, "url": "/v1/events"})

    async def balance_transactions(self, request: Request) -> Response:
        """``GET /v1/balance_transactions?payout=…``: a Stripe list object, paged by ``starting_after``."""
        if (fault := await self._gate("stripe", request)) is not None:
            return fault
        query = request.query_params
        limit = min(int(query.get("limit", "10")), 100)
        listed = list(self.balance.get(query["payout"], []))
        if "starting_after" in query:
            ids = [t["id"] for t in listed]
            listed = listed[ids.index(query["starting_after"]) + 1:]
        return JSONResponse({"object": "list", "data": listed[:limit], "has_more": len(listed) > limit,
                             "url": "/v1/balance_transactions"})

    async def shopify(self, request: Request) -> Response:
        if (fault := await self._gate("shopify", request)) is not None:
            return fault
        query = request.query_params
        limit = min(int(query.get("limit", "50")), 250)
        if "page_info" in query:
            if set(query) - {"page_info", "limit", "fields"}:
                return JSONResponse({"errors": {"page_info": "Invalid value."}}, status_code=400)
            state = json.loads(base64.urlsafe_b64decode(query["page_info"]))
        else:
            assert query.get("order") == "updated_at asc" and query.get("status") == "any", query
            state = {"min": query["updated_at_min"], "after": None}
        floor = _time(state["min"])
        ordered = sorted((o for o in self.orders.values() if _time(o["updated_at"]) >= floor),
                         key=lambda o: (_time(o["updated_at"]), o["id"]))
        if state["after"] is not None:  # keyset: strictly after (updated_at, id) of the last row served
            last = (_time(state["after"][0]), state["after"][1])
            ordered = [o for o in ordered if (_time(o["updated_at"]), o["id"]) > last]
        page = ordered[:limit]
        headers = {}
        if len(ordered) > limit:
            token = base64.urlsafe_b64encode(json.dumps(
                {"min": state["min"], "after": [page[-1]["updated_at"], page[-1]["id"]]}).encode()).decode()
            base = f"{self.url}{request.url.path}"
            headers["link"] = (f'<{base}?limit={limit}&page_info=previous>; rel="previous", '
                               f'<{base}?limit={limit}&page_info={token}>; rel="next"')
        return JSONResponse({"orders": page}, headers=headers)

    async def rest(self, request: Request) -> Response:
        if (fault := await self._gate("rest", request)) is not None:
            return fault
        query = request.query_params
        limit, page = int(query["limit"]), int(query.get("page", "1"))
        since = _time(query["updated_since"])
        ordered = sorted((i for i in self.items.values() if _time(i["updated_at"]) >= since),
                         key=lambda i: (_time(i["updated_at"]), i["id"]))
        chunk = ordered[(page - 1) * limit: page * limit]
        return JSONResponse({"data": {"items": chunk}, "page": page, "total": len(ordered)})

    async def shopify_payouts(self, request: Request) -> Response:
        """``shopify_payments/payouts.json``: filtered by ``status`` and ``date_min``, newest date first."""
        if (fault := await self._gate("shopify", request)) is not None:
            return fault
        state = self._page_state(request, ("status", "date_min"))
        listed = sorted((p for p in self.payouts if p["status"] == state["status"] and p["date"] >= state["date_min"]),
                        key=lambda p: (p["date"], p["id"]), reverse=True)
        return self._link_page(request, "payouts", listed, state)

    async def shopify_balance_transactions(self, request: Request) -> Response:
        """``shopify_payments/balance/transactions.json?payout_id=…``: the payout's balance transactions."""
        if (fault := await self._gate("shopify", request)) is not None:
            return fault
        state = self._page_state(request, ("payout_id",))
        return self._link_page(request, "transactions", self.payout_transactions.get(int(state["payout_id"]), []),
                               state)

    async def shopify_inventory_items(self, request: Request) -> Response:
        """``inventory_items.json?ids=…``: the items with those ids (Shopify requires ``ids``, at most 100)."""
        if (fault := await self._gate("shopify", request)) is not None:
            return fault
        self.tokens.append(request.headers.get("x-shopify-access-token"))
        ids = request.query_params["ids"].split(",")
        assert len(ids) <= 100, len(ids)
        return JSONResponse({"inventory_items": [i for i in self.inventory_items if str(i["id"]) in ids]})

    async def shopify_locations(self, request: Request) -> Response:
        if (fault := await self._gate("shopify", request)) is not None:
            return fault
        self.tokens.append(request.headers.get("x-shopify-access-token"))
        return JSONResponse({"locations": self.locations})

    @staticmethod
    def _page_state(request: Request, filters: tuple[str, ...]) -> dict[str, Any]:
        """The filters of a first request, or those a ``page_info`` token carries (Shopify refuses both at once)."""
        query = request.query_params
        if "page_info" in query:
            assert not set(query) - {"page_info", "limit"}, query
            return json.loads(base64.urlsafe_b64decode(query["page_info"]))
        return {**{name: query[name] for name in filters}, "offset": 0}

    def _link_page(self, request: Request, name: str, listed: list[dict[str, Any]], state: dict[str, Any]) -> Response:
        limit = min(int(request.query_params.get("limit", "50")), 250)
        offset = state["offset"]
        headers = {}
        if len(listed) > offset + limit:
            token = base64.urlsafe_b64encode(json.dumps({**state, "offset": offset + limit}).encode()).decode()
            headers["link"] = f'<{self.url}{request.url.path}?limit={limit}&page_info={token}>; rel="next"'
        return JSONResponse({name: listed[offset:offset + limit]}, headers=headers)

    async def amazon_groups(self, request: Request) -> Response:
        """``listFinancialEventGroups``: groups started at or after ``FinancialEventGroupStartedAfter``, oldest
        first, ``MaxResultsPerPage`` a page, the rest behind an opaque ``NextToken`` (financesV0.json)."""
        if (fault := await self._gate("amazon", request)) is not None:
            return fault
        query = request.query_params
        limit = int(query.get("MaxResultsPerPage", "100"))
        if "NextToken" in query:
            state = json.loads(base64.urlsafe_b64decode(query["NextToken"]))
        else:
            state = {"after": query["FinancialEventGroupStartedAfter"], "offset": 0}
        floor = _time(state["after"])
        listed = sorted((g for g in self.groups if _time(g["FinancialEventGroupStart"]) >= floor),
                        key=lambda g: g["FinancialEventGroupStart"])[state["offset"]:]
        payload: dict[str, Any] = {"FinancialEventGroupList": listed[:limit]}
        if len(listed) > limit:
            payload["NextToken"] = base64.urlsafe_b64encode(json.dumps(
                {"after": state["after"], "offset": state["offset"] + limit}).encode()).decode()
        return JSONResponse({"payload": payload})

    async def amazon_events(self, request: Request) -> Response:
        """``listFinancialEventsByGroupId``: the group's pages of ``FinancialEvents`` in turn, by ``NextToken``."""
        if (fault := await self._gate("amazon", request)) is not None:
            return fault
        pages = self.group_events.get(request.path_params["group"])
        if pages is None:
            return JSONResponse({"errors": [{"code": "InvalidInput", "message": "Bad event group ID provided."}]},
                                status_code=400)
        index = int(request.query_params.get("NextToken", "0"))
        payload: dict[str, Any] = {"FinancialEvents": pages[index]}
        if index + 1 < len(pages):
            payload["NextToken"] = str(index + 1)
        return JSONResponse({"payload": payload})

    def app(self) -> Starlette:
        return Starlette(routes=[
            Route("/finances/v0/financialEventGroups", self.amazon_groups),
            Route("/finances/v0/financialEventGroups/{group}/financialEvents", self.amazon_events),
            Route("/v1/events", self.stripe),
            Route("/v1/balance_transactions", self.balance_transactions),
            Route("/admin/api/{version}/orders.json", self.shopify),
            Route("/admin/api/{version}/shopify_payments/payouts.json", self.shopify_payouts),
            Route("/admin/api/{version}/inventory_items.json", self.shopify_inventory_items),
            Route("/admin/api/{version}/locations.json", self.shopify_locations),
            Route("/admin/api/{version}/shopify_payments/balance/transactions.json", self.shopify_balance_transactions),
            Route("/erp/items", self.rest),
        ])


@asynccontextmanager
async def serving(upstream: Upstream) -> AsyncIterator[str]:
    """Run ``upstream`` on a real uvicorn bound to 127.0.0.1 (an OS-chosen free port) in this event loop."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    upstream.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    config = uvicorn.Config(upstream.app(), log_level="warning", lifespan="off", http="h11", ws="none",
                            access_log=False, timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        yield upstream.url
    finally:
        upstream.stopping.set()
        upstream.release.set()
        server.should_exit = True
        await task
        sock.close()
