"""Read side of student records: lists within jurisdiction (ORG-3), one indexed range scan per page."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.domain.actor import Actor
from backend.domain.errors import ValidationError
from backend.domain.pagination import Page, paginate
from backend.domain.permissions import Operation, authorize
from backend.domain.units.repository import subtree_filter, unit_in_jurisdiction
from backend.models import SchoolClass, StudentRecord
from backend.models.enums import RecordStatus, RegistrationState, UnitKind


async def list_student_records(
    session: AsyncSession,
    actor: Actor,
    *,
    unit_id: int | None,
    class_id: int | None,
    grade: int | None,
    status: RecordStatus | None,
    name: str | None,
    first: int | None,
    after: str | None,
    max_page: int,
    national_number: str | None = None,
    include_deleted: bool = False,
) -> Page[StudentRecord]:
    """Records in the actor's subtree, or below ``unit_id`` inside it (ORG-3: a school sees its own).

    Deleted records are left out unless ``include_deleted`` (kept for history, NUM-4). ``name`` and
    ``national_number`` match exactly, on their indexes.
    """
    authorize(actor, Operation.VIEW_STUDENTS)
    scope = actor.unit_path
    if unit_id is not None:
        scope = (await unit_in_jurisdiction(session, actor, unit_id, field="unitId")).path
    stmt = select(StudentRecord).where(subtree_filter(StudentRecord.unit_path, scope))
    if class_id is not None:
        stmt = stmt.where(StudentRecord.class_id == class_id)
    if grade is not None:
        stmt = stmt.where(StudentRecord.grade == grade)
    if status is not None:
        stmt = stmt.where(StudentRecord.status == status)
    if name:
        stmt = stmt.where(StudentRecord.name == name.strip())
    if national_number:
        stmt = stmt.where(StudentRecord.national_number == national_number.strip().upper())
    if not include_deleted:
        stmt = stmt.where(StudentRecord.registration_state != RegistrationState.DELETED)
    return await paginate(session, stmt, StudentRecord.id, first=first, after=after, max_page=max_page)


async def find_student_record(session: AsyncSession, actor: Actor, record_id: int) -> StudentRecord | None:
    """One record if it lies in the actor's subtree (ORG-3); absent and out of reach look the same."""
    authorize(actor, Operation.VIEW_STUDENTS)
    record = await session.get(StudentRecord, record_id)
    if record is None or not actor.covers_path(record.unit_path):
        return None
    return record


async def list_school_classes(
    session: AsyncSession, actor: Actor, school_id: int | None
) -> list[SchoolClass]:
    """The classes of one school in the actor's jurisdiction (its own school by default), by stage and grade.

    One school at a time: a school has tens of classes, a county thousands, which no screen lists at once.
    """
    authorize(actor, Operation.VIEW_STUDENTS)
    school = await unit_in_jurisdiction(session, actor, school_id or actor.unit_id, field="schoolId")
    if school.kind is not UnitKind.SCHOOL:
        raise ValidationError("请选择一所学校", field="schoolId")
    rows = await session.scalars(
        select(SchoolClass)
        .where(SchoolClass.school_id == school.id)
        .order_by(SchoolClass.stage, SchoolClass.grade, SchoolClass.name, SchoolClass.id)
    )
    return list(rows)
