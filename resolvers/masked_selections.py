"""Selections a caller whose results are masked may not make: masking reads the finished result by its keys.

:class:`resolvers.permissions.AccessControl` masks personal data in the result by key names (``email``,
``customer``, a ref's ``namespace`` beside its ``value``). A GraphQL alias renames a key, and a ``value`` selected
without the ``namespace`` or ``name`` that says what it is reads like any other text: either way a personal value
would pass unmasked. So below admin (hub.access.privacy.masking_reads):

- a field whose name masking reads cannot be aliased to another name;
- on an object type with a ``value`` beside a ``namespace`` or ``name`` (a ref, a business attribute), a selection
  set that selects ``value`` selects that ``namespace`` / ``name`` too, unaliased, in the same selection set.
"""

from __future__ import annotations

from typing import Any

from graphql import FieldNode, GraphQLError, GraphQLObjectType, SelectionSetNode, ValidationRule

from hub.access.privacy import masking_reads

__all__ = ["MaskedSelections"]


class MaskedSelections(ValidationRule):
    """Refuses aliases and partial ref/attribute selections that would let personal data past masking."""

    def enter_field(self, node: FieldNode, *_: Any) -> None:
        name = node.name.value
        if node.alias is not None and node.alias.value != name and masking_reads(name):
            self.report_error(GraphQLError(
                f"Field '{name}' cannot be aliased ('{node.alias.value}') by a caller whose personal data is "
                "masked: masking reads the field's own name. Select it as it is.", node))

    def enter_selection_set(self, node: SelectionSetNode, *_: Any) -> None:
        parent = self.context.get_parent_type()
        if not isinstance(parent, GraphQLObjectType) or "value" not in parent.fields:
            return
        naming = [key for key in ("namespace", "name") if key in parent.fields]
        if not naming:
            return
        fields = [s for s in node.selections if isinstance(s, FieldNode)]
        if "value" not in {f.name.value for f in fields}:
            return
        plain = {f.name.value for f in fields if f.alias is None or f.alias.value == f.name.value}
        if not plain.intersection(naming):
            self.report_error(GraphQLError(
                f"'{parent.name}.value' needs '{naming[0]}' beside it, in the same selection, for a caller whose "
                f"personal data is masked: masking reads it to know whether the value is personal.", node))
