"""The hub as handed to GraphQL resolvers, web routes and the receivers (built and started by ``hub.app``).

What exists from construction (config, metrics, clock, broadcaster, heartbeats) is on :class:`Hub`; what
exists only while the hub is started is one :class:`Running`, every part there. A request asks
``hub.started()`` and gets it, or ``Busy`` (503, retry) while the hub is starting or stopping.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from hub.config import Config
from hub.errors import Busy
from hub.exceptions.alerts import AlertEvaluator
from hub.exceptions.broadcast import Broadcaster
from hub.exceptions.evaluate import Evaluator
from hub.exceptions.notify import Notifier
from hub.ingest.handoff import Handoff
from hub.ingest.inbox import Inbox
from hub.ingest.normalize import Normalizer
from hub.leases import Leases
from hub.model import utcnow
from hub.node import new_node_id
from hub.periodic import Heartbeats
from hub.store import Store
from hub.telemetry import Metrics


@dataclass(frozen=True, slots=True)
class Running:
    """The parts of a started hub."""

    store: Store
    inbox: Inbox | None  # None in a worker (``crosstrace worker``): it receives nothing
    # The background duties: None in a web-only process (``serve --role web``), whose worker runs them.
    normalizer: Normalizer | None = None
    evaluator: Evaluator | None = None
    alerts: AlertEvaluator | None = None
    notifier: Notifier | None = None
    leases: Leases | None = None  # the periodic duties this process runs while it holds their lease


@dataclass
class Hub:
    config: Config
    metrics: Metrics
    now: Callable[[], datetime] = utcnow  # the app's clock, naive UTC (the evaluator's: step states agree)
    broadcaster: Broadcaster = field(default_factory=Broadcaster)
    heartbeats: Heartbeats = field(default_factory=Heartbeats)  # background loops' last ticks, for /healthz
    running: Running | None = None  # set once every part has started, cleared once they have stopped
    node: str = field(default_factory=new_node_id)  # this process in the cluster: claims, leases, metrics
    handoff: Handoff = field(default_factory=Handoff)  # /ingest's parsed events for this process's normalizer

    def started(self) -> Running:
        """The running parts; ``Busy`` (503) while the hub is starting or stopping."""
        if self.running is None:
            raise Busy("the hub is starting or stopping", retry_after=5)
        return self.running

    # Tests' and tools' view of one part (None while not started); request code uses started().
    @property
    def store(self) -> Store | None:
        return self.running.store if self.running else None

    @property
    def inbox(self) -> Inbox | None:
        return self.running.inbox if self.running else None

    @property
    def normalizer(self) -> Normalizer | None:
        return self.running.normalizer if self.running else None

    @property
    def evaluator(self) -> Evaluator | None:
        return self.running.evaluator if self.running else None

    @property
    def alerts(self) -> AlertEvaluator | None:
        return self.running.alerts if self.running else None

    @property
    def notifier(self) -> Notifier | None:
        return self.running.notifier if self.running else None

    @property
    def leases(self) -> Leases | None:
        return self.running.leases if self.running else None
