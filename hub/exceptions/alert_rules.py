"""The ``[[alerts]]`` config section: each entry checked into an :class:`AlertRule` (run by hub.exceptions.alerts).

Plain data in, rules out: this module imports neither :mod:`hub.config` nor the alert loop, so the config can
call it without an import circle.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from hub.errors import ConfigError
from hub.model import SEVERITIES

_LAG = re.compile(r"^lag_p([1-9][0-9]?)$")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,50}$")
_KEYS = {"name", "metric", "type", "source", "from_source", "to_source", "from_type", "to_type", "window_minutes",
         "above", "above_minutes", "severity"}


@dataclass(frozen=True, slots=True)
class AlertRule:
    """One ``[[alerts]]`` entry; ``above`` is a count, or minutes for a lag metric."""

    name: str
    metric: str
    window_minutes: int
    above: float
    type: str | None = None
    source: str | None = None
    from_source: str | None = None
    to_source: str | None = None
    from_type: str | None = None
    to_type: str | None = None
    severity: str = "warning"

    @property
    def rule(self) -> str:
        return f"alert.{self.name}"

    @property
    def percentile(self) -> int | None:
        match = _LAG.match(self.metric)
        return int(match.group(1)) if match else None


def alerts_from_config(items: list[Any], sources: Sequence[str] = ()) -> tuple[AlertRule, ...]:
    """Validate ``[[alerts]]``; every mistake is a :class:`ConfigError` naming the entry and key."""
    rules: dict[str, AlertRule] = {}
    for index, item in enumerate(items):
        rule = _alert(item, index, sources)
        if rule.name in rules:
            raise ConfigError(f"alerts[{index}].name {rule.name!r} is used twice: give each alert its own name")
        rules[rule.name] = rule
    return tuple(rules.values())


def _alert(item: Any, index: int, sources: Sequence[str]) -> AlertRule:
    where = f"alerts[{index}]"
    if not isinstance(item, dict):
        raise ConfigError(f"{where} must be a table ([[alerts]])")
    unknown = set(item) - _KEYS
    if unknown:
        raise ConfigError(f"{where}: unknown key {sorted(unknown)[0]!r}: expected one of {sorted(_KEYS)}")
    metric = item.get("metric")
    if metric not in ("events", "dead_letters") and not (isinstance(metric, str) and _LAG.match(metric)):
        raise ConfigError(f"{where}.metric = {metric!r}: expected \"events\", \"dead_letters\" or \"lag_p90\" "
                          "(any percentile lag_p1 … lag_p99)")
    strings = {}
    for key in ("type", "source", "from_source", "to_source", "from_type", "to_type"):
        value = item.get(key)
        if value is not None and (not isinstance(value, str) or not value):
            raise ConfigError(f"{where}.{key} must be a non-empty string")
        if key.endswith("source") and value is not None and sources and value not in sources:
            raise ConfigError(f"{where}.{key} = {value!r} is not a configured source (one of {sorted(sources)})")
        strings[key] = value
    window = item.get("window_minutes")
    if not isinstance(window, int) or isinstance(window, bool) or window <= 0:
        raise ConfigError(f"{where}.window_minutes must be a positive integer (got {window!r})")
    lag = metric.startswith("lag_")
    threshold_key = "above_minutes" if lag else "above"
    other = "above" if lag else "above_minutes"
    if other in item:
        raise ConfigError(f"{where}: {metric} takes {threshold_key}, not {other}")
    above = item.get(threshold_key)
    if not isinstance(above, int | float) or isinstance(above, bool) or above < 0:
        raise ConfigError(f"{where}.{threshold_key} must be a non-negative number (got {above!r})")
    if metric == "events" and not strings["type"]:
        raise ConfigError(f"{where}: metric \"events\" needs type, e.g. type = \"sync.failed\"")
    if lag and not (strings["from_source"] and strings["to_source"]):
        raise ConfigError(f"{where}: metric {metric!r} needs from_source and to_source")
    severity = item.get("severity", "warning")
    if severity not in SEVERITIES:
        raise ConfigError(f"{where}.severity = {severity!r}: expected one of {', '.join(SEVERITIES)}")
    name = item.get("name") or _default_name(metric, strings)
    if not isinstance(name, str) or not _NAME.match(name):
        raise ConfigError(f"{where}.name = {name!r}: use lowercase letters, digits, '.', '-' or '_'")
    return AlertRule(name=name, metric=metric, window_minutes=window, above=float(above), severity=severity,
                     **strings)


def _default_name(metric: str, s: dict[str, str | None]) -> str:
    if metric == "events":
        parts = [s["source"] or "any", s["type"] or ""]
    elif metric == "dead_letters":
        parts = ["dead-letters", s["source"] or "any"]
    else:
        parts = [metric.replace("_", "-"), s["from_source"] or "", s["to_source"] or ""]
    return re.sub(r"[^a-z0-9_.-]+", "-", "-".join(parts).lower()).strip("-")[:50]
