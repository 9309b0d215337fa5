"""Exception evidence as people read it: an expected-vs-actual table, then the other facts.

Shapes the rules write (hub.exceptions, hub.stock): ``expected``/``actual`` as two values (``"done"`` vs
``"missing"``) or as one-entry objects naming what was compared (``{"gross less fees": "7838.20"}`` vs
``{"settled": "7831.72"}``); stock divergence as ``states`` (each state's authoritative vs source quantity).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

MAX_FACT = 160  # a fact's text beyond this is cut (GraphQL `evidence` has it whole)


@dataclass(slots=True)
class EvidenceView:
    rows: list[tuple[str, str, str]] = field(default_factory=list)  # (what, expected, actual)
    facts: list[tuple[str, str]] = field(default_factory=list)  # (key, text)


def evidence_view(evidence: Any) -> EvidenceView:
    """The comparison rows and the remaining facts of one exception's evidence."""
    view = EvidenceView()
    if not isinstance(evidence, dict):
        if evidence not in (None, "", {}):
            view.facts.append(("evidence", _text(evidence)))
        return view
    used: set[str] = set()
    if "expected" in evidence or "actual" in evidence:
        used |= {"expected", "actual"}
        view.rows += _compared(evidence.get("expected"), evidence.get("actual"),
                               str(evidence.get("step") or evidence.get("type") or evidence.get("sku") or "value"))
    states = evidence.get("states")
    if isinstance(states, dict) and "authoritative" in evidence:
        used.add("states")
        names = f"{evidence['authoritative']} vs {evidence.get('source', 'source')}"
        view.rows += [(f"{state} ({names})", _text(q.get("authoritative")), _text(q.get("source")))
                      for state, q in states.items() if isinstance(q, dict)]
    view.facts = [(key, _text(value)) for key, value in evidence.items() if key not in used]
    return view


def _compared(expected: Any, actual: Any, what: str) -> list[tuple[str, str, str]]:
    if isinstance(expected, dict) or isinstance(actual, dict):
        wanted = expected if isinstance(expected, dict) else {}
        got = actual if isinstance(actual, dict) else {}
        if len(wanted) == 1 and len(got) == 1 and set(wanted) != set(got):  # two named amounts compared
            (wanted_name, wanted_value), (got_name, got_value) = next(iter(wanted.items())), next(iter(got.items()))
            return [(f"{wanted_name} vs {got_name}", _text(wanted_value), _text(got_value))]
        keys = dict.fromkeys([*wanted, *got])
        return [(str(key), _text(wanted.get(key, "")), _text(got.get(key, ""))) for key in keys]
    return [(what, _text(expected), _text(actual))]


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        text = json.dumps(value, ensure_ascii=False, default=str)
    else:
        text = str(value)
    return text if len(text) <= MAX_FACT else text[: MAX_FACT - 1] + "…"
