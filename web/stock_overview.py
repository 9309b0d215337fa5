"""``/stock`` without a SKU: every (SKU, location) with its sources, how fresh each one's latest figure is, the
divergence and value at risk, sortable; a blank location or a negative on-hand is explained, not hidden."""

from __future__ import annotations

from datetime import datetime
from typing import Any

SORTS = ("divergence", "value", "freshness", "sku", "location")


def overview_cells(rows: list[Any], divergences: list[Any], now: datetime, sort: str) -> list[dict[str, Any]]:
    """One entry per (sku, location): ``sources`` [(source, as_of, age seconds, on_hand)], ``units`` and ``value``
    at risk (open or pending divergences), ``oldest`` (the stalest source's age) and ``notes``."""
    cells: dict[tuple[str, str], dict[str, Any]] = {}
    for row in rows:
        cell = cells.setdefault((row.sku, row.location), {"sku": row.sku, "location": row.location, "sources": [],
                                                          "units": 0.0, "value": None, "notes": []})
        age = max((now - row.as_of).total_seconds(), 0.0)
        cell["sources"].append({"source": row.source, "as_of": row.as_of, "age": age, "on_hand": row.on_hand,
                                "counted": row.base_at is not None})
        if row.on_hand is not None and row.on_hand < 0 and row.base_at is not None:
            cell["notes"].append(f"{row.source}: {row.on_hand:g} on hand, it sold or moved more than it counted "
                                 "(kept as reported; its next count corrects it)")
    for d in divergences:
        cell = cells.get((d.sku, d.location))
        if cell is not None:
            cell["units"] += float(d.units)
            if d.value is not None:
                cell["value"] = (cell["value"] or 0.0) + float(d.value)
    for cell in cells.values():
        cell["oldest"] = max(s["age"] for s in cell["sources"])
        uncounted = [s["source"] for s in cell["sources"] if not s["counted"]]
        if uncounted:
            cell["notes"].insert(0, f"{', '.join(uncounted)}: movements only, never a count here, so the figure is "
                                    "its net sales and moves, not a stock level")
        if not cell["location"]:
            cell["notes"].insert(0, "no location: reported channel-wide (orders of a marketplace or the web shop "
                                    "that name no warehouse)")
    key = {"divergence": lambda c: (-c["units"], c["sku"], c["location"]),
           "value": lambda c: (-(c["value"] or 0.0), -c["units"], c["sku"], c["location"]),
           "freshness": lambda c: (-c["oldest"], c["sku"], c["location"]),
           "sku": lambda c: (c["sku"], c["location"]),
           "location": lambda c: (c["location"], c["sku"])}[sort if sort in SORTS else "divergence"]
    return sorted(cells.values(), key=key)
