"""Entering a year's holiday arrangement: permission, validation, audit, precedence, the import file."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from backend.calendar import CalendarCache, load_calendar
from backend.clock import FixedClock
from backend.db import UnitOfWork
from backend.domain.actor import Actor
from backend.domain.calendar.service import DaySpec, parse_calendar_file, set_calendar_year
from backend.domain.errors import ForbiddenError, ValidationError
from backend.domain.units.tree import child_path, depth_of, root_path
from backend.models import AuditEntry, CalendarDay, CalendarYear, Unit, User
from backend.models.enums import Role, UnitKind

# Made-up TEST DATA, not an official State Council notice: a plausible 2027 arrangement listing weekday
# holidays and weekend make-up workdays.
NOTICE_2027 = "测试数据（虚构）：关于2027年部分节假日安排的通知"
DAYS_2027: list[DaySpec] = [
    (date(2027, 1, 1), False, "元旦"),
    (date(2027, 2, 5), False, "春节"),
    (date(2027, 2, 8), False, "春节"),
    (date(2027, 2, 9), False, "春节"),
    (date(2027, 2, 10), False, "春节"),
    (date(2027, 2, 11), False, "春节"),
    (date(2027, 2, 20), True, "春节"),
    (date(2027, 10, 1), False, "国庆节"),
    (date(2027, 10, 4), False, "国庆节"),
    (date(2027, 10, 5), False, "国庆节"),
    (date(2027, 10, 6), False, "国庆节"),
    (date(2027, 10, 7), False, "国庆节"),
    (date(2027, 9, 26), True, "国庆节"),
    (date(2027, 10, 9), True, "国庆节"),
]
FILE_2027 = f"""\ufeff# notice: {NOTICE_2027}
date,type,name
2027-01-01,holiday,元旦
2027-02-05,holiday,春节
2027-02-08,holiday,春节
2027-02-09,holiday,春节
2027-02-10,holiday,春节
2027-02-11,holiday,春节
2027-02-20,workday,春节

# National Day
2027-10-01,holiday,国庆节
2027-10-04,holiday,国庆节
2027-10-05,holiday,国庆节
2027-10-06,holiday,国庆节
2027-10-07,holiday,国庆节
2027-09-26,workday,国庆节
2027-10-09,workday,国庆节
"""


# --- factories -------------------------------------------------------------------------------------


async def make_unit(uow: UnitOfWork, kind: UnitKind, code: str, parent: Unit | None = None) -> Unit:
    now = uow.clock.now()
    unit = Unit(
        kind=kind,
        name=f"测试单位{code}",
        code=code,
        parent_id=None if parent is None else parent.id,
        path=f"/pending-{code}/",
        depth=0,
        created_at=now,
        updated_at=now,
    )
    uow.session.add(unit)
    await uow.session.flush()
    unit.path = root_path(unit.id) if parent is None else child_path(parent.path, unit.id)
    unit.depth = depth_of(unit.path)
    await uow.session.flush()
    return unit


async def make_user(uow: UnitOfWork, unit: Unit, username: str) -> User:
    now = uow.clock.now()
    user = User(
        username=username,
        display_name=username,
        unit_id=unit.id,
        password_hash="not-a-real-hash",
        password_changed_at=now,
        created_at=now,
        updated_at=now,
    )
    uow.session.add(user)
    await uow.session.flush()
    return user


async def make_actor(uow: UnitOfWork, role: Role, username: str = "admin") -> Actor:
    """A user of a province (below the ministry) acting in ``role``."""
    ministry = await make_unit(uow, UnitKind.MINISTRY, "000000")
    province = await make_unit(uow, UnitKind.PROVINCE, "340000", ministry)
    user = await make_user(uow, province, username)
    return Actor(
        user_id=user.id,
        username=user.username,
        unit_id=province.id,
        unit_path=province.path,
        unit_kind=UnitKind.PROVINCE,
        roles=frozenset({role}),
    )


async def count(uow: UnitOfWork, model: type[object]) -> int:
    return await uow.session.scalar(select(func.count()).select_from(model)) or 0


async def days_of(uow: UnitOfWork, year: int) -> list[DaySpec]:
    rows = await uow.session.execute(
        select(CalendarDay.day, CalendarDay.is_workday, CalendarDay.name)
        .where(CalendarDay.year == year)
        .order_by(CalendarDay.day)
    )
    return [(day, is_workday, name) for day, is_workday, name in rows]


# --- set_calendar_year -----------------------------------------------------------------------------


async def test_set_calendar_year_enters_a_new_year(uow: UnitOfWork, clock: FixedClock) -> None:
    actor = await make_actor(uow, Role.SYSTEM_ADMINISTRATOR)

    entry = await set_calendar_year(uow, actor=actor, year=2027, notice=f"  {NOTICE_2027} ", days=DAYS_2027)

    assert (entry.year, entry.notice, entry.updated_at, entry.updated_by_id) == (
        2027,
        NOTICE_2027,
        clock.now(),
        actor.user_id,
    )
    assert await days_of(uow, 2027) == sorted(DAYS_2027)
    audit = (await uow.session.scalars(select(AuditEntry))).all()
    assert len(audit) == 1
    assert (audit[0].operation, audit[0].target_type, audit[0].target_id) == (
        "calendar.year_set",
        "calendar_year",
        "2027",
    )
    assert (audit[0].user_id, audit[0].unit_path) == (actor.user_id, actor.unit_path)
    assert audit[0].before is None
    assert audit[0].after is not None
    assert audit[0].after["notice"] == NOTICE_2027
    assert audit[0].after["holidays"]["2027-10-04"] == "国庆节"
    assert audit[0].after["workdays"] == {
        "2027-02-20": "春节",
        "2027-09-26": "国庆节",
        "2027-10-09": "国庆节",
    }
    calendar = await load_calendar(uow.session)
    assert calendar.is_workday(date(2027, 10, 9)) is True
    assert calendar.holiday_name(date(2027, 2, 8)) == "春节"
    # RULES: TRF-4 — a period started before the new year is now computable.
    assert calendar.add_working_days(date(2026, 12, 24), 10) == date(2027, 1, 8)


async def test_set_calendar_year_replaces_the_whole_year(uow: UnitOfWork, clock: FixedClock) -> None:
    actor = await make_actor(uow, Role.SYSTEM_ADMINISTRATOR)
    await set_calendar_year(uow, actor=actor, year=2027, notice=NOTICE_2027, days=DAYS_2027)
    clock.advance(timedelta(hours=1))

    correction: list[DaySpec] = [(date(2027, 10, 8), False, "国庆节")]
    entry = await set_calendar_year(uow, actor=actor, year=2027, notice="测试数据：更正", days=correction)

    assert (entry.notice, entry.updated_at) == ("测试数据：更正", clock.now())
    assert await days_of(uow, 2027) == correction
    assert await count(uow, CalendarYear) == 1
    audit = (await uow.session.scalars(select(AuditEntry).order_by(AuditEntry.id))).all()
    assert len(audit) == 2
    assert audit[1].before is not None
    assert audit[1].before["notice"] == NOTICE_2027
    assert audit[1].before["workdays"]["2027-10-09"] == "国庆节"
    assert audit[1].after == {
        "notice": "测试数据：更正",
        "holidays": {"2027-10-08": "国庆节"},
        "workdays": {},
    }


async def test_entered_year_takes_precedence_over_the_package(uow: UnitOfWork) -> None:
    actor = await make_actor(uow, Role.SYSTEM_ADMINISTRATOR)
    cache = CalendarCache()
    before = await cache.get(uow.session)
    assert before.is_workday(date(2026, 10, 10)) is True

    # TEST DATA: a made-up "correction" of 2026 that moves one holiday and drops the make-up days.
    await set_calendar_year(
        uow,
        actor=actor,
        year=2026,
        notice="测试数据：2026年更正",
        days=[(date(2026, 10, 8), False, "国庆节"), (date(2026, 10, 1), False, "国庆节")],
    )

    after = await cache.get(uow.session)
    assert after is not before
    assert after.is_workday(date(2026, 10, 8)) is False
    assert after.is_workday(date(2026, 10, 10)) is False  # no longer listed: a plain Saturday
    assert after.is_workday(date(2026, 10, 2)) is True  # no longer listed: a plain Friday
    assert after.is_workday(date(2025, 10, 1)) is False  # 2025 still from the package


@pytest.mark.parametrize("role", [Role.REGISTRAR, Role.LEADER])
async def test_only_a_system_administrator_may_set_a_year(
    uow: UnitOfWork, role: Role
) -> None:  # RULES: ORG-2
    actor = await make_actor(uow, role, username="someone")

    with pytest.raises(ForbiddenError) as caught:
        await set_calendar_year(uow, actor=actor, year=2027, notice=NOTICE_2027, days=DAYS_2027)

    assert caught.value.code == "FORBIDDEN"
    assert await count(uow, CalendarYear) == 0
    assert await count(uow, CalendarDay) == 0
    assert await count(uow, AuditEntry) == 0


@pytest.mark.parametrize(
    ("year", "notice", "days", "field", "fragment"),
    [
        (1999, NOTICE_2027, [(date(1999, 10, 1), False, "国庆节")], "year", "2000"),
        (2101, NOTICE_2027, [(date(2101, 10, 3), False, "国庆节")], "year", "2100"),
        (2027, "  ", DAYS_2027, "notice", "通知名称"),
        (2027, "长" * 201, DAYS_2027, "notice", "200"),
        (2027, NOTICE_2027, [], "days", "至少"),
        (2027, NOTICE_2027, [*DAYS_2027[:2], (date(2028, 1, 3), False, "元旦")], "days[2]", "2028-01-03"),
        (2027, NOTICE_2027, [*DAYS_2027[:3], DAYS_2027[1]], "days[3]", "重复"),
        (2027, NOTICE_2027, [(date(2027, 10, 2), False, "国庆节")], "days[0]", "星期六"),
        (2027, NOTICE_2027, [DAYS_2027[0], (date(2027, 10, 8), True, "国庆节")], "days[1]", "星期五"),
        (2027, NOTICE_2027, [(date(2027, 10, 8), False, " ")], "days[0]", "名称"),
    ],
)
async def test_invalid_input_is_refused_and_nothing_written(
    uow: UnitOfWork, year: int, notice: str, days: list[DaySpec], field: str, fragment: str
) -> None:
    actor = await make_actor(uow, Role.SYSTEM_ADMINISTRATOR)

    with pytest.raises(ValidationError) as caught:
        await set_calendar_year(uow, actor=actor, year=year, notice=notice, days=days)

    assert caught.value.code == "INVALID_INPUT"
    assert caught.value.field == field
    assert fragment in caught.value.message
    assert await count(uow, CalendarYear) == 0
    assert await count(uow, CalendarDay) == 0
    assert await count(uow, AuditEntry) == 0


# --- parse_calendar_file ---------------------------------------------------------------------------


def test_parse_calendar_file() -> None:
    year, notice, days = parse_calendar_file(FILE_2027)

    assert (year, notice) == (2027, NOTICE_2027)
    assert days == DAYS_2027


async def test_imported_file_sets_the_year(uow: UnitOfWork) -> None:
    actor = await make_actor(uow, Role.SYSTEM_ADMINISTRATOR)
    year, notice, days = parse_calendar_file(FILE_2027)

    await set_calendar_year(uow, actor=actor, year=year, notice=notice, days=days)

    assert await days_of(uow, 2027) == sorted(DAYS_2027)


HEADER = f"# notice: {NOTICE_2027}\ndate,type,name\n"


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("", 1, "文件为空"),
        ("date,type,name\n2027-01-01,holiday,元旦\n", 1, "通知标题"),
        ("# notice:   \ndate,type,name\n", 1, "不能为空"),
        (f"# notice: {NOTICE_2027}\ndate;type;name\n", 2, "表头"),
        (HEADER, 2, "没有任何日期行"),
        (HEADER + "2027-01-01,holiday,元旦\n2027-13-01,holiday,元旦\n", 4, "2027-13-01"),
        (HEADER + "2027-01-01,holiday\n", 3, "3列"),
        (HEADER + "2027-01-01,rest,元旦\n", 3, "rest"),
        (HEADER + "2027-01-01,holiday,元旦\n\n2028-01-03,holiday,元旦\n", 5, "2027年"),
        (HEADER + "2027-01-01,holiday,元旦\n2027-02-05,holiday,春节\n2027-01-01,holiday,元旦\n", 5, "第3行"),
        (HEADER + "2027-10-02,holiday,国庆节\n", 3, "星期六"),
        (HEADER + "2027-10-08,workday,国庆节\n", 3, "星期五"),
        (HEADER + "2027-10-08,holiday,\n", 3, "名称"),
    ],
)
def test_parse_errors_name_the_line(text: str, line: int, fragment: str) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_calendar_file(text)

    assert caught.value.code == "INVALID_INPUT"
    assert caught.value.field == "file"
    assert caught.value.message.startswith(f"第{line}行：")
    assert fragment in caught.value.message
