"""Every query on units, scoped to what the caller may read."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, and_, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.domain.actor import Actor
from backend.domain.errors import NotFoundError
from backend.domain.units.tree import path_ids, subtree_upper_bound
from backend.models import Unit


def subtree_filter(column: Any, path: str) -> ColumnElement[bool]:
    """``column`` holds a path inside the subtree rooted at ``path``: one range scan on its index."""
    return and_(column >= path, column < subtree_upper_bound(path))


async def get_unit(session: AsyncSession, unit_id: int) -> Unit | None:
    return await session.get(Unit, unit_id)


async def get_unit_in_subtree(session: AsyncSession, unit_id: int, scope_path: str) -> Unit | None:
    """The unit, or ``None`` if it is absent or outside ``scope_path``'s subtree."""
    unit = await session.get(Unit, unit_id)
    if unit is None or not unit.path.startswith(scope_path):
        return None
    return unit


async def unit_in_jurisdiction(session: AsyncSession, actor: Actor, unit_id: int, *, field: str) -> Unit:
    """The unit if it lies in the actor's subtree (ORG-3); otherwise NOT_FOUND on ``field``."""
    unit = await get_unit_in_subtree(session, unit_id, actor.unit_path)
    if unit is None:
        raise NotFoundError(field=field)
    return unit


async def get_units(session: AsyncSession, ids: Sequence[int]) -> dict[int, Unit]:
    if not ids:
        return {}
    rows = await session.scalars(select(Unit).where(Unit.id.in_(set(ids))))
    return {unit.id: unit for unit in rows}


async def ancestors(session: AsyncSession, unit: Unit) -> list[Unit]:
    """The unit's ancestors, root first, in one query by primary key."""
    ids = path_ids(unit.path)[:-1]
    found = await get_units(session, ids)
    return [found[i] for i in ids if i in found]
