"""Input types for list filters and mutations."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

import strawberry

from schema.attribute import AttributeInput


@strawberry.input(description="Which transactions to list; every field narrows.")
class TransactionFilter:
    kind: str | None = None
    source: str | None = None
    since: datetime | None = strawberry.field(default=None, description="Last event at or after (UTC).")
    until: datetime | None = strawberry.field(default=None, description="First event before (UTC).")
    has_exceptions: bool | None = None
    attributes: list[AttributeInput] | None = strawberry.field(
        default=None, description="Business attributes that must all match (name and exact value).")


@strawberry.input(description="Which deliveries to list.")
class DeliveryFilter:
    source: str | None = None
    state: str | None = strawberry.field(default=None, description="pending, done or dead")
    since: datetime | None = None
    until: datetime | None = None


@strawberry.input(description="Which exceptions to list; every field narrows, lists mean any of.")
class ExceptionFilter:
    status: list[str] | None = None
    type: list[str] | None = None
    severity: list[str] | None = None
    source: str | None = None
    system_kind: str | None = None
    transaction_kind: str | None = None
    assignee: str | None = None
    queue: str | None = None
    transaction_id: str | None = None
    older_than_minutes: int | None = strawberry.field(default=None, description="Opened at least this long ago.")
    since: datetime | None = strawberry.field(default=None, description="Opened at or after (UTC).")
    until: datetime | None = strawberry.field(default=None, description="Opened before (UTC).")


@strawberry.enum(description="How the exception queue is sorted.")
class ExceptionOrder(Enum):
    AGE = "age"
    SEVERITY = "severity"


@strawberry.enum(description="A dimension to count exceptions by.")
class ExceptionDimension(Enum):
    TYPE = "type"
    SOURCE = "source"
    STATUS = "status"
    SEVERITY = "severity"
    QUEUE = "queue"
    SYSTEM_KIND = "system_kind"
    TX_KIND = "tx_kind"


@strawberry.input(description="Which deliveries to re-derive: by source, state, time window and error text.")
class ReplayFilter:
    source: str | None = None
    state: str | None = "dead"
    since: datetime | None = None
    until: datetime | None = None
    error_contains: str | None = None


@strawberry.type(description="What a replay put back in the queue.")
class ReplayResult:
    count: int
    delivery_ids: list[strawberry.ID]
