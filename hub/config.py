"""Configuration: ``crosstrace.toml`` read with tomllib (DESIGN §5); a missing file means defaults.

Every mistake is reported as a :class:`ConfigError` naming the key and the fix, so ``crosstrace
check-config`` and start-up fail with one clear line instead of a traceback.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from hub.errors import ConfigError
from hub.exceptions.alert_rules import AlertRule, alerts_from_config
from hub.exceptions.notify_targets import Target, notifications_from_config
from hub.model import DEFAULT_JUNK_VALUES, SOURCE_KINDS
from hub.secrets import resolve_secret
from hub.stock.config import StockSettings, parse_stock

DEFAULT_CONFIG_PATH = "crosstrace.toml"
DEFAULT_STORE_URL = "sqlite+aiosqlite:///crosstrace.db"
ADAPTERS = ("shopify", "stripe", "square", "easypost", "amazon-sp", "cloudevents", "json")
ROLES = ("viewer", "operator", "admin")
RESERVED_SOURCE_NAMES = ("ingest",)
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_TOP_LEVEL = {"store", "sources", "api_keys", "ingest", "correlation", "flows", "exceptions", "routing", "stock",
              "retention", "web"}
_TOP_LEVEL |= {"alerts", "notifications"}  # [[alerts]]: hub.exceptions.alert_rules; [[notifications]]: …notify_targets
_TOP_LEVEL |= {"graphql"}  # [graphql]: limits, cost budget, persisted documents (resolvers.limits)
_TOP_LEVEL |= {"maintenance"}  # [[maintenance]]: hub.exceptions.maintenance
_TOP_LEVEL |= {"health"}  # [health]: when /healthz reports a stuck pipeline (hub.health)
_TOP_LEVEL |= {"cluster"}  # [cluster]: leases on periodic duties, claims on deliveries (hub.leases)
_TOP_LEVEL |= {"settlement"}  # [settlement]: payouts vs orders, money that never arrives (hub.exceptions.settlements)
_SOURCE_KEYS = {"name", "kind", "adapter", "secret", "refs", "options", "authoritative", "attributes", "watch"}
_ATTRIBUTE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


@dataclass(frozen=True, slots=True)
class Source:
    """One connected system instance. ``secrets`` holds every accepted secret (rotation: old and new)."""

    name: str
    kind: str
    adapter: str
    secrets: tuple[str, ...] = ()
    refs: dict[str, str] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    attributes: dict[str, str] = field(default_factory=dict)  # payload path → business attribute name
    watch: Any = None  # hub.exceptions.source_watch.Watch: silence and volume drift alerts; None = not watched


@dataclass(frozen=True, slots=True)
class RoutingRule:
    """Sends exceptions matching every non-empty criterion to a team queue."""

    queue: str
    types: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    severities: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ApiKey:
    name: str
    role: str
    key_sha256: str


@dataclass(frozen=True, slots=True)
class Config:
    """The whole configuration, with defaults that run with no file at all."""

    store_url: str = DEFAULT_STORE_URL
    read_url: str | None = None  # [store] read_url: a PostgreSQL replica for callers' reads (hub/store/replica.py)
    fresh_seconds: float = 10.0  # [store] fresh_seconds: a caller's reads stay on the primary this long after a write
    sources: dict[str, Source] = field(default_factory=dict)
    api_keys: tuple[ApiKey, ...] = ()
    max_body_bytes: int = 1024 * 1024
    queue_size: int = 10_000
    signature_tolerance_seconds: int = 300
    junk_values: frozenset[str] = frozenset(DEFAULT_JUNK_VALUES)
    placeholder_threshold: int = 50
    flows: dict[str, Any] = field(default_factory=dict)  # kind → Flow (hub.exceptions.flows), defaults applied
    duplicate_threshold: int = 3
    maintenance: tuple[Any, ...] = ()  # hub.exceptions.maintenance.MaintenanceWindow, from [[maintenance]]
    escalation: Any = None  # [exceptions.escalation]: hub.exceptions.escalation.Escalation; None = never escalate
    amount_tolerance: Decimal = Decimal("0.01")
    routing: tuple[RoutingRule, ...] = ()
    alerts: tuple[AlertRule, ...] = ()  # [[alerts]], checked by hub.exceptions.alert_rules
    notifications: tuple[Target, ...] = ()  # [[notifications]], checked by hub.exceptions.notify_targets
    stock: StockSettings = field(default_factory=StockSettings)  # [stock]: hub.stock.config
    retention: Any = None  # [retention]: hub.access.retention.Retention; None = keep forever
    session_hours: float = 12.0  # [web] session_hours: how long a UI login lasts (hub.access.sessions, web/guard.py)
    health: Any = None  # [health]: hub.health.HealthSettings; None = the defaults
    cluster: Any = None  # [cluster]: hub.leases.ClusterSettings; None = the defaults
    settlement: Any = None  # [settlement]: hub.exceptions.settlements.SettlementSettings; None = the defaults
    graphql: dict[str, Any] = field(default_factory=dict)  # [graphql], checked by resolvers.limits.limits_from
    warnings: tuple[str, ...] = ()  # not errors, but worth fixing (a literal secret in the file)
    path: str | None = None

    def __post_init__(self) -> None:
        if not self.flows:
            from hub.exceptions.flows import DEFAULT_FLOWS

            object.__setattr__(self, "flows", dict(DEFAULT_FLOWS))


def positive_numbers(table: dict[str, Any], section: str, keys: tuple[str, ...]) -> dict[str, float]:
    """A ``[section]`` of positive numbers: the keys given, as floats; an unknown key or a value that is not a
    positive number is a ConfigError naming it."""
    unknown = set(table) - set(keys)
    if unknown:
        raise ConfigError(f"{section}: unknown key {sorted(unknown)[0]!r}: expected one of {', '.join(keys)}")
    for key in keys:
        value = table.get(key)
        if value is not None and (not isinstance(value, int | float) or isinstance(value, bool) or value <= 0):
            raise ConfigError(f"{section}.{key} must be a positive number (got {value!r})")
    return {key: float(table[key]) for key in keys if key in table}


def load(path: str | os.PathLike[str] | None = None, environ: dict[str, str] | None = None) -> Config:
    """Read the config named by ``path``, else ``$CROSSTRACE_CONFIG``, else ``./crosstrace.toml``.

    A missing default file gives the defaults; a missing named file is an error.
    ``$CROSSTRACE_DATABASE_URL`` overrides ``[store] url``, ``$CROSSTRACE_READ_DATABASE_URL`` ``[store] read_url``.
    """
    env = os.environ if environ is None else environ
    named = path or env.get("CROSSTRACE_CONFIG")
    file = Path(named or DEFAULT_CONFIG_PATH)
    if file.exists():
        try:
            raw = tomllib.loads(file.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{file}: not valid TOML: {exc}") from None
        config = parse(raw, env, path=str(file))
    elif named:
        raise ConfigError(f"config file {file} does not exist: create it or unset CROSSTRACE_CONFIG")
    else:
        config = Config()
    if env.get("CROSSTRACE_DATABASE_URL"):
        config = replace(config, store_url=env["CROSSTRACE_DATABASE_URL"])
    if env.get("CROSSTRACE_READ_DATABASE_URL"):
        config = replace(config, read_url=env["CROSSTRACE_READ_DATABASE_URL"])
    return config


def parse(raw: dict[str, Any], environ: dict[str, str] | os._Environ[str], path: str | None = None) -> Config:
    """Validate a parsed TOML document into a :class:`Config`. Every problem is reported at once (one
    :class:`ConfigError` listing them); a literal secret where an ``env:`` reference is expected is a warning."""
    problems: list[str] = []
    warnings: list[str] = []

    def attempt(check: Any, default: Any = None) -> Any:
        try:
            return check()
        except ConfigError as exc:
            problems.append(str(exc))
            return default

    for key in sorted(set(raw) - _TOP_LEVEL):
        problems.append(f"unknown top-level key {key!r}{did_you_mean(key, _TOP_LEVEL)}: expected one of "
                        f"{sorted(_TOP_LEVEL)}")
    store = attempt(lambda: _table(raw, "store"), {})
    ingest = attempt(lambda: _table(raw, "ingest"), {})
    correlation = attempt(lambda: _table(raw, "correlation"), {})
    exceptions_table = attempt(lambda: _table(raw, "exceptions"), {})
    sources: dict[str, Source] = {}
    for index, item in enumerate(attempt(lambda: _array(raw, "sources"), [])):
        source = attempt(lambda item=item, index=index: _source(item, index, environ, warnings))
        if source is None:
            continue
        if source.name in sources:
            problems.append(f"sources[{index}].name {source.name!r} is used twice: source names must be unique")
        sources[source.name] = source
    keys = tuple(k for index, item in enumerate(attempt(lambda: _array(raw, "api_keys"), []))
                 if (k := attempt(lambda item=item, index=index: _api_key(item, index))) is not None)
    for name in sorted({k.name for k in keys if [o.name for o in keys].count(k.name) > 1}):
        problems.append(f"api_keys: the name {name!r} is used twice: key names must be unique (the audit log and "
                        "`keys revoke` tell keys apart by name)")
    from hub.exceptions.flows import flows_from_config

    tolerance = exceptions_table.get("amount_tolerance", "0.01")
    try:
        amount_tolerance = Decimal(str(tolerance))
    except InvalidOperation:
        problems.append(f"exceptions.amount_tolerance = {tolerance!r}: must be a number such as \"0.01\"")
        amount_tolerance = Decimal("0.01")
    routing = tuple(r for index, item in enumerate(attempt(lambda: _array(raw, "routing"), []))
                    if (r := attempt(lambda item=item, index=index: _routing(item, index))) is not None)
    junk = correlation.get("junk_values", list(DEFAULT_JUNK_VALUES))
    if not isinstance(junk, list) or not all(isinstance(v, str) for v in junk):
        problems.append("correlation.junk_values must be a list of strings, e.g. [\"0\", \"n/a\"]")
        junk = list(DEFAULT_JUNK_VALUES)
    from hub.access.retention import parse_retention
    from hub.exceptions.settlements import parse_settlement
    from hub.health import parse_health
    from hub.leases import parse_cluster

    defaults = Config()
    values = {
        "retention": attempt(lambda: parse_retention(_table(raw, "retention"))),
        "session_hours": attempt(lambda: _web_session_hours(_table(raw, "web")), defaults.session_hours),
        "health": attempt(lambda: parse_health(_table(raw, "health"))),
        "cluster": attempt(lambda: parse_cluster(_table(raw, "cluster")), defaults.cluster),
        "store_url": attempt(lambda: _str(store, "url", "store.url", DEFAULT_STORE_URL), DEFAULT_STORE_URL),
        "read_url": attempt(lambda: _str(store, "read_url", "store.read_url", "") if "read_url" in store else None),
        "fresh_seconds": attempt(lambda: positive_numbers({k: v for k, v in store.items() if k == "fresh_seconds"},
                                                          "store", ("fresh_seconds",)).get("fresh_seconds", 10.0),
                                 defaults.fresh_seconds),
        "max_body_bytes": attempt(lambda: _positive_int(ingest, "max_body_bytes", "ingest.max_body_bytes",
                                                        1024 * 1024), defaults.max_body_bytes),
        "queue_size": attempt(lambda: _positive_int(ingest, "queue_size", "ingest.queue_size", 10_000),
                              defaults.queue_size),
        "signature_tolerance_seconds": attempt(lambda: _positive_int(
            ingest, "signature_tolerance_seconds", "ingest.signature_tolerance_seconds", 300),
            defaults.signature_tolerance_seconds),
        "placeholder_threshold": attempt(lambda: _positive_int(
            correlation, "placeholder_threshold", "correlation.placeholder_threshold", 50),
            defaults.placeholder_threshold),
        "flows": attempt(lambda: flows_from_config(_table(raw, "flows")), {}),
        "duplicate_threshold": attempt(lambda: _positive_int(
            exceptions_table, "duplicate_threshold", "exceptions.duplicate_threshold", 3),
            defaults.duplicate_threshold),
        "escalation": attempt(lambda: _escalation(exceptions_table.get("escalation"))),
        "maintenance": attempt(lambda: _maintenance(raw, sources), ()),
        "alerts": attempt(lambda: alerts_from_config(_array(raw, "alerts"), list(sources)), ()),
        "notifications": attempt(lambda: notifications_from_config(_array(raw, "notifications"), environ), ()),
        "stock": attempt(lambda: parse_stock(raw.get("stock"), sources), defaults.stock),
        "settlement": attempt(lambda: parse_settlement(_table(raw, "settlement"), sources), defaults.settlement),
        "graphql": attempt(lambda: _table(raw, "graphql"), {}),
    }
    if problems:
        raise ConfigError(problems[0] if len(problems) == 1 else
                          f"{len(problems)} problems:\n  - " + "\n  - ".join(problems))
    return Config(**values, sources=sources, api_keys=keys, junk_values=frozenset(v.strip().lower() for v in junk),
                  amount_tolerance=amount_tolerance, routing=routing, warnings=tuple(warnings), path=path)


def did_you_mean(word: str, choices: Any) -> str:
    """`` (did you mean 'sources'?)`` for a near miss among ``choices``, else nothing."""
    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _web_session_hours(web: dict[str, Any]) -> float:
    """``[web]``: the UI always asks for a key (only ``crosstrace demo`` on loopback opens without one)."""
    unknown = set(web) - {"require_login", "session_hours"}
    if unknown:
        raise ConfigError(f"[web]: unknown key {sorted(unknown)[0]!r}: expected session_hours (and require_login)")
    if web.get("require_login", True) is not True:
        raise ConfigError("[web] require_login = false is not supported: the UI always asks for an API key "
                          "(only `crosstrace demo` on 127.0.0.1 opens without one); remove the line")
    hours = web.get("session_hours", 12)
    if isinstance(hours, bool) or not isinstance(hours, int | float) or not 0 < hours <= 24 * 30:
        raise ConfigError(f"[web] session_hours = {hours!r}: give the hours a UI login lasts, more than 0 and "
                          "at most 720 (e.g. 12)")
    return float(hours)


def _source(item: Any, index: int, environ: dict[str, str] | os._Environ[str],
            warnings: list[str] | None = None) -> Source:
    where = f"sources[{index}]"
    if not isinstance(item, dict):
        raise ConfigError(f"{where} must be a table ([[sources]])")
    unknown = set(item) - _SOURCE_KEYS
    if unknown:
        key = sorted(unknown)[0]
        raise ConfigError(f"{where}: unknown key {key!r}{did_you_mean(key, _SOURCE_KEYS)}: expected one of "
                          f"{sorted(_SOURCE_KEYS)}")
    name = item.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise ConfigError(f"{where}.name must be lowercase letters, digits, '-' or '_' (e.g. \"shopify-eu\")")
    if name in RESERVED_SOURCE_NAMES:
        raise ConfigError(f"{where}.name {name!r} is reserved (it names /ingest deliveries): pick another name")
    where = f"sources[{index}] ({name})"
    kind = item.get("kind", "other")
    if kind not in SOURCE_KINDS:
        raise ConfigError(f"{where}.kind = {kind!r}{did_you_mean(kind, SOURCE_KINDS)}: expected one of "
                          f"{', '.join(SOURCE_KINDS)}")
    adapter = item.get("adapter")
    if adapter not in ADAPTERS:
        raise ConfigError(f"{where}.adapter = {adapter!r}{did_you_mean(adapter, ADAPTERS)}: expected one of "
                          f"{', '.join(ADAPTERS)}")
    secret = item.get("secret", [])
    secret_list = [secret] if isinstance(secret, str) else secret
    if not isinstance(secret_list, list) or not all(isinstance(s, str) for s in secret_list):
        raise ConfigError(f"{where}.secret must be a string such as \"env:NAME\" or a list of them (rotation)")
    refs = item.get("refs", {})
    if not isinstance(refs, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in refs.items()):
        raise ConfigError(f"{where}.refs must map payload paths to namespaces, e.g. "
                          "{ \"metadata.order_id\" = \"shop:order\" }")
    for namespace in refs.values():
        if namespace.count(":") != 1:
            raise ConfigError(f"{where}.refs namespace {namespace!r} must look like \"<source>:<object>\"")
    options = item.get("options", {})
    if not isinstance(options, dict):
        raise ConfigError(f"{where}.options must be a table")
    if "authoritative" in item:
        options = {**options, "authoritative": bool(item["authoritative"])}
    if warnings is not None and any(not s.startswith("env:") for s in secret_list):
        warnings.append(f"{where}.secret is written in the file: keep it in the environment and write "
                        f"\"env:{name.upper().replace('-', '_')}_SECRET\" instead")
    secrets = tuple(resolve_secret(s, f"{where}.secret", environ) for s in secret_list)
    return Source(name=name, kind=kind, adapter=adapter, secrets=secrets, refs=dict(refs), options=options,
                  attributes=_attributes(item.get("attributes", {}), where), watch=_watch(item.get("watch"), where))


def _maintenance(raw: dict[str, Any], sources: dict[str, Source]) -> tuple[Any, ...]:
    from hub.exceptions.maintenance import maintenance_from_config

    return maintenance_from_config(_array(raw, "maintenance"), list(sources))


def _escalation(raw: Any) -> Any:
    from hub.exceptions.escalation import parse_escalation

    return parse_escalation(raw) if raw is not None else None


def _watch(raw: Any, where: str) -> Any:
    from hub.exceptions.source_watch import parse_watch

    return parse_watch(raw, where)


def _attributes(raw: Any, where: str) -> dict[str, str]:
    """``attributes = { "note_attributes.channel" = "channel" }``: payload path → business attribute name."""
    if not isinstance(raw, dict) or not all(isinstance(k, str) and k and isinstance(v, str) for k, v in raw.items()):
        raise ConfigError(f"{where}.attributes must map payload paths to attribute names, e.g. "
                          "{ \"source_name\" = \"channel\" }")
    for name in raw.values():
        if not _ATTRIBUTE_NAME.match(name):
            raise ConfigError(f"{where}.attributes name {name!r} must be lowercase letters, digits or '_' "
                              "(at most 40, starting with a letter), e.g. \"sales_rep\"")
    return dict(raw)


def _routing(item: Any, index: int) -> RoutingRule:
    where = f"routing[{index}]"
    if not isinstance(item, dict) or not isinstance(item.get("queue"), str) or not item["queue"]:
        raise ConfigError(f"{where}.queue is required, e.g. queue = \"warehouse\"")
    lists = {}
    for key in ("types", "sources", "kinds", "severities"):
        value = item.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{where}.{key} must be a list of strings")
        lists[key] = tuple(value)
    unknown = set(item) - {"queue", *lists}
    if unknown:
        raise ConfigError(f"{where}: unknown key {sorted(unknown)[0]!r}")
    return RoutingRule(queue=item["queue"], **lists)


def _api_key(item: Any, index: int) -> ApiKey:
    where = f"api_keys[{index}]"
    if not isinstance(item, dict):
        raise ConfigError(f"{where} must be a table ([[api_keys]])")
    name = item.get("name")
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{where}.name is required: run `crosstrace keys create --name N --role R`")
    role = item.get("role")
    if role not in ROLES:
        raise ConfigError(f"{where} ({name}).role = {role!r}: expected one of {', '.join(ROLES)}")
    digest = item.get("key_sha256")
    if not isinstance(digest, str) or not re.fullmatch(r"[0-9a-f]{64}", digest):
        raise ConfigError(f"{where} ({name}).key_sha256 must be 64 lowercase hex digits: "
                          "paste the block `crosstrace keys create` printed")
    return ApiKey(name=name, role=role, key_sha256=digest)


def _table(raw: dict[str, Any], key: str) -> dict[str, Any]:
    value = raw.get(key, {})
    if not isinstance(value, dict):
        raise ConfigError(f"[{key}] must be a table")
    return value


def _array(raw: dict[str, Any], key: str) -> list[Any]:
    value = raw.get(key, [])
    if not isinstance(value, list):
        raise ConfigError(f"{key} must be an array of tables ([[{key}]])")
    return value


def _str(table: dict[str, Any], key: str, where: str, default: str) -> str:
    value = table.get(key, default)
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{where} must be a non-empty string")
    return value


def _positive_int(table: dict[str, Any], key: str, where: str, default: int) -> int:
    value = table.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ConfigError(f"{where} must be a positive integer (got {value!r})")
    return value

