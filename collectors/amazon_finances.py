"""Amazon money: ``TRANSACTION_UPDATE`` notifications and polled Finances API settlements → money events.

``TRANSACTION_UPDATE`` (schema ``TransactionUpdateNotification.json`` in amzn/selling-partner-api-models): one
transaction Amazon posted to the seller's account, ``TotalAmount`` net of Amazon's fees, linked to its order by
``RelatedIdentifiers`` (``OrderId`` → identity ``<source>:order``; ``ShipmentId`` → ``:shipment``;
``FinancialEventGroupId``/``SettlementId`` → related ``:settlement``). ``TransactionType`` ``Shipment`` →
``payment.captured``, ``Refund`` → ``refund.issued``; any other type → ``order.updated`` that says which type
it was (``error`` names it; the status stays ``ok``). The amount's kind is ``net``. When the payload carries
``Breakdowns`` (the Finances API 2024-06-19 ``Breakdown``: ``BreakdownType``, ``BreakdownAmount``), one more
event per kind holds that kind's sum: ``principal``, ``tax``, ``commission``, ``fee`` (any other ``…Fee``
type), else the type in lower case.

Settlement (a ``FinancialEventGroup`` read by the ``amazon-finances`` poll style, ``X-Crosstrace-Polled:
amazon-finances``): ``settlement.paid`` with the group's ``OriginalTotal`` (kind ``settlement``), identity
``<source>:settlement`` = ``FinancialEventGroupId``, related ``<source>:order`` refs to every order its events
cover; plus, as the Stripe payout does, a ``gross`` and a ``fee`` event so the hub checks gross − fees =
settled. ``gross`` sums what buyers paid (``ItemChargeList``, ``OrderChargeList``, promotions, their
adjustments, and ``AdjustmentEventList`` amounts); ``fee`` is minus the sum of Amazon's fees (``ItemFeeList``,
``ShipmentFeeList``, ``OrderFeeList``, their adjustments, ``ItemTaxWithheldList`` — marketplace facilitator
tax Amazon keeps — and ``ServiceFeeEventList``). Event lists of ``ShipmentEvent`` shape are read:
``ShipmentEventList``, ``RefundEventList``, ``GuaranteeClaimEventList``, ``ChargebackEventList``. The
``Commission`` fees are also summed as a ``commission`` event (marketplace commission, positive), and each order
covered gets a ``line`` event: what its events contributed net of Amazon's fees (its charges plus its fees as
Amazon signs them), naming the order by a related ref, for the payout reconciliation. Other
lists (product ads, rentals, …) and a carried ``BeginningBalance`` are not read: money in them shows as an
``amount_mismatch`` naming the difference, never silently.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from collectors.amazon_fields import get, money, need, objects, total
from collectors.base import ParseError, compact, parse_time, ref
from hub.config import Source
from hub.model import RELATED, Amount, Event, Ref

POLLED = "amazon-finances"  # X-Crosstrace-Polled of a settled financial event group with its events
_TYPES = {"shipment": "payment.captured", "refund": "refund.issued"}
_IDENTIFIERS = {"orderid": ("order", None), "amazonorderid": ("order", None), "shipmentid": ("shipment", None),
                "financialeventgroupid": ("settlement", RELATED), "settlementid": ("settlement", RELATED)}
_KINDS = {"principal": "principal", "tax": "tax", "commission": "commission"}
_SHIPMENT_LISTS = ("ShipmentEventList", "RefundEventList", "GuaranteeClaimEventList", "ChargebackEventList")
_CHARGES = ("ItemChargeList", "ItemChargeAdjustmentList", "OrderChargeList", "OrderChargeAdjustmentList")
_PROMOTIONS = ("PromotionList", "PromotionAdjustmentList")
_FEES = ("ItemFeeList", "ItemFeeAdjustmentList", "ShipmentFeeList", "ShipmentFeeAdjustmentList", "OrderFeeList",
         "OrderFeeAdjustmentList")


def transaction_update(event: Event, payload: dict[str, Any], source: Source) -> list[Event]:
    """Fill ``event`` from a TRANSACTION_UPDATE payload; returns the per-kind breakdown events, if any."""
    where = "Payload.TransactionUpdateNotification"
    body = need(payload, "TransactionUpdateNotification", "Payload")
    kind = str(need(body, "TransactionType", where))
    event.type = _TYPES.get(kind.lower(), "order.updated")
    if event.type == "order.updated":
        event.error = f"unmapped TransactionType {kind!r}"
    event.occurred_at = parse_time(need(body, "PostedDate", where), f"{where}.PostedDate")
    event.amount = money(need(body, "TotalAmount", where), f"{where}.TotalAmount", "net")
    refs: list[Ref | None] = []
    for index, item in enumerate(objects(body, "RelatedIdentifiers", where)):
        item_where = f"{where}.RelatedIdentifiers.{index}"
        name = str(need(item, "RelatedIdentifierName", item_where)).replace("_", "").lower()
        obj, role = _IDENTIFIERS.get(name, (None, None))
        if obj is not None:
            refs.append(ref(source, obj, need(item, "RelatedIdentifierValue", item_where), role or "identity"))
    event.refs = compact(refs)
    sums: dict[str, list[Amount]] = {}
    for index, item in enumerate(objects(body, "Breakdowns", where)):
        item_where = f"{where}.Breakdowns.{index}"
        name = _kind(str(need(item, "BreakdownType", item_where)))
        sums.setdefault(name, []).append(money(need(item, "BreakdownAmount", item_where),
                                               f"{item_where}.BreakdownAmount", name))
    return [Event(source=event.source, source_event_id=f"{event.source_event_id}:{name}", type=event.type,
                  occurred_at=event.occurred_at, refs=list(event.refs),
                  amount=Amount(total(amounts, amounts[0].currency), amounts[0].currency, name),
                  traceparent=event.traceparent) for name, amounts in sums.items()]


def _kind(breakdown_type: str) -> str:
    lowered = breakdown_type.lower()
    return _KINDS.get(lowered) or ("fee" if "fee" in lowered else lowered)


def settlement(document: dict[str, Any], source: Source, traceparent: str | None = None) -> list[Event]:
    """The settlement events of one polled financial event group (its events merged under ``FinancialEvents``)."""
    group = need(document, "FinancialEventGroup", "body")
    where = "FinancialEventGroup"
    group_id = need(group, "FinancialEventGroupId", where)
    event_id = f"financial-event-group:{group_id}"
    paid = money(need(group, "OriginalTotal", where), f"{where}.OriginalTotal", "settlement")
    when = get(group, "FundTransferDate") or need(group, "FinancialEventGroupEnd", where)
    occurred = parse_time(when, f"{where}.FundTransferDate")
    financial = get(document, "FinancialEvents") or {}
    if not isinstance(financial, dict):
        raise ParseError("field 'FinancialEvents' must be an object")
    charges, fees, orders = _components(financial)
    refs = compact([ref(source, "settlement", group_id),
                    *(ref(source, "order", order, RELATED) for order in orders)])
    events = [Event(source=source.name, source_event_id=event_id, type="settlement.paid", occurred_at=occurred,
                    refs=refs, amount=paid, traceparent=traceparent)]
    if charges or fees:
        currency = paid.currency
        commission = [fee for fee in fees if fee.kind == "commission"]
        for name, value in (("gross", total(charges, currency)), ("fee", -total(fees, currency)),
                            ("commission", -total(commission, currency))):
            if name != "commission" or commission:
                events.append(Event(source=source.name, source_event_id=f"{event_id}:{name}", type="settlement.paid",
                                    occurred_at=occurred, refs=list(refs), amount=Amount(value, currency, name),
                                    traceparent=traceparent))
    own = refs[0]
    for order, amounts in orders.items():
        for currency in sorted({a.currency for a in amounts}):
            events.append(Event(source=source.name, source_event_id=f"{event_id}:line:{order}:{currency}",
                                type="settlement.paid", occurred_at=occurred,
                                refs=compact([own, ref(source, "order", order, RELATED)]),
                                amount=Amount(total(amounts, currency), currency, "line"), traceparent=traceparent))
    return events


def _components(financial: dict[str, Any]) -> tuple[list[Amount], list[Amount], dict[str, list[Amount]]]:
    """What buyers paid, what Amazon kept (as Amazon signs them: fees negative; a ``Commission`` fee has the kind
    ``commission``), and per order covered, both (its net contribution)."""
    charges: list[Amount] = []
    fees: list[Amount] = []
    orders: dict[str, list[Amount]] = {}
    for list_name in _SHIPMENT_LISTS:
        for index, entry in enumerate(objects(financial, list_name, "FinancialEvents")):
            where = f"FinancialEvents.{list_name}.{index}"
            entry_charges = _charges(entry, where, ("OrderChargeList", "OrderChargeAdjustmentList"))
            entry_fees = _fees(entry, where, ("ShipmentFeeList", "ShipmentFeeAdjustmentList", "OrderFeeList",
                                              "OrderFeeAdjustmentList"))
            for items in ("ShipmentItemList", "ShipmentItemAdjustmentList"):
                for number, item in enumerate(objects(entry, items, where)):
                    item_where = f"{where}.{items}.{number}"
                    entry_charges += _charges(item, item_where, _CHARGES) + _promotions(item, item_where)
                    entry_fees += _fees(item, item_where, _FEES)
                    for withheld_index, withheld in enumerate(objects(item, "ItemTaxWithheldList", item_where)):
                        entry_fees += _charges(withheld, f"{item_where}.ItemTaxWithheldList.{withheld_index}",
                                               ("TaxesWithheld",))
            charges += entry_charges
            fees += entry_fees
            order = get(entry, "AmazonOrderId")
            if isinstance(order, str) and order:
                orders.setdefault(order, []).extend(entry_charges + entry_fees)
    for index, entry in enumerate(objects(financial, "ServiceFeeEventList", "FinancialEvents")):
        fees += _fees(entry, f"FinancialEvents.ServiceFeeEventList.{index}", ("FeeList",))
    for index, entry in enumerate(objects(financial, "AdjustmentEventList", "FinancialEvents")):
        where = f"FinancialEvents.AdjustmentEventList.{index}"
        charges.append(money(need(entry, "AdjustmentAmount", where), f"{where}.AdjustmentAmount", "gross"))
    return charges, fees, orders


def _charges(obj: dict[str, Any], where: str, lists: Iterable[str]) -> list[Amount]:
    return _amounts(obj, where, lists, "ChargeAmount")


def _fees(obj: dict[str, Any], where: str, lists: Iterable[str]) -> list[Amount]:
    return _amounts(obj, where, lists, "FeeAmount")


def _promotions(obj: dict[str, Any], where: str) -> list[Amount]:
    return _amounts(obj, where, _PROMOTIONS, "PromotionAmount")


def _amounts(obj: dict[str, Any], where: str, lists: Iterable[str], field: str) -> list[Amount]:
    found = []
    for name in lists:
        for index, component in enumerate(objects(obj, name, where)):
            kind = "commission" if str(get(component, "FeeType") or "").lower() == "commission" else "component"
            found.append(money(need(component, field, f"{where}.{name}.{index}"), f"{where}.{name}.{index}.{field}",
                               kind))
    return found


def merge(pages: Iterable[dict[str, Any]]) -> dict[str, list[Any]]:
    """The ``FinancialEvents`` of several pages as one object: each event list concatenated in page order."""
    merged: dict[str, list[Any]] = {}
    for page in pages:
        for name, items in page.items():
            if isinstance(items, list):
                merged.setdefault(name, []).extend(items)
    return merged


__all__ = ["POLLED", "merge", "settlement", "transaction_update"]
