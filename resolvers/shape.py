"""The shape of a GraphQL document as it would execute: depth, aliases and selections with every fragment
spread expanded — measured in one pass over the document, each fragment once.

Expanding spreads literally is exponential: 25 fragments that each spread the next twice are 1.4 KB of text and
2^25 selections, which froze the server for minutes (issue 13). Each fragment's figures are memoised by name, so
the walk is linear in the document while the figures are those of the expanded operation (Python integers do not
overflow). A cyclic spread counts nothing here (``NoFragmentCyclesRule`` refuses the document anyway); an unknown
one neither (``KnownFragmentNamesRule``).
"""

from __future__ import annotations

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
    _done: dict[str, Shape] = field(default_factory=dict)
    _active: set[str] = field(default_factory=set)

    def selection_set(self, selection_set: SelectionSetNode | None) -> Shape:
        total = Shape()
        for selection in selection_set.selections if selection_set is not None else ():
            if isinstance(selection, FieldNode):
                below = self.selection_set(selection.selection_set)
                depth = 0 if selection.name.value.startswith("__") or selection.selection_set is None \
                    else 1 + below.depth
                total += Shape(depth, below.aliases + (selection.alias is not None), below.selections + 1)
            elif isinstance(selection, InlineFragmentNode):
                below = self.selection_set(selection.selection_set)
                total += Shape(below.depth, below.aliases, below.selections + 1)
            elif isinstance(selection, FragmentSpreadNode):
                below = self.fragment(selection.name.value)
                total += Shape(below.depth, below.aliases, below.selections + 1)
        return total

    def fragment(self, name: str) -> Shape:
        done = self._done.get(name)
        if done is not None:
            return done
        definition = self.fragments.get(name)
        if definition is None or name in self._active:
            return Shape()
        self._active.add(name)
        shape = self.selection_set(definition.selection_set)
        self._active.discard(name)
        self._done[name] = shape
        return shape


def measure(document: DocumentNode) -> dict[OperationDefinitionNode, Shape]:
    """Each operation's expanded shape, in time linear in the document."""
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    walk = _Measure(fragments)
    return {d: walk.selection_set(d.selection_set) for d in document.definitions
            if isinstance(d, OperationDefinitionNode)}


def shape_errors(document: DocumentNode, max_depth: int, max_aliases: int, max_selections: int) -> list[GraphQLError]:
    """Errors for a document over a limit; the messages keep strawberry's wording for depth and aliases."""
    shapes = measure(document)
    errors = []
    for operation, shape in shapes.items():
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
    aliases = sum(shape.aliases for shape in shapes.values())
    if aliases > max_aliases:
        errors.append(GraphQLError(f"{aliases} aliases found. Allowed: {max_aliases}",
                                   extensions={"code": "MAX_ALIASES_EXCEEDED"}))
    return errors
