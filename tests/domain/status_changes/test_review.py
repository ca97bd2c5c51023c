"""A status change's review: effects only on the final approval, rejection, withdrawal, deadlines (STA-1..5)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import pytest
from sqlalchemy import select

from backend.clock import SHANGHAI, FixedClock
from backend.domain.actor import SystemActor
from backend.domain.errors import ValidationError
from backend.domain.status_changes.queries import compulsory_dropouts, list_status_changes
from backend.domain.workflows.engine import act, cancel_workflow
from backend.models import AuditEntry, StudentRecord
from backend.models.enums import BusinessState, DeadlineAction, RecordStatus, Role, StatusChangeType
from tests.domain.records.support import (
    Step,
    World,
    audit_rows,
    history,
    load,
    refusal,
    registered,
    student_values,
)
from tests.domain.status_changes.support import (
    REASON,
    add_class,
    approve_all,
    ask,
    decide,
    senior_record,
    set_setting,
    steps_of,
    stored,
)

T, S = StatusChangeType, RecordStatus


async def primary_record(step: Step, world: World) -> StudentRecord:
    return await registered(step, world.registrar, world.grade3)


async def suspended_record(step: Step, world: World) -> StudentRecord:
    record = await primary_record(step, world)
    await approve_all(step, world, await ask(step, world, record, T.SUSPENSION))
    return await load(step, record.id)


@dataclass(frozen=True)
class Effect:
    change_type: StatusChangeType
    prepare: Callable[[Step, World], Awaitable[StudentRecord]]
    details: dict[str, Any]
    status: RecordStatus
    grade: int
    department: bool  # the default settings send it to the county (STA-2, STA-5)


EFFECTS = [
    Effect(T.SUSPENSION, primary_record, {"expectedReturn": "2027-09-01"}, S.SUSPENDED, 3, False),
    Effect(T.RESUMPTION, suspended_record, {}, S.IN_SCHOOL, 3, False),
    Effect(T.REPEAT, primary_record, {"targetGrade": 2}, S.IN_SCHOOL, 2, True),
    Effect(T.SKIP, primary_record, {"targetGrade": 4}, S.IN_SCHOOL, 4, True),
    Effect(T.DROPOUT, primary_record, {}, S.DROPPED_OUT, 3, True),
    Effect(T.DEATH, primary_record, {"dateOfDeath": "2026-11-20"}, S.DECEASED, 3, True),
    Effect(
        T.STUDY_ABROAD,
        primary_record,
        {"destination": "加拿大", "departureDate": "2026-12-01"},
        S.ABROAD,
        3,
        True,
    ),
    Effect(T.WITHDRAWAL, senior_record, {}, S.WITHDRAWN, 10, True),
    Effect(T.EXPULSION, senior_record, {}, S.EXPELLED, 10, True),
    Effect(T.OTHER_LEAVE, primary_record, {"absentSince": "2026-08-01"}, S.OTHER_LEAVE, 3, True),
]


@pytest.mark.parametrize("effect", EFFECTS, ids=lambda e: str(e.change_type))
async def test_each_type_takes_effect_only_on_the_final_approval(
    step: Step, world: World, effect: Effect
) -> None:  # RULES: STA-1, STA-2, SEC-7
    record = await effect.prepare(step, world)
    before = (record.status, record.grade, record.version)
    change = await ask(step, world, record, effect.change_type, effect.details)
    assert change.state is BusinessState.IN_REVIEW
    assert (change.from_status, change.to_status, change.to_grade) == (
        record.status,
        effect.status,
        effect.grade,
    )

    await decide(step, world.leader, change)
    if effect.department:
        # Approved by the school, not yet by the department: nothing applied (STA-2).
        unchanged = await load(step, record.id)
        assert (unchanged.status, unchanged.grade, unchanged.version) == before
        assert (await stored(step, change)).state is BusinessState.IN_REVIEW
        await decide(step, world.county_registrar, change)

    after = await load(step, record.id)
    assert (after.status, after.grade) == (effect.status, effect.grade)
    assert after.version == before[2] + 1
    done = await stored(step, change)
    assert done.state is BusinessState.COMPLETED
    assert done.decided_at is not None
    last = (await history(step, record.id))[-1]
    assert last.kind == "STATUS_CHANGED"
    assert last.changes["status"] == [str(before[0]), str(effect.status)]
    assert ("grade" in last.changes) is (effect.grade != before[1])
    assert last.proof_ids == change.proof_ids and len(last.proof_ids) == 1
    assert last.reason == REASON
    final_approver = world.county_registrar if effect.department else world.leader
    assert last.user_id == final_approver.user_id
    assert len(await audit_rows(step, "status_change.applied")) == 1 + (effect.change_type is T.RESUMPTION)


async def test_a_rejection_closes_the_request_with_its_reason(step: Step, world: World) -> None:
    # RULES: STA-2 — the department rejects after the school approved: nothing was ever applied.
    record = await primary_record(step, world)
    change = await ask(step, world, record, T.DROPOUT)
    await decide(step, world.leader, change)

    await decide(step, world.county_registrar, change, "reject", "家访核实学生仍在校就读")

    closed = await stored(step, change)
    assert closed.state is BusinessState.REJECTED
    assert closed.decided_at is not None
    assert (await load(step, record.id)).status is S.IN_SCHOOL
    assert [h.kind for h in await history(step, record.id)].count("STATUS_CHANGED") == 0
    rows = await audit_rows(step, "status_change.rejected")
    assert [row.after["reason"] for row in rows] == ["家访核实学生仍在校就读"]


async def test_a_rejection_needs_a_reason(step: Step, world: World) -> None:  # RULES: STA-2
    record = await primary_record(step, world)
    change = await ask(step, world, record, T.SUSPENSION)

    error = await refusal(
        step,
        lambda uow: act(
            uow, actor=world.leader, instance_id=change.workflow_id or 0, action="reject", comment=" "
        ),
    )

    assert error.code == "REASON_REQUIRED"
    assert (await stored(step, change)).state is BusinessState.IN_REVIEW


async def test_the_registrar_withdraws_and_may_ask_again(step: Step, world: World) -> None:  # RULES: STA-2
    record = await primary_record(step, world)
    change = await ask(step, world, record, T.SUSPENSION)

    await decide(step, world.registrar, change, "withdraw")

    assert (await stored(step, change)).state is BusinessState.WITHDRAWN
    assert (await load(step, record.id)).status is S.IN_SCHOOL
    assert len(await audit_rows(step, "status_change.withdrawn")) == 1
    again = await ask(step, world, record, T.SUSPENSION)
    assert again.state is BusinessState.IN_REVIEW


async def test_a_cancelled_review_cancels_the_request(step: Step, world: World) -> None:  # RULES: STA-2
    record = await primary_record(step, world)
    change = await ask(step, world, record, T.DROPOUT)

    async with step() as uow:
        await cancel_workflow(
            uow, actor=SystemActor(), instance_id=change.workflow_id or 0, reason="毕业前清理"
        )

    assert (await stored(step, change)).state is BusinessState.CANCELLED
    assert (await load(step, record.id)).status is S.IN_SCHOOL


async def test_the_department_reviews_only_the_types_the_province_sends_it(
    step: Step, world: World
) -> None:  # RULES: STA-2, STA-5, CFG-2
    record = await primary_record(step, world)
    suspension = await ask(step, world, record, T.SUSPENSION)
    assert [(s.acting_unit_id, s.acting_role) for s in await steps_of(step, suspension)] == [
        (world.tree.school_a1.id, Role.LEADER)
    ]
    await decide(step, world.registrar, suspension, "withdraw")

    dropout = await ask(step, world, record, T.DROPOUT)
    assert [(s.acting_unit_id, s.acting_role) for s in await steps_of(step, dropout)] == [
        (world.tree.school_a1.id, Role.LEADER),
        (world.tree.county_a.id, Role.REGISTRAR),
    ]
    await decide(step, world.registrar, dropout, "withdraw")

    # The province sends suspension to the department and keeps death at the school (dropout and going
    # abroad always go to the department: STA-5, TRF-9).
    await set_setting(
        step, "status_change.department_review", ["SUSPENSION", "DROPOUT", "STUDY_ABROAD"], world
    )
    assert len(await steps_of(step, await ask(step, world, record, T.SUSPENSION))) == 2
    other = await registered(step, world.registrar, world.grade3, student_values("李四", seq=8))
    assert len(await steps_of(step, await ask(step, world, other, T.DEATH))) == 1


async def test_a_dropout_gives_the_department_15_working_days(
    step: Step, world: World, clock: FixedClock
) -> None:  # RULES: STA-5, TRF-4
    # The school's leader approves on Wednesday 2026-09-30. National Day (10-01..10-07) does not count,
    # the make-up Saturday 10-10 does: working days 10-08, 09, 10, 12..16, 19..23, 26, 27 → due 10-27.
    clock.set(datetime(2026, 9, 30, 9, 0, tzinfo=SHANGHAI))
    record = await primary_record(step, world)
    dropout = await ask(step, world, record, T.DROPOUT)
    await decide(step, world.leader, dropout)

    school, department = await steps_of(step, dropout)
    assert (school.deadline_working_days, school.due_on) == (10, date(2026, 10, 20))
    assert (department.deadline_working_days, department.due_on) == (15, date(2026, 10, 27))
    assert department.on_deadline is DeadlineAction.RECORD_OVERDUE


async def test_a_dropout_review_is_never_approved_by_the_clock(
    step: Step, world: World, clock: FixedClock
) -> None:  # RULES: STA-5, TRF-4
    # A province counting late steps as approved (AH 24) still has the dropout reviewed in 15 days.
    await set_setting(step, "workflow.deadline_action", "APPROVE", world)
    await set_setting(step, "workflow.deadline_days", 20, world)
    record = await primary_record(step, world)
    dropout = await ask(step, world, record, T.DROPOUT)
    other = await registered(step, world.registrar, world.grade3, student_values("李四", seq=8))
    death = await ask(step, world, other, T.DEATH)

    dropout_steps = [(s.deadline_working_days, s.on_deadline) for s in await steps_of(step, dropout)]
    death_steps = [(s.deadline_working_days, s.on_deadline) for s in await steps_of(step, death)]
    assert dropout_steps == [(20, DeadlineAction.APPROVE), (15, DeadlineAction.RECORD_OVERDUE)]
    assert death_steps == [(20, DeadlineAction.APPROVE), (20, DeadlineAction.APPROVE)]


async def test_a_compulsory_dropout_keeps_its_record_and_is_listed(step: Step, world: World) -> None:
    # RULES: STA-5, STA-4 — kept, status DROPPED_OUT, on the department's list; a senior dropout is not.
    record = await primary_record(step, world)
    senior = await senior_record(step, world)
    for student in (record, senior):
        await approve_all(step, world, await ask(step, world, student, T.DROPOUT))

    kept = await load(step, record.id)
    assert (kept.status, str(kept.registration_state)) == (S.DROPPED_OUT, "REGISTERED")
    async with step() as uow:
        page = await compulsory_dropouts(
            uow.session, world.county_registrar, first=10, after=None, max_page=100
        )
        elsewhere = await compulsory_dropouts(
            uow.session, world.c1_registrar, first=10, after=None, max_page=100
        )
        still_there = await uow.session.scalar(select(StudentRecord).where(StudentRecord.id == record.id))
    assert [r.id for r in page.items] == [record.id]
    assert elsewhere.items == []
    assert still_there is not None
    applied = await audit_rows(step, "status_change.applied")
    assert [row.after["compulsoryDropout"] for row in applied] == [True, False]


async def test_repeat_moves_to_a_named_class_of_the_new_grade(
    step: Step, world: World
) -> None:  # RULES: STA-1
    record = await primary_record(step, world)
    grade2 = await add_class(step, world, 2)
    change = await ask(step, world, record, T.REPEAT, {"targetGrade": 2, "classId": grade2.id})
    await approve_all(step, world, change)

    moved = await load(step, record.id)
    assert (moved.grade, moved.class_id) == (2, grade2.id)
    assert (await history(step, record.id))[-1].changes["classId"] == [world.grade3.id, grade2.id]


async def test_without_a_class_the_student_keeps_the_old_class(
    step: Step, world: World
) -> None:  # RULES: STA-1
    record = await primary_record(step, world)
    await approve_all(step, world, await ask(step, world, record, T.SKIP, {"targetGrade": 4}))

    moved = await load(step, record.id)
    assert (moved.grade, moved.class_id) == (4, world.grade3.id)


async def test_an_outdated_request_cannot_be_approved(step: Step, world: World) -> None:
    # RULES: STA-2 — the record left the status the request started from: the approval is refused.
    record = await primary_record(step, world)
    change = await ask(step, world, record, T.SUSPENSION)
    async with step() as uow:
        row = await uow.session.get(StudentRecord, record.id)
        assert row is not None
        row.status = S.GRADUATED

    error = await refusal(
        step,
        lambda uow: act(
            uow, actor=world.leader, instance_id=change.workflow_id or 0, action="approve", comment=None
        ),
    )

    assert error.code == "STATUS_CHANGE_OUTDATED"
    assert (await stored(step, change)).state is BusinessState.IN_REVIEW


async def test_lists_stay_within_jurisdiction(step: Step, world: World) -> None:  # RULES: ORG-3
    record = await primary_record(step, world)
    change = await ask(step, world, record, T.SUSPENSION)

    async with step() as uow:
        session = uow.session

        async def ids(actor: Any, **kw: Any) -> list[int]:
            page = await list_status_changes(session, actor, first=10, after=None, max_page=100, **kw)
            return [row.id for row in page.items]

        assert await ids(world.county_leader) == [change.id]
        assert await ids(world.leader, state=BusinessState.IN_REVIEW, record_id=record.id) == [change.id]
        assert await ids(world.leader, change_type=T.DROPOUT) == []
        assert await ids(world.c1_registrar) == []
        assert await ids(world.a2_registrar) == []
        audit = await session.scalar(
            select(AuditEntry).where(AuditEntry.operation == "status_change.requested")
        )
    assert audit is not None and audit.after["recordId"] == record.id


@pytest.mark.parametrize("kept_at_school", ["DROPOUT", "STUDY_ABROAD"])
async def test_dropout_and_going_abroad_always_reach_the_department(
    step: Step, world: World, kept_at_school: str
) -> None:  # RULES: STA-5, TRF-9
    reviewed = [t for t in ("DROPOUT", "STUDY_ABROAD", "DEATH") if t != kept_at_school]
    with pytest.raises(ValidationError) as refused:
        await set_setting(step, "status_change.department_review", reviewed, world)
    assert refused.value.field == "value"
