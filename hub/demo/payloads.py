"""Vendor payloads in each system's real shape (after tests/fixtures and the vendors' docs).

Pure builders: plain dicts in, the JSON object a vendor would send out. Times are epoch seconds on the
simulated clock; money is a Decimal-free string or integer minor units as each vendor writes it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

Line = tuple[str, int]  # (sku, quantity)
SHOPIFY_WAREHOUSE = 61802545322  # the warehouse's Shopify location id (the demo config maps it to WH-1)


def iso(epoch: float, millis: bool = False) -> str:
    moment = datetime.fromtimestamp(epoch, UTC)
    if millis:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def shopify_time(epoch: float) -> str:
    """Shopify writes shop-local times with an offset (the demo shop is on UTC-05:00)."""
    return datetime.fromtimestamp(epoch - 5 * 3600, UTC).strftime("%Y-%m-%dT%H:%M:%S-05:00")


# --- Shopify (storefront) --------------------------------------------------------------------------------


def shopify_order(order_id: int, number: int, lines: list[Line], prices: dict[str, str], at: float,
                  email: str) -> dict[str, Any]:
    items = [{"id": order_id * 10 + i, "sku": sku, "quantity": qty, "price": prices[sku], "title": sku,
              "variant_id": 39072856 + i, "product_id": 632910392 + i, "fulfillment_service": "manual",
              "requires_shipping": True, "grams": 200} for i, (sku, qty) in enumerate(lines)]
    total = sum(int(prices[sku].replace(".", "")) * qty for sku, qty in lines)
    total_text = f"{total // 100}.{total % 100:02d}"
    return {"id": order_id, "name": f"#{number}", "order_number": number, "email": email,
            "created_at": shopify_time(at), "updated_at": shopify_time(at), "currency": "USD",
            "financial_status": "paid", "fulfillment_status": None, "total_price": total_text,
            "subtotal_price": total_text, "total_tax": "0.00", "taxes_included": False, "gateway": "stripe",
            "source_name": "web", "line_items": items, "location_id": None}


def shopify_fulfillment(fulfillment_id: int, order_id: int, lines: list[Line], tracking: str,
                        at: float) -> dict[str, Any]:
    """A fulfillment shipped from the warehouse: real fulfillments name the ``location_id`` they ship from."""
    return {"id": fulfillment_id, "order_id": order_id, "status": "success", "created_at": shopify_time(at),
            "location_id": SHOPIFY_WAREHOUSE,
            "updated_at": shopify_time(at), "service": "manual", "tracking_company": "USPS",
            "tracking_number": tracking, "tracking_numbers": [tracking], "shipment_status": None,
            "line_items": [{"id": order_id * 10 + i, "sku": sku, "quantity": qty}
                           for i, (sku, qty) in enumerate(lines)]}


# --- Stripe (payments, payouts) --------------------------------------------------------------------------


def stripe_event(event_id: str, kind: str, obj: dict[str, Any], at: float) -> dict[str, Any]:
    return {"id": event_id, "object": "event", "api_version": "2024-06-20", "created": int(at),
            "type": kind, "livemode": False, "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None}, "data": {"object": obj}}


def stripe_payment_intent(pi: str, charge: str, cents: int, order_id: int, at: float) -> dict[str, Any]:
    return {"id": pi, "object": "payment_intent", "amount": cents, "amount_received": cents,
            "amount_capturable": 0, "currency": "usd", "status": "succeeded", "created": int(at),
            "latest_charge": charge, "capture_method": "automatic",
            "metadata": {"order_id": str(order_id)}}


def stripe_payout(payout: str, cents: int, at: float, covered: list[tuple[str, int, int]]) -> dict[str, Any]:
    """``covered``: (charge id, gross cents, fee cents) for each balance transaction in the payout."""
    return {"id": payout, "object": "payout", "amount": cents, "currency": "usd", "status": "paid",
            "arrival_date": int(at), "created": int(at), "method": "standard", "type": "bank_account",
            "balance_transactions": {"object": "list", "data": [
                {"id": f"txn_{charge[3:]}", "object": "balance_transaction", "type": "charge", "source": charge,
                 "amount": gross, "fee": fee, "net": gross - fee, "currency": "usd"}
                for charge, gross, fee in covered]}}


# --- Square (stores' POS) --------------------------------------------------------------------------------


def square_event(event_id: str, kind: str, merchant: str, object_type: str, object_id: str, obj: dict[str, Any],
                 at: float) -> dict[str, Any]:
    return {"merchant_id": merchant, "type": kind, "event_id": event_id, "created_at": iso(at, millis=True),
            "data": {"type": object_type, "id": object_id, "object": obj}}


def square_order_created(order_id: str, location: str, at: float) -> dict[str, Any]:
    return {"order_created": {"order_id": order_id, "location_id": location, "state": "OPEN", "version": 1,
                              "created_at": iso(at, millis=True)}}


def square_payment(payment_id: str, order_id: str, location: str, cents: int, at: float) -> dict[str, Any]:
    money = {"amount": cents, "currency": "USD"}
    return {"payment": {"id": payment_id, "order_id": order_id, "location_id": location, "status": "COMPLETED",
                        "amount_money": money, "total_money": money, "approved_money": money,
                        "source_type": "CARD", "created_at": iso(at, millis=True),
                        "updated_at": iso(at, millis=True), "version": 1}}


def square_counts(counts: list[tuple[str, str, int]], at: float) -> dict[str, Any]:
    """``counts``: (catalog object id, location id, quantity in stock)."""
    return {"inventory_counts": [{"catalog_object_id": sku, "catalog_object_type": "ITEM_VARIATION",
                                  "state": "IN_STOCK", "location_id": location, "quantity": str(qty),
                                  "calculated_at": iso(at, millis=True)} for sku, location, qty in counts]}


# --- Amazon SP-API (marketplace), as an EventBridge event ------------------------------------------------


def eventbridge(event_id: str, notification: dict[str, Any], at: float) -> dict[str, Any]:
    return {"version": "0", "id": event_id, "detail-type": notification["NotificationType"],
            "source": "aws.partner/sellingpartnerapi.amazon", "account": "123456789012", "time": iso(at),
            "region": "us-east-1", "resources": [], "detail": notification}


def amazon_order_change(notification_id: str, order_id: str, status: str, lines: list[Line], at: float,
                        shipped: bool = False) -> dict[str, Any]:
    items = [{"OrderItemId": f"OI{order_id[-7:]}{i}", "SellerSKU": sku,
              "OrderItemStatus": status, "Quantity": qty, "QuantityShipped": qty if shipped else 0}
             for i, (sku, qty) in enumerate(lines)]
    return {"NotificationVersion": "1.0", "NotificationType": "ORDER_CHANGE", "PayloadVersion": "1.0",
            "EventTime": iso(at, millis=True),
            "Payload": {"OrderChangeNotification": {
                "NotificationLevel": "OrderLevel", "SellerId": "A3TH9S8BH6GOGM", "AmazonOrderId": order_id,
                "OrderChangeType": "OrderStatusChange",
                "OrderChangeTrigger": {"TimeOfOrderChange": iso(at, millis=True), "ChangeReason": "Order status"},
                "Summary": {"MarketplaceId": "ATVPDKIKX0DER", "OrderStatus": status, "FulfillmentType": "MFN",
                            "OrderType": "StandardOrder", "PurchaseDate": iso(at, millis=True),
                            "NumberOfItemsShipped": sum(q for _, q in lines) if shipped else 0,
                            "NumberOfItemsUnshipped": 0 if shipped else sum(q for _, q in lines),
                            "OrderItems": items}}},
            "NotificationMetadata": {"ApplicationId": "amzn1.sp.solution.demo", "SubscriptionId": "sub-demo",
                                     "PublishTime": iso(at, millis=True), "NotificationId": notification_id}}


def amazon_listing_quantity(notification_id: str, sku: str, quantity: int, at: float) -> dict[str, Any]:
    return {"NotificationVersion": "1.0", "NotificationType": "LISTINGS_ITEM_MFN_QUANTITY_CHANGE",
            "PayloadVersion": "1.0", "EventTime": iso(at, millis=True),
            "Payload": {"SellerId": "A3TH9S8BH6GOGM", "FulfillmentChannelCode": "DEFAULT", "Sku": sku,
                        "Quantity": quantity},
            "NotificationMetadata": {"ApplicationId": "amzn1.sp.solution.demo", "SubscriptionId": "sub-demo",
                                     "PublishTime": iso(at, millis=True), "NotificationId": notification_id}}


# --- EasyPost (carrier) ----------------------------------------------------------------------------------


def easypost_tracker(event_id: str, tracker: str, tracking: str, shipment: str, status: str,
                     scans: list[tuple[str, float]], at: float) -> dict[str, Any]:
    details = [{"object": "TrackingDetail", "status": scan_status, "message": scan_status.replace("_", " "),
                "datetime": iso(when), "source": "USPS"} for scan_status, when in scans]
    return {"id": event_id, "object": "Event", "description": "tracker.updated", "mode": "production",
            "created_at": iso(at), "updated_at": iso(at), "status": "pending",
            "result": {"id": tracker, "object": "Tracker", "mode": "production", "tracking_code": tracking,
                       "status": status, "status_detail": status, "carrier": "USPS", "shipment_id": shipment,
                       "created_at": iso(scans[0][1]), "updated_at": iso(at), "tracking_details": details}}
