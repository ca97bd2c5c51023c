"""Read side of the organisation tree: everything filtered to the caller's jurisdiction (ORG-3)."""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.domain.actor import Actor
from backend.domain.pagination import Page, paginate
from backend.domain.permissions import Operation, authorize
from backend.domain.units.repository import get_unit_in_subtree, subtree_filter, unit_in_jurisdiction
from backend.models import Unit
from backend.models.enums import UnitKind


async def find_unit(session: AsyncSession, actor: Actor, unit_id: int) -> Unit | None:
    """The unit if it lies in the actor's subtree; out-of-jurisdiction looks absent."""
    authorize(actor, Operation.VIEW_UNITS)
    return await get_unit_in_subtree(session, unit_id, actor.unit_path)


async def list_units(
    session: AsyncSession,
    actor: Actor,
    *,
    parent_id: int | None,
    kind: UnitKind | None,
    search: str | None,
    first: int | None,
    after: str | None,
    max_page: int,
) -> Page[Unit]:
    """Children of ``parent_id``, or the actor's whole subtree, optionally by kind and name/code."""
    authorize(actor, Operation.VIEW_UNITS)
    stmt = select(Unit)
    if parent_id is not None:
        parent = await unit_in_jurisdiction(session, actor, parent_id, field="parentId")
        stmt = stmt.where(Unit.parent_id == parent.id)
    else:
        stmt = stmt.where(subtree_filter(Unit.path, actor.unit_path))
    if kind is not None:
        stmt = stmt.where(Unit.kind == kind)
    if search:
        text = search.strip()
        stmt = stmt.where(
            or_(Unit.name.contains(text, autoescape=True), Unit.code.startswith(text, autoescape=True))
        )
    return await paginate(session, stmt, Unit.id, first=first, after=after, max_page=max_page)
