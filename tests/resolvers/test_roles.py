"""The role matrix: every root field and mutation, found by introspection, for anonymous/viewer/operator/admin.

A field added without a rule in ``resolvers.permissions.RULES`` fails here; a rule the server does not
enforce fails here too.
"""

from __future__ import annotations

from typing import Any

import pytest
from graphql import (
    GraphQLNonNull,
    GraphQLSchema,
    build_client_schema,
    get_introspection_query,
    get_named_type,
    is_composite_type,
)

from hub.access.auth import ROLE_RANK
from resolvers.permissions import RULES
from tests.resolvers.introspected import literal
from tests.support import ADMIN_KEY, OPERATOR_KEY, VIEWER_KEY, gql, running_app

CALLERS = {"anonymous": None, "viewer": VIEWER_KEY, "operator": OPERATOR_KEY, "admin": ADMIN_KEY}
DENIED = {"UNAUTHORIZED", "FORBIDDEN"}


def _operation(kind: str, name: str, field: Any) -> str:
    from graphql import Undefined

    args = [f"{arg}: {literal(spec.type)}" for arg, spec in field.args.items()
            if isinstance(spec.type, GraphQLNonNull) and spec.default_value is Undefined]
    selection = " { __typename }" if is_composite_type(get_named_type(field.type)) else ""  # Node too
    return f"{kind} {{ {name}{'(' + ', '.join(args) + ')' if args else ''}{selection} }}"


async def _schema(client: Any) -> GraphQLSchema:
    result = await gql(client, get_introspection_query())
    return build_client_schema(result["data"])


@pytest.mark.asyncio
async def test_every_root_field_and_mutation_has_a_rule_and_the_server_enforces_it(store_url: str) -> None:
    async with running_app(store_url) as (client, _hub):
        schema = await _schema(client)
        roots = {"query": schema.query_type, "mutation": schema.mutation_type}
        fields = [(kind, root.name, name, field) for kind, root in roots.items() if root
                  for name, field in root.fields.items()]
        subscriptions = [f"Subscription.{n}" for n in (schema.subscription_type.fields if schema.subscription_type
                                                       else {})]
        missing = [f"{t}.{n}" for _, t, n, _ in fields if f"{t}.{n}" not in RULES]
        missing += [s for s in subscriptions if s not in RULES]
        assert missing == [], f"root fields without an access rule in resolvers/permissions.py: {missing}"
        assert len(fields) >= 20

        matrix: dict[str, dict[str, bool]] = {}
        for kind, type_name, name, field in fields:
            rule = RULES[f"{type_name}.{name}"]
            for caller, key in CALLERS.items():
                result = await gql(client, _operation(kind, name, field), key=key)
                codes = {(e.get("extensions") or {}).get("code") for e in result.get("errors", [])}
                allowed = caller != "anonymous" and ROLE_RANK[caller] >= ROLE_RANK[rule]
                matrix.setdefault(f"{type_name}.{name}", {})[caller] = not (codes & DENIED)
                if allowed:
                    assert not codes & DENIED, (type_name, name, caller, result)
                else:
                    assert codes & DENIED, (type_name, name, caller, result)
                    assert (result.get("data") or {}).get(name) is None
                    expected = "UNAUTHORIZED" if caller == "anonymous" else "FORBIDDEN"
                    assert expected in codes, (type_name, name, caller, codes)
    # the roles, spelled out for the fields that matter most
    assert matrix["Query.transaction"] == {"anonymous": False, "viewer": True, "operator": True, "admin": True}
    assert matrix["Mutation.resolveException"] == {"anonymous": False, "viewer": False, "operator": True,
                                                   "admin": True}
    assert matrix["Mutation.replayDelivery"]["operator"] and not matrix["Mutation.replayDelivery"]["viewer"]
    for admin_only in ("Mutation.eraseCustomer", "Mutation.createApiKey", "Mutation.revokeApiKey",
                       "Query.auditLog", "Query.apiKeys"):
        assert matrix[admin_only] == {"anonymous": False, "viewer": False, "operator": False, "admin": True}


@pytest.mark.asyncio
async def test_anonymous_subscriptions_are_refused_before_they_start(store_url: str) -> None:
    from resolvers import build_schema

    schema = build_schema()
    async with running_app(store_url) as (_client, hub):
        stream = await schema.subscribe("subscription { exceptionEvents { action } }",
                                        context_value={"hub": hub, "api_key": None})
        first = await stream.__anext__()  # type: ignore[union-attr]
        await stream.aclose()  # type: ignore[union-attr]
    assert first.data is None and [e.extensions["code"] for e in first.errors] == ["UNAUTHORIZED"]
    assert hub.broadcaster.subscribers == 0


@pytest.mark.asyncio
async def test_viewers_denied_mutations_are_audited_anonymous_ones_are_not(store_url: str) -> None:
    async with running_app(store_url) as (client, _hub):
        for key in (None, VIEWER_KEY, OPERATOR_KEY):
            await gql(client, 'mutation { acknowledgeException(id: "exc_1", note: "call +44 20 7946 0958") '
                              '{ count } }', key=key)
        log = await gql(client, "{ auditLog(first: 10) { nodes { actor role action object result } } }")
    entries = log["data"]["auditLog"]["nodes"]
    assert [(e["actor"], e["role"], e["action"], e["object"], e["result"]) for e in entries] == [
        ("ops", "operator", "acknowledgeException", "id=exc_1", "ok"),
        ("bi", "viewer", "acknowledgeException", "id=exc_1", "denied"),
    ]
    assert "7946" not in str(log)  # notes are not recorded


@pytest.mark.asyncio
async def test_live_exception_events_are_masked_for_a_viewer(store_url: str) -> None:
    import asyncio

    from hub.access.auth import authenticate
    from hub.exceptions.lifecycle import Change
    from hub.model import utcnow
    from hub.store.tables import exceptions
    from resolvers import build_schema

    schema = build_schema()
    async with running_app(store_url) as (_client, hub):
        now = utcnow()
        async with hub.started().store.write() as conn:
            await conn.execute(exceptions.insert().values(
                id="exc_1", type="sync.failed", severity="high", rule="sync_failed", subject="x",
                message="Shopify refused ana@example.org's address", evidence={"phone": "+351 912 345 678"},
                opened_at=now, updated_at=now))
        streams = {}
        for role, key in (("viewer", VIEWER_KEY), ("admin", ADMIN_KEY)):
            streams[role] = await schema.subscribe(
                "subscription { exceptionEvents { exception { message evidence } } }",
                context_value={"hub": hub, "api_key": authenticate(hub.config, f"Bearer {key}")})
        tasks = {role: asyncio.ensure_future(stream.__anext__())  # type: ignore[union-attr]
                 for role, stream in streams.items()}
        while hub.broadcaster.subscribers < 2 and not any(t.done() for t in tasks.values()):
            await asyncio.sleep(0)
        hub.broadcaster.publish([Change("exc_1", "opened", "open", "sync.failed", "high", None, now)])
        seen = {role: str((await task).data["exceptionEvents"]["exception"]) for role, task in tasks.items()}
        for stream in streams.values():
            await stream.aclose()  # type: ignore[union-attr]
    assert "ana@example.org" not in seen["viewer"] and "912" not in seen["viewer"] and "•••" in seen["viewer"]
    assert "ana@example.org" in seen["admin"] and "+351 912 345 678" in seen["admin"]
