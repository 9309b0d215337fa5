"""Retention: raw deliveries and events older than a source's days go; transactions keep their summary."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from hub.access.retention import Housekeeper, Retention, parse_retention
from hub.cli import main
from hub.config import parse
from hub.errors import ConfigError
from hub.model import utcnow
from hub.store import Store
from hub.store.tables import audit_log, deliveries, events, refs, transactions
from tests.support import OPERATOR_KEY, cloudevent, dumps, gql, running_app, signed_headers

DAY = 86400.0


def test_retention_config_is_validated() -> None:
    assert parse({}, {}).retention == Retention()
    assert not Retention().enabled
    config = parse({"retention": {"default_days": 90, "sources": {"shop": 30}}}, {})
    assert config.retention.days_for("shop") == 30 and config.retention.days_for("erp") == 90
    for bad, where in (({"default_days": 0}, "default_days"), ({"sources": {"shop": "30"}}, "sources.shop"),
                       ({"days": 3}, "unknown key"), ({"sources": [1]}, "sources")):
        with pytest.raises(ConfigError, match=where):
            parse_retention(bad)


@pytest.mark.asyncio
async def test_old_deliveries_and_events_are_purged_per_source_on_the_hub_clock(store_url: str) -> None:
    offset = [0.0]
    extra = {"retention": {"sources": {"shop": 30}}}  # erp: no retention, kept forever
    async with running_app(store_url, clock=lambda: time.time() + offset[0], extra=extra) as (client, hub):
        for event in (cloudevent("shop", "order.placed", [("shop:order", "1001")], id="s1"),
                      cloudevent("erp", "erp.posted", [("erp:so", "SO-1"), ("shop:order", "1001")], id="e1")):
            body = dumps(event)
            assert (await client.post(f"/hooks/{event['source']}", content=body,
                                      headers=signed_headers(body))).status_code == 202
        await hub.normalizer.run_until_idle()
        tx = (await gql(client, '{ transaction(ref: "1001") { id events { source } } }'))["data"]["transaction"]
        assert sorted(e["source"] for e in tx["events"]) == ["erp", "shop"]

        offset[0] = 29 * DAY  # not yet
        nothing = await gql(client, "mutation { purgeExpired { deliveries events } }")
        assert nothing["data"]["purgeExpired"] == {"deliveries": 0, "events": 0}
        denied = await gql(client, "mutation { purgeExpired { deliveries } }", key=OPERATOR_KEY)
        assert denied["errors"][0]["extensions"]["code"] == "FORBIDDEN"

        offset[0] = 31 * DAY
        purged = await gql(client, "mutation { purgeExpired { deliveries events } }")
        assert purged["data"]["purgeExpired"] == {"deliveries": 1, "events": 1}
        after = (await gql(client, '{ transaction(ref: "1001") { id events { source } } }'))["data"]["transaction"]
        assert after["id"] == tx["id"] and [e["source"] for e in after["events"]] == ["erp"]
        async with hub.started().store.read() as conn:
            sources = sorted((await conn.execute(select(deliveries.c.source))).scalars())
            summary = (await conn.execute(select(transactions.c.events).where(transactions.c.id == tx["id"]))).one()
            shop_refs = (await conn.execute(select(func.count()).select_from(refs)
                                            .where(refs.c.namespace == "shop:order"))).scalar_one()
            purge_entries = (await conn.execute(select(audit_log.c.action, audit_log.c.detail)
                                                .where(audit_log.c.action == "purge"))).all()
        assert sources == ["erp"] and summary.events == 2
        assert shop_refs == 1  # the ERP event's link stays; the purged shop event's own refs went with it
        assert len(purge_entries) == 1 and '"events": 1' in purge_entries[0].detail


@pytest.mark.asyncio
async def test_housekeeper_uses_its_clock_and_never_purges_pending_deliveries(store: Store) -> None:
    now = utcnow()
    async with store.write() as conn:
        await conn.execute(deliveries.insert(), [
            {"id": f"dlv_{i}", "source": "shop", "dedup_key": f"k{i}", "received_at": now - timedelta(days=age),
             "headers": {}, "body": b"{}", "state": state}
            for i, (age, state) in enumerate([(10, "done"), (10, "pending"), (10, "dead"), (1, "done")])])
    clock = [now]
    keeper = Housekeeper(store, Retention(default_days=5), lambda: clock[0])
    report = await keeper.run_once()
    assert (report.deliveries, report.events) == (2, 0)
    async with store.read() as conn:
        left = sorted((await conn.execute(select(deliveries.c.id))).scalars())
        assert left == ["dlv_1", "dlv_3"]
        assert (await conn.execute(select(func.count()).select_from(events))).scalar_one() == 0
    clock[0] = now + timedelta(days=10)
    assert (await keeper.run_once()).deliveries == 1  # dlv_3 now old; dlv_1 still pending


def test_purge_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "hub.db"
    config = tmp_path / "crosstrace.toml"
    config.write_text(f'[store]\nurl = "sqlite+aiosqlite:///{db}"\n')
    assert main(["purge", "--config", str(config)]) == 0
    assert "nothing to purge" in capsys.readouterr().out
    config.write_text(f'[store]\nurl = "sqlite+aiosqlite:///{db}"\n[retention]\ndefault_days = 7\n')
    assert main(["purge", "--config", str(config)]) == 0
    assert "purged 0 deliveries and 0 events" in capsys.readouterr().out
