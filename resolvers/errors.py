"""What the server does with GraphQL errors: the client's own (syntax, validation, limits, permissions, bad
arguments) are answered as they are and logged as one line; unexpected ones are masked as
``internal error (id err_…)`` and logged with that id and their traceback."""

from __future__ import annotations

import logging
import secrets
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.exceptions import StrawberryInputCoercionError
from strawberry.extensions import MaskErrors
from strawberry.types import ExecutionContext

log = logging.getLogger("crosstrace.graphql")
_MESSAGE_CHARS = 300


def is_expected(error: GraphQLError) -> bool:
    """Errors we raise on purpose carry a code, and a scalar refusing a variable's value is the client's, as is
    graphql-core's own refusal of a variable (wrong type, null, missing: a request error, no path); anything else is
    unexpected and masked."""
    original = error.original_error
    return original is None or isinstance(original, StrawberryInputCoercionError) or (
        isinstance(original, GraphQLError) and (bool(original.extensions) or error.path is None))


class MaskUnexpected(MaskErrors):
    """Unexpected errors become "internal error (id …)"; the id and the traceback go to the log, never the client."""

    def __init__(self) -> None:
        super().__init__(should_mask_error=lambda error: not is_expected(error))

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        error_id = "err_" + secrets.token_hex(8)
        original = error.original_error
        log.error("unexpected GraphQL error %s at %s: %r", error_id, error.path, original,
                  exc_info=(type(original), original, original.__traceback__) if original else None)
        return GraphQLError(f"internal error (id {error_id}); the server log has the details", nodes=error.nodes,
                            source=error.source, positions=error.positions, path=error.path,
                            extensions={"code": "INTERNAL", "id": error_id})


def log_client_errors(errors: list[GraphQLError], context: Any = None) -> None:
    """One INFO line per error the client caused: its code, the caller, where, and the message (no traceback,
    no source excerpt). Unexpected errors are left to :class:`MaskUnexpected`, which logs them once with an id."""
    caller = context.get("caller", "-") if isinstance(context, dict) else "-"
    for error in errors:
        if not is_expected(error):
            continue
        code = (error.extensions or {}).get("code") or "GRAPHQL_VALIDATION_FAILED"
        where = ".".join(str(p) for p in error.path) if error.path else "-"
        message = " ".join(error.message.split())[:_MESSAGE_CHARS]
        log.info("graphql client error %s caller=%s at %s: %s", code, caller, where, message)


class Schema(strawberry.Schema):
    """strawberry's Schema, except that errors are logged by :func:`log_client_errors` and :class:`MaskUnexpected`
    (strawberry logs every error, a client's bad argument included, with a traceback and the query excerpt)."""

    def process_errors(self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None) -> None:
        log_client_errors(errors, execution_context.context if execution_context is not None else None)
