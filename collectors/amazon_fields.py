"""Field access shared by the Amazon SP-API parsers: either casing Amazon uses, and drift that names the field."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from collectors.base import ParseError, decimal_field
from hub.model import Amount


def get(obj: Any, name: str) -> Any:
    """``obj[name]`` in either casing Amazon uses (``NotificationType`` / ``notificationType``)."""
    if not isinstance(obj, dict):
        return None
    value = obj.get(name)
    return value if value is not None else obj.get(name[:1].lower() + name[1:])


def need(obj: Any, name: str, where: str) -> Any:
    """``get`` for a field the mapping cannot do without: a missing one is drift, named by its full path."""
    value = get(obj, name)
    if value is None:
        raise ParseError(f"missing field '{where}.{name}'")
    return value


def money(obj: Any, where: str, kind: str) -> Amount:
    """An SP-API ``Currency`` object (``{"CurrencyCode": "USD", "CurrencyAmount": 10.5}``, either casing)."""
    if not isinstance(obj, dict):
        raise ParseError(f"field {where!r} must be a currency object")
    value = decimal_field(get(obj, "CurrencyAmount"), f"{where}.CurrencyAmount", "amount")
    return Amount(value, str(need(obj, "CurrencyCode", where)).upper(), kind)


def objects(obj: Any, name: str, where: str) -> list[dict[str, Any]]:
    """The list field ``name`` (absent: empty); anything but a list of objects is drift."""
    items = get(obj, name)
    if items is None:
        return []
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise ParseError(f"field '{where}.{name}' must be an array of objects")
    return items


def total(amounts: list[Amount], currency: str) -> Decimal:
    """The sum of the amounts in ``currency`` (amounts in other currencies are not added to it)."""
    return sum((a.value for a in amounts if a.currency == currency), Decimal(0))
