"""Flows (DESIGN §4): what each kind of transaction should go through, and how soon.

A flow is an ordered list of steps. A step is done by any of its event types (alternatives: shipped
*or* picked up in store), optionally only when reported by a given system kind; its SLA runs from the
completion of the step before. Optional steps never go overdue; a step is skipped when an event that
stops it (an order cancellation) arrives first, or when the flow's first step was reported by a system kind
the step is not expected from (a sale rung up at a POS is handed over at the till: never allocated, shipped
or delivered). Retail defaults are built in; ``[flows.<kind>]`` in the config replaces a kind's steps.

A step that is due but not done is *owed* by a system: the configured source of the step's ``system_kind``, else
of the kind that normally reports its event types (:data:`REPORTED_BY`), preferring one that already took part
in the transaction — "waiting on ERP (erp) since 14:02".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Protocol

from hub.errors import ConfigError
from hub.exceptions.maintenance import shifted_due
from hub.model import EVENT_TYPES, SOURCE_KINDS, TRANSACTION_KINDS

if TYPE_CHECKING:
    from hub.config import Config


@dataclass(frozen=True, slots=True)
class Step:
    name: str
    types: tuple[str, ...]
    sla: timedelta | None = None
    system_kind: str | None = None
    optional: bool = False
    stopped_by: tuple[str, ...] = ()
    not_for_kinds: tuple[str, ...] = ()  # skipped when the first step came from a source of one of these kinds


@dataclass(frozen=True, slots=True)
class Flow:
    kind: str
    steps: tuple[Step, ...]


def _h(hours: float) -> timedelta:
    return timedelta(hours=hours)


_CANCEL = ("order.cancelled",)
_TILL = ("pos",)  # a store sale: paid and handed over at the till
DEFAULT_FLOWS: dict[str, Flow] = {
    "order": Flow("order", (
        Step("placed", ("order.placed",)),
        Step("accepted", ("order.accepted", "erp.posted"), _h(0.5), stopped_by=_CANCEL),
        Step("paid", ("payment.captured", "payment.authorized"), _h(24), stopped_by=_CANCEL),
        Step("allocated", ("fulfillment.allocated", "fulfillment.picked", "fulfillment.packed"), _h(24),
             optional=True, stopped_by=_CANCEL, not_for_kinds=_TILL),
        Step("shipped", ("shipment.shipped", "shipment.delivered"), _h(48), stopped_by=_CANCEL, not_for_kinds=_TILL),
        Step("delivered", ("shipment.delivered",), _h(24 * 7), optional=True, stopped_by=_CANCEL,
             not_for_kinds=_TILL),
    )),
    "transfer": Flow("transfer", (
        Step("created", ("transfer.created",)),
        Step("shipped", ("transfer.shipped",), _h(48)),
        Step("received", ("transfer.received",), _h(24 * 5)),
        Step("posted", ("erp.posted",), _h(2), optional=True),
    )),
    "return": Flow("return", (
        Step("requested", ("return.requested",)),
        Step("received", ("return.received",), _h(24 * 21)),
        Step("inspected", ("return.inspected",), _h(48)),
        Step("refunded", ("refund.issued", "return.restocked"), _h(48)),
    )),
    "receipt": Flow("receipt", (
        Step("received", ("receipt.received",)),
        Step("posted", ("erp.posted",), _h(2)),
    )),
    "adjustment": Flow("adjustment", (
        Step("adjusted", ("inventory.adjusted",)),
        Step("posted", ("erp.posted",), _h(2)),
    )),
    "settlement": Flow("settlement", (
        Step("paid", ("settlement.paid",)),
    )),
}


# The kinds of system that normally report each event type, first the likeliest: who owes a step nobody has
# reported yet (a step's own ``system_kind`` wins). The warehouse ships, the carrier scans and delivers.
REPORTED_BY: dict[str, tuple[str, ...]] = {
    "order.accepted": ("erp",), "erp.posted": ("erp",),
    "payment.authorized": ("payment",), "payment.captured": ("payment",), "refund.issued": ("payment",),
    "settlement.paid": ("payment",),
    "fulfillment.allocated": ("wms",), "fulfillment.picked": ("wms",), "fulfillment.packed": ("wms",),
    "shipment.shipped": ("wms", "carrier"), "shipment.in_transit": ("carrier",), "shipment.delivered": ("carrier",),
    "transfer.shipped": ("wms",), "transfer.received": ("wms",), "receipt.received": ("wms",),
    "return.received": ("returns", "wms"), "return.inspected": ("returns", "wms"),
    "return.restocked": ("returns", "wms"),
}
KIND_LABELS = {"erp": "ERP", "pos": "POS", "wms": "WMS", "commerce": "storefront", "marketplace": "marketplace",
               "carrier": "carrier", "payment": "payments", "returns": "returns platform", "other": "system"}


# Not frozen (hashable all the same): a frozen dataclass's __init__ sets each of these 11 fields through
# object.__setattr__, 3x the cost of a plain one, and the evaluator makes one per step of every transaction.
@dataclass(slots=True, unsafe_hash=True)
class StepState:
    """Where one transaction stands on one step. A pending or overdue step says since when its clock runs
    (``since``: the step before it was done) and which source owes it (``owed_by``, of kind ``owed_kind``; the
    kind alone when several sources of that kind could)."""

    name: str
    status: str  # done | pending | overdue | skipped | waiting
    done_at: datetime | None = None
    done_by: str | None = None
    event_id: str | None = None
    due_at: datetime | None = None
    lag_seconds: float | None = None
    optional: bool = False
    since: datetime | None = None
    owed_by: str | None = None
    owed_kind: str | None = None

    @property
    def waiting_on(self) -> str | None:
        """``ERP (erp)``: the kind of system and the source that owe this step (None when nobody does)."""
        if self.owed_kind is None:
            return None
        label = KIND_LABELS.get(self.owed_kind, self.owed_kind)
        return f"{label} ({self.owed_by})" if self.owed_by else f"a {label} system"


@dataclass(frozen=True, slots=True)
class FlowEvent:
    """What step evaluation needs of an event."""

    id: str
    type: str
    source: str
    occurred_at: datetime
    system_kind: str | None


class _Reported(Protocol):
    id: str
    type: str
    source: str
    occurred_at: datetime


class _Placed(_Reported, Protocol):
    system_kind: str | None


def transaction_steps(config: Config, kind: str, events: Iterable[_Reported], now: datetime,
                      paused: Mapping[str, Sequence[tuple[datetime, datetime]]] | None = None) -> list[StepState]:
    """The steps of a transaction of ``kind`` with these events (its flow from ``config``; none for a kind
    without one), each owed by one of the configured sources; ``paused``: maintenance windows per source, during
    which the SLA clocks of the steps that source owes stand still."""
    flow = config.flows.get(kind)
    if flow is None:
        return []
    kinds = {name: source.kind for name, source in config.sources.items()}
    return step_states(flow, [FlowEvent(e.id, e.type, e.source, e.occurred_at, kinds.get(e.source))
                              for e in events], now, kinds, paused)


def owner(step: Step, events: Sequence[_Reported], sources: Mapping[str, str]) -> tuple[str | None, str | None]:
    """(source, kind) that owes ``step``: of the step's ``system_kind`` or the kinds that report its types, a
    source that took part in the transaction, else the only source of the likeliest kind configured; (None, kind)
    when several sources of that kind could; (None, None) when no configured source reports such events."""
    kinds = (step.system_kind,) if step.system_kind else _reporting_kinds(step.types)
    involved = {e.source for e in events}
    for kind in kinds:
        for name, of in sources.items():
            if of == kind and name in involved:
                return name, kind
    for kind in kinds:
        configured = [name for name, of in sources.items() if of == kind]
        if configured:
            return (configured[0] if len(configured) == 1 else None), kind
    return None, None


@lru_cache(maxsize=256)
def _reporting_kinds(types: tuple[str, ...]) -> tuple[str, ...]:
    """The kinds of system that report these event types, the likeliest first (worked out once per step)."""
    return tuple(dict.fromkeys(kind for event_type in types for kind in REPORTED_BY.get(event_type, ())))


def step_states(flow: Flow, events: Sequence[_Placed], now: datetime, sources: Mapping[str, str] | None = None,
                paused: Mapping[str, Sequence[tuple[datetime, datetime]]] | None = None) -> list[StepState]:
    """Each step's state at ``now``. ``waiting``: the step before it is not done yet, so no clock runs.
    ``sources`` (configured source name → kind) names who owes each pending or overdue step."""
    timeline = Timeline(events)
    ordered = timeline.ordered
    states: list[StepState] = []
    previous_done: datetime | None = None
    # The flow has started once any of its steps happened: a transaction holding none of them (a
    # stock snapshot filed under the default kind) runs no clock, so it cannot go overdue.
    started = any(timeline.has(step.types) for step in flow.steps)
    first = timeline.first(flow.steps[0].types)
    origin = first.system_kind if first is not None else None
    for index, step in enumerate(flow.steps):
        done = timeline.first(step.types, step.system_kind)
        if done is not None:
            anchor = previous_done
            states.append(StepState(step.name, "done", done.occurred_at, done.source, done.id,
                                    lag_seconds=(done.occurred_at - anchor).total_seconds() if anchor else None,
                                    optional=step.optional))
            previous_done = done.occurred_at
            continue
        if timeline.has(step.stopped_by) or (origin is not None and origin in step.not_for_kinds):
            states.append(StepState(step.name, "skipped", optional=step.optional))
            continue
        if index == 0:
            anchor_time = ordered[0].occurred_at if started else None
            states.append(StepState(step.name, "pending" if started else "waiting", optional=True))
            previous_done = previous_done or anchor_time
            continue
        if previous_done is None:
            states.append(StepState(step.name, "waiting", optional=step.optional))
            continue
        owed_by, owed_kind = owner(step, ordered, sources or {})
        if step.sla is None:  # expected next but with no deadline: pending, never overdue
            states.append(StepState(step.name, "pending", optional=step.optional, since=previous_done,
                                    owed_by=owed_by, owed_kind=owed_kind))
            if not step.optional:
                previous_done = None
            continue
        due = previous_done + step.sla
        if paused and owed_by in paused:  # the owner is (or was) under maintenance: its clock stood still
            due = shifted_due(previous_done, step.sla, paused[owed_by])
        status = "overdue" if now > due and not step.optional else "pending"
        states.append(StepState(step.name, status, due_at=due, optional=step.optional, since=previous_done,
                                owed_by=owed_by, owed_kind=owed_kind))
        if not step.optional:
            previous_done = None  # later steps wait for this one
    return states


class Timeline:
    """A transaction's events in timeline order (time, then id), indexed by type in one pass: which event does a
    step, and whether any event of some types happened, without scanning the events once per step."""

    __slots__ = ("ordered", "_of_type")

    def __init__(self, events: Iterable[_Placed]) -> None:
        self.ordered = sorted(events, key=_timeline)
        self._of_type: dict[str, list[tuple[int, _Placed]]] = {}
        for place, event in enumerate(self.ordered):
            self._of_type.setdefault(event.type, []).append((place, event))

    def first(self, types: Iterable[str], system_kind: str | None = None) -> _Placed | None:
        """The earliest event of one of ``types`` (reported by ``system_kind`` when given)."""
        best: tuple[int, _Placed] | None = None
        for event_type in types:
            for candidate in self._of_type.get(event_type, ()):
                if system_kind is None or candidate[1].system_kind == system_kind:
                    if best is None or candidate[0] < best[0]:
                        best = candidate
                    break
        return best[1] if best is not None else None

    def has(self, types: Iterable[str]) -> bool:
        return any(event_type in self._of_type for event_type in types)


def _timeline(event: _Placed) -> tuple[datetime, str]:
    return event.occurred_at, event.id


def flow_summary(states: list[StepState]) -> tuple[str, str]:
    """Where a transaction stands on its flow, as (status, words): ``overdue`` ("erp_posted overdue"), ``done``
    ("complete"), ``pending`` ("next: shipped"), or ``none`` ("no flow") for a kind without one."""
    if not states:
        return "none", "no flow"
    overdue = next((s for s in states if s.status == "overdue"), None)
    if overdue is not None:
        return "overdue", f"{overdue.name} overdue"
    if all(s.status in ("done", "skipped") or s.optional for s in states):
        return "done", "complete"
    upcoming = next((s for s in states if s.status == "pending" and not s.optional),
                    next(s for s in states if s.status in ("pending", "waiting")))
    return "pending", f"next: {upcoming.name}"


def next_due(states: list[StepState]) -> datetime | None:
    """The earliest time at which a pending, non-optional step becomes overdue (the due-time index)."""
    dues = [s.due_at for s in states if s.status == "pending" and not s.optional and s.due_at is not None]
    return min(dues) if dues else None


def flows_from_config(raw: dict[str, Any] | None) -> dict[str, Flow]:
    """The built-in flows with ``[flows.<kind>]`` replacements applied.

    ```toml
    [flows.order]
    steps = [
      { name = "placed", types = ["order.placed"] },
      { name = "posted", types = ["erp.posted"], sla_minutes = 20, system_kind = "erp" },
      { name = "shipped", types = ["shipment.shipped", "order.picked_up"], sla_minutes = 2880,
        stopped_by = ["order.cancelled"] },
    ]
    ```
    """
    flows = dict(DEFAULT_FLOWS)
    for kind, table in (raw or {}).items():
        where = f"flows.{kind}"
        if kind not in TRANSACTION_KINDS:
            raise ConfigError(f"{where}: unknown transaction kind; expected one of {', '.join(TRANSACTION_KINDS)}")
        steps = table.get("steps") if isinstance(table, dict) else None
        if not isinstance(steps, list) or not steps:
            raise ConfigError(f"{where}.steps must be a non-empty array of step tables")
        flows[kind] = Flow(kind, tuple(_step(item, f"{where}.steps[{i}]") for i, item in enumerate(steps)))
    return flows


_STEP_KEYS = ("name", "types", "sla_minutes", "system_kind", "optional", "stopped_by", "not_for_kinds")


def _step(item: Any, where: str) -> Step:
    if not isinstance(item, dict) or not isinstance(item.get("name"), str):
        raise ConfigError(f"{where}.name is required")
    unknown = sorted(set(item) - set(_STEP_KEYS))
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r}; expected one of {', '.join(_STEP_KEYS)}")
    types = item.get("types")
    if not isinstance(types, list) or not types or not all(isinstance(t, str) for t in types):
        raise ConfigError(f"{where}.types must be a non-empty list of event types, e.g. [\"erp.posted\"]")
    unknown = [t for t in types if t not in EVENT_TYPES and "." not in t]
    if unknown:
        raise ConfigError(f"{where}.types: {unknown[0]!r} is not an event type (object.verb)")
    sla = item.get("sla_minutes")
    if sla is not None and (not isinstance(sla, int | float) or isinstance(sla, bool) or sla <= 0):
        raise ConfigError(f"{where}.sla_minutes must be a positive number")
    kind = item.get("system_kind")
    if kind is not None and kind not in SOURCE_KINDS:
        raise ConfigError(f"{where}.system_kind must be one of {', '.join(SOURCE_KINDS)}")
    stopped_by = item.get("stopped_by", [])
    if not isinstance(stopped_by, list) or not all(isinstance(t, str) for t in stopped_by):
        raise ConfigError(f"{where}.stopped_by must be a list of event types")
    not_for = item.get("not_for_kinds", [])
    if not isinstance(not_for, list) or not all(k in SOURCE_KINDS for k in not_for):
        raise ConfigError(f"{where}.not_for_kinds must be a list of system kinds ({', '.join(SOURCE_KINDS)})")
    return Step(name=item["name"], types=tuple(types), sla=timedelta(minutes=sla) if sla else None,
                system_kind=kind, optional=bool(item.get("optional", False)), stopped_by=tuple(stopped_by),
                not_for_kinds=tuple(not_for))
