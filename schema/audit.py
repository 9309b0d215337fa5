"""Admin types: audit log entries, API keys (never the secret, except once on creation), erasure results."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.scalars import JSON


@strawberry.type(description="One operator or admin action: who, what, when, which object, and the result.")
class AuditEntry:
    id: strawberry.ID
    at: datetime
    actor: str = strawberry.field(description="The API key's name (or `cli`, `system`).")
    role: str
    action: str = strawberry.field(description="The mutation or command, e.g. `resolveException`, `keys.revoke`.")
    object: str = strawberry.field(description="What it acted on (ids, a key prefix, `sha256:…` of an email).")
    result: str = strawberry.field(description="ok, denied or error.")
    detail: JSON | None


@strawberry.input(description="Which audit entries to list; every field narrows.")
class AuditFilter:
    actor: str | None = strawberry.field(default=None, description="The API key's name (or `cli`, `system`).")
    action: str | None = None
    result: str | None = strawberry.field(default=None, description="ok, denied or error.")
    since: datetime | None = strawberry.field(default=None, description="At or after.")
    until: datetime | None = strawberry.field(default=None, description="Before.")


@strawberry.type(description="An API key kept in the store (its hash only).")
class ApiKeyInfo:
    prefix: str = strawberry.field(description="The `ct_<prefix>_…` part, safe to show and to revoke by.")
    name: str
    role: str
    created_at: datetime
    revoked_at: datetime | None


@strawberry.type(description="A new key: `key` is shown this once and never stored.")
class CreatedApiKey:
    key: str
    info: ApiKeyInfo


@strawberry.type(description="What an erasure changed; the operational facts (ids, amounts, times) are kept.")
class ErasureResult:
    deliveries: int
    events: int
    refs: int
    exceptions: int
    transaction_ids: list[strawberry.ID]


@strawberry.type(description="What a retention purge removed.")
class PurgeResult:
    deliveries: int
    events: int
