"""GraphQL types of the working-day calendar."""

from __future__ import annotations

from datetime import date

import strawberry


@strawberry.type(description="与普通周一至周五安排不同的一天：法定节假日或调休上班日")
class CalendarDay:
    date: date
    is_workday: bool
    name: str


@strawberry.type(description="一年的节假日安排")
class CalendarYear:
    year: int
    entered_by_administrator: bool = strawberry.field(description="为真时由系统管理员依国务院通知录入")
    notice: str | None
    days: list[CalendarDay]
