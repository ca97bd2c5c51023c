"""Every query on accounts, sessions and delegations."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from backend.domain.units.repository import subtree_filter
from backend.models import AuthSession, Delegation, PasswordHistory, Unit, User, UserRole
from backend.models.enums import Role


@dataclass(frozen=True)
class SessionRow:
    session: AuthSession
    user: User
    unit: Unit
    roles: frozenset[Role]


async def find_user_by_username(session: AsyncSession, username: str) -> User | None:
    return await session.scalar(select(User).where(User.username == username))


async def roles_of(session: AsyncSession, user_id: int) -> frozenset[Role]:
    rows = await session.scalars(select(UserRole.role).where(UserRole.user_id == user_id))
    return frozenset(rows)


async def roles_by_user(session: AsyncSession, user_ids: Sequence[int]) -> dict[int, list[Role]]:
    result: dict[int, list[Role]] = {uid: [] for uid in user_ids}
    if not user_ids:
        return result
    rows = await session.execute(
        select(UserRole.user_id, UserRole.role).where(UserRole.user_id.in_(set(user_ids)))
    )
    for user_id, role in rows:
        result[user_id].append(role)
    for roles in result.values():
        roles.sort(key=list(Role).index)
    return result


async def session_by_token_hash(session: AsyncSession, token_hash: str) -> SessionRow | None:
    """The session with its user, the user's unit and roles: one statement on every request."""
    rows = (
        await session.execute(
            select(AuthSession, User, Unit, UserRole.role)
            .join(User, User.id == AuthSession.user_id)
            .join(Unit, Unit.id == User.unit_id)
            .outerjoin(UserRole, UserRole.user_id == User.id)
            .where(AuthSession.token_hash == token_hash)
        )
    ).all()
    if not rows:
        return None
    first = rows[0]
    roles = frozenset(row[3] for row in rows if row[3] is not None)
    return SessionRow(session=first[0], user=first[1], unit=first[2], roles=roles)


async def revoke_sessions(
    session: AsyncSession,
    user_id: int,
    at: datetime,
    *,
    delegation_id: int | None = None,
    acting_for: bool = False,
) -> None:
    """Revoke open sessions in one statement.

    By default the user's own sessions; with ``delegation_id`` those opened under that delegation; with
    ``acting_for`` also every delegated session in which someone acts for the user.
    """
    stmt = update(AuthSession).where(AuthSession.revoked_at.is_(None)).values(revoked_at=at)
    if delegation_id is not None:
        stmt = stmt.where(AuthSession.delegation_id == delegation_id)
    elif acting_for:
        granted = select(Delegation.id).where(Delegation.grantor_id == user_id)
        stmt = stmt.where(or_(AuthSession.user_id == user_id, AuthSession.delegation_id.in_(granted)))
    else:
        stmt = stmt.where(AuthSession.user_id == user_id)
    await session.execute(stmt)


async def recent_password_hashes(session: AsyncSession, user_id: int, limit: int) -> list[str]:
    rows = await session.scalars(
        select(PasswordHistory.password_hash)
        .where(PasswordHistory.user_id == user_id)
        .order_by(PasswordHistory.id.desc())
        .limit(limit)
    )
    return list(rows)


def users_in_subtree(scope_path: str) -> Select[User]:
    """Users whose unit lies in the subtree at ``scope_path`` (ORG-3)."""
    return select(User).join(Unit, Unit.id == User.unit_id).where(subtree_filter(Unit.path, scope_path))


async def get_user_with_unit(session: AsyncSession, user_id: int) -> tuple[User, Unit] | None:
    row = (
        await session.execute(
            select(User, Unit).join(Unit, Unit.id == User.unit_id).where(User.id == user_id)
        )
    ).one_or_none()
    return None if row is None else (row[0], row[1])


async def get_delegation(session: AsyncSession, delegation_id: int) -> Delegation | None:
    return await session.get(Delegation, delegation_id)
