"""Transfers through the services and the approval engine (TRF-1..8), on a real database."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from backend.calendar import load_calendar
from backend.clock import local_today, shanghai
from backend.domain.actor import SystemActor
from backend.domain.records.id_numbers import make_resident_id
from backend.domain.records.national_numbers import g_number
from backend.domain.transfers.queries import view_of
from backend.domain.transfers.service import retrieve_file
from backend.domain.transfers.workflow import (
    RETRIEVAL_STEP,
    SHARED_DEPARTMENT_STEP,
)
from backend.domain.workflows.engine import act, cancel_workflow
from backend.domain.workflows.outcomes import run_batch_outcome_handlers
from backend.domain.workflows.queries import get_instance
from backend.models import AuditEntry, StatusChange, Transfer, WorkflowInstance
from backend.models.enums import (
    BusinessState,
    DeadlineAction,
    Gender,
    RecordStatus,
    RegistrationState,
    Role,
    Stage,
    StatusChangeType,
    StepKind,
    WorkflowState,
)
from tests.domain.transfers.support import (
    World,
    approve,
    approve_reviews,
    audit_operations,
    counts,
    decide,
    history_kinds,
    instance_of,
    record_of,
    refusal,
    set_province,
    start,
    steps_of,
    student,
    to_do_of,
    transfer_of,
)


def parties(steps: list) -> list[tuple[int, Role, StepKind]]:
    return [(step.acting_unit_id, step.acting_role, step.kind) for step in steps]


# --- TRF-1: who reviews, in which order -----------------------------------------------------------------


async def test_four_parties_review_in_order_each_finding_it_in_its_to_do(w: World) -> None:  # RULES: TRF-1
    t = w.tree
    record = await student(w, w.classes["b1.g3"])
    view = await start(w, w["a1.reg"], record, w.classes["a1.g3"])
    workflow_id = view.transfer.workflow_id

    assert view.state is BusinessState.IN_REVIEW
    assert parties(await steps_of(w, workflow_id)) == [
        (t.school_a1.id, Role.LEADER, StepKind.REVIEW),
        (t.county_a.id, Role.REGISTRAR, StepKind.REVIEW),
        (t.school_b1.id, Role.LEADER, StepKind.REVIEW),
        (t.county_b.id, Role.REGISTRAR, StepKind.REVIEW),
    ]
    order = [w["a1.lead"], w["ca.reg"], w["b1.lead"], w["cb.reg"]]
    for turn, actor in enumerate(order):
        for other, party in enumerate(order):
            assert (workflow_id in await to_do_of(w, party)) is (other == turn)
        if turn + 1 < len(order):
            early = order[turn + 1]
            error = await refusal(
                w,
                lambda uow, a=early: act(
                    uow, actor=a, instance_id=workflow_id, action="approve", comment=None
                ),
            )
            assert error.code == "FORBIDDEN"
        await approve(w, actor, workflow_id)

    transfer = await transfer_of(w, view.transfer.id)
    moved = await record_of(w, record.id)
    assert transfer.state is BusinessState.COMPLETED
    assert transfer.completed_at is not None
    assert (moved.school_id, moved.class_id, moved.unit_path) == (
        t.school_a1.id,
        w.classes["a1.g3"].id,
        t.school_a1.path,
    )
    assert (await history_kinds(w, record.id))[-1] == "TRANSFERRED"
    assert "record.transferred" in await audit_operations(w)


async def test_a_shared_department_reviews_once_at_the_end(w: World) -> None:  # RULES: TRF-1
    t = w.tree
    record = await student(w, w.classes["a2.g3"])
    view = await start(w, w["a1.reg"], record, w.classes["a1.g3"])
    workflow_id = view.transfer.workflow_id

    steps = await steps_of(w, workflow_id)
    assert parties(steps) == [
        (t.school_a1.id, Role.LEADER, StepKind.REVIEW),
        (t.school_a2.id, Role.LEADER, StepKind.REVIEW),
        (t.county_a.id, Role.REGISTRAR, StepKind.REVIEW),
    ]
    assert steps[-1].name == SHARED_DEPARTMENT_STEP
    await approve(w, w["a1.lead"], workflow_id)
    assert workflow_id not in await to_do_of(w, w["ca.reg"])
    await approve(w, w["a2.lead"], workflow_id)
    assert workflow_id in await to_do_of(w, w["ca.reg"])
    await approve(w, w["ca.reg"], workflow_id)

    assert (await transfer_of(w, view.transfer.id)).state is BusinessState.COMPLETED
    assert (await record_of(w, record.id)).school_id == t.school_a1.id


async def test_the_province_may_keep_both_department_reviews(w: World) -> None:  # RULES: TRF-1
    t = w.tree
    await set_province(w, t.province, "transfer.merge_shared_department", False)
    record = await student(w, w.classes["a2.g3"])

    view = await start(w, w["a1.reg"], record, w.classes["a1.g3"])

    assert parties(await steps_of(w, view.transfer.workflow_id)) == [
        (t.school_a1.id, Role.LEADER, StepKind.REVIEW),
        (t.county_a.id, Role.REGISTRAR, StepKind.REVIEW),
        (t.school_a2.id, Role.LEADER, StepKind.REVIEW),
        (t.county_a.id, Role.REGISTRAR, StepKind.REVIEW),
    ]


async def test_the_stamped_application_is_required(w: World) -> None:  # RULES: TRF-1
    record = await student(w, w.classes["b1.g3"])
    before = await counts(w)

    missing = await refusal(w, lambda uow: _start(uow, w, record, application_ids=[]))
    foreign = await refusal(w, lambda uow: _start(uow, w, record, application_ids=[w.proofs["a2"]]))

    assert (missing.code, missing.field) == ("APPLICATION_REQUIRED", "applicationIds")
    assert (foreign.code, foreign.field) == ("NOT_FOUND", "applicationIds")
    assert await counts(w) == before


async def test_both_departments_see_the_business_in_the_workflow_timeline(w: World) -> None:  # RULES: TRF-1
    record = await student(w, w.classes["b1.g3"])
    view = await start(w, w["a1.reg"], record, w.classes["a1.g3"])
    workflow_id = view.transfer.workflow_id
    assert workflow_id is not None

    async with w.db.read_session() as session:
        seen = {
            name: await get_instance(session, w[name], workflow_id) is not None
            for name in ("a1.reg", "ca.reg", "b1.lead", "cb.reg", "cc.reg", "a2.reg")
        }
    assert seen == {
        "a1.reg": True,
        "ca.reg": True,
        "b1.lead": True,
        "cb.reg": True,
        "cc.reg": False,
        "a2.reg": False,
    }


# --- TRF-2, TRF-3: across provinces, national number, file retrieval, withdrawal --------------------------


async def _approved_across_provinces(w: World) -> tuple[int, int, int | None]:
    record = await student(w, w.classes["p.g3"], region="320102")
    view = await start(w, w["a1.reg"], record, w.classes["a1.g3"])
    await approve_reviews(w, view, w["a1.lead"], w["ca.reg"], w["p.lead"], w["cp.reg"])
    return record.id, view.transfer.id, view.transfer.workflow_id


async def test_a_cross_province_transfer_ends_with_file_retrieval(w: World) -> None:  # RULES: TRF-2
    t = w.tree
    record = await student(w, w.classes["p.g3"], region="320102")
    view = await start(w, w["a1.reg"], record, w.classes["a1.g3"])
    assert view.transfer.cross_province is True
    assert view.transfer.national_number == record.national_number
    workflow_id = view.transfer.workflow_id

    steps = await steps_of(w, workflow_id)
    assert parties(steps) == [
        (t.school_a1.id, Role.LEADER, StepKind.REVIEW),
        (t.county_a.id, Role.REGISTRAR, StepKind.REVIEW),
        (w.school_p.id, Role.LEADER, StepKind.REVIEW),
        (w.county_p.id, Role.REGISTRAR, StepKind.REVIEW),
        (t.school_a1.id, Role.REGISTRAR, StepKind.RETRIEVAL),
    ]
    assert steps[-1].name == RETRIEVAL_STEP
    await approve_reviews(w, view, w["a1.lead"], w["ca.reg"], w["p.lead"], w["cp.reg"])

    async with w.db.read_session() as session:
        transfer = await session.get(Transfer, view.transfer.id)
        assert transfer is not None
        shown = await view_of(session, transfer)
        assert shown.state is BusinessState.AWAITING_RETRIEVAL
        assert shown.approved_at == w.clock.now()
    assert (await record_of(w, record.id)).school_id == w.school_p.id  # nothing moves before retrieval
    assert workflow_id in await to_do_of(w, w["a1.reg"])
    # The retrieval step is not approved like a review: only the retrieval completes it.
    error = await refusal(
        w, lambda uow: act(uow, actor=w["a1.reg"], instance_id=workflow_id, action="approve", comment=None)
    )
    assert error.code == "USE_FILE_RETRIEVAL"

    async with w.uow() as uow:
        done = await retrieve_file(uow, actor=w["a1.reg"], transfer_id=view.transfer.id, reported=True)
    assert done.state is BusinessState.COMPLETED
    moved = await record_of(w, record.id)
    assert (moved.school_id, moved.status) == (t.school_a1.id, RecordStatus.IN_SCHOOL)
    assert (await history_kinds(w, record.id))[-1] == "TRANSFERRED"


async def test_a_cross_province_transfer_needs_the_right_national_number(w: World) -> None:  # RULES: TRF-2
    record = await student(w, w.classes["p.g3"], region="320102")
    other = await student(w, w.classes["p.g3"], region="320102", name="李四")
    unknown = g_number(make_resident_id("320102", date(2018, 3, 15), 490, Gender.MALE))
    before = await counts(w)

    wrong_number = await refusal(w, lambda uow: _start(uow, w, record, national_number=other.national_number))
    malformed = await refusal(w, lambda uow: _start(uow, w, record, national_number="G12345"))
    wrong_name = await refusal(w, lambda uow: _start(uow, w, record, name="王小亮"))
    absent = await refusal(w, lambda uow: _start(uow, w, record, national_number=unknown))

    assert (wrong_number.code, wrong_number.field) == ("STUDENT_NOT_FOUND", "nationalNumber")
    assert (malformed.code, malformed.field) == ("INVALID_NATIONAL_NUMBER", "nationalNumber")
    assert wrong_name.code == "STUDENT_NOT_FOUND"
    assert (absent.code, absent.field) == ("STUDENT_NOT_FOUND", "nationalNumber")
    assert await counts(w) == before


async def test_the_receiving_school_may_withdraw_until_retrieval(w: World) -> None:  # RULES: TRF-2
    record_id, transfer_id, workflow_id = await _approved_across_provinces(w)

    # Only the starter's unit and role withdraws: not the sending side.
    error = await refusal(
        w,
        lambda uow: act(
            uow, actor=w["cp.reg"], instance_id=workflow_id or 0, action="withdraw", comment=None
        ),
    )
    assert error.code == "FORBIDDEN"
    await decide(w, w["a1.reg"], workflow_id, "withdraw", "家长改变主意")

    assert (await transfer_of(w, transfer_id)).state is BusinessState.WITHDRAWN
    assert (await record_of(w, record_id)).school_id == w.school_p.id
    retrieve = await refusal(
        w, lambda uow: retrieve_file(uow, actor=w["a1.reg"], transfer_id=transfer_id, reported=True)
    )
    assert retrieve.code == "NOT_AWAITING_RETRIEVAL"


async def test_withdrawal_during_the_reviews(w: World) -> None:  # RULES: TRF-2
    record = await student(w, w.classes["b1.g3"])
    view = await start(w, w["a1.reg"], record, w.classes["a1.g3"])
    await approve(w, w["a1.lead"], view.transfer.workflow_id)

    await decide(w, w["a1.reg"], view.transfer.workflow_id, "withdraw")

    assert (await transfer_of(w, view.transfer.id)).state is BusinessState.WITHDRAWN
    assert (await record_of(w, record.id)).school_id == w.tree.school_b1.id


async def test_retrieval_is_due_ten_working_days_after_the_last_approval(w: World) -> None:  # RULES: TRF-3
    approved_on = local_today(w.clock)
    _, transfer_id, workflow_id = await _approved_across_provinces(w)

    retrieval = (await steps_of(w, workflow_id))[-1]
    async with w.db.read_session() as session:
        calendar = await load_calendar(session)
    assert retrieval.kind is StepKind.RETRIEVAL
    assert (retrieval.deadline_working_days, retrieval.on_deadline) == (10, DeadlineAction.CANCEL)
    assert retrieval.due_on == calendar.add_working_days(approved_on, 10) == date(2026, 12, 9)

    # On the last day it is still done; the day after it is refused, and the sweep cancels (TRF-3).
    w.clock.set(shanghai(2026, 12, 10, 9, 0))
    late = await refusal(
        w, lambda uow: retrieve_file(uow, actor=w["a1.reg"], transfer_id=transfer_id, reported=True)
    )
    assert late.code == "RETRIEVAL_EXPIRED"
    w.clock.set(shanghai(2026, 12, 9, 17, 0))
    async with w.uow() as uow:
        done = await retrieve_file(uow, actor=w["a1.reg"], transfer_id=transfer_id, reported=True)
    assert done.state is BusinessState.COMPLETED


async def test_retrieval_only_for_a_student_who_reported(w: World) -> None:  # RULES: TRF-3
    record_id, transfer_id, _ = await _approved_across_provinces(w)
    before = await counts(w)

    not_reported = await refusal(
        w, lambda uow: retrieve_file(uow, actor=w["a1.reg"], transfer_id=transfer_id, reported=False)
    )
    leader = await refusal(
        w, lambda uow: retrieve_file(uow, actor=w["a1.lead"], transfer_id=transfer_id, reported=True)
    )
    other_school = await refusal(
        w, lambda uow: retrieve_file(uow, actor=w["a2.reg"], transfer_id=transfer_id, reported=True)
    )

    assert (not_reported.code, not_reported.field) == ("STUDENT_NOT_REPORTED", "reported")
    assert leader.code == "FORBIDDEN"
    assert (other_school.code, other_school.field) == ("NOT_FOUND", "transferId")
    assert await counts(w) == before
    assert (await record_of(w, record_id)).school_id == w.school_p.id


async def test_retrieval_only_after_every_review(w: World) -> None:  # RULES: TRF-2, TRF-3
    record = await student(w, w.classes["p.g3"], region="320102")
    view = await start(w, w["a1.reg"], record, w.classes["a1.g3"])
    await approve_reviews(w, view, w["a1.lead"], w["ca.reg"], w["p.lead"])

    early = await refusal(
        w, lambda uow: retrieve_file(uow, actor=w["a1.reg"], transfer_id=view.transfer.id, reported=True)
    )

    assert early.code == "NOT_AWAITING_RETRIEVAL"


async def test_a_cancelled_business_leaves_the_record_alone(w: World) -> None:  # RULES: TRF-3, TRF-4
    record_id, transfer_id, workflow_id = await _approved_across_provinces(w)
    assert workflow_id is not None

    async with w.uow() as uow:
        await cancel_workflow(
            uow, actor=SystemActor(), instance_id=workflow_id, reason="未在规定的工作日内调档，系统自动撤销"
        )

    assert (await transfer_of(w, transfer_id)).state is BusinessState.CANCELLED
    assert (await record_of(w, record_id)).school_id == w.school_p.id


async def test_sweeps_end_many_transfers_with_one_statement(w: World) -> None:  # RULES: TRF-3, TRF-4
    views = []
    for name in ("甲", "乙", "丙"):
        record = await student(w, w.classes["b1.g3"], name=f"王{name}")
        views.append(await start(w, w["a1.reg"], record, w.classes["a1.g3"]))
    statements: list[str] = []

    from sqlalchemy import event

    def count(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        statements.append(statement)

    async with w.uow() as uow:
        instances = list(
            await uow.session.scalars(
                select(WorkflowInstance).where(
                    WorkflowInstance.id.in_([v.transfer.workflow_id for v in views])
                )
            )
        )
        event.listen(w.db.engine.sync_engine, "before_cursor_execute", count)
        try:
            await run_batch_outcome_handlers(uow, "transfer", instances, WorkflowState.CANCELLED)
        finally:
            event.remove(w.db.engine.sync_engine, "before_cursor_execute", count)

    assert len(statements) == 1
    for view in views:
        assert (await transfer_of(w, view.transfer.id)).state is BusinessState.CANCELLED


# --- TRF-4: deadlines and clearing ----------------------------------------------------------------------


async def test_each_step_is_due_after_the_provinces_working_days(w: World) -> None:  # RULES: TRF-4
    today = local_today(w.clock)
    record = await student(w, w.classes["b1.g3"])

    view = await start(w, w["a1.reg"], record, w.classes["a1.g3"])

    steps = await steps_of(w, view.transfer.workflow_id)
    instance = await instance_of(w, view.transfer.workflow_id)
    async with w.db.read_session() as session:
        calendar = await load_calendar(session)
    assert [(s.deadline_working_days, s.on_deadline) for s in steps] == [
        (10, DeadlineAction.RECORD_OVERDUE)
    ] * 4
    assert steps[0].due_on == calendar.add_working_days(today, 10)
    assert instance.clears_on == today + timedelta(days=90)


async def test_each_side_follows_its_own_provinces_deadline_settings(w: World) -> None:  # RULES: TRF-4
    # The AH variant in the first province: 20 working days, then the step counts as approved.
    await set_province(w, w.tree.province, "workflow.deadline_days", 20)
    await set_province(w, w.tree.province, "workflow.deadline_action", "APPROVE")
    record = await student(w, w.classes["p.g3"], region="320102")
    today = local_today(w.clock)

    view = await start(w, w["a1.reg"], record, w.classes["a1.g3"])

    steps = await steps_of(w, view.transfer.workflow_id)
    async with w.db.read_session() as session:
        calendar = await load_calendar(session)
    assert [(s.deadline_working_days, s.on_deadline) for s in steps] == [
        (20, DeadlineAction.APPROVE),
        (20, DeadlineAction.APPROVE),
        (10, DeadlineAction.RECORD_OVERDUE),
        (10, DeadlineAction.RECORD_OVERDUE),
        (10, DeadlineAction.CANCEL),
    ]
    assert steps[0].due_on == calendar.add_working_days(today, 20)
    assert (await instance_of(w, view.transfer.workflow_id)).clears_on == today + timedelta(days=90)


# --- TRF-5: the summer stop -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("at", "refused"),
    [
        (shanghai(2026, 7, 14, 23, 59), False),
        (shanghai(2026, 7, 15, 0, 0), True),
        (shanghai(2026, 8, 14, 23, 59), True),
        (shanghai(2026, 8, 15, 0, 0), False),
    ],
    ids=["7/14 23:59", "7/15 00:00", "8/14 23:59", "8/15 00:00"],
)
async def test_no_new_transfers_in_the_summer_stop(
    w: World, at: datetime, refused: bool
) -> None:  # RULES: TRF-5
    record = await student(w, w.classes["b1.g3"])
    w.clock.set(at)
    before = await counts(w)

    if refused:
        error = await refusal(w, lambda uow: _start(uow, w, record))
        assert error.code == "TRANSFER_BLACKOUT"
        assert await counts(w) == before
    else:
        view = await start(w, w["a1.reg"], record, w.classes["a1.g3"])
        assert view.state is BusinessState.IN_REVIEW


async def test_a_transfer_started_before_july_15_continues(w: World) -> None:  # RULES: TRF-5
    record = await student(w, w.classes["b1.g3"])
    w.clock.set(shanghai(2026, 7, 14, 23, 59))
    view = await start(w, w["a1.reg"], record, w.classes["a1.g3"])

    w.clock.set(shanghai(2026, 7, 20, 10, 0))
    await approve_reviews(w, view, w["a1.lead"], w["ca.reg"], w["b1.lead"], w["cb.reg"])

    assert (await transfer_of(w, view.transfer.id)).state is BusinessState.COMPLETED
    assert (await record_of(w, record.id)).school_id == w.tree.school_a1.id


# --- TRF-6: which students may transfer -----------------------------------------------------------------


@pytest.mark.parametrize(
    "status",
    [
        RecordStatus.IN_SCHOOL,
        RecordStatus.ABROAD,
        RecordStatus.OTHER_LEAVE,
        RecordStatus.WITHDRAWN,
        RecordStatus.EXPELLED,
    ],
)
async def test_these_statuses_transfer_directly_and_become_in_school(
    w: World, status: RecordStatus
) -> None:  # RULES: TRF-6
    record = await student(w, w.classes["b1.g3"], status=status)
    view = await start(w, w["a1.reg"], record, w.classes["a1.g3"])
    await approve_reviews(w, view, w["a1.lead"], w["ca.reg"], w["b1.lead"])
    assert (await record_of(w, record.id)).status is status  # unchanged until the procedure completes

    await approve(w, w["cb.reg"], view.transfer.workflow_id)

    moved = await record_of(w, record.id)
    assert (moved.school_id, moved.status) == (w.tree.school_a1.id, RecordStatus.IN_SCHOOL)


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (RecordStatus.SUSPENDED, "RESUME_FIRST"),
        (RecordStatus.DROPPED_OUT, "RESUME_FIRST"),
        (RecordStatus.GRADUATED, "STATUS_NOT_TRANSFERABLE"),
        (RecordStatus.COMPLETED, "STATUS_NOT_TRANSFERABLE"),
        (RecordStatus.DECEASED, "STATUS_NOT_TRANSFERABLE"),
    ],
)
async def test_these_statuses_may_not_transfer(
    w: World, status: RecordStatus, code: str
) -> None:  # RULES: TRF-6
    record = await student(w, w.classes["b1.g3"], status=status)
    before = await counts(w)

    error = await refusal(w, lambda uow: _start(uow, w, record))

    assert error.code == code
    assert await counts(w) == before


# --- TRF-7: recorded after an offline transfer ------------------------------------------------------------


async def test_an_offline_transfer_gets_the_same_review_flagged(w: World) -> None:  # RULES: TRF-7
    record = await student(w, w.classes["b1.g3"])

    view = await start(w, w["a1.reg"], record, w.classes["a1.g3"], offline=True)
    await approve_reviews(w, view, w["a1.lead"], w["ca.reg"], w["b1.lead"], w["cb.reg"])

    assert view.transfer.offline is True
    assert len(await steps_of(w, view.transfer.workflow_id)) == 4
    async with w.db.read_session() as session:
        afters = list(
            await session.scalars(
                select(AuditEntry.after)
                .where(AuditEntry.operation.in_(("transfer.requested", "record.transferred")))
                .order_by(AuditEntry.id)
            )
        )
    assert [after["offline"] for after in afters] == [True, True]


# --- TRF-8: grades between 6-3 and 5-4 --------------------------------------------------------------------


async def test_grade_six_of_a_six_three_school_enters_grade_six_of_a_five_four_school(
    w: World,
) -> None:  # RULES: TRF-8
    record = await student(w, w.classes["a1.g6"])
    async with w.uow() as uow:
        from backend.domain.transfers.service import start_transfer

        view = await start_transfer(
            uow,
            actor=w["q.reg"],
            national_number=record.national_number,
            name=record.name,
            target_class_id=w.classes["q.g6"].id,
            reason="随父母工作调动",
            application_ids=[w.proofs["q"]],
        )
    await approve_reviews(w, view, w["q.lead"], w["cp.reg"], w["a1.lead"], w["ca.reg"])
    async with w.uow() as uow:
        await retrieve_file(uow, actor=w["q.reg"], transfer_id=view.transfer.id, reported=True)

    moved = await record_of(w, record.id)
    assert (moved.school_id, moved.stage, moved.grade) == (w.school_q.id, Stage.JUNIOR, 6)
    assert "gradeChangeRequested" not in view.transfer.details


async def test_grade_six_of_a_five_four_school_enters_grade_six_of_a_six_three_school(
    w: World,
) -> None:  # RULES: TRF-8
    record = await student(w, w.classes["q.g6"], region="320102")

    view = await start(w, w["a1.reg"], record, w.classes["a1.g6"])

    assert view.transfer.target_grade == 6
    assert "gradeChangeRequested" not in view.transfer.details


async def test_another_grade_is_asked_for_and_reviewed_by_the_receiving_county(
    w: World,
) -> None:  # RULES: TRF-8
    record = await student(w, w.classes["p.g6"], region="320102")
    before = await counts(w)

    mismatch = await refusal(w, lambda uow: _start(uow, w, record, target_class_id=w.classes["a1.g7"].id))
    assert (mismatch.code, mismatch.field) == ("GRADE_MISMATCH", "targetClassId")
    assert await counts(w) == before

    view = await start(w, w["a1.reg"], record, w.classes["a1.g7"], target_grade=7)
    assert view.transfer.details["gradeChangeRequested"] == {"from": 6, "to": 7}
    steps = await steps_of(w, view.transfer.workflow_id)
    assert steps[1].acting_unit_id == w.tree.county_a.id  # the receiving county decides on it
    await approve_reviews(w, view, w["a1.lead"], w["ca.reg"], w["p.lead"], w["cp.reg"])
    async with w.uow() as uow:
        await retrieve_file(uow, actor=w["a1.reg"], transfer_id=view.transfer.id, reported=True)
    moved = await record_of(w, record.id)
    assert (moved.stage, moved.grade) == (Stage.JUNIOR, 7)


# --- TRF-11 in transfers ------------------------------------------------------------------------------


async def test_a_child_under_six_entering_from_another_province_is_flagged(w: World) -> None:  # RULES: TRF-11
    young = await student(w, w.classes["p.g1"], birth=date(2020, 10, 1), region="320102")
    local = await student(w, w.classes["b1.g3"], birth=date(2020, 10, 1), name="李小红")

    flagged = await start(w, w["a1.reg"], young, w.classes["a1.g1"], target_grade=1)
    unflagged = await start(w, w["a1.reg"], local, w.classes["a1.g3"])

    assert [warning["code"] for warning in flagged.warnings] == ["UNDER_ENTRY_AGE"]
    assert unflagged.warnings == []


# --- jurisdiction, bad input, one business at a time, idempotency ---------------------------------------


async def test_only_the_receiving_schools_registrar_starts(w: World) -> None:  # RULES: ORG-2, ORG-3, TRF-1
    record = await student(w, w.classes["b1.g3"])
    before = await counts(w)

    async def as_(name: str) -> tuple[str, str | None]:
        error = await refusal(w, lambda uow: _start(uow, w, record, actor=w[name]))
        return error.code, error.field

    assert await as_("a2.reg") == ("NOT_FOUND", "targetClassId")
    assert await as_("a1.lead") == ("FORBIDDEN", None)
    assert await as_("a1.admin") == ("FORBIDDEN", None)
    assert await as_("ca.reg") == ("FORBIDDEN", None)
    assert await counts(w) == before


async def test_one_business_at_a_time_per_student(w: World) -> None:  # RULES: TRF-1
    record = await student(w, w.classes["b1.g3"])
    await start(w, w["a1.reg"], record, w.classes["a1.g3"])
    busy_with_change = await student(w, w.classes["b1.g3"], name="赵六")
    async with w.uow() as uow:
        uow.session.add(
            StatusChange(
                record_id=busy_with_change.id,
                school_id=w.tree.school_b1.id,
                unit_path=w.tree.school_b1.path,
                change_type=StatusChangeType.SUSPENSION,
                reason="病休",
                from_status=RecordStatus.IN_SCHOOL,
                to_status=RecordStatus.SUSPENDED,
                from_grade=3,
                to_grade=3,
                state=BusinessState.IN_REVIEW,
                created_at=w.clock.now(),
            )
        )
    before = await counts(w)

    twice = await refusal(
        w,
        lambda uow: _start(
            uow,
            w,
            record,
            actor=w["c1.reg"],
            target_class_id=w.classes["c1.g3"].id,
            application_ids=[w.proofs["c1"]],
        ),
    )
    status_change = await refusal(w, lambda uow: _start(uow, w, busy_with_change))

    assert twice.code == "RECORD_BUSY"
    assert status_change.code == "RECORD_BUSY"
    assert await counts(w) == before


async def test_refused_for_own_and_unregistered_students(w: World) -> None:
    own = await student(w, w.classes["a1.g3"])
    draft = await student(w, w.classes["b1.g3"], name="钱七", state=RegistrationState.DRAFT)
    before = await counts(w)

    same = await refusal(w, lambda uow: _start(uow, w, own))
    unregistered = await refusal(w, lambda uow: _start(uow, w, draft))
    no_reason = await refusal(w, lambda uow: _start(uow, w, draft, reason="  "))

    assert same.code == "SAME_SCHOOL"
    assert unregistered.code == "NOT_REGISTERED"
    assert (no_reason.code, no_reason.field) == ("INVALID_INPUT", "reason")
    assert await counts(w) == before


async def test_a_retry_with_the_same_key_returns_the_first_transfer(w: World) -> None:
    record = await student(w, w.classes["b1.g3"])

    first = await start(w, w["a1.reg"], record, w.classes["a1.g3"], idempotency_key="k-1")
    again = await start(w, w["a1.reg"], record, w.classes["a1.g3"], idempotency_key="k-1")

    assert (again.transfer.id, again.replayed, first.replayed) == (first.transfer.id, True, False)
    async with w.db.read_session() as session:
        assert await session.scalar(select(func.count()).select_from(Transfer)) == 1


async def _start(uow, w: World, record, *, actor=None, target_class_id=None, **options):  # type: ignore[no-untyped-def]
    from backend.domain.transfers.service import start_transfer

    return await start_transfer(
        uow,
        actor=actor or w["a1.reg"],
        national_number=options.pop("national_number", record.national_number),
        name=options.pop("name", record.name),
        target_class_id=target_class_id or w.classes["a1.g3"].id,
        reason=options.pop("reason", "随父母工作调动"),
        application_ids=options.pop("application_ids", [w.proofs["a1"]]),
        **options,
    )
