"""The running hub's parts, as handed to GraphQL resolvers and web routes (built by ``hub.app``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from hub.config import Config
from hub.errors import Busy
from hub.exceptions.alerts import AlertEvaluator
from hub.exceptions.broadcast import Broadcaster
from hub.exceptions.evaluate import Evaluator
from hub.exceptions.notify import Notifier
from hub.ingest.inbox import Inbox
from hub.ingest.normalize import Normalizer
from hub.periodic import Heartbeats
from hub.store import Store
from hub.telemetry import Metrics


@dataclass
class Hub:
    config: Config
    metrics: Metrics
    store: Store | None = None
    inbox: Inbox | None = None
    normalizer: Normalizer | None = None
    evaluator: Evaluator | None = None
    alerts: AlertEvaluator | None = None
    notifier: Notifier | None = None
    broadcaster: Broadcaster = field(default_factory=Broadcaster)
    heartbeats: Heartbeats = field(default_factory=Heartbeats)  # background loops' last ticks, for /healthz

    def require_store(self) -> Store:
        if self.store is None:
            raise RuntimeError("the hub is not started")
        return self.store

    def require_inbox(self) -> Inbox:
        if self.inbox is None:
            raise Busy("the hub is starting or stopping", retry_after=5)
        return self.inbox
