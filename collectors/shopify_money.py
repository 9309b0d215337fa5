"""Shopify order money (part of the ``shopify`` adapter): an order's amount parts and the tenders that paid it.

Parts: an order (``orders/create``, ``orders/updated``, ``orders/cancelled``) states its ``total_price`` and,
inside it, ``total_tax``, the shipping charged (``total_shipping_price_set.shop_money.amount``, else the sum of
``shipping_lines[].price``) and ``total_discounts`` (https://shopify.dev/docs/api/admin-rest/latest/resources/order).
Each non-zero one is an amount part of the order event's total (``Event.amount_parts``, kinds ``tax``,
``shipping``, ``discount``): one event per order fact, never an event per part.

Tenders: ``orders/paid`` carries no transactions, only ``payment_gateway_names``. An order paid by gift cards
alone is a ``gift_card`` tender of ``total_price``; any other is a card ``capture`` of it (an order paid by a gift
card *and* a card then counts all of it as card money: set ``options.payments_from = "transactions"`` to count each
tender from ``order_transactions/create`` instead). An order transaction
(https://shopify.dev/docs/api/admin-rest/latest/resources/transaction) of kind ``sale``/``capture`` is
``payment.captured``, ``authorization`` is ``payment.authorized``, ``void`` and ``refund`` stay on the trace as
``unknown`` (``refunds/create`` counts refunds); a ``failure``/``error`` status is ``payment.failed``. With
``payments_from = "transactions"`` a successful sale or capture carries its amount: ``gift_card`` when its
``gateway`` is ``gift_card``, else ``capture`` (not when ``count_payments`` is false: a payment source counts the
card money; gift cards are still counted here, no payment source sees them).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from collectors.base import ParseError, compact, decimal_field, ref, require
from hub.config import Source
from hub.errors import ConfigError
from hub.model import UNKNOWN_TYPE, Amount, Event

GIFT_CARD = "gift_card"
_TRANSACTION_TYPES = {"sale": "payment.captured", "capture": "payment.captured", "authorization": "payment.authorized"}


def from_transactions(source: Source) -> bool:
    """Whether tenders are counted from ``order_transactions/create`` (``options.payments_from``)."""
    return source.options.get("payments_from") == "transactions"


def check_options(source: Source) -> None:
    value = source.options.get("payments_from", "order")
    if value not in ("order", "transactions"):
        raise ConfigError(f"source {source.name!r}: options.payments_from = {value!r}: expected \"order\" or "
                          "\"transactions\"")


def order_parts(payload: dict[str, Any], currency: str) -> list[Amount]:
    """The non-zero tax, shipping and discount of an order: the parts of its total."""
    parts = []
    for kind, value in (("tax", _number(payload.get("total_tax"), "total_tax")), ("shipping", _shipping(payload)),
                        ("discount", _number(payload.get("total_discounts"), "total_discounts"))):
        if value:
            parts.append(Amount(value, currency, kind))
    return parts


def paid_amount(payload: dict[str, Any], source: Source, total: Decimal, currency: str) -> Amount | None:
    """What ``orders/paid`` counts: a gift-card-only order's tender, else the card capture (None when another
    source or the order's transactions count it)."""
    gateways = payload.get("payment_gateway_names")
    gift_only = isinstance(gateways, list) and bool(gateways) and all(g == GIFT_CARD for g in gateways)
    if from_transactions(source):
        return None
    if gift_only:
        return Amount(total, currency, GIFT_CARD)
    return Amount(total, currency, "capture") if source.options.get("count_payments", True) else None


def transaction(event: Event, payload: dict[str, Any], source: Source) -> None:
    """Fill ``event`` from an ``order_transactions/create`` body (the transaction itself)."""
    event.refs = compact([ref(source, "order", require(payload, "order_id")),
                          ref(source, "order_transaction", payload.get("id"))])
    kind, status = payload.get("kind"), payload.get("status")
    event.type = _TRANSACTION_TYPES.get(kind, UNKNOWN_TYPE) if isinstance(kind, str) else UNKNOWN_TYPE
    if status in ("failure", "error") and event.type != UNKNOWN_TYPE:
        event.type, event.status = "payment.failed", "failed"
        event.error = str(payload.get("message") or payload.get("error_code") or f"transaction {status}")
        return
    if event.type != "payment.captured" or status != "success" or not from_transactions(source):
        return
    gift = payload.get("gateway") == GIFT_CARD
    if gift or source.options.get("count_payments", True):
        currency = _currency(payload)
        event.amount = Amount(decimal_field(require(payload, "amount"), "amount"), currency,
                              GIFT_CARD if gift else "capture")


def _currency(payload: dict[str, Any]) -> str:
    """A transaction's ``currency``, else that of its ``amount_set.shop_money`` (API versions differ)."""
    money = payload.get("amount_set")
    shop = money.get("shop_money") if isinstance(money, dict) else None
    value = payload.get("currency") or (shop.get("currency_code") if isinstance(shop, dict) else None)
    if not isinstance(value, str) or not value.strip():
        raise ParseError("missing field 'currency'")
    return value.strip().upper()


def _shipping(payload: dict[str, Any]) -> Decimal | None:
    money = payload.get("total_shipping_price_set")
    shop = money.get("shop_money") if isinstance(money, dict) else None
    if isinstance(shop, dict) and shop.get("amount") is not None:
        return decimal_field(shop["amount"], "total_shipping_price_set.shop_money.amount")
    lines = payload.get("shipping_lines")
    if not isinstance(lines, list):
        return None
    return sum((_number(line.get("price"), f"shipping_lines.{index}.price") or Decimal(0)
                for index, line in enumerate(lines) if isinstance(line, dict)), Decimal(0))


def _number(value: Any, where: str) -> Decimal | None:
    return None if value is None else decimal_field(value, where)


__all__ = ["check_options", "order_parts", "paid_amount", "transaction"]
