"""Who may call what: one rule per root field and mutation, checked before the resolver runs.

Roles (DESIGN §5): ``viewer`` reads, with personal data masked in every value it receives;
``operator`` also acts on exceptions and replays; ``admin`` does everything, unmasked (keys, erasure,
audit log). Anonymous callers may call nothing (only ``__typename``/introspection, which part A's
limits govern, and ``/healthz`` outside GraphQL). A root field without a rule in :data:`RULES` is
treated as a viewer read (a mutation as admin-only) and fails ``tests/resolvers/test_roles.py``.
Every operator/admin mutation, and every refused one by a known key, is written to the audit log; so is every
search by a customer's contact (``transactionsByContact``), with the contact's fingerprint, never its value.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import strawberry
from graphql import GraphQLError, GraphQLSchema
from strawberry.extensions import SchemaExtension

from hub.access import audit
from hub.access.auth import ROLE_RANK, require_role
from hub.access.contacts import contact_fingerprint
from hub.access.privacy import mask_json
from hub.errors import HubError

RULES: dict[str, str] = {
    "Query.transaction": "viewer",
    "Query.transactionsByRef": "viewer",
    "Query.transactions": "viewer",
    "Query.deliveries": "viewer",
    "Query.delivery": "viewer",
    "Query.exceptions": "viewer",
    "Query.exceptionCounts": "viewer",
    "Query.stock": "viewer",
    "Query.divergences": "viewer",
    "Query.divergenceCounts": "viewer",
    "Query.movements": "viewer",
    "Query.metrics": "viewer",
    "Query.sources": "viewer",
    "Query.node": "viewer",
    "Query.nodes": "viewer",
    "Query.auditLog": "admin",
    "Query.apiKeys": "admin",
    "Query.notificationEndpoints": "operator",  # endpoint URLs may carry a token: not for viewers
    "Query.notifications": "operator",
    "Mutation.resendNotification": "operator",
    "Mutation.enableNotificationEndpoint": "operator",
    "Mutation.replayDelivery": "operator",
    "Mutation.replayDeliveries": "operator",
    "Mutation.acknowledgeException": "operator",
    "Mutation.assignException": "operator",
    "Mutation.resolveException": "operator",
    "Mutation.createApiKey": "admin",
    "Mutation.revokeApiKey": "admin",
    "Mutation.eraseCustomer": "admin",
    "Mutation.purgeExpired": "admin",
    "Subscription.exceptionEvents": "viewer",
    "Query.maintenanceWindows": "viewer",
    "Query.compare": "viewer",  # landed without a rule (tests/resolvers/test_roles.py); viewer is its default
    "Query.transactionsByContact": "admin",  # searches by personal data: only the role that sees it unmasked
    "Mutation.scheduleMaintenance": "operator",
    "Mutation.endMaintenance": "operator",
}
_DEFAULT = {"Query": "viewer", "Mutation": "admin", "Subscription": "viewer"}
# Arguments that name the object acted on (recorded in the audit log); anything else (notes, emails) is not.
_OBJECT_ARGS = ("id", "ids", "ref", "name", "prefix", "assignee", "filter")
_SELF_AUDITED = {"eraseCustomer"}  # records its own entry, with counts, in the erasure's own transaction
_AUDITED_READS = {"Query.transactionsByContact"}  # reads by personal data: written to the audit log as mutations are


def rule_for(type_name: str, field_name: str) -> str:
    return RULES.get(f"{type_name}.{field_name}", _DEFAULT.get(type_name, "admin"))


def _graphql_error(exc: HubError) -> GraphQLError:
    return GraphQLError(exc.message, extensions={"code": exc.code.upper()})


def caller(info: strawberry.Info | Any, role: str) -> Any:
    """The caller's API key if it has ``role``; a GraphQL UNAUTHORIZED/FORBIDDEN error otherwise."""
    context = info.context
    try:
        if context.get("auth_error"):
            raise context["auth_error"]
        return require_role(context.get("api_key"), role)
    except HubError as exc:
        raise _graphql_error(exc) from None


def require_operator(info: strawberry.Info) -> str:
    """The operator's API key name; a GraphQL error (UNAUTHORIZED/FORBIDDEN) for a missing, wrong or weak key."""
    return caller(info, "operator").name


def masks_for(context: dict[str, Any]) -> bool:
    """Whether values sent to this caller have personal data masked (everyone below admin)."""
    key = context.get("api_key")
    return key is None or ROLE_RANK[key.role] < ROLE_RANK["admin"]


def _object_of(args: dict[str, Any]) -> str:
    parts = []
    for name in _OBJECT_ARGS:
        if args.get(name) not in (None, [], ""):
            parts.append(f"{name}={args[name]}")
    if args.get("email"):
        parts.append(f"email={audit.fingerprint(str(args['email']))}")
    if args.get("contact"):
        parts.append(f"contact={contact_fingerprint(str(args['contact']))}")
    return "; ".join(parts)


def _guard_resolver(type_name: str, field_name: str, resolve: Callable[..., Any] | None) -> Callable[..., Any]:
    role = rule_for(type_name, field_name)
    audited = type_name == "Mutation" or f"{type_name}.{field_name}" in _AUDITED_READS

    def guarded(root: Any, info: Any, **args: Any) -> Any:
        try:
            key = caller(info, role)
        except GraphQLError as error:
            key = info.context.get("api_key")
            if audited and key is not None:
                info.context["audit"].append((key, field_name, _object_of(args), "denied", error.message))
            raise
        result = resolve(root, info, **args) if resolve is not None else getattr(root, field_name, None)
        if audited and ROLE_RANK[key.role] >= ROLE_RANK["operator"] and field_name not in _SELF_AUDITED:
            info.context["audit"].append((key, field_name, _object_of(args), "ok", None))
        return result

    return guarded


def guard_schema(schema: GraphQLSchema) -> None:
    """Wrap every root field's resolver (and subscription source) with its role check, in place."""
    for root in (schema.query_type, schema.mutation_type, schema.subscription_type):
        if root is None:
            continue
        for name, field in root.fields.items():
            if root is schema.subscription_type and field.subscribe is not None:
                field.subscribe = _guard_subscription(root.name, name, field.subscribe)
            else:
                field.resolve = _guard_resolver(root.name, name, field.resolve)


def _guard_subscription(type_name: str, field_name: str, subscribe: Callable[..., Any]) -> Callable[..., Any]:
    role = rule_for(type_name, field_name)

    def guarded(root: Any, info: Any, **args: Any) -> Any:
        caller(info, role)
        return subscribe(root, info, **args)

    return guarded


class AccessControl(SchemaExtension):
    """Masks personal data in results for callers below admin, and writes the audit entries the guards collected.

    Masking works on the finished result, so every field is covered, present and future; JSON scalars
    (headers, evidence) are masked by key and value, raw bodies by parsing them.
    """

    def on_operation(self) -> Iterator[None]:
        self.execution_context.context.setdefault("audit", [])
        yield

    async def on_execute(self) -> AsyncIterator[None]:  # type: ignore[override]
        yield
        context = self.execution_context.context
        result = self.execution_context.result
        if result is not None and getattr(result, "data", None) and masks_for(context):
            result.data = mask_json(result.data)
        await self._flush(context, result)

    def on_stream_result(self, result: Any) -> Iterator[None]:  # type: ignore[override]
        if getattr(result, "data", None) and masks_for(self.execution_context.context):
            result.data = mask_json(result.data)
        yield

    @staticmethod
    async def _flush(context: dict[str, Any], result: Any) -> None:
        pending, context["audit"] = context.get("audit", []), []
        if not pending:
            return
        errors = {str(e.path[0]) for e in (getattr(result, "errors", None) or []) if e.path}
        async with context["hub"].started().store.write() as conn:
            for key, action, obj, outcome, detail in pending:
                if outcome == "ok" and action in errors:
                    outcome = "error"
                await audit.record(conn, actor=key.name, role=key.role, action=action, object=obj, result=outcome,
                                   detail={"message": detail} if detail else None)


__all__ = ["RULES", "AccessControl", "caller", "guard_schema", "masks_for", "require_operator", "rule_for"]
