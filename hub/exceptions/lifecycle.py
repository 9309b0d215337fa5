"""Exceptions (DESIGN §4): what rules find, kept with evidence and a history; never two open per rule+subject.

Lifecycle: open → acknowledged → resolved. Rules re-evaluate as events arrive and time passes: an
exception whose evidence clears resolves itself (history says so); one that recurs after that reopens.
A person's resolution stands until the evidence changes.

Every change here also moves the exception between the counters of :mod:`hub.store.exception_counts`, in the
same transaction, so the dashboards' counts always equal a fresh count of the rows.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from hub.config import RoutingRule
from hub.ids import new_id
from hub.model import SEVERITIES, utcnow
from hub.store import Connection, exception_rows
from hub.store import exception_counts as counts

SYSTEM = "system"
_LOOK_UP = object()  # raise_exception's default for ``existing``: read the latest row for the key


@dataclass(frozen=True, slots=True)
class Finding:
    """What a rule found: an exception that should be open."""

    rule: str
    type: str
    severity: str
    subject: str
    message: str
    evidence: dict[str, Any]
    tx_id: str | None = None
    tx_kind: str | None = None
    system: str | None = None
    system_kind: str | None = None

    @property
    def key(self) -> str:
        return f"{self.rule}|{self.subject}"


@dataclass(frozen=True, slots=True)
class Change:
    """One thing that happened to an exception (published to ``exceptionEvents`` after commit)."""

    exception_id: str
    action: str  # opened | changed | resolved | reopened | acknowledged | assigned
    status: str
    type: str
    severity: str
    tx_id: str | None
    at: datetime


@dataclass(slots=True)
class Changes:
    """Collects changes inside a write transaction; the caller publishes them once it has committed."""

    items: list[Change] = field(default_factory=list)

    def add(self, row: Any, action: str, status: str, at: datetime) -> None:
        self.items.append(Change(row.id if hasattr(row, "id") else row["id"], action, status, _get(row, "type"),
                                 _get(row, "severity"), _get(row, "tx_id"), at))


def _get(row: Any, name: str) -> Any:
    return row[name] if isinstance(row, dict) else getattr(row, name)


def evidence_hash(evidence: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(evidence, sort_keys=True, default=str).encode()).hexdigest()


def route(finding: Finding, rules: Sequence[RoutingRule]) -> str:
    """The team queue of the first routing rule that matches (type, source, transaction kind, severity)."""
    for rule in rules:
        if ((not rule.types or finding.type in rule.types) and (not rule.sources or finding.system in rule.sources)
                and (not rule.kinds or finding.tx_kind in rule.kinds)
                and (not rule.severities or finding.severity in rule.severities)):
            return rule.queue
    return "ops"


async def raise_exception(conn: Connection, finding: Finding, *, routing: Sequence[RoutingRule] = (),
                          changes: Changes | None = None, existing: Any = _LOOK_UP, now: datetime | None = None) -> str:
    """Open the finding's exception, refresh the open one, or reopen a resolved one whose evidence recurred.

    ``existing`` is the latest row for ``finding.key`` (``None``: there is none) when the caller already loaded
    it; left out, it is read here.
    """
    now = now or utcnow()
    changes = changes if changes is not None else Changes()
    if existing is _LOOK_UP:
        existing = await exception_rows.latest_by_key(conn, finding.key)
    if existing is None:
        return (await open_new(conn, [finding], routing=routing, changes=changes, now=now))[0]
    if existing.status != "resolved":
        finding = replace(finding, severity=raised(finding.severity, getattr(existing, "escalation", 0)))
        values = _refreshed(finding, now)
        if existing.evidence_hash != values["evidence_hash"] or existing.severity != finding.severity:
            await exception_rows.change(conn, existing.id, **values)
            await _count(conn, existing, severity=finding.severity, tx_kind=finding.tx_kind, system=finding.system,
                         system_kind=finding.system_kind, evidence=finding.evidence)
            changes.add(existing, "changed", existing.status, now)
        return existing.id
    values = _refreshed(finding, now)  # reopened at the finding's own severity: escalation starts afresh
    if existing.resolved_by == SYSTEM or existing.evidence_hash != values["evidence_hash"]:
        await exception_rows.change(conn, existing.id, status="open", open_key=finding.key, resolved_at=None,
                                    resolved_by=None, escalation=0, escalating_since=now, **values)
        await _count(conn, existing, status="open", severity=finding.severity, tx_kind=finding.tx_kind,
                     system=finding.system, system_kind=finding.system_kind, evidence=finding.evidence)
        await exception_rows.add_history_entry(conn, existing.id, SYSTEM, "reopened", "the evidence is back", now)
        changes.add(existing, "reopened", "open", now)
        return existing.id
    return existing.id  # resolved by a person and nothing changed since: their decision stands


async def open_new(conn: Connection, findings: Sequence[Finding], *, routing: Sequence[RoutingRule] = (),
                   changes: Changes | None = None, now: datetime | None = None) -> list[str]:
    """Open an exception for each finding whose key has never had one (the caller checked); two statements
    however many. Returns the new ids in the findings' order."""
    if not findings:
        return []
    now = now or utcnow()
    rows = [{"id": new_id("exc"), "type": f.type, "rule": f.rule, "subject": f.subject, "key": f.key,
             "system": f.system, "system_kind": f.system_kind, "queue": route(f, routing), "status": "open",
             "open_key": f.key, "opened_at": now, "escalating_since": now, **_refreshed(f, now)} for f in findings]
    await exception_rows.insert(conn, rows)
    await counts.apply(conn, Counter(key for row in rows for key in counts.keys_of(row)))
    await exception_rows.add_history(conn, [
        {"exception_id": row["id"], "at": now, "actor": SYSTEM, "action": "opened", "note": f.message}
        for row, f in zip(rows, findings, strict=True)])
    if changes is not None:
        for row in rows:
            changes.add(row, "opened", "open", now)
    return [row["id"] for row in rows]


async def _count(conn: Connection, row: Any, **changed: Any) -> None:
    """Move one exception between counters as ``changed`` is written to it."""
    deltas: Counter[counts.Key] = Counter()
    counts.move(deltas, row, **changed)
    await counts.apply(conn, deltas)


def _refreshed(finding: Finding, now: datetime) -> dict[str, Any]:
    """The columns a finding sets each time it is raised."""
    return {"evidence": finding.evidence, "evidence_hash": evidence_hash(finding.evidence),
            "message": finding.message, "severity": finding.severity, "tx_id": finding.tx_id,
            "tx_kind": finding.tx_kind, "system": finding.system, "system_kind": finding.system_kind,
            "updated_at": now}  # the system too: who owes a late step can change (another source took part)


async def auto_resolve(conn: Connection, row: Any, note: str, *, changes: Changes | None = None,
                       now: datetime | None = None) -> None:
    """Resolve an exception because its evidence cleared."""
    now = now or utcnow()
    await exception_rows.change(conn, row.id, status="resolved", open_key=None, resolved_at=now, resolved_by=SYSTEM,
                         updated_at=now)
    await _count(conn, row, status="resolved")
    await exception_rows.add_history_entry(conn, row.id, SYSTEM, "resolved", note, now)
    if changes is not None:
        changes.add(row, "resolved", "resolved", now)


def raised(severity: str, steps: int) -> str:
    """``severity`` raised by ``steps`` levels (info → warning → error → critical), at most critical."""
    index = SEVERITIES.index(severity) if severity in SEVERITIES else 0
    return SEVERITIES[min(len(SEVERITIES) - 1, index + steps)]


async def escalate(conn: Connection, row: Any, level: int, note: str, *, changes: Changes | None = None,
                   now: datetime | None = None) -> None:
    """Escalate an unresolved exception to ``level`` (steps past its SLA), raising its severity a level per step;
    a history entry ``escalated`` (which notifications can follow) says why."""
    now = now or utcnow()
    severity = raised(row.severity, level - row.escalation)
    await exception_rows.change(conn, row.id, escalation=level, severity=severity, updated_at=now)
    await _count(conn, row, severity=severity)
    await exception_rows.add_history_entry(conn, row.id, SYSTEM, "escalated", note, now)
    if changes is not None:
        changes.add(row, "escalated", row.status, now)


async def clear_exception(conn: Connection, *, rule: str, subject: str, note: str = "the evidence cleared",
                          changes: Changes | None = None, now: datetime | None = None) -> str | None:
    """Resolve the open exception for ``rule`` + ``subject``, if any (at ``now``, default the wall clock)."""
    row = await exception_rows.open_by_key(conn, f"{rule}|{subject}")
    if row is None:
        return None
    await auto_resolve(conn, row, note, changes=changes, now=now)
    return row.id


async def act(conn: Connection, ids: Sequence[str], *, actor: str, action: str, assignee: str | None = None,
              note: str | None = None, changes: Changes | None = None, now: datetime | None = None) -> list[str]:
    """A person acknowledges, assigns or resolves exceptions (bulk) at ``now`` (the hub's clock; default the wall
    clock); returns the ids that changed."""
    now = now or utcnow()
    rows = await exception_rows.by_ids(conn, ids)
    done = []
    deltas: Counter[counts.Key] = Counter()
    for row in rows:
        if action == "acknowledged":
            if row.status != "open":
                continue
            values: dict[str, Any] = {"status": "acknowledged"}
        elif action == "assigned":
            values = {"assignee": assignee}
        elif action == "resolved":
            if row.status == "resolved":
                continue
            values = {"status": "resolved", "open_key": None, "resolved_at": now, "resolved_by": actor}
        else:
            raise ValueError(f"unknown action {action!r}")
        await exception_rows.change(conn, row.id, updated_at=now, **values)
        if "status" in values:
            counts.move(deltas, row, status=values["status"])
        said = note if action != "assigned" else f"to {assignee}" + (f": {note}" if note else "")
        await exception_rows.add_history_entry(conn, row.id, actor, action, said, now)
        if changes is not None:
            changes.add(row, action, values.get("status", row.status), now)
        done.append(row.id)
    await counts.apply(conn, deltas)
    return done
