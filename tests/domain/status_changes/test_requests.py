"""Asking for a status change: who may, with what, for which record; every refusal writes nothing."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from backend.db import UnitOfWork
from backend.domain.records.service import delete_record
from backend.domain.status_changes.service import request_status_change
from backend.models import StudentRecord, Transfer
from backend.models.enums import BusinessState, RecordStatus, StatusChangeType, TransferKind
from tests.domain.factories import make_proof
from tests.domain.records.support import Step, World, refusal, register, registered, student_values
from tests.domain.status_changes.support import add_class, ask, proof, senior_record, set_setting, written

T, S = StatusChangeType, RecordStatus


@pytest.fixture
async def record(step: Step, world: World) -> StudentRecord:
    return await registered(step, world.registrar, world.grade3)


def asking(
    world: World,
    record_id: int,
    change_type: StatusChangeType,
    details: dict[str, Any] | None = None,
    *,
    proof_ids: list[int],
    reason: str = "家长申请",
    actor: Any = None,
) -> Callable[[UnitOfWork], Awaitable[Any]]:
    return lambda uow: request_status_change(
        uow,
        actor=actor or world.registrar,
        record_id=record_id,
        change_type=change_type,
        reason=reason,
        proof_ids=proof_ids,
        details=details or {},
    )


async def test_only_the_schools_registrar_asks(step: Step, world: World, record: StudentRecord) -> None:
    # RULES: STA-2, ORG-2, ORG-3 — another school sees no record; departments and leaders never start one.
    proof_id = await proof(step, world)
    expected = {
        "a2_registrar": ("NOT_FOUND", "recordId"),
        "c1_registrar": ("NOT_FOUND", "recordId"),
        "county_registrar": ("FORBIDDEN", None),
        "county_leader": ("FORBIDDEN", None),
        "leader": ("FORBIDDEN", None),
        "school_admin": ("FORBIDDEN", None),
        "province_admin": ("FORBIDDEN", None),
    }
    for name, outcome in expected.items():
        error = await refusal(
            step, asking(world, record.id, T.SUSPENSION, proof_ids=[proof_id], actor=getattr(world, name))
        )
        assert (error.code, error.field) == outcome, name
    assert await written(step) == (0, 0, 0)


async def test_proof_is_required(step: Step, world: World, record: StudentRecord) -> None:  # RULES: STA-2
    error = await refusal(step, asking(world, record.id, T.SUSPENSION, proof_ids=[]))
    assert (error.code, error.field) == ("PROOF_REQUIRED", "proofIds")

    async with step() as uow:
        foreign = await make_proof(uow, world.tree.school_a2)
    error = await refusal(step, asking(world, record.id, T.SUSPENSION, proof_ids=[foreign]))
    assert (error.code, error.field) == ("NOT_FOUND", "proofIds")
    assert await written(step) == (0, 0, 0)


async def test_a_request_stores_what_it_will_do_and_starts_the_review(
    step: Step, world: World, record: StudentRecord
) -> None:  # RULES: STA-2
    change = await ask(
        step, world, record, T.STUDY_ABROAD, {"destination": " 新加坡 ", "departureDate": "2026-12-01"}
    )

    assert (change.from_status, change.to_status) == (S.IN_SCHOOL, S.ABROAD)
    assert (change.from_grade, change.to_grade) == (3, 3)
    assert change.details == {"destination": "新加坡", "departureDate": "2026-12-01"}
    assert change.created_by_id == world.registrar.user_id
    assert change.workflow_id is not None
    assert await written(step) == (1, 1, 1)


@pytest.mark.parametrize(
    ("stage_types", "change_type"),
    [
        (None, T.WITHDRAWAL),  # the national default: no withdrawal in compulsory education
        (None, T.EXPULSION),
        ([t for t in T if t is not T.SKIP], T.SKIP),  # this province offers no skipping in primary
    ],
    ids=["withdrawal", "expulsion", "skip-switched-off"],
)
async def test_the_province_decides_which_types_a_stage_offers(
    step: Step,
    world: World,
    record: StudentRecord,
    stage_types: list[Any] | None,
    change_type: StatusChangeType,
) -> None:  # RULES: STA-3, CFG-2
    if stage_types is not None:
        every = [str(t) for t in T]
        await set_setting(
            step,
            "status_change.allowed",
            {"PRIMARY": [str(t) for t in stage_types], "JUNIOR": every, "SENIOR": every, "VOCATIONAL": every},
            world,
        )
    proof_id = await proof(step, world)

    error = await refusal(
        step, asking(world, record.id, change_type, {"targetGrade": 4}, proof_ids=[proof_id])
    )

    assert (error.code, error.field) == ("STATUS_CHANGE_NOT_ALLOWED", "changeType")
    assert await written(step) == (0, 0, 0)


async def test_a_senior_school_may_withdraw_and_expel(step: Step, world: World) -> None:  # RULES: STA-3
    senior = await senior_record(step, world)
    assert (await ask(step, world, senior, T.WITHDRAWAL)).to_status is S.WITHDRAWN


async def test_other_leave_only_after_three_months(step: Step, world: World, record: StudentRecord) -> None:
    # RULES: STA-4 — today is 2026-11-25 (the injected clock): gone since 08-26 is not yet three months.
    proof_id = await proof(step, world)
    error = await refusal(
        step, asking(world, record.id, T.OTHER_LEAVE, {"absentSince": "2026-08-26"}, proof_ids=[proof_id])
    )
    assert (error.code, error.field) == ("ABSENCE_TOO_SHORT", "details.absentSince")
    assert await written(step) == (0, 0, 0)

    change = await ask(step, world, record, T.OTHER_LEAVE, {"absentSince": "2026-08-25"})
    assert change.to_status is S.OTHER_LEAVE


async def _graduated(step: Step, world: World) -> StudentRecord:
    record = await registered(step, world.registrar, world.grade6, student_values("毕业生", seq=21))
    async with step() as uow:
        row = await uow.session.get(StudentRecord, record.id)
        assert row is not None
        row.status = S.GRADUATED
    return record


async def _draft(step: Step, world: World) -> StudentRecord:
    return await register(step, world.registrar, world.grade3, student_values("草稿生", seq=22))


async def _grade1(step: Step, world: World) -> StudentRecord:
    return await registered(step, world.registrar, world.grade1, student_values("一年级", seq=23))


async def _grade6(step: Step, world: World) -> StudentRecord:
    return await registered(step, world.registrar, world.grade6, student_values("六年级", seq=24))


BAD_INPUT: list[tuple[str, Any, StatusChangeType, dict[str, Any], str, tuple[str, str | None]]] = [
    ("empty reason", None, T.SUSPENSION, {}, "  ", ("REASON_REQUIRED", "reason")),
    ("long reason", None, T.SUSPENSION, {}, "因" * 501, ("INVALID_INPUT", "reason")),
    ("resume while in school", None, T.RESUMPTION, {}, "r", ("INVALID_STATUS_FOR_CHANGE", "changeType")),
    ("graduated", _graduated, T.SUSPENSION, {}, "r", ("INVALID_STATUS_FOR_CHANGE", "changeType")),
    ("draft", _draft, T.SUSPENSION, {}, "r", ("INVALID_REGISTRATION_STATE", "recordId")),
    ("repeat without grade", None, T.REPEAT, {}, "r", ("INVALID_DETAILS", "details.targetGrade")),
    (
        "repeat two grades",
        None,
        T.REPEAT,
        {"targetGrade": 1},
        "r",
        ("INVALID_DETAILS", "details.targetGrade"),
    ),
    (
        "repeat grade 1",
        _grade1,
        T.REPEAT,
        {"targetGrade": 0},
        "r",
        ("INVALID_DETAILS", "details.targetGrade"),
    ),
    (
        "skip out of primary",
        _grade6,
        T.SKIP,
        {"targetGrade": 7},
        "r",
        ("INVALID_DETAILS", "details.targetGrade"),
    ),
    ("unknown fact", None, T.DROPOUT, {"note": "x"}, "r", ("INVALID_DETAILS", "details.note")),
    ("abroad nowhere", None, T.STUDY_ABROAD, {}, "r", ("INVALID_DETAILS", "details.destination")),
    ("leave without date", None, T.OTHER_LEAVE, {}, "r", ("INVALID_DETAILS", "details.absentSince")),
    (
        "class of another school",
        "a2",
        T.REPEAT,
        {"targetGrade": 2},
        "r",
        ("NOT_FOUND", "details.classId"),
    ),
    (
        "class of the old grade",
        "own",
        T.REPEAT,
        {"targetGrade": 2},
        "r",
        ("INVALID_DETAILS", "details.classId"),
    ),
]


@pytest.mark.parametrize(
    ("prepare", "change_type", "details", "reason", "expected"),
    [case[1:] for case in BAD_INPUT],
    ids=[case[0] for case in BAD_INPUT],
)
async def test_bad_input_is_refused_with_its_code_and_writes_nothing(
    step: Step,
    world: World,
    record: StudentRecord,
    prepare: Any,
    change_type: StatusChangeType,
    details: dict[str, Any],
    reason: str,
    expected: tuple[str, str | None],
) -> None:  # RULES: STA-1, STA-2, STA-4, CHG-7, REG-4
    target = record
    details = dict(details)
    if prepare == "a2":
        details["classId"] = world.a2_grade3.id
    elif prepare == "own":
        details["classId"] = world.grade3.id
    elif prepare is not None:
        target = await prepare(step, world)
    proof_id = await proof(step, world)

    error = await refusal(
        step, asking(world, target.id, change_type, details, proof_ids=[proof_id], reason=reason)
    )

    assert (error.code, error.field) == expected
    assert await written(step) == (0, 0, 0)


async def test_one_status_change_at_a_time(step: Step, world: World, record: StudentRecord) -> None:
    # RULES: STA-2 — the engine's one-open-per-subject index backs the check.
    await ask(step, world, record, T.SUSPENSION)
    proof_id = await proof(step, world)

    error = await refusal(step, asking(world, record.id, T.DROPOUT, proof_ids=[proof_id]))

    assert (error.code, error.field) == ("STATUS_CHANGE_OPEN", "recordId")
    assert (await written(step))[0] == 1


async def test_no_status_change_during_a_transfer(step: Step, world: World, record: StudentRecord) -> None:
    # RULES: STA-2, TRF-1 — the record is in a transfer to school A2.
    async with step() as uow:
        uow.session.add(
            Transfer(
                kind=TransferKind.TRANSFER,
                record_id=record.id,
                cross_province=False,
                receiving_school_id=world.tree.school_a2.id,
                receiving_path=world.tree.school_a2.path,
                sending_school_id=world.tree.school_a1.id,
                sending_path=world.tree.school_a1.path,
                reason="随父母迁居",
                application_ids=[],
                details={},
                state=BusinessState.IN_REVIEW,
                created_at=uow.clock.now(),
            )
        )
    proof_id = await proof(step, world)

    error = await refusal(step, asking(world, record.id, T.SUSPENSION, proof_ids=[proof_id]))

    assert (error.code, error.field) == ("TRANSFER_OPEN", "recordId")
    assert await written(step) == (0, 0, 0)


async def test_a_retry_with_the_same_key_returns_the_first_request(
    step: Step, world: World, record: StudentRecord
) -> None:  # RULES: STA-2
    proof_id = await proof(step, world)
    first = await ask(step, world, record, T.SUSPENSION, key="k-1", proof_ids=[proof_id])
    again = await ask(step, world, record, T.SUSPENSION, key="k-1", proof_ids=[proof_id])

    assert again.id == first.id
    assert await written(step) == (1, 1, 1)
    other = await registered(step, world.registrar, world.grade3, student_values("李四", seq=8))
    # The key started a request for another record: refused, not replayed.
    error = await refusal(
        step,
        lambda uow: request_status_change(
            uow,
            actor=world.registrar,
            record_id=other.id,
            change_type=T.SUSPENSION,
            reason="r",
            proof_ids=[proof_id],
            details={},
            idempotency_key="k-1",
        ),
    )
    assert (error.code, error.field) == ("INVALID_IDEMPOTENCY_KEY", "idempotencyKey")


async def test_a_class_of_the_new_grade_is_checked(step: Step, world: World, record: StudentRecord) -> None:
    # RULES: STA-1 — the class named for a repeat is this school's, of the grade moved to.
    grade2 = await add_class(step, world, 2)
    change = await ask(step, world, record, T.REPEAT, {"targetGrade": 2, "classId": str(grade2.id)})
    assert change.details == {"targetGrade": 2, "classId": grade2.id}


async def test_a_record_under_review_cannot_be_deleted(
    step: Step, world: World, record: StudentRecord
) -> None:
    # RULES: STA-2, NUM-4 — one business at a time: the record stays while its status change is decided
    await ask(step, world, record, StatusChangeType.SUSPENSION)

    async def delete(uow: UnitOfWork) -> Any:
        return await delete_record(uow, actor=world.registrar, record_id=record.id, reason="误录")

    error = await refusal(step, delete)
    assert error.code == "RECORD_BUSY"
