"""Read side of status changes: requests and compulsory-education dropouts within jurisdiction (ORG-3).

Both lists are one indexed range scan on the unit path per keyset page. ``compulsory_dropouts`` is the
list behind the written report on primary and junior dropouts (STA-4, STA-5): their records are kept,
with status ``DROPPED_OUT``.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.domain.actor import Actor
from backend.domain.pagination import Page, paginate
from backend.domain.permissions import Operation, authorize
from backend.domain.status_changes.rules import COMPULSORY_STAGES
from backend.domain.units.repository import subtree_filter, unit_in_jurisdiction
from backend.models import StatusChange, StudentRecord
from backend.models.enums import BusinessState, RecordStatus, RegistrationState, StatusChangeType


async def _scope(session: AsyncSession, actor: Actor, unit_id: int | None) -> str:
    """The actor's subtree, or the subtree of ``unit_id`` inside it (NOT_FOUND on ``unitId`` outside)."""
    authorize(actor, Operation.VIEW_STUDENTS)
    if unit_id is None:
        return actor.unit_path
    return (await unit_in_jurisdiction(session, actor, unit_id, field="unitId")).path


async def list_status_changes(
    session: AsyncSession,
    actor: Actor,
    *,
    unit_id: int | None = None,
    state: BusinessState | None = None,
    change_type: StatusChangeType | None = None,
    record_id: int | None = None,
    first: int | None,
    after: str | None,
    max_page: int,
) -> Page[StatusChange]:
    """Status changes of schools in the actor's subtree (or below ``unit_id``), newest first (ORG-3)."""
    scope = await _scope(session, actor, unit_id)
    stmt = select(StatusChange).where(subtree_filter(StatusChange.unit_path, scope))
    if state is not None:
        stmt = stmt.where(StatusChange.state == state)
    if change_type is not None:
        stmt = stmt.where(StatusChange.change_type == change_type)
    if record_id is not None:
        stmt = stmt.where(StatusChange.record_id == record_id)
    return await paginate(
        session, stmt, StatusChange.id, first=first, after=after, max_page=max_page, descending=True
    )


async def get_status_change(session: AsyncSession, actor: Actor, change_id: int) -> StatusChange | None:
    """One status change if its school lies in the actor's subtree; absent and out of reach look alike."""
    authorize(actor, Operation.VIEW_STUDENTS)
    change = await session.get(StatusChange, change_id)
    if change is None or not actor.covers_path(change.unit_path):
        return None
    return change


async def compulsory_dropouts(
    session: AsyncSession,
    actor: Actor,
    *,
    unit_id: int | None = None,
    migrant_only: bool = False,
    first: int | None,
    after: str | None,
    max_page: int,
) -> Page[StudentRecord]:
    """Primary and junior students who dropped out, in the subtree: flagged for the report (STA-4, STA-5).

    ``migrant_only`` narrows it to migrant children, whose dropouts are summarised each term end for the
    county of household registration (STA-5).
    """
    scope = await _scope(session, actor, unit_id)
    stmt = select(StudentRecord).where(
        subtree_filter(StudentRecord.unit_path, scope),
        StudentRecord.status == RecordStatus.DROPPED_OUT,
        StudentRecord.stage.in_(sorted(COMPULSORY_STAGES)),
        StudentRecord.registration_state != RegistrationState.DELETED,
    )
    if migrant_only:
        stmt = stmt.where(StudentRecord.is_migrant_child.is_(True))
    return await paginate(session, stmt, StudentRecord.id, first=first, after=after, max_page=max_page)
