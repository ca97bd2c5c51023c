"""Read side of the working-day calendar: a year's listed days, for people and clients."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from backend.calendar import CalendarCache
from backend.domain.actor import Actor
from backend.domain.calendar.errors import CalendarYearUnknownError
from backend.domain.permissions import Operation, authorize
from backend.models import CalendarYear


@dataclass(frozen=True)
class ListedDayView:
    day: date
    is_workday: bool
    name: str


@dataclass(frozen=True)
class CalendarYearView:
    year: int
    entered_by_administrator: bool
    notice: str | None
    days: list[ListedDayView]


async def calendar_year(
    session: AsyncSession, actor: Actor, cache: CalendarCache, year: int
) -> CalendarYearView:
    """The holidays and make-up workdays of ``year``; an unknown year is an explicit error."""
    authorize(actor, Operation.VIEW_CALENDAR)
    calendar = await cache.get(session)
    if year not in calendar.known_years():
        raise CalendarYearUnknownError(year)
    entered = await session.get(CalendarYear, year)
    days: list[ListedDayView] = []
    day = date(year, 1, 1)
    while day.year == year:
        listed = calendar.listed_day(day)
        if listed is not None:
            days.append(ListedDayView(day, listed[0], listed[1]))
        day += timedelta(days=1)
    return CalendarYearView(year, entered is not None, entered.notice if entered else None, days)
