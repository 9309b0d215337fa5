"""Pollers against a local upstream (real uvicorn on loopback) on SQLite and PostgreSQL.

Each test injects what real APIs do — 429 with Retry-After, 500s, timeouts, items updated while paging,
records committed late with an equal cursor value, re-read (duplicate) pages — and proves every
upstream item ends up in ``deliveries`` exactly once, with ``items_total`` counting each once. Time is a
fake clock whose ``sleep`` only advances it; the one real wait is the injected request timeout.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import select

from collectors import stripe
from collectors.poller import Poller, plan_polls, retry_after
from hub.config import Source, parse
from hub.errors import ConfigError
from hub.ingest.polling import load_poll_state, source_health
from hub.model import Amount, Delivery
from hub.store import Store
from hub.store.tables import deliveries
from tests.collectors.polling_server import EPOCH, FIXTURES, Upstream, iso, shopify_order, stripe_event
from tests.support import running_app

ROOT = Path(__file__).resolve().parents[2]


class FakeTime:
    """An epoch clock; ``sleep`` records the delay and advances the clock instead of waiting."""

    def __init__(self, start: datetime = EPOCH) -> None:
        self.now = start.timestamp()
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest_asyncio.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as http:
        yield http


def poller(store: Store, client: httpx.AsyncClient, fake: FakeTime, style: str, url: str, *, name: str = "src",
           seed: int = 7, **poll: object) -> Poller:
    source = Source(name=name, kind="other", adapter="cloudevents",
                    options={"poll": {"style": style, "url": url, "timeout_seconds": 0.5, **poll}})
    plan = plan_polls(parse({"sources": [_raw(source)]}, {}))
    return Poller(store, plan, client, clock=fake.clock, sleep=fake.sleep, rng=random.Random(seed))


def _raw(source: Source) -> dict:
    return {"name": source.name, "kind": source.kind, "adapter": source.adapter, "options": source.options}


async def stored(store: Store, source: str = "src") -> dict[str, list]:
    """dedup_key → every row with it (a list, so a double insert would show)."""
    async with store.read() as conn:
        rows = (await conn.execute(select(deliveries).where(deliveries.c.source == source))).all()
    out: dict[str, list] = {}
    for row in rows:
        out.setdefault(row.dedup_key, []).append(row)
    return out


def once(rows: dict[str, list]) -> set[str]:
    assert all(len(group) == 1 for group in rows.values()), {k: len(v) for k, v in rows.items() if len(v) > 1}
    return set(rows)


@pytest.mark.asyncio
async def test_stripe_events_survive_429_500_timeout_and_late_events(store: Store, upstream: Upstream,
                                                                     client: httpx.AsyncClient) -> None:
    base = int(EPOCH.timestamp()) - 3600
    for n in range(25):
        upstream.add_event(stripe_event(n, base + n * 60))
    newest = base + 24 * 60
    # request 1: 429 Retry-After 3; 2: 500; 3: page 1; 4: timeout; 5: page 2; 6: page 3
    upstream.faults["stripe"] = ["429:3", "500", "", "timeout", ""]

    def during_walk() -> None:  # a new event at the head, and one made visible late *behind* the cursor event
        upstream.add_event(stripe_event(100, int(EPOCH.timestamp()) + 10))
        upstream.add_event(stripe_event(101, newest), position=-1)

    upstream.hooks["stripe"][5] = during_walk
    fake = FakeTime()
    polls = poller(store, client, fake, "stripe-events", upstream.url, page_size=10, backoff_base_seconds=1)

    first = await polls.poll_once("src")
    assert first.ok and first.pages == 3 and first.new_items == 25
    assert fake.slept[0] == 3.0  # RFC 9110 Retry-After, seconds form
    assert 0 <= fake.slept[1] <= 2 and 0 <= fake.slept[2] <= 1  # full jitter: uniform(0, base·2^attempt)
    assert upstream.requests[0][1]["created[gte]"] == str(int(EPOCH.timestamp() - 7 * 86400))
    assert upstream.requests[4][1]["starting_after"] == "evt_000015"  # newest first: page 1 is 24..15
    state = await load_poll_state(store, "src")
    assert state is not None and state.cursor == str(newest) and state.circuit == "closed"

    fake.now += 60
    second = await polls.poll_once("src")
    assert second.ok and second.new_items == 2  # the lookback re-read (duplicates) stored nothing twice
    assert upstream.requests[-1][1]["created[gte]"] == str(newest - 300)
    rows = await stored(store)
    assert once(rows) == upstream.expected_stripe() and len(rows) == 27
    events = {e["id"]: e for _, _, e in upstream.events}
    for key, (row,) in rows.items():
        assert json.loads(row.body) == events[key]  # the event object, as a webhook would carry it
        assert row.state == "pending" and row.content_type == "application/json"
    state = await load_poll_state(store, "src")
    assert state is not None and state.items_total == 27 and state.cursor == str(int(EPOCH.timestamp()) + 10)


def stripe_payout(n: int, created: int, covered: list[dict]) -> tuple[dict, list[dict]]:
    """A ``payout.paid`` event (fixtures3.json ``payout`` as ``po_<n>``) and its balance transactions (the
    fixture ``balance_transaction`` as each covered charge/refund, plus the payout's own entry)."""
    resources = json.loads((FIXTURES / "stripe" / "fixtures3.json").read_text())["resources"]
    txns = [{**resources["balance_transaction"], "id": f"txn_{n}_{i}", **cover} for i, cover in enumerate(covered)]
    paid = sum(t["net"] for t in txns)
    txns.append({**resources["balance_transaction"], "id": f"txn_{n}_po", "amount": -paid, "fee": 0, "net": -paid,
                 "type": "payout", "source": f"po_{n:06d}", "reporting_category": "payout"})
    event = stripe_event(n, created)
    event.update(type="payout.paid", data={"object": {**resources["payout"], "id": f"po_{n:06d}", "amount": paid,
                                                      "status": "paid"}})
    return event, txns


@pytest.mark.asyncio
async def test_stripe_payouts_get_their_balance_transactions_read_and_delivered(
        store: Store, upstream: Upstream, client: httpx.AsyncClient) -> None:
    base = int(EPOCH.timestamp()) - 3600
    for n in range(3):
        upstream.add_event(stripe_event(n, base + n * 60))
    covered = [{"amount": 2000, "fee": 88, "net": 1912, "type": "charge", "source": "ch_A"},
               {"amount": 1500, "fee": 74, "net": 1426, "type": "charge", "source": "ch_B"},
               {"amount": -500, "fee": 0, "net": -500, "type": "refund", "source": "re_C"}]
    payout, txns = stripe_payout(7, base + 600, covered)
    upstream.add_event(payout)
    upstream.balance[payout["data"]["object"]["id"]] = txns
    empty, own_only = stripe_payout(8, base + 660, [])  # covers nothing listed: no detail delivery
    upstream.add_event(empty)
    upstream.balance[empty["data"]["object"]["id"]] = own_only
    upstream.faults["stripe"] = ["", "500"]  # the first balance-transactions request fails once
    fake = FakeTime()
    polls = poller(store, client, fake, "stripe-events", upstream.url, page_size=3)

    first = await polls.poll_once("src")
    assert first.ok and first.new_items == 6
    balance = [query for query in (q for _, q in upstream.requests) if "payout" in query]
    assert balance == [{"payout": "po_000008", "limit": "3"}, {"payout": "po_000008", "limit": "3"},
                       {"payout": "po_000007", "limit": "3"},
                       {"payout": "po_000007", "limit": "3", "starting_after": "txn_7_2"}]
    rows = await stored(store)
    assert once(rows) == upstream.expected_stripe() | {"evt_000007:balance_transactions"}
    (detail,) = rows["evt_000007:balance_transactions"]
    assert detail.headers["x-crosstrace-polled"] == "stripe-payout-detail"
    assert json.loads(detail.body)["data"]["object"]["balance_transactions"] == txns
    state = await load_poll_state(store, "src")
    assert state is not None and state.cursor == str(base + 660)

    source = Source(name="stripe", kind="payment", adapter="stripe")
    as_delivery = Delivery(id=detail.id, source="stripe", received_at=detail.received_at, headers=detail.headers,
                           body=detail.body)
    derived = [(e.source_event_id, e.type, e.amount) for e in stripe.parse(as_delivery, source)]
    assert derived == [("evt_000007:gross", "settlement.paid", Amount(Decimal("30.00"), "USD", "gross")),
                       ("evt_000007:fee", "settlement.paid", Amount(Decimal("1.62"), "USD", "fee")),
                       # one line per covered charge or refund, for the payout reconciliation (issue 17)
                       ("evt_000007:line:ch_A", "settlement.paid", Amount(Decimal("20.00"), "USD", "line")),
                       ("evt_000007:line:ch_B", "settlement.paid", Amount(Decimal("15.00"), "USD", "line")),
                       ("evt_000007:line:re_C", "settlement.paid", Amount(Decimal("-5.00"), "USD", "line"))]
    (plain,) = rows["evt_000007"]  # the event itself: the settlement, as its webhook would give it
    (settled,) = stripe.parse(Delivery(id=plain.id, source="stripe", received_at=plain.received_at,
                                       headers=plain.headers, body=plain.body), source)
    assert settled.amount == Amount(Decimal("28.38"), "USD", "settlement")

    fake.now += 60
    second = await polls.poll_once("src")  # the lookback re-reads both payouts and their transactions
    assert second.ok and second.new_items == 0 and len(await stored(store)) == 6


@pytest.mark.asyncio
async def test_shopify_orders_link_pages_with_shifting_and_late_orders(store: Store, upstream: Upstream,
                                                                       client: httpx.AsyncClient) -> None:
    start = EPOCH - timedelta(hours=2)
    for n in range(30):
        upstream.put_order(shopify_order(n, start + timedelta(minutes=n)))
    first_version_of_2 = f"{450789469 + 2}@{upstream.orders[450789469 + 2]['updated_at']}"

    def during_walk() -> None:  # order #1003 (already read on page 1) is updated: it moves to the end
        upstream.put_order(shopify_order(2, EPOCH - timedelta(minutes=1)))

    upstream.hooks["shopify"][3] = during_walk
    upstream.faults["shopify"] = ["500"]
    fake = FakeTime()
    polls = poller(store, client, fake, "shopify-orders", upstream.url, page_size=7, api_version="2025-01")

    first = await polls.poll_once("src")
    assert first.ok and first.pages == 5
    query = upstream.requests[1][1]
    assert query["order"] == "updated_at asc" and query["status"] == "any" and query["limit"] == "7"
    assert set(upstream.requests[2][1]) == {"limit", "page_info"}  # the Link URL exactly as given
    assert once(await stored(store)) == upstream.expected_shopify() | {first_version_of_2}

    # Committed late upstream (visible only now): one with exactly the cursor's updated_at and a lower id,
    # so it sorts behind the last order read; one a little older than the cursor.
    upstream.put_order(shopify_order(-1, EPOCH - timedelta(minutes=1)))
    upstream.put_order(shopify_order(-2, EPOCH - timedelta(minutes=3)))
    fake.now += 60
    second = await polls.poll_once("src")
    # two late orders: each a version, its creation, and its (failed) fulfillment's creation and version
    assert second.ok and second.new_items == 8
    assert upstream.requests[-1][1]["updated_at_min"] == iso(EPOCH - timedelta(minutes=1, seconds=300))
    rows = await stored(store)
    assert once(rows) == upstream.expected_shopify() | {first_version_of_2}
    (row,) = rows[f"{450789469}@{upstream.orders[450789469]['updated_at']}"]
    assert row.headers["x-shopify-topic"] == "orders/updated"
    assert json.loads(row.body) == upstream.orders[450789469]
    (created,) = rows[f"{450789469}:orders/create"]  # the fixture order is authorized, not paid nor cancelled
    assert created.headers["x-shopify-topic"] == "orders/create" and created.body == row.body
    state = await load_poll_state(store, "src")
    assert state is not None and state.items_total == len(rows) == 33 + 32 + 32 * 2
    assert state.cursor == iso(EPOCH - timedelta(minutes=1))


def erp_item(n: int, updated: datetime, version: int = 1, ident: str | None = None) -> dict:
    """An ERP sales order served as a CloudEvent (so the ``cloudevents`` adapter parses the delivery)
    carrying the API's own ``updated_at``/``version`` fields."""
    ident = ident or f"SO-{n}"
    return {"specversion": "1.0", "id": ident, "source": "erp", "type": "erp.posted", "time": iso(updated),
            "updated_at": iso(updated), "version": version,
            "data": {"refs": [{"namespace": "erp:sales_order", "value": ident}]}}


def rest_poll(**extra: object) -> dict:
    return {"items_path": "data.items", "version_field": "version", "params": {"sort": "updated_at"}, **extra}


@pytest.mark.asyncio
async def test_rest_page_walk_does_not_skip_when_an_item_moves(store: Store, upstream: Upstream,
                                                               client: httpx.AsyncClient) -> None:
    start = EPOCH - timedelta(hours=1)
    for n in range(20):
        upstream.put_item(erp_item(n, start + timedelta(minutes=n)))
    old_1 = "SO-1@1"

    def during_walk() -> None:
        # SO-1 (page 1) changes: with plain page numbers SO-5 would shift onto page 1 and be skipped.
        upstream.put_item(erp_item(1, EPOCH - timedelta(seconds=30), version=2))
        upstream.put_item(erp_item(99, start + timedelta(minutes=4), ident="SO-0099"))  # late, equal cursor

    upstream.hooks["rest"][2] = during_walk
    upstream.faults["rest"] = ["", "500", "429"]  # 429 without Retry-After falls back to backoff
    fake = FakeTime()
    polls = poller(store, client, fake, "rest", upstream.url + "/erp/items", page_size=5,
                   **rest_poll())
    first = await polls.poll_once("src")
    assert first.ok
    rows = await stored(store)
    assert once(rows) == upstream.expected_rest() | {old_1}
    assert [q["page"] for _, q in upstream.requests] == ["1"] * len(upstream.requests)  # keyset, not offsets
    total = (await load_poll_state(store, "src")).items_total  # type: ignore[union-attr]
    assert total == len(rows) == 22

    fake.now += 60
    again = await polls.poll_once("src")
    assert again.ok and again.new_items == 0
    assert (await load_poll_state(store, "src")).items_total == 22  # type: ignore[union-attr]


@pytest.mark.asyncio
async def test_rest_full_pages_of_one_cursor_value_are_stepped_over(store: Store, upstream: Upstream,
                                                                    client: httpx.AsyncClient) -> None:
    for n in range(12):
        upstream.put_item(erp_item(n, EPOCH - timedelta(minutes=5), ident=f"SO-{n:02d}"))
    polls = poller(store, client, FakeTime(), "rest", upstream.url + "/erp/items", page_size=5,
                   **rest_poll())
    outcome = await polls.poll_once("src")
    assert outcome.ok and outcome.new_items == 12
    assert [q["page"] for _, q in upstream.requests] == ["1", "1", "2", "3"]
    assert once(await stored(store)) == upstream.expected_rest()


@pytest.mark.asyncio
async def test_circuit_opens_after_repeated_failures_and_half_opens(store: Store, upstream: Upstream,
                                                                    client: httpx.AsyncClient) -> None:
    upstream.put_item(erp_item(1, EPOCH - timedelta(minutes=5)))
    upstream.faults["rest"] = ["500"] * 20
    fake = FakeTime()
    polls = poller(store, client, fake, "rest", upstream.url + "/erp/items", max_attempts=2,
                   failure_threshold=3, cooldown_seconds=120, **rest_poll())
    outcomes = [await polls.poll_once("src") for _ in range(3)]
    assert [o.circuit for o in outcomes] == ["closed", "closed", "open"]
    state = await load_poll_state(store, "src")
    assert state is not None and state.circuit == "open" and state.consecutive_failures == 3
    assert "HTTP 500" in (state.last_error or "") and "gave up after 2 attempts" in (state.last_error or "")
    config = parse({"sources": [{"name": "src", "kind": "erp", "adapter": "cloudevents",
                                 "options": {"poll": {"style": "rest", "url": upstream.url}}},
                                {"name": "hooks-only", "kind": "erp", "adapter": "cloudevents"}]}, {})
    health = {h.name: h for h in await source_health(store, config, EPOCH.replace(tzinfo=None))}
    assert health["src"].state == "open" and health["src"].consecutive_failures == 3
    assert health["hooks-only"].state == "webhook" and health["hooks-only"].lag_seconds is None

    sent = len(upstream.requests)
    held = await polls.poll_once("src")  # open: no request goes out during the cool-down
    assert held.skipped and len(upstream.requests) == sent and held.wait == 120

    fake.now += 120  # cool-down over: one trial, no retries; it fails → open again at once
    trial = await polls.poll_once("src")
    assert not trial.ok and trial.circuit == "open" and len(upstream.requests) == sent + 1

    fake.now += 120
    upstream.faults["rest"] = []
    recovered = await polls.poll_once("src")
    assert recovered.ok and recovered.new_items == 1
    state = await load_poll_state(store, "src")
    assert state is not None and (state.circuit, state.consecutive_failures, state.last_error) == ("closed", 0, None)


@pytest.mark.asyncio
async def test_long_retry_after_ends_the_run_and_holds_the_source(store: Store, upstream: Upstream,
                                                                  client: httpx.AsyncClient) -> None:
    upstream.put_item(erp_item(1, EPOCH - timedelta(minutes=5)))
    upstream.faults["rest"] = ["429:3600"]
    fake = FakeTime()
    polls = poller(store, client, fake, "rest", upstream.url + "/erp/items", max_retry_after_seconds=600,
                   **rest_poll())
    outcome = await polls.poll_once("src")
    assert not outcome.ok and outcome.wait == 3600 and fake.slept == []
    assert (await polls.poll_once("src")).skipped
    fake.now += 3600
    assert (await polls.poll_once("src")).ok


def test_retry_after_reads_seconds_and_http_dates() -> None:
    now = datetime(2026, 11, 1, 12, 0, tzinfo=UTC).timestamp()
    assert retry_after("120", now) == 120
    assert retry_after("Sun, 01 Nov 2026 12:02:00 GMT", now) == 120  # RFC 9110 §5.6.7 IMF-fixdate
    assert retry_after("Sun, 01 Nov 2026 11:00:00 GMT", now) == 0
    assert retry_after("soon", now) is None and retry_after(None, now) is None


def test_bad_poll_config_names_the_source_and_key() -> None:
    for poll, message in [({"style": "soap", "url": "http://x"}, "style"),
                          ({"style": "rest", "url": "ftp://x"}, "url"),
                          ({"style": "rest", "url": "http://x", "page_size": 0}, "page_size"),
                          ({"style": "rest", "url": "http://x", "itemspath": "a"}, "itemspath"),
                          ({"style": "stripe-events", "url": "http://x", "token": "env:NOPE_UNSET"}, "NOPE_UNSET")]:
        config = parse({"sources": [{"name": "erp", "kind": "erp", "adapter": "cloudevents",
                                     "options": {"poll": poll}}]}, {})
        with pytest.raises(ConfigError, match=message) as info:
            plan_polls(config)
        assert "'erp'" in str(info.value)


def test_check_config_command_checks_the_poll_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from hub.cli import main

    path = tmp_path / "crosstrace.toml"
    path.write_text('[[sources]]\nname = "stripe"\nkind = "payment"\nadapter = "stripe"\n'
                    '[sources.options.poll]\nstyle = "stripe-events"\nurl = "https://api.stripe.com"\n'
                    'payout_fee = false\n')
    assert main(["check-config", "--config", str(path)]) == 2
    assert "source 'stripe': options.poll: unknown key 'payout_fee'" in capsys.readouterr().err
    path.write_text(path.read_text().replace("payout_fee =", "payout_fees ="))
    assert main(["check-config", "--config", str(path)]) == 0


@pytest.mark.asyncio
async def test_concurrency_is_bounded_across_sources(store: Store, upstream: Upstream,
                                                     client: httpx.AsyncClient) -> None:
    in_flight = peak = 0
    gate = asyncio.Event()
    original = upstream._gate

    async def counting(api: str, request):  # type: ignore[no-untyped-def]
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        if in_flight >= 2:
            gate.set()
        await gate.wait()
        in_flight -= 1
        return await original(api, request)

    upstream._gate = counting  # type: ignore[method-assign]
    fake = FakeTime()
    sources = [{"name": f"s{i}", "kind": "erp", "adapter": "cloudevents",
                "options": {"poll": {"style": "rest", "url": upstream.url + "/erp/items", **rest_poll()}}}
               for i in range(4)]
    polls = Poller(store, plan_polls(parse({"sources": sources}, {})), client, concurrency=2, clock=fake.clock,
                   sleep=fake.sleep)
    outcomes = await polls.run_once()
    assert all(o.ok for o in outcomes) and len(upstream.requests) == 4
    assert peak == 2


def _config(folder: Path, store_url: str, upstream: Upstream, style: str) -> Path:
    url = upstream.url + ("/erp/items" if style == "rest" else "")
    extra = "".join(f"{key} = {json.dumps(value)}\n" for key, value in rest_poll().items() if key != "params")
    path = folder / f"poll-{style}.toml"
    path.write_text(f"""
[store]
url = "{store_url}"

[[sources]]
name = "src"
kind = "commerce"
adapter = "cloudevents"

[sources.options.poll]
style = "{style}"
url = "{url}"
page_size = 10
backfill_seconds = 315360000
timeout_seconds = 10
{extra if style == "rest" else ""}""")
    if style == "rest":
        path.write_text(path.read_text() + '[sources.options.poll.params]\nsort = "updated_at"\n')
    return path


@pytest.mark.asyncio
@pytest.mark.parametrize("style", ["shopify-orders", "stripe-events", "rest"])
async def test_sigkill_mid_run_then_restart_stores_every_item_once(store_url: str, upstream: Upstream,
                                                                   tmp_path: Path, style: str) -> None:
    api = {"shopify-orders": "shopify", "stripe-events": "stripe", "rest": "rest"}[style]
    for n in range(60):
        if api == "shopify":
            upstream.put_order(shopify_order(n, EPOCH + timedelta(minutes=n)))
        elif api == "stripe":
            upstream.add_event(stripe_event(n, int(EPOCH.timestamp()) + n * 60))
        else:
            upstream.put_item(erp_item(n, EPOCH + timedelta(minutes=n)))
    expected = {"shopify": upstream.expected_shopify, "stripe": upstream.expected_stripe,
                "rest": upstream.expected_rest}[api]()
    upstream.block[api] = 4  # pages 1-3 are committed when the 4th page is asked for
    config = _config(tmp_path, store_url, upstream, style)
    command = [sys.executable, "-m", "collectors.poller", "--config", str(config), "--once"]
    log = open(tmp_path / "poller.log", "ab")  # noqa: SIM115 - closed below
    try:
        process = await asyncio.create_subprocess_exec(*command, cwd=ROOT, stdout=log, stderr=log)
        await asyncio.wait_for(upstream.blocked.wait(), 60)
        process.kill()  # SIGKILL: no cleanup runs
        assert await asyncio.wait_for(process.wait(), 30) == -9
        upstream.block.clear()
        upstream.release.set()
        store = await Store.open(store_url)
        try:
            # Killed mid-run, after three committed pages of 10: a Shopify order is its version, its creation and
            # its failed fulfillment's creation and version; the REST walk re-asks from the newest value seen
            # (inclusive), so its pages overlap by one.
            assert len(once(await stored(store))) == {"shopify": 120, "stripe": 30, "rest": 28}[api]
            restarted = await asyncio.create_subprocess_exec(*command, cwd=ROOT, stdout=log, stderr=log)
            assert await asyncio.wait_for(restarted.wait(), 60) == 0, (tmp_path / "poller.log").read_text()
            rows = await stored(store)
            assert once(rows) == expected
            state = await load_poll_state(store, "src")
            assert state is not None and state.items_total == len(expected) and state.circuit == "closed"
        finally:
            await store.close()
    finally:
        log.close()


@pytest.mark.asyncio
async def test_the_app_starts_pollers_and_normalizes_what_they_store(store_url: str, upstream: Upstream) -> None:
    for n in range(3):
        upstream.put_item(erp_item(n, datetime.now(UTC) - timedelta(minutes=5)))
    erp = {"name": "erp", "kind": "erp", "adapter": "cloudevents", "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
           "options": {"poll": {"style": "rest", "url": upstream.url + "/erp/items", "interval_seconds": 3600,
                                **rest_poll()}}}
    async with running_app(store_url, extra={"sources": [erp]}) as (_, hub):
        store = hub.started().store
        deadline = asyncio.get_running_loop().time() + 30
        while True:  # the poller and normalizer run in the app's lifespan: wait for the condition
            async with store.read() as conn:
                states = (await conn.execute(select(deliveries.c.state).where(deliveries.c.source == "erp"))).all()
            if len(states) == 3 and all(s.state == "done" for s in states):
                break
            assert asyncio.get_running_loop().time() < deadline, states
            await asyncio.sleep(0.05)
        assert hub.metrics.value("crosstrace_poll_items_total", source="erp") == 3
