"""Continuation imports over GraphQL (REG-8, REG-9): upload a list, see its rows, confirm candidates.

The list and the filled-in sheet are uploaded through ``POST /attachments?purpose=IMPORT``; the export
and the template are downloaded from ``/continuation/...`` (``backend/http/continuation.py``).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from backend.domain.continuation import registration, service
from backend.domain.continuation.queries import get_import, list_imports, list_rows
from backend.domain.permissions import Operation
from backend.domain.records.id_numbers import mask_id_number
from backend.graphql.edge import Failed, context, parse_id, write
from backend.graphql.enums import Gender, IdType, Stage
from backend.graphql.errors import UserError
from backend.graphql.operations import performs
from backend.graphql.pagination import Connection, to_connection
from backend.models import ContinuationImport, ContinuationRow
from backend.models.enums import ImportRowState

strawberry.enum(ImportRowState, description="接续名单行的比对结果：已匹配、待确认、未找到、有误")


@strawberry.type(name="ContinuationImport", description="一次学籍接续导入")
class ContinuationImportType:
    id: strawberry.ID
    state: str
    target_stage: str
    counts: dict[str, Any] = strawberry.field(graphql_type=JSON, description="各比对结果的行数")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_model(cls, row: ContinuationImport) -> ContinuationImportType:
        return cls(
            id=strawberry.ID(str(row.id)),
            state=row.state,
            target_stage=row.target_stage,
            counts=dict(row.counts),
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


@strawberry.type(name="ContinuationRow", description="接续名单中的一行")
class ContinuationRowType:
    id: strawberry.ID
    row_number: int
    name: str | None
    gender: Gender | None
    birth_date: date | None
    id_type: IdType | None
    masked_id_number: str | None
    state: ImportRowState
    candidate_ids: list[strawberry.ID]
    matched_record_id: strawberry.ID | None
    errors: list[dict[str, Any]] = strawberry.field(
        graphql_type=list[JSON], description="行内错误与警告：行号、列、中文说明"
    )

    @classmethod
    def from_model(cls, row: ContinuationRow) -> ContinuationRowType:
        return cls(
            id=strawberry.ID(str(row.id)),
            row_number=row.row_number,
            name=row.name,
            gender=row.gender,
            birth_date=row.birth_date,
            id_type=row.id_type,
            masked_id_number=mask_id_number(row.id_number),
            state=row.state,
            candidate_ids=[strawberry.ID(str(i)) for i in row.candidate_ids],
            matched_record_id=None
            if row.matched_record_id is None
            else strawberry.ID(str(row.matched_record_id)),
            errors=list(row.errors),
        )


@strawberry.type
class ContinuationImportPayload:
    errors: list[UserError]
    continuation_import: ContinuationImportType | None = None


@strawberry.type
class ContinuationRowPayload:
    errors: list[UserError]
    row: ContinuationRowType | None = None


@strawberry.type
class ApplySheetPayload:
    errors: list[UserError]
    updated: int = 0
    reclassified: int = 0
    row_errors: list[dict[str, Any]] = strawberry.field(
        default_factory=list, graphql_type=list[JSON], description="按回传表格行号列出的问题"
    )


@strawberry.type(description="接续名单中已建立学籍的一行")
class RegisteredContinuationRow:
    row_id: strawberry.ID
    row_number: int
    record_id: strawberry.ID
    continued: bool = strawberry.field(description="是否接续原学段学籍（学籍号不变），否则为新建学籍")


@strawberry.type
class RegisterContinuationPayload:
    errors: list[UserError]
    registered: list[RegisteredContinuationRow] = strawberry.field(default_factory=list)
    row_errors: list[dict[str, Any]] = strawberry.field(
        default_factory=list, graphql_type=list[JSON], description="未能注册的行：行号、列、中文说明"
    )
    counts: dict[str, Any] = strawberry.field(default_factory=dict, graphql_type=JSON)


@strawberry.type
class ContinuationQueries:
    @strawberry.field(
        description="本校的一次接续导入；不存在或不属本校时为空", metadata=performs(Operation.MANAGE_RECORDS)
    )
    async def continuation_import(self, info: Info, id: strawberry.ID) -> ContinuationImportType | None:
        ctx = context(info)
        from backend.domain.errors import NotFoundError

        try:
            row = await ctx.query(get_import, parse_id(id, "id"))
        except NotFoundError:
            return None
        return ContinuationImportType.from_model(row)

    @strawberry.field(description="本校的学籍接续导入，新的在前", metadata=performs(Operation.MANAGE_RECORDS))
    async def continuation_imports(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[ContinuationImportType]:
        ctx = context(info)
        page = await ctx.query(
            list_imports, first=first, after=after, max_page=ctx.runtime.settings.max_page_size
        )
        return to_connection(page, ContinuationImportType.from_model)

    @strawberry.field(
        description="接续导入的各行，可按比对结果筛选", metadata=performs(Operation.MANAGE_RECORDS)
    )
    async def continuation_rows(
        self,
        info: Info,
        import_id: strawberry.ID,
        state: ImportRowState | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[ContinuationRowType]:
        ctx = context(info)
        page = await ctx.query(
            list_rows,
            parse_id(import_id, "importId"),
            state=state,
            first=first,
            after=after,
            max_page=ctx.runtime.settings.max_page_size,
        )
        return to_connection(page, ContinuationRowType.from_model)


@strawberry.type
class ContinuationMutations:
    @strawberry.mutation(
        description="导入新生名单（姓名、性别、出生日期、身份证件类型、身份证件号码）并逐行比对",
        metadata=performs(Operation.MANAGE_RECORDS),
    )
    async def create_continuation_import(
        self, info: Info, attachment_id: strawberry.ID, target_stage: Stage
    ) -> ContinuationImportPayload:
        result = await write(
            info,
            lambda uow, actor: service.create_import(
                uow,
                actor=actor,
                attachment_id=parse_id(attachment_id, "attachmentId"),
                target_stage=target_stage,
            ),
        )
        if isinstance(result, Failed):
            return ContinuationImportPayload(errors=result.errors)
        return ContinuationImportPayload(
            errors=[], continuation_import=ContinuationImportType.from_model(result)
        )

    @strawberry.mutation(
        description="为待确认的行选定候选学籍（recordId 为空表示均不是）",
        metadata=performs(Operation.MANAGE_RECORDS),
    )
    async def confirm_continuation_candidate(
        self, info: Info, row_id: strawberry.ID, record_id: strawberry.ID | None = None
    ) -> ContinuationRowPayload:
        result = await write(
            info,
            lambda uow, actor: service.confirm_candidate(
                uow,
                actor=actor,
                row_id=parse_id(row_id, "rowId"),
                record_id=None if record_id is None else parse_id(record_id, "recordId"),
            ),
        )
        if isinstance(result, Failed):
            return ContinuationRowPayload(errors=result.errors)
        return ContinuationRowPayload(errors=[], row=ContinuationRowType.from_model(result))

    @strawberry.mutation(
        description="回传填写完整的接续名单（已匹配行的身份信息不可修改）",
        metadata=performs(Operation.MANAGE_RECORDS),
    )
    async def apply_continuation_sheet(
        self, info: Info, import_id: strawberry.ID, attachment_id: strawberry.ID
    ) -> ApplySheetPayload:
        result = await write(
            info,
            lambda uow, actor: service.apply_filled_sheet(
                uow,
                actor=actor,
                import_id=parse_id(import_id, "importId"),
                attachment_id=parse_id(attachment_id, "attachmentId"),
            ),
        )
        if isinstance(result, Failed):
            return ApplySheetPayload(errors=result.errors)
        return ApplySheetPayload(
            errors=[],
            updated=result.updated,
            reclassified=result.reclassified,
            row_errors=list(result.errors),
        )

    @strawberry.mutation(
        description="已被普通高中录取的中职新生：选择继续接续或终止（REG-9）",
        metadata=performs(Operation.MANAGE_RECORDS),
    )
    async def decide_continuation(
        self, info: Info, row_id: strawberry.ID, proceed: bool
    ) -> ContinuationRowPayload:
        result = await write(
            info,
            lambda uow, actor: service.decide_continuation(
                uow, actor=actor, row_id=parse_id(row_id, "rowId"), proceed=proceed
            ),
        )
        if isinstance(result, Failed):
            return ContinuationRowPayload(errors=result.errors)
        return ContinuationRowPayload(errors=[], row=ContinuationRowType.from_model(result))

    @strawberry.mutation(
        description="将可注册的行编入本校班级：已匹配的接续原学籍，未查到的新建学籍（均为草稿，待核办）",
        metadata=performs(Operation.MANAGE_RECORDS),
    )
    async def register_continuation_rows(
        self,
        info: Info,
        import_id: strawberry.ID,
        school_class_id: strawberry.ID,
        row_ids: list[strawberry.ID] | None = None,
    ) -> RegisterContinuationPayload:
        result = await write(
            info,
            lambda uow, actor: registration.register_rows(
                uow,
                actor=actor,
                import_id=parse_id(import_id, "importId"),
                school_class_id=parse_id(school_class_id, "schoolClassId"),
                row_ids=None if row_ids is None else [parse_id(r, "rowIds") for r in row_ids],
            ),
        )
        if isinstance(result, Failed):
            return RegisterContinuationPayload(errors=result.errors)
        return RegisterContinuationPayload(
            errors=[],
            registered=[
                RegisteredContinuationRow(
                    row_id=strawberry.ID(str(done.row_id)),
                    row_number=done.row_number,
                    record_id=strawberry.ID(str(done.record_id)),
                    continued=done.continued,
                )
                for done in result.registered
            ],
            row_errors=list(result.errors),
            counts=dict(result.counts),
        )
