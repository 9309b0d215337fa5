"""`crosstrace replay`: dead letters re-derived after the configuration is fixed, never duplicated."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from sqlalchemy import select

from collectors import parser_for
from hub.cli import main
from hub.config import parse
from hub.ingest.inbox import Inbox
from hub.ingest.normalize import Normalizer
from hub.store import Store
from hub.store.tables import deliveries, events
from hub.telemetry import new_metrics
from tests.support import cloudevent


def config_text(store_url: str, with_legacy: bool) -> str:
    text = f'[store]\nurl = "{store_url}"\n\n[[sources]]\nname = "erp"\nkind = "erp"\nadapter = "cloudevents"\n'
    if with_legacy:
        text += '\n[[sources]]\nname = "legacy"\nkind = "wms"\nadapter = "cloudevents"\n'
    return text


@pytest.mark.asyncio
async def test_replay_command_rederives_dead_letters_after_a_fix(store_url: str, tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    broken = parse({"store": {"url": store_url}, "sources": [{"name": "erp", "kind": "erp",
                                                              "adapter": "cloudevents"}]}, {})
    store = await Store.open(store_url)
    try:
        inbox = Inbox(store, new_metrics())
        inbox.start()
        body = json.dumps(cloudevent("legacy", "shipment.shipped", [("legacy:shipment", "SH-1")], id="x-1")).encode()
        receipt = await inbox.submit(source="legacy", dedup_key="d-1", headers={}, body=body,
                                     content_type="application/json")
        await inbox.stop()
        normalizer = Normalizer(store, parser_for(broken), broken, new_metrics())
        await normalizer.run_until_idle()
        async with store.read() as conn:
            row = (await conn.execute(select(deliveries).where(deliveries.c.id == receipt.delivery_id))).one()
        assert row.state == "dead" and "no longer configured" in row.error
    finally:
        await store.close()

    config = tmp_path / "fixed.toml"
    config.write_text(config_text(store_url, with_legacy=False))
    assert await asyncio.to_thread(main, ["replay", "--config", str(config)]) == 1
    assert "1 still dead" in capsys.readouterr().out
    config.write_text(config_text(store_url, with_legacy=True))
    for _ in range(2):  # replaying twice re-derives, never duplicates
        assert await asyncio.to_thread(main, ["replay", "--config", str(config), "--state", "any",
                                             "--source", "legacy"]) == 0
        assert "replayed 1 deliveries: 1 normalized, 0 still dead" in capsys.readouterr().out

    store = await Store.open(store_url)
    try:
        async with store.read() as conn:
            rows = (await conn.execute(select(events.c.source, events.c.delivery_id, events.c.type))).all()
    finally:
        await store.close()
    assert [tuple(r) for r in rows] == [("legacy", receipt.delivery_id, "shipment.shipped")]
