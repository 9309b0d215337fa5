"""Recurring operations: transfers warehouse → store, supplier receipts, customer returns, cycle counts and
availability publishing, Stripe payouts, stores going offline.

Faults that strike here: a transfer short-received at the store, a return that fails inspection (damaged),
a payout short by a fee nobody explained, the first payout paying a charge the hub never saw, and the marketplace
keeping a stale quantity for one SKU. Once per run: the returns platform's webhooks pause for hours (the hub's watch
says the source is silent) and the ops team's pager is down (its notification endpoint is disabled). The WMS fills
its ``order_ref`` with the placeholder ``0`` on every transfer and receipt (junk, never a ref).
"""

from __future__ import annotations

from dataclasses import replace

from hub.demo import payloads as p
from hub.demo.scenario import HOUR, MINUTE, QUIET, SKUS, STORES, WAREHOUSE, World

PLACEHOLDER = "0"


def transfer(world: World, at: float) -> None:
    """ERP creates a transfer order, the WMS ships it, the store's receipt is booked in the ERP."""
    rng = world.rng
    store = rng.choice(STORES)
    number = f"TO-{world.next('to', 8001)}"
    lines = [(sku, rng.randint(6, 24)) for sku in sorted(rng.sample(SKUS, rng.randint(2, 3)))]
    world.erp(at, "TO_CREATED", transfer=number, lines=[{"sku": s, "qty": q, "location": WAREHOUSE} for s, q in lines])
    shipped = at + rng.uniform(0.5, 2) * HOUR
    for sku, qty in lines:
        world.stock[(sku, WAREHOUSE)] -= qty
    world.send(shipped, "wms", {"event_id": world.uuid(), "event": "TRANSFER_SHIPPED", "at": p.iso(shipped),
                                "transfer_ref": number, "order_ref": PLACEHOLDER,
                                "shipment_id": f"SHP-{world.next('shp', 70001)}",
                                "lines": [{"sku": s, "qty": q, "location": WAREHOUSE} for s, q in lines]})
    received = list(lines)
    if world.faults.strike("short_transfer", at):
        index = rng.randrange(len(received))
        sku, qty = received[index]
        received[index] = (sku, qty - rng.randint(1, 3))
    for sku, qty in received:
        world.stock[(sku, store)] += qty
    booked = shipped + rng.uniform(1, 3) * HOUR  # a truck to a nearby store: the default six-hour run sees one
    if received != lines:
        world.note(booked, "short transfer (received less than shipped)", number)
    world.erp(booked, "TO_RECEIVED", transfer=number,
              lines=[{"sku": s, "qty": q, "location": store} for s, q in received])


def receipt(world: World, at: float) -> None:
    """A supplier delivery received by the WMS, then posted by the ERP."""
    rng = world.rng
    po = f"PO-{world.next('po', 3001)}"
    lines = [(sku, rng.randint(50, 150)) for sku in sorted(rng.sample(SKUS, 3))]
    for sku, qty in lines:
        world.stock[(sku, WAREHOUSE)] += qty
    world.send(at, "wms", {"event_id": world.uuid(), "event": "RECEIVED", "at": p.iso(at), "po_ref": po,
                           "order_ref": PLACEHOLDER, "receipt_id": f"GR-{world.next('gr', 5001)}",
                           "lines": [{"sku": s, "qty": q, "location": WAREHOUSE} for s, q in lines]})
    world.erp(at + rng.uniform(10, 60) * MINUTE, "GR_POSTED", purchase_order=po)


def customer_return(world: World, at: float) -> None:
    """A return of an earlier web order through the returns platform: requested, received, inspected,
    restocked (unless damaged) and refunded."""
    rng = world.rng
    rma = f"RMA-{world.next('rma', 2001)}"
    # an order placed at least an hour earlier in the demo (its trace links this return), else any placed before
    # it, else (a return in the run's first minutes) one from before the simulation
    earlier = [order_id for placed, order_id in world.web_orders if placed <= at - HOUR] \
        or [order_id for placed, order_id in world.web_orders if placed < at]
    order = str(rng.choice(earlier[-200:]) if earlier else 5012345000 - rng.randint(1, 900) * 37)
    sku, qty = rng.choice(SKUS), rng.randint(1, 2)
    items = [{"sku": sku, "qty": qty, "location": "RET-1"}]

    def post(when: float, status: str, **extra: object) -> None:
        world.send(when, "returns", {"id": f"rtev_{world.hex(16)}", "rma": rma, "status": status,
                                     "updated_at": p.iso(when), "order_ref": order, **extra})

    post(at, "REQUESTED", items=items, reason=rng.choice(("too small", "not as described", "changed mind")))
    received = at + rng.uniform(1, 3) * HOUR  # sent back quickly: the default six-hour run sees one inspected
    post(received, "RECEIVED", items=items)
    inspected = received + rng.uniform(0.5, 1.5) * HOUR
    refunded = inspected + rng.uniform(0.5, 2) * HOUR
    if world.faults.strike("damaged_return", at):
        post(inspected, "INSPECTED", outcome="failed", outcome_reason="damaged: screen cracked in transit",
             items=[{**items[0], "state": "damaged"}])
        world.note(inspected, "damaged return", rma)
    else:
        post(inspected, "INSPECTED", outcome="passed", items=items)
        post(refunded - 10 * MINUTE, "RESTOCKED", items=[{"sku": sku, "qty": qty, "location": WAREHOUSE}])
    post(refunded, "REFUNDED")


def publish_availability(world: World, at: float) -> None:
    """The ERP's warehouse count and availability feed; the marketplace confirms each SKU's quantity
    a few minutes later — except a SKU it keeps stale while the ``stale_channel`` fault lasts."""
    rng = world.rng
    count = f"CC-{world.next('count', 6001)}"
    world.erp(at, "STOCK_COUNT", count=count,
              lines=[{"sku": sku, "qty": world.stock[(sku, WAREHOUSE)], "location": WAREHOUSE, "state": state}
                     for sku in SKUS for state in ("on_hand", "available")])
    stale = world.stale
    if stale is not None and at > stale[2]:
        world.stale = stale = None
    if stale is None and world.faults.strike("stale_channel", at):
        sku = rng.choice(SKUS)
        frozen = world.listed.get(sku, world.stock[(sku, WAREHOUSE)] + rng.randint(5, 15))
        world.stale = stale = (sku, frozen, at + rng.uniform(4, 8) * HOUR)
        world.note(at + HOUR, "stale availability on the marketplace (SKU@location)", f"{sku}@{WAREHOUSE}")
    for sku in SKUS:
        quantity = world.stock[(sku, WAREHOUSE)]
        if stale is not None and sku == stale[0]:
            quantity = stale[1] if stale[1] != quantity else quantity + rng.randint(5, 15)
            world.stale = stale = (sku, quantity, stale[2])
        world.listed[sku] = quantity
        when = at + rng.uniform(1, 5) * MINUTE
        world.send(when, "amazon", p.eventbridge(world.uuid(), p.amazon_listing_quantity(
            world.uuid(), sku, quantity, when), when))


def store_count(world: World, at: float) -> None:
    """A store's cycle count: the POS reports it (Square inventory counts) and the ERP books the same."""
    rng = world.rng
    store = rng.choice(STORES)
    counts = [(sku, store, world.stock[(sku, store)]) for sku in SKUS]
    world.erp(at, "STOCK_COUNT", count=f"CC-{world.next('count', 6001)}",
              lines=[{"sku": sku, "qty": qty, "location": store, "state": "on_hand"} for sku, _, qty in counts])
    sent = max(at + rng.uniform(0, 60), world.pos_offline.get(store, 0.0) + rng.uniform(0, 120))
    world.send(sent, "pos", p.square_event(world.uuid(), "inventory.count.updated", "MLDEMO0001",
                                           "inventory_counts", world.uuid(), p.square_counts(counts, at), at))


def payout(world: World, at: float) -> None:
    """Stripe pays out the charges captured until half an hour ago, less its fees (2.9% + 30¢ each)."""
    due = [c for c in world.charges if c[0] <= at - 30 * MINUTE]
    if not due:
        return
    world.charges = [c for c in world.charges if c[0] > at - 30 * MINUTE]
    covered = [(charge, cents, fee) for _, charge, cents, fee in due]
    stranger = None
    if not world.stranger_paid:  # the first payout also pays a phone order charged in Stripe's dashboard: no
        world.stranger_paid = True  # storefront order, so the hub never saw the charge (no rng: the schedule stays)
        stranger = f"ch_3{due[0][1][4:]}X"
        covered.append((stranger, 4990, round(4990 * 0.029) + 30))
    amount = sum(c[1] - c[2] for c in covered)
    payout_id = f"po_1{world.hex(22)}"
    if stranger is not None:
        world.note(at, "payout line unmatched (a charge the hub never saw)", payout_id)
    if world.faults.strike("short_payout", at):
        amount -= world.rng.randint(500, 2500)  # a fee nobody explained
        world.note(at, "settlement mismatch (payout short)", payout_id)
    world.send(at, "stripe", p.stripe_event(f"evt_1{world.hex(22)}", "payout.paid",
                                            p.stripe_payout(payout_id, amount, at, covered), at))


def pos_offline(world: World, at: float) -> None:
    """A store loses its connection for one to two hours; its POS sends the backlog when it is back."""
    if not world.faults.strike("pos_offline", at):
        return
    online = [store for store in STORES if world.pos_offline.get(store, 0.0) <= at]
    if online:
        store = world.rng.choice(online)
        # back online at least half an hour before the simulation ends, so the ERP books the backlog in time
        closing = world.scenario.start + world.scenario.horizon - 30 * MINUTE
        world.pos_offline[store] = min(at + world.rng.uniform(60, 120) * MINUTE, closing)


def pause_returns(world: World) -> None:
    """The returns platform's webhook queue stalls from 30% to 60% of the day, then sends the backlog in order:
    longer than its watch's quiet time, so the hub raises ``source_silent`` and resolves it when they resume."""
    start, horizon = world.scenario.start, world.scenario.horizon
    paused, resumed = start + 0.3 * horizon, start + 0.6 * horizon
    if resumed - paused < QUIET + 30 * MINUTE:
        return  # a short run: a pause this brief is within the quiet time
    held = sorted((s for s in world.scenario.sends if s.source == "returns" and paused <= s.at < resumed),
                  key=lambda s: (s.at, s.seq))
    backlog = {id(send): replace(send, at=resumed + index) for index, send in enumerate(held)}
    world.scenario.sends = [backlog.get(id(send), send) for send in world.scenario.sends]
    world.queue(resumed, f"source silent (the returns platform paused its webhooks for {(resumed - paused) / HOUR:.0f} "
                         "hours, then sent the backlog)", "type=source_silent&status=all")


def pager_down(world: World) -> None:
    """The ops team's pager (the demo's one notification endpoint, :mod:`hub.demo.sources`) refuses every
    connection: after five failed attempts in a row the hub disables it and says so in the queue."""
    world.queue(world.scenario.start + 2 * HOUR, "notification endpoint disabled (the ops pager is down)",
                "type=notification_endpoint_disabled")
