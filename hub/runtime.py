"""The running hub's parts, as handed to GraphQL resolvers and web routes (built by ``hub.app``)."""

from __future__ import annotations

from dataclasses import dataclass

from hub.config import Config
from hub.correlate import CorrelationSettings
from hub.errors import Busy
from hub.inbox import Inbox
from hub.normalize import Normalizer
from hub.store import Store
from hub.telemetry import Metrics


@dataclass
class Hub:
    config: Config
    metrics: Metrics
    store: Store | None = None
    inbox: Inbox | None = None
    normalizer: Normalizer | None = None

    @property
    def correlation(self) -> CorrelationSettings:
        return CorrelationSettings(self.config.junk_values, self.config.placeholder_threshold)

    def require_store(self) -> Store:
        if self.store is None:
            raise RuntimeError("the hub is not started")
        return self.store

    def require_inbox(self) -> Inbox:
        if self.inbox is None:
            raise Busy("the hub is starting or stopping", retry_after=5)
        return self.inbox
