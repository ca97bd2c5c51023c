"""Entering a year's holiday arrangement (system administrators of the ministry or province)."""

from __future__ import annotations

from datetime import date

import strawberry
from strawberry.types import Info

from backend.domain.calendar import service
from backend.domain.permissions import Operation
from backend.graphql.calendar.types import CalendarDay
from backend.graphql.edge import Failed, write
from backend.graphql.errors import UserError
from backend.graphql.operations import performs


@strawberry.input
class CalendarDayInput:
    date: date
    is_workday: bool
    name: str


@strawberry.input
class SetCalendarYearInput:
    year: int
    notice: str = strawberry.field(description="国务院办公厅通知的标题")
    days: list[CalendarDayInput] = strawberry.field(description="工作日放假的节日与周末调休上班日")


@strawberry.type
class CalendarYearPayload:
    errors: list[UserError]
    year: int | None = None
    days: list[CalendarDay] | None = None


@strawberry.type
class CalendarMutations:
    @strawberry.mutation(
        description="录入（或整体替换）一年的节假日安排", metadata=performs(Operation.MANAGE_CALENDAR)
    )
    async def set_calendar_year(self, info: Info, input: SetCalendarYearInput) -> CalendarYearPayload:
        days = [(d.date, d.is_workday, d.name) for d in input.days]
        result = await write(
            info,
            lambda uow, actor: service.set_calendar_year(
                uow, actor=actor, year=input.year, notice=input.notice, days=days
            ),
        )
        if isinstance(result, Failed):
            return CalendarYearPayload(errors=result.errors)
        return CalendarYearPayload(
            errors=[],
            year=input.year,
            days=[CalendarDay(date=d, is_workday=w, name=n) for d, w, n in sorted(days)],
        )
