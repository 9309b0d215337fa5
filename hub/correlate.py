"""Correlation: which transaction each event belongs to (DESIGN §3).

The partition rule, which never depends on arrival order:
- events sharing an *identity* ref belong to one transaction (connected components, so a link that
  arrives last still merges A↔B and C↔D into one);
- junk values (``""``, ``0``, ``null``, ``n/a``, all zeros, …) are never refs;
- an identity ref carried by events that between them hold more than ``placeholder_threshold``
  different values of some other identity namespace is a placeholder (``PENDING`` on 200 orders): it is
  demoted to a link that merges nothing, what it had joined is split again, and a correlation exception
  names it. The condition only grows with the event set, so it is the same whatever the order.
When transactions merge, the oldest id survives and the others become aliases.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from hub.model import IDENTITY, RELATED, STEP_RANK, Ref, is_junk

Key = tuple[str, str]


@dataclass(frozen=True, slots=True)
class CorrelationSettings:
    junk_values: frozenset[str]
    placeholder_threshold: int = 50


def clean_refs(refs: Iterable[Ref], settings: CorrelationSettings) -> list[Ref]:
    """Refs without junk, stripped, each ``(namespace, value)`` once (identity wins over related)."""
    kept: dict[Key, Ref] = {}
    for ref in refs:
        value = ref.value.strip() if isinstance(ref.value, str) else ""
        namespace = ref.namespace.strip() if isinstance(ref.namespace, str) else ""
        if not namespace or is_junk(value, settings.junk_values):
            continue
        role = ref.role if ref.role in (IDENTITY, RELATED) else IDENTITY
        previous = kept.get((namespace, value))
        if previous is None or (previous.role == RELATED and role == IDENTITY):
            kept[(namespace, value)] = Ref(namespace, value, role)
    return list(kept.values())


class UnionFind:
    """Disjoint sets over hashable nodes (path halving, union by size)."""

    def __init__(self) -> None:
        self._parent: dict[object, object] = {}
        self._size: dict[object, int] = {}

    def find(self, node: object) -> object:
        parent = self._parent
        if node not in parent:
            parent[node] = node
            return node
        while parent[node] != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    def union(self, a: object, b: object) -> None:
        root_a, root_b = self.find(a), self.find(b)
        if root_a == root_b:
            return
        if self._size.get(root_a, 1) < self._size.get(root_b, 1):
            root_a, root_b = root_b, root_a
        self._parent[root_b] = root_a
        self._size[root_a] = self._size.get(root_a, 1) + self._size.get(root_b, 1)

    def groups(self, nodes: Iterable[object]) -> dict[object, list[object]]:
        result: dict[object, list[object]] = {}
        for node in nodes:
            result.setdefault(self.find(node), []).append(node)
        return result


def components(members: dict[str, set[Key]]) -> list[set[str]]:
    """Connected components of items (e.g. event ids) linked by shared keys (their merging identity refs)."""
    sets = UnionFind()
    for item, keys in members.items():
        sets.find(("item", item))
        for key in keys:
            sets.union(("item", item), ("key", key))
    grouped = sets.groups([("item", item) for item in members])
    return [{node[1] for node in group} for group in grouped.values()]  # type: ignore[index]


def out_of_order(steps: list[tuple[str, str, object]]) -> set[str]:
    """Ids of events that occurred before a step they logically follow; ``steps`` = (id, type, occurred_at)."""
    ranked = sorted((STEP_RANK[t], when, ident) for ident, t, when in steps if t in STEP_RANK)
    flagged: set[str] = set()
    latest_lower = None  # latest occurred_at among strictly lower ranks
    index = 0
    while index < len(ranked):
        rank = ranked[index][0]
        group = [item for item in ranked[index:] if item[0] == rank]
        for _, when, ident in group:
            if latest_lower is not None and when < latest_lower:
                flagged.add(ident)
        group_latest = max(when for _, when, _ in group)
        latest_lower = group_latest if latest_lower is None else max(latest_lower, group_latest)
        index += len(group)
    return flagged
