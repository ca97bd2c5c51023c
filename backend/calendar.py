"""The one PRC working-day calendar every deadline rule uses (TRF-3, TRF-4, STA-5).

"Working days" (工作日) follow the State Council's yearly holiday notice: statutory holidays are days off
even on a weekday, and make-up workdays (调休) are working days even on a weekend. Every other day follows
Monday–Friday. A year is *known* when its notice has been entered; asking about any other year raises
``CalendarYearUnknownError`` — a deadline is never computed from a silent Monday–Friday guess.

Two sources, merged once per load:

* the ``chinesecalendar`` package, for the years its data covers (2004–2026 in 1.11.0; the range is read
  from the package data, so upgrading the package extends it);
* years a system administrator entered from the notice (``calendar_year`` and ``calendar_day`` rows). Such
  a year replaces the package's version of that year completely: it is a correction, and a listed year is
  complete (unlisted days follow Monday–Friday).

``WorkingDayCalendar`` is immutable, synchronous and cheap once built (a bisect per year crossed), so
sweeps over thousands of open steps can call it freely. ``CalendarCache`` keeps the loaded calendar for a
process and reloads it only when the ``calendar_year`` rows changed, so every server process sees an
administrator's change on its next request without a restart.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Mapping
from datetime import date, datetime, timedelta
from functools import cache

from chinese_calendar.constants import Holiday, holidays, workdays
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.domain.calendar.errors import CalendarYearUnknownError
from backend.models import CalendarDay, CalendarYear

__all__ = [
    "CalendarCache",
    "CalendarYearUnknownError",
    "ListedDay",
    "WorkingDayCalendar",
    "YearDays",
    "load_calendar",
]

ListedDay = tuple[bool, str]
"""A day that differs from (or is named beside) the plain week: ``(is_workday, name)``."""

YearDays = Mapping[date, ListedDay]
"""The listed days of one year; every day not listed follows Monday–Friday."""


class WorkingDayCalendar:
    """Working days for a set of known years.

    Build it with ``from_package()`` and ``with_overrides()``, or from the database with
    ``load_calendar()``. All dates are Asia/Shanghai calendar dates (see ``backend.clock.local_today``).
    Every method raises ``CalendarYearUnknownError`` for a date in a year that is not known.
    """

    def __init__(self, years: Mapping[int, YearDays]) -> None:
        """A calendar knowing exactly ``years``, each with its listed days.

        Raises:
            ValueError: a listed day lies outside the year it is listed under.
        """
        self._years: dict[int, dict[date, ListedDay]] = {}
        self._listed: dict[date, ListedDay] = {}
        # Per known year, the ordinals of its working days in ascending order.
        self._workdays: dict[int, list[int]] = {}
        for year, days in years.items():
            outside = sorted(day for day in days if day.year != year)
            if outside:
                raise ValueError(f"{outside[0]} is listed under {year}")
            self._years[year] = dict(days)
            self._listed.update(days)
        for year in self._years:
            first = date(year, 1, 1).toordinal()
            last = date(year, 12, 31).toordinal()
            self._workdays[year] = [
                ordinal
                for ordinal in range(first, last + 1)
                if self._plain_is_workday(date.fromordinal(ordinal))
            ]

    @classmethod
    def from_package(cls) -> WorkingDayCalendar:
        """The years the ``chinesecalendar`` package covers, with Chinese holiday names."""
        return _package_calendar()

    def with_overrides(self, years: Mapping[int, YearDays]) -> WorkingDayCalendar:
        """A new calendar in which each of ``years`` replaces this calendar's version of that year."""
        return WorkingDayCalendar({**self._years, **years})

    def known_years(self) -> tuple[int, ...]:
        """The known years, ascending (they need not be contiguous)."""
        return tuple(sorted(self._years))

    def is_workday(self, day: date) -> bool:
        """Whether ``day`` is a working day (调休 make-up weekends included, holidays excluded)."""
        self._require(day.year)
        return self._plain_is_workday(day)

    def holiday_name(self, day: date) -> str | None:
        """The holiday's name (e.g. ``"国庆节"``) if ``day`` is a listed day off, else ``None``.

        A weekend inside a holiday period is named too when the notice lists it; a make-up workday
        returns ``None`` (see ``listed_day``).
        """
        entry = self.listed_day(day)
        return entry[1] if entry is not None and not entry[0] else None

    def listed_day(self, day: date) -> ListedDay | None:
        """``(is_workday, name)`` if the notice lists ``day`` (a holiday or a make-up workday)."""
        self._require(day.year)
        return self._listed.get(day)

    def next_workday(self, day: date) -> date:
        """The first working day strictly after ``day``, even when ``day`` itself is one."""
        return self.add_working_days(day, 1)

    def add_working_days(self, start: date, n: int) -> date:
        """The date on which a period of ``n`` working days starting after ``start`` ends.

        Convention, cited by every "within N working days" rule (TRF-3, TRF-4, STA-5): the day of the
        triggering event (``start``: a step received, the last approval given) does not count, whatever
        kind of day it is. The period is the next ``n`` working days, and it ends at 24:00 Asia/Shanghai
        of the returned date — the ``n``-th working day strictly after ``start``. Handling the step on
        the returned date is in time; the day after is late. Example: a step received on Friday
        2026-11-20 with 10 working days must be handled by Friday 2026-12-04; one received on
        Wednesday 2026-09-30 has until Tuesday 2026-10-20 (the National Day week does not count, the
        make-up Saturday 10-10 does).

        ``n == 0`` returns ``start``. Always ``working_days_between(start, result) == n``.

        Raises:
            ValueError: ``n`` is negative.
            CalendarYearUnknownError: the period reaches into (or starts in) an unknown year.
        """
        if n < 0:
            raise ValueError("n must not be negative")
        year = start.year
        after = start.toordinal()
        while True:
            days = self._require(year)
            index = bisect_right(days, after)
            available = len(days) - index
            if n <= available:
                return start if n == 0 else date.fromordinal(days[index + n - 1])
            n -= available
            year += 1

    def add_counted_working_days(self, start: date, n: int, excluded: Callable[[date], bool]) -> date:
        """Like ``add_working_days``, but working days for which ``excluded`` is true do not count.

        TRF-4 counts a step's 10 working days outside the winter and summer holidays, which each province
        configures: a step received just before the summer holiday is due 10 counted days after it.

        Raises:
            ValueError: ``n`` is negative, or nothing counts for three years (``excluded`` covers all).
            CalendarYearUnknownError: the period reaches into an unknown year.
        """
        if n < 0:
            raise ValueError("n must not be negative")
        day, counted = start, 0
        limit = start + timedelta(days=3 * 366)
        while counted < n:
            day = self.add_working_days(day, 1)
            if day > limit:
                raise ValueError("no countable working day within three years")
            if not excluded(day):
                counted += 1
        return day

    def working_days_between(self, start: date, end: date) -> int:
        """The number of working days in ``(start, end]``: after ``start``, up to and including ``end``.

        This is the count ``add_working_days`` uses, so a step received on ``start`` and handled on
        ``end`` was late for an N-working-day limit exactly when the result exceeds N. Returns 0 when
        ``end`` is not after ``start``.

        Raises:
            CalendarYearUnknownError: a year from ``start`` to ``end`` is unknown.
        """
        if end <= start:
            return 0
        total = 0
        for year in range(start.year, end.year + 1):
            days = self._require(year)
            total += bisect_right(days, end.toordinal()) - bisect_right(days, start.toordinal())
        return total

    def _require(self, year: int) -> list[int]:
        days = self._workdays.get(year)
        if days is None:
            raise CalendarYearUnknownError(year)
        return days

    def _plain_is_workday(self, day: date) -> bool:
        entry = self._listed.get(day)
        return entry[0] if entry is not None else day.weekday() < 5


@cache
def _package_calendar() -> WorkingDayCalendar:
    """Read the package's tables once per process (not ``is_workday`` per day)."""
    chinese_names: dict[str, str] = {holiday.value: holiday.chinese for holiday in Holiday}
    years: dict[int, dict[date, ListedDay]] = {}
    for table, is_workday in ((holidays, False), (workdays, True)):
        for day, english in table.items():
            years.setdefault(day.year, {})[day] = (is_workday, chinese_names.get(english, english))
    # The package knows every year between its first and last listed day (as its own is_workday does).
    for year in range(min(years), max(years) + 1):
        years.setdefault(year, {})
    return WorkingDayCalendar(years)


async def load_calendar(session: AsyncSession) -> WorkingDayCalendar:
    """The package calendar with every administrator-entered year replacing its own, in one query."""
    rows = await session.execute(
        select(CalendarYear.year, CalendarDay.day, CalendarDay.is_workday, CalendarDay.name).outerjoin(
            CalendarDay, CalendarDay.year == CalendarYear.year
        )
    )
    years: dict[int, dict[date, ListedDay]] = {}
    for year, day, is_workday, name in rows:
        listed = years.setdefault(year, {})
        if day is not None:  # a year may list no day at all
            listed[day] = (is_workday, name)
    return WorkingDayCalendar.from_package().with_overrides(years)


Stamp = tuple[tuple[int, datetime], ...]


class CalendarCache:
    """The loaded calendar for one process, reloaded when the ``calendar_year`` rows change.

    ``get`` costs one small SELECT (the year and ``updated_at`` of every entered year; a handful of
    rows): a year entered, replaced or removed changes that stamp, and only then is the calendar
    reloaded. The stamp is read before the data, so a change committed in between is at worst loaded
    twice, never missed. Create one per process (the app's lifespan owns it); tests create their own,
    since different test databases may carry equal stamps.
    """

    def __init__(self) -> None:
        self._loaded: tuple[Stamp, WorkingDayCalendar] | None = None

    async def get(self, session: AsyncSession) -> WorkingDayCalendar:
        """The current calendar, reloaded through ``session`` only if the entered years changed."""
        rows = await session.execute(
            select(CalendarYear.year, CalendarYear.updated_at).order_by(CalendarYear.year)
        )
        stamp: Stamp = tuple((year, updated_at) for year, updated_at in rows)
        loaded = self._loaded
        if loaded is not None and loaded[0] == stamp:
            return loaded[1]
        calendar = await load_calendar(session)
        self._loaded = (stamp, calendar)
        return calendar

    def clear(self) -> None:
        """Forget the loaded calendar; the next ``get`` reloads."""
        self._loaded = None
