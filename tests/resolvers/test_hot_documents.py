"""The fast path for hot persisted ``transaction(ref)`` documents (resolvers/hot_documents.py) answers exactly what
the normal GraphQL execution answers: the same status, media type and bytes, for the admin, an operator and a
viewer (masked), anonymous callers, refs not found, an ambiguous ref, and throttled requests, on the stitching
scenario's five real systems (tests/e2e/test_stitching.py), on SQLite and PostgreSQL. And it is taken only for a
hot persisted document of its shape."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.routing import Route

from hub.access.auth import digest
from hub.app import create_app
from hub.config import load
from resolvers import GraphQLApp
from tests.e2e.test_stitching import ARRIVALS, Story, write_config

ROLES = ("admin", "operator", "viewer")
KEYS = {(role, path): f"ct_{role}-{path}-key-for-hot-tests" for role in ROLES for path in ("normal", "fast")}
# Every plain field a trace lookup can ask for, aliases included (the benchmark's query is a subset).
TRACE = """query Trace($ref: String!) { tx: transaction(ref: $ref) { id kind firstAt lastAt eventCount systems
  openExceptions refs { namespace value role }
  events { id source sourceEventId type occurredAt receivedAt lagSeconds status error outOfOrder unknownType
           duplicates deliveryId traceparent refs { namespace value role } lines { sku qty location state }
           amount { value currency kind } amountParts { kind value currency } } } }"""
# Aliases that make mask_json mask by key: personal keys on scalars and on a list (`phone`), objects that describe a
# person (`billing`, with its `name` and `company`), a `name` beside a ref's `namespace` and `value`. (Aliases that
# would hide a key masking reads are refused below admin: tests/resolvers/test_masked_selections.py.)
ALIASED = """query Aliased($ref: String!) { order: transaction(ref: $ref) { id email: kind phone: systems
  refs { namespace value role } attributes: refs { namespace name: role value }
  billing: events { id name: type company: source street: sourceEventId error refs { namespace value }
                    lines { sku recipient: location } amount { name: kind value } }
  events { id type error sourceEventId attention: deliveryId } } }"""
LITERAL = '{ transaction(ref: "SO-1042") { id events { type when: occurredAt } } }'
HIDING = "query Hiding($ref: String!) { transaction(ref: $ref) { id refs { kind: namespace value } } }"  # 400 <admin
WITH_STEPS = "query($ref: String!) { transaction(ref: $ref) { id steps { name status } } }"  # not a plan's shape
NOT_PERSISTED = "query($ref: String!) { transaction(ref: $ref) { id kind } }"


def _id(document: str) -> str:
    return "sha256:" + hashlib.sha256(document.encode()).hexdigest()


@asynccontextmanager
async def stitched_hub(store_url: str, tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, GraphQLApp,
                                                                              list[float], list[Story]]]:
    """The app on the stitching config (plus keys, persisted documents and a small cost budget) with the three
    stories delivered and normalized; its clock only moves when the test moves it."""
    documents = tmp_path / "documents.json"
    documents.write_text(json.dumps([TRACE, ALIASED, LITERAL, WITH_STEPS, HIDING]))
    config_path = write_config(tmp_path, store_url)
    keys = "".join(f'\n[[api_keys]]\nname = "{role}-{path}"\nrole = "{role}"\nkey_sha256 = "{digest(key)}"\n'
                   for (role, path), key in KEYS.items())
    # personal refs: an email (masked by its shape too) and a name (masked only by its namespace)
    stated = ('adapter = "shopify"\n'
              'refs = { "email" = "shop:customer_email", "customer.last_name" = "shop:customer_name" }\n')
    config_path.write_text(config_path.read_text().replace('adapter = "shopify"\n', stated) + keys + f"""
[graphql]
persisted_documents = "{documents}"
cost_bucket = 120
max_cost = 120
cost_restore_rate = 5
""")
    now = [time.time()]
    app = create_app(load(config_path), clock=lambda: now[0], evaluate_every=3600)
    graphql = next(r.endpoint for r in app.routes if isinstance(r, Route) and r.path == "/graphql")
    stories = [Story(n) for n in range(len(ARRIVALS))]
    async with app.router.lifespan_context(app):
        hub = app.state.hub
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://hub.test") as client:
            for story in stories:
                for step in ARRIVALS["forward"]:
                    source, body, headers = getattr(story, step)(int(now[0]))
                    response = await client.post(f"/hooks/{source}", content=body,
                                                 headers={**headers, "content-type": "application/json"})
                    assert response.status_code == 202, response.text
                    await hub.normalizer.run_until_idle()
            # An ERP order numbered like the first story's web order: the bare number names two transactions.
            source, body, headers = _erp_posting(stories[0], now)
            assert (await client.post(f"/hooks/{source}", content=body, headers=headers)).status_code == 202
            await hub.normalizer.run_until_idle()
            yield client, graphql, now, stories


def _erp_posting(story: Story, now: list[float]) -> tuple[str, bytes, dict[str, str]]:
    twin = Story(99)
    twin.sales_order, twin.order_id = str(story.order_id), 4242
    source, body, headers = twin.erp(int(now[0]))
    return source, body, {**headers, "content-type": "application/json"}


async def _ask(client: httpx.AsyncClient, graphql: GraphQLApp, key: str | None, body: dict[str, Any],
               fast: bool, accept: str) -> tuple[int, str, bytes, int]:
    graphql.hot.enabled = fast
    before = graphql.hot.answered
    headers = {"accept": accept, **({"authorization": f"Bearer {key}"} if key else {})}
    response = await client.post("/graphql", json=body, headers=headers)
    return response.status_code, response.headers["content-type"], response.content, graphql.hot.answered - before


@pytest.mark.asyncio
async def test_the_fast_path_answers_byte_for_byte_what_graphql_answers(store_url: str, tmp_path: Path) -> None:
    async with stitched_hub(store_url, tmp_path) as (client, graphql, now, stories):
        refs = [ref for story in stories for ref in story.ids()]
        refs += [str(stories[0].order_id), "no-such-ref", "shop:order:0", "W-1", stories[1].tracking.lower()]
        bodies = [{"documentId": _id(TRACE), "variables": {"ref": ref}, "operationName": "Trace"} for ref in refs]
        bodies += [{"query": TRACE, "variables": {"ref": refs[0]}}, {"documentId": _id(LITERAL)}]
        bodies += [{"documentId": _id(ALIASED), "variables": {"ref": ref}} for ref in refs[:6]]
        bodies += [{"documentId": _id(HIDING), "variables": {"ref": ref}} for ref in refs[:3]]  # compiled by the admin
        statuses, codes, taken, masked, aliased = set(), set(), 0, 0, 0
        for index, body in enumerate(bodies):
            for role in (*ROLES, None):
                accept = ("application/json", "application/graphql-response+json")[index % 2]
                now[0] += 1.0  # the budgets refill the same between the two paths
                normal = await _ask(client, graphql, KEYS[(role, "normal")] if role else None, body, False, accept)
                fast = await _ask(client, graphql, KEYS[(role, "fast")] if role else None, body, True, accept)
                assert normal[:3] == fast[:3], (role, body, normal, fast)
                assert normal[3] == 0
                taken += fast[3]
                statuses.add(normal[0])
                payload = json.loads(normal[2])
                codes |= {(e.get("extensions") or {}).get("code", "VALIDATION") for e in payload.get("errors", [])}
                if role in ("operator", "viewer") and b"shop:customer_email" in normal[2]:
                    masked += 1
                    assert b"bob.norman@hostmail.com" not in normal[2] and "b•••@•••.com" in normal[2].decode()
                customer = (payload.get("data") or {}).get("order")
                if role in ("operator", "viewer") and customer:  # the aliases' masks are at work
                    assert customer["email"] == "•••" and {e["name"] for e in customer["billing"]} == {"•••"}
                    names = [r["value"] for e in customer["billing"] for r in e["refs"]
                             if r["namespace"] == "shop:customer_name"]
                    assert set(names) <= {"•••"}, names
                    aliased += len(names)
        # the first request of each document runs the normal way and compiles it; anonymous callers always do
        assert taken >= len(bodies) * len(ROLES) - 3 * len(ROLES), taken
        assert {"AMBIGUOUS_REF", "THROTTLED", "UNAUTHORIZED", "VALIDATION"} <= codes, codes  # VALIDATION: HIDING
        assert {200, 429} <= statuses, statuses
        assert masked, "no answer showed personal data to mask"
        assert aliased, "no aliased answer showed a name ref to mask"


@pytest.mark.asyncio
async def test_only_hot_persisted_documents_of_its_shape_take_the_fast_path(store_url: str, tmp_path: Path) -> None:
    async with stitched_hub(store_url, tmp_path) as (client, graphql, now, stories):
        ref = stories[0].sales_order
        key = KEYS[("admin", "fast")]

        async def answered(body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
            now[0] += 60.0  # a full budget for each
            status, _, content, taken = await _ask(client, graphql, key, body, True, "application/json")
            assert status == 200, content
            return taken, json.loads(content)

        first = await answered({"documentId": _id(TRACE), "variables": {"ref": ref}})
        second = await answered({"documentId": _id(TRACE), "variables": {"ref": ref}})
        assert (first[0], second[0]) == (0, 1)  # hot once it ran the normal way
        assert first[1]["data"] == second[1]["data"] and second[1]["data"]["tx"]["events"]
        assert (await answered({"query": TRACE, "variables": {"ref": ref}}))[0] == 1  # the same document as text
        for _ in range(2):  # a document not persisted, or not of the plan's shape, never goes fast
            assert (await answered({"query": NOT_PERSISTED, "variables": {"ref": ref}}))[0] == 0
            steps = await answered({"documentId": _id(WITH_STEPS), "variables": {"ref": ref}})
            assert steps[0] == 0 and steps[1]["data"]["transaction"]["steps"]
        changed = TRACE.replace("openExceptions", "openExceptions __typename")
        assert (await answered({"query": changed, "variables": {"ref": ref}}))[0] == 0
        # a ref that is not a string is refused by graphql-core, the normal way
        wrong = await answered({"documentId": _id(TRACE), "variables": {"ref": 7}})
        assert wrong[0] == 0 and wrong[1]["errors"] and wrong[1]["data"] is None
