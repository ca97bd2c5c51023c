"""Registering students (REG-1..7): windows, who may, validation, duplicates, the draft and its review."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select

from backend.clock import FixedClock, shanghai
from backend.config import Settings
from backend.db import Database, UnitOfWork
from backend.domain.actor import Actor, SystemActor
from backend.domain.records.errors import RecordValidationError
from backend.domain.records.national_numbers import NationalNumberKind, parse_national_number
from backend.domain.records.service import register_student, submit_registration
from backend.domain.settings import set_province_setting
from backend.domain.workflows.engine import act
from backend.models import (
    Guardian,
    NationalNumberHistory,
    ProblemRecord,
    SchoolClass,
    StudentRecord,
    WorkflowInstance,
)
from backend.models.enums import (
    IdType,
    NumberKind,
    ProblemType,
    RecordStatus,
    RegistrationKind,
    RegistrationState,
    Stage,
    WorkflowState,
)
from tests.domain.records.support import (
    GUARDIANS,
    Step,
    World,
    audit_rows,
    build_world,
    history,
    load,
    make_class,
    refusal,
    register,
    stepper,
    student_values,
)


@pytest.fixture
def step(db: Database, clock: FixedClock, settings: Settings) -> Step:
    return stepper(db, clock, settings)


@pytest.fixture
async def world(step: Step) -> World:
    return await build_world(step)


def registering(
    actor: Actor | SystemActor,
    school_class: SchoolClass,
    values: dict[str, object] | None = None,
    kind: RegistrationKind = RegistrationKind.IN_SCHOOL,
) -> Callable[[UnitOfWork], Awaitable[StudentRecord]]:
    async def action(uow: UnitOfWork) -> StudentRecord:
        return await register_student(
            uow,
            actor=actor,
            kind=kind,
            school_class_id=school_class.id,
            values=student_values() if values is None else values,
            guardians=GUARDIANS,
        )

    return action


async def set_setting(step: Step, world: World, key: str, value: object) -> None:
    async with step() as uow:
        await set_province_setting(
            uow, actor=SystemActor(), province_id=world.tree.province.id, key=key, value=value
        )


# --- creating the draft ----------------------------------------------------------------------------


async def test_registration_creates_a_draft_in_the_class(step: Step, world: World) -> None:
    # RULES: REG-1, REG-6, NUM-3, NUM-7, SEC-7
    record = await register(step, world.registrar, world.grade3)

    stored = await load(step, record.id)
    assert (stored.registration_state, stored.status) == (RegistrationState.DRAFT, RecordStatus.IN_SCHOOL)
    assert (stored.school_id, stored.class_id, stored.stage, stored.grade) == (
        world.tree.school_a1.id,
        world.grade3.id,
        Stage.PRIMARY,
        3,
    )
    assert stored.unit_path == world.tree.school_a1.path
    assert (stored.ethnicity, stored.nationality, stored.id_type) == ("01", "CHN", IdType.RESIDENT_ID)
    assert "ethnicity" not in stored.details
    assert stored.details["householdType"] == "2"
    assert stored.details["isOnlyChild"] is False
    assert stored.entry_date == date(2024, 9, 1)
    assert stored.version == 1

    number = parse_national_number(stored.national_number)
    assert stored.number_kind is NumberKind.L
    assert (number.kind, number.area_code, number.birth_date) == (
        NationalNumberKind.L,
        "340102",
        date(2018, 3, 15),
    )
    assert len(stored.national_number) == 19

    async with step() as uow:
        numbers = list(await uow.session.scalars(select(NationalNumberHistory)))
        guardians = list(await uow.session.scalars(select(Guardian)))
    assert [(n.number, n.kind, n.valid_until) for n in numbers] == [
        (stored.national_number, NumberKind.L, None)
    ]
    assert [(g.name, g.relation, g.phone, g.is_guardian) for g in guardians] == [
        ("张建国", "父亲", "13912345678", True)
    ]

    rows = await history(step, record.id)
    assert [row.kind for row in rows] == ["CREATED"]
    assert rows[0].user_id == world.registrar.user_id
    assert rows[0].changes["name"] == [None, "张小明"]
    audit = await audit_rows(step, "record.created")
    assert len(audit) == 1
    assert audit[0].after is not None and audit[0].after["nationalNumber"] == stored.national_number


async def test_all_field_errors_come_back_at_once(step: Step, world: World) -> None:
    # RULES: REG-4
    good = student_values()["idNumber"]
    values = student_values(
        birthDate="2018-02-30",
        entryDate="2024-13",
        idNumber=good[:17] + ("0" if good[17] != "0" else "1"),
        ethnicity="99",
    )

    error = await refusal(step, registering(world.registrar, world.grade3, values))

    assert isinstance(error, RecordValidationError)
    assert error.code == "INVALID_RECORD"
    assert [e.key for e in error.errors] == ["birthDate", "ethnicity", "entryDate", "idNumber"]


async def test_who_may_register(step: Step, world: World) -> None:
    # RULES: ORG-2, ORG-3
    assert (await refusal(step, registering(world.leader, world.grade3))).code == "FORBIDDEN"
    assert (await refusal(step, registering(world.school_admin, world.grade3))).code == "FORBIDDEN"
    assert (await refusal(step, registering(world.county_registrar, world.grade3))).code == "FORBIDDEN"
    other_school = await refusal(step, registering(world.a2_registrar, world.grade3))
    assert (other_school.code, other_school.field) == ("NOT_FOUND", "schoolClassId")


# --- business windows ------------------------------------------------------------------------------


async def test_primary_new_registration_closed_in_november(step: Step, world: World) -> None:
    # RULES: REG-2, CFG-2
    values = student_values(birth=date(2020, 3, 15), entryDate="2026-09")

    error = await refusal(
        step, registering(world.registrar, world.grade1, values, RegistrationKind.PRIMARY_NEW)
    )

    assert error.code == "REGISTRATION_CLOSED"
    assert error.message == "当前不在小学新生注册业务时间内（每年9月1日至9月30日）"


async def test_primary_new_registration_open_in_september(
    step: Step, world: World, clock: FixedClock
) -> None:
    # RULES: REG-2
    clock.set(shanghai(2026, 9, 10))
    values = student_values(birth=date(2020, 3, 15), entryDate="2026-09")

    record = await register(step, world.registrar, world.grade1, values, kind=RegistrationKind.PRIMARY_NEW)

    assert record.registration_kind is RegistrationKind.PRIMARY_NEW
    assert record.grade == 1


async def test_primary_new_registration_switched_off(step: Step, world: World, clock: FixedClock) -> None:
    # RULES: REG-2, CFG-2
    clock.set(shanghai(2026, 9, 10))
    await set_setting(step, world, "switch.primary_new_enabled", False)
    values = student_values(birth=date(2020, 3, 15), entryDate="2026-09")

    error = await refusal(
        step, registering(world.registrar, world.grade1, values, RegistrationKind.PRIMARY_NEW)
    )

    assert (error.code, error.message) == ("REGISTRATION_CLOSED", "本省未开放小学新生注册")


async def test_primary_new_registration_only_into_grade_one(
    step: Step, world: World, clock: FixedClock
) -> None:
    # RULES: REG-2
    clock.set(shanghai(2026, 9, 10))

    error = await refusal(step, registering(world.registrar, world.grade3, kind=RegistrationKind.PRIMARY_NEW))

    assert (error.code, error.field) == ("INVALID_INPUT", "schoolClassId")


async def test_in_school_registration_follows_the_province_window(
    step: Step, world: World, clock: FixedClock
) -> None:
    # RULES: REG-1, CFG-2
    await set_setting(step, world, "window.in_school", [{"from": "2026-03-01", "to": "2026-03-31"}])

    error = await refusal(step, registering(world.registrar, world.grade3))
    assert error.code == "REGISTRATION_CLOSED"
    assert "2026年3月1日至2026年3月31日" in error.message

    clock.set(shanghai(2026, 3, 15))
    record = await register(step, world.registrar, world.grade3, student_values(entryDate="2024-09"))
    assert record.registration_state is RegistrationState.DRAFT


async def test_returning_students_menu_closed_by_the_province(step: Step, world: World) -> None:
    # RULES: REG-3, CFG-2
    await set_setting(step, world, "window.returning", [])

    error = await refusal(step, registering(world.registrar, world.grade3, kind=RegistrationKind.RETURNING))

    assert error.code == "REGISTRATION_CLOSED"
    assert "未开放" in error.message


async def test_no_records_for_preschool_children(step: Step, world: World) -> None:
    # RULES: REG-7
    async with step() as uow:
        preschool = await make_class(uow, world.tree.school_a1, 1, Stage.PRESCHOOL)

    error = await refusal(step, registering(world.registrar, preschool))

    assert (error.code, error.field) == ("INVALID_INPUT", "schoolClassId")


# --- one person, one record ------------------------------------------------------------------------


async def test_student_with_a_record_is_not_registered_again(step: Step, world: World) -> None:
    # RULES: REG-7, NUM-6
    await register(step, world.registrar, world.grade3)

    again = await refusal(step, registering(world.registrar, world.grade3))
    elsewhere = await refusal(step, registering(world.c1_registrar, world.c1_grade3))

    assert (again.code, again.field) == ("DUPLICATE_ID_NUMBER", "idNumber")
    assert "东区第一小学" in again.message
    assert elsewhere.code == "DUPLICATE_ID_NUMBER"
    assert "其他学校" in elsewhere.message and "东区第一小学" not in elsewhere.message
    async with step() as uow:
        assert len(list(await uow.session.scalars(select(StudentRecord)))) == 1


async def test_returning_student_with_a_record_is_refused(step: Step, world: World) -> None:
    # RULES: REG-3
    await register(step, world.registrar, world.grade3)

    error = await refusal(
        step, registering(world.a2_registrar, world.a2_grade3, kind=RegistrationKind.RETURNING)
    )

    assert error.code == "DUPLICATE_ID_NUMBER"


async def test_non_grade_one_student_failing_the_check_must_transfer(step: Step, world: World) -> None:
    # RULES: REG-5
    await register(step, world.registrar, world.grade3)

    error = await refusal(
        step, registering(world.a2_registrar, world.a2_grade3, kind=RegistrationKind.NON_GRADE_ONE)
    )

    assert error.code == "DUPLICATE_ID_NUMBER"
    assert "转学" in error.message


async def test_non_grade_one_student_without_a_record_is_registered(step: Step, world: World) -> None:
    # RULES: REG-5
    record = await register(step, world.a2_registrar, world.a2_grade3, kind=RegistrationKind.NON_GRADE_ONE)

    assert record.registration_kind is RegistrationKind.NON_GRADE_ONE
    assert record.registration_state is RegistrationState.DRAFT


async def test_a_deleted_record_does_not_block_registration(step: Step, world: World) -> None:
    # RULES: REG-7
    first = await register(step, world.registrar, world.grade3)
    async with step() as uow:
        stored = await uow.session.get(StudentRecord, first.id)
        assert stored is not None
        stored.registration_state = RegistrationState.DELETED

    second = await register(step, world.registrar, world.grade3)

    assert second.id != first.id


# --- review (REG-4) --------------------------------------------------------------------------------


async def test_submission_review_and_return(step: Step, world: World) -> None:
    # RULES: REG-4
    record = await register(step, world.registrar, world.grade3)
    async with step() as uow:
        submitted = await submit_registration(uow, actor=world.registrar, record_id=record.id)
        assert submitted.registration_state is RegistrationState.IN_REVIEW

    async def submit_again(uow: UnitOfWork) -> None:
        await submit_registration(uow, actor=world.registrar, record_id=record.id)

    assert (await refusal(step, submit_again)).code == "INVALID_REGISTRATION_STATE"

    async def reject_without_reason(uow: UnitOfWork) -> None:
        await act(uow, actor=world.leader, instance_id=await open_review(uow), action="reject", comment=" ")

    assert (await refusal(step, reject_without_reason)).code == "REASON_REQUIRED"

    async with step() as uow:  # the school leader returns it (REG-4)
        await act(
            uow,
            actor=world.leader,
            instance_id=await open_review(uow),
            action="reject",
            comment="出生地与户口簿不符",
        )
    returned = await load(step, record.id)
    assert returned.registration_state is RegistrationState.RETURNED
    assert returned.number_kind is NumberKind.L
    rows = await history(step, record.id)
    assert [(r.kind, r.reason) for r in rows] == [
        ("CREATED", None),
        ("SUBMITTED", None),
        ("RETURNED", "出生地与户口簿不符"),
    ]

    async with step() as uow:
        await submit_registration(uow, actor=world.registrar, record_id=record.id)
    async with step() as uow:
        await act(uow, actor=world.leader, instance_id=await open_review(uow), action="approve", comment=None)
    assert (
        await load(step, record.id)
    ).registration_state is RegistrationState.IN_REVIEW  # county still to go
    async with step() as uow:
        await act(
            uow,
            actor=world.county_registrar,
            instance_id=await open_review(uow),
            action="approve",
            comment=None,
        )

    final = await load(step, record.id)
    assert final.registration_state is RegistrationState.REGISTERED
    assert final.number_kind is NumberKind.G
    assert [a.operation for a in await audit_rows(step, "record.registered")] == ["record.registered"]


async def open_review(uow: UnitOfWork) -> int:
    instance_id = await uow.session.scalar(
        select(WorkflowInstance.id).where(WorkflowInstance.state == WorkflowState.OPEN)
    )
    assert instance_id is not None
    return instance_id


async def test_submission_needs_every_required_field(step: Step, world: World) -> None:
    # RULES: REG-4
    record = await register(step, world.registrar, world.grade3)
    async with step() as uow:
        stored = await uow.session.get(StudentRecord, record.id)
        assert stored is not None
        stored.details = {k: v for k, v in stored.details.items() if k != "postalCode"}
        await uow.session.execute(Guardian.__table__.delete())

    async def submit(uow: UnitOfWork) -> None:
        await submit_registration(uow, actor=world.registrar, record_id=record.id)

    error = await refusal(step, submit)
    assert isinstance(error, RecordValidationError)
    assert [e.key for e in error.errors] == ["postalCode", "guardians"]


async def test_passport_holder_is_a_student_without_resident_id(step: Step, world: World) -> None:
    # RULES: REG-3
    values = student_values(id_type=IdType.PASSPORT, idNumber="E12345678", nationality="USA")

    record = await register(step, world.registrar, world.grade3, values, kind=RegistrationKind.RETURNING)

    assert (record.id_type, record.id_number, record.nationality) == (IdType.PASSPORT, "E12345678", "USA")


async def test_the_configured_population_answers_the_reviews_identity_check(
    db: Database, clock: FixedClock, settings: Settings, tmp_path: Path, world: World
) -> None:
    # RULES: NUM-1, PRB-1
    population = tmp_path / "population.csv"
    values = student_values("张小明")
    population.write_text(f"身份证号,姓名\n{values['idNumber']},张晓明\n", encoding="utf-8")
    checked = stepper(db, clock, settings.with_overrides(identity_population=str(population)))
    record = await register(checked, world.registrar, world.grade3, values)
    async with checked() as uow:
        await submit_registration(uow, actor=world.registrar, record_id=record.id)
    for approver in (world.leader, world.county_registrar):
        async with checked() as uow:
            await act(uow, actor=approver, instance_id=await open_review(uow), action="approve", comment=None)

    final = await load(checked, record.id)
    assert final.registration_state is RegistrationState.REGISTERED
    assert final.number_kind is NumberKind.L  # no G while the population database disagrees (NUM-1)
    async with checked() as uow:
        problems = (
            await uow.session.scalars(select(ProblemRecord).where(ProblemRecord.record_id == record.id))
        ).all()
    assert [(p.problem_type, p.detail) for p in problems] == [(ProblemType.ID_ERROR, "姓名和身份证号不匹配")]
