"""Standard Webhooks signatures (https://www.standardwebhooks.com/, spec "Verifying webhooks").

Signed content is ``{webhook-id}.{webhook-timestamp}.{raw body}``; the key is the base64-decoded secret
after its ``whsec_`` prefix; ``webhook-signature`` holds space-separated ``v1,<base64 HMAC-SHA256>``
entries (several during key rotation). Timestamps more than the tolerance away from now are refused
to stop replays.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
from collections.abc import Mapping, Sequence

from collectors.base import SignatureError, header

DEFAULT_TOLERANCE_SECONDS = 300


@functools.lru_cache(maxsize=256)
def _key(secret: str) -> bytes:
    """The HMAC key of a secret (decoded once per secret, not per delivery: the receiver's hot path)."""
    raw = secret[len("whsec_"):] if secret.startswith("whsec_") else secret
    try:
        return base64.b64decode(raw, validate=True)
    except ValueError:
        return raw.encode()


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header value a sender computes (used by tests, the demo and the bench)."""
    content = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.digest(_key(secret), content, hashlib.sha256)).decode()


def verify(headers: Mapping[str, str], body: bytes, secrets: Sequence[str], now: float,
           tolerance: int = DEFAULT_TOLERANCE_SECONDS) -> None:
    """Accept the delivery if any ``v1`` signature matches any secret and the timestamp is fresh."""
    msg_id = header(headers, "webhook-id")
    stamp = header(headers, "webhook-timestamp")
    signatures = header(headers, "webhook-signature")
    if not msg_id or not stamp or not signatures:
        raise SignatureError("missing webhook-id, webhook-timestamp or webhook-signature header")
    try:
        timestamp = int(stamp)
    except ValueError:
        raise SignatureError("webhook-timestamp is not an integer") from None
    if abs(now - timestamp) > tolerance:
        raise SignatureError("webhook-timestamp is outside the tolerance window")
    if not secrets:
        raise SignatureError("no secret configured for this source")
    offered = [part.split(",", 1)[1] for part in signatures.split() if part.startswith("v1,")]
    for secret in secrets:
        expected = sign(secret, msg_id, timestamp, body).split(",", 1)[1]
        if any(hmac.compare_digest(expected.encode(), candidate.encode()) for candidate in offered):
            return
    raise SignatureError("no matching v1 signature")
