"""Read side of continuation: a school's imports and their rows, for the registrar of the school (ORG-3)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.domain.actor import Actor
from backend.domain.continuation.repository import import_of_school
from backend.domain.pagination import Page, paginate
from backend.domain.permissions import Operation, authorize
from backend.models import ContinuationImport, ContinuationRow
from backend.models.enums import ImportRowState


async def get_import(session: AsyncSession, actor: Actor, import_id: int) -> ContinuationImport:
    """The import, if it belongs to the actor's school; NOT_FOUND otherwise."""
    authorize(actor, Operation.MANAGE_RECORDS)
    return await import_of_school(session, actor, import_id)


async def list_imports(
    session: AsyncSession, actor: Actor, *, first: int | None, after: str | None, max_page: int
) -> Page[ContinuationImport]:
    """The imports of the actor's school, newest first."""
    authorize(actor, Operation.MANAGE_RECORDS)
    stmt = select(ContinuationImport).where(ContinuationImport.school_id == actor.unit_id)
    return await paginate(
        session, stmt, ContinuationImport.id, first=first, after=after, max_page=max_page, descending=True
    )


async def list_rows(
    session: AsyncSession,
    actor: Actor,
    import_id: int,
    *,
    state: ImportRowState | None,
    first: int | None,
    after: str | None,
    max_page: int,
) -> Page[ContinuationRow]:
    """The import's rows in list order, optionally only those in ``state``."""
    await get_import(session, actor, import_id)
    stmt = select(ContinuationRow).where(ContinuationRow.import_id == import_id)
    if state is not None:
        stmt = stmt.where(ContinuationRow.state == state)
    return await paginate(session, stmt, ContinuationRow.id, first=first, after=after, max_page=max_page)
