"""Charging a query to its caller's cost budget: the requested cost taken up front, settled to the actual cost once
it ran (the cost model is in :mod:`resolvers.limits`). Both the normal execution (``limits.Guard``) and the hot
document path (:mod:`resolvers.hot_documents`) charge through these, so a caller's budget cannot tell them apart.
"""

from __future__ import annotations

import logging
from typing import Any

from graphql import GraphQLError

from resolvers.budgets import BudgetUnavailable, CostBudgets

log = logging.getLogger("crosstrace.graphql")
BUDGET_RETRY_SECONDS = 1  # Retry-After when the store holding the budgets does not answer (503)


def cost_report(buckets: CostBudgets, requested: int, actual: int, left: float) -> dict[str, Any]:
    """``extensions.cost`` of a response (Shopify's shape)."""
    return {"requestedQueryCost": requested, "actualQueryCost": actual,
            "throttleStatus": {"maximumAvailable": float(buckets.size), "currentlyAvailable": int(left),
                               "restoreRate": buckets.rate}}


async def charge(max_cost: int, buckets: CostBudgets, context: dict[str, Any], cost: int) -> list[GraphQLError]:
    """Take ``cost`` from the caller's budget; the errors that refuse the query (over ``max_cost``, throttled, the
    budget's store not answering), none when it may run. Leaves ``cost`` (the report), and ``charged``,
    ``retry_after`` or ``unavailable`` in the request context."""
    try:
        return await _take(max_cost, buckets, context, cost)
    except BudgetUnavailable as exc:
        log.warning("cost budget unavailable, query refused: %s", exc)
        context["unavailable"] = BUDGET_RETRY_SECONDS
        return [GraphQLError(f"the cost budget cannot be checked right now: retry in {BUDGET_RETRY_SECONDS} s",
                             extensions={"code": "UNAVAILABLE", "retryAfter": BUDGET_RETRY_SECONDS})]


async def _take(max_cost: int, buckets: CostBudgets, context: dict[str, Any], cost: int) -> list[GraphQLError]:
    caller = context.get("caller", "anonymous")
    if cost > max_cost:
        context["cost"] = cost_report(buckets, cost, 0, await buckets.available(context, caller))
        return [GraphQLError(f"query cost {cost} exceeds the maximum of {max_cost}: ask for smaller pages or fewer "
                             "nested objects", extensions={"code": "MAX_COST_EXCEEDED", "cost": cost,
                                                            "maxCost": max_cost})]
    taken, left, wait = await buckets.take(context, caller, cost)
    context["cost"] = cost_report(buckets, cost, cost if taken else 0, left)
    if taken:
        context["charged"] = cost  # settled to the actual cost once it ran
        return []
    context["retry_after"] = wait
    return [GraphQLError(f"Throttled: this query costs {cost} and {int(left)} points are available; retry in "
                         f"{wait} s", extensions={"code": "THROTTLED", "retryAfter": wait})]


async def settle(buckets: CostBudgets, context: dict[str, Any], actual: int) -> None:
    """Settle a query that ran (``charged`` in the context) to its ``actual`` cost; the report says so."""
    requested = context["charged"]
    left = await buckets.settle(context, context.get("caller", "anonymous"), requested - actual)
    if left is not None:
        context["cost"] = cost_report(buckets, requested, actual, left)
