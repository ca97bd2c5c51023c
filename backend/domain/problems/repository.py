"""Queries on problem records (PRB-1..5), each on an index."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.models import ProblemRecord
from backend.models.enums import ProblemState, ProblemType

# States in which a problem still stands in the record's way. A CONFIRMED type-3 group "stops being
# problem records" (PRB-3) even before the handling closes it.
UNRESOLVED = frozenset({ProblemState.OPEN, ProblemState.EVIDENCE_SUBMITTED, ProblemState.ARBITRATION})


async def problem_group(
    session: AsyncSession, problem_type: ProblemType, group_key: str, *, include_resolved: bool = False
) -> list[ProblemRecord]:
    """Every record's problem row of one group (the same ID number, or the same name|gender|birth date)."""
    stmt = select(ProblemRecord).where(
        ProblemRecord.problem_type == problem_type, ProblemRecord.group_key == group_key
    )
    if not include_resolved:
        stmt = stmt.where(ProblemRecord.state != ProblemState.RESOLVED)
    return list(await session.scalars(stmt.order_by(ProblemRecord.id)))


async def problems_of_record(
    session: AsyncSession,
    record_id: int,
    problem_types: Collection[ProblemType],
    states: Collection[ProblemState],
) -> list[ProblemRecord]:
    stmt = select(ProblemRecord).where(
        ProblemRecord.record_id == record_id,
        ProblemRecord.problem_type.in_(problem_types),
        ProblemRecord.state.in_(states),
    )
    return list(await session.scalars(stmt.order_by(ProblemRecord.id)))
