"""Setup shared by the status-change tests: asking, deciding, reading back (plain async functions)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select

from backend.domain.actor import Actor, SystemActor
from backend.domain.settings import set_province_setting
from backend.domain.status_changes.service import KIND, request_status_change
from backend.domain.workflows.engine import act
from backend.domain.workflows.workflow import UserAction
from backend.models import (
    AuditEntry,
    SchoolClass,
    StatusChange,
    StudentRecord,
    WorkflowInstance,
    WorkflowStep,
)
from backend.models.enums import Stage, StatusChangeType
from tests.domain.factories import make_proof
from tests.domain.records.support import Step, World, make_class, registered, student_values

REASON = "家长申请，附医院证明"


async def proof(step: Step, world: World) -> int:
    async with step() as uow:
        return await make_proof(uow, world.tree.school_a1)


async def ask(
    step: Step,
    world: World,
    record: StudentRecord,
    change_type: StatusChangeType,
    details: dict[str, Any] | None = None,
    *,
    actor: Actor | None = None,
    reason: str = REASON,
    proof_ids: Sequence[int] | None = None,
    key: str | None = None,
) -> StatusChange:
    proofs = [await proof(step, world)] if proof_ids is None else list(proof_ids)
    async with step() as uow:
        return await request_status_change(
            uow,
            actor=actor or world.registrar,
            record_id=record.id,
            change_type=change_type,
            reason=reason,
            proof_ids=proofs,
            details=details or {},
            idempotency_key=key,
        )


async def decide(
    step: Step,
    actor: Actor,
    change: StatusChange,
    action: UserAction = "approve",
    comment: str | None = None,
) -> None:
    async with step() as uow:
        await act(uow, actor=actor, instance_id=change.workflow_id or 0, action=action, comment=comment)


async def approve_all(step: Step, world: World, change: StatusChange) -> None:
    """The school's leader, then the county where its step exists (STA-2)."""
    await decide(step, world.leader, change)
    if len(await steps_of(step, change)) > 1:
        await decide(step, world.county_registrar, change)


async def stored(step: Step, change: StatusChange) -> StatusChange:
    async with step() as uow:
        row = await uow.session.get(StatusChange, change.id)
        assert row is not None
        return row


async def steps_of(step: Step, change: StatusChange) -> list[WorkflowStep]:
    async with step() as uow:
        return list(
            await uow.session.scalars(
                select(WorkflowStep)
                .where(WorkflowStep.instance_id == change.workflow_id)
                .order_by(WorkflowStep.position)
            )
        )


async def written(step: Step) -> tuple[int, int, int]:
    """Status changes, their workflows and their request audit rows: all zero after a refusal."""
    async with step() as uow:
        session = uow.session
        changes = await session.scalar(select(func.count()).select_from(StatusChange))
        instances = await session.scalar(
            select(func.count()).select_from(WorkflowInstance).where(WorkflowInstance.kind == KIND)
        )
        audits = await session.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.operation == "status_change.requested")
        )
        return changes or 0, instances or 0, audits or 0


async def set_setting(step: Step, key: str, value: Any, world: World) -> None:
    async with step() as uow:
        await set_province_setting(
            uow, actor=SystemActor(), province_id=world.tree.province.id, key=key, value=value
        )


async def senior_record(step: Step, world: World) -> StudentRecord:
    """A registered senior-school student (grade 10) at school A1."""
    async with step() as uow:
        school_class = await make_class(uow, world.tree.school_a1, 10, Stage.SENIOR, entry_year=2026)
    return await registered(step, world.registrar, school_class, student_values("王高一", seq=41))


async def add_class(step: Step, world: World, grade: int) -> SchoolClass:
    async with step() as uow:
        return await make_class(uow, world.tree.school_a1, grade, entry_year=2026 - grade + 1)
