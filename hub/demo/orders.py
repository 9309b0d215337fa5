"""Order lifecycles: web orders (Shopify + Stripe), marketplace orders (Amazon SP-API), store sales (Square).

Every order is posted by the ERP (polled), web and marketplace orders are allocated, picked and packed
by the WMS, shipped by the channel and tracked by the carrier (EasyPost). Faults that strike an order:
a duplicate storm, a carrier scan before the shipment (out of order), a posting the ERP loses (the order
is stuck, then escalated), a WMS payload in a new schema (dead letter), store sales held back while a store is
offline, and one charge Stripe holds back from every payout (its settlement goes missing).
"""

from __future__ import annotations

from hub.demo import payloads as p
from hub.demo.scenario import ESCALATE_LATE, HOUR, MINUTE, PAYOUT_DELAY, STORES, WAREHOUSE, World


def place(world: World, at: float) -> None:
    """One new order at ``at`` on a channel chosen by weight."""
    channel = world.rng.choices(("web", "marketplace", "store"), weights=(5, 2, 3))[0]
    {"web": _web, "marketplace": _marketplace, "store": _store}[channel](world, at)


def _web(world: World, at: float) -> None:
    rng = world.rng
    n = world.next("web")
    order_id, number = 5012345000 + n * 37, 1000 + n
    lines = world.lines()
    cents = world.cents(lines)
    body = p.shopify_order(order_id, number, lines, world.prices, at, f"customer{n}@example.com")
    world.web_orders.append((at, order_id))
    duplicate = world.faults.strike("duplicate", at)
    sent, event_id = at + rng.uniform(0, 60), world.uuid()
    world.send(sent, "shop", body, topic="orders/create", event_id=event_id, triggered_at=p.iso(at))
    if duplicate:
        # Shopify saw timeouts on a flaky proxy and retried the same event five times over four hours
        for minutes in (20, 60, 120, 180, 240):
            world.send(sent + minutes * MINUTE, "shop", body, topic="orders/create", event_id=event_id,
                       triggered_at=p.iso(at))
        # noted once the fourth repeat (past the hub's threshold of 3) falls inside the simulation
        world.note(sent + 180 * MINUTE, "duplicate deliveries", f"#{number}")
    pi, charge = f"pi_3{world.hex(21)}", f"ch_3{world.hex(21)}"
    paid_at = at + rng.uniform(5, 60)
    world.send(paid_at, "stripe", p.stripe_event(f"evt_3{world.hex(21)}", "payment_intent.succeeded",
                                                 p.stripe_payment_intent(pi, charge, cents, order_id, paid_at),
                                                 paid_at))
    if not world.held_charge and not duplicate and paid_at >= world.scenario.start + 30 * MINUTE:
        world.held_charge = True  # Stripe holds the first charge after half an hour back for review: no payout
        world.note(paid_at + PAYOUT_DELAY + 10 * MINUTE, "settlement missing (Stripe held the charge back)",
                   f"#{number}")  # pays it; the hub waits its payout delay, then says so on the order
    else:
        world.charges.append((paid_at, charge, cents, round(cents * 0.029) + 30))
    if not duplicate and world.faults.strike("lost_posting", at):
        world.note(at + HOUR, "stuck order (the ERP lost its posting)", f"#{number}")
        # late when its 30-minute SLA passes, escalated (severity raised) when still late an hour after that
        world.note(at + 30 * MINUTE + ESCALATE_LATE + 15 * MINUTE, "escalated (late past its SLA: severity raised)",
                   f"#{number}")
        return
    posted = at + rng.uniform(3, 20) * MINUTE
    sales_order = f"SO-{world.next('so', 40001)}"
    world.erp(posted, "SO_POSTED", sales_order=sales_order, web_order=str(order_id),
              lines=[{"sku": s, "qty": q, "location": WAREHOUSE} for s, q in lines])
    packed, tracking = _warehouse(world, posted, sales_order, lines)
    shipped = packed + rng.uniform(5, 30) * MINUTE
    fulfillment = 4512345000 + n * 13
    world.send(shipped, "shop", p.shopify_fulfillment(fulfillment, order_id, lines, tracking, shipped),
               topic="fulfillments/create", event_id=world.uuid(), triggered_at=p.iso(shipped))
    _carrier(world, packed, shipped, tracking, f"#{number}")


def _marketplace(world: World, at: float) -> None:
    rng = world.rng
    order_id = f"113-{rng.randint(1000000, 9999999)}-{rng.randint(1000000, 9999999)}"
    lines = world.lines(2)

    def notify(when: float, status: str, shipped: bool = False) -> None:
        note = p.amazon_order_change(world.uuid(), order_id, status, lines, when, shipped=shipped)
        world.send(when + rng.uniform(1, 20), "amazon", p.eventbridge(world.uuid(), note, when))

    notify(at, "Pending")
    notify(at + rng.uniform(1, 5) * MINUTE, "Unshipped")
    posted = at + rng.uniform(5, 25) * MINUTE
    sales_order = f"SO-{world.next('so', 40001)}"
    world.erp(posted, "SO_POSTED", sales_order=sales_order, marketplace_order=order_id,
              lines=[{"sku": s, "qty": q, "location": WAREHOUSE} for s, q in lines])
    packed, tracking = _warehouse(world, posted, sales_order, lines)
    shipped = packed + rng.uniform(10, 30) * MINUTE
    notify(shipped, "Shipped", shipped=True)
    _carrier(world, packed, shipped, tracking, order_id)


def _store(world: World, at: float) -> None:
    rng = world.rng
    store = rng.choice(STORES)
    order_id, payment = world.hex(24).upper(), world.hex(24).upper()
    lines = world.lines(2)
    for sku, qty in lines:
        world.stock[(sku, store)] = max(0, world.stock[(sku, store)] - qty)
    paid = at + rng.uniform(10, 90)
    back = world.pos_offline.get(store, 0.0)
    offline = back > paid
    sent = (back + rng.uniform(0, 120)) if offline else None  # an offline store sends its backlog later
    world.send(sent or at + rng.uniform(0, 5), "pos", p.square_event(
        world.uuid(), "order.created", "MLDEMO0001", "order", order_id, p.square_order_created(order_id, store, at),
        at))
    world.send(sent or paid + rng.uniform(0, 5), "pos", p.square_event(
        world.uuid(), "payment.created", "MLDEMO0001", "payment", payment,
        p.square_payment(payment, order_id, store, world.cents(lines), paid), paid))
    if offline:
        world.note(sent, "store sale sent late (store offline)", order_id)
    posted = (sent or paid) + rng.uniform(2, 12) * MINUTE  # the ERP books what the POS has told it
    sales_order = f"SO-{world.next('so', 40001)}"
    booked = [{"sku": s, "qty": q, "location": store} for s, q in lines]
    world.erp(posted, "SO_POSTED", sales_order=sales_order, pos_order=order_id, lines=booked)
    world.erp(posted + 1, "GOODS_ISSUE", sales_order=sales_order, pos_order=order_id, lines=booked)


def _warehouse(world: World, posted: float, sales_order: str, lines: list[tuple[str, int]]) -> tuple[float, str]:
    """WMS allocation, pick and pack after the ERP posting; returns (packed at, tracking number)."""
    rng = world.rng
    allocated = posted + rng.uniform(10, 60) * MINUTE
    for sku, qty in lines:
        world.stock[(sku, WAREHOUSE)] -= qty
    wave = f"W-{world.next('wave', 9001)}"
    wms_lines = [{"sku": s, "qty": q, "location": WAREHOUSE} for s, q in lines]
    world.send(allocated, "wms", {"event_id": world.uuid(), "event": "ALLOCATED", "at": p.iso(allocated),
                                  "order_ref": sales_order, "wave": wave, "lines": wms_lines})
    picked = allocated + rng.uniform(20, 120) * MINUTE
    if world.faults.strike("schema_drift", picked):
        # WMS release 2.0 renamed its fields without telling anyone: the hub dead-letters the delivery.
        world.send(picked, "wms", {"eventId": world.uuid(), "eventType": "PICKED", "timestamp": p.iso(picked),
                                   "order": {"reference": sales_order}, "schemaVersion": "2.0"})
        world.note(picked, "schema drift (dead letter from the WMS)", sales_order)
    else:
        world.send(picked, "wms", {"event_id": world.uuid(), "event": "PICKED", "at": p.iso(picked),
                                   "order_ref": sales_order, "wave": wave})
    packed = picked + rng.uniform(10, 40) * MINUTE
    tracking = f"94001{rng.randint(10**16, 10**17 - 1)}"
    world.send(packed, "wms", {"event_id": world.uuid(), "event": "PACKED", "at": p.iso(packed),
                               "order_ref": sales_order, "tracking": tracking,
                               "shipment_id": f"SHP-{world.next('shp', 70001)}", "lines": wms_lines})
    return packed, tracking


def _carrier(world: World, packed: float, shipped: float, tracking: str, label: str) -> None:
    """EasyPost tracker updates: in transit a few hours after shipping, delivered a day or two later."""
    rng = world.rng
    tracker, shipment = f"trk_{world.hex(24)}", f"shp_{world.hex(24)}"
    if world.faults.strike("out_of_order", shipped):
        # the carrier's scan predates the storefront's shipment (clock skew), and arrives first
        in_transit = shipped - rng.uniform(15, 45) * MINUTE
        world.note(shipped + 2 * MINUTE, "out-of-order carrier scan", label)
    else:
        in_transit = shipped + rng.uniform(2, 6) * HOUR
    scans = [("pre_transit", min(packed, in_transit - 5 * MINUTE)), ("in_transit", in_transit)]  # in scan order
    world.send(in_transit + rng.uniform(0, 60), "easypost", p.easypost_tracker(
        f"evt_{world.hex(24)}", tracker, tracking, shipment, "in_transit", scans, in_transit))
    delivered = max(in_transit, shipped) + rng.uniform(18, 48) * HOUR
    world.send(delivered + rng.uniform(0, 60), "easypost", p.easypost_tracker(
        f"evt_{world.hex(24)}", tracker, tracking, shipment, "delivered", [*scans, ("delivered", delivered)],
        delivered))
