"""Registering and maintaining student records (REG, CHG-2, SEC-4, SEC-6)."""

from __future__ import annotations

from typing import Any, Optional

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from backend.domain.changes.service import request_change
from backend.domain.errors import ValidationError
from backend.domain.permissions import Operation
from backend.domain.records import registration_list, service
from backend.domain.records.fields import json_value
from backend.graphql.edge import Failed, parse_id, write
from backend.graphql.enums import RegistrationKind
from backend.graphql.errors import UserError
from backend.graphql.operations import performs
from backend.graphql.records.types import StudentRecordType
from backend.models import StudentRecord


@strawberry.input
class RegisterStudentInput:
    kind: RegistrationKind
    class_id: strawberry.ID
    values: JSON = strawberry.field(
        description='字段目录中的键与值，如 {"name": "张三", "birthDate": "2019-09-01"}'
    )
    guardians: list[JSON] = strawberry.field(description="家庭成员或监护人，每人一个字段对象")


@strawberry.type
class RecordPayload:
    errors: list[UserError]
    record: StudentRecordType | None = None


@strawberry.type
class UpdateRecordPayload:
    errors: list[UserError]
    record: StudentRecordType | None = None
    applied: dict[str, Any] | None = strawberry.field(
        default=None,
        graphql_type=Optional[JSON],  # noqa: UP045
        description="已直接生效的字段",
    )
    needs_approval: dict[str, Any] | None = strawberry.field(
        default=None,
        graphql_type=Optional[JSON],  # noqa: UP045
        description="受控字段：须走变更申请，未生效",
    )


@strawberry.type
class RegistrationListPayload:
    errors: list[UserError]
    rows: int = 0
    record_ids: list[strawberry.ID] = strawberry.field(default_factory=list, description="新建的学籍（草稿）")
    problems: dict[str, Any] = strawberry.field(
        default_factory=dict, graphql_type=JSON, description="新建学籍所在问题学籍组，按类型计数"
    )
    row_errors: list[dict[str, Any]] = strawberry.field(
        default_factory=list, graphql_type=list[JSON], description="未导入的行：行号、列、中文说明"
    )


@strawberry.type
class RevealPayload:
    errors: list[UserError]
    id_number: str | None = None


def _record(result: StudentRecord | Failed) -> RecordPayload:
    if isinstance(result, Failed):
        return RecordPayload(errors=result.errors)
    return RecordPayload(errors=[], record=StudentRecordType.from_model(result))


def _as_dict(value: Any, field: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValidationError("须为字段对象", field=field)
    return value


@strawberry.type
class RecordMutations:
    @strawberry.mutation(
        description="学校学籍管理员为班级注册学生，生成临时学籍号（草稿）",
        metadata=performs(Operation.MANAGE_RECORDS),
    )
    async def register_student(self, info: Info, input: RegisterStudentInput) -> RecordPayload:
        return _record(
            await write(
                info,
                lambda uow, actor: service.register_student(
                    uow,
                    actor=actor,
                    kind=input.kind,
                    school_class_id=parse_id(input.class_id, "classId"),
                    values=_as_dict(input.values, "values"),
                    guardians=[_as_dict(g, "guardians") for g in input.guardians],
                ),
            )
        )

    @strawberry.mutation(
        description="修改学籍：非受控字段直接生效，受控字段返回待审批",
        metadata=performs(Operation.MANAGE_RECORDS),
    )
    async def update_student_record(
        self,
        info: Info,
        record_id: strawberry.ID,
        values: JSON,
        expected_version: int,
        guardians: list[JSON] | None = None,
    ) -> UpdateRecordPayload:
        result = await write(
            info,
            lambda uow, actor: service.update_record(
                uow,
                actor=actor,
                record_id=parse_id(record_id, "recordId"),
                values=_as_dict(values, "values"),
                expected_version=expected_version,
                guardians=None if guardians is None else [_as_dict(g, "guardians") for g in guardians],
            ),
        )
        if isinstance(result, Failed):
            return UpdateRecordPayload(errors=result.errors)
        return UpdateRecordPayload(
            errors=[],
            record=StudentRecordType.from_model(result.record),
            applied={k: json_value(v) for k, v in result.applied.items()},
            needs_approval={k: json_value(v) for k, v in result.needs_approval.items()},
        )

    @strawberry.mutation(
        description="在校生注册：导入本校学生名单（Excel），逐行校验、查重，建立学籍草稿",
        metadata=performs(Operation.MANAGE_RECORDS),
    )
    async def import_registration_list(
        self, info: Info, attachment_id: strawberry.ID
    ) -> RegistrationListPayload:
        result = await write(
            info,
            lambda uow, actor: registration_list.import_registration_list(
                uow, actor=actor, attachment_id=parse_id(attachment_id, "attachmentId")
            ),
        )
        if isinstance(result, Failed):
            return RegistrationListPayload(errors=result.errors)
        return RegistrationListPayload(
            errors=[],
            rows=result.rows,
            record_ids=[strawberry.ID(str(i)) for i in result.record_ids],
            problems=dict(result.problems),
            row_errors=list(result.errors),
        )

    @strawberry.mutation(
        description="提交注册核办（学校领导、再由主管部门依次核办）",
        metadata=performs(Operation.MANAGE_RECORDS),
    )
    async def submit_registration(
        self, info: Info, record_id: strawberry.ID, idempotency_key: str | None = None
    ) -> RecordPayload:
        return _record(
            await write(
                info,
                lambda uow, actor: service.submit_registration(
                    uow,
                    actor=actor,
                    record_id=parse_id(record_id, "recordId"),
                    idempotency_key=idempotency_key,
                ),
            )
        )

    @strawberry.mutation(
        description="删除学籍（须说明理由；正式学籍号受省级开关保护）",
        metadata=performs(Operation.MANAGE_RECORDS),
    )
    async def delete_student_record(self, info: Info, record_id: strawberry.ID, reason: str) -> RecordPayload:
        return _record(
            await write(
                info,
                lambda uow, actor: service.delete_record(
                    uow, actor=actor, record_id=parse_id(record_id, "recordId"), reason=reason
                ),
            )
        )

    @strawberry.mutation(
        description="查看完整身份证件号（每次查看均记入审计日志）",
        metadata=performs(Operation.REVEAL_ID_NUMBERS),
    )
    async def reveal_id_number(self, info: Info, record_id: strawberry.ID) -> RevealPayload:
        result = await write(
            info,
            lambda uow, actor: service.reveal_id_number(
                uow, actor=actor, record_id=parse_id(record_id, "recordId")
            ),
        )
        if isinstance(result, Failed):
            return RevealPayload(errors=result.errors)
        return RevealPayload(errors=[], id_number=result)


@strawberry.type
class ChangeRequestPayload:
    errors: list[UserError]
    change_request_id: strawberry.ID | None = None
    workflow_id: strawberry.ID | None = None


@strawberry.type
class ChangeRequestMutations:
    @strawberry.mutation(
        description="申请变更受控字段（关键信息须附户籍证明），经学校领导和主管部门审核后生效",
        metadata=performs(Operation.MANAGE_RECORDS),
    )
    async def request_record_change(
        self,
        info: Info,
        record_id: strawberry.ID,
        values: JSON,
        reason: str,
        proof_ids: list[strawberry.ID],
        idempotency_key: str | None = None,
    ) -> ChangeRequestPayload:
        result = await write(
            info,
            lambda uow, actor: request_change(
                uow,
                actor=actor,
                record_id=parse_id(record_id, "recordId"),
                values=_as_dict(values, "values"),
                reason=reason,
                proof_ids=[parse_id(p, "proofIds") for p in proof_ids],
                idempotency_key=idempotency_key,
            ),
        )
        if isinstance(result, Failed):
            return ChangeRequestPayload(errors=result.errors)
        return ChangeRequestPayload(
            errors=[],
            change_request_id=strawberry.ID(str(result.id)),
            workflow_id=None if result.workflow_id is None else strawberry.ID(str(result.workflow_id)),
        )
