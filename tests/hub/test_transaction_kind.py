"""The kind a transaction is filed under, from the event types it holds."""

from hub.model import transaction_kind


def test_orders_win_over_the_movements_they_cause() -> None:
    assert transaction_kind({"order.placed", "shipment.shipped", "inventory.reserved"}) == "order"
    assert transaction_kind({"payment.captured"}) == "order"


def test_movements_are_filed_by_their_own_kind() -> None:
    assert transaction_kind({"transfer.shipped", "inventory.snapshot"}) == "transfer"
    assert transaction_kind({"return.received"}) == "return"
    assert transaction_kind({"receipt.received"}) == "receipt"
    assert transaction_kind({"settlement.paid"}) == "settlement"


def test_a_stock_count_alone_is_an_adjustment_not_an_order() -> None:
    assert transaction_kind({"inventory.snapshot"}) == "adjustment"
    assert transaction_kind({"inventory.snapshot", "inventory.published"}) == "adjustment"
    assert transaction_kind({"inventory.adjusted", "erp.posted"}) == "adjustment"
    assert transaction_kind({"shipment.in_transit"}) == "order"  # a carrier scan whose order is not linked yet
