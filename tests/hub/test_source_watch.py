"""Alerts that notice silence and drift (issue 17 item 5): ``source_silent`` (configured or learned quiet time) and
hourly volume drop/surge against the same hour of previous weeks, with the injectable clock, on both stores."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from hub.config import parse
from hub.errors import ConfigError
from hub.exceptions.lifecycle import Changes
from hub.exceptions.source_watch import Watch, learned_quiet, quiet_time, watch_sources
from hub.store import Store
from hub.store.tables import exceptions
from tests.hub.test_alerts import WallClock
from tests.resolvers.seed import delivery, event, write
from tests.support import WMS_SECRET, cloudevent, dumps, running_app, signed_headers

NOW = datetime(2026, 11, 30, 10, 20)  # a Monday; the last complete hour is 09:00-10:00


async def _wms_delivery(client: Any, hub: Any) -> None:
    body = dumps(cloudevent("wms", "shipment.shipped", [("wms:shipment", f"SH-{datetime.now().timestamp()}")]))
    response = await client.post("/hooks/wms", content=body, headers=signed_headers(body, WMS_SECRET))
    assert response.status_code == 202, response.text
    await hub.normalizer.run_until_idle()


async def _rows(store: Store, type_: str) -> list[Any]:
    async with store.read() as conn:
        return (await conn.execute(select(exceptions).where(exceptions.c.type == type_)
                                   .order_by(exceptions.c.opened_at))).all()


@pytest.mark.asyncio
async def test_a_silent_source_opens_source_silent_and_resumed_deliveries_resolve_it(store_url: str) -> None:
    clock = WallClock()
    t0 = clock.now
    sources = [{"name": "wms", "kind": "wms", "adapter": "cloudevents", "secret": WMS_SECRET,
                "watch": {"quiet_minutes": 30}}]
    async with running_app(store_url, clock=clock, extra={"sources": sources}) as (client, hub):
        await hub.alerts.tick()
        assert await _rows(hub.store, "source_silent") == []  # never sent anything: not started, not silent
        await _wms_delivery(client, hub)
        clock.now = t0 + timedelta(minutes=20)
        await hub.alerts.tick()
        assert await _rows(hub.store, "source_silent") == []
        clock.now = t0 + timedelta(minutes=45)
        await hub.alerts.tick()
        await hub.alerts.tick()  # still silent: the same exception, no new history
        [silent] = await _rows(hub.store, "source_silent")
        assert (silent.status, silent.system, silent.system_kind, silent.subject) == ("open", "wms", "wms", "wms")
        assert silent.evidence["quiet_minutes"] == 30 and "has sent nothing since" in silent.message

        clock.now = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=1)  # deliveries resume
        await _wms_delivery(client, hub)
        await hub.alerts.tick()
        [resumed] = await _rows(hub.store, "source_silent")
        assert resumed.status == "resolved" and resumed.resolved_by == "system"
        assert resumed.resolved_at == clock.naive()  # on the hub's clock


def test_learned_quiet_time_is_the_longest_gap_of_the_week() -> None:
    hours = {h: 1 for h in range(0, 168) if h not in (50, 51, 52)}  # one three-hour gap
    assert learned_quiet(hours, 0, 168) == timedelta(hours=6)  # 1.5 × (3 + 1)
    assert learned_quiet({h: 1 for h in range(23)}, 0, 168) is None  # seen in 23 hours: nothing learned yet
    assert learned_quiet({h: 1 for h in range(168)}, 0, 168) == timedelta(hours=1.5)


@pytest.mark.asyncio
async def test_learned_quiet_time_from_the_store_and_its_alert(store: Store) -> None:
    start = NOW.replace(minute=0) - timedelta(days=7)
    received = [start + timedelta(hours=h, minutes=5) for h in range(168) if h not in (100, 101, 102)]
    await write(store, delivery_rows=[{**delivery(n, "erp", "done", at), "dedup_key": f"d{n}"}
                                      for n, at in enumerate(received)])
    watch = Watch(learn_quiet=True)
    async with store.read() as conn:
        assert await quiet_time(conn, "erp", watch, received[-1]) == timedelta(hours=6)
    erp = parse({"sources": [{"name": "erp", "kind": "erp", "adapter": "cloudevents", "secret": "s",
                              "watch": {"quiet_minutes": "learn"}}]}, {}).sources["erp"]
    last = received[-1]
    for now, expected in ((last + timedelta(hours=5), []), (last + timedelta(hours=7), ["open"])):
        async with store.write() as conn:
            await watch_sources(conn, [erp], now, (), Changes())
        assert [r.status for r in await _rows(store, "source_silent")] == expected
    [row] = await _rows(store, "source_silent")
    assert row.evidence["learned"] is True and row.evidence["quiet_minutes"] == 360


@pytest.mark.asyncio
async def test_volume_drop_and_surge_against_the_same_hour_of_previous_weeks(store: Store) -> None:
    shop = parse({"sources": [{"name": "shop", "kind": "commerce", "adapter": "cloudevents", "secret": "s",
                               "watch": {"volume_factor": 3, "volume_weeks": 4}}]}, {}).sources["shop"]
    hour = NOW.replace(minute=0) - timedelta(hours=1)  # 09:00-10:00
    rows, n = [], 0
    for week, count in ((1, 24), (2, 16), (3, 20), (4, 20)):  # the same hour averaged 20: the band is 6.67 to 60
        for i in range(count):
            n += 1
            rows.append(event(n, f"tx_{n}", "shop", "order.placed", hour - timedelta(weeks=week, minutes=-i)))
    for i in range(2):  # this hour: 2 orders, a drop; a quiet type (1 a week) never pages
        n += 1
        rows.append(event(n, f"tx_{n}", "shop", "order.placed", hour + timedelta(minutes=i)))
    rows += [event(900 + w, f"tx_r{w}", "shop", "refund.issued", hour - timedelta(weeks=w)) for w in range(1, 5)]
    await write(store, event_rows=rows)

    async def tick(now: datetime) -> None:
        async with store.write() as conn:
            await watch_sources(conn, [shop], now, (), Changes())

    await tick(NOW)
    [drop] = await _rows(store, "volume_drop")
    assert (drop.status, drop.subject, drop.evidence["value"], drop.evidence["baseline"],
            drop.evidence["weeks"]) == ("open", "shop:order.placed", 2, 20.0, [24, 16, 20, 20])
    assert await _rows(store, "volume_surge") == []
    # the next hour (10:00-11:00) is back in the band: 30 orders, against 20 a week at that hour before
    later = [event(2000 + i, f"tx_l{i}", "shop", "order.placed", hour + timedelta(hours=1, minutes=i))
             for i in range(30)]
    later += [event(3000 + w * 100 + i, f"tx_w{w}_{i}", "shop", "order.placed",
                    hour + timedelta(hours=1) - timedelta(weeks=w, minutes=-i)) for w in range(1, 5) for i in range(20)]
    await write(store, event_rows=later)
    await tick(NOW + timedelta(hours=1))
    [cleared] = await _rows(store, "volume_drop")
    assert cleared.status == "resolved" and cleared.resolved_at == NOW + timedelta(hours=1)
    surge = [event(5000 + i, f"tx_s{i}", "shop", "order.placed", hour + timedelta(hours=1, seconds=i))
             for i in range(40)]  # 70 in the hour: above 60
    await write(store, event_rows=surge)
    await tick(NOW + timedelta(hours=1, minutes=5))
    [up] = await _rows(store, "volume_surge")
    assert (up.status, up.evidence["value"]) == ("open", 70)


def test_watch_config_says_what_is_wrong() -> None:
    base = {"name": "erp", "kind": "erp", "adapter": "cloudevents", "secret": "s"}
    for watch, message in (({"quiet_minutes": 0}, "quiet_minutes = 0"), ({"quiet_minutes": "soon"}, "or \"learn\""),
                           ({"volume_factor": 1}, "a number above 1"), ({"volume_weeks": 20}, "1 to 12"),
                           ({"quiet": 5}, "unknown key 'quiet'"), ("often", "must be a table")):
        with pytest.raises(ConfigError, match=message):
            parse({"sources": [{**base, "watch": watch}]}, {})
