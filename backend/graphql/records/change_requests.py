"""Change requests over GraphQL: what a school asked to change, with its proof and where it stands (CHG-3)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from backend.domain.changes.queries import get_change_request, list_change_requests
from backend.domain.permissions import Operation
from backend.domain.records.id_numbers import mask_changes
from backend.graphql.edge import context, parse_id
from backend.graphql.operations import performs
from backend.graphql.pagination import Connection, to_connection
from backend.graphql.records.types import StudentRecordType
from backend.models import ChangeRequest


@strawberry.type(name="ChangeRequest", description="学籍信息变更申请：受控字段的原值和新值、理由、证明材料")
class ChangeRequestType:
    id: strawberry.ID
    record_id: strawberry.ID
    changes: dict[str, Any] = strawberry.field(
        graphql_type=JSON, description="{字段: [原值, 新值]}，身份证件号已脱敏"
    )
    reason: str
    proof_ids: list[strawberry.ID]
    state: str
    workflow_id: strawberry.ID | None
    created_at: datetime
    decided_at: datetime | None

    @classmethod
    def from_model(cls, row: ChangeRequest) -> ChangeRequestType:
        return cls(
            id=strawberry.ID(str(row.id)),
            record_id=strawberry.ID(str(row.record_id)),
            changes=mask_changes(row.changes),
            reason=row.reason,
            proof_ids=[strawberry.ID(str(i)) for i in row.proof_ids or []],
            state=row.state,
            workflow_id=None if row.workflow_id is None else strawberry.ID(str(row.workflow_id)),
            created_at=row.created_at,
            decided_at=row.decided_at,
        )

    @strawberry.field(description="所涉学籍")
    async def record(self, info: Info) -> StudentRecordType | None:
        row = await context(info).loaders.student_record.load(int(self.record_id))
        return None if row is None else StudentRecordType.from_model(row)


@strawberry.type
class ChangeRequestQueries:
    @strawberry.field(
        description="学籍信息变更申请，新的在前；可按单位、状态、学籍筛选",
        metadata=performs(Operation.VIEW_STUDENTS),
    )
    async def change_requests(
        self,
        info: Info,
        unit_id: strawberry.ID | None = None,
        state: str | None = None,
        record_id: strawberry.ID | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[ChangeRequestType]:
        ctx = context(info)
        page = await ctx.query(
            list_change_requests,
            unit_id=None if unit_id is None else parse_id(unit_id, "unitId"),
            state=state,
            record_id=None if record_id is None else parse_id(record_id, "recordId"),
            first=first,
            after=after,
            max_page=ctx.runtime.settings.max_page_size,
        )
        return to_connection(page, ChangeRequestType.from_model)

    @strawberry.field(
        description="一项学籍信息变更申请；不在管辖范围内时为空", metadata=performs(Operation.VIEW_STUDENTS)
    )
    async def change_request(self, info: Info, id: strawberry.ID) -> ChangeRequestType | None:
        row = await context(info).query(get_change_request, parse_id(id, "id"))
        return None if row is None else ChangeRequestType.from_model(row)
