"""``hub.ingest.values``: the boundary's rules one by one, and the texts the hub writes about hostile deliveries."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from hub.access.privacy import redact_body
from hub.ingest.values import RefusedValue, check_event, check_events, json_text, safe_text
from hub.model import Amount, Event, Line, Ref

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def event(**changes: object) -> Event:
    values: dict[str, object] = {
        "source": "erp", "source_event_id": "e-1", "type": "order.placed", "occurred_at": datetime(2026, 11, 1),
        "refs": [Ref("erp:order", "SO-1")], "lines": [Line("SKU-1", Decimal(2), "WH-1", "reserved")],
        "amount": Amount(Decimal("49.90"), "EUR", "total"), "traceparent": TRACEPARENT}
    values.update(changes)
    return Event(**values)  # type: ignore[arg-type]


def test_a_sane_event_passes_unchanged() -> None:
    sane = event()
    assert check_events([sane]) == [sane] and sane.traceparent == TRACEPARENT


@pytest.mark.parametrize("changes, message", [
    ({"refs": [Ref("erp:order", "SO-1"), Ref("erp:order", "\ud83d")]}, "refs[1].value: lone surrogate U+D83D at 0"),
    ({"refs": [Ref("erp:\x00", "SO-1")]}, "refs[0].namespace: NUL at 4"),
    ({"refs": [Ref("erp:order", "SO-1", "friend")]}, "refs[0].role: 'friend' is not one of identity, related"),
    ({"refs": [Ref("n" * 100, "v" * 200)]}, "refs[0]: namespace:value is 301 characters, more than 300"),
    ({"lines": [Line("SKU-1", Decimal("NaN"))]}, "lines[0].qty: not finite (NaN)"),
    ({"lines": [Line("SKU-1", Decimal("-Infinity"))]}, "lines[0].qty: not finite (-Infinity)"),
    ({"lines": [Line("SKU-1", Decimal("1e12"))]}, "lines[0].qty: 1E+12 is beyond ±1E+12"),
    ({"lines": [Line("SKU-1", 1.5), Line("SKU-2", "3")]}, "lines[1].qty: not a number (str)"),
    ({"type": "inventory.adjusted", "lines": [Line("SKU-1", Decimal(1), state="s" * 13)]},
     "lines[0].state: 13 characters, more than 12"),
    ({"amount": Amount(Decimal("-1e15"), "EUR")}, "amount.value: -1E+15 is beyond ±1E+15"),
    ({"amount": Amount(Decimal("1." + "1" * 40), "EUR")}, "amount.value: 42 characters, more than 40"),
    ({"amount": Amount(Decimal(1), "EURO-DOLLAR")}, "amount.currency: 11 characters, more than 8"),
    ({"amount": Amount(Decimal(1), "")}, "amount.currency: must not be empty"),
    ({"occurred_at": datetime(1969, 12, 31, 23, 59)}, "occurred_at: 1969-12-31 23:59:00 outside 1970–2200"),
    ({"occurred_at": datetime(2200, 1, 1)}, "occurred_at: 2200-01-01 00:00:00 outside 1970–2200"),
    ({"occurred_at": datetime(9999, 12, 31, 23, 0, tzinfo=UTC)}, "occurred_at: 9999-12-31 23:00:00 outside"),
    ({"source_event_id": ""}, "source_event_id: must not be empty"),
    ({"source_event_id": 7}, "source_event_id: must be a string, got int"),
    ({"type": "t" * 65}, "type: 65 characters, more than 64"),
    ({"status": "maybe"}, "status: 'maybe' is not one of ok, failed"),
    ({"error": "card declined \udc80"}, "error: lone surrogate U+DC80 at 14"),
])
def test_each_unstorable_value_is_refused_naming_the_field(changes: dict, message: str) -> None:
    with pytest.raises(RefusedValue) as refused:
        check_events([event(), event(**changes)])
    assert str(refused.value).startswith("event[1]." + message)


def test_what_worked_before_still_passes() -> None:
    """An empty ref value is junk the correlation drops; a line's state is a stock position's only for stock types."""
    check_event(event(refs=[Ref("erp:order", ""), Ref("erp:order", "SO-1")]))
    check_event(event(type="fulfillment.picked", lines=[Line("SKU-1", Decimal(1), "WH-1", "allocated_to_wave")]))


def test_the_edges_of_the_ranges_pass() -> None:
    check_event(event(occurred_at=datetime(1970, 1, 1), amount=Amount(Decimal("-999999999999999.99"), "JPY"),
                      lines=[Line("S" * 100, Decimal("999999999999"), "L" * 100, "in_transit")]))
    check_event(event(occurred_at=datetime(2199, 12, 31, 23, 59, 59), refs=[Ref("n" * 99, "v" * 200)]))


@pytest.mark.parametrize("traceparent", ["00-" + "a" * 300, "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
                                         "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                                         "00-00000000000000000000000000000000-00f067aa0ba902b7-01", "\x00"])
def test_an_invalid_traceparent_is_dropped(traceparent: str) -> None:
    checked = event(traceparent=traceparent)
    check_event(checked)
    assert checked.traceparent is None


def test_safe_text_escapes_what_no_store_takes_and_bounds_the_length() -> None:
    assert safe_text("bad \x00 and \ud800 here") == "bad \\x00 and \\ud800 here"
    assert len(safe_text("x" * 5000)) == 2000 and safe_text("x" * 5000).endswith("…")
    safe_text("\ud800" * 10).encode("utf-8")  # encodes: storable


def test_json_text_escapes_lone_surrogates_and_parses_back_to_the_same_value() -> None:
    value = {"ref": "SO-\ud800", "name": "Zoë", "k\udfff": [1, "\x00"]}
    text = json_text(value)
    text.encode("utf-8")
    assert json.loads(text) == value and "Zoë" in text


def test_erasing_a_body_with_a_lone_surrogate_writes_storable_bytes() -> None:
    body = b'{"email": "ana@example.org", "note": "\\ud800"}'
    erased = redact_body(body, {"ana@example.org"})
    assert json.loads(erased) == {"email": "[erased]", "note": "\ud800"}


def test_a_json_answer_quoting_a_lone_surrogate_is_sent_escaped_not_a_500() -> None:
    import asyncio

    from collectors.http import send_json

    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)

    asyncio.run(send_json(send, 400, {"error": {"code": "bad_request", "message": "got '\ud800'"}}))
    assert sent[0]["status"] == 400 and json.loads(sent[1]["body"])["error"]["message"] == "got '\ud800'"


def test_a_polled_answer_nested_too_deep_for_json_is_an_upstream_error() -> None:
    import httpx

    from collectors.polling import UpstreamError, document

    deep = httpx.Response(200, content=b"[" * 100_000 + b"]" * 100_000, request=httpx.Request("GET", "http://up/x"))
    with pytest.raises(UpstreamError):
        document(deep)
