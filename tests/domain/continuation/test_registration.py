"""Registering continuation rows: matched rows continue their record, the others get new ones (REG-8 (4))."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select, update

from backend.clock import FixedClock
from backend.config import Settings
from backend.db import Database
from backend.domain.actor import SystemActor
from backend.domain.continuation.registration import register_rows
from backend.domain.continuation.service import confirm_candidate
from backend.domain.errors import NotFoundError, ValidationError
from backend.domain.records.errors import RegistrationClosedError
from backend.domain.records.service import update_record
from backend.domain.settings.service import set_province_setting
from backend.models import AuditEntry, ContinuationRow, Guardian, RecordHistory, SchoolClass, StudentRecord
from backend.models.enums import NumberKind, RecordStatus, RegistrationKind, RegistrationState, Stage
from tests.domain.continuation.sheets import xlsx
from tests.domain.continuation.test_service import (
    B1,
    B2,
    F,
    M,
    Step,
    World,
    actor_at,
    import_list,
    make_record,
    refusal,
    rid,
    rows_of,
)
from tests.domain.factories import build_tree
from tests.domain.records.support import make_class

GRADE1 = "grade1"


@pytest.fixture
def step(db: Database, clock: FixedClock, settings: Settings) -> Step:
    return lambda: db.unit_of_work(clock, settings)


@pytest.fixture
async def world(step: Step) -> World:
    async with step() as uow:
        tree = await build_tree(uow)
    return World(tree, await actor_at(step, tree.school_a1), await actor_at(step, tree.school_a2))


@pytest.fixture
async def grade1(step: Step, world: World) -> SchoolClass:
    async with step() as uow:
        return await make_class(uow, world.tree.school_a1, 1)


@pytest.fixture(autouse=True)
async def primary_window_open(step: Step, world: World) -> None:
    """Today (25 November) inside the province's primary new-student window (REG-2)."""
    await set_window(step, world, [{"from": "11-01", "to": "12-31"}])


async def set_window(step: Step, world: World, value: Any) -> None:
    async with step() as uow:
        await set_province_setting(
            uow,
            actor=SystemActor(),
            province_id=world.tree.province.id,
            key="window.primary_new",
            value=value,
        )


async def fill_in(step: Step, row_id: int, **details: str) -> None:
    """What applying the filled-in sheet stores (tested in test_service)."""
    async with step() as uow:
        await uow.session.execute(
            update(ContinuationRow).where(ContinuationRow.id == row_id).values(details=details)
        )


async def record(step: Step, record_id: int) -> StudentRecord:
    async with step() as uow:
        found = await uow.session.get(StudentRecord, record_id)
        assert found is not None
        return found


async def register(step: Step, world: World, import_id: int, class_id: int, row_ids: Any = None) -> Any:
    async with step() as uow:
        return await register_rows(
            uow, actor=world.registrar, import_id=import_id, school_class_id=class_id, row_ids=row_ids
        )


async def test_matched_rows_continue_their_record_and_the_others_get_new_ones(
    step: Step, world: World, grade1: SchoolClass
) -> None:
    # RULES: REG-8, NUM-6, NUM-3
    kindergarten = world.tree.school_b1
    zhang = await make_record(step, kindergarten, "张三", M, B1, rid(B1, M, 0))
    before = await record(step, zhang)
    data = xlsx(
        ["张三", "男", B1, "居民身份证", rid(B1, M, 0)],  # matched
        ["赵六", "女", B2, "居民身份证", rid(B2, F, 1)],  # not found
    )
    continuation = await import_list(step, world.registrar, data)
    matched, new = await rows_of(step, continuation.id)
    await fill_in(step, matched.id, ethnicity="回族", guardianName="张大", guardianRelation="父亲")
    await fill_in(
        step, new.id, ethnicity="汉族", phone="13800000000", guardianName="赵大", guardianRelation="母亲"
    )

    report = await register(step, world, continuation.id, grade1.id)

    assert report.errors == []
    assert [(r.row_number, r.continued) for r in report.registered] == [(2, True), (3, False)]
    assert report.registered[0].record_id == zhang
    continued = await record(step, zhang)
    assert (continued.school_id, continued.class_id, continued.stage, continued.grade) == (
        world.tree.school_a1.id,
        grade1.id,
        Stage.PRIMARY,
        1,
    )
    assert (continued.unit_path, continued.status) == (world.tree.school_a1.path, RecordStatus.IN_SCHOOL)
    assert (continued.registration_kind, continued.registration_state) == (
        RegistrationKind.CONTINUATION,
        RegistrationState.DRAFT,
    )
    # One person, one record, one number for life (NUM-6).
    assert continued.national_number == before.national_number
    assert continued.national_number == "G" + rid(B1, M, 0)
    assert continued.ethnicity == "03"
    fresh = await record(step, report.registered[1].record_id)
    assert (fresh.name, fresh.id_number, fresh.number_kind, fresh.registration_state) == (
        "赵六",
        rid(B2, F, 1),
        NumberKind.L,
        RegistrationState.DRAFT,
    )
    assert (fresh.details["phone"], fresh.ethnicity, fresh.class_id) == ("13800000000", "01", grade1.id)
    async with step() as uow:
        guardians = (
            await uow.session.execute(select(Guardian.record_id, Guardian.name, Guardian.relation))
        ).all()
        history = (
            await uow.session.scalars(select(RecordHistory).where(RecordHistory.record_id == zhang))
        ).all()
        audit = list((await uow.session.scalars(select(AuditEntry.operation).order_by(AuditEntry.id))).all())
    assert sorted(guardians) == sorted([(zhang, "张大", "父亲"), (fresh.id, "赵大", "母亲")])
    moved = history[-1]
    assert moved.kind == "CONTINUED"
    assert moved.user_id == world.registrar.user_id
    assert moved.changes["schoolId"] == [kindergarten.id, world.tree.school_a1.id]
    assert moved.changes["stage"] == ["PRESCHOOL", "PRIMARY"]
    assert audit[-3:] == ["record.continued", "record.created", "continuation.registered"]
    rows = await rows_of(step, continuation.id)
    assert [r.record_id for r in rows] == [zhang, fresh.id]
    assert report.counts["REGISTERED"] == 2


async def test_a_continued_record_keeps_its_key_information_locked(
    step: Step, world: World, grade1: SchoolClass
) -> None:
    # RULES: REG-8, SEC-6, CHG-2
    zhang = await make_record(step, world.tree.school_b1, "张三", M, B1, rid(B1, M, 0))
    continuation = await import_list(
        step, world.registrar, xlsx(["张三", "男", B1, "居民身份证", rid(B1, M, 0)])
    )
    await register(step, world, continuation.id, grade1.id)
    version = (await record(step, zhang)).version

    async with step() as uow:
        outcome = await update_record(
            uow,
            actor=world.registrar,
            record_id=zhang,
            values={"name": "张叁", "formerName": "张小三"},
            expected_version=version,
        )

    assert set(outcome.applied) == {"formerName"}
    assert set(outcome.needs_approval) == {"name"}
    assert (await record(step, zhang)).name == "张三"


async def test_refused_rows_are_reported_and_write_nothing(
    step: Step, world: World, grade1: SchoolClass
) -> None:
    # RULES: REG-8, REG-7
    data = xlsx(
        ["赵六", "女", B2, "居民身份证", rid(B2, F, 1)],  # a bad phone number in the sheet
        ["钱七", "男", B1, "居民身份证", rid(B1, M, 4)],  # gets a record elsewhere after the import
        ["孙八", "男", B1, "居民身份证", rid(B1, M, 5)],  # fine
    )
    continuation = await import_list(step, world.registrar, data)
    bad_phone, taken, good = await rows_of(step, continuation.id)
    await fill_in(step, bad_phone.id, phone="12345")
    await make_record(step, world.tree.school_c1, "钱七", M, B1, rid(B1, M, 4), stage=Stage.PRIMARY)
    async with step() as uow:
        records_before = await uow.session.scalar(select(func.count()).select_from(StudentRecord))

    report = await register(step, world, continuation.id, grade1.id)

    assert [(e["row"], e["column"], e["code"]) for e in report.errors] == [
        (2, "联系电话", "INVALID_VALUE"),
        (3, None, "DUPLICATE_ID_NUMBER"),
    ]
    assert "其他学校" in report.errors[1]["message"]  # another city's school: not named (ORG-3)
    assert [r.row_id for r in report.registered] == [good.id]
    async with step() as uow:
        assert await uow.session.scalar(select(func.count()).select_from(StudentRecord)) == records_before + 1
    rows = await rows_of(step, continuation.id)
    assert [r.record_id is not None for r in rows] == [False, False, True]

    # The refused rows stay ready: corrected, they register on the next call.
    await fill_in(step, bad_phone.id, phone="13800000000")
    again = await register(step, world, continuation.id, grade1.id, row_ids=[bad_phone.id, good.id])
    assert [r.row_id for r in again.registered] == [bad_phone.id]
    assert [(e["row"], e["code"]) for e in again.errors] == [(4, "NOT_READY")]


async def test_only_one_school_continues_a_record(step: Step, world: World, grade1: SchoolClass) -> None:
    # RULES: NUM-6
    zhang = await make_record(step, world.tree.school_b1, "张三", M, B1, rid(B1, M, 0))
    data = xlsx(["张三", "男", B1, "居民身份证", rid(B1, M, 0)])
    first = await import_list(step, world.registrar, data)
    second = await import_list(step, world.neighbour, data)
    async with step() as uow:
        other_grade1 = await make_class(uow, world.tree.school_a2, 1)
    await register(step, world, first.id, grade1.id)

    async with step() as uow:
        report = await register_rows(
            uow, actor=world.neighbour, import_id=second.id, school_class_id=other_grade1.id
        )

    assert [(e["row"], e["code"]) for e in report.errors] == [(2, "CONTINUATION_CONFLICT")]
    assert report.registered == []
    assert (await record(step, zhang)).school_id == world.tree.school_a1.id


async def test_the_class_and_the_window_must_fit(step: Step, world: World, grade1: SchoolClass) -> None:
    # RULES: REG-2, REG-8, ORG-3
    continuation = await import_list(
        step, world.registrar, xlsx(["赵六", "女", B2, "居民身份证", rid(B2, F, 1)])
    )
    async with step() as uow:
        grade3 = await make_class(uow, world.tree.school_a1, 3)
        junior = await make_class(uow, world.tree.school_a1, 7, Stage.JUNIOR)
        elsewhere = await make_class(uow, world.tree.school_a2, 1)

    def attempt(class_id: int) -> Any:
        return lambda uow: register_rows(
            uow, actor=world.registrar, import_id=continuation.id, school_class_id=class_id
        )

    assert isinstance(await refusal(step, attempt(elsewhere.id)), NotFoundError)
    assert (await refusal(step, attempt(junior.id))).field == "schoolClassId"
    wrong_grade = await refusal(step, attempt(grade3.id))
    assert isinstance(wrong_grade, ValidationError)
    assert wrong_grade.message == "小学新生接续只能编入一年级班级"
    await set_window(step, world, [{"from": "08-25", "to": "09-30"}])
    assert isinstance(await refusal(step, attempt(grade1.id)), RegistrationClosedError)
    assert [r.record_id for r in await rows_of(step, continuation.id)] == [None]


async def test_a_confirmed_candidate_is_continued(step: Step, world: World, grade1: SchoolClass) -> None:
    # RULES: REG-8, NUM-6
    li = await make_record(step, world.tree.school_b1, "李四", F, B1, rid(B1, F, 0))
    continuation = await import_list(
        step, world.registrar, xlsx(["李思", "女", B1, "居民身份证", rid(B1, F, 0)])
    )
    (row,) = await rows_of(step, continuation.id)
    nothing = await register(step, world, continuation.id, grade1.id)
    async with step() as uow:
        await confirm_candidate(uow, actor=world.registrar, row_id=row.id, record_id=li)

    report = await register(step, world, continuation.id, grade1.id)

    assert nothing.registered == []
    assert [(r.record_id, r.continued) for r in report.registered] == [(li, True)]
    # The record keeps the name it was registered with; a correction is a change request (SEC-6).
    assert (await record(step, li)).name == "李四"
