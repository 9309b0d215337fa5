"""Detection rules (DESIGN §4): pure functions from one transaction's facts to the exceptions it should have.

Each finding names its rule, severity and subject, and carries evidence (expected vs actual, the events
involved). The evaluator opens what is found and resolves what is no longer found.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from hub.exceptions.flows import StepState
from hub.exceptions.lifecycle import Finding
from hub.model import NOT_PAID_OUT

# A failure a system reports, and the later events that show it recovered.
FAILURES: dict[str, tuple[str, ...]] = {
    "sync.failed": ("sync.succeeded",),
    "payment.failed": ("payment.captured", "payment.authorized"),
    "shipment.exception": ("shipment.delivered", "shipment.in_transit", "shipment.shipped"),
}
# Quantity stages along each chain, in order; a later stage must not exceed (or, at its end, differ from)
# the one before.
ORDER_STAGES = (("ordered", "order.placed"), ("allocated", "fulfillment.allocated"),
                ("shipped", "shipment.shipped"), ("delivered", "shipment.delivered"))
TRANSFER_STAGES = (("shipped", "transfer.shipped"), ("received", "transfer.received"))
RETURN_STAGES = (("requested", "return.requested"), ("received", "return.received"),
                 ("restocked", "return.restocked"))
# Tenders that pay an order but are never paid out by an acquirer (hub.model.NOT_PAID_OUT): the order total is met
# by them as by a card capture, and no settlement is waited for (issue 17: a gift card is not a missing capture).


def captured_kind(event_type: str, amount_kind: str) -> bool:
    """Whether an amount is card money captured: stated as a capture, or a capture event's plain total. A
    marketplace's posting net of its fees (kind ``net``) is not what the buyer paid."""
    return amount_kind == "capture" or (event_type == "payment.captured" and amount_kind == "total")


@dataclass(slots=True)
class TxEvent:
    id: str
    type: str
    source: str
    system_kind: str | None
    occurred_at: datetime
    status: str
    error: str | None
    duplicates: int
    out_of_order: bool
    lines: list[dict] = field(default_factory=list)
    amount: tuple[Decimal, str, str] | None = None  # value, currency, kind


@dataclass(frozen=True, slots=True)
class RuleSettings:
    duplicate_threshold: int = 3
    amount_tolerance: Decimal = Decimal("0.01")


def findings(tx_id: str, kind: str, events: list[TxEvent], steps: list[StepState],
             settings: RuleSettings) -> list[Finding]:
    """Everything wrong with one transaction right now."""
    base = {"tx_id": tx_id, "tx_kind": kind}
    found = [*_overdue(tx_id, steps, base), *_failures(tx_id, events, base),
             *_duplicates(tx_id, events, settings, base), *_out_of_order(tx_id, events, base),
             *_quantities(tx_id, kind, events, base), *_amounts(tx_id, kind, events, settings, base)]
    return found


def _overdue(tx_id: str, steps: list[StepState], base: dict) -> list[Finding]:
    """A step past its due time, owed by the system named in the message and the exception's source columns."""
    found = []
    for step in steps:
        if step.status != "overdue":
            continue
        due = f"step {step.name!r} was due at {step.due_at:%Y-%m-%d %H:%M} UTC"
        message = (f"waiting on {step.waiting_on} since {step.since:%Y-%m-%d %H:%M} UTC: {due}"
                   if step.waiting_on and step.since else f"{due} and has not happened")
        found.append(Finding(
            rule="flow.overdue", type="late", severity="warning", subject=f"{tx_id}:{step.name}", message=message,
            evidence={"step": step.name, "due_at": step.due_at.isoformat() if step.due_at else None,
                      "since": step.since.isoformat() if step.since else None,
                      "waiting_on": {"source": step.owed_by, "kind": step.owed_kind} if step.owed_kind else None,
                      "expected": "done", "actual": "missing"},
            system=step.owed_by, system_kind=step.owed_kind, **base))
    return found


def _failures(tx_id: str, events: list[TxEvent], base: dict) -> list[Finding]:
    result = []
    ordered = sorted(events, key=lambda e: (e.occurred_at, e.id))
    for index, event in enumerate(ordered):
        failed_type = event.type if event.type in FAILURES else None
        if failed_type is None and event.status != "failed":
            continue
        recovery = FAILURES.get(event.type, ())
        recovered = any(later.type in recovery and later.status == "ok" for later in ordered[index + 1:])
        if recovered:
            continue
        result.append(Finding(
            rule="event.failed", type="failed", severity="error", subject=f"{tx_id}:{event.type}:{event.source}",
            message=f"{event.source} reported {event.type} failed" + (f": {event.error}" if event.error else ""),
            evidence={"event": event.id, "type": event.type, "error": event.error,
                      "expected": f"one of {list(recovery)} afterwards" if recovery else "status ok",
                      "actual": "failed"},
            system=event.source, system_kind=event.system_kind, **base))
    return _unique(result)


def _duplicates(tx_id: str, events: list[TxEvent], settings: RuleSettings, base: dict) -> list[Finding]:
    repeated = {e.id: e.duplicates for e in events if e.duplicates}
    total = sum(repeated.values())
    if total <= settings.duplicate_threshold:
        return []
    worst = max(events, key=lambda e: e.duplicates)
    return [Finding(rule="event.duplicates", type="duplicate", severity="warning", subject=tx_id,
                    message=f"{total} duplicate deliveries (threshold {settings.duplicate_threshold}); "
                            f"most from {worst.source}",
                    evidence={"expected": f"<= {settings.duplicate_threshold}", "actual": total, "events": repeated},
                    system=worst.source, system_kind=worst.system_kind, **base)]


def _out_of_order(tx_id: str, events: list[TxEvent], base: dict) -> list[Finding]:
    late = [e for e in events if e.out_of_order]
    if not late:
        return []
    return [Finding(rule="event.out_of_order", type="out_of_order", severity="info", subject=tx_id,
                    message=f"{len(late)} event{'s' if len(late) != 1 else ''} occurred before steps they follow "
                            f"({late[0].type} from "
                            f"{late[0].source})",
                    evidence={"events": [e.id for e in late], "types": [e.type for e in late]},
                    system=late[0].source, system_kind=late[0].system_kind, **base)]


_STAGES = {"order": ORDER_STAGES, "transfer": TRANSFER_STAGES, "return": RETURN_STAGES}


def _quantities(tx_id: str, kind: str, events: list[TxEvent], base: dict) -> list[Finding]:
    stages = _STAGES.get(kind)
    found = stage_totals(stages, events) if stages is not None else None
    if found is None:
        return []
    totals, involved = found
    result = []
    for sku, by_stage in sorted(totals.items()):
        reported = [name for name, _ in stages if name in by_stage]
        for upstream, downstream in zip(reported, reported[1:], strict=False):
            over = by_stage[downstream] > by_stage[upstream]
            # the last hop of a transfer or a delivery must match exactly: what left must arrive
            short = downstream in ("received", "delivered") and by_stage[downstream] < by_stage[upstream]
            if over or short:
                result.append(Finding(
                    rule="quantity.mismatch", type="quantity_mismatch", severity="error", subject=f"{tx_id}:{sku}",
                    message=f"{sku}: {upstream} {by_stage[upstream]:g} but {downstream} {by_stage[downstream]:g}",
                    evidence={"sku": sku, "expected": {upstream: str(by_stage[upstream])},
                              "actual": {downstream: str(by_stage[downstream])},
                              "shortfall": str(by_stage[upstream] - by_stage[downstream]),
                              "stages": {k: str(v) for k, v in by_stage.items()}, "events": involved[sku]}, **base))
                break
    return result


def stage_totals(stages: tuple[tuple[str, str], ...], events: list[TxEvent]
                 ) -> tuple[dict[str, dict[str, Decimal]], dict[str, list[str]]] | None:
    """Each SKU's quantity per stage, and the events that state its quantities (stage by stage, in the events'
    order); None when the order was cancelled. One pass over the events, then each stage's own."""
    of_type: dict[str, list[TxEvent]] = defaultdict(list)
    for event in events:
        if event.type == "order.cancelled":
            return None
        of_type[event.type].append(event)
    totals: dict[str, dict[str, Decimal]] = defaultdict(dict)
    involved: dict[str, list[str]] = defaultdict(list)
    for name, event_type in stages:
        if event_type not in of_type:
            continue
        # several systems report the same step (the WMS ships, the ERP books the shipment): a stage's
        # quantity is what the system reporting the most says, never the sum across systems
        per_source: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
        for event in of_type[event_type]:
            for line in event.lines:
                per_source[(line["sku"], event.source)] += Decimal(str(line["qty"]))
                involved[line["sku"]].append(event.id)
        for (sku, _), qty in per_source.items():
            totals[sku][name] = max(totals[sku].get(name, qty), qty)
    return totals, involved


def _amounts(tx_id: str, kind: str, events: list[TxEvent], settings: RuleSettings, base: dict) -> list[Finding]:
    sums: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    latest_total: dict[str, tuple[datetime, Decimal]] = {}
    for event in events:
        if event.amount is None:
            continue
        value, currency, amount_kind = event.amount
        if amount_kind == "total" and event.type.startswith("order."):
            if currency not in latest_total or event.occurred_at >= latest_total[currency][0]:
                latest_total[currency] = (event.occurred_at, value)  # an order update restates the total
        elif captured_kind(event.type, amount_kind):
            sums[currency]["captured"] += value
        elif amount_kind in NOT_PAID_OUT and event.type == "payment.captured":
            sums[currency]["tendered"] += value
        else:
            sums[currency][amount_kind] += value
    result = []
    tolerance = settings.amount_tolerance
    for currency in sorted(set(sums) | set(latest_total)):
        got = sums[currency]
        total = latest_total.get(currency, (None, None))[1]
        paid = got.get("captured", Decimal(0)) + got.get("tendered", Decimal(0))  # split tenders: card + gift card
        if total is not None and ("captured" in got or "tendered" in got):
            expected, actual = total - got.get("refund", Decimal(0)), paid - got.get("refund", Decimal(0))
            if abs(expected - actual) > tolerance:
                result.append(_amount_finding(tx_id, currency, "order total", expected, "captured", actual, base))
        # only where the capture is known here: a refund of a payment no connected system reports is no mismatch
        if "refund" in got and ("captured" in got or "tendered" in got) and got["refund"] - paid > tolerance:
            result.append(_amount_finding(tx_id, currency, "captured", paid, "refunded", got["refund"], base))
        if "gross" in got and ("settlement" in got or "net" in got):
            expected = got["gross"] - got.get("fee", Decimal(0))
            actual = got.get("settlement", Decimal(0)) + got.get("net", Decimal(0))
            if abs(expected - actual) > tolerance:
                result.append(_amount_finding(tx_id, currency, "gross less fees", expected, "settled", actual, base))
    return result


def _amount_finding(tx_id: str, currency: str, expected_name: str, expected: Decimal, actual_name: str,
                    actual: Decimal, base: dict) -> Finding:
    return Finding(rule="amount.mismatch", type="amount_mismatch", severity="error",
                   subject=f"{tx_id}:{currency}:{actual_name}",
                   message=f"{expected_name} {expected} {currency} but {actual_name} {actual} {currency} "
                           f"(difference {actual - expected})",
                   evidence={"currency": currency, "expected": {expected_name: str(expected)},
                             "actual": {actual_name: str(actual)}, "difference": str(actual - expected)}, **base)


def _unique(items: list[Finding]) -> list[Finding]:
    seen: dict[str, Finding] = {}
    for item in items:
        seen.setdefault(item.key, item)
    return list(seen.values())
