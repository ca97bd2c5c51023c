"""Opening problem records (问题学籍): the flagging side only (PRB-1..4).

The identity check opens type 1 (PRB-1), the duplicate check types 2 and 3 (PRB-2, PRB-3). One row per
record per problem; duplicates share a ``group_key`` so a group is read with one query
(``problem_group``). Handling (evidence, change, deletion, arbitration) lives elsewhere.
"""

from __future__ import annotations

from sqlalchemy import select

from backend.db import UnitOfWork
from backend.domain.settings import load_province_settings
from backend.models import ProblemRecord, StudentRecord, Unit
from backend.models.enums import ProblemState, ProblemType, Stage

GRADED_STAGES = frozenset({Stage.PRIMARY, Stage.JUNIOR, Stage.SENIOR})


def duplicate_group_key(name: str, gender: str, birth_date_iso: str) -> str:
    """The group of a type-3 duplicate: ``name|gender|birth date`` (PRB-3)."""
    return f"{name}|{gender}|{birth_date_iso}"


async def open_problem(
    uow: UnitOfWork, *, record: StudentRecord, problem_type: ProblemType, group_key: str, detail: str | None
) -> ProblemRecord:
    """Flag a record as a problem record of ``problem_type`` in group ``group_key`` (PRB-1..3).

    Idempotent: while the record's problem of that type and group is unresolved, it is returned as it is.
    The row is placed at the record's school (``unit_path``) and marked ``graduating_year`` when the
    record is in its stage's final grade, so graduating-year problems are handled first (PRB-4).
    """
    session = uow.session
    existing = await session.scalar(
        select(ProblemRecord).where(
            ProblemRecord.problem_type == problem_type,
            ProblemRecord.group_key == group_key,
            ProblemRecord.record_id == record.id,
            ProblemRecord.state != ProblemState.RESOLVED,
        )
    )
    if existing is not None:
        return existing
    problem = ProblemRecord(
        record_id=record.id,
        problem_type=problem_type,
        group_key=group_key,
        state=ProblemState.OPEN,
        unit_path=record.unit_path,
        graduating_year=await is_graduating_year(uow, record),
        detail=detail,
        evidence_ids=[],
        created_at=uow.clock.now(),
        version=1,
    )
    session.add(problem)
    await session.flush()
    return problem


async def is_graduating_year(uow: UnitOfWork, record: StudentRecord) -> bool:
    """The record is in the final grade of its stage: 6 (5 on 5-4), 9 or 12 by default (PRB-4)."""
    if record.stage not in GRADED_STAGES:
        return False
    school = await uow.session.get(Unit, record.school_id)
    settings = await load_province_settings(uow.session, record.unit_path)
    return record.grade in settings.graduating_grades(school.school_system if school else None)
