"""The sweeps: overdue register, deadline approval, retrieval timeout, 90-day clearing (TRF-3, TRF-4, MON-2)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

import pytest
from sqlalchemy import event, func, select

from backend.clock import SHANGHAI, FixedClock
from backend.config import Settings
from backend.db import Database, UnitOfWork
from backend.domain.actor import SystemActor
from backend.domain.errors import ConflictError
from backend.domain.settings import set_province_setting
from backend.domain.workflows.definitions import StepSpec, UnitRef, WorkflowDefinition
from backend.domain.workflows.engine import act, verify_chain
from backend.domain.workflows.outcomes import on_finished_batch, register_outcome, unregister_outcome
from backend.domain.workflows.overdue import overdue_by_unit, overdue_steps
from backend.domain.workflows.sweeps import (
    clear_stale,
    overdue_approvals,
    record_overdue,
    run_sweeps,
)
from backend.models import (
    AuditEntry,
    Notification,
    OverdueStep,
    WorkflowAction,
    WorkflowInstance,
    WorkflowStep,
)
from backend.models.enums import DeadlineAction, Role, StepKind, StepState, WorkflowState
from tests.domain.workflows.support import World, make_world, start, unique_kind

# Nothing due soon and nothing old enough to remove, in the tests that do not look at notifications.
QUIET = {"deadlineReminders": 0, "notificationsRemoved": 0}


@pytest.fixture
async def w(db: Database, clock: FixedClock, settings: Settings) -> World:
    return await make_world(db, clock, settings)


def at(day: date, hour: int = 10) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=SHANGHAI)


def definition(
    *,
    days: int = 10,
    on_deadline: DeadlineAction = DeadlineAction.RECORD_OVERDUE,
    retrieval: bool = False,
    clear_after_days: int | None = None,
) -> WorkflowDefinition:
    """School leader then county, each ``days`` working days; optionally a file retrieval at the end."""
    steps = [
        StepSpec("学校审核", UnitRef.SUBJECT_SCHOOL, Role.LEADER, days, on_deadline=on_deadline),
        StepSpec("区县审核", UnitRef.department_of(), Role.REGISTRAR, days, on_deadline=on_deadline),
    ]
    if retrieval:
        steps.append(
            StepSpec(
                "调档",
                UnitRef.SUBJECT_SCHOOL,
                Role.REGISTRAR,
                10,
                kind=StepKind.RETRIEVAL,
                on_deadline=DeadlineAction.CANCEL,
            )
        )
    return WorkflowDefinition(
        kind=unique_kind(), steps=tuple(steps), title="测试业务", clear_after_days=clear_after_days
    )


async def sweep(w: World, day: date, hour: int = 0) -> dict[str, int]:
    w.clock.set(at(day, hour))
    return (await run_sweeps(w.uow)).as_json()


async def steps_of(w: World, instance_id: int) -> list[WorkflowStep]:
    async with w.uow() as uow:
        stmt = (
            select(WorkflowStep)
            .where(WorkflowStep.instance_id == instance_id)
            .order_by(WorkflowStep.position)
        )
        return list((await uow.session.scalars(stmt)).all())


async def instance(w: World, instance_id: int) -> WorkflowInstance:
    async with w.uow() as uow:
        found = await uow.session.get(WorkflowInstance, instance_id)
        assert found is not None
        return found


async def test_a_step_past_its_working_days_is_registered_once(w: World) -> None:
    # RULES: TRF-4, MON-2
    # Opened on 30 September 2026: the National Day week does not count, the make-up Saturday 10-10 does.
    w.clock.set(at(date(2026, 9, 30)))
    started = await start(w, definition())
    (first, _) = await steps_of(w, started.id)
    assert first.due_on == date(2026, 10, 20)
    assert (first.deadline_working_days, first.on_deadline) == (10, DeadlineAction.RECORD_OVERDUE)

    on_due_date = await sweep(w, date(2026, 10, 20), 23)
    day_after = await sweep(w, date(2026, 10, 21))
    again = await sweep(w, date(2026, 10, 22))

    assert on_due_date["overdueRecorded"] == 0
    assert day_after["overdueRecorded"] == 1
    assert again["overdueRecorded"] == 0
    async with w.uow() as uow:
        (row,) = (await uow.session.scalars(select(OverdueStep))).all()
        counts = await overdue_by_unit(uow.session, w.county_leader, month="2026-10")
        page = await overdue_steps(uow.session, w.county_leader, month="2026-10")
        elsewhere = await overdue_by_unit(uow.session, w.other_county, month="2026-10")
    assert (row.acting_unit_id, row.acting_role, row.month, row.step_name) == (
        w.tree.school_a1.id,
        Role.LEADER,
        "2026-10",
        "学校审核",
    )
    assert [(c.unit_id, c.count) for c in counts] == [(w.tree.school_a1.id, 1)]
    assert [entry.step_id for entry in page.items] == [first.id]
    assert elsewhere == []  # another county's units only (ORG-3)


async def test_a_step_decided_late_is_registered_at_the_decision(w: World) -> None:
    # RULES: TRF-4
    w.clock.set(at(date(2026, 11, 2)))
    started = await start(w, definition(days=2))
    w.clock.set(at(date(2026, 11, 5)))  # due on 11-04
    async with w.uow() as uow:
        await act(uow, actor=w.leader, instance_id=started.id, action="approve", comment=None)
    async with w.uow() as uow:
        late = (await uow.session.scalars(select(OverdueStep.step_name))).all()
    assert late == ["学校审核"]
    assert (await sweep(w, date(2026, 11, 6)))["overdueRecorded"] == 0  # the county's step is not late yet


async def test_school_holidays_do_not_count(w: World) -> None:
    # RULES: TRF-4
    async with w.uow() as uow:
        await set_province_setting(
            uow,
            actor=SystemActor(),
            province_id=w.tree.province.id,
            key="window.school_holidays",
            value=[{"from": "07-15", "to": "08-31"}],
        )
    w.clock.set(at(date(2026, 7, 10)))  # Friday: 7/13 and 7/14 count, then 9/1 to 9/4 and 9/7 to 9/10
    started = await start(w, definition())
    (first, _) = await steps_of(w, started.id)
    assert first.due_on == date(2026, 9, 10)


async def test_deadline_counted_as_approval(w: World) -> None:
    # RULES: TRF-4 (AH variant: the step counts as approved)
    w.clock.set(at(date(2026, 11, 2)))
    started = await start(w, definition(days=2, on_deadline=DeadlineAction.APPROVE))

    report = await sweep(w, date(2026, 11, 5))

    assert report == {"overdueRecorded": 0, "approved": 1, "retrievalsCancelled": 0, "cleared": 0, **QUIET}
    first, second = await steps_of(w, started.id)
    assert (first.state, second.state) == (StepState.APPROVED, StepState.PENDING)
    assert second.due_on == date(2026, 11, 9)
    async with w.uow() as uow:
        action = await uow.session.scalar(
            select(WorkflowAction)
            .where(WorkflowAction.instance_id == started.id)
            .order_by(WorkflowAction.id.desc())
        )
        assert action is not None
        assert (action.action, action.user_id, action.comment) == ("approve", None, "办理时限届满，视为同意")
        assert await verify_chain(uow.session, started.id)
    assert (await sweep(w, date(2026, 11, 5)))["approved"] == 0


async def test_a_retrieval_not_done_in_time_cancels_the_business(w: World) -> None:
    # RULES: TRF-3
    kind_definition = definition(retrieval=True)
    seen: list[WorkflowState] = []

    async def handler(uow: UnitOfWork, inst: WorkflowInstance, state: WorkflowState) -> None:
        seen.append(state)

    register_outcome(kind_definition.kind, handler)
    try:
        w.clock.set(at(date(2026, 11, 2)))
        started = await start(w, kind_definition)
        for actor in (w.leader, w.county):
            async with w.uow() as uow:
                await act(uow, actor=actor, instance_id=started.id, action="approve", comment=None)
        retrieval = (await steps_of(w, started.id))[2]
        assert (retrieval.kind, retrieval.due_on) == (StepKind.RETRIEVAL, date(2026, 11, 16))

        assert (await sweep(w, date(2026, 11, 16), 23))["retrievalsCancelled"] == 0
        report = await sweep(w, date(2026, 11, 17))
    finally:
        unregister_outcome(kind_definition.kind, handler)

    assert report["retrievalsCancelled"] == 1
    assert report["overdueRecorded"] == 0  # a retrieval's deadline cancels; it is not an overdue review
    ended = await instance(w, started.id)
    assert ended.state is WorkflowState.CANCELLED
    assert seen == [WorkflowState.CANCELLED]
    assert [s.state for s in await steps_of(w, started.id)] == [
        StepState.APPROVED,
        StepState.APPROVED,
        StepState.SKIPPED,
    ]
    async with w.uow() as uow:
        assert await verify_chain(uow.session, started.id)
        audit = (
            await uow.session.scalars(
                select(AuditEntry).where(
                    AuditEntry.operation == "workflow.cancelled", AuditEntry.target_id == str(started.id)
                )
            )
        ).all()
    assert len(audit) == 1
    assert (audit[0].user_id, audit[0].unit_path) == (None, w.tree.school_a1.path)
    assert ("todo", f"unit:{w.tree.school_a1.id}:{Role.REGISTRAR}") in w.notices


async def test_a_business_open_after_90_days_is_cleared_except_at_retrieval(w: World) -> None:
    # RULES: TRF-4
    plain = definition(days=60, clear_after_days=90)
    at_retrieval = definition(retrieval=True, clear_after_days=90)
    batches: list[list[int]] = []

    async def batch(uow: UnitOfWork, instances: Sequence[WorkflowInstance], state: WorkflowState) -> None:
        batches.append(sorted(i.id for i in instances))

    on_finished_batch(plain.kind)(batch)
    w.clock.set(at(date(2026, 1, 5), 23))
    stale = [await start(w, plain) for _ in range(3)]
    waiting = await start(w, at_retrieval)
    w.clock.set(at(date(2026, 4, 1)))  # the reviews end late, so the retrieval is still in time on day 91
    for actor in (w.leader, w.county):
        async with w.uow() as uow:
            await act(uow, actor=actor, instance_id=waiting.id, action="approve", comment=None)
    assert (await instance(w, stale[0].id)).clears_on == date(2026, 4, 5)

    day_90 = await sweep(w, date(2026, 4, 5), 23)
    day_91 = await sweep(w, date(2026, 4, 6))

    assert day_90["cleared"] == 0
    assert day_91["cleared"] == 3
    assert batches == [sorted(i.id for i in stale)]
    assert {(await instance(w, i.id)).state for i in stale} == {WorkflowState.CANCELLED}
    assert (await instance(w, waiting.id)).state is WorkflowState.OPEN
    async with w.uow() as uow:
        for stale_one in stale:
            assert await verify_chain(uow.session, stale_one.id)
        comments = (
            await uow.session.scalars(select(WorkflowAction.comment).where(WorkflowAction.action == "cancel"))
        ).all()
    assert set(comments) == {"业务发起后90日内未办结，系统自动清理，请重新发起"}


async def test_clearing_costs_a_fixed_number_of_statements_per_chunk(w: World) -> None:
    # RULES: TRF-4
    plain = definition(clear_after_days=90)
    w.clock.set(at(date(2026, 1, 5)))
    for _ in range(25):
        await start(w, plain)
    w.clock.set(at(date(2026, 4, 10)))
    statements: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        statements.append(statement)

    event.listen(w.db.engine.sync_engine, "before_cursor_execute", count)
    try:
        async with w.uow() as uow:
            cleared = await clear_stale(uow)
    finally:
        event.remove(w.db.engine.sync_engine, "before_cursor_execute", count)
    assert cleared == 25
    # select instances, last hashes, pending steps, skip steps, end instances, insert actions, read their
    # ids, insert audit rows — whatever the number of instances.
    assert len(statements) <= 10, [s[:60] for s in statements]
    async with w.uow() as uow:
        assert (
            await uow.session.scalar(
                select(func.count()).select_from(WorkflowAction).where(WorkflowAction.action == "cancel")
            )
            == 25
        )


async def test_sweeps_do_nothing_twice(w: World) -> None:
    # RULES: TRF-4
    w.clock.set(at(date(2026, 11, 2)))
    await start(w, definition(days=1, clear_after_days=5))
    first = await sweep(w, date(2026, 11, 20))
    second = await sweep(w, date(2026, 11, 20))
    assert first["cleared"] == 1
    assert second == {"overdueRecorded": 0, "approved": 0, "retrievalsCancelled": 0, "cleared": 0, **QUIET}


async def test_record_overdue_is_one_statement(w: World) -> None:
    # RULES: TRF-4
    w.clock.set(at(date(2026, 11, 2)))
    for _ in range(5):
        await start(w, definition(days=1))
    w.clock.set(at(date(2026, 11, 10)))
    async with w.uow() as uow:
        assert await record_overdue(uow) == 5
        assert await overdue_approvals(uow) == []


async def test_an_automatic_approval_its_business_refuses_leaves_the_others_done(w: World) -> None:
    # RULES: TRF-4
    one_step = WorkflowDefinition(
        kind=unique_kind(),
        title="测试业务",
        steps=(
            StepSpec("学校审核", UnitRef.SUBJECT_SCHOOL, Role.LEADER, 1, on_deadline=DeadlineAction.APPROVE),
        ),
    )
    w.clock.set(at(date(2026, 11, 2)))
    refused, accepted = await start(w, one_step), await start(w, one_step)

    async def outcome(uow: UnitOfWork, inst: WorkflowInstance, state: WorkflowState) -> None:
        if inst.id == refused.id:
            raise ConflictError("学籍已变化，须人工办理")

    register_outcome(one_step.kind, outcome)
    try:
        report = await sweep(w, date(2026, 11, 5))
    finally:
        unregister_outcome(one_step.kind, outcome)

    assert report["approved"] == 1
    assert (await instance(w, accepted.id)).state is WorkflowState.APPROVED
    assert (await instance(w, refused.id)).state is WorkflowState.OPEN  # rolled back, left for a person


async def test_the_accounts_concerned_are_told_of_overdue_and_near_deadlines(w: World) -> None:
    # RULES: TRF-4, MON-1 — approvers are told, once, with the number of steps
    w.clock.set(at(date(2026, 11, 2)))
    for _ in range(2):
        await start(w, definition(days=4))  # school leader steps due 11-06
    near = await sweep(w, date(2026, 11, 4))  # 11-06 is two working days away
    again_today = await sweep(w, date(2026, 11, 4), 15)
    late = await sweep(w, date(2026, 11, 9))

    assert (near["deadlineReminders"], again_today["deadlineReminders"]) == (2, 0)  # two leaders, once a day
    assert late["overdueRecorded"] == 2
    async with w.uow() as uow:
        rows = (
            await uow.session.execute(
                select(Notification.recipient_id, Notification.kind, Notification.payload).where(
                    Notification.kind.in_(["DEADLINE_NEAR", "STEP_OVERDUE"])
                )
            )
        ).all()
    leaders = {w.leader.user_id, w.leader2.user_id}
    assert {(r.recipient_id, r.kind) for r in rows} == {
        (u, k) for u in leaders for k in ("DEADLINE_NEAR", "STEP_OVERDUE")
    }
    assert all(r.payload["count"] == 2 for r in rows)
    assert {r.payload.get("dueOn") for r in rows if r.kind == "DEADLINE_NEAR"} == {"2026-11-06"}


async def test_old_notifications_are_removed_but_each_recipients_latest_is_kept(w: World) -> None:
    # RULES: MON-1
    w.clock.set(at(date(2026, 11, 2)))
    await start(w, definition(days=40))  # the two leaders are told (seq 1)
    w.clock.set(at(date(2026, 11, 3)))
    await start(w, definition(days=40))  # and again (seq 2)
    report = await sweep(w, date(2026, 11, 20))
    async with w.uow() as uow:
        kept = (await uow.session.execute(select(Notification.recipient_id, Notification.seq))).all()
    assert report["notificationsRemoved"] >= 2
    assert {(r.recipient_id, r.seq) for r in kept} >= {(w.leader.user_id, 2), (w.leader2.user_id, 2)}
    assert all(r.seq != 1 or r.recipient_id not in (w.leader.user_id, w.leader2.user_id) for r in kept)
