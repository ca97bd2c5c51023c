"""GraphQL types of the organisation tree."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.types import Info

from backend.graphql.edge import context
from backend.graphql.enums import SchoolSystem, Stage, UnitKind
from backend.graphql.pagination import Connection
from backend.models import Unit as UnitModel


@strawberry.type(name="Unit", description="组织机构中的一个单位：教育行政部门或学校")
class UnitType:
    id: strawberry.ID
    kind: UnitKind
    name: str
    code: str = strawberry.field(description="教育行政部门为行政区划码，学校为学校标识码")
    depth: int
    stages: list[Stage]
    school_system: SchoolSystem | None
    is_central_school: bool
    is_active: bool
    updated_at: datetime
    _parent_id: strawberry.Private[int | None]
    _path: strawberry.Private[str]

    @classmethod
    def from_model(cls, unit: UnitModel) -> UnitType:
        return cls(
            id=strawberry.ID(str(unit.id)),
            kind=unit.kind,
            name=unit.name,
            code=unit.code,
            depth=unit.depth,
            stages=[Stage(s) for s in unit.stages],
            school_system=unit.school_system,
            is_central_school=unit.is_central_school,
            is_active=unit.is_active,
            updated_at=unit.updated_at,
            _parent_id=unit.parent_id,
            _path=unit.path,
        )

    @strawberry.field(description="上级单位；不在本人管辖范围内时为空")
    async def parent(self, info: Info) -> UnitType | None:
        if self._parent_id is None:
            return None
        actor = await context(info).require_actor()
        parent = await context(info).loaders.unit.load(self._parent_id)
        if parent is None or not actor.covers_path(parent.path):
            return None
        return UnitType.from_model(parent)

    @strawberry.field(description="直属下级单位")
    async def children(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[UnitType]:
        from backend.graphql.units.queries import list_units

        return await list_units(info, parent_id=strawberry.ID(self.id), first=first, after=after)
