"""Keyset pagination behind every list: stable under inserts, and as fast on page 1,000 as on page 1.

Cursors are opaque to clients (base64 of the last row's key); a page never costs an OFFSET scan.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.domain.errors import ValidationError

T = TypeVar("T")
DEFAULT_PAGE = 20


class InvalidCursorError(ValidationError):
    code = "INVALID_CURSOR"
    message = "分页游标无效"


class InvalidPageSizeError(ValidationError):
    code = "INVALID_PAGE_SIZE"
    message = "每页条数超出允许范围"


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    cursors: list[str]
    has_next_page: bool


def encode_cursor(key: int) -> str:
    return base64.urlsafe_b64encode(f"k:{key}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        text = base64.urlsafe_b64decode(padded.encode()).decode()
        prefix, value = text.split(":", 1)
        if prefix != "k":
            raise ValueError(prefix)
        return int(value)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidCursorError(field="after") from exc


async def paginate(
    session: AsyncSession,
    stmt: Select[T],
    key: Any,
    *,
    first: int | None,
    after: str | None,
    max_page: int,
    descending: bool = False,
) -> Page[T]:
    """One page of ``stmt`` ordered by the unique integer column ``key``, after the cursor ``after``."""
    size = DEFAULT_PAGE if first is None else first
    if not 1 <= size <= max_page:
        raise InvalidPageSizeError(f"每页条数须在1到{max_page}之间", field="first")
    if after is not None:
        last = decode_cursor(after)
        stmt = stmt.where(key < last if descending else key > last)
    stmt = stmt.order_by(key.desc() if descending else key.asc()).limit(size + 1)
    rows = list((await session.scalars(stmt)).all())
    has_next = len(rows) > size
    rows = rows[:size]
    key_name = key.key
    return Page(
        items=rows,
        cursors=[encode_cursor(getattr(row, key_name)) for row in rows],
        has_next_page=has_next,
    )
