"""The shape of a GraphQL document as it would execute: depth, aliases and selections with every fragment
spread expanded, and how often one response key repeats in a selection set — measured in one pass over the
document, each fragment once.

Expanding spreads literally is exponential: 25 fragments that each spread the next twice are 1.4 KB of text and
2^25 selections, which froze the server for minutes (issue 13). Each fragment's figures are memoised by name, so
the walk is linear in the document while the figures are those of the expanded operation (Python integers do not
overflow). A cyclic spread counts nothing here (``NoFragmentCyclesRule`` refuses the document anyway); an unknown
one neither (``KnownFragmentNamesRule``).

Repeated response keys matter because graphql-core's ``OverlappingFieldsCanBeMergedRule`` compares every pair of
fields that share one in a selection set (inline fragments and spread fragments merged in): 490 copies of
``sources { name }``, 8 KB under the token limit, kept it busy for seconds. Every selection set is counted,
fragment definitions included (the rule checks unused ones too).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
)


@dataclass(frozen=True, slots=True)
class Shape:
    """``depth``: nested fields with a selection set (introspection fields ignored, as strawberry's
    ``QueryDepthLimiter`` does); ``aliases``: aliased fields; ``selections``: fields, spreads and inline fragments."""

    depth: int = 0
    aliases: int = 0
    selections: int = 0

    def __add__(self, other: Shape) -> Shape:
        return Shape(max(self.depth, other.depth), self.aliases + other.aliases, self.selections + other.selections)


@dataclass
class _Measure:
    fragments: dict[str, FragmentDefinitionNode]
    repeated: tuple[int, str] = (0, "")  # the most fields sharing one response key in a selection set, and the key
    _done: dict[str, tuple[Shape, Counter[str]]] = field(default_factory=dict)
    _active: set[str] = field(default_factory=set)

    def selection_set(self, selection_set: SelectionSetNode | None) -> tuple[Shape, Counter[str]]:
        """The shape below ``selection_set`` and its response keys (inline fragments and spreads merged in)."""
        total, keys, spread = Shape(), Counter[str](), set()
        for selection in selection_set.selections if selection_set is not None else ():
            if isinstance(selection, FieldNode):
                below, _ = self.checked(selection.selection_set)
                depth = 0 if selection.name.value.startswith("__") or selection.selection_set is None \
                    else 1 + below.depth
                total += Shape(depth, below.aliases + (selection.alias is not None), below.selections + 1)
                keys[(selection.alias or selection.name).value] += 1
            elif isinstance(selection, InlineFragmentNode):
                below, below_keys = self.selection_set(selection.selection_set)
                total += Shape(below.depth, below.aliases, below.selections + 1)
                keys.update(below_keys)
            elif isinstance(selection, FragmentSpreadNode):
                below, below_keys = self.fragment(selection.name.value)
                total += Shape(below.depth, below.aliases, below.selections + 1)
                if selection.name.value not in spread:  # the overlap rule compares a fragment once per set
                    spread.add(selection.name.value)
                    keys.update(below_keys)
        return total, keys

    def checked(self, selection_set: SelectionSetNode | None) -> tuple[Shape, Counter[str]]:
        """:meth:`selection_set`, noting its most repeated response key (for a set the overlap rule compares)."""
        shape, keys = self.selection_set(selection_set)
        if keys:
            key, count = keys.most_common(1)[0]
            if count > self.repeated[0]:
                self.repeated = (count, key)
        return shape, keys

    def fragment(self, name: str) -> tuple[Shape, Counter[str]]:
        done = self._done.get(name)
        if done is not None:
            return done
        definition = self.fragments.get(name)
        if definition is None or name in self._active:
            return Shape(), Counter()
        self._active.add(name)
        measured = self._done[name] = self.checked(definition.selection_set)
        self._active.discard(name)
        return measured


@dataclass(frozen=True, slots=True)
class Measured:
    """Each operation's expanded shape, and the most repeated response key of any selection set (count, key)."""

    operations: dict[OperationDefinitionNode, Shape]
    repeated: tuple[int, str]


def measure(document: DocumentNode) -> Measured:
    """The document's shape, in time linear in the document."""
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    walk = _Measure(fragments)
    operations = {d: walk.checked(d.selection_set)[0] for d in document.definitions
                  if isinstance(d, OperationDefinitionNode)}
    for name in fragments:  # unused ones too: validation walks them
        walk.fragment(name)
    return Measured(operations, walk.repeated)


def shape_errors(document: DocumentNode, max_depth: int, max_aliases: int, max_selections: int,
                 max_repeated_fields: int) -> list[GraphQLError]:
    """Errors for a document over a limit; the messages keep strawberry's wording for depth and aliases."""
    measured = measure(document)
    errors = []
    for operation, shape in measured.operations.items():
        name = operation.name.value if operation.name else "anonymous"
        if shape.depth > max_depth:
            errors.append(GraphQLError(f"'{name}' exceeds maximum operation depth of {max_depth}", [operation],
                                       extensions={"code": "MAX_DEPTH_EXCEEDED"}))
        if shape.selections > max_selections:
            errors.append(GraphQLError(
                f"'{name}' has {shape.selections} selections once its fragments are expanded; the limit is "
                f"{max_selections} (spread each fragment fewer times)", [operation],
                extensions={"code": "MAX_SELECTIONS_EXCEEDED", "selections": shape.selections,
                            "maxSelections": max_selections}))
    aliases = sum(shape.aliases for shape in measured.operations.values())
    if aliases > max_aliases:
        errors.append(GraphQLError(f"{aliases} aliases found. Allowed: {max_aliases}",
                                   extensions={"code": "MAX_ALIASES_EXCEEDED"}))
    count, key = measured.repeated
    if count > max_repeated_fields:
        errors.append(GraphQLError(
            f"`{key}` is selected {count} times in one selection set (fragments included); the limit is "
            f"{max_repeated_fields}: select each field once", extensions={
                "code": "MAX_REPEATED_FIELDS_EXCEEDED", "field": key, "count": count,
                "maxRepeatedFields": max_repeated_fields}))
    return errors
