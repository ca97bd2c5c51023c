"""Organisation-tree administration: create and edit units."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from backend.domain.permissions import Operation
from backend.domain.units import service
from backend.domain.units.service import SchoolProfile
from backend.graphql.edge import Failed, parse_id, write
from backend.graphql.enums import SchoolSystem, Stage, UnitKind
from backend.graphql.errors import UserError
from backend.graphql.operations import performs
from backend.graphql.units.types import UnitType


@strawberry.input
class CreateUnitInput:
    parent_id: strawberry.ID
    kind: UnitKind
    name: str
    code: str = strawberry.field(description="教育行政部门为6位行政区划码，学校为10位学校标识码")
    stages: list[Stage] = strawberry.field(default_factory=list)
    school_system: SchoolSystem | None = None
    is_central_school: bool = False


@strawberry.input
class UpdateUnitInput:
    unit_id: strawberry.ID
    name: str | None = None
    code: str | None = None
    stages: list[Stage] | None = None
    school_system: SchoolSystem | None = None
    is_central_school: bool | None = None
    is_active: bool | None = None


@strawberry.type
class UnitPayload:
    errors: list[UserError]
    unit: UnitType | None = None


def _payload(result: object) -> UnitPayload:
    if isinstance(result, Failed):
        return UnitPayload(errors=result.errors)
    return UnitPayload(errors=[], unit=UnitType.from_model(result))  # type: ignore[arg-type]


@strawberry.type
class UnitMutations:
    @strawberry.mutation(description="在管辖范围内新建下级单位", metadata=performs(Operation.MANAGE_UNITS))
    async def create_unit(self, info: Info, input: CreateUnitInput) -> UnitPayload:
        profile = SchoolProfile(
            stages=frozenset(input.stages),
            school_system=input.school_system,
            is_central_school=input.is_central_school,
        )
        return _payload(
            await write(
                info,
                lambda uow, actor: service.create_unit(
                    uow,
                    actor=actor,
                    parent_id=parse_id(input.parent_id, "parentId"),
                    kind=input.kind,
                    name=input.name,
                    code=input.code,
                    profile=profile,
                ),
            )
        )

    @strawberry.mutation(description="修改下级单位信息", metadata=performs(Operation.MANAGE_UNITS))
    async def update_unit(self, info: Info, input: UpdateUnitInput) -> UnitPayload:
        return _payload(
            await write(
                info,
                lambda uow, actor: service.update_unit(
                    uow,
                    actor=actor,
                    unit_id=parse_id(input.unit_id, "unitId"),
                    name=input.name,
                    code=input.code,
                    stages=None if input.stages is None else frozenset(input.stages),
                    school_system=input.school_system,
                    is_central_school=input.is_central_school,
                    is_active=input.is_active,
                ),
            )
        )
