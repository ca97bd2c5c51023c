"""Status changes over GraphQL: request one, list and read them, the compulsory-dropout list (STA-1..5).

The review itself goes through ``actOnWorkflow`` (the school's leader, then the department where
required; the registrar withdraws there too): the workflow's kind is ``status_change`` and its subject
the student record. ``StatusChange.workflowId`` leads to its steps and decisions.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from backend.db import UnitOfWork
from backend.domain.actor import Actor
from backend.domain.errors import ValidationError
from backend.domain.permissions import Operation
from backend.domain.status_changes import service
from backend.domain.status_changes.queries import (
    compulsory_dropouts,
    get_status_change,
    list_status_changes,
)
from backend.graphql.edge import Failed, context, parse_id, write
from backend.graphql.enums import BusinessState, RecordStatus, StatusChangeType
from backend.graphql.errors import UserError
from backend.graphql.operations import performs
from backend.graphql.pagination import Connection, to_connection
from backend.graphql.records.types import StudentRecordType
from backend.models import StatusChange


@strawberry.type(name="StatusChange", description="学籍异动（非转学）：申请、证明材料与审核结果")
class StatusChangeItem:
    id: strawberry.ID
    change_type: StatusChangeType
    state: BusinessState
    reason: str
    proof_ids: list[strawberry.ID] = strawberry.field(description="证明材料，经 GET /attachments/{id} 下载")
    details: dict[str, Any] = strawberry.field(
        graphql_type=JSON, description="异动信息：目标年级、编入班级、离校日期、前往的国家或地区等"
    )
    from_status: RecordStatus
    to_status: RecordStatus
    from_grade: int
    to_grade: int
    created_at: datetime
    decided_at: datetime | None
    workflow_id: strawberry.ID | None = strawberry.field(
        description="审核业务，经 workflow(id) 查看步骤和办理记录"
    )
    _record_id: strawberry.Private[int]

    @classmethod
    def from_model(cls, row: StatusChange) -> StatusChangeItem:
        return cls(
            id=strawberry.ID(str(row.id)),
            change_type=row.change_type,
            state=row.state,
            reason=row.reason,
            proof_ids=[strawberry.ID(str(i)) for i in row.proof_ids],
            details=dict(row.details),
            from_status=row.from_status,
            to_status=row.to_status,
            from_grade=row.from_grade,
            to_grade=row.to_grade,
            created_at=row.created_at,
            decided_at=row.decided_at,
            workflow_id=None if row.workflow_id is None else strawberry.ID(str(row.workflow_id)),
            _record_id=row.record_id,
        )

    @strawberry.field(description="所涉学籍")
    async def record(self, info: Info) -> StudentRecordType | None:
        row = await context(info).loaders.student_record.load(self._record_id)
        return None if row is None else StudentRecordType.from_model(row)


@strawberry.type
class StatusChangePayload:
    errors: list[UserError]
    status_change: StatusChangeItem | None = None


@strawberry.type
class StatusChangeQueries:
    @strawberry.field(
        description="管辖范围内的学籍异动（按区县、学校分列时给出 unitId），新申请在前",
        metadata=performs(Operation.VIEW_STUDENTS),
    )
    async def status_changes(
        self,
        info: Info,
        unit_id: strawberry.ID | None = None,
        state: BusinessState | None = None,
        change_type: StatusChangeType | None = None,
        record_id: strawberry.ID | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[StatusChangeItem]:
        ctx = context(info)
        page = await ctx.query(
            list_status_changes,
            unit_id=None if unit_id is None else parse_id(unit_id, "unitId"),
            state=state,
            change_type=change_type,
            record_id=None if record_id is None else parse_id(record_id, "recordId"),
            first=first,
            after=after,
            max_page=ctx.runtime.settings.max_page_size,
        )
        return to_connection(page, StatusChangeItem.from_model)

    @strawberry.field(
        description="一项学籍异动；不存在或不在管辖范围内时为空", metadata=performs(Operation.VIEW_STUDENTS)
    )
    async def status_change(self, info: Info, id: strawberry.ID) -> StatusChangeItem | None:
        row = await context(info).query(get_status_change, parse_id(id, "id"))
        return None if row is None else StatusChangeItem.from_model(row)

    @strawberry.field(
        description="义务教育阶段（小学、初中）辍学学生名单，学籍保留，供书面报告；migrantOnly 只列随迁子女",
        metadata=performs(Operation.VIEW_STUDENTS),
    )
    async def compulsory_dropouts(
        self,
        info: Info,
        unit_id: strawberry.ID | None = None,
        migrant_only: bool = False,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[StudentRecordType]:
        ctx = context(info)
        page = await ctx.query(
            compulsory_dropouts,
            unit_id=None if unit_id is None else parse_id(unit_id, "unitId"),
            migrant_only=migrant_only,
            first=first,
            after=after,
            max_page=ctx.runtime.settings.max_page_size,
        )
        return to_connection(page, StudentRecordType.from_model)


@strawberry.type
class StatusChangeMutations:
    @strawberry.mutation(
        description="学校学籍管理员申请学籍异动（须填写原因并上传证明材料），由学校领导和主管部门审核后生效",
        metadata=performs(Operation.MANAGE_RECORDS),
    )
    async def request_status_change(
        self,
        info: Info,
        record_id: strawberry.ID,
        change_type: StatusChangeType,
        reason: str,
        proof_ids: list[strawberry.ID],
        details: JSON | None = None,
        idempotency_key: str | None = None,
    ) -> StatusChangePayload:
        async def run(uow: UnitOfWork, actor: Actor) -> StatusChange:
            if details is not None and not isinstance(details, dict):
                raise ValidationError("异动信息须为对象", field="details")
            return await service.request_status_change(
                uow,
                actor=actor,
                record_id=parse_id(record_id, "recordId"),
                change_type=change_type,
                reason=reason,
                proof_ids=[parse_id(p, "proofIds") for p in proof_ids],
                details=details or {},
                idempotency_key=idempotency_key,
            )

        result = await write(info, run)
        if isinstance(result, Failed):
            return StatusChangePayload(errors=result.errors)
        return StatusChangePayload(errors=[], status_change=StatusChangeItem.from_model(result))
