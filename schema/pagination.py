"""Relay-style connection pieces shared by every list."""

from __future__ import annotations

from typing import Generic, TypeVar

import strawberry

from hub.store.paging import TOTAL_COUNT_CAP

T = TypeVar("T")


@strawberry.type(description="Relay page info: cursors of the first and last edge, and whether more lie beyond.")
class PageInfo:
    has_next_page: bool
    end_cursor: str | None
    has_previous_page: bool = False
    start_cursor: str | None = None


@strawberry.type
class Edge(Generic[T]):
    cursor: str
    node: T


@strawberry.type
class Connection(Generic[T]):
    edges: list[Edge[T]]
    nodes: list[T]
    page_info: PageInfo
    total_count: int | None = strawberry.field(
        default=None, description=f"Matching rows, counted up to {TOTAL_COUNT_CAP:,} (then `totalCountCapped`).")

    @strawberry.field(description=f"True when `totalCount` stopped at {TOTAL_COUNT_CAP:,}: there are at least that "
                                  "many (GitHub and Shopify cap their counts the same way).")
    def total_count_capped(self) -> bool:
        return self.total_count is not None and self.total_count >= TOTAL_COUNT_CAP
