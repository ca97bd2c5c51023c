"""Every query of transfers. Scoping by actor happens in ``queries`` and ``service`` (ORG-3).

``has_open_business`` (one business per record at a time) lives with the records and is re-exported here.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.expression import Exists

from backend.domain.records.businesses import OPEN_BUSINESS_STATES as OPEN_BUSINESS_STATES
from backend.domain.records.businesses import has_open_business as has_open_business
from backend.domain.units.repository import get_units
from backend.domain.units.tree import path_ids
from backend.models import (
    StudentRecord,
    Transfer,
    Unit,
    WorkflowInstance,
    WorkflowStep,
)
from backend.models.enums import (
    RegistrationState,
    StepKind,
    StepState,
    UnitKind,
    WorkflowState,
)


async def live_record_by_number(
    session: AsyncSession, national_number: str, *, lock: bool = False
) -> StudentRecord | None:
    """The live (not deleted) record holding ``national_number``; live numbers are unique (NUM-6)."""
    stmt = select(StudentRecord).where(
        StudentRecord.national_number == national_number,
        StudentRecord.registration_state != RegistrationState.DELETED,
    )
    if lock:
        stmt = stmt.with_for_update()
    return await session.scalar(stmt.execution_options(populate_existing=True))


async def load_transfer(session: AsyncSession, transfer_id: int, *, lock: bool = False) -> Transfer | None:
    stmt = select(Transfer).where(Transfer.id == transfer_id)
    if lock:
        stmt = stmt.with_for_update()
    return await session.scalar(stmt.execution_options(populate_existing=True))


async def transfer_of_instance(session: AsyncSession, instance_id: int) -> Transfer | None:
    return await session.scalar(select(Transfer).where(Transfer.workflow_id == instance_id))


async def pending_steps(session: AsyncSession, instance_ids: Sequence[int]) -> dict[int, WorkflowStep]:
    """The pending step of each open instance among ``instance_ids``, in one query."""
    if not instance_ids:
        return {}
    rows = await session.scalars(
        select(WorkflowStep)
        .join(WorkflowInstance, WorkflowInstance.id == WorkflowStep.instance_id)
        .where(
            WorkflowStep.instance_id.in_(set(instance_ids)),
            WorkflowStep.state == StepState.PENDING,
            WorkflowInstance.state == WorkflowState.OPEN,
        )
    )
    return {step.instance_id: step for step in rows}


def awaiting_retrieval() -> Exists:
    """SQL: the transfer's instance waits at its file-retrieval step (AWAITING_RETRIEVAL, derived)."""
    return exists().where(
        WorkflowStep.instance_id == Transfer.workflow_id,
        WorkflowStep.state == StepState.PENDING,
        WorkflowStep.kind == StepKind.RETRIEVAL,
    )


async def ancestry(session: AsyncSession, *units: Unit) -> dict[int, Unit]:
    """The units and all their ancestors, by id, in one query on the materialised paths."""
    found = await get_units(session, sorted({i for unit in units for i in path_ids(unit.path)}))
    for unit in units:
        found.setdefault(unit.id, unit)
    return found


def province_of(unit: Unit, units: dict[int, Unit]) -> Unit | None:
    """The province at or above ``unit`` among the preloaded ``units``."""
    for unit_id in path_ids(unit.path):
        candidate = units.get(unit_id)
        if candidate is not None and candidate.kind is UnitKind.PROVINCE:
            return candidate
    return None


def department_of(unit: Unit, units: dict[int, Unit]) -> Unit | None:
    """The nearest department above a school (a branch school's is above its central school)."""
    for unit_id in reversed(path_ids(unit.path)[:-1]):
        candidate = units.get(unit_id)
        if candidate is not None and candidate.kind is not UnitKind.SCHOOL:
            return candidate
    return None
