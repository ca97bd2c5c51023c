"""Read side of accounts: users and delegations within the caller's jurisdiction (ORG-3)."""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.domain.accounts.repository import get_user_with_unit, users_in_subtree
from backend.domain.actor import Actor
from backend.domain.pagination import Page, paginate
from backend.domain.permissions import Operation, authorize
from backend.domain.units.repository import unit_in_jurisdiction
from backend.models import Delegation, User


async def find_user(session: AsyncSession, actor: Actor, user_id: int) -> User | None:
    authorize(actor, Operation.VIEW_USERS)
    found = await get_user_with_unit(session, user_id)
    if found is None or not actor.covers_path(found[1].path):
        return None
    return found[0]


async def list_users(
    session: AsyncSession,
    actor: Actor,
    *,
    unit_id: int | None,
    include_subunits: bool,
    search: str | None,
    first: int | None,
    after: str | None,
    max_page: int,
) -> Page[User]:
    """Accounts of one unit, or of a whole subtree, that the actor may see."""
    authorize(actor, Operation.VIEW_USERS)
    if unit_id is None:
        scope_path, scope_id = actor.unit_path, actor.unit_id
    else:
        unit = await unit_in_jurisdiction(session, actor, unit_id, field="unitId")
        scope_path, scope_id = unit.path, unit.id
    stmt = users_in_subtree(scope_path) if include_subunits else select(User).where(User.unit_id == scope_id)
    if search:
        text = search.strip().lower()
        stmt = stmt.where(
            or_(
                User.username.startswith(text, autoescape=True),
                User.display_name.contains(text, autoescape=True),
            )
        )
    return await paginate(session, stmt, User.id, first=first, after=after, max_page=max_page)


async def list_delegations(
    session: AsyncSession, actor: Actor, *, first: int | None, after: str | None, max_page: int
) -> Page[Delegation]:
    """Delegations registered in the administrator's unit, newest first (SEC-2)."""
    authorize(actor, Operation.MANAGE_DELEGATIONS)
    stmt = select(Delegation).where(Delegation.unit_id == actor.unit_id)
    return await paginate(
        session, stmt, Delegation.id, first=first, after=after, max_page=max_page, descending=True
    )


async def my_delegations(session: AsyncSession, actor: Actor) -> list[Delegation]:
    """Delegations granted to the actor (as grantee), so it can choose one to act under."""
    authorize(actor, Operation.VIEW_OWN_ACCOUNT)
    rows = await session.scalars(
        select(Delegation)
        .where(Delegation.grantee_id == actor.user_id)
        .order_by(Delegation.id.desc())
        .limit(50)
    )
    return list(rows)
