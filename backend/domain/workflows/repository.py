"""Every query of the approval engine. Scoping by actor happens in ``policy`` and ``queries``."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.models import (
    Attachment,
    AuditEntry,
    IdempotencyKey,
    WorkflowAction,
    WorkflowInstance,
    WorkflowStep,
)
from backend.models.enums import WorkflowState

INSTANCE_TARGET = "workflow_instance"


async def load_instance(session: AsyncSession, instance_id: int) -> WorkflowInstance | None:
    """The instance as stored now, even if this session loaded an older version before."""
    stmt = (
        select(WorkflowInstance)
        .where(WorkflowInstance.id == instance_id)
        .execution_options(populate_existing=True)
    )
    return await session.scalar(stmt)


async def load_steps(session: AsyncSession, instance_id: int) -> list[WorkflowStep]:
    stmt = (
        select(WorkflowStep)
        .where(WorkflowStep.instance_id == instance_id)
        .order_by(WorkflowStep.position)
        .execution_options(populate_existing=True)
    )
    return list(await session.scalars(stmt))


async def load_actions(session: AsyncSession, instance_id: int) -> list[WorkflowAction]:
    """The action log in insertion order, which is chain order (appends are serialised by the guard)."""
    stmt = (
        select(WorkflowAction)
        .where(WorkflowAction.instance_id == instance_id)
        .order_by(WorkflowAction.id)
        .execution_options(populate_existing=True)
    )
    return list(await session.scalars(stmt))


async def start_action(session: AsyncSession, instance_id: int) -> WorkflowAction | None:
    stmt = (
        select(WorkflowAction)
        .where(WorkflowAction.instance_id == instance_id, WorkflowAction.action == "start")
        .order_by(WorkflowAction.id)
        .limit(1)
    )
    return await session.scalar(stmt)


async def last_action(session: AsyncSession, instance_id: int) -> WorkflowAction | None:
    stmt = (
        select(WorkflowAction)
        .where(WorkflowAction.instance_id == instance_id)
        .order_by(WorkflowAction.id.desc())
        .limit(1)
    )
    return await session.scalar(stmt)


async def last_hash(session: AsyncSession, instance_id: int) -> str | None:
    stmt = (
        select(WorkflowAction.hash)
        .where(WorkflowAction.instance_id == instance_id)
        .order_by(WorkflowAction.id.desc())
        .limit(1)
    )
    return await session.scalar(stmt)


async def find_open_instance(
    session: AsyncSession, *, kind: str, subject_type: str, subject_id: int
) -> WorkflowInstance | None:
    """The open instance of ``kind`` about one subject, if any (unscoped: for services)."""
    stmt = select(WorkflowInstance).where(
        WorkflowInstance.subject_type == subject_type,
        WorkflowInstance.subject_id == subject_id,
        WorkflowInstance.kind == kind,
        WorkflowInstance.state == WorkflowState.OPEN,
    )
    return await session.scalar(stmt.limit(1))


async def recorded_key(session: AsyncSession, user_id: int, key: str) -> IdempotencyKey | None:
    stmt = select(IdempotencyKey).where(IdempotencyKey.user_id == user_id, IdempotencyKey.key == key)
    return await session.scalar(stmt)


async def audit_anchors(session: AsyncSession, instance_id: int) -> list[str]:
    """The action hashes the append-only audit log recorded for this instance, in order."""
    stmt = (
        select(AuditEntry.after)
        .where(
            AuditEntry.target_type == INSTANCE_TARGET,
            AuditEntry.target_id == str(instance_id),
            AuditEntry.operation.startswith("workflow."),
        )
        .order_by(AuditEntry.id)
    )
    anchors: list[str] = []
    for after in await session.scalars(stmt):
        if isinstance(after, dict) and isinstance(after.get("actionHash"), str):
            anchors.append(after["actionHash"])
    return anchors


async def load_attachments(session: AsyncSession, ids: Sequence[int]) -> list[Attachment]:
    if not ids:
        return []
    return list(await session.scalars(select(Attachment).where(Attachment.id.in_(set(ids)))))
