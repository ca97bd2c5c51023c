"""Calendar queries."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from backend.domain.calendar.queries import calendar_year
from backend.domain.permissions import Operation
from backend.graphql.calendar.types import CalendarDay, CalendarYear
from backend.graphql.edge import context
from backend.graphql.operations import performs


@strawberry.type
class CalendarQueries:
    @strawberry.field(description="某年的节假日与调休安排", metadata=performs(Operation.VIEW_CALENDAR))
    async def calendar(self, info: Info, year: int) -> CalendarYear:
        ctx = context(info)
        view = await ctx.query(calendar_year, ctx.runtime.calendars, year)
        return CalendarYear(
            year=view.year,
            entered_by_administrator=view.entered_by_administrator,
            notice=view.notice,
            days=[CalendarDay(date=d.day, is_workday=d.is_workday, name=d.name) for d in view.days],
        )
