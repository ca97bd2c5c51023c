"""The one approval engine every multi-party business uses: start, act, cancel, verify.

A business service (registration, change request, status change, transfer) starts an instance from a
``WorkflowDefinition`` and its context units; the engine copies the resolved steps, opens the first, and
from then on moves the instance when the pending step's unit and role approve or reject, when the starter
withdraws, or when the system cancels. When an instance finishes, the handlers registered for its kind
(``outcomes``) run in the same transaction. Services never commit: the edge does.

Concurrency. Every transition is one guarded statement, the engine's first write for the action::

    UPDATE workflow_instance SET version = version + 1, …
     WHERE id = :id AND state = 'OPEN' AND version = :seen

Of two approvers of one step exactly one matches. PostgreSQL makes the loser wait for the winner's row
lock, re-checks the WHERE on the new row and matches nothing. On SQLite the driver opens the transaction
lazily at the first write, so (in a unit of work that has not written before) the loser's statement
waits on the busy timeout for the winner's commit and then runs on a fresh snapshot, matching nothing
too; should SQLite answer "database is locked" instead, that is translated as well. Either way the loser
gets WORKFLOW_CONFLICT — never an internal error, never a second decision. Step rows are updated with the
same kind of guard (``AND state = 'PENDING'``). Only after winning does the engine read the previous
action's hash, so the log is appended serially on both backends; a comment takes the same row lock
(``version = version``) without changing the version, so it never invalidates an approver's view.

Deadlines. A step with a deadline gets ``due_on = add_working_days(today in Shanghai, n)`` when it opens
(TRF-4 style). If the working-day calendar does not know the year, the step opens with no due date: a
missing State Council notice must not stop a registration. The step is then simply not counted as late;
a warning is logged so the administrator enters the year.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from backend.calendar import CalendarYearUnknownError, WorkingDayCalendar, load_calendar
from backend.clock import local_today
from backend.db import UnitOfWork
from backend.domain.actor import Actor, SystemActor
from backend.domain.audit.service import record_audit
from backend.domain.errors import ForbiddenError, NotFoundError
from backend.domain.notifications.log import NotificationKind, notify_unit_role, notify_users
from backend.domain.settings import load_province_settings
from backend.domain.workflows.chain import GENESIS, action_hash, chain_is_intact
from backend.domain.workflows.definitions import (
    WorkflowContext,
    WorkflowDefinition,
    load_context_units,
    resolve_steps,
)
from backend.domain.workflows.errors import (
    CommentRequiredError,
    CommentTooLongError,
    DuplicateRequestError,
    InvalidIdempotencyKeyError,
    ReasonRequiredError,
    RetrievalStepError,
    WorkflowAlreadyOpenError,
    WorkflowConflictError,
)
from backend.domain.workflows.outcomes import run_outcome_handlers
from backend.domain.workflows.overdue import record_if_late
from backend.domain.workflows.policy import can_see, comment_role, is_party, require_business_actor
from backend.domain.workflows.repository import (
    INSTANCE_TARGET,
    audit_anchors,
    find_open_instance,
    last_action,
    last_hash,
    load_actions,
    load_attachments,
    load_instance,
    load_steps,
    recorded_key,
    start_action,
)
from backend.domain.workflows.workflow import (
    AUDIT_OPERATIONS,
    FINAL_STATES,
    ActionName,
    UserAction,
    transition,
)
from backend.models import IdempotencyKey, Unit, WorkflowAction, WorkflowInstance, WorkflowStep
from backend.models.enums import Role, StepKind, StepState, WorkflowState

log = logging.getLogger(__name__)

MAX_COMMENT = 2000
MAX_KEY = 100
START_OPERATION = "workflow.start"
ACT_OPERATION = "workflow.act"
TODO_CHANNEL = "todo"
USER_ACTIONS: frozenset[str] = frozenset({"approve", "reject", "withdraw", "comment"})


@dataclass(frozen=True)
class ActResult:
    """What an action did: the instance after it, the recorded action, and the step it opened."""

    instance: WorkflowInstance
    action: WorkflowAction
    opened: WorkflowStep | None = None
    # True when an idempotency key matched: nothing was done now, this is the first call's result.
    replayed: bool = False

    @property
    def finished(self) -> bool:
        return self.instance.state in FINAL_STATES


def todo_message(unit_id: int, role: Role) -> str:
    """The ``todo`` notice telling one unit's role that its to-do list changed."""
    return f"unit:{unit_id}:{role}"


async def start_workflow(
    uow: UnitOfWork,
    *,
    actor: Actor | SystemActor,
    definition: WorkflowDefinition,
    subject_type: str,
    subject_id: int,
    context: WorkflowContext,
    data: Mapping[str, Any] | None = None,
    idempotency_key: str | None = None,
    calendar: WorkingDayCalendar | None = None,
) -> WorkflowInstance:
    """Start an approval of ``subject_type``/``subject_id`` along ``definition`` (REG-4, CHG-3, TRF-1).

    Only the definition's starter (by default the subject school's registrar) may start it, and only
    one instance of a kind may be open per subject. The instance is scoped to the subject school's path;
    its steps are resolved now and kept; the first opens at once. With ``idempotency_key`` a retry by
    the same user returns the first call's instance and creates nothing.

    Args:
        uow: The unit of work; nothing is committed here.
        actor: The person starting it, or the system (a batch); the system passes every check.
        definition: The workflow's steps.
        subject_type: What the business is about (``"student_record"``, ``"change_request"``).
        subject_id: Its id.
        context: The subject school and any other named units the steps refer to.
        data: Business payload kept on the instance (JSON); keys starting with ``_`` are reserved.
        idempotency_key: The client's key for this request (1–100 characters); keys belong to a user,
            so the system's starts ignore it.
        calendar: The working-day calendar for due dates; loaded from the database when needed if omitted.

    Raises:
        ForbiddenError: The actor may see the subject school but is not the starter (ORG-2).
        NotFoundError: The subject school is outside the actor's jurisdiction (ORG-3).
        WorkflowAlreadyOpenError: An instance of this kind is already open for the subject.
    """
    session = uow.session
    key: str | None = None
    if isinstance(actor, Actor):
        require_business_actor(actor)
        key = _clean_key(idempotency_key)
        if key is not None:
            recorded = await _recorded_result(session, actor, key, START_OPERATION)
            if recorded is not None:
                replayed = await load_instance(session, _int(recorded, "instance_id"))
                if replayed is None:
                    raise NotFoundError()
                return replayed
    payload = dict(data or {})
    if any(name.startswith("_") for name in payload):
        raise ValueError("workflow data keys starting with '_' are reserved for the engine")

    units = await load_context_units(session, context)
    starter = definition.starter.resolve(context, units)
    if isinstance(actor, Actor) and not is_party(actor, starter.id, definition.starter_role):
        visible = actor.covers_path(context.subject_school.path) or actor.unit_id == starter.id
        raise ForbiddenError() if visible else NotFoundError()
    resolved = resolve_steps(definition, context, units)
    if await find_open_instance(
        session, kind=definition.kind, subject_type=subject_type, subject_id=subject_id
    ):
        raise WorkflowAlreadyOpenError()

    now = uow.clock.now()
    today = local_today(uow.clock)
    instance = WorkflowInstance(
        kind=definition.kind,
        subject_type=subject_type,
        subject_id=subject_id,
        state=WorkflowState.OPEN,
        current_step=0,
        version=1,
        unit_path=context.subject_school.path,
        started_by_id=actor.user_id,
        started_at=now,
        finished_at=None,
        clears_on=None
        if definition.clear_after_days is None
        else today + timedelta(days=definition.clear_after_days),
        data=payload,
    )
    session.add(instance)
    try:
        await session.flush()
    except IntegrityError as error:  # a concurrent start won the partial unique index
        raise WorkflowAlreadyOpenError() from error
    first_due = await _due_on(uow, resolved[0].unit_id, resolved[0].deadline_working_days, calendar)
    steps = [
        WorkflowStep(
            instance_id=instance.id,
            position=position,
            name=step.name,
            acting_unit_id=step.unit_id,
            acting_role=step.role,
            kind=step.kind,
            deadline_working_days=step.deadline_working_days,
            on_deadline=step.on_deadline if step.deadline_working_days is not None else None,
            state=StepState.PENDING if position == 0 else StepState.WAITING,
            due_on=first_due if position == 0 else None,
            opened_at=now if position == 0 else None,
        )
        for position, step in enumerate(resolved)
    ]
    session.add_all(steps)
    action = await _append_action(
        uow,
        instance,
        action="start",
        position=None,
        actor=actor,
        role=definition.starter_role if isinstance(actor, Actor) else None,
        unit_id=actor.unit_id if isinstance(actor, Actor) else None,
        comment=None,
        attachment_ids=[],
        previous=GENESIS,
    )
    await _audit(
        uow,
        actor=actor,
        instance=instance,
        action=action,
        before=None,
        extra={"kind": instance.kind, "subjectType": subject_type, "subjectId": subject_id},
    )
    if isinstance(actor, Actor) and key is not None:
        await _record_key(uow, actor, key, START_OPERATION, {"instance_id": instance.id})
    await _tell_pending(uow, instance, steps[0])
    uow.notify(TODO_CHANNEL, todo_message(steps[0].acting_unit_id, steps[0].acting_role))
    return instance


async def started_with_key(
    session: AsyncSession, actor: Actor | SystemActor, key: str | None, *, kind: str
) -> WorkflowInstance | None:
    """The instance a first call with this idempotency key started, or None when the key is new.

    For the businesses whose start does more than ``start_workflow`` (a submission changes the record
    first): they look here before anything else, so a retry returns the first result and writes nothing.

    Raises:
        InvalidIdempotencyKeyError: the key is malformed, or was used for another operation or kind.
    """
    if not isinstance(actor, Actor):
        return None
    clean = _clean_key(key)
    if clean is None:
        return None
    recorded = await _recorded_result(session, actor, clean, START_OPERATION)
    if recorded is None:
        return None
    instance = await load_instance(session, _int(recorded, "instance_id"))
    if instance is None or instance.kind != kind:
        raise InvalidIdempotencyKeyError()
    return instance


async def act(
    uow: UnitOfWork,
    *,
    actor: Actor,
    instance_id: int,
    action: UserAction,
    comment: str | None,
    attachment_ids: Sequence[int] = (),
    expected_version: int | None = None,
    idempotency_key: str | None = None,
    calendar: WorkingDayCalendar | None = None,
    completes_retrieval: bool = False,
) -> ActResult:
    """Approve or reject the pending step, withdraw the business, or comment on it (REG-4, SEC-3).

    A ``RETRIEVAL`` step (TRF-2) is neither approved nor rejected through here: the business that owns it
    completes it with ``completes_retrieval=True`` after its own checks (TRF-3: the student reported).

    * ``approve``/``reject``: only an actor of the pending step's unit holding its role (ORG-2: never a
      system administrator); a rejection needs a reason. Approving the last step approves the instance.
    * ``withdraw``: the starter's unit and role, while open.
    * ``comment``: anyone who can see the instance, with a business role, while open.

    Every action is recorded in the hash-chained log with who, in which role and unit, when (SEC-3), and
    an audit row. ``expected_version`` is the version the client saw; if the instance moved since, or
    another approver wins a race, the answer is WORKFLOW_CONFLICT. With ``idempotency_key`` a retry by
    the same user returns the first call's result (``replayed``) and does nothing.

    Raises:
        NotFoundError: No such instance, or outside the actor's sight (ORG-3).
        ForbiddenError: Visible, but not the actor's to do.
        ReasonRequiredError: A rejection without a reason (REASON_REQUIRED).
        WorkflowConflictError: A stale version, a finished instance, or a lost race (WORKFLOW_CONFLICT).
    """
    if action not in USER_ACTIONS:
        raise ValueError(f"unknown workflow action {action!r}")
    session = uow.session
    require_business_actor(actor)
    key = _clean_key(idempotency_key)
    if key is not None:
        recorded = await _recorded_result(session, actor, key, ACT_OPERATION)
        if recorded is not None:
            if recorded.get("instance_id") != instance_id or recorded.get("action") != action:
                raise InvalidIdempotencyKeyError()
            return await _replayed(session, recorded)

    instance = await load_instance(session, instance_id)
    steps = [] if instance is None else await load_steps(session, instance_id)
    if instance is None or not can_see(actor, instance, steps):
        raise NotFoundError()
    if expected_version is not None and expected_version != instance.version:
        raise WorkflowConflictError()

    role: Role | None
    if action in ("approve", "reject"):
        pending = _pending_step(instance, steps)
        if pending is None or not is_party(actor, pending.acting_unit_id, pending.acting_role):
            # The actor's own step was decided already (by a colleague, or the business ended): stale view.
            if any(
                is_party(actor, step.acting_unit_id, step.acting_role)
                and step.state not in (StepState.WAITING, StepState.PENDING)
                for step in steps
            ):
                raise WorkflowConflictError()
            raise ForbiddenError()
        if (pending.kind is StepKind.RETRIEVAL) != (completes_retrieval and action == "approve"):
            raise RetrievalStepError()
        role = pending.acting_role
    elif action == "withdraw":
        started = await start_action(session, instance.id)
        if started is None or not is_party(actor, started.unit_id, started.role):
            raise ForbiddenError()
        role = started.role
    else:
        role = comment_role(actor, steps)
    text = _clean_comment(comment)
    if action == "reject" and text is None:
        raise ReasonRequiredError()
    if action == "comment" and text is None and not attachment_ids:
        raise CommentRequiredError()
    if instance.state is not WorkflowState.OPEN:
        raise WorkflowConflictError()
    attachments = await _checked_attachments(session, actor, attachment_ids)
    recorded_action, opened = await _apply(
        uow,
        actor=actor,
        instance=instance,
        steps=steps,
        action=action,
        role=role,
        unit_id=actor.unit_id,
        comment=text,
        attachment_ids=attachments,
        calendar=calendar,
    )
    if key is not None:
        await _record_key(
            uow,
            actor,
            key,
            ACT_OPERATION,
            {"instance_id": instance.id, "action": action, "action_id": recorded_action.id},
        )
    return ActResult(instance=instance, action=recorded_action, opened=opened)


async def cancel_workflow(
    uow: UnitOfWork, *, actor: SystemActor | Actor, instance_id: int, reason: str
) -> ActResult:
    """End an open instance without a decision (the 90-day clearing of TRF-4, graduation in TRF-5).

    The calling service decides who may cancel; the engine refuses only a person who cannot see the
    instance (NOT_FOUND) or holds no business role (ORG-2). A reason is required. The outcome handlers
    run with CANCELLED.
    """
    session = uow.session
    if isinstance(actor, Actor):
        require_business_actor(actor)
    instance = await load_instance(session, instance_id)
    steps = [] if instance is None else await load_steps(session, instance_id)
    if instance is None or (isinstance(actor, Actor) and not can_see(actor, instance, steps)):
        raise NotFoundError()
    text = _clean_comment(reason, field="reason")
    if text is None:
        raise ReasonRequiredError(field="reason")
    if instance.state is not WorkflowState.OPEN:
        raise WorkflowConflictError()
    recorded_action, _ = await _apply(
        uow,
        actor=actor,
        instance=instance,
        steps=steps,
        action="cancel",
        role=comment_role(actor, steps) if isinstance(actor, Actor) else None,
        unit_id=actor.unit_id if isinstance(actor, Actor) else None,
        comment=text,
        attachment_ids=[],
        calendar=None,
    )
    return ActResult(instance=instance, action=recorded_action)


async def approve_overdue_step(
    uow: UnitOfWork, *, actor: SystemActor, instance_id: int, step_id: int, reason: str
) -> ActResult | None:
    """The system approves a step whose deadline counts as approval (TRF-4, AH variant).

    Returns ``None`` when the step is no longer the pending one (someone acted first): the sweep's view was
    stale, and nothing is done.
    """
    instance = await load_instance(uow.session, instance_id)
    steps = [] if instance is None else await load_steps(uow.session, instance_id)
    if instance is None or instance.state is not WorkflowState.OPEN:
        return None
    pending = _pending_step(instance, steps)
    if pending is None or pending.id != step_id or pending.kind is not StepKind.REVIEW:
        return None
    try:
        recorded_action, opened = await _apply(
            uow,
            actor=actor,
            instance=instance,
            steps=steps,
            action="approve",
            role=None,
            unit_id=None,
            comment=reason,
            attachment_ids=[],
            calendar=None,
        )
    except WorkflowConflictError:
        return None
    return ActResult(instance=instance, action=recorded_action, opened=opened)


async def finishing_action(session: AsyncSession, instance_id: int) -> WorkflowAction | None:
    """The action that ended a finished instance, for outcome handlers; None while it is open.

    Its ``comment`` is the reviewer's reason (a rejection's is never empty), and ``user_id``,
    ``delegate_id``, ``role`` and ``unit_id`` say who decided (no user: the system).
    """
    instance = await load_instance(session, instance_id)
    if instance is None or instance.state not in FINAL_STATES:
        return None
    return await last_action(session, instance_id)


async def verify_chain(session: AsyncSession, instance_id: int) -> bool:
    """Whether the instance's action log is intact (SEC-3).

    Recomputes every hash and link from the first action, then compares the hashes with those the
    append-only audit log recorded when each action was taken — so an edit is caught even if whoever
    made it recomputed the hashes, and so is a removed last action. An instance without actions (or no
    instance at all) does not verify.
    """
    actions = await load_actions(session, instance_id)
    if not actions or not chain_is_intact(actions):
        return False
    return await audit_anchors(session, instance_id) == [action.hash for action in actions]


# --- the transition ---------------------------------------------------------------------------------


async def _apply(
    uow: UnitOfWork,
    *,
    actor: Actor | SystemActor,
    instance: WorkflowInstance,
    steps: list[WorkflowStep],
    action: ActionName,
    role: Role | None,
    unit_id: int | None,
    comment: str | None,
    attachment_ids: list[int],
    calendar: WorkingDayCalendar | None,
) -> tuple[WorkflowAction, WorkflowStep | None]:
    """Apply ``action`` to the open ``instance`` as ``version`` was read; write its action and audit rows."""
    current = instance.current_step
    plan = transition(action, current=current, step_count=len(steps))
    before = _snapshot(instance)
    now = uow.clock.now()
    values: dict[str, Any] = {}
    if plan.bumps_version:
        values = {"state": plan.state, "current_step": plan.current_step}
        if plan.finishes:
            values["finished_at"] = now
    await _guarded_instance_update(uow.session, instance, values, bump=plan.bumps_version)

    pending = steps[current]
    closed: WorkflowStep | None = None
    if plan.acted_step is not None:
        decided = plan.acted_step in (StepState.APPROVED, StepState.REJECTED)
        await _guarded_step_update(
            uow.session,
            pending,
            expected=StepState.PENDING,
            state=plan.acted_step,
            acted_at=now if decided else None,
            acted_by_id=actor.user_id if decided else None,
        )
        closed = pending
        if decided and isinstance(actor, Actor):
            await record_if_late(uow, instance, pending)
    if plan.skip_waiting:
        await _skip_waiting(uow.session, instance, steps)
    opened: WorkflowStep | None = None
    if plan.open_position is not None:
        opened = steps[plan.open_position]
        due = await _due_on(uow, opened.acting_unit_id, opened.deadline_working_days, calendar)
        await _guarded_step_update(
            uow.session,
            opened,
            expected=StepState.WAITING,
            state=StepState.PENDING,
            opened_at=now,
            due_on=due,
        )

    recorded = await _append_action(
        uow,
        instance,
        action=action,
        position=current,
        actor=actor,
        role=role,
        unit_id=unit_id,
        comment=comment,
        attachment_ids=attachment_ids,
    )
    await _audit(uow, actor=actor, instance=instance, action=recorded, before=before)
    if plan.finishes:
        await run_outcome_handlers(uow, instance, plan.state)
        if instance.started_by_id is not None and instance.started_by_id != actor.user_id:
            await notify_users(
                uow,
                [instance.started_by_id],
                NotificationKind.DECIDED,
                {**_about(instance), "state": str(plan.state), "comment": comment},
            )
    elif opened is not None:
        await _tell_pending(uow, instance, opened)
    for step in (closed, opened):
        if step is not None:
            uow.notify(TODO_CHANNEL, todo_message(step.acting_unit_id, step.acting_role))
    return recorded, opened


def _about(instance: WorkflowInstance) -> dict[str, Any]:
    """What a notification says about a business: enough for the client to open it."""
    return {
        "workflowId": instance.id,
        "kind": instance.kind,
        "subjectType": instance.subject_type,
        "subjectId": instance.subject_id,
    }


async def _tell_pending(uow: UnitOfWork, instance: WorkflowInstance, step: WorkflowStep) -> None:
    """The step's unit and role learn that it waits on them (one INSERT for all their accounts)."""
    await notify_unit_role(
        uow,
        step.acting_unit_id,
        step.acting_role,
        NotificationKind.STEP_PENDING,
        {
            **_about(instance),
            "step": step.name,
            "dueOn": None if step.due_on is None else step.due_on.isoformat(),
        },
    )


async def _guarded_instance_update(
    session: AsyncSession, instance: WorkflowInstance, values: dict[str, Any], *, bump: bool
) -> None:
    """The guarded transition; a comment only takes the row lock (``version = version``)."""
    seen = instance.version
    stmt = (
        update(WorkflowInstance)
        .where(
            WorkflowInstance.id == instance.id,
            WorkflowInstance.state == WorkflowState.OPEN,
            WorkflowInstance.version == seen,
        )
        .values(version=WorkflowInstance.version + 1 if bump else WorkflowInstance.version, **values)
        .execution_options(synchronize_session=False)
    )
    try:
        result = cast(CursorResult[Any], await session.execute(stmt))
    except DBAPIError as error:
        if _is_lock_conflict(error):
            raise WorkflowConflictError() from error
        raise
    if result.rowcount != 1:
        raise WorkflowConflictError()
    _set(instance, version=seen + 1 if bump else seen, **values)


async def _guarded_step_update(
    session: AsyncSession, step: WorkflowStep, *, expected: StepState, **values: Any
) -> None:
    stmt = (
        update(WorkflowStep)
        .where(WorkflowStep.id == step.id, WorkflowStep.state == expected)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    result = cast(CursorResult[Any], await session.execute(stmt))
    if result.rowcount != 1:
        raise WorkflowConflictError()
    _set(step, **values)


async def _skip_waiting(session: AsyncSession, instance: WorkflowInstance, steps: list[WorkflowStep]) -> None:
    await session.execute(
        update(WorkflowStep)
        .where(WorkflowStep.instance_id == instance.id, WorkflowStep.state == StepState.WAITING)
        .values(state=StepState.SKIPPED)
        .execution_options(synchronize_session=False)
    )
    for step in steps:
        if step.state is StepState.WAITING:
            _set(step, state=StepState.SKIPPED)


def _set(obj: object, **values: Any) -> None:
    """Mirror a Core UPDATE on the loaded object without marking it dirty."""
    for name, value in values.items():
        set_committed_value(obj, name, value)


def _is_lock_conflict(error: DBAPIError) -> bool:
    """SQLite's busy/locked answers and PostgreSQL's serialization failure, deadlock and lock-timeout."""
    text = str(error.orig).lower()
    if "database is locked" in text or "database is busy" in text:
        return True
    state = getattr(error.orig, "sqlstate", None) or getattr(error.orig, "pgcode", None)
    return state in {"40001", "40P01", "55P03"}


def _pending_step(instance: WorkflowInstance, steps: list[WorkflowStep]) -> WorkflowStep | None:
    if instance.state is not WorkflowState.OPEN:
        return None
    return next((step for step in steps if step.state is StepState.PENDING), None)


async def _due_on(
    uow: UnitOfWork, acting_unit_id: int, days: int | None, calendar: WorkingDayCalendar | None
) -> date | None:
    """The step's due date, or None without a deadline or when the calendar lacks the year (see above).

    The working days are counted outside the winter and summer holidays of the acting unit's province
    (TRF-4): across provinces, each party by its own holidays.
    """
    if days is None:
        return None
    working_days = calendar or await load_calendar(uow.session)
    acting_path = await uow.session.scalar(select(Unit.path).where(Unit.id == acting_unit_id))
    holidays = (await load_province_settings(uow.session, acting_path or "/")).school_holidays
    today = local_today(uow.clock)
    try:
        return working_days.add_counted_working_days(
            today, days, lambda day: any(window.contains(day) for window in holidays)
        )
    except CalendarYearUnknownError as error:
        log.warning("step opened on %s without a due date: calendar year %s unknown", today, error.year)
        return None


# --- the action log, audit and idempotency ----------------------------------------------------------


async def _append_action(
    uow: UnitOfWork,
    instance: WorkflowInstance,
    *,
    action: ActionName,
    position: int | None,
    actor: Actor | SystemActor,
    role: Role | None,
    unit_id: int | None,
    comment: str | None,
    attachment_ids: list[int],
    previous: str | None = None,
) -> WorkflowAction:
    """Add one hash-chained action (SEC-3); the caller already holds the instance's row lock."""
    if previous is None:
        previous = await last_hash(uow.session, instance.id) or GENESIS
    row = WorkflowAction(
        instance_id=instance.id,
        position=position,
        action=action,
        user_id=actor.user_id,
        delegate_id=actor.delegate_id if isinstance(actor, Actor) else None,
        role=role,
        unit_id=unit_id,
        at=uow.clock.now(),
        comment=comment,
        attachment_ids=attachment_ids,
        previous_hash=previous,
        hash="",
    )
    row.hash = action_hash(previous, row)
    uow.session.add(row)
    await uow.session.flush()
    return row


def _snapshot(instance: WorkflowInstance) -> dict[str, Any]:
    return {"state": str(instance.state), "currentStep": instance.current_step, "version": instance.version}


async def _audit(
    uow: UnitOfWork,
    *,
    actor: Actor | SystemActor,
    instance: WorkflowInstance,
    action: WorkflowAction,
    before: dict[str, Any] | None,
    extra: Mapping[str, Any] | None = None,
) -> None:
    """One audit row per action, carrying its hash: the append-only log anchors the chain (SEC-3, SEC-7)."""
    after = {
        **_snapshot(instance),
        **(extra or {}),
        "action": action.action,
        "position": action.position,
        "actionId": action.id,
        "actionHash": action.hash,
    }
    if action.comment is not None:
        after["comment"] = action.comment
    entry = await record_audit(
        uow,
        actor=actor,
        operation=AUDIT_OPERATIONS[cast(ActionName, action.action)],
        target_type=INSTANCE_TARGET,
        target_id=instance.id,
        before=before,
        after=after,
        scope_path=instance.unit_path,
    )
    if action.role is not None:
        entry.role = action.role  # the role acted in, not the account's first role


def _clean_key(key: str | None) -> str | None:
    if key is None:
        return None
    key = key.strip()
    if not key or len(key) > MAX_KEY:
        raise InvalidIdempotencyKeyError()
    return key


async def _recorded_result(
    session: AsyncSession, actor: Actor, key: str, operation: str
) -> dict[str, Any] | None:
    row = await recorded_key(session, actor.user_id, key)
    if row is None:
        return None
    if row.operation != operation:
        raise InvalidIdempotencyKeyError()
    return row.result


async def _replayed(session: AsyncSession, recorded: dict[str, Any]) -> ActResult:
    instance = await load_instance(session, _int(recorded, "instance_id"))
    action = await session.get(WorkflowAction, _int(recorded, "action_id"))
    if instance is None or action is None:
        raise NotFoundError()
    return ActResult(instance=instance, action=action, replayed=True)


async def _record_key(
    uow: UnitOfWork, actor: Actor, key: str, operation: str, result: dict[str, Any]
) -> None:
    """Record the key in this transaction; a concurrent request with the same key loses here."""
    await uow.session.flush()
    uow.session.add(
        IdempotencyKey(
            user_id=actor.user_id, key=key, operation=operation, result=result, created_at=uow.clock.now()
        )
    )
    try:
        await uow.session.flush()
    except IntegrityError as error:
        raise DuplicateRequestError() from error


def _int(recorded: Mapping[str, Any], name: str) -> int:
    value = recorded.get(name)
    if not isinstance(value, int):
        raise InvalidIdempotencyKeyError()
    return value


def _clean_comment(text: str | None, *, field: str = "comment") -> str | None:
    if text is None:
        return None
    text = text.strip()
    if len(text) > MAX_COMMENT:
        raise CommentTooLongError(field=field)
    return text or None


async def _checked_attachments(session: AsyncSession, actor: Actor, ids: Sequence[int]) -> list[int]:
    """The attachment ids, deduplicated in order, each existing and readable by the actor (ORG-3)."""
    unique = list(dict.fromkeys(ids))
    found = {attachment.id: attachment for attachment in await load_attachments(session, unique)}
    for attachment_id in unique:
        attachment = found.get(attachment_id)
        if attachment is None or not (
            attachment.unit_id == actor.unit_id or actor.covers_path(attachment.unit_path)
        ):
            raise NotFoundError(field="attachmentIds")
    return unique


__all__ = [
    "ActResult",
    "started_with_key",
    "act",
    "cancel_workflow",
    "finishing_action",
    "start_workflow",
    "todo_message",
    "verify_chain",
]
