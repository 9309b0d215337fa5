"""Shopify order money (collectors.shopify_money): amount parts of an order and the tenders that paid it, from the
real order and transaction payloads (tests/fixtures/shopify)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from collectors import shopify
from collectors.base import ParseError
from hub.errors import ConfigError
from hub.model import Amount, Ref
from tests.collectors.test_shopify import delivery, make_source, parse_one, resource


def test_an_order_states_its_tax_shipping_and_discount_as_parts_of_its_total() -> None:
    order = resource("order")  # total 409.94 USD, tax 11.94, free shipping, no discount
    placed = parse_one("orders/create", order)
    assert placed.amount == Amount(Decimal("409.94"), "USD", "total")
    assert placed.amount_parts == [Amount(Decimal("11.94"), "USD", "tax")]
    order.update(total_discounts="5.00", total_shipping_price_set={"shop_money": {"amount": "7.50",
                                                                                  "currency_code": "USD"}})
    assert parse_one("orders/updated", order).amount_parts == [
        Amount(Decimal("11.94"), "USD", "tax"), Amount(Decimal("7.50"), "USD", "shipping"),
        Amount(Decimal("5.00"), "USD", "discount")]
    del order["total_shipping_price_set"]
    order["shipping_lines"] = [{"price": "4.00"}, {"price": "1.50"}]  # older payloads: the lines' prices
    assert Amount(Decimal("5.50"), "USD", "shipping") in parse_one("orders/cancelled", order).amount_parts
    assert parse_one("orders/paid", order).amount_parts == []


def test_an_order_paid_by_gift_cards_alone_is_a_gift_card_tender_not_a_card_capture() -> None:
    order = dict(resource("order"), payment_gateway_names=["gift_card"])
    assert parse_one("orders/paid", order).amount == Amount(Decimal("409.94"), "USD", "gift_card")
    card = dict(order, payment_gateway_names=["shopify_payments"])
    assert parse_one("orders/paid", card).amount == Amount(Decimal("409.94"), "USD", "capture")


def test_split_tenders_are_counted_from_the_order_transactions() -> None:
    source = make_source(payments_from="transactions")
    order = dict(resource("order"), payment_gateway_names=["gift_card", "shopify_payments"])
    assert parse_one("orders/paid", order, source).amount is None  # the transactions count each tender
    sale = dict(resource("transaction"), kind="sale", currency="USD")
    gift = parse_one("order_transactions/create", dict(sale, gateway="gift_card", amount="100.00"), source)
    card = parse_one("order_transactions/create", dict(sale, id=389404470, gateway="shopify_payments",
                                                        amount="309.94"), source)
    assert (gift.type, gift.amount) == ("payment.captured", Amount(Decimal("100.00"), "USD", "gift_card"))
    assert (card.type, card.amount) == ("payment.captured", Amount(Decimal("309.94"), "USD", "capture"))
    assert gift.refs == [Ref("shop:order", "450789469"), Ref("shop:order_transaction", "389404469")]
    # a payment source counts the card money: only the gift card is counted here
    other = make_source(payments_from="transactions", count_payments=False)
    assert parse_one("order_transactions/create", dict(sale, gateway="shopify_payments"), other).amount is None
    assert parse_one("order_transactions/create", dict(sale, gateway="gift_card"), other).amount is not None
    # without the option an order transaction stays on the trace without money (orders/paid counts it)
    assert parse_one("order_transactions/create", sale).amount is None


def test_an_order_transaction_maps_authorizations_and_failures() -> None:
    authorization = parse_one("order_transactions/create", resource("transaction"))  # the fixture: authorization
    assert authorization.type == "payment.authorized" and authorization.amount is None
    failed = parse_one("order_transactions/create", dict(resource("transaction"), kind="sale", status="failure",
                                                          message="card declined"))
    assert (failed.type, failed.status, failed.error) == ("payment.failed", "failed", "card declined")


def test_a_counted_transaction_without_a_currency_and_a_bad_option_are_named() -> None:
    sale = dict(resource("transaction"), kind="sale")  # the fixture's API version has no currency
    with pytest.raises(ParseError, match="'currency'"):
        shopify.parse(delivery("order_transactions/create", sale), make_source(payments_from="transactions"))
    with pytest.raises(ConfigError, match="payments_from"):
        shopify.check_options(make_source(payments_from="both"))
