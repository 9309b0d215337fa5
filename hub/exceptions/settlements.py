"""Money across transactions (issue 17): payouts against the orders they pay, and money that never arrives.

- ``settlement.amount_mismatch`` (type ``amount_mismatch``, on the settlement): per currency, what the settled
  orders took (card captures − refunds; for a marketplace that states only amounts net of its fees, those) against
  what the settlement paid for them: the sum of its per-order ``line`` amounts when the adapter states them (a
  payout also moves reserves, adjustments and transfers that belong to no order), else its gross (else its net
  plus fees; on the net basis, its net). Beyond the tolerance, the orders that do not add up are in the evidence:
  those whose settled line differs from what they took, or whose money the hub never saw.
- ``settlement.unmatched`` (type ``settlement_unmatched``, on the settlement): lines naming an order or charge the
  hub has never seen. Resolves when they arrive.
- ``settlement.missing`` (type ``settlement_missing``, on the order): a card capture from a source with a
  configured payout delay (``[settlement] missing_after_days``) that no settlement names that long after it.
  Gift cards are never paid out. Resolves when a settlement naming the order arrives.

Pure rules over facts the evaluator loads through :mod:`hub.store.settlement_links`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from hub.errors import ConfigError
from hub.exceptions.lifecycle import Finding
from hub.exceptions.rules import TxEvent, captured_kind
from hub.store.settlement_links import SettlementLine

RULES = ("settlement.amount_mismatch", "settlement.unmatched", "settlement.missing")


@dataclass(frozen=True, slots=True)
class SettlementSettings:
    """``[settlement]``: how long each payment source takes to pay a capture out, and the payout tolerance."""

    missing_after: Mapping[str, timedelta] = field(default_factory=dict)
    tolerance: Decimal | None = None  # None: [exceptions] amount_tolerance


def parse_settlement(table: Mapping[str, Any], sources: Mapping[str, Any]) -> SettlementSettings:
    """Validate ``[settlement]``: ``missing_after_days = { <source> = days }`` and ``tolerance = "0.05"``."""
    unknown = set(table) - {"missing_after_days", "tolerance"}
    if unknown:
        raise ConfigError(f"settlement.{sorted(unknown)[0]}: unknown key (expected missing_after_days, tolerance)")
    days = table.get("missing_after_days", {})
    if not isinstance(days, dict):
        raise ConfigError("settlement.missing_after_days must be a table: { stripe = 7 }")
    missing: dict[str, timedelta] = {}
    for name, value in days.items():
        if name not in sources:
            raise ConfigError(f"settlement.missing_after_days.{name}: no source of that name")
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise ConfigError(f"settlement.missing_after_days.{name} = {value!r}: must be a positive number of days")
        missing[name] = timedelta(days=value)
    tolerance = None
    if "tolerance" in table:
        try:
            tolerance = Decimal(str(table["tolerance"]))
        except InvalidOperation:
            raise ConfigError(f"settlement.tolerance = {table['tolerance']!r}: must be a number such as \"0.05\"") \
                from None
        if not tolerance.is_finite() or tolerance < 0:
            raise ConfigError(f"settlement.tolerance = {table['tolerance']!r}: must be zero or more")
    return SettlementSettings(missing, tolerance)


@dataclass(slots=True)
class _Took:
    """What one order took per currency: card money (captures − refunds) and money stated net of fees."""

    captured: dict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    net: dict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))


def _took(events: list[TxEvent]) -> _Took:
    took = _Took()
    for event in events:
        if event.amount is None:
            continue
        value, currency, kind = event.amount
        if captured_kind(event.type, kind):
            took.captured[currency] += value
        elif kind == "refund":
            took.captured[currency] -= value
        elif kind == "net" and event.type in ("payment.captured", "refund.issued"):
            took.net[currency] += value
    return took


def reconcile(tx_id: str, source: str | None, events: list[TxEvent], lines: list[SettlementLine],
              orders: Mapping[str, list[TxEvent]], tolerance: Decimal,
              elsewhere: Mapping[str, Mapping[str, Decimal]] | None = None) -> list[Finding]:
    """The findings of one settlement: its lines nobody saw, and per currency whether its orders add up.
    ``elsewhere``: per order and currency, the lines other settlements paid for it (an order paid out in two
    settlements — two shipments, a later refund — is expected here less what the others paid)."""
    base = {"tx_id": tx_id, "tx_kind": "settlement", "system": source}
    found = []
    unseen = sorted({f"{line.namespace}:{line.value}" for line in lines if line.tx_id is None})
    if unseen:
        found.append(Finding(
            rule="settlement.unmatched", type="settlement_unmatched", severity="warning", subject=tx_id,
            message=f"{len(unseen)} line(s) of this settlement name what the hub never saw: "
                    + ", ".join(unseen[:5]) + (" …" if len(unseen) > 5 else ""),
            evidence={"lines": unseen, "count": len(unseen), "expected": "an order or charge the hub saw",
                      "actual": "none"}, **base))
    paid = sorted({line.tx_id for line in lines if line.tx_id})
    if not paid:
        return found
    figures: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for event in events:
        if event.amount is not None:
            value, currency, kind = event.amount
            figures[currency][kind] += value
    took = {order: _took(orders.get(order, [])) for order in paid}
    settled_lines: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for line in lines:
        if line.tx_id and line.amount is not None:
            settled_lines[line.tx_id][line.amount[1]] += line.amount[0]
    refs: dict[str, list[str]] = defaultdict(list)
    for line in lines:
        name = f"{line.namespace}:{line.value}"
        if line.tx_id and name not in refs[line.tx_id]:
            refs[line.tx_id].append(name)
    for currency in sorted(figures):
        found += _currency(tx_id, currency, figures[currency], took, settled_lines, elsewhere or {}, refs, tolerance,
                           base)
    return found


def _currency(tx_id: str, currency: str, figures: Mapping[str, Decimal], took: Mapping[str, _Took],
              settled_lines: Mapping[str, Mapping[str, Decimal]], elsewhere: Mapping[str, Mapping[str, Decimal]],
              refs: Mapping[str, list[str]],
              tolerance: Decimal, base: dict) -> list[Finding]:
    net_basis = not any(t.captured for t in took.values()) and any(t.net for t in took.values())
    lined = [lines[currency] for lines in settled_lines.values() if currency in lines]
    if lined:  # per-order lines: what the settlement paid for these orders, beside its other money (reserves…)
        settled_name, settled = "orders' lines", sum(lined, Decimal(0))
    elif net_basis:
        if "settlement" not in figures:
            return []
        settled_name, settled = "net", figures["settlement"]
    elif "gross" in figures:
        settled_name, settled = "gross", figures["gross"]
    elif "settlement" in figures:
        settled_name, settled = "net plus fees", figures["settlement"] + figures.get("fee", Decimal(0))
    else:
        return []
    per_order = {}
    for order, t in took.items():
        value = (t.net if net_basis else t.captured).get(currency)
        per_order[order] = None if value is None else value - elsewhere.get(order, {}).get(currency, Decimal(0))
    expected = sum((value for value in per_order.values() if value is not None), Decimal(0))
    if abs(settled - expected) <= tolerance:
        return []
    off = []
    for order, value in sorted(per_order.items()):
        line = settled_lines.get(order, {}).get(currency)
        if value is None or (line is not None and abs(line - value) > tolerance):
            off.append({"transaction": order, "refs": refs[order], "took": None if value is None else str(value),
                        "settled": None if line is None else str(line)})
    if not off:  # no per-order lines to tell which: every order, with what it took
        off = [{"transaction": order, "refs": refs[order], "took": None if value is None else str(value),
                "settled": None} for order, value in sorted(per_order.items())]
    took_name = "orders' net" if net_basis else "orders' captures − refunds"
    return [Finding(
        rule="settlement.amount_mismatch", type="amount_mismatch", severity="error", subject=f"{tx_id}:{currency}",
        message=f"{took_name} {expected} {currency} but settlement {settled_name} {settled} {currency} "
                f"(difference {settled - expected}); {len(off)} order(s) do not add up",
        evidence={"currency": currency, "basis": "net" if net_basis else "gross",
                  "expected": {took_name: str(expected)}, "actual": {settled_name: str(settled)},
                  "difference": str(settled - expected), "gross": _text(figures.get("gross")),
                  "fees": _text(figures.get("fee")),
                  "net": str(figures["settlement"]) if "settlement" in figures else None, "orders": off}, **base)]


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def waiting_captures(events: list[TxEvent], settings: SettlementSettings) -> list[tuple[datetime, TxEvent]]:
    """The card captures of a transaction some settlement must name in time, each with when it falls due (none
    when no payment source has a payout delay): only these make whether it is settled matter."""
    if not settings.missing_after:
        return []
    return [(e.occurred_at + settings.missing_after[e.source], e) for e in events
            if e.source in settings.missing_after and e.amount is not None and e.status == "ok"
            and captured_kind(e.type, e.amount[2])]


def missing(tx_id: str, kind: str, events: list[TxEvent], settled: bool, settings: SettlementSettings,
            now: datetime) -> tuple[list[Finding], datetime | None]:
    """``settlement_missing`` for a transaction whose card captures no settlement names in time, or when the
    first of them falls due (None: nothing to wait for)."""
    if settled or kind == "settlement":
        return [], None
    waiting = waiting_captures(events, settings)
    if not waiting:
        return [], None
    due_at, capture = min(waiting, key=lambda item: (item[0], item[1].id))
    if now < due_at:
        return [], due_at
    value, currency, _ = capture.amount  # type: ignore[misc]
    delay = settings.missing_after[capture.source].total_seconds()
    amount, unit = (delay / 86400, "day") if delay % 86400 == 0 else (delay / 3600, "hour")  # 8 hours, not 0.33 days
    later = f"{amount:.3g} {unit}{'' if amount == 1 else 's'}"
    return [Finding(
        rule="settlement.missing", type="settlement_missing", severity="warning", subject=f"{tx_id}:settlement",
        message=f"{capture.source} captured {value} {currency} on {capture.occurred_at:%Y-%m-%d %H:%M} UTC and no "
                f"settlement names this order {later} later",
        evidence={"capture": capture.id, "captured_at": capture.occurred_at.isoformat(), "amount": str(value),
                  "currency": currency, "due_at": due_at.isoformat(), "expected": "a settlement paying this capture",
                  "actual": "none"},
        tx_id=tx_id, tx_kind=kind, system=capture.source, system_kind=capture.system_kind)], None


__all__ = ["RULES", "SettlementSettings", "missing", "parse_settlement", "reconcile", "waiting_captures"]
