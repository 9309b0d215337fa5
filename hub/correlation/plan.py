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

Correlation is a pure plan: :func:`plan` takes a batch's identity keys and the store's :class:`View` of the keys
(and, when something must be re-partitioned, the transactions) they touch, and returns a :class:`Plan`; the store
only reads the view and applies the plan (``hub/store/record.py``).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from itertools import chain

from hub.ids import new_id
from hub.model import IDENTITY, RELATED, STEP_RANK, Ref, is_junk

Key = tuple[str, str]


@dataclass(frozen=True, slots=True)
class CorrelationSettings:
    junk_values: frozenset[str]
    placeholder_threshold: int = 50


def clean_refs(refs: Iterable[Ref], settings: CorrelationSettings) -> list[Ref]:
    """Refs without junk, stripped, each ``(namespace, value)`` once (identity wins over related)."""
    kept: dict[Key, Ref] = {}
    junk = settings.junk_values
    for ref in refs:
        value = ref.value.strip() if isinstance(ref.value, str) else ""
        namespace = ref.namespace.strip() if isinstance(ref.namespace, str) else ""
        if not namespace or is_junk(value, junk):
            continue
        role = ref.role if ref.role in (IDENTITY, RELATED) else IDENTITY
        key = (namespace, value)
        previous = kept.get(key)
        if previous is None or (previous.role == RELATED and role == IDENTITY):
            clean = value == ref.value and namespace == ref.namespace and role == ref.role
            kept[key] = ref if clean else Ref(namespace, value, role)  # an equal ref is kept, not copied
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


@dataclass(frozen=True, slots=True)
class KeyState:
    """What the store holds for one identity key: its transaction, how many events carry it, whether demoted."""

    tx_id: str | None
    events: int
    demoted: bool


@dataclass(slots=True)
class View:
    """The store's view of what a batch touches, read before the batch is applied.

    - ``keys``: the stored state of every identity key the batch or a re-partitioned transaction carries;
    - ``spread``: for each stored, undemoted key of the batch holding more than :func:`spread_floor` values of some
      other namespace on its stored events, the identity keys of other namespaces on those events (a key left out
      cannot reach the threshold with this batch; one never demoted holds at most the threshold per namespace);
    - ``resplit``: transactions to re-partition whatever the batch says (a re-derived event left them);
    - ``members``: for each transaction :func:`to_repartition` names, its stored events and their identity keys.
    """

    keys: dict[Key, KeyState] = field(default_factory=dict)
    spread: dict[Key, set[Key]] = field(default_factory=dict)
    resplit: set[str] = field(default_factory=set)
    members: dict[str, dict[str, frozenset[Key]]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Demotion:
    """A placeholder found: ``key`` links nothing from now on; it had joined ``tx_id``."""

    key: Key
    tx_id: str | None
    events: int  # events carrying it, the batch's included
    spread: dict[str, int]  # other namespace → its distinct values, for those above the threshold


@dataclass(frozen=True, slots=True)
class NewKey:
    key: Key
    tx_id: str | None  # None when demoted in the same batch
    events: int
    demoted: bool


@dataclass(slots=True)
class Plan:
    """What the store does to record a batch's correlation, in any order within one write transaction.

    ``merges`` (loser → survivor) fold whole transactions: every row pointing at the loser then points at the
    survivor and the loser stays an alias. ``moves``/``key_moves`` name each stored event/key of a re-partitioned
    transaction whose transaction changes, so they hold whether applied before or after the merges.
    """

    tx_of: dict[str, str] = field(default_factory=dict)
    new_keys: list[NewKey] = field(default_factory=list)
    counts: dict[Key, int] = field(default_factory=dict)
    demotions: list[Demotion] = field(default_factory=list)
    merges: dict[str, str] = field(default_factory=dict)
    moves: dict[str, str] = field(default_factory=dict)
    key_moves: dict[Key, str] = field(default_factory=dict)
    touched: set[str] = field(default_factory=set)


def spread_floor(batch: Mapping[str, frozenset[Key]], threshold: int) -> int:
    """A stored key with at most this many values of each other namespace cannot pass ``threshold`` with this
    batch, which adds at most ``threshold - floor`` values to any key: the view need not read its spread."""
    added: Counter[Key] = Counter()
    for keys in batch.values():
        for key in keys:
            added[key] += len(keys) - 1
    return threshold - max(added.values(), default=0)


def placeholders(batch: Mapping[str, frozenset[Key]], view: View, threshold: int) -> dict[Key, Demotion]:
    """The batch's undemoted keys whose events (stored and new) carry more than ``threshold`` values of another
    identity namespace. It depends only on the set of events carrying a key, never on their order."""
    carried: dict[Key, list[frozenset[Key]]] = defaultdict(list)
    for keys in batch.values():
        for key in keys:
            carried[key].append(keys)
    found: dict[Key, Demotion] = {}
    for key, holders in carried.items():
        state = view.keys.get(key)
        if state is not None and state.demoted:
            continue
        if len(view.spread.get(key, ())) + sum(len(keys) - 1 for keys in holders) <= threshold:
            continue  # too few other keys in all to exceed the threshold in any namespace
        values: dict[str, set[str]] = defaultdict(set)
        for namespace, value in chain(view.spread.get(key, ()), *holders):
            if namespace != key[0]:
                values[namespace].add(value)
        wide = {namespace: len(seen) for namespace, seen in values.items() if len(seen) > threshold}
        if wide:
            found[key] = Demotion(key, state.tx_id if state else None, (state.events if state else 0) + len(holders),
                                  wide)
    return found


def to_repartition(view: View, demotions: Mapping[Key, Demotion]) -> set[str]:
    """Transactions whose members the plan needs: those asked for, and those a key demoted now had joined."""
    return view.resplit | {d.tx_id for d in demotions.values() if d.tx_id is not None}


def plan(batch: Mapping[str, frozenset[Key]], view: View, threshold: int,
         new_tx: Callable[[], str] = lambda: new_id("tx")) -> Plan:
    """Assign the batch's new events (id → identity keys) to transactions, given the store's ``view``.

    Events sharing an undemoted key join; a batch event joins the transaction its stored keys belong to, and
    transactions it bridges merge into the oldest id. A key demoted now (:func:`placeholders`) joins nothing, and
    the transactions it had joined are re-partitioned: the part holding their oldest event keeps the id, the others
    get new ones. ``view.members`` must hold every transaction :func:`to_repartition` names.
    """
    demotions = placeholders(batch, view, threshold)
    split = to_repartition(view, demotions)
    if missing := split - view.members.keys():
        raise ValueError(f"the view lacks the members of {sorted(missing)}")
    demoted = {key for key, state in view.keys.items() if state.demoted} | demotions.keys()
    sets = UnionFind()
    home: dict[str, str] = {}  # stored event of a re-partitioned transaction → that transaction
    oldest: dict[str, str] = {}  # re-partitioned transaction → the event whose part keeps its id
    key_nodes: set[Key] = set()
    tx_nodes: set[str] = set()
    for tx_id in sorted(split):
        for event, keys in view.members[tx_id].items():
            home[event] = tx_id
            sets.find(("event", event))
            for key in keys - demoted if demoted else keys:
                sets.union(("event", event), ("key", key))
                key_nodes.add(key)
        if view.members[tx_id]:
            oldest[tx_id] = min(view.members[tx_id])
    for event, keys in batch.items():
        sets.find(("event", event))
        for key in keys - demoted if demoted else keys:
            state = view.keys.get(key)
            if state is None or state.tx_id is None or state.tx_id in split:
                sets.union(("event", event), ("key", key))
                key_nodes.add(key)
                if state is not None and state.tx_id in split:  # an event re-derived into its old transaction
                    oldest[state.tx_id] = min(oldest.get(state.tx_id, event), event)
            else:
                sets.union(("event", event), ("tx", state.tx_id))
                tx_nodes.add(state.tx_id)
    claims: dict[object, set[str]] = defaultdict(set)
    for tx_id in tx_nodes:
        claims[sets.find(("tx", tx_id))].add(tx_id)
    for tx_id, event in oldest.items():
        claims[sets.find(("event", event))].add(tx_id)
    nodes: list[object] = [("event", e) for e in dict.fromkeys((*home, *batch))] + [("key", k) for k in key_nodes]
    groups = sets.groups(nodes)
    counts = Counter(key for keys in batch.values() for key in keys)
    result = Plan()
    for root in sorted(groups, key=lambda r: min(n[1] for n in groups[r] if n[0] == "event")):  # type: ignore
        claimed = sorted(claims.get(root, ()))
        survivor = claimed[0] if claimed else new_tx()
        result.merges.update((loser, survivor) for loser in claimed[1:])
        result.touched.add(survivor)
        for kind, value in groups[root]:  # type: ignore[misc]
            if kind == "event":
                if value in batch:
                    result.tx_of[value] = survivor
                elif home[value] != survivor:
                    result.moves[value] = survivor
            elif (state := view.keys.get(value)) is None:
                result.new_keys.append(NewKey(value, survivor, counts[value], False))
            elif state.tx_id != survivor:
                result.key_moves[value] = survivor
    result.new_keys += [NewKey(key, None, counts[key], True) for key in sorted(demotions) if key not in view.keys]
    result.counts = {key: n for key, n in counts.items() if key in view.keys}
    result.demotions = [demotions[key] for key in sorted(demotions)]
    result.touched |= split - result.merges.keys()
    return result


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
