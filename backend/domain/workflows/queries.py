"""Read side of the approval engine: the to-do list (待办) and one instance's timeline."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import date

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.calendar import CalendarYearUnknownError, WorkingDayCalendar
from backend.domain.actor import Actor
from backend.domain.pagination import DEFAULT_PAGE, InvalidCursorError, InvalidPageSizeError, Page
from backend.domain.workflows.policy import business_roles, can_see, require_business_actor
from backend.domain.workflows.repository import load_actions, load_instance, load_steps
from backend.models import Unit, WorkflowAction, WorkflowInstance, WorkflowStep
from backend.models.enums import StepState, WorkflowState


@dataclass(frozen=True)
class ToDoItem:
    """A pending step the actor's unit and role must handle, with its business."""

    step: WorkflowStep
    instance: WorkflowInstance
    due_on: date | None
    # Working days from today to the due date (0: due today; negative: late by that many); None when
    # the step has no due date or the calendar does not know a year in between.
    working_days_left: int | None


@dataclass(frozen=True)
class InstanceTimeline:
    instance: WorkflowInstance
    steps: list[WorkflowStep]
    actions: list[WorkflowAction]


async def to_do(
    session: AsyncSession,
    actor: Actor,
    *,
    calendar: WorkingDayCalendar,
    today: date,
    kind: str | None = None,
    first: int | None,
    after: str | None,
    max_page: int,
) -> Page[ToDoItem]:
    """Pending steps whose acting unit is the actor's and whose role the actor holds (ORG-2).

    Ordered by due date (steps without one last), then step id, with keyset pagination on that pair —
    ``paginate`` keys on one integer, so this list carries its own two-part cursor. One SQL statement per
    page whatever its size: the instance is joined in, the working days are computed from ``calendar``
    (``today`` is the Asia/Shanghai date, ``local_today(clock)``).
    """
    require_business_actor(actor)
    size = DEFAULT_PAGE if first is None else first
    if not 1 <= size <= max_page:
        raise InvalidPageSizeError(f"每页条数须在1到{max_page}之间", field="first")
    no_due_date = case((WorkflowStep.due_on.is_(None), 1), else_=0)
    stmt = (
        select(WorkflowStep, WorkflowInstance)
        .join(WorkflowInstance, WorkflowInstance.id == WorkflowStep.instance_id)
        .where(
            WorkflowStep.acting_unit_id == actor.unit_id,
            WorkflowStep.acting_role.in_(sorted(business_roles(actor))),
            WorkflowStep.state == StepState.PENDING,
            WorkflowInstance.state == WorkflowState.OPEN,
        )
    )
    if kind is not None:
        stmt = stmt.where(WorkflowInstance.kind == kind)
    if after is not None:
        last_due, last_id = _decode(after)
        if last_due is None:
            stmt = stmt.where(WorkflowStep.due_on.is_(None), WorkflowStep.id > last_id)
        else:
            stmt = stmt.where(
                or_(
                    WorkflowStep.due_on.is_(None),
                    WorkflowStep.due_on > last_due,
                    and_(WorkflowStep.due_on == last_due, WorkflowStep.id > last_id),
                )
            )
    stmt = stmt.order_by(no_due_date, WorkflowStep.due_on, WorkflowStep.id).limit(size + 1)
    rows = (await session.execute(stmt)).all()
    items = [
        ToDoItem(step, instance, step.due_on, working_days_left(calendar, today, step.due_on))
        for step, instance in rows[:size]
    ]
    return Page(
        items=items,
        cursors=[_encode(item.due_on, item.step.id) for item in items],
        has_next_page=len(rows) > size,
    )


async def to_do_count(session: AsyncSession, actor: Actor) -> int:
    """How many steps wait on the actor's unit and roles (the badge a live to-do shows); one statement."""
    require_business_actor(actor)
    return int(
        await session.scalar(
            select(func.count())
            .select_from(WorkflowStep)
            .join(WorkflowInstance, WorkflowInstance.id == WorkflowStep.instance_id)
            .where(
                WorkflowStep.acting_unit_id == actor.unit_id,
                WorkflowStep.acting_role.in_(sorted(business_roles(actor))),
                WorkflowStep.state == StepState.PENDING,
                WorkflowInstance.state == WorkflowState.OPEN,
            )
        )
        or 0
    )


def working_days_left(calendar: WorkingDayCalendar, today: date, due_on: date | None) -> int | None:
    """Working days in ``(today, due_on]``; negative (late) when ``due_on`` has passed; None if unknown."""
    if due_on is None:
        return None
    try:
        if due_on >= today:
            return calendar.working_days_between(today, due_on)
        return -calendar.working_days_between(due_on, today)
    except CalendarYearUnknownError:
        return None


async def get_instance(session: AsyncSession, actor: Actor, instance_id: int) -> InstanceTimeline | None:
    """The instance with its steps and action log, or None if absent or out of the actor's sight.

    Visible to every unit acting in one of its steps, to everyone whose subtree holds its unit path
    (ORG-3), and — for reading only — to the departments above any acting unit: the receiving school's
    city sees the transfer its school asked for. Three statements, a fourth for a department above a
    party.
    """
    require_business_actor(actor)
    instance = await load_instance(session, instance_id)
    if instance is None:
        return None
    steps = await load_steps(session, instance_id)
    if not can_see(actor, instance, steps):
        parties = {step.acting_unit_id for step in steps}
        paths = await session.scalars(select(Unit.path).where(Unit.id.in_(parties)))
        if not any(actor.covers_path(path) for path in paths):
            return None
    return InstanceTimeline(instance, steps, await load_actions(session, instance_id))


def _encode(due_on: date | None, step_id: int) -> str:
    text = f"t:{'-' if due_on is None else due_on.isoformat()}:{step_id}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _decode(cursor: str) -> tuple[date | None, int]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        prefix, due, step_id = base64.urlsafe_b64decode(padded.encode()).decode().split(":")
        if prefix != "t":
            raise ValueError(prefix)
        return (None if due == "-" else date.fromisoformat(due)), int(step_id)
    except (ValueError, binascii.Error, UnicodeDecodeError) as error:
        raise InvalidCursorError(field="after") from error
