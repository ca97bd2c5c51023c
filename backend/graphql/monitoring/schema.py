"""The login-compliance report over GraphQL (MON-1); the same report downloads as ``.xlsx`` over HTTP."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types import Info

from backend.domain.actor import Actor
from backend.domain.monitoring import report as monitoring
from backend.domain.permissions import Operation
from backend.graphql.edge import context, parse_id
from backend.graphql.enums import Role, UnitKind
from backend.graphql.operations import performs
from backend.graphql.units.types import UnitType


@strawberry.type(description="账号登录情况的一行：直属下级单位（含其下级）、本级账号或合计")
class LoginComplianceLine:
    unit_id: strawberry.ID
    unit_name: str
    unit_code: str
    unit_kind: UnitKind
    own_level: bool = strawberry.field(description="为真时只统计本单位自身（本级）的账号")
    accounts: int = strawberry.field(description="监测账号数：学校和区县的学籍管理员、学籍主管领导")
    compliant: int = strawberry.field(description="统计区间内至少登录一次（或区间内新建）的账号数")
    non_compliant: int
    percentage: float | None = strawberry.field(description="登录率（%），无监测账号时为空")
    sign_ins: int = strawberry.field(description="统计区间内成功登录次数")
    sign_ins_per_account: float | None = strawberry.field(description="每个账号每周平均登录次数")
    pending_steps: int = strawberry.field(description="等待超过规定工作日数仍未办理的审核步骤数")

    @classmethod
    def from_domain(cls, line: monitoring.ComplianceLine) -> LoginComplianceLine:
        return cls(
            unit_id=strawberry.ID(str(line.unit_id)),
            unit_name=line.unit_name,
            unit_code=line.unit_code,
            unit_kind=line.unit_kind,
            own_level=line.own_level,
            accounts=line.accounts,
            compliant=line.compliant,
            non_compliant=line.non_compliant,
            percentage=line.percentage,
            sign_ins=line.sign_ins,
            sign_ins_per_account=line.sign_ins_per_account,
            pending_steps=line.pending_steps,
        )


@strawberry.type(description="统计区间内未登录的监测账号")
class NonCompliantAccount:
    user_id: strawberry.ID
    username: str
    display_name: str
    unit_id: strawberry.ID
    unit_name: str
    roles: list[Role]
    last_sign_in_at: datetime | None = strawberry.field(
        description="统计区间结束前最近一次登录；从未登录为空"
    )
    days_absent: int = strawberry.field(description="自最近登录（从未登录则自账号创建）至统计区间结束的天数")

    @classmethod
    def from_domain(cls, account: monitoring.AbsentAccount) -> NonCompliantAccount:
        return cls(
            user_id=strawberry.ID(str(account.user_id)),
            username=account.username,
            display_name=account.display_name,
            unit_id=strawberry.ID(str(account.unit_id)),
            unit_name=account.unit_name,
            roles=list(account.roles),
            last_sign_in_at=account.last_sign_in_at,
            days_absent=account.days_absent,
        )


@strawberry.type(description="账号登录情况报告（MON-1）：按直属下级单位统计，含合计")
class LoginComplianceReport:
    unit: UnitType
    window_start: datetime = strawberry.field(description="统计区间开始")
    window_end: datetime = strawberry.field(description="统计区间结束（当前周截至现在）")
    iso_week: str | None = strawberry.field(description="按周统计时的ISO周，如 2026-W48")
    pending_older_than_working_days: int
    lines: list[LoginComplianceLine]
    total: LoginComplianceLine
    non_compliant_count: int
    _absent: strawberry.Private[list[monitoring.AbsentAccount]]

    @strawberry.field(description="未按时登录的账号，未登录最久的在前；完整名单请下载 Excel")
    def non_compliant_accounts(self, info: Info, first: int = 100) -> list[NonCompliantAccount]:
        limit = max(0, min(first, context(info).runtime.settings.max_page_size))
        return [NonCompliantAccount.from_domain(a) for a in self._absent[:limit]]


async def _report(session: AsyncSession, actor: Actor, info: Info, **kwargs: Any) -> Any:
    """The report as of the runtime's clock, working days on the cached calendar."""
    runtime = context(info).runtime
    calendar = await runtime.calendars.get(session)
    return await monitoring.login_compliance(
        session, actor, now=runtime.clock.now(), calendar=calendar, **kwargs
    )


@strawberry.type
class MonitoringQueries:
    @strawberry.field(
        description="账号登录情况（每周至少登录一次，MON-1）：默认本单位，按直属下级单位统计；week 为该日所在的ISO周，省略时为最近7天",
        metadata=performs(Operation.READ_AUDIT_LOG),
    )
    async def login_compliance(
        self,
        info: Info,
        unit_id: strawberry.ID | None = None,
        week: date | None = None,
        pending_older_than_working_days: int = monitoring.DEFAULT_PENDING_WORKING_DAYS,
    ) -> LoginComplianceReport:
        result: monitoring.LoginComplianceReport = await context(info).query(
            _report,
            info,
            unit_id=None if unit_id is None else parse_id(unit_id, "unitId"),
            week=week,
            pending_older_than_working_days=pending_older_than_working_days,
        )
        return LoginComplianceReport(
            unit=UnitType.from_model(result.unit),
            window_start=result.window_start,
            window_end=result.window_end,
            iso_week=result.iso_week,
            pending_older_than_working_days=result.pending_older_than_working_days,
            lines=[LoginComplianceLine.from_domain(line) for line in result.lines],
            total=LoginComplianceLine.from_domain(result.total),
            non_compliant_count=len(result.non_compliant),
            _absent=result.non_compliant,
        )
