"""The fast path for hot persisted ``transaction(ref)`` documents: answered from one ``find_trace`` call by a
compiled plan (:mod:`resolvers.trace_plan`) instead of graphql-core's field-by-field execution.

A document is *hot* once it is persisted (allow-listed or registered by APQ, :mod:`resolvers.persisted`) and has run
through the normal path once without a request error: that run parsed it, checked its tokens and shape and validated
it, so the plan only has to match its shape. Every step of the normal pipeline that can change the response is
applied the same way, in the same order: the caller's role (a caller below ``viewer`` goes the normal way), the cost
budget (requested cost computed once per plan, charged and settled through :mod:`resolvers.charging`), the store
call, personal-data masking (as ``mask_json`` masks the same ``data``, at the paths the plan's compiled masks
name), error location and masking, and the client-error
log. ``transaction`` is not an audited read (``permissions._AUDITED_READS``): there is no audit entry to write.
``tests/resolvers/test_hot_documents.py`` holds the two paths to byte-identical responses.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import replace
from typing import Any

from graphql import ExecutionResult, GraphQLError, GraphQLSchema, located_error, parse, validate

from hub.access.privacy import mask_json
from hub.store.trace import AmbiguousRef, find_trace
from resolvers.budgets import CostBudgets
from resolvers.charging import charge, settle
from resolvers.errors import MaskUnexpected, log_client_errors
from resolvers.limits import Limits, query_cost
from resolvers.masked_selections import MaskedSelections
from resolvers.permissions import caller, masks_for, rule_for
from resolvers.query import ambiguous_ref_error
from resolvers.trace_plan import TracePlan, compile_plan

_ROLE = rule_for("Query", "transaction")


class _Info:
    """What the role check reads of a resolver's ``info``."""

    def __init__(self, context: dict[str, Any]) -> None:
        self.context = context


class HotDocuments:
    """Compiled plans by (document, operation name), at most ``max_plans``; ``answered`` counts requests they
    answered (the tests read it). ``enabled=False`` sends everything the normal way."""

    def __init__(self, schema: GraphQLSchema, limits: Limits, buckets: CostBudgets, max_plans: int = 256) -> None:
        self.schema, self.limits, self.buckets, self.max_plans = schema, limits, buckets, max_plans
        self._plans: OrderedDict[tuple[str, str | None], tuple[TracePlan, int] | None] = OrderedDict()
        self.answered = 0
        self.enabled = True

    def plan(self, query: str, operation_name: str | None) -> tuple[TracePlan, int] | None:
        """The compiled plan and its requested cost for a hot document, else None."""
        return self._plans.get((query, operation_name)) if self.enabled else None

    def ran(self, query: str, operation_name: str | None) -> None:
        """A persisted document ran the normal way without a request error: compile it (once; None when its
        shape is not the one plans answer)."""
        key = (query, operation_name)
        if key in self._plans:
            return
        document = parse(query)
        plan = compile_plan(document)
        if plan is not None and operation_name not in (None, plan.operation_name):
            plan = None
        if plan is not None:  # below admin such a document gets the normal path's validation error
            plan = replace(plan, masked_refused=bool(validate(self.schema, document, [MaskedSelections])))
        self._plans[key] = (plan, query_cost(self.schema, document, operation_name, None)) if plan else None
        while len(self._plans) > self.max_plans:
            self._plans.popitem(last=False)

    def ref_for(self, plan: TracePlan, variables: dict[str, Any] | None, context: dict[str, Any]) -> str | None:
        """The ``ref`` to answer when this request can take the plan: a caller the role check lets through and
        ``ref`` given as a string; None sends the request the normal way (which answers any error)."""
        if plan.masked_refused and masks_for(context):
            return None
        try:
            caller(_Info(context), _ROLE)
        except GraphQLError:
            return None
        return plan.ref(variables)

    async def execute(self, plan: TracePlan, cost: int, ref: str, context: dict[str, Any]) -> ExecutionResult:
        """The response of the normal pipeline for this request, from one store call."""
        self.answered += 1
        errors = await charge(self.limits.max_cost, self.buckets, context, cost)
        if errors:
            log_client_errors(errors, context)
            return ExecutionResult(None, errors, _extensions(context))
        actual, masked = 0, masks_for(context)
        try:
            trace = await find_trace(context["hub"].started().store, ref, linked=False)
            data, actual = plan.render(trace, masked)
        except AmbiguousRef as exc:
            data, errors = {plan.key: None}, [located_error(ambiguous_ref_error(ref, exc), [plan.field], [plan.key])]
        except Exception as exc:  # noqa: BLE001 - as graphql-core does: the field is null, the error masked
            data, errors = {plan.key: None}, [MaskUnexpected().anonymise_error(
                located_error(exc, [plan.field], [plan.key]))]
        if masked and errors:  # the data is the field's null (rendered data was masked as it was built)
            data = mask_json(data)
        await settle(self.buckets, context, actual)
        log_client_errors(errors, context)
        return ExecutionResult(data, errors or None, _extensions(context))


def _extensions(context: dict[str, Any]) -> dict[str, Any] | None:
    return {"cost": context["cost"]} if "cost" in context else None
