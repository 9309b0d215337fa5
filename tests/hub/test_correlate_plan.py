"""Correlation as a pure plan: properties of :func:`hub.correlation.plan.plan` over a store held in dicts (no database).

The oracle restates DESIGN §3 on the final set of events: a key whose events carry more than the threshold of
values of another namespace is a placeholder and joins nothing; the rest join by connected components. The
store-level twin is ``test_partition_properties.py`` (fewer cases: each one opens a real database).
"""

from __future__ import annotations

from collections import defaultdict

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.correlation.plan import Key, KeyState, View, plan
from tests.hub.plan_memory import MemoryStore

THRESHOLD = 2

a_key = st.sampled_from([("shop:order", v) for v in ("1", "2", "3", "4", "PENDING")]
                        + [("erp:so", v) for v in ("SO-1", "SO-2", "SO-3", "SO-4", "PENDING")]
                        + [("wms:shipment", v) for v in ("SH-1", "SH-2", "SH-3")])
keysets = st.lists(st.frozensets(a_key, max_size=3), min_size=1, max_size=14)


def placeholders_of(keysets: list[frozenset[Key]], threshold: int) -> set[Key]:
    """Keys whose events carry more than ``threshold`` values of another namespace."""
    spread: dict[Key, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for keys in keysets:
        for key in keys:
            for namespace, value in keys:
                if namespace != key[0]:
                    spread[key][namespace].add(value)
    return {key for key, by_ns in spread.items() if any(len(v) > threshold for v in by_ns.values())}


def components(keysets: list[frozenset[Key]], demoted: set[Key]) -> set[frozenset[int]]:
    """Indexes of events joined by the keys not demoted (connected components)."""
    parent = list(range(len(keysets)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first: dict[Key, int] = {}
    for index, keys in enumerate(keysets):
        for key in keys - demoted:
            parent[find(index)] = find(first.setdefault(key, index))
    groups: dict[int, set[int]] = defaultdict(set)
    for index in range(len(keysets)):
        groups[find(index)].add(index)
    return {frozenset(g) for g in groups.values()}


def record_in_batches(store: MemoryStore, batch: list[tuple[str, frozenset[Key]]], cuts: list[int]) -> None:
    bounds = sorted({0, len(batch), *[c % (len(batch) + 1) for c in cuts]})
    for start, end in zip(bounds, bounds[1:], strict=False):
        store.record(dict(batch[start:end]))
        store.check_invariants()


def as_indexes(partition: set[frozenset[str]]) -> set[frozenset[int]]:
    return {frozenset(int(e.removeprefix("evt_")) for e in group) for group in partition}


@settings(max_examples=1500, deadline=None)
@given(sets=keysets, data=st.data())
def test_partition_is_independent_of_arrival_order_and_batches(sets: list[frozenset[Key]], data: st.DataObject) -> None:
    order = data.draw(st.permutations(range(len(sets))), label="arrival order")
    cuts = data.draw(st.lists(st.integers(0, 20), max_size=4), label="batch cuts")
    store = MemoryStore(THRESHOLD)
    record_in_batches(store, [(f"evt_{i:03d}", sets[i]) for i in order], cuts)
    demoted = placeholders_of(sets, THRESHOLD)
    assert as_indexes(store.partition()) == components(sets, demoted)
    assert {key for key, state in store.keys.items() if state.demoted} == demoted
    assert {d.key for d in store.demotions} == demoted


@settings(max_examples=600, deadline=None)
@given(sets=keysets, data=st.data())
def test_rederived_events_repartition_what_they_left(sets: list[frozenset[Key]], data: st.DataObject) -> None:
    """A replay replaces an event's keys: the partition is then that of the current events (demotion stays).

    A key no event carries any more keeps naming its transaction (as after a retention purge: a bookmarked order
    still resolves, and its next event joins it), so once a batch links through such a key, the partition may
    only be coarser than the current events' components.
    """
    store = MemoryStore(THRESHOLD)
    current = list(sets)
    record_in_batches(store, [(f"evt_{i:03d}", keys) for i, keys in enumerate(sets)],
                      data.draw(st.lists(st.integers(0, 20), max_size=3), label="batch cuts"))
    for index, keys in data.draw(st.lists(st.tuples(st.integers(0, len(sets) - 1), st.frozensets(a_key, max_size=3)),
                                          max_size=4), label="replays"):
        current[index] = keys
        store.record({f"evt_{index:03d}": keys})
        store.check_invariants()
    demoted = {key for key, state in store.keys.items() if state.demoted}
    assert demoted >= placeholders_of(current, THRESHOLD)
    expected, found = components(current, demoted), as_indexes(store.partition())
    if store.stale_links:
        assert all(any(part <= group for group in found) for part in expected)
    else:
        assert found == expected


@settings(max_examples=100, deadline=None)
@given(cuts=st.lists(st.integers(0, 200), max_size=6), data=st.data())
def test_a_placeholder_on_many_orders_is_demoted_once_above_the_threshold(cuts: list[int], data: st.DataObject) -> None:
    orders = data.draw(st.permutations(range(120)), label="arrival order")
    store = MemoryStore(50)
    record_in_batches(store, [(f"evt_{n:03d}", frozenset({("erp:so", f"SO-{n}"), ("shop:order", "PENDING")}))
                              for n in orders], cuts)
    assert len(store.partition()) == 120
    [demotion] = store.demotions
    assert demotion.key == ("shop:order", "PENDING") and demotion.spread["erp:so"] > 50
    assert store.keys[("shop:order", "PENDING")] == KeyState(None, 120, True)


def test_a_late_link_merges_into_the_oldest_transaction() -> None:
    store = MemoryStore(THRESHOLD)
    store.record({"evt_1": frozenset({("shop:order", "1")})})
    store.record({"evt_2": frozenset({("erp:so", "SO-1")})})
    decided = store.record({"evt_3": frozenset({("shop:order", "1"), ("erp:so", "SO-1")})})
    assert decided.merges == {"tx_000001": "tx_000000"} and decided.tx_of == {"evt_3": "tx_000000"}
    assert store.aliases == {"tx_000001": "tx_000000"}
    assert store.partition() == {frozenset({"evt_1", "evt_2", "evt_3"})}


def test_a_placeholder_found_now_splits_and_merges_nothing() -> None:
    """The batch that reveals a placeholder does not first merge what it would have joined (no stray alias)."""
    store = MemoryStore(THRESHOLD)
    store.record({"evt_0": frozenset({("erp:so", "SO-0"), ("shop:order", "PENDING")})})
    store.record({"evt_1": frozenset({("erp:so", "SO-1"), ("shop:order", "PENDING")}),
                  "evt_x": frozenset({("erp:so", "SO-1"), ("wms:shipment", "SH-1")})})
    store.record({"evt_y": frozenset({("wms:shipment", "SH-2")})})
    assert len(store.partition()) == 2
    decided = store.record({"evt_2": frozenset({("erp:so", "SO-2"), ("shop:order", "PENDING"),
                                                ("wms:shipment", "SH-2")})})
    assert decided.merges == {} and [d.key for d in decided.demotions] == [("shop:order", "PENDING")]
    assert decided.moves == {"evt_1": "tx_000002", "evt_x": "tx_000002"}  # evt_0, the oldest, keeps tx_000000
    assert decided.tx_of == {"evt_2": "tx_000001"}  # joins evt_y's transaction through SH-2 alone
    assert store.partition() == {frozenset({"evt_0"}), frozenset({"evt_1", "evt_x"}), frozenset({"evt_2", "evt_y"})}
    assert store.aliases == {}


def test_the_plan_is_a_function_of_its_inputs() -> None:
    view = View(keys={("shop:order", "1"): KeyState("tx_b", 1, False), ("erp:so", "SO-1"): KeyState("tx_a", 2, False)})
    batch = {"evt_9": frozenset({("shop:order", "1"), ("erp:so", "SO-1"), ("wms:shipment", "SH-1")})}
    first, second = (plan(batch, view, THRESHOLD, iter(["tx_new"]).__next__) for _ in range(2))
    assert first == second and first.merges == {"tx_b": "tx_a"} and first.tx_of == {"evt_9": "tx_a"}
    assert [(k.key, k.tx_id, k.events) for k in first.new_keys] == [(("wms:shipment", "SH-1"), "tx_a", 1)]
    assert first.counts == {("shop:order", "1"): 1, ("erp:so", "SO-1"): 1}


def test_a_view_without_the_members_to_repartition_is_refused() -> None:
    with pytest.raises(ValueError, match="tx_gone"):
        plan({}, View(resplit={"tx_gone"}), THRESHOLD)
