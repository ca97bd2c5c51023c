"""Browsing the organisation tree within jurisdiction (ORG-3)."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from backend.domain.permissions import Operation
from backend.domain.units import queries as unit_queries
from backend.graphql.edge import context, parse_id
from backend.graphql.enums import UnitKind
from backend.graphql.operations import performs
from backend.graphql.pagination import Connection, to_connection
from backend.graphql.units.types import UnitType


async def list_units(
    info: Info,
    *,
    parent_id: strawberry.ID | None = None,
    kind: UnitKind | None = None,
    search: str | None = None,
    first: int | None = None,
    after: str | None = None,
) -> Connection[UnitType]:
    ctx = context(info)
    page = await ctx.query(
        unit_queries.list_units,
        parent_id=None if parent_id is None else parse_id(parent_id, "parentId"),
        kind=kind,
        search=search,
        first=first,
        after=after,
        max_page=ctx.runtime.settings.max_page_size,
    )
    return to_connection(page, UnitType.from_model)


@strawberry.type
class UnitQueries:
    @strawberry.field(
        description="按编号查询单位；不存在或不在管辖范围内时为空", metadata=performs(Operation.VIEW_UNITS)
    )
    async def unit(self, info: Info, id: strawberry.ID) -> UnitType | None:
        ctx = context(info)
        unit = await ctx.query(unit_queries.find_unit, parse_id(id, "id"))
        return None if unit is None else UnitType.from_model(unit)

    @strawberry.field(
        description="管辖范围内的单位；给出 parentId 时为其直属下级，否则为本单位及全部下级",
        metadata=performs(Operation.VIEW_UNITS),
    )
    async def units(
        self,
        info: Info,
        parent_id: strawberry.ID | None = None,
        kind: UnitKind | None = None,
        search: str | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[UnitType]:
        return await list_units(info, parent_id=parent_id, kind=kind, search=search, first=first, after=after)
