"""The simulated vendors' own signing code: each one signs its webhooks the way the real vendor does.

Deliberately independent of ``collectors`` (which verify): an independent signer written from the
vendors' documentation is a real check of the adapters, and the hub core must not import collectors.
Each function returns the headers a vendor adds to a request carrying ``body``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import unicodedata


def shopify(secret: str, body: bytes, topic: str, event_id: str, triggered_at: str) -> dict[str, str]:
    # https://shopify.dev/docs/apps/build/webhooks/subscribe/https: base64 HMAC-SHA256 of the raw body.
    digest = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()
    return {"x-shopify-hmac-sha256": digest, "x-shopify-topic": topic, "x-shopify-event-id": event_id,
            "x-shopify-webhook-id": f"wh-{event_id}", "x-shopify-triggered-at": triggered_at,
            "x-shopify-shop-domain": "demo-retail.myshopify.com", "x-shopify-api-version": "2025-01"}


def stripe(secret: str, body: bytes, timestamp: int) -> dict[str, str]:
    # https://docs.stripe.com/webhooks#verify-manually: hex HMAC-SHA256 over "{t}.{body}", key = whsec_… as is.
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return {"stripe-signature": f"t={timestamp},v1={digest}"}


def square(signature_key: str, notification_url: str, body: bytes) -> dict[str, str]:
    # https://developer.squareup.com/docs/webhooks/step3validate: base64 HMAC-SHA256 over URL + body.
    digest = hmac.new(signature_key.encode(), notification_url.encode() + body, hashlib.sha256).digest()
    return {"x-square-hmacsha256-signature": base64.b64encode(digest).decode()}


def easypost(secret: str, body: bytes) -> dict[str, str]:
    # EasyPost client libraries' validate_webhook: key normalised NFKD, hex HMAC-SHA256 of the body.
    key = unicodedata.normalize("NFKD", secret).encode()
    return {"x-hmac-signature": "hmac-sha256-hex=" + hmac.new(key, body, hashlib.sha256).hexdigest()}


def standard_webhooks(secret: str, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    # https://www.standardwebhooks.com/: key = base64-decoded secret after "whsec_"; content "{id}.{t}.{body}".
    key = base64.b64decode(secret.removeprefix("whsec_"))
    digest = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return {"webhook-id": msg_id, "webhook-timestamp": str(timestamp),
            "webhook-signature": "v1," + base64.b64encode(digest).decode()}


def hmac_hex(secret: str, body: bytes, header: str = "x-signature") -> dict[str, str]:
    """A plain ``sha256=<hex HMAC-SHA256 of the body>`` header, as many SaaS platforms sign."""
    return {header: "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()}


def eventbridge_api_key(secret: str, header: str = "x-crosstrace-secret") -> dict[str, str]:
    """EventBridge API destinations authenticate with a static API-key header set on the connection."""
    return {header: secret}
