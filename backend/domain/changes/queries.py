"""Read side of change requests: within jurisdiction (ORG-3), newest first, one statement a page."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.domain.actor import Actor
from backend.domain.pagination import Page, paginate
from backend.domain.permissions import Operation, authorize
from backend.domain.units.repository import subtree_filter, unit_in_jurisdiction
from backend.models import ChangeRequest


async def list_change_requests(
    session: AsyncSession,
    actor: Actor,
    *,
    unit_id: int | None,
    state: str | None,
    record_id: int | None,
    first: int | None,
    after: str | None,
    max_page: int,
) -> Page[ChangeRequest]:
    """Change requests of records in the actor's subtree (or below ``unit_id`` inside it)."""
    authorize(actor, Operation.VIEW_STUDENTS)
    scope = actor.unit_path
    if unit_id is not None:
        scope = (await unit_in_jurisdiction(session, actor, unit_id, field="unitId")).path
    stmt = select(ChangeRequest).where(subtree_filter(ChangeRequest.unit_path, scope))
    if state is not None:
        stmt = stmt.where(ChangeRequest.state == state)
    if record_id is not None:
        stmt = stmt.where(ChangeRequest.record_id == record_id)
    return await paginate(
        session, stmt, ChangeRequest.id, first=first, after=after, max_page=max_page, descending=True
    )


async def get_change_request(session: AsyncSession, actor: Actor, request_id: int) -> ChangeRequest | None:
    """One request if its record lies in the actor's subtree (ORG-3); absent and out of reach look alike."""
    authorize(actor, Operation.VIEW_STUDENTS)
    request = await session.get(ChangeRequest, request_id)
    if request is None or not actor.covers_path(request.unit_path):
        return None
    return request
