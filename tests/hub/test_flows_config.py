"""``[flows.<kind>]`` and ``[[routing]]``: what a configuration may say, and the message for each mistake."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from hub.config import RoutingRule, parse
from hub.errors import ConfigError
from hub.exceptions.flows import DEFAULT_FLOWS, flows_from_config
from hub.exceptions.lifecycle import Finding, route

STEPS = [{"name": "placed", "types": ["order.placed"]},
         {"name": "posted", "types": ["erp.posted"], "sla_minutes": 20, "system_kind": "erp"}]


def test_a_kind_replaced_in_config_keeps_the_other_defaults() -> None:
    flows = parse({"flows": {"order": {"steps": STEPS}}}, {}).flows
    assert [s.name for s in flows["order"].steps] == ["placed", "posted"]
    assert flows["order"].steps[1].sla == timedelta(minutes=20) and flows["order"].steps[1].system_kind == "erp"
    assert flows["transfer"] == DEFAULT_FLOWS["transfer"]


@pytest.mark.parametrize(("flows", "message"), [
    ({"shipment": {"steps": STEPS}}, "flows.shipment: unknown transaction kind"),
    ({"order": {"steps": []}}, "flows.order.steps must be a non-empty array"),
    ({"order": {"steps": [{"types": ["order.placed"]}]}}, "flows.order.steps[0].name is required"),
    ({"order": {"steps": [{"name": "x", "types": []}]}}, "flows.order.steps[0].types must be a non-empty list"),
    ({"order": {"steps": [{"name": "x", "types": ["placed"]}]}}, "'placed' is not an event type"),
    ({"order": {"steps": [{"name": "x", "types": ["erp.posted"], "sla_minutes": -5}]}},
     "flows.order.steps[0].sla_minutes must be a positive number"),
    ({"order": {"steps": [{"name": "x", "types": ["erp.posted"], "system_kind": "mainframe"}]}},
     "flows.order.steps[0].system_kind must be one of"),
    ({"order": {"steps": [{"name": "x", "types": ["erp.posted"], "stopped_by": "order.cancelled"}]}},
     "flows.order.steps[0].stopped_by must be a list"),
    ({"order": {"steps": [{"name": "x", "types": ["erp.posted"], "stoped_by": ["order.cancelled"]}]}},
     "flows.order.steps[0]: unknown key 'stoped_by'"),
    ({"order": {"steps": [{"name": "x", "types": ["erp.posted"], "not_for_kinds": ["till"]}]}},
     "flows.order.steps[0].not_for_kinds must be a list of system kinds"),
])
def test_flow_mistakes_name_the_key(flows: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        flows_from_config(flows)


@pytest.mark.parametrize(("routing", "message"), [
    ([{"sources": ["wms"]}], r"routing\[0\].queue is required"),
    ([{"queue": "finance", "types": "amount_mismatch"}], r"routing\[0\].types must be a list of strings"),
    ([{"queue": "finance", "teams": ["a"]}], r"routing\[0\]: unknown key 'teams'"),
])
def test_routing_mistakes_name_the_key(routing: list[dict[str, Any]], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse({"routing": routing}, {})


def test_routing_by_kind_and_severity_first_match_wins_else_ops() -> None:
    rules = (RoutingRule(queue="customer-service", kinds=("order",), severities=("error", "critical")),
             RoutingRule(queue="store-ops", kinds=("transfer", "order")),
             RoutingRule(queue="finance", types=("amount_mismatch",)))

    def finding(kind: str | None, severity: str, type_: str = "late") -> Finding:
        return Finding(rule="r", type=type_, severity=severity, subject="s", message="m", evidence={}, tx_kind=kind)

    assert route(finding("order", "error"), rules) == "customer-service"
    assert route(finding("order", "warning"), rules) == "store-ops"
    assert route(finding("transfer", "critical"), rules) == "store-ops"
    assert route(finding("settlement", "error", "amount_mismatch"), rules) == "finance"
    assert route(finding(None, "info"), rules) == "ops"
