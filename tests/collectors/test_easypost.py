"""The EasyPost adapter on EasyPost's published webhook fixture and its signature vector."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import unicodedata
from datetime import datetime
from typing import Any

import pytest

from collectors import easypost
from collectors.base import ParseError, SignatureError, body_digest
from hub.config import Source
from hub.errors import ConfigError
from hub.model import UNKNOWN_TYPE, Delivery, Ref
from tests.paths import FIXTURES

VECTOR = json.loads((FIXTURES / "easypost" / "signature-vector.json").read_text())
# The vector signs event-body.json without its trailing newline (see the vector's body_file note).
BODY = (FIXTURES / "easypost" / "event-body.json").read_bytes().rstrip(b"\n")
SECRET = VECTOR["secret"]
OTHER = "rotated-secret"
NOW = 1_700_000_000.0


def event_body() -> dict[str, Any]:
    return json.loads(BODY)


def make_source(**options: Any) -> Source:
    return Source(name="easypost", kind="carrier", adapter="easypost", secrets=(OTHER, SECRET), options=options)


def delivery(payload: dict[str, Any] | bytes, **headers: str) -> Delivery:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return Delivery(id="d1", source="easypost", received_at=datetime(2026, 1, 1),
                    headers={"x-hmac-signature": easypost.sign(SECRET, body), **headers}, body=body,
                    content_type="application/json")


def parse_one(payload: dict[str, Any] | bytes, source: Source | None = None, **headers: str):  # type: ignore[no-untyped-def]
    events = easypost.parse(delivery(payload, **headers), source or make_source())
    assert len(events) == 1
    return events[0]


def with_status(status: str, **tracker: Any) -> dict[str, Any]:
    payload = event_body()
    payload["result"]["status"] = status
    payload["result"].update(tracker)
    return payload


# --- signature -------------------------------------------------------------------------------------------


def test_published_vector_is_accepted() -> None:
    assert easypost.sign(SECRET, BODY) == VECTOR["signature"]
    easypost.verify({"x-hmac-signature": VECTOR["signature"]}, BODY, make_source(), NOW)


def test_key_is_the_nfkd_normalised_secret() -> None:
    # "sécret" composed (U+00E9) and decomposed (e + U+0301) must sign the same way.
    composed = unicodedata.normalize("NFC", SECRET)
    decomposed = unicodedata.normalize("NFD", SECRET)
    assert composed != decomposed
    expected = "hmac-sha256-hex=" + hmac.new(decomposed.encode(), BODY, hashlib.sha256).hexdigest()
    assert easypost.sign(composed, BODY) == easypost.sign(decomposed, BODY) == expected


def test_verify_accepts_any_configured_secret_during_rotation() -> None:
    source = Source(name="easypost", kind="carrier", adapter="easypost", secrets=(SECRET, OTHER))
    easypost.verify({"x-hmac-signature": easypost.sign(OTHER, BODY)}, BODY, source, NOW)


@pytest.mark.parametrize("case", ["forged", "tampered", "missing", "no-prefix", "prefix-only", "empty"])
def test_verify_refuses_negative_cases(case: str) -> None:
    headers = {"x-hmac-signature": VECTOR["signature"]}
    body = BODY
    if case == "forged":
        headers["x-hmac-signature"] = easypost.sign("not-the-secret", BODY)
    elif case == "tampered":
        body = BODY.replace(b'"in_transit"', b'"delivered"', 1)
    elif case == "missing":
        headers = {}
    elif case == "no-prefix":
        headers["x-hmac-signature"] = VECTOR["signature"].removeprefix("hmac-sha256-hex=")
    elif case == "prefix-only":
        headers["x-hmac-signature"] = "hmac-sha256-hex="
    else:
        headers["x-hmac-signature"] = ""
    with pytest.raises(SignatureError):
        easypost.verify(headers, body, make_source(), NOW)


def test_verify_refuses_when_no_secret_is_configured() -> None:
    source = Source(name="easypost", kind="carrier", adapter="easypost")
    with pytest.raises(SignatureError, match="no secret"):
        easypost.verify({"x-hmac-signature": easypost.sign("", BODY)}, BODY, source, NOW)


# --- dedup -----------------------------------------------------------------------------------------------


def test_dedup_key_is_the_event_id() -> None:
    assert easypost.dedup_key({}, BODY) == "evt_1"
    assert easypost.dedup_key({}, b"not json") is None
    assert easypost.dedup_key({}, b"[1, 2]") is None
    assert easypost.dedup_key({}, b'{"id": 7}') is None


# --- tracker events --------------------------------------------------------------------------------------


def test_real_tracker_updated_is_in_transit_field_by_field() -> None:
    event = parse_one(BODY, traceparent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
    assert event.source == "easypost"
    assert event.source_event_id == "evt_1"
    assert event.type == "shipment.in_transit"
    # the latest tracking detail (the carrier's last scan), not the tracker's updated_at (19:26:51)
    assert event.occurred_at == datetime(2024, 8, 2, 18, 50)
    # shipment_id is null in the fixture: no shipment ref
    assert event.refs == [Ref("easypost:tracking", "1"), Ref("easypost:tracker", "trk_1")]
    assert event.lines == [] and event.amount is None
    assert event.status == "ok" and event.error is None
    assert event.traceparent == "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def test_shipment_id_becomes_an_identity_ref_and_source_refs_apply() -> None:
    payload = with_status("in_transit", shipment_id="shp_42")
    source = Source(name="easypost", kind="carrier", adapter="easypost", secrets=(SECRET,),
                    refs={"result.carrier_detail.alternate_identifier": "wms:parcel"})
    payload["result"]["carrier_detail"]["alternate_identifier"] = "PCL-9"
    event = parse_one(payload, source)
    assert event.refs == [Ref("easypost:tracking", "1"), Ref("easypost:shipment", "shp_42"),
                          Ref("easypost:tracker", "trk_1"), Ref("wms:parcel", "PCL-9")]


@pytest.mark.parametrize(("status", "expected"), [
    ("pre_transit", "shipment.shipped"),
    ("in_transit", "shipment.in_transit"),
    ("out_for_delivery", "shipment.in_transit"),
    ("available_for_pickup", "shipment.in_transit"),
    ("delivered", "shipment.delivered"),
    ("unknown", UNKNOWN_TYPE),
    ("some_future_status", UNKNOWN_TYPE),
])
def test_status_transitions(status: str, expected: str) -> None:
    event = parse_one(with_status(status))
    assert event.type == expected
    assert event.status == "ok" and event.error is None
    assert Ref("easypost:tracking", "1") in event.refs


@pytest.mark.parametrize(("status", "detail", "error"), [
    ("return_to_sender", "return", "return_to_sender: return"),
    ("failure", "address_not_found", "failure: address_not_found"),
    ("cancelled", None, "cancelled: Arrived at FedEx location"),
    ("error", "error", "error"),
])
def test_failures_are_shipment_exceptions(status: str, detail: str | None, error: str) -> None:
    payload = with_status(status, status_detail=detail)
    if status == "error":
        payload["result"]["status_detail"] = "error"
    event = parse_one(payload)
    assert event.type == "shipment.exception"
    assert event.status == "failed"
    assert event.error == error


def test_tracker_created_without_details_uses_the_tracker_time() -> None:
    payload = with_status("pre_transit", tracking_details=[], updated_at="2024-07-31T14:45:27Z")
    payload["description"] = "tracker.created"
    event = parse_one(payload)
    assert event.type == "shipment.shipped"
    assert event.occurred_at == datetime(2024, 7, 31, 14, 45, 27)


def test_delivered_time_is_the_delivery_scan_even_when_details_are_unordered() -> None:
    payload = with_status("delivered")
    details = payload["result"]["tracking_details"]
    delivered = copy.deepcopy(details[-1])
    delivered.update(status="delivered", datetime="2024-08-05T15:04:00Z", message="Delivered")
    payload["result"]["tracking_details"] = [delivered, *details]  # carriers do not promise an order
    event = parse_one(payload)
    assert event.type == "shipment.delivered"
    assert event.occurred_at == datetime(2024, 8, 5, 15, 4)


def test_status_types_option_overrides_the_mapping() -> None:
    source = make_source(status_types={"pre_transit": "fulfillment.packed"})
    assert parse_one(with_status("pre_transit"), source).type == "fulfillment.packed"
    assert parse_one(with_status("delivered"), source).type == "shipment.delivered"


# --- other events and drift ------------------------------------------------------------------------------


def test_other_events_are_unknown_with_their_refs() -> None:
    # Shape from https://docs.easypost.com/docs/webhooks (Event wrapping a Refund object).
    payload = {"id": "evt_9", "object": "Event", "description": "refund.successful", "mode": "production",
               "created_at": "2024-08-03T10:00:00Z", "updated_at": "2024-08-03T10:00:01Z",
               "result": {"id": "rfnd_1", "object": "Refund", "tracking_code": "9400100000000000000000",
                          "confirmation_number": None, "status": "refunded", "carrier": "USPS",
                          "shipment_id": "shp_7"}}
    event = parse_one(payload)
    assert event.type == UNKNOWN_TYPE
    assert event.source_event_id == "evt_9"
    assert event.occurred_at == datetime(2024, 8, 3, 10, 0, 1)
    assert event.refs == [Ref("easypost:tracking", "9400100000000000000000"), Ref("easypost:shipment", "shp_7")]


def test_body_without_an_id_falls_back_to_the_body_digest() -> None:
    payload = event_body()
    del payload["id"]
    body = json.dumps(payload).encode()
    assert parse_one(body).source_event_id == body_digest(body)


@pytest.mark.parametrize(("path", "field"), [
    (("description",), "description"),
    (("result", "tracking_code"), "result.tracking_code"),
    (("result", "status"), "result.status"),
    (("result",), "result"),
])
def test_schema_drift_names_the_field(path: tuple[str, ...], field: str) -> None:
    payload = event_body()
    target = payload
    for part in path[:-1]:
        target = target[part]
    del target[path[-1]]
    with pytest.raises(ParseError, match=field.replace(".", r"\.")):
        parse_one(payload)


@pytest.mark.parametrize("body", [b"not json", b"[]", b'{"description": "tracker.updated", "result": []}',
                                  b"[" * 5000])
def test_malformed_bodies_are_parse_errors(body: bytes) -> None:
    with pytest.raises(ParseError):
        parse_one(body)


def test_bad_tracking_detail_time_is_a_parse_error() -> None:
    payload = event_body()
    payload["result"]["tracking_details"][0]["datetime"] = "yesterday"
    with pytest.raises(ParseError, match=r"tracking_details\.0\.datetime"):
        parse_one(payload)


# --- options ---------------------------------------------------------------------------------------------


def test_check_options_accepts_defaults_and_valid_overrides() -> None:
    easypost.check_options(make_source())
    easypost.check_options(make_source(status_types={"pre_transit": "fulfillment.packed", "unknown": "unknown"}))


@pytest.mark.parametrize(("options", "key"), [
    ({"status_types": "shipment.shipped"}, "options.status_types"),
    ({"status_types": {"picked_up": "shipment.shipped"}}, "options.status_types.picked_up"),
    ({"status_types": {"pre_transit": "shipment.sent"}}, "options.status_types.pre_transit"),
])
def test_check_options_names_the_source_and_key(options: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError, match=f"source 'easypost': {key}"):
        easypost.check_options(make_source(**options))
