"""Problem lists within jurisdiction, graduating-year first (PRB-4, PRB-5)."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from backend.domain.permissions import Operation
from backend.domain.problems.listing import list_problems
from backend.graphql.edge import context, parse_id
from backend.graphql.enums import ProblemState, ProblemType
from backend.graphql.operations import performs
from backend.graphql.pagination import Connection, to_connection
from backend.graphql.problems.types import ProblemRecordType


@strawberry.type
class ProblemQueries:
    @strawberry.field(
        description="管辖范围内的问题学籍（按区县、学校分列时给出 unitId），毕业年级优先",
        metadata=performs(Operation.VIEW_STUDENTS),
    )
    async def problem_records(
        self,
        info: Info,
        unit_id: strawberry.ID | None = None,
        problem_type: ProblemType | None = None,
        state: ProblemState | None = None,
        open_only: bool = True,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[ProblemRecordType]:
        ctx = context(info)
        page = await ctx.query(
            list_problems,
            unit_id=None if unit_id is None else parse_id(unit_id, "unitId"),
            problem_type=problem_type,
            state=state,
            open_only=open_only,
            first=first,
            after=after,
            max_page=ctx.runtime.settings.max_page_size,
        )
        return to_connection(page, ProblemRecordType.from_model)
