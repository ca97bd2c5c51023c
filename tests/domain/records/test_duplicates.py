"""The duplicate check (查重) and the problem records it opens (PRB-2, PRB-3, PRB-4)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from sqlalchemy import event, select

from backend.clock import FixedClock
from backend.config import Settings
from backend.db import Database
from backend.domain.problems.repository import problem_group
from backend.domain.problems.service import open_problem
from backend.domain.records.duplicates import check_duplicates
from backend.domain.records.id_numbers import make_resident_id
from backend.models import ProblemRecord, StudentRecord, Unit
from backend.models.enums import Gender, IdType, ProblemState, ProblemType, RegistrationState, SchoolSystem
from tests.domain.records.support import (
    Step,
    World,
    build_world,
    make_class,
    register,
    stepper,
    student_values,
)

BIRTH = date(2018, 3, 15)
ID_NUMBER = make_resident_id("340102", BIRTH, 0, Gender.MALE)


@pytest.fixture
def step(db: Database, clock: FixedClock, settings: Settings) -> Step:
    return stepper(db, clock, settings)


@pytest.fixture
async def world(step: Step) -> World:
    return await build_world(step)


async def all_problems(step: Step) -> list[ProblemRecord]:
    async with step() as uow:
        return list(await uow.session.scalars(select(ProblemRecord).order_by(ProblemRecord.id)))


async def test_duplicate_check_is_at_most_two_indexed_statements(
    db: Database, step: Step, world: World
) -> None:
    # RULES: REG-7, PRB-2, PRB-3
    with_id = await register(step, world.registrar, world.grade3)
    passport = student_values("李小红", id_type=IdType.PASSPORT, idNumber="E12345678", gender=Gender.FEMALE)
    holder = await register(step, world.registrar, world.grade3, passport)
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(args[2])

    async with step() as uow:
        await uow.session.execute(select(1))
        event.listen(db.engine.sync_engine, "before_cursor_execute", count)
        try:
            by_id = await check_duplicates(
                uow.session,
                id_type=IdType.RESIDENT_ID,
                id_number=ID_NUMBER,
                name="张小明",
                gender=Gender.MALE,
                birth_date=BIRTH,
            )
            resident_statements = len(statements)
            both = await check_duplicates(
                uow.session,
                id_type=IdType.PASSPORT,
                id_number="E12345678",
                name="李小红",
                gender=Gender.FEMALE,
                birth_date=BIRTH,
            )
        finally:
            event.remove(db.engine.sync_engine, "before_cursor_execute", count)

    assert (by_id.same_id, by_id.same_person_without_id) == ([with_id.id], [])
    assert (both.same_id, both.same_person_without_id) == ([holder.id], [])
    assert resident_statements == 1
    assert len(statements) - resident_statements == 2
    assert all(" LIMIT " in statement.upper() for statement in statements)


async def test_check_ignores_deleted_records_and_the_record_itself(step: Step, world: World) -> None:
    # RULES: CHG-3, REG-7
    record = await register(step, world.registrar, world.grade3)

    async with step() as uow:
        itself = await check_duplicates(
            uow.session,
            id_type=IdType.RESIDENT_ID,
            id_number=ID_NUMBER,
            name="张小明",
            gender=Gender.MALE,
            birth_date=BIRTH,
            exclude_record_id=record.id,
        )
        stored = await uow.session.get(StudentRecord, record.id)
        assert stored is not None
        stored.registration_state = RegistrationState.DELETED
        await uow.session.flush()
        deleted = await check_duplicates(
            uow.session,
            id_type=IdType.RESIDENT_ID,
            id_number=ID_NUMBER,
            name="张小明",
            gender=Gender.MALE,
            birth_date=BIRTH,
        )
    assert itself.none
    assert deleted.none


async def test_import_of_existing_records_flags_the_group_as_type_2(step: Step, world: World) -> None:
    # RULES: REG-1, PRB-2
    existing = await register(step, world.c1_registrar, world.c1_grade3)

    record = await register(step, world.registrar, world.grade3, from_import_of_existing=True)

    found = await all_problems(step)
    assert [(p.record_id, p.problem_type, p.group_key, p.state) for p in found] == [
        (existing.id, ProblemType.DUPLICATE_WITH_ID, ID_NUMBER, ProblemState.OPEN),
        (record.id, ProblemType.DUPLICATE_WITH_ID, ID_NUMBER, ProblemState.OPEN),
    ]
    assert [p.unit_path for p in found] == [world.tree.school_c1.path, world.tree.school_a1.path]
    async with step() as uow:
        group = await problem_group(uow.session, ProblemType.DUPLICATE_WITH_ID, ID_NUMBER)
    assert [p.record_id for p in group] == [existing.id, record.id]


async def test_same_person_without_id_is_created_and_flagged_type_3(step: Step, world: World) -> None:
    # RULES: PRB-3
    first = await register(step, world.c1_registrar, world.c1_grade3, student_values(id_type=IdType.NONE))

    second = await register(step, world.registrar, world.grade3, student_values(id_type=IdType.NONE))

    key = f"张小明|MALE|{BIRTH.isoformat()}"
    found = await all_problems(step)
    assert [(p.record_id, p.problem_type, p.group_key) for p in found] == [
        (first.id, ProblemType.DUPLICATE_WITHOUT_ID, key),
        (second.id, ProblemType.DUPLICATE_WITHOUT_ID, key),
    ]
    assert second.registration_state is RegistrationState.DRAFT


async def test_a_third_duplicate_joins_the_group_once(step: Step, world: World) -> None:
    # RULES: PRB-3
    no_id = student_values(id_type=IdType.NONE)
    await register(step, world.c1_registrar, world.c1_grade3, no_id)
    await register(step, world.registrar, world.grade3, no_id)

    await register(step, world.a2_registrar, world.a2_grade3, no_id)

    found = await all_problems(step)
    assert len(found) == 3
    assert len({p.record_id for p in found}) == 3


async def test_open_problem_is_idempotent_while_unresolved(step: Step, world: World) -> None:
    # RULES: PRB-1
    record = await register(step, world.registrar, world.grade3)
    async with step() as uow:
        stored = await uow.session.get(StudentRecord, record.id)
        assert stored is not None
        first = await open_problem(
            uow,
            record=stored,
            problem_type=ProblemType.ID_ERROR,
            group_key=ID_NUMBER,
            detail="身份证号不存在",
        )
        again = await open_problem(
            uow,
            record=stored,
            problem_type=ProblemType.ID_ERROR,
            group_key=ID_NUMBER,
            detail="身份证号不存在",
        )
        first.state = ProblemState.RESOLVED
        await uow.session.flush()
        later = await open_problem(
            uow,
            record=stored,
            problem_type=ProblemType.ID_ERROR,
            group_key=ID_NUMBER,
            detail="身份证号不存在",
        )
    assert again.id == first.id
    assert later.id != first.id


@pytest.mark.parametrize(
    ("grade", "system", "graduating"),
    [
        (6, SchoolSystem.SIX_THREE, True),
        (3, SchoolSystem.SIX_THREE, False),
        (5, SchoolSystem.FIVE_FOUR, True),
    ],
)
async def test_graduating_year_problems_are_marked(
    step: Step, world: World, grade: int, system: SchoolSystem, graduating: bool
) -> None:
    # RULES: PRB-4
    async with step() as uow:
        school = await uow.session.get(Unit, world.tree.school_a2.id)
        assert school is not None
        school.school_system = system
        school_class = await make_class(uow, school, grade)
    no_id = student_values(id_type=IdType.NONE)
    await register(step, world.c1_registrar, world.c1_grade3, no_id)

    record = await register(step, world.a2_registrar, school_class, no_id)

    flags = {p.record_id: p.graduating_year for p in await all_problems(step)}
    assert flags[record.id] is graduating
    assert len(flags) == 2
