"""Process variants (issue 17 item 7): the distinct paths a kind's transactions took in a window, with counts and
throughput time, and how many deviate from the configured flow (conformance).

A transaction's *path* is its event types in timeline order (``occurred_at``, then ``received_at``), a repeat of
the type just before it folded in (three carrier scans in a row are one ``shipment.in_transit``). Its throughput
time runs from its first event to its last. It *deviates* from its kind's flow (``hub.exceptions.flows``) when

- ``skipped``: a required step is not done (nor stopped, e.g. by a cancellation) while a later step is done —
  shipped but never paid;
- ``out_of_order``: a step was done before a step the flow puts ahead of it — paid before placed.

A transaction still under way (its next step not done yet) does not deviate. The same transactions as the process
map (:func:`hub.export.process_map.chosen_timelines`): at most ``max_transactions`` of the newest, said by ``capped``.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from hub.exceptions.flows import transaction_steps
from hub.export.process_map import MAX_TRANSACTIONS, chosen_timelines
from hub.store import Connection
from hub.store.metrics_queries import percentile

if TYPE_CHECKING:
    from hub.config import Config

DEVIATIONS = ("skipped", "out_of_order")


@dataclass(frozen=True, slots=True)
class Variant:
    activities: tuple[str, ...]
    count: int
    share: float  # of the transactions read
    deviating: int  # of its transactions, those that deviate from the flow
    deviations: tuple[str, ...]  # which kinds of deviation its transactions show, e.g. ("skipped: paid",)
    p50_seconds: float | None  # throughput time, first event to last, nearest rank
    p90_seconds: float | None
    max_seconds: float | None


@dataclass(slots=True)
class ProcessVariants:
    kind: str
    since: datetime
    until: datetime
    transactions: int
    conforming: int
    deviating: int
    capped: bool
    variants: list[Variant] = field(default_factory=list)  # the most frequent first, at most ``limit``
    other_variants: int = 0  # distinct paths beyond ``limit``


def path_of(timeline: list[Any]) -> tuple[str, ...]:
    """Event types in timeline order with a repeat of the type just before folded in."""
    path: list[str] = []
    for event in timeline:
        if not path or path[-1] != event.type:
            path.append(event.type)
    return tuple(path)


def deviations(config: Config, kind: str, timeline: list[Any], now: datetime) -> list[str]:
    """How a transaction departs from its kind's flow: ``skipped: <step>`` and ``out_of_order: <step>`` notes."""
    states = transaction_steps(config, kind, timeline, now)
    found: list[str] = []
    done = [(index, s) for index, s in enumerate(states) if s.status == "done"]
    last_done = done[-1][0] if done else -1
    for state in states[:last_done]:
        if state.status not in ("done", "skipped") and not state.optional:
            found.append(f"skipped: {state.name}")
    latest: datetime | None = None
    for _, state in done:
        if latest is not None and state.done_at is not None and state.done_at < latest:
            found.append(f"out_of_order: {state.name}")
        if state.done_at is not None and (latest is None or state.done_at > latest):
            latest = state.done_at
    return found


async def process_variants(conn: Connection, config: Config, kind: str, since: datetime, until: datetime,
                           now: datetime, limit: int = 20,
                           max_transactions: int = MAX_TRANSACTIONS) -> ProcessVariants:
    """The variants of ``kind`` transactions that started in ``[since, until)``, the most frequent first."""
    timelines, capped = await chosen_timelines(conn, kind, since, until, max_transactions)
    members: dict[tuple[str, ...], list[tuple[float, list[str]]]] = defaultdict(list)
    for timeline in timelines.values():
        if not timeline:
            continue
        throughput = (timeline[-1].occurred_at - timeline[0].occurred_at).total_seconds()
        members[path_of(timeline)].append((throughput, deviations(config, kind, timeline, now)))
    total = sum(len(m) for m in members.values())
    variants = []
    for activities, found in members.items():
        times = sorted(t for t, _ in found)
        notes = sorted({note for _, notes in found for note in notes})
        variants.append(Variant(activities, len(found), len(found) / total, sum(1 for _, n in found if n),
                                tuple(notes), percentile(times, 50), percentile(times, 90), times[-1]))
    variants.sort(key=lambda v: (-v.count, v.activities))
    deviating = sum(v.deviating for v in variants)
    return ProcessVariants(kind=kind, since=since, until=until, transactions=total, conforming=total - deviating,
                           deviating=deviating, capped=capped, variants=variants[:limit],
                           other_variants=max(0, len(variants) - limit))
