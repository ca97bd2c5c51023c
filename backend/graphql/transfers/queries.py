"""Reading transfers (TRF-1..11): lists within jurisdiction, one business, the masked lookup of a student.

Reviewers find their steps in ``toDo`` (``workflow.subjectType`` is ``"transfer"``, ``subjectId`` the
transfer) and decide with ``actOnWorkflow``; these queries show the business around the steps.
"""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from backend.domain.permissions import Operation
from backend.domain.transfers.queries import (
    TransferDirection,
    get_transfer,
    list_transfers,
    rejection_reasons,
)
from backend.domain.transfers.service import find_student_for_transfer
from backend.graphql.edge import context, parse_id
from backend.graphql.enums import BusinessState, TransferKind
from backend.graphql.operations import performs
from backend.graphql.pagination import Connection, to_connection
from backend.graphql.transfers.types import RejectionReasonType, StudentForTransfer, TransferType


@strawberry.type
class TransferQueries:
    @strawberry.field(
        description="转入或转出本人管辖范围（或其中 unitId 单位）的转学和毕业后跨省就学业务，新的在前",
        metadata=performs(Operation.VIEW_STUDENTS),
    )
    async def transfers(
        self,
        info: Info,
        unit_id: strawberry.ID | None = None,
        direction: TransferDirection = TransferDirection.ALL,
        state: BusinessState | None = None,
        kind: TransferKind | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[TransferType]:
        ctx = context(info)
        page = await ctx.query(
            list_transfers,
            unit_id=None if unit_id is None else parse_id(unit_id, "unitId"),
            direction=direction,
            state=state,
            kind=kind,
            first=first,
            after=after,
            max_page=ctx.runtime.settings.max_page_size,
        )
        return to_connection(page, TransferType.from_view)

    @strawberry.field(
        description="一项转学或毕业后跨省就学业务；不在管辖范围内时为空",
        metadata=performs(Operation.VIEW_STUDENTS),
    )
    async def transfer(self, info: Info, id: strawberry.ID) -> TransferType | None:
        view = await context(info).query(get_transfer, parse_id(id, "id"))
        return None if view is None else TransferType.from_view(view)

    @strawberry.field(
        description="转入学校按全国学籍号和姓名查找外校学生（结果已脱敏；每次查找均记入审计日志）；查无此人时为空",
        metadata=performs(Operation.MANAGE_RECORDS),
    )
    async def student_for_transfer(
        self, info: Info, national_number: str, name: str
    ) -> StudentForTransfer | None:
        ctx = context(info)
        actor = await ctx.require_actor()
        # A read that writes its audit row (SEC-4): its own unit of work, committed here.
        async with ctx.runtime.unit_of_work() as uow:
            found = await find_student_for_transfer(
                uow, actor=actor, national_number=national_number, name=name
            )
        return None if found is None else StudentForTransfer.from_domain(found)

    @strawberry.field(
        description="毕业学校主管部门不同意毕业后跨省就学时可选的规定理由（TRF-10）",
        metadata=performs(Operation.ACT_ON_WORKFLOWS),
    )
    async def post_graduation_rejection_reasons(self, info: Info) -> list[RejectionReasonType]:
        actor = await context(info).require_actor()
        return [RejectionReasonType.from_domain(reason) for reason in rejection_reasons(actor)]
