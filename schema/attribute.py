"""``Attribute``: a business attribute of a transaction (channel, store, sales rep…) and its filter input."""

from __future__ import annotations

import strawberry


@strawberry.type(description="A business attribute a source's config names (`[[sources]] attributes`).")
class Attribute:
    name: str
    value: str


@strawberry.input(description="A transaction whose attribute `name` has exactly `value`.")
class AttributeInput:
    name: str
    value: str
