"""The [stock] table: authoritative source per location, tolerance and settle window per location or SKU glob."""

from __future__ import annotations

from datetime import timedelta

import pytest

from hub.config import Config, parse
from hub.errors import ConfigError

SOURCES = [{"name": "pos-1", "kind": "pos", "adapter": "cloudevents"},
           {"name": "erp", "kind": "erp", "adapter": "cloudevents"},
           {"name": "wms", "kind": "wms", "adapter": "cloudevents"}]


def test_defaults_the_first_erp_and_fifteen_minutes() -> None:
    settings = parse({"sources": SOURCES}, {}).stock
    assert settings.authoritative_for("ST-1") == "erp"
    assert settings.tolerance_for("SKU-1", "ST-1") == 0
    assert settings.settle_for("SKU-1", "ST-1") == timedelta(minutes=15)
    assert Config().stock.authoritative_for("ST-1") is None  # no sources, nothing to compare


def test_a_source_marked_authoritative_wins_over_the_erp_default() -> None:
    sources = [*SOURCES[:2], {**SOURCES[2], "authoritative": True}]
    assert parse({"sources": sources}, {}).stock.authoritative_for("WH-1") == "wms"


def test_overrides_by_sku_pattern_then_location_then_global() -> None:
    settings = parse({"sources": SOURCES, "stock": {
        "authoritative": "erp", "tolerance": 1, "settle_minutes": 20,
        "locations": {"ST-1": {"authoritative": "pos-1", "settle_minutes": 5}},
        "skus": [{"pattern": "GC-*", "tolerance": 3}, {"pattern": "*", "settle_minutes": 60}]}}, {}).stock
    assert settings.authoritative_for("ST-1") == "pos-1" and settings.authoritative_for("WH-1") == "erp"
    assert settings.tolerance_for("GC-100", "ST-1") == 3  # the SKU pattern beats the location
    assert settings.tolerance_for("SKU-1", "ST-1") == 1
    assert settings.settle_for("GC-100", "ST-1") == timedelta(minutes=5)  # GC-* sets no settle: the location's
    assert settings.settle_for("SKU-1", "WH-1") == timedelta(minutes=60)  # "*" matched


@pytest.mark.parametrize(("stock", "message"), [
    ({"authoritative": "sap"}, "stock.authoritative = 'sap': no source has that name"),
    ({"tolerance": -1}, "stock.tolerance must be a number ≥ 0"),
    ({"settle_minutes": "soon"}, "stock.settle_minutes must be a number ≥ 0"),
    ({"window": 5}, "stock: unknown key 'window'"),
    ({"locations": {"ST-1": {"authoritative": "nope"}}}, "stock.locations.ST-1.authoritative = 'nope'"),
    ({"locations": {"ST-1": {"colour": 1}}}, "stock.locations.ST-1: unknown key 'colour'"),
    ({"skus": [{"tolerance": 1}]}, "stock.skus[0].pattern is required"),
    ({"skus": [{"pattern": "GC-*", "unit_value": -3}]}, "stock.skus[0].unit_value must be a number ≥ 0"),
    ({"skus": {"pattern": "x"}}, "stock.skus must be an array of tables"),
])
def test_mistakes_name_the_key(stock: dict, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse({"sources": SOURCES, "stock": stock}, {})
    assert message in str(error.value)
