"""Entering a year's holiday arrangement from the State Council notice.

The ``chinesecalendar`` package covers past years; each later year (and any correction to a covered
one) is entered by a system administrator, as a whole year, from the notice: the statutory holidays
that fall on weekdays and the make-up workdays (调休) that fall on weekends. Only days that change the
plain Monday–Friday week are listed; every other day of a listed year follows it. ``backend.calendar``
reads these rows; every deadline rule (TRF-3, TRF-4, STA-5) depends on them.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import delete, select

from backend.db import UnitOfWork
from backend.domain.actor import Actor, SystemActor
from backend.domain.audit.service import record_audit
from backend.domain.errors import ValidationError
from backend.domain.permissions import Operation, authorize
from backend.models import CalendarDay, CalendarYear

FIRST_YEAR = 2000
LAST_YEAR = 2100
NOTICE_MAX_LENGTH = 200  # calendar_year.notice
NAME_MAX_LENGTH = 50  # calendar_day.name

HOLIDAY = "holiday"
WORKDAY = "workday"
FILE_HEADER = ["date", "type", "name"]
NOTICE_PREFIX = "# notice:"

WEEKDAY_NAMES = ("星期一", "星期二", "星期三", "星期四", "星期五", "星期六", "星期日")

DaySpec = tuple[date, bool, str]
"""One listed day: ``(day, is_workday, name)``."""


async def set_calendar_year(
    uow: UnitOfWork, *, actor: Actor | SystemActor, year: int, notice: str, days: Sequence[DaySpec]
) -> CalendarYear:
    """Replace the whole holiday arrangement of ``year`` with ``days``, from the notice ``notice``.

    ``days`` lists every day of the year that differs from Monday–Friday: holidays on weekdays
    (``is_workday`` False) and 调休 make-up workdays on weekends (``is_workday`` True). Any days
    entered for the year before are removed. The entered year takes precedence over the
    ``chinesecalendar`` package for that year. Writes the audit row ``calendar.year_set``; never commits.

    Raises:
        ForbiddenError: the actor may not manage the calendar.
        ValidationError: ``year`` outside 2000–2100, an empty or over-long notice, no days, a day
            outside the year, a duplicate day, a day that changes nothing, or an empty name
            (``field`` names the input at fault, e.g. ``days[3]``).
    """
    authorize(actor, Operation.MANAGE_CALENDAR)
    notice = notice.strip()
    _validate(year, notice, days)

    session = uow.session
    previous = await session.get(CalendarYear, year, with_for_update=True)
    before = None
    if previous is not None:
        rows = await session.execute(
            select(CalendarDay.day, CalendarDay.is_workday, CalendarDay.name).where(CalendarDay.year == year)
        )
        before = _summary(previous.notice, [(day, is_workday, name) for day, is_workday, name in rows])
        await session.execute(delete(CalendarDay).where(CalendarDay.year == year))
        entry = previous
    else:
        entry = CalendarYear(year=year)
        session.add(entry)
    entry.notice = notice
    entry.updated_at = uow.clock.now()
    entry.updated_by_id = actor.user_id
    await session.flush()  # the year row exists before its days reference it

    cleaned = sorted((day, is_workday, name.strip()) for day, is_workday, name in days)
    session.add_all(
        CalendarDay(day=day, is_workday=is_workday, name=name, year=year) for day, is_workday, name in cleaned
    )
    await session.flush()
    await record_audit(
        uow,
        actor=actor,
        operation="calendar.year_set",
        target_type="calendar_year",
        target_id=year,
        before=before,
        after=_summary(notice, cleaned),
    )
    return entry


def parse_calendar_file(text: str) -> tuple[int, str, list[DaySpec]]:
    """Read a year's arrangement from the file format of ``xueji calendar import FILE``.

    The format (UTF-8, a byte-order mark is tolerated)::

        # notice: 国务院办公厅关于2027年部分节假日安排的通知
        date,type,name
        2027-10-04,holiday,国庆节
        2027-10-09,workday,国庆节

    The first non-blank line names the notice; then the CSV header ``date,type,name``; then one row per
    listed day: an ISO date, ``holiday`` (a weekday off) or ``workday`` (a weekend make-up workday),
    and the holiday's name. Blank lines and other lines starting with ``#`` are ignored. All dates
    must lie in one year, which is the year returned: ``(year, notice, days)``, ready for
    ``set_calendar_year``.

    Raises:
        ValidationError: the first problem found, its message starting with the line number
            (``第4行：...``), ``field`` ``"file"``.
    """
    lines = text.removeprefix("\ufeff").splitlines()
    notice: str | None = None
    header_seen = False
    year: int | None = None
    days: list[DaySpec] = []
    seen: dict[date, int] = {}
    for number, line in enumerate(lines, start=1):
        stripped = line.strip()
        if notice is None:
            if not stripped:
                continue
            if not stripped.startswith(NOTICE_PREFIX):
                raise _file_error(number, f"第一行应为通知标题：{NOTICE_PREFIX} 通知名称")
            notice = stripped.removeprefix(NOTICE_PREFIX).strip()
            problem = _notice_problem(notice)
            if problem:
                raise _file_error(number, problem)
            continue
        if not stripped or stripped.startswith("#"):
            continue
        cells = [cell.strip() for cell in next(csv.reader([stripped]))]
        if not header_seen:
            if cells != FILE_HEADER:
                raise _file_error(number, "表头应为 date,type,name")
            header_seen = True
            continue
        if len(cells) != 3:
            raise _file_error(number, f"应有3列（日期,类型,名称），实有{len(cells)}列")
        raw_date, kind, name = cells
        try:
            day = date.fromisoformat(raw_date)
        except ValueError:
            raise _file_error(number, f"日期“{raw_date}”无效，应为YYYY-MM-DD") from None
        if kind not in (HOLIDAY, WORKDAY):
            raise _file_error(number, f"类型“{kind}”无效，应为 holiday（放假）或 workday（调休上班）")
        if year is None:
            year = day.year
        if day in seen:
            raise _file_error(number, f"{day}与第{seen[day]}行重复")
        problem = _day_problem(year, day, kind == WORKDAY, name)
        if problem:
            raise _file_error(number, problem)
        seen[day] = number
        days.append((day, kind == WORKDAY, name))
    if notice is None:
        raise _file_error(1, f"文件为空，第一行应为通知标题：{NOTICE_PREFIX} 通知名称")
    if year is None:
        raise _file_error(len(lines), "没有任何日期行")
    return year, notice, days


def _validate(year: int, notice: str, days: Sequence[DaySpec]) -> None:
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise ValidationError(f"年份必须在{FIRST_YEAR}至{LAST_YEAR}之间", field="year")
    problem = _notice_problem(notice)
    if problem:
        raise ValidationError(problem, field="notice")
    if not days:
        raise ValidationError("至少应列出一天（放假日或调休上班日）", field="days")
    seen: set[date] = set()
    for index, (day, is_workday, name) in enumerate(days):
        if day in seen:
            raise ValidationError(f"{day}重复", field=f"days[{index}]")
        seen.add(day)
        problem = _day_problem(year, day, is_workday, name)
        if problem:
            raise ValidationError(problem, field=f"days[{index}]")


def _notice_problem(notice: str) -> str | None:
    if not notice:
        return "通知名称不能为空"
    if len(notice) > NOTICE_MAX_LENGTH:
        return f"通知名称不能超过{NOTICE_MAX_LENGTH}个字"
    return None


def _day_problem(year: int, day: date, is_workday: bool, name: str) -> str | None:
    """Why a listed day is not acceptable for ``year``, or ``None``."""
    if day.year != year:
        return f"{day}不在{year}年内（一次只能设置一年）"
    weekend = day.weekday() >= 5
    weekday_name = WEEKDAY_NAMES[day.weekday()]
    if not is_workday and weekend:
        return f"{day}是{weekday_name}，本来就休息，无需列为放假日"
    if is_workday and not weekend:
        return f"{day}是{weekday_name}，本来就上班，无需列为调休上班日"
    name = name.strip()
    if not name:
        return f"{day}的名称不能为空"
    if len(name) > NAME_MAX_LENGTH:
        return f"{day}的名称不能超过{NAME_MAX_LENGTH}个字"
    return None


def _file_error(line: int, problem: str) -> ValidationError:
    return ValidationError(f"第{line}行：{problem}", field="file")


def _summary(notice: str, days: Sequence[DaySpec]) -> dict[str, Any]:
    """The audit view of a year: the notice, its holidays and its make-up workdays by date."""
    ordered = sorted(days)
    return {
        "notice": notice,
        "holidays": {day.isoformat(): name for day, is_workday, name in ordered if not is_workday},
        "workdays": {day.isoformat(): name for day, is_workday, name in ordered if is_workday},
    }
