"""``Ref``: an identifier a system uses, with its role."""

from __future__ import annotations

import strawberry


@strawberry.type(description="An identifier a system uses: namespace `<source>:<object>`, value, role.")
class Ref:
    namespace: str
    value: str
    role: str = strawberry.field(description="identity (merges transactions) or related (links only)")

    @classmethod
    def from_tuple(cls, item: tuple[str, str, str]) -> Ref:
        return cls(namespace=item[0], value=item[1], role=item[2])
