"""Relay-style connections (edges, cursors, pageInfo) over the domain's keyset ``Page``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

import strawberry

from backend.domain.pagination import Page

Node = TypeVar("Node")
Row = TypeVar("Row")


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class Edge(Generic[Node]):
    cursor: str
    node: Node


@strawberry.type
class Connection(Generic[Node]):
    edges: list[Edge[Node]]
    page_info: PageInfo

    @strawberry.field
    def nodes(self) -> list[Node]:
        return [edge.node for edge in self.edges]


def to_connection(page: Page[Row], convert: Callable[[Row], Node]) -> Connection[Node]:
    edges = [Edge(cursor=c, node=convert(item)) for item, c in zip(page.items, page.cursors, strict=True)]
    return Connection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=page.has_next_page, end_cursor=page.cursors[-1] if page.cursors else None
        ),
    )
