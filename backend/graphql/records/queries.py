"""Student-record queries within jurisdiction."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from backend.domain.permissions import Operation
from backend.domain.records.queries import find_student_record, list_school_classes, list_student_records
from backend.graphql.edge import context, parse_id
from backend.graphql.enums import RecordStatus
from backend.graphql.operations import performs
from backend.graphql.pagination import Connection, to_connection
from backend.graphql.records.types import SchoolClassType, StudentRecordType


@strawberry.type
class RecordQueries:
    @strawberry.field(
        description="按编号查询学籍；不存在或不在管辖范围内时为空", metadata=performs(Operation.VIEW_STUDENTS)
    )
    async def student_record(self, info: Info, id: strawberry.ID) -> StudentRecordType | None:
        row = await context(info).query(find_student_record, parse_id(id, "id"))
        return None if row is None else StudentRecordType.from_model(row)

    @strawberry.field(
        description="管辖范围内的学籍（学校只见本校）", metadata=performs(Operation.VIEW_STUDENTS)
    )
    async def student_records(
        self,
        info: Info,
        unit_id: strawberry.ID | None = None,
        class_id: strawberry.ID | None = None,
        grade: int | None = None,
        status: RecordStatus | None = None,
        name: str | None = None,
        national_number: str | None = None,
        include_deleted: bool = False,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[StudentRecordType]:
        ctx = context(info)
        page = await ctx.query(
            list_student_records,
            national_number=national_number,
            include_deleted=include_deleted,
            unit_id=None if unit_id is None else parse_id(unit_id, "unitId"),
            class_id=None if class_id is None else parse_id(class_id, "classId"),
            grade=grade,
            status=status,
            name=name,
            first=first,
            after=after,
            max_page=ctx.runtime.settings.max_page_size,
        )
        return to_connection(page, StudentRecordType.from_model)

    @strawberry.field(
        description="一所学校的班级（默认本校），按学段、年级排序", metadata=performs(Operation.VIEW_STUDENTS)
    )
    async def school_classes(
        self, info: Info, school_id: strawberry.ID | None = None
    ) -> list[SchoolClassType]:
        rows = await context(info).query(
            list_school_classes, None if school_id is None else parse_id(school_id, "schoolId")
        )
        return [SchoolClassType.from_model(row) for row in rows]
