"""GraphQL type of a problem record (问题学籍)."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.types import Info

from backend.graphql.edge import context
from backend.graphql.enums import ProblemState, ProblemType
from backend.graphql.records.types import StudentRecordType
from backend.graphql.units.types import UnitType
from backend.models import ProblemRecord as ProblemRecordModel


@strawberry.type(name="ProblemRecord", description="问题学籍：身份证号错误、有身份证号重复、无身份证号重复")
class ProblemRecordType:
    id: strawberry.ID
    problem_type: ProblemType
    state: ProblemState
    graduating_year: bool = strawberry.field(description="毕业年级的问题学籍优先处理")
    detail: str | None
    resolution: str | None
    evidence_ids: list[strawberry.ID]
    created_at: datetime
    resolved_at: datetime | None
    version: int
    _record_id: strawberry.Private[int]
    _arbiter_id: strawberry.Private[int | None]

    @classmethod
    def from_model(cls, row: ProblemRecordModel) -> ProblemRecordType:
        return cls(
            id=strawberry.ID(str(row.id)),
            problem_type=row.problem_type,
            state=row.state,
            graduating_year=row.graduating_year,
            detail=row.detail,
            resolution=row.resolution,
            evidence_ids=[strawberry.ID(str(i)) for i in row.evidence_ids],
            created_at=row.created_at,
            resolved_at=row.resolved_at,
            version=row.version,
            _record_id=row.record_id,
            _arbiter_id=row.arbiter_id,
        )

    @strawberry.field(description="所涉学籍")
    async def record(self, info: Info) -> StudentRecordType | None:
        row = await context(info).loaders.student_record.load(self._record_id)
        return None if row is None else StudentRecordType.from_model(row)

    @strawberry.field(description="仲裁单位（双方主管部门的共同上级）")
    async def arbiter(self, info: Info) -> UnitType | None:
        if self._arbiter_id is None:
            return None
        unit = await context(info).loaders.unit.load(self._arbiter_id)
        return None if unit is None else UnitType.from_model(unit)
