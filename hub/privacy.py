"""Personal data: masking for viewers and erasure of one customer (issue 6, GDPR art. 17 style).

What counts as personal: customer names, emails, phones and street addresses. In JSON they are found
by key (``email``, ``phone``, ``first_name``, ``address1``, ``line1``… anywhere; ``name`` and
``company`` only inside an object that describes a person or an address, so an order's ``name``
"#1001" or a product name survive). In free text (error messages, notes) emails, international phone
numbers and street addresses ("12 Main Street", "Rua das Flores 12", "Hauptstraße 5") are found by
shape, and any value a payload holds under a personal key is masked wherever else it appears in that
payload. Ids, quantities, amounts, times, cities, postcodes and countries are operational facts and are kept.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from hub.values import json_text

MASK = "•••"
ERASED = "[erased]"
EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
# Phones by value only in unambiguous shapes (international "+…" or North American "(555) 555-0100"): plain
# digit runs are order numbers and amounts; phone *fields* are found by key.
_PHONE_VALUE = re.compile(r"^(?:\+\d[\d\s().-]{6,18}\d|\(?\d{3}\)?[\s.-]\d{3}[\s.-]\d{4})$")
_PHONE_IN_TEXT = re.compile(r"\+\d[\d\s().-]{7,18}\d")
# Street addresses in free text, by shape: a house number then words then a street type (English), a street
# type then words then a number (Romance languages), or a compound street name then a number (Germanic).
_STREET_IN_TEXT = re.compile(
    r"\b\d{1,5}[A-Za-z]?(?:\s+[A-Z][\w'’.-]*){1,4}\s+(?:Street|St|Road|Rd|Avenue|Ave|Boulevard|Blvd|Lane|Ln|"
    r"Drive|Dr|Court|Ct|Way|Place|Pl|Terrace|Square|Sq|Highway|Hwy|Parkway|Pkwy|Close|Crescent)\b\.?"
    r"|\b(?:Rua|Avenida|Av\.|Travessa|Largo|Praça|Calle|Carrer|Paseo|Plaza|Rue|Via|Viale|Piazza|Corso)"
    r"(?:\s+[\w'’.-]+){1,5}?\s+\d{1,5}[A-Za-z]?\b"
    r"|\b[A-ZÄÖÜ][a-zäöüß]+(?:straße|strasse|str\.|weg|gasse|platz|allee|laan|straat|gade|vej|gatan|vägen)"
    r"\s+\d{1,5}[a-z]?\b")
_MIN_KNOWN = 4  # shorter personal values ("Ana") are not hunted for in free text: too many false hits
# Keys that are personal wherever they appear (compared lowercased, '-' as '_').
_PERSONAL_KEYS = frozenset({
    "first_name", "last_name", "full_name", "firstname", "lastname", "fullname", "given_name", "family_name",
    "customer_name", "buyer_name", "recipient_name", "contact_name", "account_holder_name", "individual_name",
    "verified_name", "shipping_name", "billing_name", "nickname", "display_name",
    "address1", "address2", "address_1", "address_2", "address_line1", "address_line2", "address_line_1",
    "address_line_2", "addressline1", "addressline2", "line1", "line2", "street", "street1", "street2",
    "street_address", "street_line", "raw_address", "formatted_address", "ip_address", "browser_ip",
})
# Keys personal only inside a person/address object.
_PERSON_ONLY_KEYS = frozenset({"name", "company", "address", "phone_number"})
_PERSON_CONTAINERS = ("customer", "address", "shipping", "billing", "recipient", "buyer", "contact", "owner",
                      "individual", "person", "receiver", "consignee", "to_address", "from_address")
_PERSON_MARKERS = frozenset({"first_name", "last_name", "given_name", "family_name", "address1", "line1"})


def _norm(key: str) -> str:
    return key.lower().replace("-", "_")


def personal_key(key: str, in_person: bool) -> bool:
    """Whether a JSON value under ``key`` is personal data (``in_person``: inside a person/address object)."""
    k = _norm(key)
    if "email" in k or "phone" in k or k in _PERSONAL_KEYS:
        return not k.endswith(("_check", "_verified", "_consent", "_collection"))
    return in_person and k in _PERSON_ONLY_KEYS


def _is_person(parent_key: str | None, obj: dict[str, Any]) -> bool:
    if parent_key is not None and any(c in _norm(parent_key) for c in _PERSON_CONTAINERS):
        return True
    return any(_norm(k) in _PERSON_MARKERS for k in obj)


def _walk(value: Any, replace_value: Callable[[Any], Any], replace_text: Callable[[str], str],
          parent_key: str | None = None, in_person: bool = False) -> Any:
    if isinstance(value, dict):
        person = in_person or _is_person(parent_key, value)
        out = {}
        for key, item in value.items():
            if personal_key(str(key), person) and not isinstance(item, dict | list):
                out[key] = replace_value(item)
            else:
                out[key] = _walk(item, replace_value, replace_text, str(key), person)
        return out
    if isinstance(value, list):
        return [_walk(item, replace_value, replace_text, parent_key, in_person) for item in value]
    if isinstance(value, str):
        return replace_text(value)
    return value


def _free_text(text: str) -> str:
    """Emails, international phones and street addresses in free text, masked by their shape."""
    return _STREET_IN_TEXT.sub(MASK, _PHONE_IN_TEXT.sub(MASK, EMAIL.sub(MASK, text)))


def _masked(item: Any) -> Any:
    return MASK if item not in (None, "") else item


def _as_json(text: str, parsed_texts: dict[str, Any] | None = None) -> Any:
    """The JSON object or array a text holds, else None (``parsed_texts``: a cache kept by one masking)."""
    if text.lstrip()[:1] not in ("{", "["):
        return None
    if parsed_texts is not None and text in parsed_texts:
        return parsed_texts[text]
    try:
        parsed = json.loads(text)
    except (ValueError, RecursionError):
        parsed = None
    parsed = parsed if isinstance(parsed, dict | list) else None
    if parsed_texts is not None:
        parsed_texts[text] = parsed
    return parsed


def _text_masker(known: frozenset[str], parsed_texts: dict[str, Any] | None = None) -> Callable[[str], str]:
    """Masks one text: a JSON text by key, else the ``known`` personal values and every shape of personal data."""
    pattern = re.compile("|".join(re.escape(v) for v in sorted(known, key=len, reverse=True)), re.IGNORECASE) \
        if known else None

    def mask(text: str) -> str:
        parsed = _as_json(text, parsed_texts)
        if parsed is not None:
            return json_text(_walk(parsed, _masked, mask))
        if _PHONE_VALUE.match(text):
            return MASK
        if pattern is not None and " " in text:  # known values are hunted in free text (a lone value is by key)
            text = pattern.sub(MASK, text)
        return _free_text(text)

    return mask


def personal_values(value: Any, parsed_texts: dict[str, Any] | None = None) -> frozenset[str]:
    """The texts a JSON value holds under personal keys (JSON texts inside it included), long enough to hunt."""
    found: set[str] = set()

    def keep(item: Any) -> Any:
        if isinstance(item, str) and len(item.strip()) >= _MIN_KNOWN and item != MASK:
            found.add(item.strip())
        return item

    def look_inside(text: str) -> str:
        parsed = _as_json(text, parsed_texts)
        if parsed is not None:
            _walk(parsed, keep, look_inside)
        return text

    _walk(value, keep, look_inside)
    return frozenset(found)


def mask_text(text: str) -> str:
    """Free text with every email, international phone number and street address masked (a JSON text by key)."""
    return _text_masker(frozenset())(text)


def mask_html(page: str) -> str:
    """An HTML page with emails, international phones and street addresses masked (pages escape JSON)."""
    return _free_text(page)


def mask_json(value: Any) -> Any:
    """A JSON value with personal data replaced by ``•••`` (structure, ids, amounts and times kept): by key, by
    shape in free text, and every value found under a personal key anywhere else in the same value."""
    parsed_texts: dict[str, Any] = {}  # JSON texts (raw bodies) are parsed once for both passes
    return _walk(value, _masked, _text_masker(personal_values(value, parsed_texts), parsed_texts))


def redactor(emails: set[str]) -> Callable[[Any], Any]:
    """A function that erases personal keys and the given emails (case-insensitively) from a JSON value."""
    pattern = re.compile("|".join(re.escape(e) for e in sorted(emails, key=len, reverse=True)), re.IGNORECASE) \
        if emails else None

    def erase_text(text: str) -> str:
        return _STREET_IN_TEXT.sub(ERASED, pattern.sub(ERASED, text) if pattern else text)

    def erased(item: Any) -> Any:
        return ERASED if item not in (None, "") else item

    return lambda value: _walk(value, erased, erase_text)


def redact_body(body: bytes, emails: set[str]) -> bytes:
    """A raw delivery body with personal data erased: JSON is rewritten, anything else has the emails replaced."""
    try:
        parsed = json.loads(body)
    except (ValueError, RecursionError):
        parsed = None
    if isinstance(parsed, dict | list):
        return json_text(redactor(emails)(parsed)).encode()
    text = body.decode("utf-8", "replace")
    for email in emails:
        text = re.sub(re.escape(email), ERASED, text, flags=re.IGNORECASE)
    return text.encode()


def emails_in(value: Any) -> set[str]:
    """Every email address mentioned anywhere in a JSON value or text, lowercased."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return {m.lower() for m in EMAIL.findall(text)}
