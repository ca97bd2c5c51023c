"""The duplicate check (查重): does this student already have a record (REG-3, REG-5, REG-7, CHG-3)?

Two lookups, each an equality match on an index, never a scan: the same ID document (type and number, on
``student_record.id_number``), and, for a student without a resident ID, the same name, gender and birth
date among records without one (on ``(name, gender, birth_date)``). Deleted records do not count. At 20
million records a province answers in a couple of index probes.

``apply_duplicate_policy`` decides what a finding means: the same ID document refuses the new record
(one person, one record: REG-7, NUM-6), except when records that already exist elsewhere are taken in by
in-school registration (REG-1), which flags the whole group as type-2 problem records instead (PRB-2);
the same person without an ID is let through and the group flagged type 3 (PRB-3).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.db import UnitOfWork
from backend.domain.actor import Actor, SystemActor
from backend.domain.problems.service import duplicate_group_key, open_problem
from backend.domain.records.errors import DuplicateRecordError
from backend.models import ProblemRecord, StudentRecord, Unit
from backend.models.enums import Gender, IdType, ProblemType, RegistrationState

# More than a handful of records for one person is a data disaster to look at by hand, not to list.
LIMIT = 20


@dataclass(frozen=True)
class DuplicateFindings:
    same_id: list[int] = field(default_factory=list)
    same_person_without_id: list[int] = field(default_factory=list)

    @property
    def none(self) -> bool:
        return not self.same_id and not self.same_person_without_id


async def check_duplicates(
    session: AsyncSession,
    *,
    id_type: IdType,
    id_number: str | None,
    name: str,
    gender: Gender,
    birth_date: date,
    exclude_record_id: int | None = None,
) -> DuplicateFindings:
    """Find the records a student would duplicate (REG-7, PRB-2, PRB-3); at most two indexed SELECTs.

    ``exclude_record_id`` leaves out the record being checked itself (a re-check after an identity
    change, CHG-3). Records in registration state DELETED are ignored.
    """
    alive = StudentRecord.registration_state != RegistrationState.DELETED
    others = [alive] if exclude_record_id is None else [alive, StudentRecord.id != exclude_record_id]
    same_id: list[int] = []
    if id_type is not IdType.NONE and id_number:
        same_id = list(
            await session.scalars(
                select(StudentRecord.id)
                .where(StudentRecord.id_number == id_number, StudentRecord.id_type == id_type, *others)
                .order_by(StudentRecord.id)
                .limit(LIMIT)
            )
        )
    same_person: list[int] = []
    if id_type is not IdType.RESIDENT_ID:
        same_person = [
            record_id
            for record_id in await session.scalars(
                select(StudentRecord.id)
                .where(
                    StudentRecord.name == name,
                    StudentRecord.gender == gender,
                    StudentRecord.birth_date == birth_date,
                    StudentRecord.id_type != IdType.RESIDENT_ID,
                    *others,
                )
                .order_by(StudentRecord.id)
                .limit(LIMIT)
            )
            if record_id not in same_id
        ]
    return DuplicateFindings(same_id=same_id, same_person_without_id=same_person)


async def apply_duplicate_policy(
    uow: UnitOfWork,
    record: StudentRecord,
    findings: DuplicateFindings,
    *,
    actor: Actor | SystemActor,
    from_import_of_existing: bool,
) -> list[ProblemRecord]:
    """Refuse a second record of one person, or flag the group as problem records (REG-7, PRB-2, PRB-3).

    ``record`` is the new (or re-checked) record, already flushed. Its transaction must not commit when
    this raises.

    Returns:
        The problem rows opened (or found open) for every record of each group.

    Raises:
        DuplicateRecordError: the same ID document already has a record and this is not the import of
            existing records (REG-1). The message names the other record's school when ``actor`` may see
            it (ORG-3), else says only that it exists elsewhere.
    """
    problems: list[ProblemRecord] = []
    if findings.same_id:
        if not from_import_of_existing:
            raise await _duplicate_error(uow.session, actor, findings.same_id[0])
        assert record.id_number is not None
        for member in await _group(uow.session, findings.same_id, record):
            problems.append(
                await open_problem(
                    uow,
                    record=member,
                    problem_type=ProblemType.DUPLICATE_WITH_ID,
                    group_key=record.id_number,
                    detail="身份证件号码与其他学籍重复",
                )
            )
    if findings.same_person_without_id:
        key = duplicate_group_key(record.name, record.gender, record.birth_date.isoformat())
        for member in await _group(uow.session, findings.same_person_without_id, record):
            problems.append(
                await open_problem(
                    uow,
                    record=member,
                    problem_type=ProblemType.DUPLICATE_WITHOUT_ID,
                    group_key=key,
                    detail="无身份证件号码，姓名、性别、出生日期与其他学籍相同",
                )
            )
    return problems


async def _group(session: AsyncSession, ids: Sequence[int], record: StudentRecord) -> list[StudentRecord]:
    found = await session.scalars(select(StudentRecord).where(StudentRecord.id.in_(ids)))
    return [*sorted(found, key=lambda r: r.id), record]


async def refuse_duplicate(
    session: AsyncSession,
    actor: Actor | SystemActor,
    findings: DuplicateFindings,
    *,
    from_import_of_existing: bool,
) -> None:
    """Refuse a new record for a student who has one, before anything is written (REG-7, NUM-6).

    Raises:
        DuplicateRecordError: as ``apply_duplicate_policy`` would, but with nothing flushed yet.
    """
    if findings.same_id and not from_import_of_existing:
        raise await _duplicate_error(session, actor, findings.same_id[0])


async def _duplicate_error(
    session: AsyncSession, actor: Actor | SystemActor, existing_id: int
) -> DuplicateRecordError:
    row = (
        await session.execute(
            select(StudentRecord.unit_path, Unit.name)
            .join(Unit, Unit.id == StudentRecord.school_id)
            .where(StudentRecord.id == existing_id)
        )
    ).one()
    visible = isinstance(actor, SystemActor) or actor.covers_path(row.unit_path)
    where = row.name if visible else "其他学校"
    return DuplicateRecordError(
        f"该学生已在{where}建有学籍，已有学籍的学生不得重复注册；如学生转入，请办理转学",
        field="idNumber",
    )
