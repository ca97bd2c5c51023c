"""The working-day calendar: package facts, deadline arithmetic, unknown years, database overrides, cache."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, event

from backend.calendar import CalendarCache, WorkingDayCalendar, load_calendar
from backend.clock import FixedClock
from backend.config import Settings
from backend.db import Database
from backend.domain.calendar.errors import CalendarYearUnknownError
from backend.models import CalendarDay, CalendarYear

# Made-up TEST DATA, not an official State Council notice: a plausible 2027 with a few weekday
# holidays and weekend make-up workdays, used only to exercise the code paths.
FAKE_2027: dict[date, tuple[bool, str]] = {
    date(2027, 1, 1): (False, "元旦"),
    date(2027, 10, 1): (False, "国庆节"),
    date(2027, 10, 4): (False, "国庆节"),
    date(2027, 10, 5): (False, "国庆节"),
    date(2027, 10, 6): (False, "国庆节"),
    date(2027, 10, 7): (False, "国庆节"),
    date(2027, 9, 26): (True, "国庆节"),
    date(2027, 10, 9): (True, "国庆节"),
}


@pytest.fixture(scope="module")
def package() -> WorkingDayCalendar:
    return WorkingDayCalendar.from_package()


# Facts checked against chinesecalendar 1.11.0's tables (国办发明电〔2025〕7号, the 2026 notice).
@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (date(2026, 10, 10), True),  # Saturday, 调休 make-up workday for National Day
        (date(2026, 2, 14), True),  # Saturday, 调休 make-up workday for Spring Festival
        (date(2026, 10, 1), False),  # National Day
        (date(2026, 2, 17), False),  # Spring Festival, a Tuesday
        (date(2026, 11, 25), True),  # an ordinary Wednesday
        (date(2026, 11, 29), False),  # an ordinary Sunday
    ],
)
def test_known_2026_facts(package: WorkingDayCalendar, day: date, expected: bool) -> None:
    assert package.is_workday(day) is expected


def test_holiday_names_are_chinese(package: WorkingDayCalendar) -> None:
    assert package.holiday_name(date(2026, 10, 1)) == "国庆节"
    assert package.holiday_name(date(2026, 2, 17)) == "春节"
    assert package.holiday_name(date(2026, 10, 3)) == "国庆节"  # a Saturday inside the holiday
    assert package.holiday_name(date(2026, 10, 10)) is None  # a make-up workday is no holiday
    assert package.holiday_name(date(2026, 11, 25)) is None
    assert package.listed_day(date(2026, 10, 10)) == (True, "国庆节")
    assert package.listed_day(date(2026, 11, 29)) is None


def test_package_years_come_from_the_package_data(package: WorkingDayCalendar) -> None:
    years = package.known_years()
    assert years[0] == 2004
    assert 2026 in years
    assert list(years) == list(range(years[0], years[-1] + 1))


def test_next_workday_is_strictly_after(package: WorkingDayCalendar) -> None:
    assert package.next_workday(date(2026, 11, 24)) == date(2026, 11, 25)
    assert package.next_workday(date(2026, 9, 30)) == date(2026, 10, 8)  # over the golden week
    assert package.next_workday(date(2026, 10, 9)) == date(2026, 10, 10)  # the make-up Saturday
    assert package.next_workday(date(2025, 12, 31)) == date(2026, 1, 4)  # Sunday 2026-01-04 调休


def test_ten_working_days_from_a_friday(package: WorkingDayCalendar) -> None:  # RULES: TRF-4
    assert package.add_working_days(date(2026, 11, 20), 10) == date(2026, 12, 4)


def test_ten_working_days_across_national_day(package: WorkingDayCalendar) -> None:  # RULES: TRF-4
    # 10-01..10-07 off, Saturday 10-10 worked: 10-08, 09, 10, 12, 13, 14, 15, 16, 19, 20.
    assert package.add_working_days(date(2026, 9, 30), 10) == date(2026, 10, 20)
    assert package.working_days_between(date(2026, 9, 30), date(2026, 10, 20)) == 10
    assert package.working_days_between(date(2026, 9, 30), date(2026, 10, 7)) == 0


def test_received_on_a_holiday_counts_from_the_next_working_day(
    package: WorkingDayCalendar,
) -> None:  # RULES: TRF-4
    assert package.add_working_days(date(2026, 10, 3), 1) == date(2026, 10, 8)
    assert package.add_working_days(date(2026, 10, 3), 0) == date(2026, 10, 3)


def test_add_working_days_refuses_a_negative_count(package: WorkingDayCalendar) -> None:
    with pytest.raises(ValueError, match="negative"):
        package.add_working_days(date(2026, 5, 6), -1)


def test_working_days_between_is_the_inverse_of_add_working_days(
    package: WorkingDayCalendar,
) -> None:  # RULES: TRF-4, STA-5
    start = date(2025, 1, 1)
    while start < date(2026, 12, 1):
        for n in (1, 10, 15):
            end = package.add_working_days(start, n)
            assert package.working_days_between(start, end) == n
            assert package.is_workday(end)
            assert package.working_days_between(start, end - timedelta(days=1)) == n - 1
        start += timedelta(days=1)


def test_working_days_between_counts_half_open_interval(package: WorkingDayCalendar) -> None:
    assert package.working_days_between(date(2026, 11, 23), date(2026, 11, 27)) == 4
    assert package.working_days_between(date(2026, 11, 25), date(2026, 11, 25)) == 0
    assert package.working_days_between(date(2026, 11, 27), date(2026, 11, 23)) == 0
    assert package.working_days_between(date(2025, 12, 31), date(2026, 1, 5)) == 2


@pytest.mark.parametrize("year", [2031, 2003])
def test_unknown_year_is_an_error_never_a_guess(package: WorkingDayCalendar, year: int) -> None:
    with pytest.raises(CalendarYearUnknownError) as caught:
        package.is_workday(date(year, 3, 4))
    assert caught.value.code == "CALENDAR_YEAR_UNKNOWN"
    assert f"{year}年" in caught.value.message


def test_a_period_running_into_an_unknown_year_is_an_error(
    package: WorkingDayCalendar,
) -> None:  # RULES: TRF-4
    with pytest.raises(CalendarYearUnknownError) as caught:
        package.add_working_days(date(2026, 12, 24), 10)
    assert caught.value.year == 2027
    assert "2027" in caught.value.message
    with pytest.raises(CalendarYearUnknownError):
        package.working_days_between(date(2026, 12, 24), date(2027, 1, 8))


def test_overrides_add_a_year_and_replace_a_package_year(package: WorkingDayCalendar) -> None:
    # TEST DATA: a made-up correction of 2026 that lists a single holiday.
    calendar = package.with_overrides({2027: FAKE_2027, 2026: {date(2026, 11, 25): (False, "测试假日")}})
    assert calendar.is_workday(date(2027, 10, 9)) is True
    assert calendar.holiday_name(date(2027, 10, 4)) == "国庆节"
    assert calendar.add_working_days(date(2026, 12, 24), 10) == date(2027, 1, 8)
    # The overriding year is complete: the package's 2026 listings are gone.
    assert calendar.is_workday(date(2026, 11, 25)) is False
    assert calendar.is_workday(date(2026, 10, 1)) is True
    assert calendar.is_workday(date(2026, 10, 10)) is False
    # The package calendar itself is untouched.
    assert package.is_workday(date(2026, 10, 1)) is False


def test_known_years_need_not_be_contiguous(package: WorkingDayCalendar) -> None:
    calendar = package.with_overrides({2028: {}})
    assert calendar.known_years()[-2:] == (2026, 2028)
    assert calendar.is_workday(date(2028, 3, 1)) is True
    with pytest.raises(CalendarYearUnknownError):
        calendar.add_working_days(date(2026, 12, 30), 5)


def test_a_day_listed_under_another_year_is_refused() -> None:
    with pytest.raises(ValueError, match="2028-01-03"):
        WorkingDayCalendar({2027: {date(2028, 1, 3): (False, "错年")}})


# --- the database and the cache -------------------------------------------------------------------


@pytest.fixture
def statements(db: Database) -> Iterator[list[str]]:
    """The SQL statements the test's engine executes."""
    executed: list[str] = []

    def _record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        executed.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", _record)
    yield executed
    event.remove(db.engine.sync_engine, "before_cursor_execute", _record)


async def put_year(
    db: Database, clock: FixedClock, settings: Settings, year: int, days: dict[date, tuple[bool, str]]
) -> None:
    """Replace ``year``'s rows directly and commit (the service is tested in tests/domain)."""
    async with db.unit_of_work(clock, settings) as uow:
        await uow.session.execute(delete(CalendarYear).where(CalendarYear.year == year))
        uow.session.add(CalendarYear(year=year, notice=f"测试数据：{year}年", updated_at=clock.now()))
        await uow.session.flush()
        uow.session.add_all(
            CalendarDay(day=day, is_workday=is_workday, name=name, year=year)
            for day, (is_workday, name) in days.items()
        )


async def test_load_calendar_merges_database_years_in_one_query(
    db: Database, clock: FixedClock, settings: Settings, statements: list[str]
) -> None:
    await put_year(db, clock, settings, 2027, FAKE_2027)
    await put_year(db, clock, settings, 2026, {date(2026, 11, 25): (False, "测试假日")})
    statements.clear()

    async with db.read_session() as session:
        calendar = await load_calendar(session)

    assert len([s for s in statements if s.lstrip().upper().startswith("SELECT")]) == 1
    assert calendar.is_workday(date(2027, 9, 26)) is True
    assert calendar.is_workday(date(2026, 11, 25)) is False  # the database year takes precedence
    assert calendar.is_workday(date(2026, 10, 1)) is True
    assert calendar.is_workday(date(2025, 10, 1)) is False  # other years still from the package


async def test_cache_reloads_only_after_a_change(
    db: Database, clock: FixedClock, settings: Settings, statements: list[str]
) -> None:
    cache = CalendarCache()
    async with db.read_session() as session:
        first = await cache.get(session)
        statements.clear()
        again = await cache.get(session)
    assert again is first
    assert len(statements) == 1  # only the version stamp
    with pytest.raises(CalendarYearUnknownError):
        first.is_workday(date(2027, 10, 9))

    clock.advance(timedelta(minutes=1))
    await put_year(db, clock, settings, 2027, FAKE_2027)
    async with db.read_session() as session:
        added = await cache.get(session)
    assert added is not first
    assert added.is_workday(date(2027, 10, 9)) is True

    clock.advance(timedelta(minutes=1))
    await put_year(db, clock, settings, 2027, {date(2027, 10, 11): (False, "测试假日")})
    async with db.read_session() as session:
        replaced = await cache.get(session)
    assert replaced.is_workday(date(2027, 10, 9)) is False
    assert replaced.is_workday(date(2027, 10, 11)) is False

    async with db.unit_of_work(clock, settings) as uow:
        await uow.session.execute(delete(CalendarYear).where(CalendarYear.year == 2027))
    async with db.read_session() as session:
        removed = await cache.get(session)
    with pytest.raises(CalendarYearUnknownError):
        removed.is_workday(date(2027, 10, 9))
