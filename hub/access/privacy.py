"""Personal data: one rule set that masks it on every way out, and erasure of one customer (issue 6, GDPR art. 17).

The rules (every way out applies them: GraphQL, the UI, CSV/NDJSON and OCEL exports, notifications):

- **By key** in JSON and records: emails, phones (``phone``, ``mobile``, ``tel``, ``msisdn``, ``fax``…), names
  (``first_name``…, ``recipient``), street lines, IPs, GPS coordinates (``latitude``/``longitude``/``lat``/``lng``),
  private links (Shopify's ``order_status_url``, ``receipt_url``…) and tokens/secrets (``token``,
  ``cart_token``, ``checkout_token``, ``*_secret``) anywhere; ``name``, ``company``, ``address`` only inside an object
  that describes a person or an address (``customer``, ``ship_to``, ``billing``, ``gift``…), so an order's
  ``name`` "#1001" or a product name survive. camelCase keys count as snake_case.
- **Refs by namespace**: a ref whose object names a personal key (``shop:customer_email``) has its value masked;
  so has a business attribute (``{"name": …, "value": …}``) whose name is a personal key (``customer_name``).
- **By shape** in any text (event ids, errors, notes, messages): emails (non-ASCII ones too), international
  phones ("+49 151 …", "0049 …"), national phones written with a separator ("0151 2345678", "(030) 1234567",
  "06 12 34 56 78"), links that carry a key or token, street addresses ("12 Main Street", "Rua das Flores 12",
  "Hauptstraße 5"). Bare digit runs are order numbers, SKUs, EANs or amounts: they are masked only by key.
- **Known values**: anything held under a personal key is masked wherever else it appears in the same output.

Masks stay useful: an email keeps its first character and top-level domain (``a•••@•••.org``), a phone its last
two digits (``•••78``), anything else becomes ``•••``. Ids, quantities, amounts, times, cities, postcodes,
countries and tracking numbers are operational facts and are kept.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

from hub.ingest.values import json_text

MASK = "•••"
ERASED = "[erased]"
# RFC 6531 allows any UTF-8 in the local part and IDNA labels in the domain: \w is Unicode-aware in Python 3.
EMAIL = re.compile(r"[\w.%+-]+@[\w-]+(?:\.[\w-]+)*\.(?:[^\W\d_]{2,}|xn--[\w-]+)")
# Phones by value only in unambiguous shapes: international "+…", North American "(555) 555-0100" as a whole
# value, national numbers with a trunk "0" and a separator (ITU-T E.123 national notation). Bare digit runs are
# order numbers, EANs and amounts; phone *fields* are found by key.
_INTERNATIONAL = r"\+\d[\d\s().-]{7,18}\d"
_NATIONAL = (r"(?:\(0[1-9]\d{1,4}\)\s?|0[1-9]\d{1,4}[ /-])\d{2,8}(?:[ -]\d{2,8}){0,3}"  # 0151 2345678, (030) 123
             r"|00[1-9]\d{0,3}[ /-]\d{2,8}(?:[ -]\d{2,8}){0,4}"  # 0049 151 2345678
             r"|0[1-9](?:[ .-]\d{2}){4}")  # 06 12 34 56 78 (France)
_PHONE_VALUE = re.compile(rf"\+\d[\d\s().-]{{6,18}}\d|\(?\d{{3}}\)?[\s.-]\d{{3}}[\s.-]\d{{4}}|{_NATIONAL}")
_PHONE_IN_TEXT = re.compile(rf"{_INTERNATIONAL}|(?<![\w+/.-])(?:{_NATIONAL})(?![\w/.,:-]?\d)")
_PHONE_DIGITS = (9, 15)  # national numbers with their trunk 0 are 9–13 digits (E.164: at most 15 in all)
_BARE_PHONE = re.compile(r"\+?\d{7,15}")  # a phone under a phone key, written without separators
# Links that grant access by themselves: a key/token in the query (Shopify's order status page is
# ".../thank_you_token?key=…" or ".../orders/<token>/authenticate?key=…").
_SECRET_URL = re.compile(r"https?://[^\s\"'<>]*?(?:[?&;](?:key|token|access_token|secret|signature|sig)=|"
                         r"/authenticate\b)[^\s\"'<>]*", re.IGNORECASE)
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
# Keys that are personal wherever they appear (compared in snake_case, lowercased, '-' as '_').
_PERSONAL_KEYS = frozenset({
    "first_name", "last_name", "full_name", "firstname", "lastname", "fullname", "given_name", "family_name",
    "customer_name", "buyer_name", "recipient_name", "contact_name", "account_holder_name", "individual_name",
    "verified_name", "shipping_name", "billing_name", "nickname", "display_name", "recipient", "sender_name",
    "attention", "care_of",
    "address1", "address2", "address_1", "address_2", "address_line1", "address_line2", "address_line_1",
    "address_line_2", "addressline1", "addressline2", "line1", "line2", "street", "street1", "street2",
    "street_address", "street_line", "raw_address", "formatted_address", "ip_address", "ipaddress", "browser_ip",
    "mobile", "mobile_number", "cell", "cellular", "tel", "tel_number", "msisdn", "fax", "fax_number",
    "latitude", "longitude", "lat", "lng", "lon", "geo_lat", "geo_lng", "coordinates", "geolocation",
    "order_status_url", "status_page_url", "abandoned_checkout_url", "recovery_url", "receipt_url",
    "hosted_invoice_url", "invoice_pdf", "session_hash", "user_agent", "device_id",
})
_SECRET_WORDS = ("token", "secret", "password", "passcode")  # a key that is one of these or ends "_<word>"
# Keys personal only inside a person/address object.
_PERSON_ONLY_KEYS = frozenset({"name", "company", "address", "phone_number"})
_PERSON_CONTAINERS = ("customer", "address", "shipping", "billing", "recipient", "buyer", "contact", "owner",
                      "individual", "person", "receiver", "consignee", "ship_to", "bill_to", "sold_to",
                      "deliver_to", "gift", "sender", "payer", "cardholder", "account_holder", "addressee",
                      "beneficiary")
_PERSON_MARKERS = frozenset({"first_name", "last_name", "given_name", "family_name", "address1", "line1"})
_ROLES = ("identity", "related")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


@functools.lru_cache(maxsize=4096)  # payloads repeat the same few hundred keys: judge each once
def _norm(key: str) -> str:
    return _CAMEL.sub("_", key).lower().replace("-", "_")


@functools.lru_cache(maxsize=8192)
def personal_key(key: str, in_person: bool) -> bool:
    """Whether a JSON value under ``key`` is personal data (``in_person``: inside a person/address object)."""
    k = _norm(key)
    if "email" in k or "phone" in k or k in _PERSONAL_KEYS or k.replace("_", "") in _PERSONAL_KEYS:
        return not k.endswith(("_check", "_verified", "_consent", "_collection"))
    if any(k == word or k.endswith("_" + word) for word in _SECRET_WORDS):
        return True
    return in_person and k in _PERSON_ONLY_KEYS


_NAMING_KEYS = frozenset({"namespace", "name", "value"})  # an object's value is personal by what these name


def masking_reads(key: str) -> bool:
    """Whether :func:`mask_json` judges a value by this key's name: a personal key (anywhere or inside a person), a
    person container or marker, or what names an object's value (``namespace``, ``name``, ``value``). A caller whose
    results are masked may not rename such a field with a GraphQL alias (resolvers.masked_selections)."""
    return (key in _NAMING_KEYS or personal_key(key, True) or _person_container(key)
            or _norm(key) in _PERSON_MARKERS)


def personal_namespace(namespace: str) -> bool:
    """Whether a ref namespace (``<source>:<object>``) names personal data (``shop:customer_email``)."""
    return personal_key(namespace.rpartition(":")[2], False)


def _names_personal(obj: dict[str, Any]) -> bool:
    """Whether a dict's ``value`` is personal by what it names: a ref's namespace (``shop:customer_email``) or a
    business attribute's name (``{"name": "customer_email", "value": …}``)."""
    namespace, name = obj.get("namespace"), obj.get("name")
    if isinstance(namespace, str):
        return personal_namespace(namespace)
    return isinstance(name, str) and "value" in obj and personal_key(name, False)


def _is_person(parent_key: str | None, obj: dict[str, Any]) -> bool:
    return (parent_key is not None and _person_container(parent_key)) or _marks_person(tuple(obj))


@functools.lru_cache(maxsize=4096)
def _person_container(key: str) -> bool:
    return any(c in _norm(key) for c in _PERSON_CONTAINERS)


@functools.lru_cache(maxsize=4096)  # results repeat the same few key sets (every event of a trace has one)
def _marks_person(keys: tuple[Any, ...]) -> bool:
    return any(_norm(k) in _PERSON_MARKERS for k in keys)


class Record(SimpleNamespace):
    """A database row with its values masked: attribute and item access, as templates read rows."""

    def __getitem__(self, key: str | int) -> Any:
        return getattr(self, key) if isinstance(key, str) else list(vars(self).values())[key]


def _walk(value: Any, replace_value: Callable[[Any], Any], replace_text: Callable[[str], str],
          parent_key: str | None = None, in_person: bool = False) -> Any:
    """``value`` with personal leaves replaced: JSON (dicts, lists, texts) and the records pages render (refs as
    ``(namespace, value, role)`` tuples, dataclasses, database rows, bytes)."""
    if isinstance(value, str):  # HTML a page built (charts: ``__html__``) is left to mask_html's net
        return value if hasattr(value, "__html__") else replace_text(value)
    if value is None or isinstance(value, bool | int | float):  # JSON's other leaves: nothing personal in them
        return value
    if isinstance(value, dict):
        person = in_person or _is_person(parent_key, value)
        hidden = "value" if _names_personal(value) else None
        out = {}
        for key, item in value.items():
            if (key == hidden or personal_key(str(key), person)) and not isinstance(item, dict | list):
                out[key] = replace_value(item)
            else:
                out[key] = _walk(item, replace_value, replace_text, str(key), person)
        return out
    if isinstance(value, list):
        return [_walk(item, replace_value, replace_text, parent_key, in_person) for item in value]

    def walk(item: Any, key: str | None = parent_key, person: bool = in_person) -> Any:
        return _walk(item, replace_value, replace_text, key, person)

    if isinstance(value, tuple):
        if len(value) == 3 and isinstance(value[0], str) and value[2] in _ROLES:  # a ref: (namespace, value, role)
            return (value[0], replace_value(value[1]) if personal_namespace(value[0]) else walk(value[1]), value[2])
        items = [walk(item) for item in value]
        return type(value)(*items) if hasattr(value, "_fields") else tuple(items)  # a NamedTuple keeps its type
    if isinstance(value, bytes | bytearray):
        return replace_text(value.decode("utf-8", "replace")).encode()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.replace(value, **{f.name: walk(getattr(value, f.name), f.name)
                                             for f in dataclasses.fields(value) if f.init})
    if hasattr(value, "_mapping") and hasattr(value, "_fields"):  # a database row
        return Record(**walk(dict(value._mapping)))
    return value


def _email_mask(email: str) -> str:
    local, _, domain = email.rpartition("@")
    return f"{local[:1]}{MASK}@{MASK}.{domain.rpartition('.')[2]}"


def _phone_mask(phone: str) -> str:
    return MASK + re.sub(r"\D", "", phone)[-2:]


def _is_phone(text: str) -> bool:
    """A whole value shaped like a phone number (see :data:`_PHONE_VALUE`)."""
    if not _PHONE_VALUE.fullmatch(text):
        return False
    return text.startswith(("+", "(")) or _PHONE_DIGITS[0] <= len(re.sub(r"\D", "", text)) <= _PHONE_DIGITS[1] \
        or not text.startswith("0")


def _phone_in_text(match: re.Match[str]) -> str:
    found = match.group()
    digits = len(re.sub(r"\D", "", found))
    if not found.startswith("+") and not _PHONE_DIGITS[0] <= digits <= _PHONE_DIGITS[1]:
        return found  # too short or too long for a phone: a date, a batch of numbers
    return _phone_mask(found)


def disguise(item: Any) -> Any:
    """The mask of one personal value: an email keeps its first character and top-level domain, a phone its last
    two digits, anything else is ``•••`` (empty values and booleans stay: they say nothing about anyone)."""
    if item in (None, "") or isinstance(item, bool):
        return item
    text = str(item).strip()
    if MASK in text:
        return text  # masked already
    if EMAIL.fullmatch(text):
        return _email_mask(text)
    if isinstance(item, str) and (_is_phone(text) or _BARE_PHONE.fullmatch(text)):
        return _phone_mask(text)
    return MASK


def _free_text(text: str) -> str:
    """Links with a key or token, emails, phones and street addresses in free text, masked by their shape."""
    text = _SECRET_URL.sub(MASK, text)
    text = EMAIL.sub(lambda m: _email_mask(m.group()), text)
    text = _PHONE_IN_TEXT.sub(_phone_in_text, text)
    return _STREET_IN_TEXT.sub(MASK, text)


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
        if parsed is not None:  # a pretty-printed text (a page's raw body) stays pretty
            return json_text(_walk(parsed, disguise, mask), indent=2 if "\n" in text else None)
        if pattern is None or " " not in text:  # known values are hunted in free text (a lone value is by key)
            return _by_shape(text) if len(text) <= _CACHED_TEXT else _by_shape.__wrapped__(text)
        if _is_phone(text.strip()):
            return _phone_mask(text)
        return _free_text(pattern.sub(lambda m: disguise(m.group()), text))

    return mask


_CACHED_TEXT = 256  # texts up to this long are masked once: ids, refs, statuses and types repeat in every answer


@functools.lru_cache(maxsize=8192)
def _by_shape(text: str) -> str:
    """A text that is not JSON masked by shape alone: a whole phone number, else :func:`_free_text`."""
    if _is_phone(text.strip()):
        return _phone_mask(text)
    return _free_text(text)


def personal_values(value: Any, parsed_texts: dict[str, Any] | None = None) -> frozenset[str]:
    """The texts a value holds under personal keys (JSON texts inside it included), long enough to hunt."""
    found: set[str] = set()

    def keep(item: Any) -> Any:
        if isinstance(item, str) and len(item.strip()) >= _MIN_KNOWN and MASK not in item:
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
    """Free text with every email, phone number, secret link and street address masked (a JSON text by key)."""
    return _text_masker(frozenset())(text)


def mask_ref(namespace: str, value: str) -> str:
    """A ref's value as a caller below admin sees it: masked whole when its namespace is personal, else by shape."""
    return disguise(value) if personal_namespace(namespace) else mask_text(value)


def mask_groups(rows: list[dict[str, Any]], attribute: str | None, column: str) -> list[dict[str, Any]]:
    """Aggregate rows grouped by business ``attribute`` with its value (``column``) masked whole when the
    attribute's name is personal (``customer_name``), as :func:`mask_json` masks the attribute itself."""
    if attribute is None or not personal_key(attribute, False):
        return rows
    return [{**row, column: disguise(row[column])} for row in rows]


def mask_html(page: str) -> str:
    """An HTML page with personal data masked by shape: the net under pages whose values :func:`mask_json` masked."""
    return _free_text(page)


def mask_json(value: Any) -> Any:
    """A value with personal data masked (structure, ids, amounts and times kept): by key, refs by namespace, by
    shape in free text, and every value found under a personal key anywhere else in the same value. JSON values
    and what pages render (dataclasses, database rows, ref tuples) alike."""
    parsed_texts: dict[str, Any] = {}  # JSON texts (raw bodies) are parsed once for both passes
    return _walk(value, disguise, _text_masker(personal_values(value, parsed_texts), parsed_texts))


def person_object(parent_key: str | None, keys: tuple[str, ...], in_person: bool) -> bool:
    """Whether :func:`mask_json` judges an object with these keys, under ``parent_key``, to describe a person or an
    address (``in_person``: it sits inside one)."""
    return in_person or (parent_key is not None and _person_container(parent_key)) or _marks_person(keys)


def names_personal(obj: dict[str, Any]) -> bool:
    """Whether :func:`mask_json` masks an object's ``value`` by what the object names (a ref's namespace, a business
    attribute's name)."""
    return _names_personal(obj)


def mask_leaves(value: Any, objects: list[tuple[dict[str, Any], tuple[str, ...], tuple[str, ...]]]) -> Any:
    """``value`` as :func:`mask_json` masks it, when its structure is known: ``objects`` are all its objects, each with
    the keys of its values that are not objects or lists of objects, those :func:`mask_json` judges personal there
    and the others; they are masked in place. A value that is not a JSON scalar or a list of them: the whole of
    ``value`` goes through :func:`mask_json`."""
    personal, texts = [], []
    for obj, hidden, shown in objects:
        for key in (*hidden, *shown):
            item = obj[key]
            if isinstance(item, list):
                texts.extend(item)
            else:
                (personal if key in hidden else texts).append(item)
    if not all(item is None or isinstance(item, str | bool | int | float) for item in (*personal, *texts)):
        return mask_json(value)
    parsed_texts: dict[str, Any] = {}
    known = {item.strip() for item in personal
             if isinstance(item, str) and len(item.strip()) >= _MIN_KNOWN and MASK not in item}
    known |= personal_values([t for t in texts if isinstance(t, str) and t.lstrip()[:1] in ("{", "[")], parsed_texts)
    mask, masked = _text_masker(frozenset(known), parsed_texts), {}

    def text(item: Any) -> Any:
        if not isinstance(item, str):
            return item
        out = masked.get(item)
        if out is None:
            out = masked[item] = mask(item)
        return out

    for obj, hidden, shown in objects:
        for key in (*hidden, *shown):
            item = obj[key]
            if isinstance(item, list):
                obj[key] = [text(x) for x in item]
            else:
                obj[key] = disguise(item) if key in hidden else text(item)
    return value


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
