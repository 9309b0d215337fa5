"""``/compare?a=…&b=…``: two transactions side by side on aligned steps (``hub.compare``), each step's lag on
either side and where they diverge. ``a`` and ``b`` are any refs search takes."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from hub.compare import compare, windows_for
from hub.correlation.numbers import business_number
from hub.model import IDENTITY
from hub.runtime import Hub
from hub.store import Store
from hub.store.trace import AmbiguousRef, Trace, find_trace
from web.common import now_of, render

MAX_REF = 400


def _number(trace: Trace) -> tuple[str, str, str] | None:
    number = business_number(trace.transaction.kind, [(r.namespace, r.value) for r in trace.refs
                                                      if r.role == IDENTITY and not r.demoted])
    return (*number, IDENTITY) if number else None


async def _side(store: Store, ref: str) -> tuple[Trace | None, str | None]:
    """The trace a ref names, or why there is none."""
    if not ref:
        return None, None
    if len(ref) > MAX_REF or "\x00" in ref:
        return None, "too long: paste one id"
    try:
        trace = await find_trace(store, ref)
    except AmbiguousRef as exc:
        return None, f"names {len(exc.tx_ids)} transactions: give it with its namespace (source:object:value)"
    return trace, None if trace is not None else "nothing found"


def routes(hub: Hub) -> list[BaseRoute]:
    async def page(request: Request) -> Response:
        refs = {side: request.query_params.get(side, "").strip() for side in ("a", "b")}
        store = hub.started().store
        sides = {side: await _side(store, ref) for side, ref in refs.items()}
        traces = {side: found for side, (found, _) in sides.items()}
        problems = {side: problem for side, (_, problem) in sides.items() if problem}
        context: dict[str, Any] = {"refs": refs, "problems": problems, "comparison": None}
        a, b = traces["a"], traces["b"]
        if a is not None and b is not None:
            now = now_of(hub)
            async with store.read() as conn:
                windows = await windows_for(conn, hub.config, [*a.events, *b.events], now)
            context.update(a=a.transaction, b=b.transaction, number_a=_number(a), number_b=_number(b), now=now,
                           comparison=compare(hub.config, a.transaction.kind, a.events, b.transaction.kind, b.events,
                                              now, windows))
        status = 404 if problems and any(p == "nothing found" for p in problems.values()) else \
            400 if problems else 200
        return render(request, "compare.html", context, status_code=status)

    return [Route("/compare", page)]
