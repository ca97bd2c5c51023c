"""National numbers over a record's life: L on creation, G or J on approval, history kept (NUM-1..7, PRB-1)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest
from sqlalchemy import select

from backend.clock import FixedClock
from backend.config import Settings
from backend.db import Database, UnitOfWork
from backend.domain.actor import SystemActor
from backend.domain.records import numbers
from backend.domain.records.id_numbers import check_digit, make_resident_id
from backend.domain.records.identity import LocalIdentityVerifier
from backend.domain.records.national_numbers import NationalNumberKind, parse_national_number
from backend.domain.records.numbers import Promotion, promote_number
from backend.domain.records.service import delete_record, finalize_registration, submit_registration
from backend.domain.settings import set_province_setting
from backend.models import NationalNumberHistory, ProblemRecord, RecordHistory, StudentRecord
from backend.models.enums import (
    Gender,
    IdType,
    NumberKind,
    ProblemState,
    ProblemType,
    RegistrationState,
)
from tests.domain.records.support import (
    Step,
    World,
    build_world,
    load,
    refusal,
    register,
    registered,
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


def digits(*values: str) -> Iterator[str]:
    yield from values
    while True:
        yield "9999"


async def number_history(step: Step, record_id: int) -> list[tuple[str, NumberKind, bool]]:
    """(number, kind, still valid) for each number the record held, oldest first."""
    async with step() as uow:
        rows = await uow.session.scalars(
            select(NationalNumberHistory)
            .where(NationalNumberHistory.record_id == record_id)
            .order_by(NationalNumberHistory.id)
        )
        return [(row.number, row.kind, row.valid_until is None) for row in rows]


async def problems(step: Step) -> list[ProblemRecord]:
    async with step() as uow:
        return list(await uow.session.scalars(select(ProblemRecord).order_by(ProblemRecord.id)))


# --- L: temporary ----------------------------------------------------------------------------------


async def test_temporary_number_on_creation(
    step: Step, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # RULES: NUM-3, NUM-7
    monkeypatch.setattr(numbers, "random_digits", digits("0427").__next__)

    record = await register(step, world.registrar, world.grade3)

    assert record.national_number == "L340102201803150427"
    assert record.number_kind is NumberKind.L
    assert await number_history(step, record.id) == [("L340102201803150427", NumberKind.L, True)]


async def test_temporary_number_never_repeats_a_live_or_past_number(
    step: Step, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # RULES: NUM-3, NUM-6
    monkeypatch.setattr(numbers, "CANDIDATES_PER_QUERY", 1)
    monkeypatch.setattr(
        numbers, "random_digits", digits("1234", "1234", "5678", "1234", "5678", "2468").__next__
    )
    first = await registered(step, world.registrar, world.grade3)  # L…1234, then G
    second = await register(step, world.registrar, world.grade3, student_values("李小红", seq=1))

    third = await register(step, world.registrar, world.grade3, student_values("王小刚", seq=2))

    assert (await load(step, first.id)).number_kind is NumberKind.G
    assert second.national_number == "L340102201803155678"
    assert third.national_number == "L340102201803152468"


async def test_temporary_number_holder_is_an_ordinary_record(step: Step, world: World) -> None:
    # RULES: NUM-3
    verifier = LocalIdentityVerifier(population={ID_NUMBER: "别人"})
    record = await registered(step, world.registrar, world.grade3, verifier=verifier)

    stored = await load(step, record.id)

    assert stored.number_kind is NumberKind.L
    assert stored.registration_state is RegistrationState.REGISTERED


# --- G: official with resident ID ------------------------------------------------------------------


async def test_g_number_after_identity_match(step: Step, world: World) -> None:
    # RULES: NUM-1, NUM-7, REG-4
    record = await registered(step, world.registrar, world.grade3)

    stored = await load(step, record.id)
    assert stored.national_number == "G" + ID_NUMBER
    assert stored.number_kind is NumberKind.G
    history = await number_history(step, record.id)
    assert [(kind, valid) for _, kind, valid in history] == [(NumberKind.L, False), (NumberKind.G, True)]
    async with step() as uow:
        issued = list(
            await uow.session.scalars(select(RecordHistory).where(RecordHistory.kind == "NUMBER_ISSUED"))
        )
    assert [row.changes["nationalNumber"][1] for row in issued] == ["G" + ID_NUMBER]


@pytest.mark.parametrize(
    ("verifier", "detail"),
    [
        (LocalIdentityVerifier(population={ID_NUMBER: "张晓明"}), "姓名和身份证号不匹配"),
        (LocalIdentityVerifier(strict=True), "身份证号不存在"),
    ],
)
async def test_identity_mismatch_keeps_l_and_opens_a_type_1_problem(
    step: Step, world: World, verifier: LocalIdentityVerifier, detail: str
) -> None:
    # RULES: PRB-1, NUM-1
    record = await registered(step, world.registrar, world.grade3, verifier=verifier)

    stored = await load(step, record.id)
    assert stored.number_kind is NumberKind.L
    found = await problems(step)
    assert [(p.record_id, p.problem_type, p.group_key, p.state, p.detail) for p in found] == [
        (record.id, ProblemType.ID_ERROR, ID_NUMBER, ProblemState.OPEN, detail)
    ]
    assert found[0].unit_path == world.tree.school_a1.path


async def test_g_number_waits_while_another_record_holds_the_id(step: Step, world: World) -> None:
    # RULES: NUM-1, PRB-2
    await register(step, world.c1_registrar, world.c1_grade3)
    record = await register(step, world.registrar, world.grade3, from_import_of_existing=True)

    async with step() as uow:
        stored = await submit_registration(uow, actor=world.registrar, record_id=record.id)
        outcome = await finalize_registration(
            uow, stored, approved=True, reason=None, verifier=LocalIdentityVerifier()
        )

    assert outcome is Promotion.DUPLICATE
    assert (await load(step, record.id)).number_kind is NumberKind.L


async def test_changed_id_number_gives_a_new_g_number_keeping_history(step: Step, world: World) -> None:
    # RULES: NUM-5, NUM-6
    record = await registered(step, world.registrar, world.grade3)
    corrected = make_resident_id("340103", BIRTH, 0, Gender.MALE)

    async with step() as uow:  # what an approved change request of the ID number leaves behind
        stored = await uow.session.get(StudentRecord, record.id)
        assert stored is not None
        stored.id_number = corrected
        outcome = await promote_number(uow, stored, LocalIdentityVerifier())

    assert outcome is Promotion.ISSUED
    assert (await load(step, record.id)).national_number == "G" + corrected
    history = await number_history(step, record.id)
    assert [(number[:1], valid) for number, _, valid in history] == [("L", False), ("G", False), ("G", True)]


# --- J: official without resident ID ---------------------------------------------------------------


async def test_j_number_for_a_student_without_id(step: Step, world: World) -> None:
    # RULES: NUM-2, NUM-7
    first = await registered(step, world.registrar, world.grade3, student_values(id_type=IdType.NONE))
    second = await registered(
        step,
        world.registrar,
        world.grade3,
        student_values("李小红", gender=Gender.FEMALE, id_type=IdType.NONE),
    )

    body = "34010220180315000"
    assert (await load(step, first.id)).national_number == "J" + body + check_digit(body)
    number = parse_national_number((await load(step, second.id)).national_number)
    assert (number.kind, number.area_code, number.birth_date, number.serial) == (
        NationalNumberKind.J,
        "340102",
        BIRTH,
        "001",
    )


async def test_no_j_number_while_a_type_3_duplicate_is_open(step: Step, world: World) -> None:
    # RULES: NUM-2, PRB-3
    await register(step, world.c1_registrar, world.c1_grade3, student_values(id_type=IdType.NONE))
    record = await register(step, world.registrar, world.grade3, student_values(id_type=IdType.NONE))

    async with step() as uow:
        stored = await submit_registration(uow, actor=world.registrar, record_id=record.id)
        outcome = await finalize_registration(
            uow, stored, approved=True, reason=None, verifier=LocalIdentityVerifier()
        )
    assert outcome is Promotion.DUPLICATE

    async with step() as uow:  # the department confirmed the evidence (PRB-3)
        for problem in await uow.session.scalars(select(ProblemRecord)):
            problem.state = ProblemState.CONFIRMED
        stored = await uow.session.get(StudentRecord, record.id)
        assert stored is not None
        assert await promote_number(uow, stored, LocalIdentityVerifier()) is Promotion.ISSUED
    assert (await load(step, record.id)).number_kind is NumberKind.J


async def test_j_number_becomes_g_once_the_id_is_added_keeping_history(step: Step, world: World) -> None:
    # RULES: NUM-2, NUM-6
    record = await registered(step, world.registrar, world.grade3, student_values(id_type=IdType.NONE))
    j_number = (await load(step, record.id)).national_number

    async with step() as uow:  # what an approved change request adding the ID leaves behind
        stored = await uow.session.get(StudentRecord, record.id)
        assert stored is not None
        stored.id_type, stored.id_number = IdType.RESIDENT_ID, ID_NUMBER
        assert await promote_number(uow, stored, LocalIdentityVerifier()) is Promotion.ISSUED
        assert await promote_number(uow, stored, LocalIdentityVerifier()) is Promotion.UNCHANGED

    history = await number_history(step, record.id)
    assert [(number, kind, valid) for number, kind, valid in history][1:] == [
        (j_number, NumberKind.J, False),
        ("G" + ID_NUMBER, NumberKind.G, True),
    ]
    assert history[0][1:] == (NumberKind.L, False)


# --- deleting official numbers ---------------------------------------------------------------------


async def test_g_number_is_not_deleted_unless_the_province_allows(step: Step, world: World) -> None:
    # RULES: NUM-4, CFG-2
    record = await registered(step, world.registrar, world.grade3)

    async def delete(uow: UnitOfWork) -> None:
        await delete_record(uow, actor=world.registrar, record_id=record.id, reason="重复建籍")

    error = await refusal(step, delete)
    assert error.code == "OFFICIAL_NUMBER_PROTECTED"
    assert (await load(step, record.id)).registration_state is RegistrationState.REGISTERED

    async with step() as uow:
        await set_province_setting(
            uow,
            actor=SystemActor(),
            province_id=world.tree.province.id,
            key="switch.may_delete_official_number",
            value=True,
        )
    async with step() as uow:
        await delete(uow)

    deleted = await load(step, record.id)
    assert deleted.registration_state is RegistrationState.DELETED
    assert [valid for _, _, valid in await number_history(step, record.id)] == [False, False]


async def test_temporary_number_holder_is_deleted_with_a_reason(step: Step, world: World) -> None:
    # RULES: NUM-3, NUM-4, SEC-7
    record = await register(step, world.registrar, world.grade3)

    async def no_reason(uow: UnitOfWork) -> None:
        await delete_record(uow, actor=world.registrar, record_id=record.id, reason="  ")

    assert (await refusal(step, no_reason)).field == "reason"
    async with step() as uow:
        await delete_record(uow, actor=world.registrar, record_id=record.id, reason="误录")
        rows = list(await uow.session.scalars(select(RecordHistory).where(RecordHistory.kind == "DELETED")))
    assert [(row.reason, row.user_id) for row in rows] == [("误录", world.registrar.user_id)]


async def test_the_same_person_registered_again_after_deletion_gets_the_g_number_back(
    step: Step, world: World
) -> None:
    # RULES: NUM-4, NUM-6
    first = await registered(step, world.registrar, world.grade3)
    async with step() as uow:
        await set_province_setting(
            uow,
            actor=SystemActor(),
            province_id=world.tree.province.id,
            key="switch.may_delete_official_number",
            value=True,
        )
        await delete_record(uow, actor=world.registrar, record_id=first.id, reason="误删测试")
    second = await register(step, world.registrar, world.grade3)

    async with step() as uow:
        stored = await submit_registration(uow, actor=world.registrar, record_id=second.id)
        outcome = await finalize_registration(
            uow, stored, approved=True, reason=None, verifier=LocalIdentityVerifier()
        )

    # One person, one number for life: the deleted record keeps its number and hands the same G back.
    assert outcome is Promotion.ISSUED
    again, gone = await load(step, second.id), await load(step, first.id)
    assert again.number_kind is NumberKind.G
    assert again.national_number == gone.national_number == "G" + again.id_number
