"""The ``[[notifications]]`` config section: each entry checked into a :class:`Target` (served by
:mod:`hub.exceptions.notify`).

Plain data in, targets out: this module imports neither :mod:`hub.config` nor the notifier, so the config can
call it without an import circle.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from hub.errors import ConfigError
from hub.model import SEVERITIES
from hub.secrets import resolve_secret

ACTIONS = ("opened", "resolved", "acknowledged", "assigned", "escalated")  # a reopened one notifies as opened
_KEYS = {"name", "url", "secret", "types", "severities", "queues", "actions", "disable_after_failures"}
DISABLE_AFTER = 20  # failed attempts in a row before an endpoint is disabled (Convoy and Svix disable too)


@dataclass(frozen=True, slots=True)
class Target:
    """One ``[[notifications]]`` endpoint and what it wants; an empty criterion matches anything."""

    name: str
    url: str
    secret: str
    types: tuple[str, ...] = ()
    severities: tuple[str, ...] = ()
    queues: tuple[str, ...] = ()
    actions: tuple[str, ...] = ("opened", "resolved", "escalated")
    disable_after: int = DISABLE_AFTER

    def matches(self, action: str, row: Any) -> bool:
        return (action in self.actions and (not self.types or row.type in self.types)
                and (not self.severities or row.severity in self.severities)
                and (not self.queues or row.queue in self.queues))


def notifications_from_config(items: list[Any], environ: dict[str, str] | os._Environ[str]) -> tuple[Target, ...]:
    """Validate ``[[notifications]]``; every mistake is a :class:`ConfigError` naming the entry and key."""
    targets: dict[str, Target] = {}
    for index, item in enumerate(items):
        where = f"notifications[{index}]"
        if not isinstance(item, dict):
            raise ConfigError(f"{where} must be a table ([[notifications]])")
        unknown = set(item) - _KEYS
        if unknown:
            raise ConfigError(f"{where}: unknown key {sorted(unknown)[0]!r}: expected one of {sorted(_KEYS)}")
        url = item.get("url")
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            raise ConfigError(f"{where}.url must be an http(s) URL, e.g. \"https://ops.example.com/hooks/crosstrace\"")
        secret = item.get("secret")
        if not isinstance(secret, str):
            raise ConfigError(f"{where}.secret is required: secret = \"env:NAME\" holding a whsec_… secret")
        secret = resolve_secret(secret, f"{where}.secret", environ)
        if not secret.startswith("whsec_"):
            raise ConfigError(f"{where}.secret must be a Standard Webhooks secret starting with whsec_")
        lists = {key: _strings(item, key, where) for key in ("types", "severities", "queues", "actions")}
        bad = [s for s in lists["severities"] if s not in SEVERITIES]
        if bad:
            raise ConfigError(f"{where}.severities: {bad[0]!r} is not one of {', '.join(SEVERITIES)}")
        bad = [a for a in lists["actions"] if a not in ACTIONS]
        if bad:
            raise ConfigError(f"{where}.actions: {bad[0]!r} is not one of {', '.join(ACTIONS)}")
        name = item.get("name", f"notification-{index}")
        if not isinstance(name, str) or not name or len(name) > 64:
            raise ConfigError(f"{where}.name must be a short non-empty string")
        if name in targets:
            raise ConfigError(f"{where}.name {name!r} is used twice: give each notification its own name")
        disable_after = item.get("disable_after_failures", DISABLE_AFTER)
        if isinstance(disable_after, bool) or not isinstance(disable_after, int) or disable_after < 1:
            raise ConfigError(f"{where}.disable_after_failures must be a whole number of 1 or more")
        targets[name] = Target(name=name, url=url, secret=secret, types=lists["types"],
                               severities=lists["severities"], queues=lists["queues"],
                               actions=lists["actions"] or ("opened", "resolved", "escalated"),
                               disable_after=disable_after)
    return tuple(targets.values())


def _strings(item: dict[str, Any], key: str, where: str) -> tuple[str, ...]:
    value = item.get(key, [])
    value = [value] if isinstance(value, str) else value
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(f"{where}.{key} must be a list of strings")
    return tuple(value)
