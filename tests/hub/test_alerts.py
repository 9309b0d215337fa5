"""Alert rules over windows (``[[alerts]]``), driven over HTTP with a fake clock, on SQLite and PostgreSQL.

Each breach opens ``alert.<name>`` with the window, threshold and measured value; the same value does
not churn it, a new value refreshes it, it resolves itself when the window clears and reopens on recurrence.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from hub.errors import ConfigError
from hub.exceptions.alert_rules import alerts_from_config
from hub.store import Store
from hub.store.alerts import window_query
from tests.hub.test_exception_rules import EXCEPTIONS, FakeClock, ingest
from tests.support import ERP_SECRET, VIEWER_KEY, cloudevent, dumps, gql, running_app, signed_headers

SYNC_ALERT = {"name": "erp-sync-failures", "metric": "events", "type": "sync.failed", "source": "erp",
              "window_minutes": 10, "above": 3}
LAG_ALERT = {"metric": "lag_p90", "from_source": "shop", "to_source": "erp", "window_minutes": 60,
             "above_minutes": 30}
DEAD_ALERT = {"metric": "dead_letters", "source": "shop", "window_minutes": 60, "above": 2, "severity": "error"}


class WallClock(FakeClock):
    """A fake clock that starts at the real time: deliveries are stamped with the real receive time."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC).replace(microsecond=0)


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


async def alerts(client: Any) -> list[dict[str, Any]]:
    result = await gql(client, EXCEPTIONS, key=VIEWER_KEY, filter={"type": ["alert"]})
    assert "errors" not in result, result
    return result["data"]["exceptions"]["nodes"]


@pytest.mark.asyncio
async def test_event_window_alert_opens_refreshes_resolves_and_reopens(store_url: str) -> None:
    clock = FakeClock()
    t0 = clock.now
    async with running_app(store_url, clock=clock, extra={"alerts": [SYNC_ALERT]}) as (client, hub):
        failed = [cloudevent("erp", "sync.failed", [("erp:so", f"SO-{n}")], time_=iso(t0 + timedelta(minutes=n)))
                  for n in range(1, 5)]
        noise = [cloudevent("wms", "sync.failed", [("erp:so", "SO-9")], time_=iso(t0 + timedelta(minutes=2))),
                 cloudevent("erp", "sync.failed", [("erp:so", "SO-8")], time_=iso(t0 - timedelta(minutes=30)))]
        await ingest(client, hub, *failed, *noise)
        clock.now = t0 + timedelta(minutes=5)
        assert (await hub.alerts.tick())["erp-sync-failures"].value == 4  # wms and the old one do not count
        [alert] = await alerts(client)
        assert (alert["rule"], alert["status"], alert["severity"], alert["system"]) == (
            "alert.erp-sync-failures", "open", "warning", "erp")
        evidence = alert["evidence"]
        assert (evidence["value"], evidence["threshold"], evidence["window_minutes"]) == (4, 3, 10)
        assert evidence["window"] == {"from": "2026-11-02T08:55:00", "to": "2026-11-02T09:05:00"}

        clock.now += timedelta(minutes=1)
        await hub.alerts.tick()  # same value, later window: no change, no history
        [same] = await alerts(client)
        assert same["evidence"] == evidence and [h["action"] for h in same["history"]] == ["opened"]

        await ingest(client, hub, cloudevent("erp", "sync.failed", [("erp:so", "SO-5")],
                                             time_=iso(t0 + timedelta(minutes=5))))
        await hub.alerts.tick()
        [grown] = await alerts(client)
        assert grown["id"] == alert["id"] and grown["evidence"]["value"] == 5

        clock.now = t0 + timedelta(minutes=16)  # window (09:06, 09:16]: empty
        await hub.alerts.tick()
        [cleared] = await alerts(client)
        assert cleared["status"] == "resolved" and cleared["resolvedBy"] == "system"
        assert cleared["history"][-1]["note"].startswith("back within the threshold: 0 <= 3")

        await ingest(client, hub, *[cloudevent("erp", "sync.failed", [("erp:so", f"SO-R{n}")],
                                               time_=iso(t0 + timedelta(minutes=15))) for n in range(4)])
        await hub.alerts.tick()
        [again] = await alerts(client)
        assert again["id"] == alert["id"] and again["status"] == "open"  # never two: the same one reopens
        assert [h["action"] for h in again["history"]] == ["opened", "resolved", "reopened"]


@pytest.mark.asyncio
async def test_lag_percentile_and_dead_letter_alerts(store_url: str) -> None:
    clock = WallClock()
    t0 = clock.now
    async with running_app(store_url, clock=clock, extra={"alerts": [LAG_ALERT, DEAD_ALERT]}) as (client, hub):
        lags = [5] * 8 + [45, 45]  # nearest-rank p90 of ten lags is the 9th: 45 minutes
        for n, lag in enumerate(lags):
            await ingest(client, hub,
                         cloudevent("shop", "order.placed", [("shop:order", f"W{n}")], time_=iso(t0)),
                         cloudevent("erp", "erp.posted", [("shop:order", f"W{n}"), ("erp:so", f"SO{n}")],
                                    time_=iso(t0 + timedelta(minutes=lag))))
        for n in range(3):  # signed but not a CloudEvent: stored, acknowledged, dead-lettered
            body = dumps({"not": "a cloudevent", "n": n})
            response = await client.post("/hooks/shop", content=body,
                                          headers=signed_headers(body, ERP_SECRET, timestamp=int(clock())))
            assert response.status_code == 202, response.text
        await hub.normalizer.run_until_idle()

        clock.now = t0 + timedelta(minutes=50)
        values = await hub.alerts.tick()
        assert (values["lag-p90-shop-erp"].value, values["lag-p90-shop-erp"].samples) == (45, 10)
        assert values["dead-letters-shop"].value == 3
        opened = {a["rule"]: a for a in await alerts(client)}
        assert set(opened) == {"alert.lag-p90-shop-erp", "alert.dead-letters-shop"}
        lag = opened["alert.lag-p90-shop-erp"]
        assert (lag["evidence"]["value"], lag["evidence"]["threshold"], lag["evidence"]["unit"]) == (45, 30, "minutes")
        assert (lag["evidence"]["from_source"], lag["evidence"]["to_source"]) == ("shop", "erp")
        assert opened["alert.dead-letters-shop"]["severity"] == "error"

        clock.now = t0 + timedelta(minutes=200)
        await hub.alerts.tick()
        assert {a["status"] for a in await alerts(client)} == {"resolved"}


@pytest.mark.parametrize(("item", "message"), [
    ({"metric": "bytes", "window_minutes": 5, "above": 1}, "alerts[0].metric = 'bytes'"),
    ({"metric": "events", "window_minutes": 5, "above": 1}, "needs type"),
    ({"metric": "events", "type": "sync.failed", "window_minutes": 0, "above": 1}, "window_minutes must be"),
    ({"metric": "lag_p90", "from_source": "shop", "to_source": "erp", "window_minutes": 5, "above": 1},
     "takes above_minutes"),
    ({"metric": "dead_letters", "source": "nope", "window_minutes": 5, "above": 1}, "not a configured source"),
    ({"metric": "events", "type": "x", "window_minutes": 5, "above": 1, "colour": "red"}, "unknown key 'colour'"),
])
def test_bad_alert_config_names_the_key(item: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        alerts_from_config([item], ["erp", "shop"])


@pytest.mark.asyncio
async def test_every_window_read_is_an_index_range(store: Store) -> None:
    """No full scan: with sequential scans priced out (PostgreSQL) the plans still read an index."""
    now = datetime(2026, 11, 2, 9, 0)
    any_source = {"name": "any-sync", "metric": "events", "type": "sync.failed", "window_minutes": 10, "above": 3}
    rules = alerts_from_config([SYNC_ALERT, LAG_ALERT, DEAD_ALERT, any_source], ["erp", "shop"])
    async with store.read() as conn:
        if store.dialect == "postgresql":
            await conn.execute(text("SET enable_seqscan = off"))
        for rule in rules:
            query = window_query(rule, now, ["erp", "shop", "ingest"])
            prefix = "EXPLAIN QUERY PLAN" if store.dialect == "sqlite" else "EXPLAIN"
            compiled = query.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
            params = tuple(compiled.params[name] for name in compiled.positiontup or ())
            plan = " ".join(str(row[-1]) for row in await conn.exec_driver_sql(f"{prefix} {compiled}", params))
            assert "ix_events_" in plan or "ix_deliveries_dead" in plan, (rule.name, plan)
            assert "SCAN events" not in plan and "Seq Scan" not in plan, (rule.name, plan)
