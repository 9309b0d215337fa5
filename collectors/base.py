"""What every adapter shares: its two errors and small pure helpers over headers and JSON bodies.

An adapter module exposes ``verify(headers, body, source, now)`` (raises :class:`SignatureError`),
``dedup_key(headers, body, source)`` (the sender's delivery id, stable across its retries) and
``parse(delivery, source) -> list[Event]`` (raises :class:`ParseError`). No network, no database.

The inbox keys a webhook delivery by ``dedup_key``, so that key must come from what the signature covers:
otherwise a captured delivery resent with a new id would be stored again. An adapter whose sender's id
is not signed (Shopify's headers) also exposes ``delivery_key(headers, body, source)``, built from signed
content, and the receiver uses that instead. Each adapter's module docstring has its trust review: what is
signed, what the key is built from, and why it is unique.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from itertools import accumulate
from typing import Any

from hub.config import Source
from hub.model import IDENTITY, Ref, as_utc

MAX_JSON_DEPTH = 64


class SignatureError(Exception):
    """The delivery is not authentic: bad or missing signature, or a stale timestamp."""


class ParseError(Exception):
    """The delivery is authentic but cannot be turned into events (malformed JSON, unknown shape, drift)."""


def header(headers: Mapping[str, str], name: str) -> str | None:
    """Case-insensitive header lookup (the inbox stores header names lowercased)."""
    return headers.get(name.lower())


def verify_with_any_secret(offered: str | None, header_name: str, source: Source,
                           expected: Callable[[str], str]) -> None:
    """Accept when ``offered`` equals ``expected(secret)`` for any configured secret (constant-time compare).

    The shape every "signature header over the raw bytes, no timestamp" sender shares (Shopify, Square,
    EasyPost, the Amazon connection header): ``expected`` computes the header value a secret yields.
    """
    if not offered:
        raise SignatureError(f"missing {header_name} header")
    if not source.secrets:
        raise SignatureError("no secret configured for this source")
    candidate = offered.strip().encode()
    if not any(hmac.compare_digest(expected(secret).encode(), candidate) for secret in source.secrets):
        raise SignatureError(f"{header_name} does not match")


def body_field_key(body: bytes, name: str) -> str | None:
    """A dedup key read from a top-level string field of a JSON body (``id``, ``event_id``), else None."""
    try:
        document = load_json(body)
    except ParseError:
        return None
    value = document.get(name) if isinstance(document, dict) else None
    return value if isinstance(value, str) and value else None


def decimal_field(value: Any, where: str, noun: str = "number") -> Decimal:
    """A finite number given as JSON number or decimal string; :class:`ParseError` naming ``where`` otherwise
    (``missing field`` when absent, so drift names the field)."""
    if value is None:
        raise ParseError(f"missing field {where!r}")
    number = None
    if isinstance(value, int | float | str) and not isinstance(value, bool):
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation:
            pass
    if number is None or not number.is_finite():
        raise ParseError(f"field {where!r} is not a {noun}: {value!r}")
    return number


# https://docs.stripe.com/currencies#zero-decimal and #three-decimal: amounts are integers in the
# currency's minor unit; these currencies have no (or three) decimal places. ISK/HUF/TWD are sent
# as two-decimal amounts by Stripe for backwards compatibility, so they stay in the default.
ZERO_DECIMAL = frozenset("bif clp djf gnf jpy kmf krw mga pyg rwf ugx vnd vuv xaf xof xpf".split())
THREE_DECIMAL = frozenset("bhd jod kwd omr tnd".split())


def minor_to_decimal(amount: Any, currency: str, where: str = "amount") -> Decimal:
    """An integer amount in the currency's minor unit (Stripe's and Square's convention) as a Decimal."""
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise ParseError(f"field {where!r} is not an integer amount: {amount!r}")
    code = currency.lower()
    exponent = 0 if code in ZERO_DECIMAL else 3 if code in THREE_DECIMAL else 2
    return Decimal(amount).scaleb(-exponent)


def body_digest(body: bytes) -> str:
    """A dedup key for senders that give no delivery id: the SHA-256 of the bytes."""
    return "sha256:" + hashlib.sha256(body).hexdigest()


def load_json(body: bytes) -> Any:
    """Decode a JSON body or raise :class:`ParseError` saying why.

    ``json.loads`` raises ``RecursionError`` (not ``ValueError``) around depth 1000, so depth is bounded
    before decoding, and both failures become the same clear error.
    """
    if _nesting_depth(body) > MAX_JSON_DEPTH:
        raise ParseError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise ParseError(f"malformed JSON: {exc}") from None


def load_object(body: bytes, what: str) -> dict[str, Any]:
    """A JSON body that must be one object (``what`` names it in the error, e.g. "a Stripe event")."""
    document = load_json(body)
    if not isinstance(document, dict):
        raise ParseError(f"the body must be a JSON object ({what})")
    return document


_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)  # a string's runs taken whole, not per byte
_BRACKET_STEPS = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")  # as signed bytes: +1 opens, -1 closes
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def _nesting_depth(body: bytes) -> int:
    # Strings removed by a regex and every other byte deleted by translate, then the brackets' running sum as
    # signed bytes: all of it in C, no Python loop over the body.
    brackets = _JSON_STRING.sub(b"", body).translate(_BRACKET_STEPS, _NOT_BRACKETS)
    return max(accumulate(memoryview(brackets).cast("b"), initial=0))


def dig(payload: Any, path: str) -> Any:
    """The value at a dotted path (``data.object.metadata.order_id``), or None where any step is missing."""
    current = payload
    for part in path.split("."):
        if isinstance(current, Mapping):
            current = current.get(part)
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            return None
    return current


def require(payload: Any, path: str) -> Any:
    """Like :func:`dig` but a missing value is schema drift: :class:`ParseError` naming the field."""
    value = dig(payload, path)
    if value is None:
        raise ParseError(f"missing field {path!r}")
    return value


def mapped_refs(payload: Any, mapping: Mapping[str, str]) -> list[Ref]:
    """Extra identity refs from a source's ``refs`` config: payload path → namespace."""
    refs = []
    for path, namespace in mapping.items():
        value = dig(payload, path)
        if isinstance(value, str | int) and not isinstance(value, bool):
            refs.append(Ref(namespace, str(value), IDENTITY))
    return refs


def ref(source: Source, obj: str, value: Any, role: str = IDENTITY) -> Ref | None:
    """A ref in the source's own namespace ``<source>:<object>``, or None when the value is absent."""
    if value is None or isinstance(value, bool) or isinstance(value, dict | list):
        return None
    return Ref(f"{source.name}:{obj}", str(value), role)


def compact(refs: Iterable[Ref | None]) -> list[Ref]:
    """Drop the Nones and repeats, keeping order."""
    seen: dict[tuple[str, str], Ref] = {}
    for item in refs:
        if item is not None and (item.namespace, item.value) not in seen:
            seen[(item.namespace, item.value)] = item
    return list(seen.values())


def parse_time(value: Any, field_name: str = "time") -> datetime:
    """An ISO-8601 string or epoch seconds as naive UTC; :class:`ParseError` naming the field otherwise."""
    try:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return datetime.fromtimestamp(value, UTC).replace(tzinfo=None)
        if isinstance(value, str):
            text = value.strip().replace("Z", "+00:00").replace("z", "+00:00")
            return as_utc(datetime.fromisoformat(text))
    except (ValueError, OverflowError, OSError):  # NaN, epoch 1e20, an offset past year 9999: not a time
        pass
    raise ParseError(f"field {field_name!r} is not a timestamp: {value!r}")
