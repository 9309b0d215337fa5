"""Customers' emails and phones as search keys: found in raw deliveries, normalised, and hashed with the hub's key.

The contact index (``hub.store.contact_index``) keeps only ``HMAC-SHA256(key, "email:a@b.org")`` per delivery, so
an admin can find a customer's orders by email or phone while the value itself is never stored in clear there.
"""

from __future__ import annotations

import hashlib
import hmac
import re

from hub.access.audit import fingerprint
from hub.access.privacy import EMAIL
from hub.store import Connection, contact_index

# A phone under a phone-like JSON key: "phone", "billing_phone", "phoneNumber", "mobile", "tel", "msisdn".
_PHONE_FIELD = re.compile(rb'"(?:[A-Za-z_]*(?:phone|Phone)[A-Za-z_]*|mobile|tel|msisdn)"\s*:\s*"([^"\\]{7,30})"')
_PHONE_TYPED = re.compile(r"\+?[\d\s()./-]{7,30}")
_PHONE_DIGITS = (7, 15)  # E.164 numbers have at most 15 digits; shorter than 7 is an extension or a typo


def _phone(text: str) -> str | None:
    """``phone:<digits>`` (international prefix ``+`` or ``00`` dropped), or None when it is no phone number."""
    digits = re.sub(r"\D", "", text)
    if text.strip().startswith("00"):
        digits = digits[2:]
    return f"phone:{digits}" if _PHONE_DIGITS[0] <= len(digits) <= _PHONE_DIGITS[1] else None


# Every character an email match can hold: a match never spans any other, so the text splits there first.
_NOT_IN_EMAIL = re.compile(r"[^\w.%+@-]+")
_PHONE_KEY_PARTS = (b"hone", b'"mobile"', b'"tel"', b'"msisdn"')  # one is in every _PHONE_FIELD match


def contacts_in(body: bytes) -> set[str]:
    """The normalised contacts a raw delivery carries: every email in it, and the phones under phone keys.

    The regular expressions run only where they can match (the pieces of text around an ``@``; a body naming a
    phone key): most bodies carry neither, and scanning a whole batch body cost more than decoding it."""
    found: set[str] = set()
    text = body.decode("utf-8", "replace")
    if "@" in text:
        found |= {f"email:{m.lower()}" for piece in _NOT_IN_EMAIL.split(text) if "@" in piece
                  for m in EMAIL.findall(piece)}
    if any(part in body for part in _PHONE_KEY_PARTS):
        found |= {p for m in _PHONE_FIELD.findall(body) if (p := _phone(m.decode("utf-8", "replace")))}
    return found


def typed_contact(text: str) -> str | None:
    """What a search for ``text`` means as a contact: ``email:…``, ``phone:…``, or None (it is no contact)."""
    text = text.strip()
    if EMAIL.fullmatch(text):
        return f"email:{text.lower()}"
    return _phone(text) if _PHONE_TYPED.fullmatch(text) else None


def contact_fingerprint(text: str) -> str:
    """What the audit log records of a contact searched for: a fingerprint of its normalised form (so the same
    phone typed with other spacing is the same entry), never the value."""
    return fingerprint(typed_contact(text) or text)


def keyed(contact: str, key: bytes) -> str:
    """The index's digest of one normalised contact."""
    return hmac.new(key, contact.encode(), hashlib.sha256).hexdigest()


async def transactions_by_contact(conn: Connection, contact: str) -> list[str]:
    """The transactions whose deliveries carried this normalised contact (see :func:`typed_contact`)."""
    return await contact_index.transactions_of(conn, keyed(contact, await contact_index.index_key(conn)))
