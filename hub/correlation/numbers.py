"""A transaction's business number: the ref people call it by (order ``#1008``, ``TR-9``, ``RMA-2002``, a payout id).

Pages and lists show it first and the transaction id second. It is one of the transaction's identity refs, chosen
by the object its namespace names, in the order a person would recognise for the transaction's kind.
"""

from __future__ import annotations

from collections.abc import Iterable

# Per transaction kind, the ref objects that name it, best first (``shop:order_name`` is Shopify's "#1008").
NUMBER_OBJECTS: dict[str, tuple[str, ...]] = {
    "order": ("order_name", "order_number", "order", "sales_order", "payment_intent"),
    "transfer": ("transfer", "transfer_order"),
    "return": ("rma", "return", "return_order"),
    "settlement": ("payout", "settlement", "settlement_id"),
    "receipt": ("receipt", "asn", "purchase_order"),
    "adjustment": ("stock_count", "adjustment"),
}


def business_number(kind: str, refs: Iterable[tuple[str, str]]) -> tuple[str, str] | None:
    """The (namespace, value) the transaction is best known by, of its identity ``refs``; None when it has none."""
    objects = NUMBER_OBJECTS.get(kind, ())
    ranked = sorted(refs, key=lambda ref: (_rank(ref[0], objects), ref[0], ref[1]))
    return ranked[0] if ranked else None


def _rank(namespace: str, objects: tuple[str, ...]) -> int:
    obj = namespace.rpartition(":")[2]
    return objects.index(obj) if obj in objects else len(objects)
