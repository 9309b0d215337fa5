"""Escalation (issue 17 item 5): an exception left unresolved past 1×, 2× and 4× its type's SLA is escalated a step
each time — its severity raised a level (info → warning → error → critical) and an ``escalated`` history entry
written, which ``[[notifications]]`` send (their default actions include it).

``[exceptions.escalation]`` names the SLA per exception type in minutes, e.g. ``late = 60``,
``amount_mismatch = 1440``. Acknowledging does not stop the clock; resolving does, and reopening starts it again
from zero (``escalating_since``; the lifecycle resets the level and severity). Checked by the alert loop on the hub's
clock: per type and step one range read on the partial index of unresolved, not fully escalated exceptions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from hub.errors import ConfigError
from hub.exceptions.lifecycle import Changes, escalate
from hub.store import Connection, exception_rows

STEPS = (1, 2, 4)  # multiples of the SLA; the partial index holds exceptions escalated fewer than len(STEPS) steps


@dataclass(frozen=True, slots=True)
class Escalation:
    sla: dict[str, timedelta] = field(default_factory=dict)  # exception type → how long it may stay unresolved


def parse_escalation(raw: Any) -> Escalation:
    """``[exceptions.escalation]``: exception type = minutes."""
    if raw is None:
        return Escalation()
    if not isinstance(raw, dict):
        raise ConfigError("[exceptions.escalation] must be a table of exception type = minutes, e.g. late = 60")
    sla = {}
    for type_, minutes in raw.items():
        if not isinstance(minutes, int | float) or isinstance(minutes, bool) or minutes <= 0:
            raise ConfigError(f"exceptions.escalation.{type_} = {minutes!r}: the minutes an exception of that type "
                              "may stay unresolved before it escalates, e.g. 60")
        sla[type_] = timedelta(minutes=minutes)
    return Escalation(sla)


async def escalate_due(conn: Connection, escalation: Escalation, now: datetime, changes: Changes) -> int:
    """Escalate every exception past a step of its type's SLA at ``now``; how many were escalated. The highest
    step due is taken at once (a step missed while the hub was down is not replayed one by one)."""
    escalated = 0
    for type_, sla in sorted(escalation.sla.items()):
        for level in range(len(STEPS), 0, -1):
            multiple = STEPS[level - 1]
            for row in await exception_rows.due_for_escalation(conn, type_, now - sla * multiple, level):
                minutes = sla.total_seconds() / 60
                await escalate(conn, row, level, f"unresolved past {multiple}× its SLA of {minutes:g} min",
                               changes=changes, now=now)
                escalated += 1
    return escalated
