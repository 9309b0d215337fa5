"""A compiled ``transaction(ref)`` document: the response built straight from a ``hub.store.trace.Trace``.

:func:`compile_plan` accepts one shape only: a query whose one root field is ``transaction(ref: $var | "literal")``
selecting plain fields of ``Transaction`` (its scalars, ``refs``, ``events``) and of its events (their scalars,
``refs``, ``lines``, ``amount``, ``amountParts``), aliases allowed; no fragments, directives, ``__typename``,
arguments on nested fields or repeated response keys. Anything else compiles to None and runs through graphql-core.
:meth:`TracePlan.render` gives the ``data`` graphql-core would give for that document (the same keys in the same
order, values serialised by the same scalars) and its actual cost as ``limits.result_cost`` counts it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    StringValueNode,
    VariableNode,
)

from hub.access.privacy import mask_leaves, names_personal, person_object, personal_key
from hub.store.queries import EventRecord
from hub.store.trace import Trace
from schema.scalars import DATETIME

_time: Callable[[datetime], str] = DATETIME.serialize  # type: ignore[assignment]
Getter = Callable[[Any], Any]


@dataclass(frozen=True, slots=True)
class _Objects:
    """An object-typed field: its items from the parent (a list; ``single``: a nullable object, at most one item)
    and the fields of the items' type."""

    items: Getter
    type: dict[str, Getter | _Objects]
    single: bool = False


def _amount(value: Any, currency: Any, kind: Any) -> dict[str, Any]:
    return {"value": str(Decimal(value)), "currency": currency, "kind": kind}  # Decimal serialises as str


def _event_amount(record: EventRecord) -> list[dict[str, Any]]:
    if record.amount_value is None:
        return []
    return [_amount(record.amount_value, record.amount_currency or "", record.amount_kind or "total")]


def _events(parent: tuple[Any, Trace]) -> list[tuple[EventRecord, float | None, list[tuple[str, str, str]]]]:
    """The trace's events with their lag and refs, as ``Transaction.events`` renders them."""
    trace, items, previous = parent[1], [], None
    for record in trace.events:
        items.append((record, (record.occurred_at - previous).total_seconds() if previous else None,
                      trace.event_refs(record)))
        previous = record.occurred_at
    return items


# The types a plan renders: GraphQL field name → a scalar's value from the parent, or the objects below it.
_REF: dict[str, Getter | _Objects] = {"namespace": lambda r: r[0], "value": lambda r: r[1], "role": lambda r: r[2]}
_LINE: dict[str, Getter | _Objects] = {"sku": lambda ln: ln["sku"], "qty": lambda ln: str(Decimal(ln["qty"])),
                                       "location": lambda ln: ln.get("location"), "state": lambda ln: ln.get("state")}
_AMOUNT: dict[str, Getter | _Objects] = {"value": lambda a: a["value"], "currency": lambda a: a["currency"],
                                         "kind": lambda a: a["kind"]}
_EVENT: dict[str, Getter | _Objects] = {  # on (EventRecord, lag seconds, refs)
    "id": lambda e: e[0].id, "source": lambda e: e[0].source, "sourceEventId": lambda e: e[0].source_event_id,
    "type": lambda e: e[0].type, "occurredAt": lambda e: _time(e[0].occurred_at),
    "receivedAt": lambda e: _time(e[0].received_at), "lagSeconds": lambda e: e[1], "status": lambda e: e[0].status,
    "error": lambda e: e[0].error, "outOfOrder": lambda e: e[0].out_of_order,
    "unknownType": lambda e: e[0].unknown_type, "duplicates": lambda e: e[0].duplicates,
    "deliveryId": lambda e: e[0].delivery_id, "traceparent": lambda e: e[0].traceparent,
    "refs": _Objects(lambda e: e[2], _REF), "lines": _Objects(lambda e: e[0].lines, _LINE),
    "amount": _Objects(lambda e: _event_amount(e[0]), _AMOUNT, single=True),
    "amountParts": _Objects(lambda e: [_amount(p["value"], p["currency"], p["kind"]) for p in e[0].amount_parts],
                            _AMOUNT)}
_TRANSACTION: dict[str, Getter | _Objects] = {  # on (TransactionRecord, Trace)
    "id": lambda t: t[0].id, "kind": lambda t: t[0].kind, "firstAt": lambda t: _time(t[0].first_at),
    "lastAt": lambda t: _time(t[0].last_at), "eventCount": lambda t: t[0].events,
    "systems": lambda t: list(t[0].systems or []), "openExceptions": lambda t: t[0].open_exceptions,
    "refs": _Objects(lambda t: [(r.namespace, r.value, r.role) for r in t[1].refs], _REF),
    "events": _Objects(_events, _EVENT)}

# A compiled selection: (response key, scalar getter, None) or (response key, items getter, its selection, single)
Selection = tuple[tuple[str, Getter, "Selection | None", bool], ...]


def _selection(selection_set: SelectionSetNode | None, fields: dict[str, Getter | _Objects]) -> Selection | None:
    """The selected fields in document order, or None when the selection is not plain fields of this type."""
    if selection_set is None:
        return None
    compiled: list[tuple[str, Getter, Selection | None, bool]] = []
    keys: set[str] = set()
    for node in selection_set.selections:
        if not isinstance(node, FieldNode) or node.arguments or node.directives:
            return None
        key, field = (node.alias or node.name).value, fields.get(node.name.value)
        if key in keys or field is None:
            return None
        keys.add(key)
        if isinstance(field, _Objects):
            below = _selection(node.selection_set, field.type)
            if below is None:
                return None
            compiled.append((key, field.items, below, field.single))
        elif node.selection_set is None:
            compiled.append((key, field, None, False))
        else:
            return None
    return tuple(compiled)


@dataclass(frozen=True, slots=True)
class _Masks:
    """Where :func:`hub.access.privacy.mask_json` masks one object of a selection, worked out once: its scalars'
    keys that are personal there (by key, in or out of a person object) and the others, the masks of the objects
    below, and whether the object may name its ``value`` personal (a ``namespace``, or a ``name`` beside a
    ``value``: then ``named`` splits the keys so)."""

    hidden: tuple[str, ...]
    shown: tuple[str, ...]
    below: tuple[_Masks | None, ...]  # per selected field (scalars: None)
    named: tuple[tuple[str, ...], tuple[str, ...]] | None


def _masks(selection: Selection, parent_key: str, in_person: bool) -> _Masks:
    """The masks of the objects a selection renders under ``parent_key``, as ``mask_json`` judges them."""
    keys = tuple(key for key, *_ in selection)
    person = person_object(parent_key, keys, in_person)
    scalars = [key for key, _, below, _ in selection if below is None]
    hidden = tuple(key for key in scalars if personal_key(key, person))
    shown = tuple(key for key in scalars if key not in hidden)
    names = "value" in shown and ("namespace" in keys or "name" in keys)
    return _Masks(hidden=hidden, shown=shown,
                  below=tuple(None if below is None else _masks(below, key, person)
                              for key, _, below, _ in selection),
                  named=((*hidden, "value"), tuple(key for key in shown if key != "value")) if names else None)


Masked = list[tuple[dict[str, Any], tuple[str, ...], tuple[str, ...]]]


def _render(selection: Selection, parent: Any, count: list[int], masks: _Masks | None = None,
            masked: Masked | None = None) -> dict[str, Any]:
    """One object's fields; ``count[0]`` counts every object rendered (the actual cost). With ``masks``, every
    object is added to ``masked`` with its personal and other scalar keys (see
    :func:`hub.access.privacy.mask_leaves`)."""
    count[0] += 1
    out: dict[str, Any] = {}
    for index, (key, get, below, single) in enumerate(selection):
        if below is None:
            out[key] = get(parent)
        else:
            under = None if masks is None else masks.below[index]
            items = [_render(below, item, count, under, masked) for item in get(parent)]
            out[key] = (items[0] if items else None) if single else items
    if masks is not None and masked is not None:
        if masks.named is not None and names_personal(out):
            masked.append((out, *masks.named))
        else:
            masked.append((out, masks.hidden, masks.shown))
    return out


@dataclass(frozen=True, slots=True)
class TracePlan:
    """How to answer one compiled document (see the module docstring)."""

    operation_name: str | None  # the document's one operation's name
    field: FieldNode  # the root ``transaction`` field (errors are located on it)
    key: str  # its response key
    variable: str | None  # the variable ``ref`` is given by, or None for a literal
    literal: str | None
    selection: Selection
    masks: _Masks  # where the response is masked for a caller below admin
    masked_refused: bool = False  # the document is refused below admin (resolvers.masked_selections)

    def ref(self, variables: dict[str, Any] | None) -> str | None:
        """The ``ref`` argument, or None when the variables do not give it as a string (graphql-core decides)."""
        if self.variable is None:
            return self.literal
        value = (variables or {}).get(self.variable)
        return value if isinstance(value, str) else None

    def render(self, trace: Trace | None, masked: bool = False) -> tuple[dict[str, Any], int]:
        """``data`` for this trace (None: not found) and its actual cost (every object returned, once); ``masked``:
        as ``mask_json`` masks it, with only the leaves its compiled masks name examined."""
        if trace is None:
            return {self.key: None}, 0
        count, objects = [0], [] if masked else None
        data = {self.key: _render(self.selection, (trace.transaction, trace), count,
                                  self.masks if masked else None, objects)}
        return (mask_leaves(data, objects) if objects is not None else data), count[0]


def compile_plan(document: DocumentNode) -> TracePlan | None:
    """The plan for a (validated) document of the one supported shape, else None."""
    if len(document.definitions) != 1 or not isinstance(document.definitions[0], OperationDefinitionNode):
        return None
    operation = document.definitions[0]
    roots = operation.selection_set.selections
    if operation.operation != OperationType.QUERY or operation.directives or len(roots) != 1:
        return None
    root = roots[0]
    if not isinstance(root, FieldNode) or root.directives or root.name.value != "transaction" \
            or len(root.arguments or ()) != 1 or root.arguments[0].name.value != "ref":
        return None
    argument, variables = root.arguments[0].value, operation.variable_definitions or ()
    if isinstance(argument, VariableNode) and len(variables) == 1 \
            and variables[0].variable.name.value == argument.name.value:
        variable, literal = argument.name.value, None
    elif isinstance(argument, StringValueNode) and not variables:
        variable, literal = None, argument.value
    else:
        return None
    selection = _selection(root.selection_set, _TRANSACTION)
    if selection is None:
        return None
    key = (root.alias or root.name).value
    return TracePlan(operation_name=operation.name.value if operation.name else None, field=root, key=key,
                     variable=variable, literal=literal, selection=selection,
                     masks=_masks(selection, key, person_object(None, (key,), False)))
