"""Starting transfers and post-graduation study, retrieving the file, the graduating county's rejection.

The reviews themselves (approve, reject with a reason, withdraw by the receiving school until the file is
retrieved) go through ``actOnWorkflow``; the graduating county rejects post-graduation study only through
``rejectPostGraduationStudy`` (TRF-10).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import strawberry
from strawberry.types import Info

from backend.db import UnitOfWork
from backend.domain.actor import Actor
from backend.domain.permissions import Operation
from backend.domain.transfers import service
from backend.domain.transfers.queries import TransferView
from backend.graphql.edge import Failed, context, parse_id, write
from backend.graphql.operations import performs
from backend.graphql.transfers.types import (
    StartPostGraduationStudyInput,
    StartTransferInput,
    TransferPayload,
    TransferType,
    id_list,
)

Action = Callable[[UnitOfWork, Actor], Awaitable[TransferView]]


async def _run(info: Info, action: Action) -> TransferPayload:
    result = await write(info, action)
    if isinstance(result, Failed):
        return TransferPayload(errors=result.errors)
    return TransferPayload(errors=[], transfer=TransferType.from_view(result), replayed=result.replayed)


@strawberry.type
class TransferMutations:
    @strawberry.mutation(
        description="转入学校学籍管理员申请转学：学籍号和姓名、转入班级、理由、加盖公章的申请；"
        "经转入学校、转入地主管部门、转出学校、转出地主管部门审核（TRF-1），跨省的最后由转入学校调档",
        metadata=performs(Operation.MANAGE_RECORDS),
    )
    async def start_transfer(
        self, info: Info, input: StartTransferInput, idempotency_key: str | None = None
    ) -> TransferPayload:
        runtime = context(info).runtime

        async def run(uow: UnitOfWork, actor: Actor) -> TransferView:
            return await service.start_transfer(
                uow,
                actor=actor,
                national_number=input.national_number,
                name=input.name,
                target_class_id=parse_id(input.target_class_id, "targetClassId"),
                reason=input.reason,
                application_ids=id_list(input.application_ids, "applicationIds"),
                target_grade=input.target_grade,
                offline=input.offline,
                idempotency_key=idempotency_key,
                calendar=await runtime.calendars.get(uow.session),
            )

        return await _run(info, run)

    @strawberry.mutation(
        description="转入学校学籍管理员调档（跨省业务最后一步）：学生到校报到后、最后一方审核通过后10个工作日内（TRF-3）",
        metadata=performs(Operation.MANAGE_RECORDS),
    )
    async def retrieve_transfer_file(
        self, info: Info, transfer_id: strawberry.ID, reported: bool
    ) -> TransferPayload:
        runtime = context(info).runtime

        async def run(uow: UnitOfWork, actor: Actor) -> TransferView:
            return await service.retrieve_file(
                uow,
                actor=actor,
                transfer_id=parse_id(transfer_id, "transferId"),
                reported=reported,
                calendar=await runtime.calendars.get(uow.session),
            )

        return await _run(info, run)

    @strawberry.mutation(
        description="转入学校学籍管理员申请外省毕业生毕业后跨省就学（每年8月15日至12月14日、3月1日至5月31日）",
        metadata=performs(Operation.MANAGE_RECORDS),
    )
    async def start_post_graduation_study(
        self, info: Info, input: StartPostGraduationStudyInput, idempotency_key: str | None = None
    ) -> TransferPayload:
        runtime = context(info).runtime

        async def run(uow: UnitOfWork, actor: Actor) -> TransferView:
            return await service.start_post_graduation_study(
                uow,
                actor=actor,
                national_number=input.national_number,
                name=input.name,
                target_class_id=parse_id(input.target_class_id, "targetClassId"),
                reason=input.reason,
                application_ids=id_list(input.application_ids, "applicationIds"),
                idempotency_key=idempotency_key,
                calendar=await runtime.calendars.get(uow.session),
            )

        return await _run(info, run)

    @strawberry.mutation(
        description="毕业学校主管部门不同意毕业后跨省就学，须选择规定理由（postGraduationRejectionReasons，TRF-10）",
        metadata=performs(Operation.ACT_ON_WORKFLOWS),
    )
    async def reject_post_graduation_study(
        self, info: Info, transfer_id: strawberry.ID, reason_code: str, comment: str | None = None
    ) -> TransferPayload:
        runtime = context(info).runtime

        async def run(uow: UnitOfWork, actor: Actor) -> TransferView:
            return await service.reject_post_graduation_study(
                uow,
                actor=actor,
                transfer_id=parse_id(transfer_id, "transferId"),
                reason_code=reason_code,
                comment=comment,
                calendar=await runtime.calendars.get(uow.session),
            )

        return await _run(info, run)
