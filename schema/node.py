"""``Node``: the Relay interface. Every id is already global (a type prefix and a ULID: ``tx_…``, ``evt_…``,
``exc_…``, ``dlv_…``), so ``node(id:)`` can refetch any object and Apollo/Relay caches key on ``id`` alone."""

from __future__ import annotations

import strawberry


@strawberry.interface(description="An object with a globally unique id; refetch any of them with `node(id:)`.")
class Node:
    id: strawberry.ID
