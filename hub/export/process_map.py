"""The observed process: a directly-follows graph of (system, event type) over a kind's transactions in a
time window, edges labelled with how often one event directly followed another and the median lag.

It walks each transaction's events in timeline order (``occurred_at``, then ``received_at``) — the order
the trace page and GraphQL show. At most ``max_transactions`` (the newest) are read; the result says so.
Plain data, so GraphQL can expose it as it is.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from hub.store import Connection
from hub.store.exports import newest_transactions_started, timelines

MAX_TRANSACTIONS = 5000


@dataclass(frozen=True, slots=True)
class Node:
    id: str  # "<source> <type>"
    source: str
    type: str
    count: int  # events
    starts: int  # transactions whose first event this is
    ends: int  # transactions whose last event this is
    position: float  # mean index in the timeline (0 = first): a left-to-right layout hint


@dataclass(frozen=True, slots=True)
class Edge:
    source: str  # node id
    target: str  # node id
    count: int
    median_lag_seconds: float


@dataclass(slots=True)
class ProcessMap:
    kind: str
    since: datetime
    until: datetime
    transactions: int
    capped: bool
    nodes: list[Node] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)


async def chosen_timelines(conn: Connection, kind: str, since: datetime, until: datetime,
                     max_transactions: int) -> tuple[dict[str, list[Any]], bool]:
    """Each chosen transaction's events in timeline order: transactions of ``kind`` whose first event
    falls in ``[since, until)``, newest first, at most ``max_transactions``."""
    ids = await newest_transactions_started(conn, kind, since, until, max_transactions + 1)
    capped = len(ids) > max_transactions
    return await timelines(conn, ids[:max_transactions]), capped


async def process_map(conn: Connection, kind: str, since: datetime, until: datetime,
                      max_transactions: int = MAX_TRANSACTIONS) -> ProcessMap:
    """The directly-follows graph for ``kind`` transactions that started in ``[since, until)``."""
    sequences, capped = await chosen_timelines(conn, kind, since, until, max_transactions)
    counts: dict[str, int] = defaultdict(int)
    starts: dict[str, int] = defaultdict(int)
    ends: dict[str, int] = defaultdict(int)
    positions: dict[str, list[int]] = defaultdict(list)
    lags: dict[tuple[str, str], list[float]] = defaultdict(list)
    names: dict[str, tuple[str, str]] = {}
    for timeline in sequences.values():
        previous: Any = None
        for index, event in enumerate(timeline):
            node = f"{event.source} {event.type}"
            names[node] = (event.source, event.type)
            counts[node] += 1
            positions[node].append(index)
            if previous is not None:
                lags[(f"{previous.source} {previous.type}", node)].append(
                    (event.occurred_at - previous.occurred_at).total_seconds())
            previous = event
        if timeline:
            starts[f"{timeline[0].source} {timeline[0].type}"] += 1
            ends[f"{timeline[-1].source} {timeline[-1].type}"] += 1
    nodes = [Node(id=n, source=names[n][0], type=names[n][1], count=counts[n], starts=starts[n], ends=ends[n],
                  position=sum(positions[n]) / len(positions[n])) for n in counts]
    nodes.sort(key=lambda n: (n.position, -n.count, n.id))
    edges = [Edge(a, b, len(v), statistics.median(v)) for (a, b), v in lags.items()]
    edges.sort(key=lambda e: (-e.count, e.source, e.target))
    return ProcessMap(kind=kind, since=since, until=until, transactions=len(sequences), capped=capped, nodes=nodes,
                      edges=edges)
