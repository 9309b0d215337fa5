"""Maintenance windows (issue 17 item 5): announced over GraphQL (or in the config), they pause the SLA clocks of
the steps their source owes and its silence alerts, and the queue says so; injectable clock, both stores."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from hub.config import parse
from hub.errors import ConfigError
from hub.exceptions.maintenance import shifted_due
from tests.hub.test_exception_rules import FakeClock, at, ingest, listed
from tests.support import OPERATOR_KEY, VIEWER_KEY, WMS_SECRET, cloudevent, gql, running_app
from tests.web.app import login

SCHEDULE = """mutation($source: String!, $from: DateTime!, $until: DateTime!) {
  scheduleMaintenance(source: $source, from: $from, until: $until, reason: "ERP upgrade") {
    id source from until reason createdBy active } }"""


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


@pytest.mark.asyncio
async def test_a_window_pauses_the_erp_clock_and_the_queue_says_so(store_url: str) -> None:
    clock = FakeClock()
    t0 = clock.now
    async with running_app(store_url, clock=clock) as (client, hub):
        # The order is placed at t0; the ERP owes `accepted` within 30 min (the default order flow).
        await ingest(client, hub, cloudevent("shop", "order.placed", [("shop:order", "W1")], time_=at(0)))
        window = await gql(client, SCHEDULE, OPERATOR_KEY, source="erp", **{
            "from": iso(t0 + timedelta(minutes=10)), "until": iso(t0 + timedelta(minutes=40))})
        assert "errors" not in window, window
        made = window["data"]["scheduleMaintenance"]
        assert (made["source"], made["reason"], made["createdBy"], made["active"]) == ("erp", "ERP upgrade", "ops",
                                                                                       False)
        clock.now = t0 + timedelta(minutes=45)  # 45 min, but the clock stood still for 30: due at t0+60 min
        await hub.evaluator.tick(clock.naive())
        assert [e for e in await listed(client, type=["late"])] == []
        steps = await gql(client, '{ transaction(ref: "W1") { steps { name status dueAt } } }', VIEWER_KEY)
        accepted = next(s for s in steps["data"]["transaction"]["steps"] if s["name"] == "accepted")
        assert (accepted["status"], accepted["dueAt"]) == ("pending", iso(t0 + timedelta(minutes=60)))
        clock.now = t0 + timedelta(minutes=61)
        await hub.evaluator.tick(clock.naive())
        [late] = await listed(client, type=["late"])
        assert late["system"] == "erp"

        clock.now = t0 + timedelta(minutes=20)  # while it runs, the queue says so
        assert (await login(client, VIEWER_KEY)).status_code == 303
        page = (await client.get("/exceptions")).text
        assert "<strong>erp</strong> under maintenance until" in page and "ERP upgrade" in page
        listed_windows = await gql(client, "{ maintenanceWindows { source active } }", VIEWER_KEY)
        assert listed_windows["data"]["maintenanceWindows"] == [{"source": "erp", "active": True}]

        ended = await gql(client, 'mutation($id: ID!) { endMaintenance(id: $id) { active until } }', OPERATOR_KEY,
                          id=made["id"])
        assert ended["data"]["endMaintenance"]["active"] is False
        bad = await gql(client, SCHEDULE, OPERATOR_KEY, source="nope", **{"from": iso(t0), "until": iso(t0)})
        assert bad["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
        denied = await gql(client, SCHEDULE, VIEWER_KEY, source="erp", **{
            "from": iso(t0), "until": iso(t0 + timedelta(hours=1))})
        assert denied["errors"][0]["extensions"]["code"] == "FORBIDDEN"


@pytest.mark.asyncio
async def test_silence_is_not_alarming_during_a_configured_window(store_url: str) -> None:
    from tests.hub.test_alerts import WallClock
    from tests.hub.test_source_watch import _rows, _wms_delivery

    clock = WallClock()
    t0 = clock.now
    sources = [{"name": "wms", "kind": "wms", "adapter": "cloudevents", "secret": WMS_SECRET,
                "watch": {"quiet_minutes": 30}}]
    window = {"source": "wms", "from": iso(t0 + timedelta(minutes=20)), "until": iso(t0 + timedelta(minutes=60))}
    async with running_app(store_url, clock=clock, extra={"sources": sources, "maintenance": [window]}) as (
            client, hub):
        await _wms_delivery(client, hub)
        for minutes in (45, 80):  # under maintenance; then 20 min after it ended (quiet time counts from its end)
            clock.now = t0 + timedelta(minutes=minutes)
            await hub.alerts.tick()
            assert await _rows(hub.store, "source_silent") == []
        clock.now = t0 + timedelta(minutes=95)
        await hub.alerts.tick()
        assert [r.status for r in await _rows(hub.store, "source_silent")] == ["open"]


def test_a_paused_clock_resumes_where_it_stopped() -> None:
    t = datetime(2026, 12, 1, 9)
    h = timedelta(hours=1)
    assert shifted_due(t, h, []) == t + h
    assert shifted_due(t, h, [(t + h / 2, t + 2 * h)]) == t + 2.5 * h  # paused for 1.5 h halfway
    assert shifted_due(t, h, [(t - h, t + h / 2)]) == t + 1.5 * h  # already under way when the clock started
    assert shifted_due(t, h, [(t + 3 * h, t + 4 * h)]) == t + h  # after it fell due: no effect


def test_maintenance_config_names_the_mistake() -> None:
    base = {"sources": [{"name": "erp", "kind": "erp", "adapter": "cloudevents", "secret": "s"}]}
    with pytest.raises(ConfigError, match="not a configured source"):
        parse({**base, "maintenance": [{"source": "wms", "from": "2026-12-06T22:00:00Z",
                                        "until": "2026-12-06T23:00:00Z"}]}, {})
    with pytest.raises(ConfigError, match="until must be after from"):
        parse({**base, "maintenance": [{"source": "erp", "from": "2026-12-06T22:00:00Z",
                                        "until": "2026-12-06T21:00:00Z"}]}, {})
    with pytest.raises(ConfigError, match="give a date and time"):
        parse({**base, "maintenance": [{"source": "erp", "from": "tonight", "until": "2026-12-06T21:00:00Z"}]}, {})


@pytest.mark.asyncio
async def test_the_cli_announces_lists_and_ends_a_window(store_url: str, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    import asyncio

    from hub.cli import main

    toml = tmp_path / "crosstrace.toml"
    toml.write_text(f'[store]\nurl = "{store_url}"\n[[sources]]\nname = "erp"\nkind = "erp"\n'
                    'adapter = "cloudevents"\nsecret = "s"\n')
    run = lambda *argv: asyncio.to_thread(main, [*argv, "--config", str(toml)])  # noqa: E731 - its own loop
    until = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    assert await run("maintenance", "add", "--source", "erp", "--until", until, "--reason", "ERP upgrade") == 0
    added = capsys.readouterr().out
    assert " erp " in added and "under way" in added and "ERP upgrade" in added
    assert await run("maintenance", "list") == 0
    assert "ERP upgrade" in capsys.readouterr().out
    assert await run("maintenance", "end", added.split()[0]) == 0
    assert "ended" in capsys.readouterr().out
    assert await run("maintenance", "list") == 0
    assert "no maintenance under way" in capsys.readouterr().out
    assert await run("maintenance", "add", "--source", "nope", "--until", until) == 1
    assert "not a configured source" in capsys.readouterr().out
