"""What the passing of time does to open businesses (TRF-3, TRF-4), as idempotent functions of "now".

``run_sweeps`` runs, in order:

1. ``record_overdue``: pending steps past their due date whose deadline records them late go into the
   overdue register — one ``INSERT … SELECT … ON CONFLICT DO NOTHING``: a step registered before
   conflicts on the unique ``step_id``, so a second run adds nothing.
2. Automatic approval: pending review steps whose deadline counts as approval (the AH variant of TRF-4)
   are approved by the system, one engine transition and one transaction each (each is a decision with
   its own hash-chained action and outcome); found with one statement (``overdue_approvals``).
3. ``cancel_overdue_retrievals``: a file retrieval not done within its working days cancels the business
   (TRF-3).
4. ``clear_stale``: a business still open after its definition's clearing period (``clears_on``: 90 days,
   TRF-4) is cleared, unless it waits at file retrieval.

The accounts concerned are told: those whose steps were just registered overdue, and — once a day —
those with steps due in two working days (``tell_overdue``, ``tell_deadlines_near``: one notification per
account with the number, one INSERT for all); notifications past the retention period are removed last.

Cancelling and clearing are set-based: instances are taken in chunks, and each chunk costs a fixed number
of statements whatever its size — lock and read the instances, read their last action hashes, skip their
steps, end them, insert their hash-chained ``cancel`` actions and their audit rows (executemany), and run
the kind's batch outcome handlers (``outcomes.on_finished_batch``). On PostgreSQL the chunk is read ``FOR
UPDATE SKIP LOCKED``, so an approver acting at the same moment is neither blocked nor overridden; the end
``UPDATE`` is guarded by ``state = 'OPEN'`` as every transition is. Every automatic action is the
system's (no user), visible in the audit log under the business's unit.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime, time
from typing import Any, cast

from sqlalchemy import Select, String, Table, and_, exists, func, insert, literal, select, update
from sqlalchemy import cast as sql_cast
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm.attributes import set_committed_value

from backend.calendar import CalendarYearUnknownError, load_calendar
from backend.clock import SHANGHAI, local_today
from backend.db import UnitOfWork
from backend.domain.actor import SystemActor
from backend.domain.errors import DomainError
from backend.domain.notifications.log import NotificationKind, notify_counts, sweep_notifications
from backend.domain.workflows.chain import GENESIS, action_hash
from backend.domain.workflows.engine import TODO_CHANNEL, approve_overdue_step, todo_message
from backend.domain.workflows.outcomes import run_batch_outcome_handlers
from backend.domain.workflows.repository import INSTANCE_TARGET
from backend.domain.workflows.workflow import AUDIT_OPERATIONS
from backend.models import (
    AuditEntry,
    Notification,
    OverdueStep,
    Unit,
    User,
    UserRole,
    WorkflowAction,
    WorkflowInstance,
    WorkflowStep,
)
from backend.models.enums import DeadlineAction, StepKind, StepState, WorkflowState

log = logging.getLogger(__name__)

Begin = Callable[[], AbstractAsyncContextManager[UnitOfWork]]
SWEEPER = SystemActor(name="workflow-sweep")
CHUNK = 2000
REASON_APPROVED = "办理时限届满，视为同意"
REASON_RETRIEVAL = "未在规定的工作日内调档，系统自动撤销"
REASON_CLEARED = "业务发起后90日内未办结，系统自动清理，请重新发起"
DEADLINE_NOTICE_DAYS = 2
ACTION_TABLE = cast(Table, WorkflowAction.__table__)
AUDIT_TABLE = cast(Table, AuditEntry.__table__)


@dataclass
class SweepReport:
    """What one run did; every count is 0 on an immediate second run."""

    overdue_recorded: int = 0
    approved: int = 0
    retrievals_cancelled: int = 0
    cleared: int = 0
    deadline_reminders: int = 0
    notifications_removed: int = 0

    def as_json(self) -> dict[str, int]:
        return {
            "overdueRecorded": self.overdue_recorded,
            "approved": self.approved,
            "retrievalsCancelled": self.retrievals_cancelled,
            "cleared": self.cleared,
            "deadlineReminders": self.deadline_reminders,
            "notificationsRemoved": self.notifications_removed,
        }


async def run_sweeps(begin: Begin) -> SweepReport:
    """Every workflow sweep as of the clock's now, each in its own transaction from ``begin``.

    Separate transactions so that one business whose automatic approval its own rules refuse (its outcome
    handler raises: say, the record changed meanwhile) is logged and left for a person, while every other
    sweep and approval still commits.
    """
    report = SweepReport()
    async with begin() as uow:
        report.overdue_recorded = await record_overdue(uow)
        if report.overdue_recorded:
            await tell_overdue(uow)
    async with begin() as uow:
        report.deadline_reminders = await tell_deadlines_near(uow)
    async with begin() as uow:
        due = await overdue_approvals(uow)
    for instance_id, step_id in due:
        try:
            async with begin() as uow:
                result = await approve_overdue_step(
                    uow, actor=SWEEPER, instance_id=instance_id, step_id=step_id, reason=REASON_APPROVED
                )
        except DomainError as error:
            log.warning("automatic approval of workflow %s refused: %s", instance_id, error.code)
            continue
        report.approved += result is not None
    async with begin() as uow:
        report.retrievals_cancelled = await cancel_overdue_retrievals(uow)
    async with begin() as uow:
        report.cleared = await clear_stale(uow)
    async with begin() as uow:
        report.notifications_removed = await sweep_notifications(
            uow, keep_days=uow.settings.notification_retention_days
        )
    return report


def _accounts_of_steps(steps: Any) -> Select[int, int]:
    """``(user id, number of steps)`` for the active accounts of each step's unit and role."""
    return (
        select(User.id, func.count())
        .join(UserRole, UserRole.user_id == User.id)
        .join(steps, and_(steps.c.unit_id == User.unit_id, steps.c.role == UserRole.role))
        .where(User.is_active)
        .group_by(User.id)
    )


async def tell_overdue(uow: UnitOfWork) -> int:
    """Tell the accounts of the units whose steps were just registered overdue, one notice each (TRF-4)."""
    fresh = (
        select(OverdueStep.acting_unit_id.label("unit_id"), OverdueStep.acting_role.label("role"))
        .where(OverdueStep.recorded_at == uow.clock.now())
        .subquery()
    )
    return await notify_counts(uow, _accounts_of_steps(fresh), NotificationKind.STEP_OVERDUE, {})


async def tell_deadlines_near(uow: UnitOfWork) -> int:
    """Once a day, tell accounts whose pending steps fall due in two working days (TRF-4)."""
    today = local_today(uow.clock)
    try:
        target = (await load_calendar(uow.session)).add_working_days(today, DEADLINE_NOTICE_DAYS)
    except CalendarYearUnknownError:
        return 0
    due = (
        select(WorkflowStep.acting_unit_id.label("unit_id"), WorkflowStep.acting_role.label("role"))
        .where(WorkflowStep.state == StepState.PENDING, WorkflowStep.due_on == target)
        .subquery()
    )
    start_of_day = datetime.combine(today, time(), tzinfo=SHANGHAI)
    told_today = exists().where(
        Notification.recipient_id == User.id,
        Notification.kind == str(NotificationKind.DEADLINE_NEAR),
        Notification.created_at >= start_of_day,
    )
    counts = _accounts_of_steps(due).where(~told_today)
    return await notify_counts(uow, counts, NotificationKind.DEADLINE_NEAR, {"dueOn": target.isoformat()})


async def record_overdue(uow: UnitOfWork) -> int:
    """Register pending steps past their due date (TRF-4, MON-2); one statement."""
    today = local_today(uow.clock)
    step = WorkflowStep
    late = (
        select(
            step.id,
            step.instance_id,
            WorkflowInstance.kind,
            step.name,
            step.acting_unit_id,
            step.acting_role,
            Unit.path,
            step.due_on,
            func.substr(sql_cast(step.due_on, String), 1, 7),
            literal(uow.clock.now(), OverdueStep.recorded_at.type),
        )
        .join(WorkflowInstance, WorkflowInstance.id == step.instance_id)
        .join(Unit, Unit.id == step.acting_unit_id)
        .where(
            step.state == StepState.PENDING,
            step.due_on < today,
            step.on_deadline == DeadlineAction.RECORD_OVERDUE,
        )
    )
    columns = [
        OverdueStep.step_id,
        OverdueStep.instance_id,
        OverdueStep.kind,
        OverdueStep.step_name,
        OverdueStep.acting_unit_id,
        OverdueStep.acting_role,
        OverdueStep.unit_path,
        OverdueStep.due_on,
        OverdueStep.month,
        OverdueStep.recorded_at,
    ]
    # ON CONFLICT rather than NOT EXISTS: an anti-join against the table being filled made PostgreSQL
    # rescan the new rows for every row (planned on an empty table) — 43 s instead of 1 s at 100,000.
    dialect_insert = (
        postgresql.insert if uow.session.get_bind().dialect.name == "postgresql" else sqlite.insert
    )
    stmt = (
        dialect_insert(OverdueStep)
        .from_select(columns, late)
        .on_conflict_do_nothing(index_elements=["step_id"])
    )
    result = await uow.session.execute(stmt)
    return max(int(getattr(result, "rowcount", 0) or 0), 0)


async def overdue_approvals(uow: UnitOfWork) -> list[tuple[int, int]]:
    """(instance, step) of pending review steps whose deadline counts as approval (TRF-4, AH 24)."""
    today = local_today(uow.clock)
    rows = await uow.session.execute(
        select(WorkflowStep.instance_id, WorkflowStep.id)
        .where(
            WorkflowStep.state == StepState.PENDING,
            WorkflowStep.due_on < today,
            WorkflowStep.on_deadline == DeadlineAction.APPROVE,
            WorkflowStep.kind == StepKind.REVIEW,
        )
        .order_by(WorkflowStep.instance_id)
    )
    return [(instance_id, step_id) for instance_id, step_id in rows]


async def cancel_overdue_retrievals(uow: UnitOfWork) -> int:
    """Cancel businesses whose file retrieval passed its due date (TRF-3)."""
    today = local_today(uow.clock)
    # Uncorrelated: evaluated once on the (state, due_on) index, not once per instance.
    pending_retrieval_late = WorkflowInstance.id.in_(
        select(WorkflowStep.instance_id).where(
            WorkflowStep.state == StepState.PENDING,
            WorkflowStep.due_on < today,
            WorkflowStep.on_deadline == DeadlineAction.CANCEL,
        )
    )
    return await _end_all(uow, pending_retrieval_late, REASON_RETRIEVAL)


async def clear_stale(uow: UnitOfWork) -> int:
    """Clear businesses open past their clearing date, except those at file retrieval (TRF-4)."""
    today = local_today(uow.clock)
    at_retrieval = WorkflowInstance.id.in_(
        select(WorkflowStep.instance_id).where(
            WorkflowStep.state == StepState.PENDING, WorkflowStep.kind == StepKind.RETRIEVAL
        )
    )
    return await _end_all(uow, and_(WorkflowInstance.clears_on < today, ~at_retrieval), REASON_CLEARED)


async def _end_all(uow: UnitOfWork, condition: Any, reason: str) -> int:
    """Cancel every open instance matching ``condition``, a chunk at a time."""
    ended = 0
    while True:
        stmt = (
            select(WorkflowInstance)
            .where(WorkflowInstance.state == WorkflowState.OPEN, condition)
            .order_by(WorkflowInstance.id)
            .limit(CHUNK)
            .with_for_update(skip_locked=True)
        )
        instances = list((await uow.session.scalars(stmt)).all())
        if not instances:
            return ended
        await _cancel_chunk(uow, instances, reason)
        ended += len(instances)
        if len(instances) < CHUNK:
            return ended


async def _cancel_chunk(uow: UnitOfWork, instances: Sequence[WorkflowInstance], reason: str) -> None:
    """End ``instances`` (locked, open) as CANCELLED with a fixed number of statements."""
    session = uow.session
    now = uow.clock.now()
    ids = [instance.id for instance in instances]
    previous = dict(
        (
            await session.execute(
                select(WorkflowAction.instance_id, WorkflowAction.hash).where(
                    WorkflowAction.id.in_(
                        select(func.max(WorkflowAction.id))
                        .where(WorkflowAction.instance_id.in_(ids))
                        .group_by(WorkflowAction.instance_id)
                    )
                )
            )
        ).all()
    )
    pending = (
        await session.execute(
            select(WorkflowStep.acting_unit_id, WorkflowStep.acting_role)
            .where(WorkflowStep.instance_id.in_(ids), WorkflowStep.state == StepState.PENDING)
            .distinct()
        )
    ).all()
    await session.execute(
        update(WorkflowStep)
        .where(
            WorkflowStep.instance_id.in_(ids),
            WorkflowStep.state.in_((StepState.PENDING, StepState.WAITING)),
        )
        .values(state=StepState.SKIPPED)
        .execution_options(synchronize_session=False)
    )
    await session.execute(
        update(WorkflowInstance)
        .where(WorkflowInstance.id.in_(ids), WorkflowInstance.state == WorkflowState.OPEN)
        .values(state=WorkflowState.CANCELLED, version=WorkflowInstance.version + 1, finished_at=now)
        .execution_options(synchronize_session=False)
    )
    actions = [
        _cancel_action(instance, previous.get(instance.id) or GENESIS, now, reason) for instance in instances
    ]
    values = [_action_values(action) for action in actions]
    await session.execute(insert(ACTION_TABLE), values)
    # An ended instance has exactly one cancel action: its id, for the audit anchor.
    action_ids = {
        instance_id: action_id
        for action_id, instance_id in await session.execute(
            select(WorkflowAction.id, WorkflowAction.instance_id).where(
                WorkflowAction.instance_id.in_(ids), WorkflowAction.action == "cancel"
            )
        )
    }
    before = {instance.id: _snapshot(instance) for instance in instances}
    for instance in instances:
        set_committed_value(instance, "state", WorkflowState.CANCELLED)
        set_committed_value(instance, "version", instance.version + 1)
        set_committed_value(instance, "finished_at", now)
    await session.execute(
        insert(AUDIT_TABLE),
        [
            _audit_values(instance, action, row["hash"], action_ids[instance.id], before[instance.id], now)
            for instance, action, row in zip(instances, actions, values, strict=True)
        ],
    )
    by_kind: dict[str, list[WorkflowInstance]] = defaultdict(list)
    for instance in instances:
        by_kind[instance.kind].append(instance)
    for kind, members in by_kind.items():
        await run_batch_outcome_handlers(uow, kind, members, WorkflowState.CANCELLED)
    for unit_id, role in pending:
        uow.notify(TODO_CHANNEL, todo_message(unit_id, role))


@dataclass(frozen=True)
class CancelAction:
    """A system ``cancel`` action as inserted in bulk (``chain.ActionFields``): no ORM object per row."""

    instance_id: int
    position: int
    at: datetime
    comment: str
    previous_hash: str
    action: str = "cancel"
    user_id: None = None
    delegate_id: None = None
    role: None = None
    unit_id: None = None
    attachment_ids: list[int] = field(default_factory=list)


def _cancel_action(instance: WorkflowInstance, previous: str, now: datetime, reason: str) -> CancelAction:
    return CancelAction(instance.id, instance.current_step, now, reason, previous)


def _action_values(action: CancelAction) -> dict[str, Any]:
    return {
        "instance_id": action.instance_id,
        "position": action.position,
        "action": action.action,
        "user_id": None,
        "delegate_id": None,
        "role": None,
        "unit_id": None,
        "at": action.at,
        "comment": action.comment,
        "attachment_ids": [],
        "previous_hash": action.previous_hash,
        "hash": action_hash(action.previous_hash, action),
    }


def _snapshot(instance: WorkflowInstance) -> dict[str, Any]:
    return {"state": str(instance.state), "currentStep": instance.current_step, "version": instance.version}


def _audit_values(
    instance: WorkflowInstance,
    action: CancelAction,
    hashed: str,
    action_id: int,
    before: dict[str, Any],
    now: datetime,
) -> dict[str, Any]:
    """The row ``engine._audit`` writes for an action, for the system under the business's unit."""
    return {
        "at": now,
        "user_id": None,
        "delegate_id": None,
        "role": None,
        "unit_id": None,
        "unit_path": instance.unit_path,
        "operation": AUDIT_OPERATIONS["cancel"],
        "target_type": INSTANCE_TARGET,
        "target_id": str(instance.id),
        "before": before,
        "after": {
            **_snapshot(instance),
            "action": "cancel",
            "position": action.position,
            "actionId": action_id,
            "actionHash": hashed,
            "comment": action.comment,
            "system": SWEEPER.name,
        },
        "ip": None,
    }
