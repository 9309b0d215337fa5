"""Health of the pipeline, not only of the process: what ``/healthz`` answers and ``/metrics`` shows.

Three checks, each cheap: the store answers; the head of the inbox queue (the oldest pending delivery, one
index seek on ``ix_deliveries_state``) has not waited longer than ``max_pending_seconds``; and every
background loop completed a tick recently (``hub.periodic.Heartbeats``: within ``stall_intervals`` times
its interval, at least ``stall_min_seconds``). Any failing check makes the hub unhealthy (503) and says why.

Config (defaults shown)::

    [health]
    max_pending_seconds = 60     # the oldest pending delivery may wait this long
    stall_intervals = 3          # a loop is stalled after this many of its intervals without a completed tick
    stall_min_seconds = 60       # … and never sooner than this
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from hub.config import positive_numbers
from hub.periodic import Heartbeats
from hub.store import Store, inbox_log
from hub.store.queries import oldest_pending
from hub.telemetry import Metrics

_KEYS = ("max_pending_seconds", "stall_intervals", "stall_min_seconds")


@dataclass(frozen=True, slots=True)
class HealthSettings:
    """``[health]``: how long the queue head may wait and how long a loop may go without a completed tick."""

    max_pending_seconds: float = 60.0
    stall_intervals: float = 3.0
    stall_min_seconds: float = 60.0


@dataclass(slots=True)
class Health:
    """The outcome: ``ok`` and, when not, one reason per failing check; ``checks`` for the JSON body."""

    ok: bool = True
    reasons: list[str] = field(default_factory=list)
    checks: dict[str, Any] = field(default_factory=dict)
    pending_age: float = 0.0
    loop_ages: dict[str, float] = field(default_factory=dict)

    def fail(self, reason: str) -> None:
        self.ok = False
        self.reasons.append(reason)


def parse_health(table: dict[str, Any]) -> HealthSettings:
    """Validate ``[health]``; a wrong key or value is a ConfigError naming it."""
    return HealthSettings(**positive_numbers(table, "health", _KEYS))


async def check(store: Store, heartbeats: Heartbeats, settings: HealthSettings, now: datetime) -> Health:
    """Run the three checks at ``now`` (naive UTC, the hub's clock)."""
    health = Health()
    try:
        async with store.read(primary=True) as conn:
            since = await oldest_pending(conn)
            if store.inbox_log_path is not None:  # SQLite: acknowledged into the inbox log, not moved yet
                _, unmoved = await inbox_log.backlog(conn)
                since = min((t for t in (since, unmoved) if t is not None), default=None)
    except Exception as exc:  # noqa: BLE001 - health reports, never raises
        health.fail(f"store unavailable: {exc.__class__.__name__}")
        health.checks["store"] = {"ok": False, "error": exc.__class__.__name__}
        since = None
    else:
        health.checks["store"] = {"ok": True, "dialect": store.dialect}
    health.pending_age = max(0.0, (now - since).total_seconds()) if since is not None else 0.0
    pending_ok = health.pending_age <= settings.max_pending_seconds
    health.checks["pending"] = {"ok": pending_ok, "oldest_seconds": round(health.pending_age, 3),
                                "threshold_seconds": settings.max_pending_seconds}
    if not pending_ok:
        health.fail(f"the oldest pending delivery has waited {health.pending_age:.0f} s "
                    f"(threshold {settings.max_pending_seconds:g} s)")
    loops: dict[str, Any] = {}
    for name, (age, allowed) in heartbeats.ages().items():
        health.loop_ages[name] = age
        loops[name] = {"ok": age <= allowed, "last_tick_seconds": round(age, 3), "threshold_seconds": allowed}
        if age > allowed:
            health.fail(f"{name} has not completed a tick for {age:.0f} s (threshold {allowed:g} s)")
    health.checks["loops"] = loops
    return health


def publish(metrics: Metrics, health: Health) -> None:
    """The health figures as gauges: the queue head's age, each loop's last-tick age, healthy 1/0."""
    metrics.set("crosstrace_pending_oldest_seconds", round(health.pending_age, 3))
    for name, age in health.loop_ages.items():
        metrics.set("crosstrace_loop_last_tick_seconds", round(age, 3), loop=name)
    metrics.set("crosstrace_healthy", 1 if health.ok else 0)
