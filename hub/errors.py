"""Every error the hub answers over HTTP: one JSON shape, ``{"error": {"code", "message"}}``."""

from __future__ import annotations


class HubError(Exception):
    """Base error: ``status`` is the HTTP status, ``code`` a stable machine-readable name."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.headers = headers or {}

    def body(self) -> dict:
        return {"error": {"code": self.code, "message": self.message}}


class BadRequest(HubError):
    status, code = 400, "bad_request"


class Unauthorized(HubError):
    status, code = 401, "unauthorized"


class Forbidden(HubError):
    status, code = 403, "forbidden"


class NotFound(HubError):
    status, code = 404, "not_found"


class MethodNotAllowed(HubError):
    status, code = 405, "method_not_allowed"


class PayloadTooLarge(HubError):
    status, code = 413, "payload_too_large"


class UnsupportedMediaType(HubError):
    status, code = 415, "unsupported_media_type"


class Busy(HubError):
    """The ingest queue is full; the sender should retry after ``Retry-After`` seconds (RFC 9110 §10.2.3)."""

    status, code = 503, "busy"

    def __init__(self, message: str = "ingest queue is full, retry later", retry_after: int = 1) -> None:
        super().__init__(message, headers={"Retry-After": str(retry_after)})


class ConfigError(Exception):
    """The configuration is wrong; the message names the key and the fix."""
