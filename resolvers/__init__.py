"""The GraphQL root (Query, Mutation), its DataLoaders, and the ``strawberry.Schema`` and ASGI app they make."""

from __future__ import annotations

from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.asgi import GraphQL
from strawberry.extensions import (
    MaskErrors,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    ValidationCache,
)

from hub.auth import authenticate
from hub.errors import HubError
from hub.runtime import Hub
from resolvers.loaders import Loaders
from resolvers.mutation import Mutation
from resolvers.query import Query


def _expected(error: GraphQLError) -> bool:
    """Errors we raise on purpose carry a code; anything else is unexpected and masked."""
    original = error.original_error
    return original is None or (isinstance(original, GraphQLError) and bool(original.extensions))


def build_schema() -> strawberry.Schema:
    """The schema with parse/validation caches (they halve execution time) and abuse limits."""
    # Factories, not instances: strawberry builds fresh extensions per request; the caches are shared.
    return strawberry.Schema(query=Query, mutation=Mutation, extensions=[
        lambda: ParserCache(maxsize=1024), lambda: ValidationCache(maxsize=1024),
        lambda: QueryDepthLimiter(max_depth=12), lambda: MaxAliasesLimiter(max_alias_count=30),
        lambda: MaxTokensLimiter(max_token_count=2000),
        lambda: MaskErrors(should_mask_error=lambda error: not _expected(error)),
    ])


class GraphQLApp(GraphQL):
    """Strawberry's ASGI app with the hub, the caller's API key and fresh DataLoaders in every context."""

    def __init__(self, hub: Hub, **kwargs: Any) -> None:
        super().__init__(build_schema(), **kwargs)
        self.hub = hub

    async def get_context(self, request: Any, response: Any) -> dict[str, Any]:
        context: dict[str, Any] = {"hub": self.hub, "request": request, "response": response,
                                   "loaders": Loaders(self.hub.require_store()), "api_key": None}
        try:
            context["api_key"] = authenticate(self.hub.config, request.headers.get("authorization"))
        except HubError as exc:
            context["auth_error"] = exc
        return context


__all__ = ["GraphQLApp", "build_schema"]
