"""The demo's deterministic scenario: a retailer's day as a schedule of vendor deliveries and ERP records.

:func:`build` walks simulated time from ``start`` over ``horizon`` seconds with one seeded
``random.Random``: orders arrive (storefront, marketplace, stores), and recurring operations run
(transfers, supplier receipts, returns, cycle counts, availability publishing, payouts). Each starts a
lifecycle whose later steps may fall after the horizon (those are never sent: the simulation ends there);
new activity stops an hour or so before it, so nothing falls due just after it.
Faults recur on their own seeded schedule (:class:`Faults`); the alerts the queue shows beside them (a charge
Stripe holds back, the returns platform's paused webhooks) strike once, with no rng, so every other send stays
where it was. Nothing here does I/O or reads a clock, so
the same seed and options give the same sends, records and identifiers.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

SKUS = tuple(f"SKU-{1001 + i}" for i in range(12))
STORES = ("STORE-1", "STORE-2", "STORE-3")
WAREHOUSE = "WH-1"
MINUTE, HOUR = 60.0, 3600.0
PAYOUT_DELAY = 8 * HOUR  # the demo's [settlement] missing_after_days for Stripe: every payout run pays within it
QUIET = 2 * HOUR  # the returns platform's watch quiet_minutes: its natural gaps are shorter
ESCALATE_LATE = HOUR  # [exceptions.escalation] late: a late step open an hour is escalated (then 2 h, 4 h)


@dataclass(frozen=True, slots=True)
class Send:
    """One webhook a simulated vendor sends at ``at`` (simulated epoch seconds)."""

    at: float
    source: str
    body: dict[str, Any]
    meta: dict[str, str] = field(default_factory=dict)
    seq: int = 0


@dataclass(slots=True)
class Scenario:
    """Everything the simulator will do, plus the refs worth looking at (``notable``, label → refs)."""

    start: float
    horizon: float
    sends: list[Send] = field(default_factory=list)
    erp_records: list[dict[str, Any]] = field(default_factory=list)
    outages: list[tuple[float, float]] = field(default_factory=list)
    notable: dict[str, list[str]] = field(default_factory=dict)
    queue: dict[str, str] = field(default_factory=dict)  # label → the exception queue's filter showing it

    def note(self, label: str, ref: str) -> None:
        self.notable.setdefault(label, []).append(ref)


class Faults:
    """When each fault class next strikes: the first within the first hours, then every ``period`` ± 30%."""

    FIRST = {"duplicate": 0.5, "out_of_order": 0.8, "lost_posting": 0.3, "short_transfer": 0.5,
             "damaged_return": 0.3, "short_payout": 3.0, "stale_channel": 1.0, "schema_drift": 1.2,
             "pos_offline": 1.5}
    PERIOD = {"duplicate": 3.0, "out_of_order": 3.0, "lost_posting": 4.0, "short_transfer": 5.0,
              "damaged_return": 4.0, "short_payout": 10.0, "stale_channel": 10.0, "schema_drift": 5.0,
              "pos_offline": 6.0}

    def __init__(self, rng: random.Random, start: float) -> None:
        self._rng = rng
        self.next_at = {name: start + hours * HOUR * rng.uniform(0.8, 1.2) for name, hours in self.FIRST.items()}

    def strike(self, name: str, now: float) -> bool:
        """True (and the next strike scheduled) when ``name`` is due at ``now``."""
        if now < self.next_at[name]:
            return False
        self.next_at[name] = now + self.PERIOD[name] * HOUR * self._rng.uniform(0.7, 1.3)
        return True


class World:
    """The generator's state: the seeded rng, counters for vendor ids, stock, and what was captured."""

    def __init__(self, seed: int, start: float, horizon: float) -> None:
        self.rng = random.Random(seed)
        self.scenario = Scenario(start=start, horizon=horizon)
        self.faults = Faults(self.rng, start)
        self.prices = {sku: f"{self.rng.randint(8, 120)}.{self.rng.choice(('00', '50', '95', '99'))}" for sku in SKUS}
        self.stock: dict[tuple[str, str], int] = {(sku, WAREHOUSE): 400 for sku in SKUS}
        self.stock.update({(sku, store): 40 for sku in SKUS for store in STORES})
        self.counters: dict[str, int] = {}
        self.charges: list[tuple[str, int, int]] = []  # captured, not yet paid out: (charge, cents, fee cents)
        self.stranger_paid = False  # whether a payout paid the charge the hub never saw (the first one does)
        self.held_charge = False  # whether Stripe held back a charge from every payout (the first after 30 min)
        self.pos_offline: dict[str, float] = {}  # store → back online at
        self.listed: dict[str, int] = {}  # SKU → quantity the marketplace last showed
        self.stale: tuple[str, int, float] | None = None  # (SKU, quantity shown, until) while a channel is stale
        self.web_orders: list[tuple[float, int]] = []  # (placed at, Shopify order id): what customers can return
        self._seq = 0

    def next(self, name: str, first: int = 1) -> int:
        self.counters[name] = self.counters.get(name, first - 1) + 1
        return self.counters[name]

    def note(self, when: float, label: str, ref: str) -> None:
        """Remember ``ref`` as an example of ``label`` when the fault shows before the simulation ends."""
        if when < self.scenario.start + self.scenario.horizon:
            self.scenario.note(label, ref)

    def queue(self, when: float, label: str, query: str) -> None:
        """Name an exception that belongs to no transaction by its queue filter, when it shows in the simulation."""
        if when < self.scenario.start + self.scenario.horizon:
            self.scenario.queue[label] = query

    def hex(self, length: int) -> str:
        return "".join(self.rng.choice("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
                       for _ in range(length))

    def uuid(self) -> str:
        digits = "".join(self.rng.choice("0123456789abcdef") for _ in range(32))
        return f"{digits[:8]}-{digits[8:12]}-4{digits[13:16]}-a{digits[17:20]}-{digits[20:]}"

    def lines(self, most: int = 3) -> list[tuple[str, int]]:
        skus = self.rng.sample(SKUS, self.rng.randint(1, most))
        return [(sku, self.rng.choice((1, 1, 1, 2, 2, 3))) for sku in sorted(skus)]

    def send(self, at: float, source: str, body: dict[str, Any], **meta: str) -> None:
        self._seq += 1
        self.scenario.sends.append(Send(at=at, source=source, body=body, meta=meta, seq=self._seq))

    def erp(self, at: float, kind: str, **fields: Any) -> None:
        """One ERP record, visible on the ERP's API from ``at`` (its ``updated_at``)."""
        number = self.next("erp-record", 700000)
        from hub.demo.payloads import iso

        self.scenario.erp_records.append({"id": f"R{number}", "event_id": f"erp-{number}", "type": kind,
                                          "posted_at": iso(at), "updated_at": iso(at), **fields})

    def cents(self, lines: list[tuple[str, int]]) -> int:
        return sum(int(self.prices[sku].replace(".", "")) * qty for sku, qty in lines)


def build(seed: int, start: float, horizon: float, orders_per_minute: float) -> Scenario:
    """The whole schedule for ``horizon`` simulated seconds from ``start`` (epoch seconds)."""
    from hub.demo import operations, orders

    world = World(seed, start, horizon)
    end = start + horizon
    world.scenario.outages = _outages(world.rng, start, end)
    jobs = {"order": start + world.rng.expovariate(orders_per_minute / MINUTE)}
    periods = {"transfer": 2.5 * HOUR, "receipt": 4 * HOUR, "return": 1.5 * HOUR, "count": 2 * HOUR,
               "store_count": 3 * HOUR, "payout": 4 * HOUR, "pos_offline": 0.5 * HOUR}
    first = {"transfer": 0.7, "receipt": 1.0, "return": 0.4, "count": 0.1, "store_count": 0.6, "payout": 4.0,
             "pos_offline": 0.25}
    jobs.update({name: start + first[name] * HOUR for name in periods})
    # The day winds down before the end: no new orders or counts in the last hour, no new receipts in the
    # last three (their postings are due two hours on), so nothing falls due just after the fast clock ends.
    closing = {name: end - min(horizon / 4, 3 * HOUR if name == "receipt" else HOUR) for name in [*periods, "order"]}
    while jobs:
        name, at = min(jobs.items(), key=lambda item: (item[1], item[0]))
        if at >= closing[name]:
            del jobs[name]
            continue
        if name == "order":
            orders.place(world, at)
            jobs[name] = at + world.rng.expovariate(orders_per_minute / MINUTE)
            continue
        {"transfer": operations.transfer, "receipt": operations.receipt, "return": operations.customer_return,
         "count": operations.publish_availability, "store_count": operations.store_count,
         "payout": operations.payout, "pos_offline": operations.pos_offline}[name](world, at)
        jobs[name] = at + periods[name] * world.rng.uniform(0.8, 1.2)
    operations.pause_returns(world)
    operations.pager_down(world)
    from hub.demo.payloads import iso

    world.scenario.sends = sorted((s for s in world.scenario.sends if s.at < end), key=lambda s: (s.at, s.seq))
    world.scenario.erp_records = sorted((r for r in world.scenario.erp_records if r["updated_at"] < iso(end)),
                                        key=lambda r: (r["updated_at"], r["id"]))
    return world.scenario


def _outages(rng: random.Random, start: float, end: float) -> list[tuple[float, float]]:
    """ERP API outages: the first 40–80 minutes in, lasting 60–120 minutes, then every 8–12 hours."""
    outages = []
    at = start + rng.uniform(40, 80) * MINUTE
    while at < end:
        outages.append((at, min(end, at + rng.uniform(60, 120) * MINUTE)))  # the API is up when the demo ends
        at += rng.uniform(8, 12) * HOUR
    return outages
