"""The overdue register (TRF-4, MON-2): steps not handled within their working days, by responsible unit.

A step lands here once, however it was late: still pending when the deadline sweep passes its due date
(``sweeps.record_overdue``, set-based), or decided after its due date between two sweeps
(``record_if_late``, at the decision). Steps whose deadline counts as approval (the AH variant) or
cancels the business (file retrieval) are not overdue: their deadline has its own consequence. The month
is the due date's: the circular of that month lists the unit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from sqlalchemy import exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.clock import local_today
from backend.db import UnitOfWork
from backend.domain.actor import Actor
from backend.domain.errors import NotFoundError, ValidationError
from backend.domain.pagination import Page, paginate
from backend.domain.permissions import Operation, authorize
from backend.models import OverdueStep, Unit, WorkflowInstance, WorkflowStep
from backend.models.enums import DeadlineAction


async def record_if_late(uow: UnitOfWork, instance: WorkflowInstance, step: WorkflowStep) -> None:
    """Add the decided ``step`` to the register when it was decided after its due date."""
    if step.due_on is None or step.on_deadline is not DeadlineAction.RECORD_OVERDUE:
        return
    if local_today(uow.clock) <= step.due_on:
        return
    session = uow.session
    if await session.scalar(select(exists().where(OverdueStep.step_id == step.id))):
        return
    unit_path = await session.scalar(select(Unit.path).where(Unit.id == step.acting_unit_id))
    assert unit_path is not None
    session.add(
        OverdueStep(
            step_id=step.id,
            instance_id=instance.id,
            kind=instance.kind,
            step_name=step.name,
            acting_unit_id=step.acting_unit_id,
            acting_role=step.acting_role,
            unit_path=unit_path,
            due_on=step.due_on,
            month=month_of(step.due_on),
            recorded_at=uow.clock.now(),
        )
    )


def month_of(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


@dataclass(frozen=True)
class OverdueCount:
    """One unit's overdue steps in a month, for the circular."""

    unit_id: int
    unit_name: str
    count: int


async def overdue_steps(
    session: AsyncSession,
    actor: Actor,
    *,
    month: str,
    unit_id: int | None = None,
    first: int | None = None,
    after: str | None = None,
    max_page: int = 100,
) -> Page[OverdueStep]:
    """The register's entries of ``month`` ("YYYY-MM") for units in the actor's jurisdiction (ORG-3)."""
    scope = await _scope(session, actor, unit_id)
    _check_month(month)
    stmt = select(OverdueStep).where(OverdueStep.month == month, OverdueStep.unit_path.startswith(scope))
    return await paginate(session, stmt, OverdueStep.id, first=first, after=after, max_page=max_page)


async def overdue_by_unit(
    session: AsyncSession, actor: Actor, *, month: str, unit_id: int | None = None
) -> list[OverdueCount]:
    """How many steps each unit let pass their deadline in ``month``: the monthly circular (MON-2)."""
    scope = await _scope(session, actor, unit_id)
    _check_month(month)
    rows = await session.execute(
        select(OverdueStep.acting_unit_id, Unit.name, func.count())
        .join(Unit, Unit.id == OverdueStep.acting_unit_id)
        .where(OverdueStep.month == month, OverdueStep.unit_path.startswith(scope))
        .group_by(OverdueStep.acting_unit_id, Unit.name)
        .order_by(func.count().desc(), OverdueStep.acting_unit_id)
    )
    return [OverdueCount(unit, name, count) for unit, name, count in rows]


async def _scope(session: AsyncSession, actor: Actor, unit_id: int | None) -> str:
    authorize(actor, Operation.ACT_ON_WORKFLOWS)
    if unit_id is None:
        return actor.unit_path
    path = await session.scalar(select(Unit.path).where(Unit.id == unit_id))
    if path is None or not actor.covers_path(path):
        raise NotFoundError(field="unitId")
    return path


def _check_month(month: str) -> None:
    if not re.fullmatch(r"[0-9]{4}-(0[1-9]|1[0-2])", month):
        raise ValidationError("月份格式应为 YYYY-MM", field="month")
