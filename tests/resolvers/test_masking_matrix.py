"""Personal data is masked in every field of every payload below admin: the selection is built from the schema.

For each root query field and mutation (found by introspection, not listed by hand) the test selects every
field reachable from it (interfaces expanded to each implementation, a type not re-entered on its own path),
over a store holding a customer's email, phone and street in deliveries, events, refs, errors, exceptions,
their history and assignee. Viewers and operators must never see them; the admin must (so the walk provably
reaches the data, and the test can fail).
"""

from __future__ import annotations

import json
from typing import Any

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

from tests.hub.test_privacy import EMAIL, deliver, order_event
from tests.resolvers.introspected import literal
from tests.support import ADMIN_KEY, OPERATOR_KEY, VIEWER_KEY, cloudevent, gql, running_app

PERSONAL = (EMAIL.lower(), "rua das flores", "912 345 678", "912345678")
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


def _leaks(result: dict[str, Any]) -> list[str]:
    text = json.dumps(result, ensure_ascii=False).lower()
    return [value for value in PERSONAL if value in text]


@pytest.mark.asyncio
async def test_no_field_of_any_payload_shows_personal_data_below_admin(store_url: str) -> None:
    async with running_app(store_url, extra=UNLIMITED) as (client, hub):
        await deliver(client, hub, order_event(1), cloudevent(
            "erp", "sync.failed", [("erp:so", "SO-1"), ("shop:order", "1001")], id="erp-1", status="failed",
            error=f"ERP refused the ship-to of {EMAIL} (+351 912 345 678, Rua das Flores 12)"))
        await hub.evaluator.tick()
        tx = (await gql(client, '{ transaction(ref: "1001") { id events { id deliveryId } exceptions { id } } }'))[
            "data"]["transaction"]
        assert tx["exceptions"], "the failed sync raised no exception: nothing to walk"
        exception_id = tx["exceptions"][0]["id"]
        assigned = await gql(client, 'mutation($id: ID!, $who: String!) { assignException(id: $id, assignee: $who, '
                                     'note: $who) { count } }', key=OPERATOR_KEY, id=exception_id, who=EMAIL)
        assert "errors" not in assigned, assigned
        ids = [tx["id"], exception_id, *(e["id"] for e in tx["events"]), tx["events"][0]["deliveryId"]]
        chosen: dict[str, dict[str, Any]] = {
            "*": {"ref": "1001", "sku": "SKU-1"},
            "delivery": {"id": tx["events"][0]["deliveryId"]}, "node": {"id": tx["events"][0]["id"]},
            "nodes": {"ids": ids}, "replayDelivery": {"id": tx["events"][0]["deliveryId"]},
            "acknowledgeException": {"id": exception_id}, "assignException": {"id": exception_id, "assignee": EMAIL},
            "resolveException": {"id": exception_id},
        }
        schema = build_client_schema((await gql(client, get_introspection_query()))["data"])
        queries, mutations = _operations(schema, "query", chosen), _operations(schema, "mutation", chosen)
        assert len(queries) >= 15 and len(mutations) >= 9

        shown: dict[str, set[str]] = {"viewer": set(), "operator": set(), "admin": set()}
        for name, operation in queries.items():
            for role, key in (("viewer", VIEWER_KEY), ("operator", OPERATOR_KEY), ("admin", ADMIN_KEY)):
                result = await gql(client, operation, key=key)
                internal = [e for e in result.get("errors", []) if e.get("extensions", {}).get("code") == "INTERNAL"]
                assert not internal, (name, role, internal)
                if _leaks(result):
                    shown[role].add(name)
        for name in ("acknowledgeException", "assignException", "resolveException", "replayDelivery",
                     *sorted(set(mutations) - {"eraseCustomer", "purgeExpired"})):
            for role, key in (("viewer", VIEWER_KEY), ("operator", OPERATOR_KEY), ("admin", ADMIN_KEY)):
                if _leaks(result := await gql(client, mutations[name], key=key)):
                    shown[role].add(f"mutation {name}")
    assert shown["viewer"] == set() and shown["operator"] == set(), shown
    assert {"transaction", "transactions", "transactionsByRef", "deliveries", "delivery", "exceptions", "node",
            "nodes", "mutation assignException"} <= shown["admin"], shown["admin"]
