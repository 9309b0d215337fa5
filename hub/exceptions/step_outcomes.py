"""Step outcomes: what SLA attainment counts, kept per transaction and flow step when the evaluator computes the
steps anyway, so ``hub.kpis.sla_attainment`` is one grouped query instead of a flow walk per transaction.

One row per transaction and step with an SLA: ``on_time`` or ``late`` (done within its SLA or after it), ``pending``
with the time it falls due (overdue once that has passed: the query compares it with its ``now``), or ``none``
(waiting, skipped, optional). Rows carry the key of the flow they were computed with (:func:`flow_key`): after a
change of ``[flows]`` the KPI counts a transaction from its events again until the evaluator has seen it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from hub.config import Config
from hub.exceptions.flows import StepState


class _Reported(Protocol):
    id: str
    type: str
    source: str
    occurred_at: datetime


def flow_key(config: Config, kind: str) -> str | None:
    """A short digest of ``kind``'s flow and the sources' kinds (which steps' ``system_kind`` match); None when
    the kind has no flow."""
    flow = config.flows.get(kind)
    if flow is None:
        return None
    shape = [[s.name, list(s.types), s.sla.total_seconds() if s.sla is not None else None, s.optional,
              s.system_kind, list(s.stopped_by), list(s.not_for_kinds)] for s in flow.steps]
    kinds = sorted((name, source.kind) for name, source in config.sources.items())
    return hashlib.sha256(json.dumps([kind, shape, kinds]).encode()).hexdigest()[:16]


def channel(events: Sequence[_Reported], first_types: Sequence[str]) -> str | None:
    """The source that reported the flow's first step first (the KPI's channel)."""
    return next((e.source for e in sorted(events, key=lambda e: (e.occurred_at, e.id)) if e.type in first_types),
                None)


def outcome_rows(config: Config, tx_id: str, kind: str, events: Sequence[_Reported],
                 states: Sequence[StepState], key: str) -> list[dict[str, Any]]:
    """The rows of one transaction: a step with an SLA each."""
    flow = config.flows[kind]
    slas = {step.name: step.sla for step in flow.steps if step.sla is not None}
    source = channel(events, flow.steps[0].types)
    rows = []
    for state in states:
        sla = slas.get(state.name)
        if sla is None:
            continue
        due_at = None
        if state.status == "done" and state.lag_seconds is not None:
            outcome = "on_time" if state.lag_seconds <= sla.total_seconds() else "late"
        elif state.status in ("pending", "overdue") and not state.optional and state.due_at is not None:
            outcome, due_at = "pending", state.due_at
        else:
            outcome = "none"
        rows.append({"tx_id": tx_id, "step": state.name, "flow": key, "channel": source, "outcome": outcome,
                     "due_at": due_at})
    return rows

