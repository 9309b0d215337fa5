"""Dense traces stay readable: a settlement relating 60 charges shows them folded (count, expandable list)."""

from __future__ import annotations

from collections import Counter
from typing import Any

FOLD_OVER = 5  # more related refs of one namespace than this fold into one expandable entry


def fold_refs(refs: list[tuple[str, str, str]]) -> list[dict[str, Any]]:
    """An event's refs as entries: each ref alone, except a namespace's related refs beyond :data:`FOLD_OVER`,
    which become one ``{"namespace", "role", "members"}`` entry where the first of them stood."""
    crowded = {ns for ns, n in Counter(ns for ns, _, role in refs if role == "related").items() if n > FOLD_OVER}
    entries: list[dict[str, Any]] = []
    folds: dict[str, dict[str, Any]] = {}
    for namespace, value, role in refs:
        if role == "related" and namespace in crowded:
            if namespace not in folds:
                folds[namespace] = {"namespace": namespace, "role": role, "members": []}
                entries.append(folds[namespace])
            folds[namespace]["members"].append(value)
        else:
            entries.append({"namespace": namespace, "value": value, "role": role})
    return entries


def fold_ref_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The trace's refs table, its crowded related namespaces folded the same way (systems merged)."""
    crowded = {ns for ns, n in Counter(r["namespace"] for r in rows if r["role"] == "related").items()
               if n > FOLD_OVER}
    entries: list[dict[str, Any]] = []
    folds: dict[str, dict[str, Any]] = {}
    for row in rows:
        namespace = row["namespace"]
        if row["role"] != "related" or namespace not in crowded:
            entries.append(row)
            continue
        if namespace not in folds:
            folds[namespace] = {"namespace": namespace, "role": "related", "members": [], "systems": []}
            entries.append(folds[namespace])
        folds[namespace]["members"].append(row["value"])
        folds[namespace]["systems"] = sorted({*folds[namespace]["systems"], *row["systems"]})
    return entries


def related_summary(related: list[Any], amounts: list[dict[str, Any]]) -> dict[str, Any]:
    """How many related transactions of each kind, and this transaction's gross (or total) amount: the summary
    line a long related list folds under."""
    kinds = Counter(r.kind for r in related)
    total = next((a for kind in ("gross", "total") for a in amounts if a["kind"] == kind), None)
    return {"count": len(related), "kinds": sorted(kinds.items(), key=lambda kv: (-kv[1], kv[0])),
            "total": f"{total['value']} {total['currency']}".strip() if total else None,
            "folded": len(related) > FOLD_OVER}
