"""Generic JSON webhooks (homegrown ERP/WMS/returns): a declarative mapping per source, adapter ``json``.

Config (``[sources.options]``, checked at start by :func:`check_options`)::

    signature = "standard-webhooks"   # or "hmac-sha256-hex": hex HMAC-SHA256 of the raw body in signature_header
    signature_header = "x-signature"  # hmac-sha256-hex only; an optional "sha256=" prefix is accepted
    [sources.options.mapping]
    events_path = ""                  # "" = the body is one event; "events" = body["events"] is a list
    id = "event_id"                   # required: the event's id (dedup key with the source); a list of paths
                                      # (["id", "version"]) joins them with "@" for APIs that list objects
    type = "type"                     # required; type_map = { SHIPPED = "shipment.shipped" } maps values,
                                      # a canonical type passes through, anything else is "unknown"
    occurred_at = "occurred_at"       # ISO 8601 or epoch seconds; status/error: optional paths
    refs = [{ path = "shipment_id", namespace = "wms:shipment" },
            { path = "wave", namespace = "wms:wave", role = "related" }]   # "items.*.sku" walks a list
    lines = { path = "lines", sku = "sku", qty = "qty", location = "location", state = "state" }
    amount = { value = "total", currency = "currency", kind = "total" }   # kind: a literal kind or a path

Paths are dotted (``order.ref``); a ``*`` step walks every element of a list, and a path ending on a
list of scalars yields each of them. A missing id/type, an un-parseable time, a line without its sku
or qty, an amount without its currency → :class:`ParseError` naming the field (the delivery is
dead-lettered, replayable once the mapping is fixed). A ref whose path is absent is simply not a ref,
unless the ref says ``required = true``.

Polled items (``x-crosstrace-polled`` header, from ``collectors.polling.rest``) are one event object each,
whatever ``events_path`` says for webhooks.

Trust review, per ``signature``:

- ``standard-webhooks``: signed ``{webhook-id}.{webhook-timestamp}.{body}``, stale timestamps refused. Dedup
  key: ``webhook-id``, the sender's message id, the same on every retry of one message and covered by the
  signature (a new id needs the secret).
- ``hmac-sha256-hex``: signed the body only, no time. Dedup key from the body: the mapped event ``id`` of a
  single-event body (the sender's id for that event, so unique by the sender's contract), else the body's
  SHA-256 (identical bytes are one delivery). Any ``webhook-id`` header is unsigned and ignored.

Either way each event's ``source_event_id`` is its mapped ``id`` from the signed body, so the events of a
resent batch are counted as repeats, not stored again.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from collectors import standard_webhooks
from collectors.base import (
    ParseError,
    SignatureError,
    compact,
    decimal_field,
    dig,
    header,
    load_json,
    mapped_refs,
    parse_time,
)
from hub.config import Source
from hub.errors import ConfigError
from hub.model import AMOUNT_KINDS, EVENT_TYPES, IDENTITY, ROLES, UNKNOWN_TYPE, Amount, Delivery, Event, Line, Ref

SIGNATURES = ("standard-webhooks", "hmac-sha256-hex")
FAILED_STATUSES = frozenset({"failed", "error", "failure"})
POLLED_HEADER = "x-crosstrace-polled"
_OPTION_KEYS = {"signature", "signature_header", "mapping", "poll", "authoritative"}
_SCALARS = ("type", "occurred_at", "status", "error")
_MAPPING_KEYS = {"events_path", "id", *_SCALARS, "type_map", "refs", "lines", "amount"}
_LINE_KEYS = {"path", "sku", "qty", "location", "state"}
_AMOUNT_KEYS = {"value", "currency", "kind"}


@dataclass(frozen=True, slots=True)
class RefRule:
    path: str
    namespace: str
    role: str = IDENTITY
    required: bool = False


@dataclass(frozen=True, slots=True)
class LinesRule:
    path: str
    sku: str
    qty: str
    location: str | None = None
    state: str | None = None


@dataclass(frozen=True, slots=True)
class AmountRule:
    value: str
    currency: str
    kind: str = "total"  # a literal in AMOUNT_KINDS, else a path to the kind


@dataclass(frozen=True, slots=True)
class JsonMapping:
    """A source's validated options: how it signs and where each canonical field lives in its payload."""

    signature: str
    signature_header: str
    events_path: str
    id: tuple[str, ...]
    type: str
    type_map: dict[str, str]
    occurred_at: str | None
    status: str | None
    error: str | None
    refs: tuple[RefRule, ...]
    lines: LinesRule | None
    amount: AmountRule | None


def check_options(source: Source) -> None:
    """Raise :class:`ConfigError` naming the source and key when the signature or mapping is unusable."""
    mapping_for(source)


# Validated mappings by source object: verify, dedup_key and parse each need it on every delivery, and
# validating the options again each time costs ~25 µs on the webhook path. The entry keeps its Source alive,
# so an id is never reused while cached; the bound only matters to tests that build thousands of sources.
_CACHE: dict[int, tuple[Source, JsonMapping]] = {}
_CACHE_SIZE = 256


def mapping_for(source: Source) -> JsonMapping:
    """The source's options, validated (:class:`ConfigError` naming ``source '<name>': options.<key>``)."""
    hit = _CACHE.get(id(source))
    if hit is not None and hit[0] is source:
        return hit[1]
    mapping = _validated(source)
    if len(_CACHE) >= _CACHE_SIZE:
        _CACHE.clear()
    _CACHE[id(source)] = (source, mapping)
    return mapping


def _validated(source: Source) -> JsonMapping:
    where = f"source {source.name!r}: options"
    options = source.options
    _no_unknown(options, _OPTION_KEYS, where)
    signature = options.get("signature", "standard-webhooks")
    if signature not in SIGNATURES:
        raise ConfigError(f"{where}.signature = {signature!r}: expected one of {', '.join(SIGNATURES)}")
    signature_header = options.get("signature_header", "x-signature")
    if not isinstance(signature_header, str) or not signature_header.strip():
        raise ConfigError(f"{where}.signature_header must be a header name such as \"x-signature\"")
    raw = options.get("mapping")
    where = f"{where}.mapping"
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where} is required for adapter \"json\": a table with at least id and type paths")
    _no_unknown(raw, _MAPPING_KEYS, where)
    events_path = raw.get("events_path", "")
    if not isinstance(events_path, str) or "*" in events_path:
        raise ConfigError(f"{where}.events_path must be a dotted path (\"\" when the body is one event)")
    scalars = {name: _path(raw, name, where, required=name == "type", wildcard=False) for name in _SCALARS}
    id_paths = _id_paths(raw.get("id"), where)
    type_map = raw.get("type_map", {})
    if not isinstance(type_map, Mapping):
        raise ConfigError(f"{where}.type_map must map payload values to event types, e.g. "
                          "{ SHIPPED = \"shipment.shipped\" }")
    for value, event_type in type_map.items():
        if event_type != UNKNOWN_TYPE and event_type not in EVENT_TYPES:
            raise ConfigError(f"{where}.type_map.{value} = {event_type!r}: not an event type; expected one of "
                              f"{', '.join(sorted(EVENT_TYPES))} or \"unknown\"")
    return JsonMapping(
        signature=signature, signature_header=signature_header.strip().lower(), events_path=events_path,
        id=id_paths, type=scalars["type"], type_map={str(k): v for k, v in type_map.items()},  # type: ignore[arg-type]
        occurred_at=scalars["occurred_at"], status=scalars["status"], error=scalars["error"],
        refs=_ref_rules(raw.get("refs", []), f"{where}.refs"), lines=_lines_rule(raw.get("lines"), f"{where}.lines"),
        amount=_amount_rule(raw.get("amount"), f"{where}.amount"))


def sign(secret: str, body: bytes) -> str:
    """The ``hmac-sha256-hex`` signature a sender puts in ``signature_header`` (used by tests and the demo)."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(headers: Mapping[str, str], body: bytes, source: Source, now: float, tolerance: int = 300) -> None:
    """Accept per the source's ``signature`` option, with any configured secret (rotation)."""
    mapping = mapping_for(source)
    if mapping.signature == "standard-webhooks":
        standard_webhooks.verify(headers, body, source.secrets, now, tolerance)
        return
    offered = header(headers, mapping.signature_header)
    if not offered:
        raise SignatureError(f"missing {mapping.signature_header} header")
    if not source.secrets:
        raise SignatureError("no secret configured for this source")
    candidate = offered.strip().removeprefix("sha256=").lower().encode()
    if not any(hmac.compare_digest(sign(secret, body).encode(), candidate) for secret in source.secrets):
        raise SignatureError(f"{mapping.signature_header} does not match")


def dedup_key(headers: Mapping[str, str], body: bytes, source: Source | None = None) -> str | None:
    """``webhook-id`` under Standard Webhooks (it is signed); else the event id of a single-event body; else None
    (the body's digest). A ``webhook-id`` sent to an ``hmac-sha256-hex`` source is unsigned and not used."""
    if source is None:
        return None
    try:
        mapping = mapping_for(source)
        if mapping.signature == "standard-webhooks" and header(headers, "webhook-id"):
            return header(headers, "webhook-id")
        document = load_json(body)
    except (ConfigError, ParseError):
        return None
    if mapping.events_path:
        return None
    if not isinstance(document, dict):
        return None
    try:
        return _event_id(document, mapping.id, "")
    except ParseError:
        return None


def parse(delivery: Delivery, source: Source) -> list[Event]:
    """One canonical event per mapped event object in the body (several under ``events_path``)."""
    mapping = mapping_for(source)
    document = load_json(delivery.body)
    traceparent = header(delivery.headers, "traceparent")
    if mapping.events_path and not header(delivery.headers, POLLED_HEADER):
        items = dig(document, mapping.events_path)
        if not isinstance(items, list):
            raise ParseError(f"missing field {mapping.events_path!r}: expected a list of events")
        prefixes = [f"{mapping.events_path}.{index}." for index in range(len(items))]
    else:
        items, prefixes = [document], [""]
    events = []
    for item, prefix in zip(items, prefixes, strict=True):
        if not isinstance(item, dict):
            raise ParseError(f"field {prefix[:-1]!r} must be a JSON object" if prefix
                             else "the body must be a JSON object")
        events.append(_event(item, prefix, mapping, source, traceparent))
    return events


def _event(item: dict[str, Any], prefix: str, mapping: JsonMapping, source: Source,
           traceparent: str | None) -> Event:
    event_id = _event_id(item, mapping.id, prefix)
    raw_type = _scalar(item, mapping.type, prefix)
    event_type = mapping.type_map.get(raw_type, raw_type if raw_type in EVENT_TYPES else UNKNOWN_TYPE)
    occurred = None
    if mapping.occurred_at is not None:
        value = dig(item, mapping.occurred_at)
        if value is not None and value != "":
            occurred = parse_time(value, prefix + mapping.occurred_at)
    status = "ok"
    if mapping.status is not None:
        value = dig(item, mapping.status)
        if isinstance(value, str) and value.strip().lower() in FAILED_STATUSES:
            status = "failed"
    error = None
    if mapping.error is not None:
        value = dig(item, mapping.error)
        error = str(value) if value is not None and not isinstance(value, dict | list) and value != "" else None
    refs: list[Ref | None] = []
    for rule in mapping.refs:
        values = [v for v in values_at(item, rule.path) if _usable(v)]
        if rule.required and not values:
            raise ParseError(f"missing field {prefix + rule.path!r}")
        refs += [Ref(rule.namespace, str(v).strip(), rule.role) for v in values]
    refs += mapped_refs(item, source.refs)
    return Event(source=source.name, source_event_id=event_id, type=event_type, occurred_at=occurred,
                 refs=compact(refs), lines=_lines(item, mapping.lines, prefix),
                 amount=_amount(item, mapping.amount, prefix), status=status, error=error, traceparent=traceparent)


def values_at(payload: Any, path: str) -> list[Any]:
    """Every value at a dotted path, ``*`` walking each list element; a final list of scalars is flattened."""
    current = [payload]
    for part in path.split("."):
        following = []
        for node in current:
            if part == "*":
                following += node if isinstance(node, list) else []
            else:
                value = dig(node, part)
                if value is not None:
                    following.append(value)
        current = following
    flat: list[Any] = []
    for value in current:
        flat += value if isinstance(value, list) else [value]
    return flat


def _event_id(item: dict[str, Any], paths: tuple[str, ...], prefix: str) -> str:
    return "@".join(_scalar(item, path, prefix) for path in paths)


def _scalar(item: dict[str, Any], path: str, prefix: str) -> str:
    value = dig(item, path)
    if not _usable(value):
        raise ParseError(f"missing field {prefix + path!r}")
    return str(value).strip()


def _usable(value: Any) -> bool:
    return isinstance(value, str | int) and not isinstance(value, bool) and bool(str(value).strip())


def _lines(item: dict[str, Any], rule: LinesRule | None, prefix: str) -> list[Line]:
    if rule is None:
        return []
    raw = values_at(item, rule.path)
    lines = []
    for index, entry in enumerate(raw):
        where = f"{prefix}{rule.path}.{index}"
        if not isinstance(entry, dict):
            raise ParseError(f"field {where!r} must be an object")
        sku = _scalar(entry, rule.sku, where + ".")
        qty = _decimal(dig(entry, rule.qty), f"{where}.{rule.qty}")
        location = dig(entry, rule.location) if rule.location else None
        state = dig(entry, rule.state) if rule.state else None
        lines.append(Line(sku=sku, qty=qty, location=str(location) if _usable(location) else None,
                          state=str(state) if _usable(state) else None))
    return lines


def _amount(item: dict[str, Any], rule: AmountRule | None, prefix: str) -> Amount | None:
    if rule is None:
        return None
    value = dig(item, rule.value)
    if value is None:
        return None
    currency = dig(item, rule.currency)
    if not isinstance(currency, str) or not currency.strip():
        raise ParseError(f"missing field {prefix + rule.currency!r} (the currency of {prefix + rule.value!r})")
    kind = rule.kind if rule.kind in AMOUNT_KINDS else dig(item, rule.kind)
    if not isinstance(kind, str) or not kind:
        raise ParseError(f"missing field {prefix + rule.kind!r} (the amount kind)")
    return Amount(_decimal(value, prefix + rule.value), currency.strip().upper(), kind)


def _decimal(value: Any, where: str) -> Decimal:
    return decimal_field(value, where)


# --- config checks ----------------------------------------------------------------------------------------


def _no_unknown(table: Mapping[str, Any], allowed: set[str], where: str) -> None:
    unknown = set(table) - allowed
    if unknown:
        raise ConfigError(f"{where}: unknown key {sorted(unknown)[0]!r}: expected one of {sorted(allowed)}")


def _path(table: Mapping[str, Any], key: str, where: str, *, required: bool, wildcard: bool = True) -> str | None:
    value = table.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip() or any(not part for part in value.split(".")):
        need = "is required" if value is None else "must be a dotted path"
        raise ConfigError(f"{where}.{key} {need}: the payload path of the field, e.g. {key} = \"{key}\"")
    if not wildcard and "*" in value.split("."):
        raise ConfigError(f"{where}.{key} = {value!r}: names one value, so it cannot walk a list with '*'")
    return value.strip()


def _id_paths(raw: Any, where: str) -> tuple[str, ...]:
    if isinstance(raw, list) and raw and all(isinstance(item, str) for item in raw):
        return tuple(_path({"id": item}, "id", where, required=True, wildcard=False) or "" for item in raw)
    if isinstance(raw, list):
        raise ConfigError(f"{where}.id must be a dotted path or a non-empty list of them, e.g. [\"id\", \"version\"]")
    return (_path({"id": raw}, "id", where, required=True, wildcard=False) or "",)


def _ref_rules(raw: Any, where: str) -> tuple[RefRule, ...]:
    if not isinstance(raw, list):
        raise ConfigError(f"{where} must be a list of {{ path, namespace, role }} tables")
    rules = []
    for index, entry in enumerate(raw):
        at = f"{where}[{index}]"
        if not isinstance(entry, Mapping):
            raise ConfigError(f"{at} must be a table such as "
                              "{ path = \"order_ref\", namespace = \"erp:sales_order\" }")
        _no_unknown(entry, {"path", "namespace", "role", "required"}, at)
        path = _path(entry, "path", at, required=True)
        namespace = entry.get("namespace")
        if not isinstance(namespace, str) or namespace.count(":") != 1 or not all(namespace.split(":")):
            raise ConfigError(f"{at}.namespace = {namespace!r}: must look like \"<source>:<object>\"")
        role = entry.get("role", IDENTITY)
        if role not in ROLES:
            raise ConfigError(f"{at}.role = {role!r}: expected one of {', '.join(ROLES)}")
        required = entry.get("required", False)
        if not isinstance(required, bool):
            raise ConfigError(f"{at}.required must be true or false")
        assert path is not None
        rules.append(RefRule(path, namespace, role, required))
    return tuple(rules)


def _lines_rule(raw: Any, where: str) -> LinesRule | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where} must be a table such as {{ path = \"lines\", sku = \"sku\", qty = \"qty\" }}")
    _no_unknown(raw, _LINE_KEYS, where)
    paths = {key: _path(raw, key, where, required=key in ("path", "sku", "qty"), wildcard=key == "path")
             for key in _LINE_KEYS}
    return LinesRule(**paths)  # type: ignore[arg-type]


def _amount_rule(raw: Any, where: str) -> AmountRule | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where} must be a table such as {{ value = \"total\", currency = \"currency\" }}")
    _no_unknown(raw, _AMOUNT_KEYS, where)
    value = _path(raw, "value", where, required=True, wildcard=False)
    currency = _path(raw, "currency", where, required=True, wildcard=False)
    kind = _path(raw, "kind", where, required=False, wildcard=False) or "total"
    assert value is not None and currency is not None
    return AmountRule(value, currency, kind)
