"""Problem lists per county and school, graduating-year problems first (PRB-4, PRB-5)."""

from __future__ import annotations

import base64
import binascii

from sqlalchemy import and_, case, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.domain.actor import Actor
from backend.domain.pagination import InvalidCursorError, InvalidPageSizeError, Page
from backend.domain.permissions import Operation, authorize
from backend.domain.units.repository import subtree_filter, unit_in_jurisdiction
from backend.models import ProblemRecord
from backend.models.enums import ProblemState, ProblemType

# Graduating-year problems first (PRB-4), then oldest first.
PRIORITY = case((ProblemRecord.graduating_year.is_(True), 0), else_=1)


def _cursor(priority: int, key: int) -> str:
    return base64.urlsafe_b64encode(f"p:{priority}:{key}".encode()).decode().rstrip("=")


def _decode(cursor: str) -> tuple[int, int]:
    try:
        text = base64.urlsafe_b64decode((cursor + "=" * (-len(cursor) % 4)).encode()).decode()
        prefix, priority, key = text.split(":")
        if prefix != "p":
            raise ValueError(prefix)
        return int(priority), int(key)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidCursorError(field="after") from exc


async def list_problems(
    session: AsyncSession,
    actor: Actor,
    *,
    unit_id: int | None,
    problem_type: ProblemType | None,
    state: ProblemState | None,
    open_only: bool,
    first: int | None,
    after: str | None,
    max_page: int,
) -> Page[ProblemRecord]:
    """Problem records in the actor's subtree (or below ``unit_id``), graduating-year first (PRB-4, PRB-5)."""
    authorize(actor, Operation.VIEW_STUDENTS)
    size = 20 if first is None else first
    if not 1 <= size <= max_page:
        raise InvalidPageSizeError(f"每页条数须在1到{max_page}之间", field="first")
    scope = actor.unit_path
    if unit_id is not None:
        scope = (await unit_in_jurisdiction(session, actor, unit_id, field="unitId")).path
    stmt = select(ProblemRecord, PRIORITY.label("priority")).where(
        subtree_filter(ProblemRecord.unit_path, scope)
    )
    if problem_type is not None:
        stmt = stmt.where(ProblemRecord.problem_type == problem_type)
    if state is not None:
        stmt = stmt.where(ProblemRecord.state == state)
    elif open_only:
        stmt = stmt.where(ProblemRecord.state != ProblemState.RESOLVED)
    if after is not None:
        priority, key = _decode(after)
        stmt = stmt.where(or_(PRIORITY > priority, and_(PRIORITY == priority, ProblemRecord.id > key)))
    rows = (await session.execute(stmt.order_by(PRIORITY, ProblemRecord.id).limit(size + 1))).all()
    page = rows[:size]
    return Page(
        items=[row[0] for row in page],
        cursors=[_cursor(int(row[1]), row[0].id) for row in page],
        has_next_page=len(rows) > size,
    )
