"""Stock settings (the ``[stock]`` table): which source is authoritative where, tolerance and settle window.

```toml
[stock]
authoritative = "erp"            # default: a source marked `authoritative = true`, else the first of kind erp
tolerance = 0                    # units a source may differ by without it counting as divergence
settle_minutes = 15              # how long a divergence must persist before it becomes an exception
[stock.locations.ST-1]           # per-location overrides (any of the three keys)
authoritative = "pos-store1"
settle_minutes = 30
[[stock.skus]]                   # per-SKU overrides by glob pattern, first match wins (beats the location)
pattern = "GC-*"
tolerance = 2
unit_value = 25.0                # what one unit is worth: a divergence's value at risk is units × this
```
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from fnmatch import fnmatchcase
from typing import Any

from hub.errors import ConfigError

DEFAULT_SETTLE_MINUTES = 15
_KEYS = {"authoritative", "tolerance", "settle_minutes", "unit_value", "locations", "skus"}
_OVERRIDE_KEYS = {"authoritative", "tolerance", "settle_minutes", "unit_value"}


@dataclass(frozen=True, slots=True)
class StockOverride:
    """Settings for one location or SKU pattern; ``None`` keeps the broader setting."""

    authoritative: str | None = None
    tolerance: float | None = None
    settle_minutes: float | None = None
    unit_value: float | None = None


@dataclass(frozen=True, slots=True)
class StockSettings:
    """Divergence settings; :meth:`authoritative_for`, :meth:`tolerance_for` and :meth:`settle_for` resolve
    overrides (SKU pattern first, then location, then the global value)."""

    authoritative: str | None = None
    tolerance: float = 0.0
    settle_minutes: float = DEFAULT_SETTLE_MINUTES
    unit_value: float | None = None  # unknown: divergences have no value at risk
    locations: dict[str, StockOverride] = field(default_factory=dict)
    skus: tuple[tuple[str, StockOverride], ...] = ()

    def _sku(self, sku: str) -> StockOverride | None:
        for pattern, override in self.skus:
            if fnmatchcase(sku, pattern):
                return override
        return None

    def _pick(self, name: str, sku: str | None, location: str) -> Any:
        for override in (self._sku(sku) if sku is not None else None, self.locations.get(location)):
            if override is not None and getattr(override, name) is not None:
                return getattr(override, name)
        return getattr(self, name)

    def authoritative_for(self, location: str, sku: str | None = None) -> str | None:
        return self._pick("authoritative", sku, location)  # type: ignore[no-any-return]

    def tolerance_for(self, sku: str, location: str) -> float:
        return float(self._pick("tolerance", sku, location))

    def settle_for(self, sku: str, location: str) -> timedelta:
        return timedelta(minutes=float(self._pick("settle_minutes", sku, location)))

    def value_for(self, sku: str, location: str) -> float | None:
        """What one unit of ``sku`` at ``location`` is worth, when configured."""
        value = self._pick("unit_value", sku, location)
        return float(value) if value is not None else None


def parse_stock(raw: Any, sources: dict[str, Any]) -> StockSettings:
    """Validate the ``[stock]`` table against the configured sources (name → ``Source``)."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError("[stock] must be a table")
    unknown = set(raw) - _KEYS
    if unknown:
        raise ConfigError(f"stock: unknown key {sorted(unknown)[0]!r}: expected one of {sorted(_KEYS)}")
    top = _override(raw, "stock", sources, allowed=_OVERRIDE_KEYS | {"locations", "skus"})
    default = top.authoritative or _default_authoritative(sources)
    locations_raw = raw.get("locations", {})
    if not isinstance(locations_raw, dict):
        raise ConfigError("stock.locations must be a table of location → settings, e.g. [stock.locations.ST-1]")
    locations = {str(name): _override(value, f"stock.locations.{name}", sources)
                 for name, value in locations_raw.items()}
    skus_raw = raw.get("skus", [])
    if not isinstance(skus_raw, list):
        raise ConfigError("stock.skus must be an array of tables ([[stock.skus]]) with a `pattern`")
    skus = []
    for index, item in enumerate(skus_raw):
        where = f"stock.skus[{index}]"
        if not isinstance(item, dict) or not isinstance(item.get("pattern"), str) or not item["pattern"]:
            raise ConfigError(f"{where}.pattern is required, a glob such as \"GC-*\"")
        skus.append((item["pattern"], _override({k: v for k, v in item.items() if k != "pattern"}, where, sources)))
    return StockSettings(authoritative=default,
                         tolerance=top.tolerance if top.tolerance is not None else 0.0,
                         settle_minutes=top.settle_minutes if top.settle_minutes is not None
                         else DEFAULT_SETTLE_MINUTES,
                         unit_value=top.unit_value, locations=locations, skus=tuple(skus))


def _default_authoritative(sources: dict[str, Any]) -> str | None:
    for source in sources.values():
        if source.options.get("authoritative"):
            return str(source.name)
    for source in sources.values():
        if source.kind == "erp":
            return str(source.name)
    return None


def _override(raw: Any, where: str, sources: dict[str, Any], allowed: set[str] = _OVERRIDE_KEYS) -> StockOverride:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where} must be a table")
    unknown = set(raw) - allowed
    if unknown:
        raise ConfigError(f"{where}: unknown key {sorted(unknown)[0]!r}: expected one of {sorted(_OVERRIDE_KEYS)}")
    authoritative = raw.get("authoritative")
    if authoritative is not None and authoritative not in sources:
        raise ConfigError(f"{where}.authoritative = {authoritative!r}: no source has that name "
                          f"(configured: {', '.join(sorted(sources)) or 'none'})")
    return StockOverride(authoritative=authoritative, tolerance=_number(raw, "tolerance", where),
                         settle_minutes=_number(raw, "settle_minutes", where),
                         unit_value=_number(raw, "unit_value", where))


def _number(raw: dict[str, Any], key: str, where: str) -> float | None:
    value = raw.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ConfigError(f"{where}.{key} must be a number ≥ 0 (got {value!r})")
    return float(value)
