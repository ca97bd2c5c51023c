"""The demo loader: a consistent tree, valid students, every account, and a second load that does nothing."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.clock import FixedClock, local_today
from backend.config import Settings
from backend.db import Database, UnitOfWork
from backend.demo import (
    DEMO_PASSWORD,
    EXAMPLE_USERNAMES,
    PROVINCE_CODE,
    STUDENT_COUNT,
    DemoSummary,
    birth_window,
    class_name,
    demo_accounts_table,
    demo_username,
    load_demo,
)
from backend.domain.accounts.passwords import check_password_policy, verify_password_sync
from backend.domain.records.id_numbers import validate_resident_id
from backend.domain.records.national_numbers import NationalNumberKind, parse_national_number
from backend.domain.units.tree import child_path, depth_of, root_path
from backend.models import SchoolClass, StudentRecord, Unit, User, UserRole
from backend.models.enums import IdType, RecordStatus, Role, SchoolSystem, Stage, UnitKind


async def _load(db: Database, clock: FixedClock, settings: Settings) -> DemoSummary:
    async with db.unit_of_work(clock, settings) as uow:
        return await load_demo(uow)


@asynccontextmanager
async def _reading(db: Database) -> AsyncIterator[AsyncSession]:
    """A read session whose objects stay readable after it closes (detached, not expired)."""
    async with db.read_session() as session:
        yield session
        session.expunge_all()


async def _units(session: AsyncSession) -> list[Unit]:
    return list(await session.scalars(select(Unit).order_by(Unit.id)))


async def test_load_counts(db: Database, clock: FixedClock, settings: Settings) -> None:
    summary = await _load(db, clock, settings)

    assert summary.already_loaded is False
    assert (summary.provinces, summary.cities, summary.counties, summary.schools) == (1, 2, 4, 20)
    assert summary.students == STUDENT_COUNT
    assert summary.accounts == len(demo_accounts_table()) == 3 * 28 + 2
    assert summary.example_usernames == EXAMPLE_USERNAMES
    async with _reading(db) as session:
        units = await _units(session)
        kinds = Counter(unit.kind for unit in units)
        assert kinds == {
            UnitKind.MINISTRY: 1,
            UnitKind.PROVINCE: 1,
            UnitKind.CITY: 2,
            UnitKind.COUNTY: 4,
            UnitKind.SCHOOL: 20,
        }
        assert await session.scalar(select(func.count()).select_from(StudentRecord)) == 2000
        assert await session.scalar(select(func.count()).select_from(SchoolClass)) == summary.classes
    by_code = {unit.code: unit for unit in units}
    assert by_code["000000"].name == "教育部"
    assert by_code[PROVINCE_CODE].name == "安徽省"
    assert {by_code[c].name for c in ("340102", "340104", "340202", "340207")} == {
        "瑶海区",
        "蜀山区",
        "镜湖区",
        "鸠江区",
    }
    schools = [unit for unit in units if unit.kind is UnitKind.SCHOOL]
    assert all(len(s.code) == 10 and s.code.startswith("21340") for s in schools)
    stages = Counter(stage for s in schools for stage in s.stages)
    assert stages[Stage.PRIMARY] > 0
    assert stages[Stage.JUNIOR] > 0
    assert stages[Stage.SENIOR] > 0
    assert any(set(s.stages) == {Stage.PRIMARY, Stage.JUNIOR} for s in schools)
    systems = Counter(s.school_system for s in schools)
    assert systems[SchoolSystem.FIVE_FOUR] == 2
    assert systems[SchoolSystem.SIX_THREE] == 18


async def test_tree_paths_are_consistent(db: Database, clock: FixedClock, settings: Settings) -> None:
    # RULES: ORG-1
    await _load(db, clock, settings)

    async with _reading(db) as session:
        units = await _units(session)
    by_id = {unit.id: unit for unit in units}
    for unit in units:
        if unit.parent_id is None:
            assert unit.kind is UnitKind.MINISTRY
            assert unit.path == root_path(unit.id)
        else:
            assert unit.path == child_path(by_id[unit.parent_id].path, unit.id)
        assert unit.depth == depth_of(unit.path)
    expected_parent = {
        UnitKind.PROVINCE: {UnitKind.MINISTRY},
        UnitKind.CITY: {UnitKind.PROVINCE},
        UnitKind.COUNTY: {UnitKind.CITY},
        UnitKind.SCHOOL: {UnitKind.COUNTY, UnitKind.SCHOOL},
    }
    for unit in units:
        if unit.parent_id is not None:
            assert by_id[unit.parent_id].kind in expected_parent[unit.kind]
    central = [unit for unit in units if unit.is_central_school]
    assert len(central) == 1
    branches = [unit for unit in units if unit.parent_id == central[0].id]
    assert len(branches) == 1
    assert branches[0].kind is UnitKind.SCHOOL
    assert branches[0].depth == 5
    assert not any(unit.path.startswith("/pending/") for unit in units)


async def test_classes_follow_the_stages_and_school_year(
    db: Database, clock: FixedClock, settings: Settings
) -> None:
    await _load(db, clock, settings)

    async with _reading(db) as session:
        schools = {
            unit.id: unit for unit in await session.scalars(select(Unit).where(Unit.kind == UnitKind.SCHOOL))
        }
        classes = list(await session.scalars(select(SchoolClass)))
    grades_by_school: dict[int, set[int]] = {}
    for school_class in classes:
        school = schools[school_class.school_id]
        assert school_class.school_system == school.school_system
        assert school_class.stage in school.stages
        assert school_class.name == class_name(school_class.grade)
        grades_by_school.setdefault(school.id, set()).add(school_class.grade)
    five_four_primary = next(s for s in schools.values() if s.name == "合肥市蜀山区稻香村小学")
    assert grades_by_school[five_four_primary.id] == {1, 2, 3, 4, 5}
    five_four_junior = next(s for s in schools.values() if s.name == "合肥市蜀山区南岗中学")
    assert grades_by_school[five_four_junior.id] == {6, 7, 8, 9}
    nine_year = next(s for s in schools.values() if s.name == "合肥市瑶海区长淮九年一贯制学校")
    assert grades_by_school[nine_year.id] == set(range(1, 10))
    names = {c.name for c in classes}
    assert {"一年级(1)班", "七年级(1)班", "高一(1)班", "高三(1)班"} <= names
    entry_years = {(c.stage, c.school_system, c.grade): c.entry_year for c in classes}
    assert entry_years[(Stage.PRIMARY, SchoolSystem.SIX_THREE, 1)] == 2026
    assert entry_years[(Stage.PRIMARY, SchoolSystem.SIX_THREE, 6)] == 2021
    assert entry_years[(Stage.JUNIOR, SchoolSystem.SIX_THREE, 7)] == 2026
    assert entry_years[(Stage.JUNIOR, SchoolSystem.FIVE_FOUR, 6)] == 2026
    assert entry_years[(Stage.JUNIOR, SchoolSystem.FIVE_FOUR, 9)] == 2023
    assert entry_years[(Stage.SENIOR, SchoolSystem.SIX_THREE, 12)] == 2024


async def test_students_are_valid(db: Database, clock: FixedClock, settings: Settings) -> None:
    await _load(db, clock, settings)
    today = local_today(clock)

    async with _reading(db) as session:
        units = {unit.id: unit for unit in await _units(session)}
        classes = {c.id: c for c in await session.scalars(select(SchoolClass))}
        students = list(await session.scalars(select(StudentRecord)))
    assert len(students) == 2000
    assert len({s.national_number for s in students}) == 2000
    assert {s.status for s in students} == {RecordStatus.IN_SCHOOL}
    assert {s.id_type for s in students} == {IdType.RESIDENT_ID}
    for student in students:
        assert student.id_number is not None
        resident = validate_resident_id(student.id_number, today=today)
        assert resident.number == student.id_number
        assert resident.birth_date == student.birth_date
        assert resident.gender == student.gender
        school = units[student.school_id]
        county = school
        while county.kind is not UnitKind.COUNTY:
            county = units[county.parent_id or 0]
        assert resident.region_code == county.code
        national = parse_national_number(student.national_number)
        assert national.kind is NationalNumberKind.G
        assert national.id_number == student.id_number
        assert student.unit_path == school.path
        assert student.class_id is not None
        school_class = classes[student.class_id]
        assert school_class.school_id == school.id
        assert (student.stage, student.grade) == (school_class.stage, school_class.grade)
        first, last = birth_window(student.grade)
        assert first <= student.birth_date <= last
        assert 2 <= len(student.name) <= 3
    assert birth_window(1) == (date(2019, 9, 1), date(2020, 8, 31))
    class_sizes = Counter(s.class_id for s in students)
    assert set(class_sizes) == set(classes)


async def test_every_unit_has_the_three_role_accounts(
    db: Database, clock: FixedClock, settings: Settings
) -> None:
    # RULES: ORG-2
    await _load(db, clock, settings)

    async with _reading(db) as session:
        units = await _units(session)
        rows = (
            await session.execute(
                select(User.unit_id, User.username, UserRole.role, User.display_name).join(
                    UserRole, UserRole.user_id == User.id
                )
            )
        ).all()
        users = list(await session.scalars(select(User)))
    roles_by_unit: dict[int, set[Role]] = {}
    for unit_id, _username, role, _display_name in rows:
        roles_by_unit.setdefault(unit_id, set()).add(role)
    for unit in units:
        expected = {Role.REGISTRAR, Role.LEADER, Role.SYSTEM_ADMINISTRATOR}
        if unit.code == PROVINCE_CODE:
            expected |= {Role.SUPER_ADMINISTRATOR, Role.RECORD_SYSTEM_ADMINISTRATOR}
        assert roles_by_unit[unit.id] == expected, unit.name
    usernames = {username for _, username, _, _ in rows}
    assert usernames == {account.username for account in demo_accounts_table()}
    assert {"000000-reg", "340000-super", "340000-rsa", "340104-lead", "2134010401-admin"} <= usernames
    assert all(name.isascii() and name == name.lower() for name in usernames)
    display = {username: name for _, username, _, name in rows}
    assert display[demo_username("340104", Role.REGISTRAR)] == "蜀山区学籍管理员"
    assert display["340000-super"] == "安徽省超级管理员"
    # One hash for everyone; it verifies, meets the policy, and nobody is forced to change it.
    assert len({user.password_hash for user in users}) == 1
    assert verify_password_sync(users[0].password_hash, DEMO_PASSWORD)
    check_password_policy(DEMO_PASSWORD, users[0].username)
    assert not any(user.must_change_password for user in users)
    assert all(user.password_changed_at == clock.now() for user in users)


async def test_second_load_changes_nothing(db: Database, clock: FixedClock, settings: Settings) -> None:
    first = await _load(db, clock, settings)

    second = await _load(db, clock, settings)

    assert second.already_loaded is True
    assert second == DemoSummary(**{**first.__dict__, "already_loaded": True})
    assert second.lines()[0] == "演示数据已存在，未作改动"
    async with _reading(db) as session:
        assert await session.scalar(select(func.count()).select_from(Unit)) == 28
        assert await session.scalar(select(func.count()).select_from(User)) == 86
        assert await session.scalar(select(func.count()).select_from(StudentRecord)) == 2000


async def test_load_reuses_an_existing_ministry(db: Database, clock: FixedClock, settings: Settings) -> None:
    async with db.unit_of_work(clock, settings) as uow:
        ministry = Unit(
            kind=UnitKind.MINISTRY,
            code="000000",
            name="教育部",
            parent_id=None,
            path="/pending/",
            depth=0,
            stages=[],
            created_at=clock.now(),
            updated_at=clock.now(),
        )
        uow.session.add(ministry)
        await uow.session.flush()
        ministry.path = root_path(ministry.id)

    summary = await _load(db, clock, settings)

    assert summary.already_loaded is False
    async with _reading(db) as session:
        ministries = list(await session.scalars(select(Unit).where(Unit.kind == UnitKind.MINISTRY)))
        province = await session.scalar(select(Unit).where(Unit.code == PROVINCE_CODE))
    assert [m.id for m in ministries] == [ministry.id]
    assert province is not None
    assert province.parent_id == ministry.id


async def test_load_does_not_commit(db: Database, clock: FixedClock, settings: Settings) -> None:
    async with db.sessionmaker() as session:
        summary = await load_demo(UnitOfWork(session=session, clock=clock, settings=settings))
        assert summary.students == 2000
        # Closing the session without a commit must leave nothing behind.

    async with _reading(db) as session:
        assert await session.scalar(select(func.count()).select_from(Unit)) == 0
