"""A store held in dicts that reads the view and applies the plan as ``hub/store/record.py`` does, no database.

It lets the correlation properties run on the pure :func:`hub.correlation.plan.plan` at thousands of cases per second.
Its view follows :class:`hub.correlation.plan.View`'s definition word for word; its apply follows :class:`Plan`'s.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Mapping

from hub.correlation.plan import Demotion, Key, KeyState, Plan, View, placeholders, plan, spread_floor, to_repartition


class MemoryStore:
    """Events (id → transaction, identity keys), keys (the ``ref_keys`` rows), aliases, demotions raised."""

    def __init__(self, threshold: int) -> None:
        self.threshold = threshold
        self.events: dict[str, tuple[str, frozenset[Key]]] = {}
        self.keys: dict[Key, KeyState] = {}
        self.aliases: dict[str, str] = {}
        self.demotions: list[Demotion] = []
        self.stale_links = 0  # batch keys that no stored event carries any more but still name a transaction
        self._ids = itertools.count()

    def new_tx(self) -> str:
        return f"tx_{next(self._ids):06d}"  # increasing, as ULIDs are: the oldest id sorts first

    def record(self, batch: Mapping[str, frozenset[Key]]) -> Plan:
        """Record ``batch`` (event id → identity keys); an id already stored is re-derived (replaced)."""
        resplit: set[str] = set()
        for event in batch:
            if event in self.events:  # forget the earlier version, as record_events does before reading
                tx_id, keys = self.events.pop(event)
                resplit.add(tx_id)
                for key in keys:
                    state = self.keys[key]
                    self.keys[key] = KeyState(state.tx_id, state.events - 1, state.demoted)
        view = self.view(batch, resplit)
        decided = plan(batch, view, self.threshold, self.new_tx)
        self.apply(batch, decided)
        return decided

    def view(self, batch: Mapping[str, frozenset[Key]], resplit: set[str]) -> View:
        view = View(resplit=set(resplit))
        for key in {k for keys in batch.values() for k in keys}:
            if key in self.keys:
                view.keys[key] = self.keys[key]
                self.stale_links += self.keys[key].events == 0 and self.keys[key].tx_id is not None
        floor = spread_floor(batch, self.threshold)
        full = View(keys=view.keys)
        for key, state in view.keys.items():
            if not state.demoted:
                spread = {other for _, keys in self.events.values() if key in keys for other in keys
                          if other[0] != key[0]}
                full.spread[key] = spread
                if max(Counter(ns for ns, _ in spread).values(), default=0) > floor:
                    view.spread[key] = spread
        found = placeholders(batch, view, self.threshold)
        assert found == placeholders(batch, full, self.threshold), "a key below the floor would have been demoted"
        for tx_id in to_repartition(view, found):
            view.members[tx_id] = {event: keys for event, (tx, keys) in self.events.items() if tx == tx_id}
            for keys in view.members[tx_id].values():
                view.keys.update((key, self.keys[key]) for key in keys)
        return view

    def apply(self, batch: Mapping[str, frozenset[Key]], decided: Plan) -> None:
        for new in decided.new_keys:
            assert new.key not in self.keys, f"{new.key} inserted twice"
            self.keys[new.key] = KeyState(new.tx_id, new.events, new.demoted)
        for key, n in decided.counts.items():
            state = self.keys[key]
            self.keys[key] = KeyState(state.tx_id, state.events + n, state.demoted)
        for demotion in decided.demotions:
            state = self.keys[demotion.key]
            self.keys[demotion.key] = KeyState(None, state.events, True)
            self.demotions.append(demotion)
        for event, tx_id in decided.moves.items():
            self.events[event] = (tx_id, self.events[event][1])
        for key, tx_id in decided.key_moves.items():
            state = self.keys[key]
            self.keys[key] = KeyState(tx_id, state.events, state.demoted)
        for loser, survivor in decided.merges.items():  # set-based, as the store's UPDATE … WHERE tx_id = loser
            self.events = {e: (survivor if tx == loser else tx, keys) for e, (tx, keys) in self.events.items()}
            self.keys = {k: KeyState(survivor, s.events, s.demoted) if s.tx_id == loser else s
                         for k, s in self.keys.items()}
            self.aliases = {a: survivor if tx == loser else tx for a, tx in self.aliases.items()}
            self.aliases[loser] = survivor
        for event, keys in batch.items():
            self.events[event] = (decided.tx_of[event], keys)

    def partition(self) -> set[frozenset[str]]:
        groups: dict[str, set[str]] = {}
        for event, (tx_id, _) in self.events.items():
            groups.setdefault(tx_id, set()).add(event)
        return {frozenset(g) for g in groups.values()}

    def check_invariants(self) -> None:
        """What the readers rely on: keys point where their events are, aliases resolve, counts are exact."""
        live = {tx for tx, _ in self.events.values()}
        carried: dict[Key, list[str]] = {}
        for event, (_, keys) in self.events.items():
            for key in keys:
                carried.setdefault(key, []).append(event)
        for key, state in self.keys.items():
            holders = carried.get(key, [])
            assert state.events == len(holders), (key, state, holders)
            if state.demoted:
                assert state.tx_id is None, key
            else:
                assert {self.events[e][0] for e in holders} <= {state.tx_id}, (key, state, holders)
        assert set(carried) <= set(self.keys)
        for alias, tx_id in self.aliases.items():
            assert tx_id < alias and alias not in live, (alias, tx_id)  # the oldest id survived
        assert len({d.key for d in self.demotions}) == len(self.demotions), "a key demoted twice"
