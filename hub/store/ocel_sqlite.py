"""An OCEL 2.0 JSON document written as an OCEL 2.0 SQLite file (the standard's tables), for process-mining tools.

A file of its own, not the hub's store; it lives here because only ``hub/store`` speaks SQL.
"""

from __future__ import annotations

import re
import sqlite3
from typing import Any


def _map_names(names: list[str]) -> dict[str, str]:
    """OCEL SQLite ``ocel_type_map``: the type name reduced to letters and digits, made unique."""
    result: dict[str, str] = {}
    used: set[str] = set()
    for name in names:
        base = re.sub(r"[^A-Za-z0-9]", "", name) or "type"
        candidate, n = base, 1
        while candidate.lower() in used:
            n += 1
            candidate = f"{base}{n}"
        used.add(candidate.lower())
        result[name] = candidate
    return result


_SQL_TYPES = {"string": "TEXT", "time": "TIMESTAMP", "integer": "INTEGER", "float": "REAL", "boolean": "BOOLEAN"}


def write_sqlite(doc: dict[str, Any], path: str) -> None:
    """Write an OCEL 2.0 JSON document as an OCEL 2.0 SQLite database at ``path`` (the standard's tables:
    event, event_map_type, event_<type>, object, object_map_type, object_<type>, event_object, object_object).
    Parameters are bound; table and column names come from the type maps and declared attributes only."""
    db = sqlite3.connect(path)
    try:
        cur = db.cursor()
        cur.execute("CREATE TABLE event (ocel_id TEXT PRIMARY KEY, ocel_type TEXT)")
        cur.execute("CREATE TABLE event_map_type (ocel_type TEXT PRIMARY KEY, ocel_type_map TEXT)")
        cur.execute("CREATE TABLE object (ocel_id TEXT PRIMARY KEY, ocel_type TEXT)")
        cur.execute("CREATE TABLE object_map_type (ocel_type TEXT PRIMARY KEY, ocel_type_map TEXT)")
        cur.execute("CREATE TABLE event_object (ocel_event_id TEXT, ocel_object_id TEXT, ocel_qualifier TEXT, "
                    "PRIMARY KEY (ocel_event_id, ocel_object_id, ocel_qualifier))")
        cur.execute("CREATE TABLE object_object (ocel_source_id TEXT, ocel_target_id TEXT, ocel_qualifier TEXT, "
                    "PRIMARY KEY (ocel_source_id, ocel_target_id, ocel_qualifier))")
        event_maps = _map_names([t["name"] for t in doc["eventTypes"]])
        object_maps = _map_names([t["name"] for t in doc["objectTypes"]])
        event_attrs: dict[str, list[str]] = {}
        for kind in doc["eventTypes"]:
            mapped, names = event_maps[kind["name"]], [a["name"] for a in kind["attributes"]]
            event_attrs[kind["name"]] = names
            cur.execute("INSERT INTO event_map_type VALUES (?, ?)", (kind["name"], mapped))
            columns = "".join(f', "{a["name"]}" {_SQL_TYPES[a["type"]]}' for a in kind["attributes"])
            cur.execute(f'CREATE TABLE "event_{mapped}" (ocel_id TEXT PRIMARY KEY, ocel_time TIMESTAMP{columns})')
        object_attrs: dict[str, list[str]] = {}
        for kind in doc["objectTypes"]:
            mapped, names = object_maps[kind["name"]], [a["name"] for a in kind["attributes"]]
            object_attrs[kind["name"]] = names
            cur.execute("INSERT INTO object_map_type VALUES (?, ?)", (kind["name"], mapped))
            columns = "".join(f', "{a["name"]}" {_SQL_TYPES[a["type"]]}' for a in kind["attributes"])
            cur.execute(f'CREATE TABLE "object_{mapped}" (ocel_id TEXT, ocel_time TIMESTAMP, '
                        f"ocel_changed_field TEXT{columns})")
        for event in doc["events"]:
            cur.execute("INSERT INTO event VALUES (?, ?)", (event["id"], event["type"]))
            names = event_attrs[event["type"]]
            values = {a["name"]: a["value"] for a in event["attributes"]}
            marks = ", ".join("?" for _ in range(len(names) + 2))
            cur.execute(f'INSERT INTO "event_{event_maps[event["type"]]}" VALUES ({marks})',
                        (event["id"], event["time"], *(values.get(n) for n in names)))
            cur.executemany("INSERT OR IGNORE INTO event_object VALUES (?, ?, ?)",
                            [(event["id"], r["objectId"], r["qualifier"]) for r in event["relationships"]])
        for obj in doc["objects"]:
            cur.execute("INSERT INTO object VALUES (?, ?)", (obj["id"], obj["type"]))
            names = object_attrs[obj["type"]]
            marks = ", ".join("?" for _ in range(len(names) + 3))
            # The first row holds every attribute's initial value (ocel_changed_field NULL), per the standard.
            first = {a["name"]: a["value"] for a in obj["attributes"]}
            at = min((a["time"] for a in obj["attributes"]), default="1970-01-01T00:00:00Z")
            cur.execute(f'INSERT INTO "object_{object_maps[obj["type"]]}" VALUES ({marks})',
                        (obj["id"], at, None, *(first.get(n) for n in names)))
            cur.executemany("INSERT OR IGNORE INTO object_object VALUES (?, ?, ?)",
                            [(obj["id"], r["objectId"], r["qualifier"]) for r in obj["relationships"]])
        db.commit()
    finally:
        db.close()
