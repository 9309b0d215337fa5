"""Escalation (issue 17 item 5): an exception unresolved past 1×, 2×, 4× its type's SLA goes up a severity level
each step, with a history entry and a signed notification at each, on the hub's clock, on both stores."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import pytest

from hub.config import parse
from hub.errors import ConfigError
from tests.hub.test_alerts import alerts, iso
from tests.hub.test_exception_rules import FakeClock, ingest
from tests.hub.test_notify import NOTIFY_SECRET, Receiver, receiving
from tests.support import cloudevent, running_app

ALERT = {"name": "erp-sync-failures", "metric": "events", "type": "sync.failed", "source": "erp",
         "window_minutes": 24 * 60, "above": 0, "severity": "info"}


@asynccontextmanager
async def escalating_hub(store_url: str, receiver: Receiver, clock: FakeClock) -> AsyncIterator[tuple[Any, Any]]:
    """A hub whose alerts escalate after 60 minutes, notifying ``receiver`` of every alert change."""
    async with receiving(receiver) as base, running_app(store_url, clock=clock, extra={
            "alerts": [ALERT], "exceptions": {"escalation": {"alert": 60}},
            "notifications": [{"name": "ops", "url": f"{base}/ops", "secret": NOTIFY_SECRET, "types": ["alert"]}]},
    ) as (client, hub):
        yield client, hub


@pytest.mark.asyncio
async def test_an_unresolved_exception_escalates_at_1x_2x_4x_its_sla_and_notifies_each_step(store_url: str) -> None:
    receiver = Receiver(failures=0)
    clock = FakeClock()
    t0 = clock.now
    async with escalating_hub(store_url, receiver, clock) as (client, hub):
        await ingest(client, hub, cloudevent("erp", "sync.failed", [("erp:so", "SO-1")], time_=iso(t0)))
        clock.now = t0 + timedelta(minutes=1)
        await hub.alerts.tick()
        [opened] = await alerts(client)
        assert (opened["severity"], opened["status"]) == ("info", "open")

        seen = []
        for minutes, severity in ((30, "info"), (62, "warning"), (90, "warning"), (122, "error"), (242, "critical"),
                                  (600, "critical")):
            clock.now = t0 + timedelta(minutes=minutes)
            await hub.alerts.tick()
            [alert] = await alerts(client)
            seen.append((minutes, alert["severity"]))
            assert alert["severity"] == severity, seen
        escalations = [h for h in alert["history"] if h["action"] == "escalated"]
        assert [h["note"] for h in escalations] == ["unresolved past 1× its SLA of 60 min",
                                                    "unresolved past 2× its SLA of 60 min",
                                                    "unresolved past 4× its SLA of 60 min"]

        await ingest(client, hub, cloudevent("erp", "sync.failed", [("erp:so", "SO-2")], time_=iso(t0)))
        await hub.alerts.tick()  # a new value refreshes the alert: its escalated severity stands
        [refreshed] = await alerts(client)
        assert (refreshed["evidence"]["value"], refreshed["severity"]) == (2, "critical")

        await hub.notifier.run_once()
        # one notification per step (each payload shows the exception as the notifier read it)
        assert [m["type"] for m in receiver.accepted] == ["exception.opened", *["exception.escalated"] * 3]
        assert [m["data"]["change"]["note"] for m in receiver.accepted[1:]] == [h["note"] for h in escalations]


def test_escalation_config_names_the_mistake() -> None:
    with pytest.raises(ConfigError, match="exceptions.escalation.late = 0"):
        parse({"exceptions": {"escalation": {"late": 0}}}, {})
    with pytest.raises(ConfigError, match="must be a table"):
        parse({"exceptions": {"escalation": 5}}, {})
    assert parse({"exceptions": {"escalation": {"late": 90}}}, {}).escalation.sla["late"] == timedelta(minutes=90)


@pytest.mark.asyncio
async def test_a_reopened_exception_escalates_afresh_from_its_reopening(store_url: str) -> None:
    """Escalated to critical, resolved, reopened: back at its own severity, and escalated (and notified) again
    one SLA after the reopening, not at once for the age of its first opening."""
    receiver = Receiver(failures=0)
    clock = FakeClock()
    t0 = clock.now
    async with escalating_hub(store_url, receiver, clock) as (client, hub):
        await ingest(client, hub, cloudevent("erp", "sync.failed", [("erp:so", "SO-1")], time_=iso(t0)))
        clock.now = t0 + timedelta(minutes=1)
        await hub.alerts.tick()
        clock.now = t0 + timedelta(minutes=242)
        await hub.alerts.tick()
        [alert] = await alerts(client)
        assert alert["severity"] == "critical"

        clock.now = t0 + timedelta(hours=25)  # the failure left the 24-hour window: the alert resolves itself
        await hub.alerts.tick()
        [alert] = await alerts(client)
        assert alert["status"] == "resolved"

        reopened_at = t0 + timedelta(hours=30)
        clock.now = reopened_at
        await ingest(client, hub, cloudevent("erp", "sync.failed", [("erp:so", "SO-2")], time_=iso(reopened_at)))
        await hub.alerts.tick()
        [alert] = await alerts(client)
        assert (alert["status"], alert["severity"]) == ("open", "info")

        expected = [(1, "info"), (59, "info"), (61, "warning"), (121, "error"), (241, "critical")]
        seen = []
        for minutes, _ in expected:
            clock.now = reopened_at + timedelta(minutes=minutes)
            await hub.alerts.tick()
            [alert] = await alerts(client)
            seen.append((minutes, alert["severity"]))
        assert seen == expected
        actions = [h["action"] for h in alert["history"]]
        assert actions[actions.index("reopened"):].count("escalated") == 3

        await hub.notifier.run_once()
        types = [m["type"] for m in receiver.accepted]
        assert types[types.index("exception.resolved"):] == [
            "exception.resolved", "exception.opened", *["exception.escalated"] * 3]
