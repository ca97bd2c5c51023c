"""The approval engine against a real database: start, approve, reject, withdraw, comment, cancel, races."""

from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import replace
from datetime import date
from typing import Any

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine

from backend.calendar import CalendarYearUnknownError, WorkingDayCalendar
from backend.clock import SHANGHAI, FixedClock, shanghai
from backend.config import Settings
from backend.db import Database, UnitOfWork
from backend.domain.actor import Actor, SystemActor
from backend.domain.errors import DomainError
from backend.domain.workflows import engine
from backend.domain.workflows.chain import GENESIS, action_hash
from backend.domain.workflows.definitions import RECEIVING_SCHOOL, StepSpec, UnitRef, WorkflowDefinition
from backend.domain.workflows.engine import (
    ActResult,
    act,
    cancel_workflow,
    finishing_action,
    start_workflow,
    verify_chain,
)
from backend.domain.workflows.outcomes import register_outcome, unregister_outcome
from backend.domain.workflows.workflow import UserAction
from backend.models import Attachment, WorkflowAction, WorkflowStep
from backend.models.enums import Role, StepState, UnitKind, WorkflowState
from tests.conftest import is_postgres
from tests.domain.workflows.support import (
    Finished,
    World,
    audit_entry,
    audit_operations,
    counts,
    load,
    make_world,
    recording_outcomes,
    refusal,
    review,
    start,
)


@pytest.fixture
async def w(db: Database, clock: FixedClock, settings: Settings) -> World:
    return await make_world(db, clock, settings)


async def do(
    w: World,
    actor: Actor,
    instance_id: int,
    action: UserAction,
    comment: str | None = None,
    **kwargs: Any,
) -> ActResult:
    async with w.uow() as uow:
        return await act(uow, actor=actor, instance_id=instance_id, action=action, comment=comment, **kwargs)


def acting(
    actor: Actor, instance_id: int, action: UserAction, comment: str | None = None, **kwargs: Any
) -> Any:
    async def run(uow: UnitOfWork) -> ActResult:
        return await act(uow, actor=actor, instance_id=instance_id, action=action, comment=comment, **kwargs)

    return run


# --- starting -----------------------------------------------------------------------------------------


async def test_start_opens_the_school_leaders_step(w: World) -> None:
    # RULES: REG-4
    instance = await start(w, data={"recordId": 42})

    instance, steps, actions = await load(w, instance.id)
    assert instance.state is WorkflowState.OPEN
    assert (instance.version, instance.current_step) == (1, 0)
    assert instance.unit_path == w.tree.school_a1.path
    assert instance.started_by_id == w.registrar.user_id
    assert instance.data == {"recordId": 42}
    assert [(s.position, s.acting_unit_id, s.acting_role, s.state) for s in steps] == [
        (0, w.tree.school_a1.id, Role.LEADER, StepState.PENDING),
        (1, w.tree.county_a.id, Role.REGISTRAR, StepState.WAITING),
    ]
    assert steps[0].opened_at == w.clock.now()
    assert steps[0].due_on is None and steps[1].opened_at is None
    assert [(a.action, a.user_id, a.role, a.unit_id, a.previous_hash) for a in actions] == [
        ("start", w.registrar.user_id, Role.REGISTRAR, w.tree.school_a1.id, GENESIS)
    ]
    assert await audit_operations(w, instance.id) == ["workflow.started"]
    assert [n for n in w.notices if n[0] == "todo"] == [("todo", f"unit:{w.tree.school_a1.id}:LEADER")]
    # Both leaders of the school are told, each with their own first notification.
    assert sorted(p for c, m in w.notices if c == "notify" for p in m.split(",")) == sorted(
        [f"{w.leader.user_id}:1", f"{w.leader2.user_id}:1"]
    )


@pytest.mark.parametrize(
    ("who", "code"),
    [
        ("leader", "FORBIDDEN"),  # the school's leader approves, its registrar starts (ORG-2)
        ("county", "FORBIDDEN"),  # above the school: sees it, but does not start for it
        ("admin", "FORBIDDEN"),  # ORG-2: never business
        ("other_leader", "NOT_FOUND"),  # another school: out of jurisdiction looks absent (ORG-3)
    ],
)
async def test_only_the_schools_registrar_starts(w: World, who: str, code: str) -> None:
    # RULES: ORG-2, ORG-3
    actor: Actor = getattr(w, who)
    if who == "other_leader":
        actor = replace(actor, roles=frozenset({Role.REGISTRAR}))
    before = await counts(w)

    error = await refusal(
        w,
        lambda uow: start_workflow(
            uow,
            actor=actor,
            definition=review(),
            subject_type="student_record",
            subject_id=1,
            context=w.context(),
        ),
    )

    assert error.code == code
    assert await counts(w) == before


async def test_one_open_instance_per_subject_and_kind(w: World) -> None:
    definition = review()
    await start(w, definition, subject_id=7)

    error = await refusal(
        w,
        lambda uow: start_workflow(
            uow,
            actor=w.registrar,
            definition=definition,
            subject_type="student_record",
            subject_id=7,
            context=w.context(),
        ),
    )

    assert error.code == "WORKFLOW_ALREADY_OPEN"
    assert (await counts(w)).instances == 1


async def test_the_system_may_start_a_batch_business(w: World) -> None:
    async with w.uow() as uow:
        instance = await start_workflow(
            uow,
            actor=SystemActor(),
            definition=review(),
            subject_type="student_record",
            subject_id=1,
            context=w.context(),
        )

    _, _, actions = await load(w, instance.id)
    assert instance.started_by_id is None
    assert [(a.user_id, a.role, a.unit_id) for a in actions] == [(None, None, None)]


# --- approving ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "code"),
    [
        ("registrar", "FORBIDDEN"),  # right unit, wrong role
        ("county", "FORBIDDEN"),  # in jurisdiction, its step is still waiting
        ("county_leader", "FORBIDDEN"),  # in jurisdiction, wrong unit and role
        ("admin", "FORBIDDEN"),  # ORG-2: a system administrator never approves
        ("other_leader", "NOT_FOUND"),  # a leader, but of another school (ORG-3)
        ("other_county", "NOT_FOUND"),  # a registrar, but of another county (ORG-3)
    ],
)
async def test_approval_by_the_wrong_unit_or_role_is_refused(w: World, who: str, code: str) -> None:
    # RULES: REG-4, ORG-2, ORG-3
    instance = await start(w)
    before = await counts(w)

    error = await refusal(w, acting(getattr(w, who), instance.id, "approve"))

    assert error.code == code
    assert await counts(w) == before
    instance, steps, _ = await load(w, instance.id)
    assert (instance.version, steps[0].state) == (1, StepState.PENDING)


async def test_an_absent_instance_is_not_found(w: World) -> None:
    error = await refusal(w, acting(w.leader, 999_999, "approve"))
    assert error.code == "NOT_FOUND"


async def test_approving_every_step_approves_the_instance_and_calls_the_hook_once(w: World) -> None:
    # RULES: REG-4 (school, then county, then city; only then is the registration formal), SEC-3
    definition = review((UnitKind.COUNTY, UnitKind.CITY))
    with recording_outcomes(definition.kind) as outcomes:
        instance = await start(w, definition)
        first = await do(w, w.leader, instance.id, "approve", "同意", expected_version=1)
        assert first.opened is not None and first.opened.acting_unit_id == w.tree.county_a.id
        assert outcomes == []
        await do(w, w.county, instance.id, "approve", expected_version=2)
        last = await do(w, w.city, instance.id, "approve", "核办通过")

    assert last.finished and last.opened is None
    assert outcomes == [Finished(instance.id, WorkflowState.APPROVED, w.city.user_id, "核办通过")]
    instance, steps, actions = await load(w, instance.id)
    assert (instance.state, instance.version, instance.current_step) == (WorkflowState.APPROVED, 4, 2)
    assert instance.finished_at == w.clock.now()
    assert [(s.state, s.acted_by_id) for s in steps] == [
        (StepState.APPROVED, w.leader.user_id),
        (StepState.APPROVED, w.county.user_id),
        (StepState.APPROVED, w.city.user_id),
    ]
    assert [(a.action, a.position, a.role, a.unit_id, a.comment) for a in actions] == [
        ("start", None, Role.REGISTRAR, w.tree.school_a1.id, None),
        ("approve", 0, Role.LEADER, w.tree.school_a1.id, "同意"),
        ("approve", 1, Role.REGISTRAR, w.tree.county_a.id, None),
        ("approve", 2, Role.REGISTRAR, w.tree.city.id, "核办通过"),
    ]
    assert await audit_operations(w, instance.id) == ["workflow.started"] + ["workflow.approved"] * 3
    assert await verify_chain_of(w, instance.id)
    school, county, city = (f"unit:{u.id}:{r}" for u, r in [
        (w.tree.school_a1, "LEADER"), (w.tree.county_a, "REGISTRAR"), (w.tree.city, "REGISTRAR")
    ])  # fmt: skip
    assert [message for channel, message in w.notices if channel == "todo"] == [
        school,
        school,
        county,
        county,
        city,
        city,
    ]
    # Each step's accounts are told it waits on them; the starter is told of the decision.
    told = [message.split(":")[0] for channel, message in w.notices if channel == "notify"]
    assert str(w.registrar.user_id) in told
    assert {str(w.county.user_id), str(w.city.user_id), str(w.leader.user_id)} <= set(told)


async def test_the_audit_row_records_the_role_acted_in(w: World) -> None:
    # RULES: SEC-3 (who approved, when, in which role)
    both = replace(w.leader, roles=frozenset({Role.REGISTRAR, Role.LEADER}))
    instance = await start(w)
    await do(w, both, instance.id, "approve")

    entry = await audit_entry(w, "workflow.approved")
    assert (entry.role, entry.user_id, entry.unit_id) == (Role.LEADER, w.leader.user_id, w.tree.school_a1.id)
    assert entry.after is not None and entry.after["state"] == "OPEN" and entry.after["version"] == 2


async def test_an_approval_under_delegation_names_both_people(w: World) -> None:
    # RULES: SEC-2, SEC-3
    instance = await start(w)
    result = await do(w, replace(w.leader, delegate_id=w.leader2.user_id), instance.id, "approve")
    assert (result.action.user_id, result.action.delegate_id) == (w.leader.user_id, w.leader2.user_id)


# --- rejecting ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("reason", [None, "", "   "])
async def test_a_rejection_needs_a_reason_and_writes_nothing(w: World, reason: str | None) -> None:
    # RULES: REG-4 (a doubtful record is rejected back to the school, with the reason)
    instance = await start(w)
    before = await counts(w)

    error = await refusal(w, acting(w.leader, instance.id, "reject", reason))

    assert (error.code, error.field) == ("REASON_REQUIRED", "comment")
    assert await counts(w) == before
    instance, steps, _ = await load(w, instance.id)
    assert (instance.state, instance.version, steps[0].state) == (WorkflowState.OPEN, 1, StepState.PENDING)


async def test_a_rejection_ends_the_instance_and_skips_the_remaining_steps(w: World) -> None:
    # RULES: REG-4
    definition = review((UnitKind.COUNTY, UnitKind.CITY))
    with recording_outcomes(definition.kind) as outcomes:
        instance = await start(w, definition)
        await do(w, w.leader, instance.id, "approve")
        result = await do(w, w.county, instance.id, "reject", "  出生日期与户籍证明不符  ")

    assert result.finished
    assert outcomes == [
        Finished(instance.id, WorkflowState.REJECTED, w.county.user_id, "出生日期与户籍证明不符")
    ]
    instance, steps, actions = await load(w, instance.id)
    assert (instance.state, instance.current_step) == (WorkflowState.REJECTED, 1)
    assert instance.finished_at is not None
    assert [s.state for s in steps] == [StepState.APPROVED, StepState.REJECTED, StepState.SKIPPED]
    assert steps[2].acted_at is None
    assert actions[-1].comment == "出生日期与户籍证明不符"
    assert await audit_operations(w, instance.id) == [
        "workflow.started",
        "workflow.approved",
        "workflow.rejected",
    ]


# --- withdrawing --------------------------------------------------------------------------------------


async def test_the_starters_unit_and_role_withdraws(w: World) -> None:
    definition = review()
    with recording_outcomes(definition.kind) as outcomes:
        instance = await start(w, definition)
        for who, code in [("leader", "FORBIDDEN"), ("county", "FORBIDDEN"), ("other_county", "NOT_FOUND")]:
            error = await refusal(w, acting(getattr(w, who), instance.id, "withdraw"))
            assert error.code == code, who
        result = await do(w, w.registrar2, instance.id, "withdraw", "信息有误，撤回修改")

    assert result.finished
    assert outcomes == [
        Finished(instance.id, WorkflowState.WITHDRAWN, w.registrar2.user_id, "信息有误，撤回修改")
    ]
    instance, steps, _ = await load(w, instance.id)
    assert instance.state is WorkflowState.WITHDRAWN
    assert [s.state for s in steps] == [StepState.SKIPPED, StepState.SKIPPED]
    # The leader's step is gone: acting on it now is a stale view, and so is a second withdrawal.
    assert (await refusal(w, acting(w.leader, instance.id, "approve"))).code == "WORKFLOW_CONFLICT"
    assert (await refusal(w, acting(w.registrar, instance.id, "withdraw"))).code == "WORKFLOW_CONFLICT"
    assert await audit_operations(w, instance.id) == ["workflow.started", "workflow.withdrawn"]


# --- commenting ---------------------------------------------------------------------------------------


async def test_anyone_in_jurisdiction_comments_without_moving_the_instance(w: World) -> None:
    # RULES: ORG-3, SEC-3
    instance = await start(w)
    result = await do(w, w.county, instance.id, "comment", "请补充户籍证明", expected_version=1)

    assert not result.finished
    assert (result.instance.version, result.instance.state) == (1, WorkflowState.OPEN)
    assert (result.action.action, result.action.role, result.action.position) == (
        "comment",
        Role.REGISTRAR,
        0,
    )
    # the comment did not invalidate the leader's view
    await do(w, w.leader, instance.id, "approve", expected_version=1)
    assert await audit_operations(w, instance.id) == [
        "workflow.started",
        "workflow.commented",
        "workflow.approved",
    ]


@pytest.mark.parametrize(
    ("who", "comment", "code"),
    [
        ("other_county", "看看", "NOT_FOUND"),
        ("admin", "看看", "FORBIDDEN"),
        ("county", "  ", "COMMENT_REQUIRED"),
        ("county", "长" * 2001, "COMMENT_TOO_LONG"),
    ],
)
async def test_comment_refusals(w: World, who: str, comment: str, code: str) -> None:
    # RULES: ORG-2, ORG-3
    instance = await start(w)
    before = await counts(w)
    error = await refusal(w, acting(getattr(w, who), instance.id, "comment", comment))
    assert error.code == code
    assert await counts(w) == before


async def test_attachments_must_be_readable_by_the_actor(w: World) -> None:
    instance = await start(w)
    async with w.uow() as uow:
        own, foreign = (
            Attachment(
                sha256="0" * 64,
                size=1,
                content_type="image/png",
                filename="证明.png",
                purpose="proof",
                unit_id=unit.id,
                unit_path=unit.path,
                uploaded_at=w.clock.now(),
            )
            for unit in (w.tree.school_a1, w.tree.school_b1)
        )
        uow.session.add_all([own, foreign])
        await uow.session.flush()

    error = await refusal(
        w, acting(w.leader, instance.id, "comment", "附证明", attachment_ids=[own.id, foreign.id])
    )
    assert (error.code, error.field) == ("NOT_FOUND", "attachmentIds")

    result = await do(w, w.leader, instance.id, "comment", None, attachment_ids=[own.id, own.id])
    assert result.action.attachment_ids == [own.id]
    assert await verify_chain_of(w, instance.id)


# --- concurrency and stale views ----------------------------------------------------------------------


async def test_a_stale_expected_version_is_a_conflict(w: World) -> None:
    instance = await start(w)
    await do(w, w.leader, instance.id, "approve", expected_version=1)
    before = await counts(w)

    error = await refusal(w, acting(w.county, instance.id, "approve", expected_version=1))
    again = await refusal(w, acting(w.leader2, instance.id, "approve"))

    assert (error.code, error.message) == ("WORKFLOW_CONFLICT", "该事项已被他人处理，请刷新")
    assert again.code == "WORKFLOW_CONFLICT"  # the leaders' step was decided already
    assert await counts(w) == before


@pytest.mark.parametrize("expected_version", [1, None])
async def test_two_concurrent_approvals_exactly_one_wins(
    w: World, monkeypatch: pytest.MonkeyPatch, expected_version: int | None
) -> None:
    # RULES: SEC-3 (one decision per step), REG-4
    instance = await start(w)
    # Both approvers read the instance and its pending step before either writes: a real race.
    barrier = asyncio.Barrier(2)
    load_steps = engine.load_steps

    async def load_then_wait(session: Any, instance_id: int) -> list[WorkflowStep]:
        steps = await load_steps(session, instance_id)
        await barrier.wait()
        return steps

    monkeypatch.setattr(engine, "load_steps", load_then_wait)

    async def approve(actor: Actor) -> ActResult | DomainError:
        try:
            return await do(w, actor, instance.id, "approve", "同意", expected_version=expected_version)
        except DomainError as error:
            return error

    outcomes = await asyncio.wait_for(asyncio.gather(approve(w.leader), approve(w.leader2)), timeout=60)

    wins = [o for o in outcomes if isinstance(o, ActResult)]
    losses = [o for o in outcomes if isinstance(o, DomainError)]
    assert len(wins) == 1 and len(losses) == 1
    assert losses[0].code == "WORKFLOW_CONFLICT"
    instance, steps, actions = await load(w, instance.id)
    assert instance.version == 2
    assert steps[0].acted_by_id == wins[0].action.user_id
    assert [s.state for s in steps] == [StepState.APPROVED, StepState.PENDING]
    assert [a.action for a in actions] == ["start", "approve"]
    assert (await audit_operations(w, instance.id)).count("workflow.approved") == 1
    assert await verify_chain_of(w, instance.id)


# --- idempotency --------------------------------------------------------------------------------------


async def test_the_same_start_key_twice_returns_the_same_instance(w: World) -> None:
    definition = review()
    first = await start(w, definition, subject_id=5, key="req-1")
    second = await start(w, definition, subject_id=5, key="req-1")

    assert second.id == first.id
    assert (await counts(w)).instances == 1
    assert (await counts(w)).keys == 1
    assert await audit_operations(w, first.id) == ["workflow.started"]


async def test_the_same_act_key_twice_records_one_action(w: World) -> None:
    instance = await start(w)
    first = await do(w, w.leader, instance.id, "approve", idempotency_key="click-1")
    second = await do(w, w.leader, instance.id, "approve", idempotency_key="click-1")

    assert not first.replayed and second.replayed
    assert second.action.id == first.action.id
    instance, _, actions = await load(w, instance.id)
    assert instance.version == 2
    assert [a.action for a in actions] == ["start", "approve"]
    # A key is one request: reusing it for another operation is refused.
    other = await start(w)
    error = await refusal(w, acting(w.leader, other.id, "approve", idempotency_key="click-1"))
    assert (error.code, error.field) == ("INVALID_IDEMPOTENCY_KEY", "idempotencyKey")


# --- the tamper-evident log ---------------------------------------------------------------------------


async def verify_chain_of(w: World, instance_id: int) -> bool:
    async with w.db.read_session() as session:
        return await verify_chain(session, instance_id)


async def test_the_hash_chain_verifies_and_an_edited_comment_breaks_it(w: World) -> None:
    # RULES: SEC-3
    instance = await start(w)
    await do(w, w.leader, instance.id, "approve", "同意上报")
    await do(w, w.county, instance.id, "comment", "已核对")
    assert await verify_chain_of(w, instance.id)

    _, _, actions = await load(w, instance.id)
    async with w.db.unit_of_work(w.clock, w.settings) as uow:
        await uow.session.execute(
            text("UPDATE workflow_action SET comment = :comment WHERE id = :id"),
            {"comment": "不同意", "id": actions[1].id},
        )

    assert not await verify_chain_of(w, instance.id)


async def test_recomputing_the_hashes_after_an_edit_is_still_caught(w: World) -> None:
    # RULES: SEC-3, SEC-7 (the append-only audit log anchors every action's hash)
    instance = await start(w)
    await do(w, w.leader, instance.id, "approve", "同意上报")
    await do(w, w.county, instance.id, "approve", "通过")

    async with w.db.unit_of_work(w.clock, w.settings) as uow:
        rows = list(
            await uow.session.scalars(
                select(WorkflowAction)
                .where(WorkflowAction.instance_id == instance.id)
                .order_by(WorkflowAction.id)
            )
        )
        rows[1].comment = "不同意"
        previous = GENESIS
        for row in rows:
            row.previous_hash, row.hash = previous, action_hash(previous, row)
            previous = row.hash

    assert not await verify_chain_of(w, instance.id)


async def test_a_deleted_last_action_is_caught(w: World) -> None:
    # RULES: SEC-3
    instance = await start(w)
    result = await do(w, w.leader, instance.id, "approve")
    async with w.db.unit_of_work(w.clock, w.settings) as uow:
        await uow.session.execute(
            text("DELETE FROM workflow_action WHERE id = :id"), {"id": result.action.id}
        )

    assert not await verify_chain_of(w, instance.id)
    assert not await verify_chain_of(w, 999_999)


# --- deadlines ----------------------------------------------------------------------------------------


async def test_a_step_opened_before_national_day_is_due_after_it(w: World) -> None:
    # RULES: TRF-4 (10 working days per step). Opened Wed 2026-09-30; Oct 1-7 are off (国庆节); the
    # working days are Oct 8, 9, Sat 10 (调休 make-up day), 12-16 and 19, 20: due Tue 2026-10-20.
    calendar = WorkingDayCalendar.from_package()
    assert calendar.add_working_days(date(2026, 9, 30), 10) == date(2026, 10, 20)
    assert calendar.working_days_between(date(2026, 9, 30), date(2026, 10, 20)) == 10
    w.clock.set(shanghai(2026, 9, 30, 16, 0))
    instance = await start(w, review(deadline=10))

    # Opened Fri 2026-10-09: Sat 10 (调休), 12-16, 19-22: due Thu 2026-10-22.
    w.clock.set(shanghai(2026, 10, 9, 9, 0))
    result = await do(w, w.leader, instance.id, "approve")

    _, steps, _ = await load(w, instance.id)
    assert steps[0].due_on == date(2026, 10, 20)
    assert steps[1].due_on == date(2026, 10, 22)
    assert result.opened is not None and result.opened.due_on == date(2026, 10, 22)
    assert steps[1].opened_at == shanghai(2026, 10, 9, 9, 0)


async def test_the_local_date_decides_the_deadline(w: World) -> None:
    # RULES: TRF-4 (Asia/Shanghai dates): 2026-10-08 23:30 UTC is already Friday 10-09 in Shanghai, so one
    # working day later is the make-up Saturday 10-10 (from the UTC date it would be 10-09).
    w.clock.set(shanghai(2026, 10, 9, 7, 30))
    assert w.clock.now().date() == date(2026, 10, 8)
    assert w.clock.now().astimezone(SHANGHAI).date() == date(2026, 10, 9)
    instance = await start(w, review(deadline=1))
    _, steps, _ = await load(w, instance.id)
    assert steps[0].due_on == date(2026, 10, 10)


async def test_an_unknown_calendar_year_leaves_the_due_date_empty(w: World) -> None:
    # RULES: TRF-4 (never a silent Monday-Friday guess; the business goes on without a due date)
    with pytest.raises(CalendarYearUnknownError):
        WorkingDayCalendar.from_package().add_working_days(date(2026, 12, 28), 10)
    w.clock.set(shanghai(2026, 12, 28, 10, 0))

    instance = await start(w, review(deadline=10))

    _, steps, _ = await load(w, instance.id)
    assert steps[0].state is StepState.PENDING and steps[0].due_on is None


# --- cancelling ---------------------------------------------------------------------------------------


async def test_the_system_cancels_with_a_reason(w: World) -> None:
    # RULES: TRF-4 (a business cleared automatically)
    definition = review()
    with recording_outcomes(definition.kind) as outcomes:
        instance = await start(w, definition)
        error = await refusal(
            w, lambda uow: cancel_workflow(uow, actor=SystemActor(), instance_id=instance.id, reason=" ")
        )
        assert (error.code, error.field) == ("REASON_REQUIRED", "reason")
        async with w.uow() as uow:
            result = await cancel_workflow(
                uow, actor=SystemActor(), instance_id=instance.id, reason="超过90天未办结"
            )

    assert result.finished and outcomes == [
        Finished(instance.id, WorkflowState.CANCELLED, None, "超过90天未办结")
    ]
    instance, steps, actions = await load(w, instance.id)
    assert instance.state is WorkflowState.CANCELLED
    assert [s.state for s in steps] == [StepState.SKIPPED, StepState.SKIPPED]
    assert (actions[-1].action, actions[-1].user_id, actions[-1].comment) == (
        "cancel",
        None,
        "超过90天未办结",
    )
    entry = await audit_entry(w, "workflow.cancelled")
    assert (entry.user_id, entry.unit_path) == (None, w.tree.school_a1.path)
    assert await verify_chain_of(w, instance.id)
    error = await refusal(
        w, lambda uow: cancel_workflow(uow, actor=SystemActor(), instance_id=instance.id, reason="再次")
    )
    assert error.code == "WORKFLOW_CONFLICT"


async def test_a_person_out_of_sight_cannot_cancel(w: World) -> None:
    # RULES: ORG-3
    instance = await start(w)
    error = await refusal(
        w, lambda uow: cancel_workflow(uow, actor=w.other_county, instance_id=instance.id, reason="无关")
    )
    assert error.code == "NOT_FOUND"


async def test_a_failing_outcome_handler_rolls_the_decision_back(w: World) -> None:
    # The hook runs inside the transaction: a records service refusing the outcome undoes the approval.
    definition = review()
    instance = await start(w, definition)

    async def refuse(uow: UnitOfWork, instance: Any, state: WorkflowState) -> None:
        raise DomainError("学籍状态已变化")

    register_outcome(definition.kind, refuse)
    try:
        await do(w, w.leader, instance.id, "approve")
        error = await refusal(w, acting(w.county, instance.id, "approve"))
    finally:
        unregister_outcome(definition.kind, refuse)

    assert error.message == "学籍状态已变化"
    instance, steps, _ = await load(w, instance.id)
    assert (instance.state, instance.version, steps[1].state) == (WorkflowState.OPEN, 2, StepState.PENDING)


async def test_a_step_acting_outside_the_subtree_sees_and_acts(w: World) -> None:
    # RULES: TRF-1 (a receiving school acts on a business scoped to the sending school)
    definition = WorkflowDefinition(
        "test_receiving",
        (StepSpec("转入学校审核", UnitRef.RECEIVING_SCHOOL, Role.LEADER),),
        "测试",
    )
    instance = await start(w, definition, context=w.context(**{RECEIVING_SCHOOL: w.tree.school_b1}))
    error = await refusal(w, acting(w.other_leader, instance.id, "approve"))
    result = await do(w, w.b1_leader, instance.id, "approve")

    assert error.code == "NOT_FOUND"
    assert result.instance.state is WorkflowState.APPROVED


async def test_steps_are_guarded_too(w: World, monkeypatch: pytest.MonkeyPatch) -> None:
    # The pending step changes after the engine read it: its guarded update matches nothing, all rolls back.
    instance = await start(w)
    load_steps = engine.load_steps

    async def load_then_change(session: Any, instance_id: int) -> list[WorkflowStep]:
        steps = await load_steps(session, instance_id)
        async with w.db.unit_of_work(w.clock, w.settings) as other:
            await other.session.execute(
                update(WorkflowStep).where(WorkflowStep.id == steps[0].id).values(state=StepState.SKIPPED)
            )
        return steps

    monkeypatch.setattr(engine, "load_steps", load_then_change)
    before = await counts(w)

    error = await refusal(w, acting(w.leader, instance.id, "approve"))

    assert error.code == "WORKFLOW_CONFLICT"
    assert await counts(w) == before
    instance, _, _ = await load(w, instance.id)
    assert instance.version == 1


async def test_an_open_instance_has_no_finishing_action(w: World) -> None:
    instance = await start(w)
    async with w.db.read_session() as session:
        assert await finishing_action(session, instance.id) is None
        assert await finishing_action(session, 999_999) is None


async def test_a_locked_database_answers_workflow_conflict(w: World) -> None:
    # Another writer holds the lock past the wait limit: a conflict to retry, never an internal error.
    # SQLite locks the whole database; PostgreSQL the instance's row.
    instance = await start(w)
    if is_postgres():
        blocker_engine = create_async_engine(w.settings.database_url)
        blocker = await blocker_engine.connect()
        await blocker.begin()
        await blocker.execute(
            text("SELECT id FROM workflow_instance WHERE id = :id FOR UPDATE"), {"id": instance.id}
        )
        wait_limit = "SET LOCAL lock_timeout = '50ms'"
    else:
        sqlite_blocker = sqlite3.connect(
            make_url(w.settings.database_url).database or "", isolation_level=None
        )
        sqlite_blocker.execute("BEGIN IMMEDIATE")
        wait_limit = "PRAGMA busy_timeout = 50"
    try:

        async def approve_impatiently(uow: UnitOfWork) -> ActResult:
            await uow.session.execute(text(wait_limit))
            return await act(uow, actor=w.leader, instance_id=instance.id, action="approve", comment=None)

        error = await refusal(w, approve_impatiently)
    finally:
        if is_postgres():
            await blocker.rollback()
            await blocker.close()
            await blocker_engine.dispose()
        else:
            sqlite_blocker.execute("ROLLBACK")
            sqlite_blocker.close()

    assert error.code == "WORKFLOW_CONFLICT"
    assert isinstance(error.__cause__, DBAPIError)  # "database is locked" / lock timeout, translated
    instance, steps, actions = await load(w, instance.id)
    assert (instance.version, steps[0].state, len(actions)) == (1, StepState.PENDING, 1)
