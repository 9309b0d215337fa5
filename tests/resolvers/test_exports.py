"""/export: CSV and NDJSON lists (filters, keys, masking, streaming across batches) and the OCEL 2.0 log in JSON
(validated against the OCEL 2.0 JSON schema) and SQLite, on both stores."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from datetime import datetime, timedelta
from pathlib import Path

import jsonschema
import orjson
import pytest

from hub.export.rows import BATCH, COLUMNS
from tests.resolvers.seed import T0, delivery, event, exception, transaction, write
from tests.support import OPERATOR_KEY, VIEWER_KEY, running_app

SCHEMA = json.loads(Path(__file__).with_name("ocel20_schema.json").read_text())
EMAIL = "jane.doe@example.com"


def _auth(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


async def _seed(store) -> None:  # type: ignore[no-untyped-def]
    evs = [event(1, "tx_a", "shop", "order.placed", T0, amount_value="49.90", amount_currency="EUR",
                 amount_kind="total"),
           event(2, "tx_a", "erp", "erp.posted", T0 + timedelta(minutes=5), status="failed",
                 error=f"customer {EMAIL} rejected"),
           event(3, "tx_b", "shop", "order.placed", T0 + timedelta(minutes=9)),
           event(4, "tx_c", "wms", "transfer.shipped", T0 + timedelta(days=2))]
    ref_rows = [{"event_id": "evt_0001", "namespace": "shop:order", "value": "1001", "role": "identity"},
                {"event_id": "evt_0001", "namespace": "shop:email", "value": EMAIL, "role": "related"},
                {"event_id": "evt_0002", "namespace": "erp:sales_order", "value": "SO-1", "role": "identity"},
                {"event_id": "evt_0002", "namespace": "shop:order", "value": "1001", "role": "identity"},
                {"event_id": "evt_0003", "namespace": "shop:order", "value": "1002", "role": "identity"},
                {"event_id": "evt_0004", "namespace": "wms:transfer", "value": "TR-9", "role": "identity"}]
    await write(store, event_rows=evs, ref_rows=ref_rows,
                tx_rows=[transaction("tx_a", "order", T0, T0 + timedelta(minutes=5), ["shop", "erp"], 2),
                         transaction("tx_b", "order", T0 + timedelta(minutes=9), T0 + timedelta(minutes=9),
                                     ["shop"], 1),
                         transaction("tx_c", "transfer", T0 + timedelta(days=2), T0 + timedelta(days=2), ["wms"],
                                     1)],
                exception_rows=[exception(1, "sync_failed", "open", T0, tx="tx_a"),
                                exception(2, "step_overdue", "resolved", T0, tx="tx_b")],
                delivery_rows=[delivery(n, "shop" if n % 3 else "erp", "done", T0 + timedelta(seconds=n))
                               for n in range(1, BATCH + 150)])


@pytest.mark.asyncio
async def test_list_exports_filter_stream_and_mask(store_url: str) -> None:
    async with running_app(store_url) as (client, hub):
        await _seed(hub.started().store)
        response = await client.get("/export/events.csv", params={"source": "erp"}, headers=_auth(VIEWER_KEY))
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
        rows = list(csv.reader(io.StringIO(response.text)))
        assert rows[0] == COLUMNS["events"] and len(rows) == 2
        row = dict(zip(rows[0], rows[1], strict=True))
        assert row["id"] == "evt_0002" and row["status"] == "failed" and row["occurred_at"].endswith("Z")
        assert EMAIL not in response.text and "customer" in row["error"]  # viewers see personal data masked
        assert [r["namespace"] for r in json.loads(row["refs"])] == ["erp:sales_order", "shop:order"]

        orders = await client.get("/export/transactions.ndjson", params={"kind": "order"}, headers=_auth(VIEWER_KEY))
        assert orders.headers["content-type"].startswith("application/x-ndjson")
        lines = [orjson.loads(line) for line in orders.text.splitlines()]
        assert [tx["id"] for tx in lines] == ["tx_a", "tx_b"] and lines[0]["systems"] == ["shop", "erp"]

        opened = await client.get("/export/exceptions.csv", params={"status": "open"}, headers=_auth(OPERATOR_KEY))
        assert [r[0] for r in csv.reader(io.StringIO(opened.text))][1:] == ["exc_0001"]
        # more rows than one batch: every row once, in id order
        everything = await client.get("/export/deliveries.ndjson", headers=_auth(VIEWER_KEY))
        ids = [orjson.loads(line)["id"] for line in everything.text.splitlines()]
        assert len(ids) == BATCH + 149 and ids == sorted(set(ids))
        limited = await client.get("/export/deliveries.csv", params={"limit": "3", "source": "erp"},
                                   headers=_auth(VIEWER_KEY))
        assert len(limited.text.strip().splitlines()) == 4

        anonymous = await client.get("/export/events.csv")
        assert anonymous.status_code == 401 and anonymous.json()["error"]["code"] == "unauthorized"
        bad = await client.get("/export/events.csv", params={"since": "yesterday"}, headers=_auth(VIEWER_KEY))
        assert bad.status_code == 400 and "since" in bad.json()["error"]["message"]
        unknown = await client.get("/export/events.csv", params={"colour": "red"}, headers=_auth(VIEWER_KEY))
        assert unknown.status_code == 400
        missing = await client.get("/export/payouts.csv", headers=_auth(VIEWER_KEY))
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


def _check_ocel(doc: dict) -> None:
    """The OCEL 2.0 JSON schema, plus what a schema cannot say: declared types and attributes, known objects."""
    jsonschema.Draft7Validator(SCHEMA).validate(doc)
    event_types = {t["name"]: {a["name"] for a in t["attributes"]} for t in doc["eventTypes"]}
    object_types = {t["name"]: {a["name"] for a in t["attributes"]} for t in doc["objectTypes"]}
    object_ids = [o["id"] for o in doc["objects"]]
    assert len(object_ids) == len(set(object_ids))
    for ev in doc["events"]:
        datetime.fromisoformat(ev["time"].replace("Z", "+00:00"))
        assert {a["name"] for a in ev["attributes"]} <= event_types[ev["type"]]
        assert all(r["objectId"] in object_ids for r in ev["relationships"])
    for obj in doc["objects"]:
        assert {a["name"] for a in obj["attributes"]} <= object_types[obj["type"]]
        assert all(r["objectId"] in object_ids for r in obj["relationships"])


def _ocel_from_sqlite(db: sqlite3.Connection) -> dict:
    """An OCEL 2.0 JSON document read back from the standard's SQLite tables (what PM4Py's importer reads)."""
    def rows(sql: str) -> list[sqlite3.Row]:
        return list(db.execute(sql))

    db.row_factory = sqlite3.Row
    event_types, object_types, events, objects = [], [], [], []
    for kind, mapped in rows("SELECT ocel_type, ocel_type_map FROM event_map_type ORDER BY ocel_type"):
        columns = [(c["name"], c["type"]) for c in rows(f'PRAGMA table_info("event_{mapped}")')][2:]
        event_types.append({"name": kind, "attributes": [{"name": n, "type": SQL_TYPES[t]} for n, t in columns]})
        for row in rows(f'SELECT * FROM "event_{mapped}" ORDER BY ocel_id'):
            links = rows(f"SELECT ocel_object_id, ocel_qualifier FROM event_object WHERE ocel_event_id = '{row[0]}'")
            events.append({"id": row["ocel_id"], "type": kind, "time": row["ocel_time"],
                           "attributes": [{"name": n, "value": row[n]} for n, _ in columns if row[n] is not None],
                           "relationships": [{"objectId": o, "qualifier": q} for o, q in links]})
    for kind, mapped in rows("SELECT ocel_type, ocel_type_map FROM object_map_type ORDER BY ocel_type"):
        columns = [(c["name"], c["type"]) for c in rows(f'PRAGMA table_info("object_{mapped}")')][3:]
        object_types.append({"name": kind, "attributes": [{"name": n, "type": SQL_TYPES[t]} for n, t in columns]})
        for row in rows(f'SELECT * FROM "object_{mapped}" WHERE ocel_changed_field IS NULL ORDER BY ocel_id'):
            links = rows(f"SELECT ocel_target_id, ocel_qualifier FROM object_object WHERE ocel_source_id = "
                         f"'{row[0]}'")
            objects.append({"id": row["ocel_id"], "type": kind, "relationships": [
                {"objectId": o, "qualifier": q} for o, q in links], "attributes": [
                {"name": n, "value": row[n], "time": row["ocel_time"]} for n, _ in columns if row[n] is not None]})
    return {"eventTypes": event_types, "objectTypes": object_types, "events": events, "objects": objects}


SQL_TYPES = {"TEXT": "string", "TIMESTAMP": "time", "INTEGER": "integer", "REAL": "float", "BOOLEAN": "boolean"}


def _same_log(one: dict, other: dict) -> None:
    """The same event types, object types, events and objects with the same attributes and relationships."""
    def types(doc: dict, key: str) -> dict:
        return {t["name"]: sorted((a["name"], a["type"]) for a in t["attributes"]) for t in doc[key]}

    def items(doc: dict, key: str, fields: tuple[str, ...]) -> dict:
        return {i["id"]: (i["type"], *(i.get(f) for f in fields),
                          sorted((a["name"], str(a["value"])) for a in i["attributes"]),
                          sorted((r["objectId"], r["qualifier"]) for r in i["relationships"])) for i in doc[key]}

    assert types(one, "eventTypes") == types(other, "eventTypes")
    assert types(one, "objectTypes") == types(other, "objectTypes")
    assert items(one, "events", ("time",)) == items(other, "events", ("time",))
    assert items(one, "objects", ()) == items(other, "objects", ())


@pytest.mark.asyncio
async def test_ocel_json_and_sqlite_of_a_window(store_url: str, tmp_path: Path) -> None:
    async with running_app(store_url) as (client, hub):
        await _seed(hub.started().store)
        window = {"since": "2026-10-24T21:00:00Z", "until": "2026-10-25T00:00:00Z"}
        response = await client.get("/export/ocel.json", params=window, headers=_auth(VIEWER_KEY))
        assert response.status_code == 200, response.text
        doc = response.json()
        _check_ocel(doc)
        assert [e["id"] for e in doc["events"]] == ["evt_0001", "evt_0002", "evt_0003"]  # tx_c is outside
        assert {t["name"] for t in doc["objectTypes"]} == {"order", "shop:order", "shop:email", "erp:sales_order"}
        placed = doc["events"][0]
        assert {"objectId": "tx_a", "qualifier": "transaction"} in placed["relationships"]
        assert {"name": "amount", "value": 49.9} in placed["attributes"]
        tx_a = next(o for o in doc["objects"] if o["id"] == "tx_a")
        assert {r["qualifier"] for r in tx_a["relationships"]} == {"identified by", "related to"}
        assert EMAIL not in response.text

        sqlite_file = await client.get("/export/ocel.sqlite", params=window, headers=_auth(VIEWER_KEY))
        assert sqlite_file.status_code == 200
        path = tmp_path / "ocel.sqlite"
        path.write_bytes(sqlite_file.content)
        db = sqlite3.connect(path)
        try:
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            assert {"event", "event_map_type", "object", "object_map_type", "event_object", "object_object",
                    "event_orderplaced", "event_erpposted", "object_order", "object_shoporder"} <= tables
            assert db.execute("SELECT count(*) FROM event").fetchone()[0] == 3
            assert db.execute("SELECT count(*) FROM object").fetchone()[0] == len(doc["objects"])
            assert db.execute("SELECT count(*) FROM event_object").fetchone()[0] == sum(
                len(e["relationships"]) for e in doc["events"])
            assert db.execute("SELECT status, error FROM event_erpposted").fetchone()[0] == "failed"
            from_sqlite = _ocel_from_sqlite(db)
            _check_ocel(from_sqlite)  # the SQLite flavour, read back, is a valid OCEL 2.0 log
            _same_log(from_sqlite, doc)  # … and the same log as the JSON flavour
        finally:
            db.close()
        assert (await client.get("/export/ocel.xml", headers=_auth(VIEWER_KEY))).status_code == 404
