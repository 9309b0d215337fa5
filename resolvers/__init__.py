"""The GraphQL root (Query, Mutation), its DataLoaders, and the ``strawberry.Schema`` and ASGI app they make."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import strawberry
from graphql import GraphQLError
from starlette.requests import Request
from starlette.responses import HTMLResponse
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.extensions import MaxTokensLimiter
from strawberry.tools import merge_types

from hub.access.auth import authenticate
from hub.errors import HubError
from hub.runtime import Hub
from resolvers.admin import AdminMutation, AdminQuery
from resolvers.budgets import CostBudgets
from resolvers.compare import CompareQuery
from resolvers.errors import MaskUnexpected, Schema, is_expected
from resolvers.exceptions import ExceptionMutation, ExceptionQuery, Subscription
from resolvers.hot_documents import HotDocuments
from resolvers.http import GraphQLHTTP
from resolvers.limits import BoundedParserCache, Guard, Limits, limits_from
from resolvers.loaders import Loaders
from resolvers.maintenance import MaintenanceMutation, MaintenanceQuery
from resolvers.metrics import MetricsQuery
from resolvers.mutation import DeliveryMutation
from resolvers.node import NodeQuery
from resolvers.notifications import NotificationMutation, NotificationQuery
from resolvers.permissions import AccessControl, guard_schema
from resolvers.persisted import PersistedDocuments, load_allow_list
from resolvers.query import TransactionQuery
from resolvers.sources import SourceQuery
from resolvers.stock import StockQuery
from schema.scalars import SCALAR_OVERRIDES

Query = merge_types("Query", (TransactionQuery, CompareQuery, ExceptionQuery, StockQuery, MetricsQuery, AdminQuery,
                                SourceQuery, NodeQuery, NotificationQuery, MaintenanceQuery))
Mutation = merge_types("Mutation", (DeliveryMutation, ExceptionMutation, AdminMutation, NotificationMutation,
                                    MaintenanceMutation))


def _expected(error: GraphQLError) -> bool:
    return is_expected(error)


def build_schema(limits: Limits | None = None, buckets: CostBudgets | None = None) -> strawberry.Schema:
    """The schema with a parse cache, abuse limits (tokens, depth, aliases and selections through fragments,
    cost) and masking.

    Factories, not instances: strawberry builds fresh extensions per request; caches and buckets are shared.
    """
    limits = limits or Limits()
    buckets = buckets or CostBudgets(limits.cost_bucket, limits.cost_restore_rate, time.monotonic)
    extensions = [
        lambda: BoundedParserCache(maxsize=1024), lambda: MaxTokensLimiter(max_token_count=limits.max_tokens),
        # depth, aliases and expanded selections (linear in the document), cached validation with role-aware
        # introspection, then the cost budget: strawberry's depth and alias limiters expand fragments literally
        lambda: Guard(limits, buckets),
        AccessControl,  # roles' personal-data masking and the audit log (resolvers/permissions.py)
        MaskUnexpected,
    ]
    schema = Schema(query=Query, mutation=Mutation, subscription=Subscription, scalar_overrides=SCALAR_OVERRIDES,
                    extensions=extensions)
    guard_schema(schema._schema)  # every root field checks the caller's role (resolvers/permissions.RULES)
    return schema


class GraphQLApp(GraphQL):
    """``/graphql``: GET/POST by the GraphQL-over-HTTP spec (:mod:`resolvers.http`); GraphiQL for browsers and
    the graphql-transport-ws WebSocket through strawberry. Every context has the hub, the caller's API key, a
    caller id for the cost budget, and fresh DataLoaders.

    ``ide_html`` and ``ide_csp``: the GraphiQL page a browser gets (the composition root passes the one ``web``
    serves from its own static files); without it a browser's GET is answered as any other request.
    """

    def __init__(self, hub: Hub, *, clock: Callable[[], float] = time.monotonic, ide_html: str | None = None,
                 ide_csp: str = "default-src 'none'", **kwargs: Any) -> None:
        limits = limits_from(getattr(hub.config, "graphql", None) or {})
        buckets = CostBudgets(limits.cost_bucket, limits.cost_restore_rate, clock)
        # strawberry's own IDE page loads React and GraphiQL from a CDN: never served, ours or none
        super().__init__(build_schema(limits, buckets), graphql_ide="graphiql" if ide_html else None, **kwargs)
        self.hub, self.ide_html, self.ide_csp = hub, ide_html, ide_csp
        documents = PersistedDocuments(load_allow_list(limits.persisted_documents), limits.persisted_only)
        self.hot = HotDocuments(self.schema._schema, limits, buckets)
        self.http = GraphQLHTTP(self.schema, documents, lambda request: self.get_context(request, None), limits,
                                self.hot)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            request = Request(scope, receive)
            wants_ide = (self.ide_html is not None and "text/html" in request.headers.get("accept", "")
                         and "query" not in request.query_params)
            if not (request.method == "GET" and wants_ide):
                response = await self.http.handle(request)
                await response(scope, receive, send)
                return
        await super().__call__(scope, receive, send)

    async def render_graphql_ide(self, request: Any) -> Any:
        """GraphiQL, with the Content-Security-Policy that allows exactly what it loads."""
        return HTMLResponse(self.ide_html or "", headers={"content-security-policy": self.ide_csp})

    async def on_ws_connect(self, context: dict[str, Any]) -> Any:
        """graphql-transport-ws ``connection_init``: a socket without a valid API key is closed with 4403 before
        it may subscribe (every subscription needs a viewer key; an anonymous socket could only hold resources)."""
        if context.get("auth_error") is not None or context.get("api_key") is None:
            raise ConnectionRejectionError({"message": "send a valid API key as `Authorization: Bearer <key>`"})
        return await super().on_ws_connect(context)

    async def get_context(self, request: Any, response: Any) -> dict[str, Any]:
        context: dict[str, Any] = {"hub": self.hub, "request": request, "response": response,
                                   "loaders": Loaders(self.hub.started().store), "api_key": None}
        try:
            context["api_key"] = authenticate(self.hub.config, request.headers.get("authorization"))
        except HubError as exc:
            context["auth_error"] = exc
        key = context["api_key"]
        client = getattr(request, "client", None)
        context["caller"] = f"key:{key.name}" if key is not None else f"ip:{client.host if client else '?'}"
        return context


__all__ = ["GraphQLApp", "build_schema"]
