"""Helpers for tests that build operations from the introspected schema (role matrix, masking walk)."""

from __future__ import annotations

import json
from typing import Any

from graphql import GraphQLEnumType, GraphQLInputObjectType, GraphQLList, GraphQLNonNull, GraphQLScalarType, Undefined


def literal(type_: Any, name: str = "", chosen: dict[str, Any] | None = None) -> str:
    """A literal for an argument: the seeded value chosen for its name, else the first valid value of its type."""
    chosen = chosen or {}
    if name in chosen:
        return json.dumps(chosen[name])
    if isinstance(type_, GraphQLNonNull):
        return literal(type_.of_type, name, chosen)
    if isinstance(type_, GraphQLList):
        return f"[{literal(type_.of_type, name, chosen)}]"
    if isinstance(type_, GraphQLEnumType):
        return next(iter(type_.values))
    if isinstance(type_, GraphQLInputObjectType):
        required = {n: f for n, f in type_.fields.items()
                    if isinstance(f.type, GraphQLNonNull) and f.default_value is Undefined}
        return "{" + ", ".join(f"{n}: {literal(f.type, n, chosen)}" for n, f in required.items()) + "}"
    assert isinstance(type_, GraphQLScalarType)
    return {"Int": "20", "Float": "1.0", "Boolean": "false"}.get(type_.name, json.dumps("1001"))
