"""The login-compliance report: per child unit and in total, within the leader's jurisdiction (MON-1, ORG-3)."""

from __future__ import annotations

import io
from datetime import date, datetime, timedelta

import pytest
from openpyxl import load_workbook

from backend.clock import SHANGHAI, FixedClock
from backend.config import Settings
from backend.db import Database
from backend.domain.actor import Actor, SystemActor
from backend.domain.errors import DomainError, ForbiddenError, NotFoundError, ValidationError
from backend.domain.monitoring.export import export_login_compliance
from backend.domain.monitoring.report import LoginComplianceReport, login_compliance
from backend.domain.workflows.definitions import registration_review
from backend.domain.workflows.engine import start_workflow
from backend.models.enums import Role
from tests.conftest import DEFAULT_NOW
from tests.domain.factories import actor_of, make_user
from tests.domain.monitoring.support import signed_in
from tests.domain.workflows.support import World, audit_entry, counting_statements, counts, make_world

# Saturday 2026-12-05 10:00, ten days after every account of the world was created.
NOW = DEFAULT_NOW + timedelta(days=10)


def at(month: int, day: int, hour: int = 9) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=SHANGHAI)


@pytest.fixture
async def w(db: Database, clock: FixedClock, settings: Settings) -> World:
    world = await make_world(db, clock, settings)
    # A step waiting on school A1's leaders since Wednesday 11-25, another on A2's since Thursday 12-03.
    async with world.uow() as uow:
        for school, opened in ((world.tree.school_a1, DEFAULT_NOW), (world.tree.school_a2, at(12, 3))):
            world.clock.set(opened)
            await start_workflow(
                uow,
                actor=SystemActor(),
                definition=registration_review(),
                subject_type="student_record",
                subject_id=school.id,
                context=world.context(school),
            )
    async with world.uow() as uow:
        for who, when in (
            (world.registrar, at(12, 1)),
            (world.registrar, at(12, 3)),
            (world.leader, at(12, 2)),
            (world.registrar2, at(11, 26, 10)),  # before the window: 9 days away
            (world.county, at(12, 4, 8)),
            (world.other_leader, at(11, 30, 15)),
            (world.b1_leader, at(11, 29)),
            (world.b1_leader, at(12, 1)),
            (world.b1_leader, at(12, 4)),
        ):
            await signed_in(uow, who, when)
        await signed_in(uow, world.county_leader, at(12, 4, 8), success=False)  # a wrong password
    world.clock.set(NOW)
    return world


async def report(w: World, actor: Actor, **kwargs: object) -> LoginComplianceReport:
    async with w.db.read_session() as session:
        return await login_compliance(session, actor, now=w.clock.now(), **kwargs)  # type: ignore[arg-type]


def lines(result: LoginComplianceReport) -> list[tuple[str, bool, int, int, int, int]]:
    return [
        (line.unit_name, line.own_level, line.accounts, line.compliant, line.sign_ins, line.pending_steps)
        for line in result.lines
    ]


async def test_a_county_leader_sees_its_own_accounts_and_each_school(w: World) -> None:  # RULES: MON-1, ORG-3
    result = await report(w, w.county_leader)

    assert (result.window_start, result.window_end, result.iso_week) == (NOW - timedelta(days=7), NOW, None)
    assert lines(result) == [
        ("甲市东区", True, 2, 1, 1, 0),  # the county's registrar signed in; its leader only failed
        ("东区第一小学", False, 4, 2, 3, 1),  # the step of 11-25 waits more than 5 working days
        ("东区第二小学", False, 1, 1, 1, 0),  # the step of 12-03 does not yet
    ]
    total = result.total
    assert (total.accounts, total.compliant, total.non_compliant, total.sign_ins, total.pending_steps) == (
        7,
        4,
        3,
        5,
        1,
    )
    assert total.percentage == 57.1
    assert total.sign_ins_per_account == 0.71
    assert [
        (a.username, a.unit_name, a.roles, a.last_sign_in_at, a.days_absent) for a in result.non_compliant
    ] == [
        ("a1.leader2", "东区第一小学", (Role.LEADER,), None, 10),
        ("ca.leader", "甲市东区", (Role.LEADER,), None, 10),
        ("a1.registrar2", "东区第一小学", (Role.REGISTRAR,), at(11, 26, 10), 9),
    ]


async def test_a_county_leader_cannot_see_another_county(w: World) -> None:  # RULES: ORG-3
    for unit in (w.tree.county_b, w.tree.school_b1, w.tree.city):
        with pytest.raises(NotFoundError) as refused:
            await report(w, w.county_leader, unit_id=unit.id)
        assert refused.value.field == "unitId"

    school = await report(w, w.county_leader, unit_id=w.tree.school_a1.id)
    assert lines(school) == [("东区第一小学", True, 4, 2, 3, 1)]


async def test_a_city_leader_sees_each_county(w: World) -> None:  # RULES: MON-1
    async with w.uow() as uow:
        city_leader = await actor_of(
            uow.session, await make_user(uow, w.tree.city, "city.leader", (Role.LEADER,))
        )

    result = await report(w, city_leader)

    # The city's own staff are not monitored (MON-1 names school and county): no line of its own.
    assert lines(result) == [("甲市东区", False, 7, 4, 5, 1), ("甲市西区", False, 2, 1, 3, 0)]
    assert (result.total.accounts, result.total.compliant) == (9, 5)
    assert [a.username for a in result.non_compliant] == [
        "a1.leader2",
        "ca.leader",
        "cb.registrar",
        "a1.registrar2",
    ]


async def test_only_department_leaders_read_the_report(w: World) -> None:  # RULES: ORG-2
    for actor in (w.county, w.leader, w.admin, w.province):
        with pytest.raises(ForbiddenError):
            await report(w, actor)


async def test_an_iso_week_and_the_pending_threshold(w: World) -> None:  # RULES: MON-1
    this_week = await report(w, w.county_leader, week=date(2026, 12, 2), pending_older_than_working_days=10)
    last_week = await report(w, w.county_leader, week=date(2026, 11, 23))

    assert (this_week.iso_week, this_week.window_start, this_week.window_end) == (
        "2026-W49",
        at(11, 30, 0),
        NOW,
    )
    assert lines(this_week)[1] == (
        "东区第一小学",
        False,
        4,
        2,
        3,
        0,
    )  # the 11-25 step has waited 7 working days
    # Week 48 (11-23 to 11-30): the accounts were created during it, so none is late; one sign-in.
    assert (last_week.iso_week, last_week.total.compliant, last_week.total.sign_ins) == ("2026-W48", 7, 1)
    assert last_week.non_compliant == []

    for bad in ({"week": date(2026, 12, 7)}, {"pending_older_than_working_days": -1}):
        with pytest.raises(ValidationError):
            await report(w, w.county_leader, **bad)


async def test_a_past_weeks_absentee_shows_the_sign_in_before_that_week(w: World) -> None:  # RULES: MON-1
    async with w.uow() as uow:
        await signed_in(uow, w.registrar, at(12, 16))  # after week 50
    w.clock.set(NOW + timedelta(days=14))

    result = await report(w, w.county_leader, week=date(2026, 12, 9))  # 12-07 to 12-14

    absent = {a.username: (a.last_sign_in_at, a.days_absent) for a in result.non_compliant}
    assert absent["a1.registrar"] == (at(12, 3), 10)
    assert absent["a1.registrar2"] == (at(11, 26, 10), 17)
    assert absent["a1.leader2"] == (None, 18)


async def test_the_report_costs_the_same_statements_whatever_the_region(w: World) -> None:  # RULES: MON-1
    with counting_statements(w.db) as few:
        await report(w, w.county_leader)
    async with w.uow() as uow:
        for n in range(30):
            await make_user(uow, (w.tree.school_a1, w.tree.school_a2)[n % 2], f"extra{n}", (Role.REGISTRAR,))
    w.clock.advance(timedelta(minutes=1))
    with counting_statements(w.db) as many:
        bigger = await report(w, w.county_leader)

    assert bigger.total.accounts == 37
    assert len(few) == len(many) <= 7


async def test_the_export_has_a_summary_and_the_absent_accounts_and_is_audited(w: World) -> None:
    # RULES: MON-1, SEC-4 (every export is logged)
    async with w.uow() as uow:
        export = await export_login_compliance(uow, actor=w.county_leader)

    book = load_workbook(io.BytesIO(export.data))
    assert book.sheetnames == ["汇总", "未按时登录账号"]
    summary = [row for row in book["汇总"].iter_rows(values_only=True) if row and row[0]]
    header = summary.index(next(row for row in summary if row[0] == "单位"))
    assert summary[header + 1 :] == [
        ("甲市东区（本级）", "340102", "区县", 2, 1, 1, 50, 1, 0.5, 0),
        ("东区第一小学", "3401020001", "学校", 4, 2, 2, 50, 3, 0.75, 1),
        ("东区第二小学", "3401020002", "学校", 1, 1, 0, 100, 1, 1, 0),
        ("合计", None, None, 7, 4, 3, 57.1, 5, 0.71, 1),
    ]
    absent = list(book["未按时登录账号"].iter_rows(values_only=True))
    assert absent[0] == ("用户名", "姓名", "所属单位", "单位代码", "角色", "最近登录时间", "未登录天数")
    assert absent[1:] == [
        ("a1.leader2", "用户a1.leader2", "东区第一小学", "3401020001", "学籍主管领导", "从未登录", 10),
        ("ca.leader", "用户ca.leader", "甲市东区", "340102", "学籍主管领导", "从未登录", 10),
        (
            "a1.registrar2",
            "用户a1.registrar2",
            "东区第一小学",
            "3401020001",
            "学籍管理员",
            at(11, 26, 10).astimezone(SHANGHAI).replace(tzinfo=None),  # Excel: Beijing wall-clock time
            9,
        ),
    ]
    assert export.filename == "账号登录情况-甲市东区-2026-12-05.xlsx"
    entry = await audit_entry(w, "login_compliance.exported")
    assert (entry.user_id, entry.target_id, entry.after) == (
        w.county_leader.user_id,
        str(w.tree.county_a.id),
        {"week": None, "accounts": 7, "nonCompliant": 3, "bytes": len(export.data)},
    )


async def test_a_refused_export_writes_nothing(w: World) -> None:  # RULES: SEC-4, ORG-3
    before = await counts(w)

    for actor, unit in ((w.county_leader, w.tree.county_b), (w.county, None)):
        with pytest.raises(DomainError):
            async with w.uow() as uow:
                await export_login_compliance(uow, actor=actor, unit_id=None if unit is None else unit.id)

    assert await counts(w) == before
