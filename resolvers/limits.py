"""Abuse limits for ``/graphql``: settings, static query cost, per-caller leaky buckets, and the extension that
enforces them (shape limits, role-aware validation, cost budget; the budgets are in resolvers.budgets).

Cost model (after Shopify's, https://shopify.dev/docs/api/usage/rate-limits#graphql-admin-api-rate-limits): a
field returning an object costs 1, scalars and enums cost 0, each root mutation field costs 10, and a field that
takes ``first``/``last`` multiplies the cost of what it selects by that page size (its default when omitted).
Plain lists nested in an object (a transaction's events) are bounded by the data, not the caller, and count once
in that *requested* cost, which decides whether a query may start (``max_cost``, the caller's bucket). After it
ran, its *actual* cost is counted on the result the same way, every object returned once (each list item, nested
plain lists included), and the bucket is settled to it: a page that came back short is refunded, a transaction
with thousands of events costs what it returned (as Shopify does: requested up front, actual charged).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    Undefined,
    VariableNode,
    get_named_type,
    is_composite_type,
    validate,
    value_from_ast_untyped,
)
from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry.extensions import ParserCache, SchemaExtension
from strawberry.schema.validation_rules.maybe_null import MaybeNullValidationRule
from strawberry.schema.validation_rules.one_of import OneOfInputValidationRule

from hub.errors import ConfigError
from hub.store.paging import DEFAULT_PAGE
from resolvers.budgets import CostBudgets
from resolvers.charging import charge, settle
from resolvers.masked_selections import MaskedSelections
from resolvers.permissions import masks_for
from resolvers.shape import shape_errors

MUTATION_COST = 10


@dataclass(frozen=True, slots=True)
class Limits:
    """``[graphql]`` settings; every one has a default that is safe on the open internet."""

    max_depth: int = 12
    max_aliases: int = 30
    max_tokens: int = 2000
    max_selections: int = 5000  # fields, spreads and inline fragments once every fragment spread is expanded
    max_repeated_fields: int = 50  # fields sharing one response key in a selection set (validation is quadratic)
    max_body_bytes: int = 256 * 1024  # a POST body (or a GET query string) longer than this is 413 (414)
    max_execution_seconds: float = 10.0  # wall-clock limit on running one operation (TIMEOUT)
    max_cost: int = 1000  # one query may not cost more than this (MAX_COST_EXCEEDED, 400)
    cost_bucket: int = 1000  # each caller's budget, refilled at cost_restore_rate points per second
    cost_restore_rate: float = 50.0
    introspection_roles: frozenset[str] = frozenset({"viewer", "operator", "admin"})  # anonymous: never by default
    persisted_only: bool = False  # allow-list mode: only documents from persisted_documents run
    persisted_documents: str | None = None  # a JSON file: a list of documents, or {"sha256:<hex>": document}


_INTS = ("max_depth", "max_aliases", "max_tokens", "max_selections", "max_repeated_fields", "max_body_bytes",
         "max_cost", "cost_bucket")
_SECONDS = ("cost_restore_rate", "max_execution_seconds")


def limits_from(raw: dict[str, Any]) -> Limits:
    """Validate the ``[graphql]`` table; :class:`ConfigError` names a wrong key and the fix."""
    known = set(Limits.__slots__)  # type: ignore[attr-defined]
    for key in raw:
        if key not in known:
            raise ConfigError(f"unknown key graphql.{key}: expected one of {sorted(known)}")
    values: dict[str, Any] = {}
    for key in _INTS:
        if key in raw:
            if not isinstance(raw[key], int) or isinstance(raw[key], bool) or raw[key] < 1:
                raise ConfigError(f"graphql.{key} = {raw[key]!r}: must be a positive integer")
            values[key] = raw[key]
    for key in _SECONDS:
        if key in raw:
            number = raw[key]
            if not isinstance(number, int | float) or isinstance(number, bool) or not 0 < number < math.inf:
                unit = "points/second" if key == "cost_restore_rate" else "seconds"
                raise ConfigError(f"graphql.{key} = {number!r}: must be a positive number ({unit})")
            values[key] = float(number)
    if "introspection_roles" in raw:
        roles = raw["introspection_roles"]
        if not isinstance(roles, list) or not set(roles) <= {"anonymous", "viewer", "operator", "admin"}:
            raise ConfigError("graphql.introspection_roles must list roles from anonymous, viewer, operator, admin")
        values["introspection_roles"] = frozenset(roles)
    if "persisted_only" in raw:
        if not isinstance(raw["persisted_only"], bool):
            raise ConfigError("graphql.persisted_only must be true or false")
        values["persisted_only"] = raw["persisted_only"]
    if "persisted_documents" in raw:
        if not isinstance(raw["persisted_documents"], str):
            raise ConfigError("graphql.persisted_documents must be the path of a JSON file")
        values["persisted_documents"] = raw["persisted_documents"]
    limits = Limits(**values)
    if limits.max_cost > limits.cost_bucket:
        raise ConfigError("graphql.max_cost must not exceed graphql.cost_bucket (a query could never run)")
    return limits


def _operation(document: DocumentNode, operation_name: str | None
               ) -> tuple[OperationDefinitionNode | None, dict[str, FragmentDefinitionNode]]:
    """The operation that runs (the named one, else the first) and the document's fragments by name."""
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    chosen = [op for op in operations if operation_name is None or (op.name and op.name.value == operation_name)]
    return (chosen[0] if chosen else None), fragments


def query_cost(schema: GraphQLSchema, document: DocumentNode, operation_name: str | None,
               variables: dict[str, Any] | None) -> int:
    """The static cost of the operation that will run (see the module docstring)."""
    operation, fragments = _operation(document, operation_name)
    root = schema.get_root_type(operation.operation) if operation is not None else None
    if operation is None or root is None:
        return 0
    walker = _CostWalker(schema, fragments, variables or {})
    cost = walker.selection_cost(operation.selection_set, root)
    if operation.operation == OperationType.MUTATION:
        cost += MUTATION_COST * len(operation.selection_set.selections)
    return cost


_COSTS: OrderedDict[tuple[Any, ...], int] = OrderedDict()


def variables_shape(variables: dict[str, Any] | None) -> tuple[tuple[str, Any], ...]:
    """What of the variables a static cost can depend on: the integers (page sizes); other values only by name."""
    return tuple(sorted((name, value if type(value) is int else ...) for name, value in (variables or {}).items()))


def cached_query_cost(schema: GraphQLSchema, document: DocumentNode, operation_name: str | None,
                      variables: dict[str, Any] | None) -> int:
    """:func:`query_cost`, computed once per (parse-cached) document, operation and :func:`variables_shape`."""
    return _kept(_COSTS, (schema, document, operation_name, variables_shape(variables)), document,
                 lambda: query_cost(schema, document, operation_name, variables))


def _kept(cache: OrderedDict[tuple[Any, ...], Any], key: tuple[Any, ...], document: DocumentNode,
          compute: Callable[[], Any]) -> Any:
    """``compute()``, kept in the bounded LRU ``cache`` under ``key`` when the document is short enough to keep."""
    if key in cache:
        cache.move_to_end(key)
        return cache[key]
    value = compute()
    if document.loc is None or document.loc.end <= CACHED_DOCUMENT_CHARS:
        cache[key] = value
        if len(cache) > _CACHED_MAX:
            cache.popitem(last=False)
    return value


@dataclass
class _CostWalker:
    schema: GraphQLSchema
    fragments: dict[str, FragmentDefinitionNode]
    variables: dict[str, Any]
    _active: set[str] = field(default_factory=set)
    _costs: dict[str, int] = field(default_factory=dict)

    def selection_cost(self, selection_set: SelectionSetNode | None, parent: Any) -> int:
        if selection_set is None:
            return 0
        total = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                total += self._field_cost(selection, parent)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                target = self.schema.get_type(condition.name.value) if condition else parent
                total += self.selection_cost(selection.selection_set, target or parent)
            elif isinstance(selection, FragmentSpreadNode):
                total += self._fragment_cost(selection.name.value, parent)
        return total

    def _fragment_cost(self, name: str, parent: Any) -> int:
        """A fragment's cost, computed once: spreads that fan out (each fragment spreading the next twice) would
        otherwise take time exponential in the document (issue 13)."""
        if name in self._costs:
            return self._costs[name]
        fragment = self.fragments.get(name)
        if fragment is None or name in self._active:  # unknown or cyclic: validation reports it
            return 0
        self._active.add(name)
        target = self.schema.get_type(fragment.type_condition.name.value) or parent
        cost = self._costs[name] = self.selection_cost(fragment.selection_set, target)
        self._active.discard(name)
        return cost

    def _field_cost(self, node: FieldNode, parent: Any) -> int:
        fields = getattr(parent, "fields", None)
        definition = fields.get(node.name.value) if fields else None
        if definition is None:
            return 0
        named = get_named_type(definition.type)
        if not is_composite_type(named):
            return 0
        return 1 + self._page_size(node, definition) * self.selection_cost(node.selection_set, named)

    def _page_size(self, node: FieldNode, definition: Any) -> int:
        """The page a paginated field asks for: its first/last, else its default, else the default page (20)."""
        if "first" not in definition.args and "last" not in definition.args:
            return 1
        sizes = []
        for name in ("first", "last"):
            if name not in definition.args:
                continue
            value: Any = definition.args[name].default_value
            for argument in node.arguments or ():
                if argument.name.value == name:
                    if isinstance(argument.value, VariableNode):
                        value = self.variables.get(argument.value.name.value, value)
                    else:
                        value = value_from_ast_untyped(argument.value, self.variables)
            if isinstance(value, int) and not isinstance(value, bool) and value is not Undefined:
                sizes.append(value)
        return max([s for s in sizes if s > 0], default=DEFAULT_PAGE)


def result_cost(schema: GraphQLSchema, document: DocumentNode, operation_name: str | None,
                data: dict[str, Any] | None) -> int:
    """The actual cost of an operation that ran: 1 per object in ``data`` (each list item counted, nested plain
    lists too), plus :data:`MUTATION_COST` per root mutation field. JSON scalars are values, not objects."""
    operation, fragments = _operation(document, operation_name)
    root = schema.get_root_type(operation.operation) if operation is not None else None
    if operation is None or root is None:
        return 0
    cost = _ResultWalker(schema, fragments).cost([operation.selection_set], root, data)
    if operation.operation == OperationType.MUTATION:
        cost += MUTATION_COST * len(operation.selection_set.selections)
    return cost


@dataclass
class _ResultWalker:
    schema: GraphQLSchema
    fragments: dict[str, FragmentDefinitionNode]
    # (selection sets, parent type) → its object fields merged by response key: collected once per walk, not once
    # per result object (a 50-event trace would otherwise collect the event's selection 50 times). Keyed by id():
    # the nodes belong to the document, which outlives the walk.
    _merged: dict[tuple[Any, ...], list[tuple[str, Any, list[SelectionSetNode]]]] = field(default_factory=dict)

    def cost(self, selection_sets: list[SelectionSetNode], parent: Any, value: Any) -> int:
        """The objects below one result object, its fields merged by response key across fragments."""
        if not isinstance(value, dict):
            return 0
        key = (id(parent), *map(id, selection_sets))
        fields = self._merged.get(key)
        if fields is None:
            merged: dict[str, tuple[Any, list[SelectionSetNode]]] = {}
            visited: set[str] = set()  # a fragment spread twice into one object adds nothing the second time
            for selection_set in selection_sets:
                self._collect(selection_set, parent, merged, visited)
            fields = self._merged[key] = [(name, named, below) for name, (named, below) in merged.items()]
        total = 0
        for name, named, below in fields:
            if name in value:
                total += self._objects(value[name], below, named)
        return total

    def _objects(self, value: Any, below: list[SelectionSetNode], named: Any) -> int:
        if value is None:
            return 0
        if isinstance(value, list):
            return sum(self._objects(item, below, named) for item in value)
        return 1 + self.cost(below, named, value)

    def _collect(self, selection_set: SelectionSetNode, parent: Any,
                 merged: dict[str, tuple[Any, list[SelectionSetNode]]], visited: set[str]) -> None:
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                fields = getattr(parent, "fields", None)
                definition = fields.get(selection.name.value) if fields else None
                named = get_named_type(definition.type) if definition is not None else None
                if named is None or not is_composite_type(named) or selection.selection_set is None:
                    continue
                key = selection.alias.value if selection.alias else selection.name.value
                merged.setdefault(key, (named, []))[1].append(selection.selection_set)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                target = self.schema.get_type(condition.name.value) if condition else parent
                self._collect(selection.selection_set, target or parent, merged, visited)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = self.fragments.get(name)
                if fragment is None or name in visited:  # unknown, cyclic or already collected
                    continue
                visited.add(name)
                self._collect(fragment.selection_set, self.schema.get_type(fragment.type_condition.name.value)
                              or parent, merged, visited)


_VALIDATED: OrderedDict[tuple[Any, ...], list[GraphQLError]] = OrderedDict()
_CACHED_MAX = 1024  # documents (with their rules, operation or variables' shape) each cache keeps
# Longer documents are parsed and validated afresh each time: 1024 cached documents of up to max_body_bytes each
# (a long comment costs no tokens) would hold hundreds of MiB.
CACHED_DOCUMENT_CHARS = 16 * 1024


class BoundedParserCache(ParserCache):
    """strawberry's parse cache for documents up to :data:`CACHED_DOCUMENT_CHARS`; longer ones strawberry parses
    itself (under the token limit), uncached."""

    def on_parse(self) -> Iterator[None]:
        query = self.execution_context.query
        if query is not None and len(query) > CACHED_DOCUMENT_CHARS:
            yield
            return
        yield from super().on_parse()


def _validate(schema: GraphQLSchema, document: DocumentNode, rules: tuple[Any, ...], hide: bool,
              limits: Limits) -> list[GraphQLError]:
    """Shape limits (:mod:`resolvers.shape`: depth, aliases, expanded selections) then validation errors of a
    (parse-cached) document, cached per schema, rule set and introspection setting.

    The shape is measured first, in time linear in the document: a document over a limit is refused before the
    validation rules walk it. The cache keys on the rules' names (extensions build rule classes per request);
    within one schema they carry one ``Limits``.
    """
    key = (schema, document, tuple(f"{rule.__module__}.{rule.__qualname__}" for rule in rules), hide)
    return _kept(_VALIDATED, key, document, lambda: shape_errors(
        document, limits.max_depth, limits.max_aliases, limits.max_selections, limits.max_repeated_fields)
        or validate(schema, document, (*rules, MaybeNullValidationRule, OneOfInputValidationRule),
                    hide_suggestions=hide))


def caller_role(context: dict[str, Any]) -> str:
    key = context.get("api_key")
    return getattr(key, "role", None) or "anonymous"


class Guard(SchemaExtension):
    """Validation (cached) with introspection and suggestions off for roles not allowed them, then the cost budget.

    Puts the cost report in the request context (``cost``) and in ``extensions.cost``; a throttled request gets a
    THROTTLED error and ``retry_after`` in the context (the HTTP layer answers 429 with ``Retry-After``).
    """

    def __init__(self, limits: Limits, buckets: CostBudgets) -> None:
        self.limits, self.buckets = limits, buckets

    async def on_validate(self) -> AsyncIterator[None]:
        ctx = self.execution_context
        context = ctx.context if isinstance(ctx.context, dict) else {}
        role = caller_role(context)
        closed = role not in self.limits.introspection_roles
        rules = (tuple(ctx.validation_rules) + ((NoSchemaIntrospectionCustomRule,) if closed else ())
                 + ((MaskedSelections,) if masks_for(context) else ()))
        assert ctx.graphql_document is not None
        errors = _validate(ctx.schema._schema, ctx.graphql_document, rules, closed, self.limits)
        if not errors:
            cost = cached_query_cost(ctx.schema._schema, ctx.graphql_document, ctx.operation_name, ctx.variables)
            errors = await charge(self.limits.max_cost, self.buckets, context, cost)
        ctx.pre_execution_errors = list(errors)
        yield

    async def on_execute(self) -> AsyncIterator[None]:
        yield
        ctx = self.execution_context
        context = ctx.context if isinstance(ctx.context, dict) else {}
        if context.get("charged") is None or ctx.graphql_document is None:
            return  # refused before it ran: nothing was taken
        await settle(self.buckets, context, result_cost(ctx.schema._schema, ctx.graphql_document,
                                                        ctx.operation_name, getattr(ctx.result, "data", None)))

    def get_results(self) -> dict[str, Any]:
        context = self.execution_context.context
        if isinstance(context, dict) and "cost" in context:
            return {"cost": context["cost"]}
        return {}
