"""Approvals over GraphQL: my to-do, one business's timeline, and acting on a step (REG-4, CHG-3, SEC-3)."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types import Info

from backend.clock import local_today
from backend.domain.actor import Actor
from backend.domain.permissions import Operation
from backend.domain.workflows import engine, overdue
from backend.domain.workflows.queries import get_instance, to_do
from backend.graphql.edge import Failed, context, parse_id, write
from backend.graphql.enums import Role
from backend.graphql.errors import UserError
from backend.graphql.operations import performs
from backend.graphql.pagination import Connection, to_connection
from backend.graphql.units.types import UnitType
from backend.models import OverdueStep, WorkflowAction, WorkflowInstance, WorkflowStep
from backend.models.enums import StepKind, StepState, WorkflowState

strawberry.enum(WorkflowState, description="业务办理状态")
strawberry.enum(StepState, description="审核步骤状态")
strawberry.enum(StepKind, description="步骤类别：审核或调档")


@strawberry.enum(description="对审核步骤的操作")
class WorkflowActionKind(enum.Enum):
    APPROVE = "approve"
    REJECT = "reject"
    WITHDRAW = "withdraw"
    COMMENT = "comment"


@strawberry.type(name="WorkflowStep", description="审核步骤：由哪个单位的哪个角色办理，期限")
class WorkflowStepType:
    position: int
    name: str
    kind: StepKind = strawberry.field(description="审核，或调档（转入学校调取学籍档案）")
    acting_unit_id: strawberry.ID
    acting_role: Role
    state: StepState
    due_on: date | None
    acted_at: datetime | None

    @classmethod
    def from_model(cls, row: WorkflowStep) -> WorkflowStepType:
        return cls(
            position=row.position,
            name=row.name,
            kind=row.kind,
            acting_unit_id=strawberry.ID(str(row.acting_unit_id)),
            acting_role=row.acting_role,
            state=row.state,
            due_on=row.due_on,
            acted_at=row.acted_at,
        )


@strawberry.type(name="WorkflowActionEntry", description="办理记录（防篡改哈希链）")
class WorkflowActionType:
    position: int | None
    action: str
    user_id: strawberry.ID | None
    role: Role | None
    unit_id: strawberry.ID | None
    at: datetime
    comment: str | None
    attachment_ids: list[strawberry.ID] = strawberry.field(description="随办理提交的证明材料")
    hash: str

    @classmethod
    def from_model(cls, row: WorkflowAction) -> WorkflowActionType:
        return cls(
            position=row.position,
            action=row.action,
            user_id=None if row.user_id is None else strawberry.ID(str(row.user_id)),
            role=row.role,
            unit_id=None if row.unit_id is None else strawberry.ID(str(row.unit_id)),
            at=row.at,
            comment=row.comment,
            attachment_ids=[strawberry.ID(str(i)) for i in row.attachment_ids or []],
            hash=row.hash,
        )


@strawberry.type(name="Workflow", description="一项审核业务")
class WorkflowType:
    id: strawberry.ID
    kind: str
    subject_type: str
    subject_id: strawberry.ID
    state: WorkflowState
    current_step: int
    version: int = strawberry.field(description="办理时作为 expectedVersion 传回，防止重复处理")
    started_at: datetime
    finished_at: datetime | None
    steps: list[WorkflowStepType] = strawberry.field(default_factory=list)
    actions: list[WorkflowActionType] = strawberry.field(default_factory=list)

    @classmethod
    def from_model(
        cls,
        row: WorkflowInstance,
        steps: list[WorkflowStep] | None = None,
        actions: list[WorkflowAction] | None = None,
    ) -> WorkflowType:
        return cls(
            id=strawberry.ID(str(row.id)),
            kind=row.kind,
            subject_type=row.subject_type,
            subject_id=strawberry.ID(str(row.subject_id)),
            state=row.state,
            current_step=row.current_step,
            version=row.version,
            started_at=row.started_at,
            finished_at=row.finished_at,
            steps=[WorkflowStepType.from_model(s) for s in steps or []],
            actions=[WorkflowActionType.from_model(a) for a in actions or []],
        )


@strawberry.type(description="待办：等待本单位本角色办理的步骤")
class ToDoItem:
    workflow: WorkflowType
    step: WorkflowStepType
    due_on: date | None
    working_days_left: int | None = strawberry.field(description="距期限的工作日数（负数为已逾期；未知为空）")


@strawberry.type(name="OverdueStep", description="超期未办理的审核步骤（每步10个工作日，TRF-4）")
class OverdueStepType:
    workflow_id: strawberry.ID
    kind: str
    step_name: str
    acting_unit_id: strawberry.ID
    acting_role: Role
    due_on: date
    month: str
    recorded_at: datetime

    @classmethod
    def from_model(cls, row: OverdueStep) -> OverdueStepType:
        return cls(
            workflow_id=strawberry.ID(str(row.instance_id)),
            kind=row.kind,
            step_name=row.step_name,
            acting_unit_id=strawberry.ID(str(row.acting_unit_id)),
            acting_role=row.acting_role,
            due_on=row.due_on,
            month=row.month,
            recorded_at=row.recorded_at,
        )

    @strawberry.field(description="超期的单位")
    async def acting_unit(self, info: Info) -> UnitType | None:
        unit = await context(info).loaders.unit.load(int(self.acting_unit_id))
        return None if unit is None else UnitType.from_model(unit)


@strawberry.type(description="月度通报：各单位超期办理的步骤数")
class OverdueCount:
    unit_id: strawberry.ID
    unit_name: str
    count: int


@strawberry.type
class WorkflowPayload:
    errors: list[UserError]
    workflow: WorkflowType | None = None
    replayed: bool = False


async def to_do_page(session: AsyncSession, actor: Actor, info: Info, **kwargs: Any) -> Any:
    """A page of the caller's to-do, working days counted on the cached calendar."""
    runtime = context(info).runtime
    calendar = await runtime.calendars.get(session)
    return await to_do(session, actor, calendar=calendar, today=local_today(runtime.clock), **kwargs)


@strawberry.type
class WorkflowQueries:
    @strawberry.field(
        description="我的待办（本单位、本角色），按期限排序", metadata=performs(Operation.VIEW_STUDENTS)
    )
    async def to_do(
        self, info: Info, kind: str | None = None, first: int | None = None, after: str | None = None
    ) -> Connection[ToDoItem]:
        ctx = context(info)
        page = await ctx.query(
            to_do_page, info, kind=kind, first=first, after=after, max_page=ctx.runtime.settings.max_page_size
        )
        return to_connection(
            page,
            lambda item: ToDoItem(
                workflow=WorkflowType.from_model(item.instance),
                step=WorkflowStepType.from_model(item.step),
                due_on=item.due_on,
                working_days_left=item.working_days_left,
            ),
        )

    @strawberry.field(
        description="一项审核业务及其步骤和办理记录；不在管辖范围内时为空",
        metadata=performs(Operation.VIEW_STUDENTS),
    )
    async def workflow(self, info: Info, id: strawberry.ID) -> WorkflowType | None:
        timeline = await context(info).query(get_instance, parse_id(id, "id"))
        if timeline is None:
            return None
        return WorkflowType.from_model(timeline.instance, timeline.steps, timeline.actions)

    @strawberry.field(
        description="超期登记：某月（YYYY-MM）到期未办理的步骤，本单位及下级",
        metadata=performs(Operation.ACT_ON_WORKFLOWS),
    )
    async def overdue_steps(
        self,
        info: Info,
        month: str,
        unit_id: strawberry.ID | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[OverdueStepType]:
        ctx = context(info)
        page = await ctx.query(
            overdue.overdue_steps,
            month=month,
            unit_id=None if unit_id is None else parse_id(unit_id, "unitId"),
            first=first,
            after=after,
            max_page=ctx.runtime.settings.max_page_size,
        )
        return to_connection(page, OverdueStepType.from_model)

    @strawberry.field(
        description="月度通报：某月各单位超期办理的步骤数，多者在前",
        metadata=performs(Operation.ACT_ON_WORKFLOWS),
    )
    async def overdue_circular(
        self, info: Info, month: str, unit_id: strawberry.ID | None = None
    ) -> list[OverdueCount]:
        rows = await context(info).query(
            overdue.overdue_by_unit,
            month=month,
            unit_id=None if unit_id is None else parse_id(unit_id, "unitId"),
        )
        return [
            OverdueCount(unit_id=strawberry.ID(str(r.unit_id)), unit_name=r.unit_name, count=r.count)
            for r in rows
        ]


@strawberry.type
class WorkflowMutations:
    @strawberry.mutation(
        description="办理审核步骤：通过、退回（须填理由）、撤回或留言，可附证明材料；expectedVersion 防止两人同时办理",
        metadata=performs(Operation.ACT_ON_WORKFLOWS),
    )
    async def act_on_workflow(
        self,
        info: Info,
        workflow_id: strawberry.ID,
        action: WorkflowActionKind,
        comment: str | None = None,
        attachment_ids: list[strawberry.ID] | None = None,
        expected_version: int | None = None,
        idempotency_key: str | None = None,
    ) -> WorkflowPayload:
        ctx = context(info)

        async def run(uow: Any, actor: Actor) -> engine.ActResult:
            calendar = await ctx.runtime.calendars.get(uow.session)
            return await engine.act(
                uow,
                actor=actor,
                instance_id=parse_id(workflow_id, "workflowId"),
                action=action.value,
                comment=comment,
                attachment_ids=[parse_id(a, "attachmentIds") for a in attachment_ids or []],
                expected_version=expected_version,
                idempotency_key=idempotency_key,
                calendar=calendar,
            )

        result = await write(info, run)
        if isinstance(result, Failed):
            return WorkflowPayload(errors=result.errors)
        return WorkflowPayload(
            errors=[], workflow=WorkflowType.from_model(result.instance), replayed=result.replayed
        )
