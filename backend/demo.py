"""Demo data: a slice of Anhui province with schools, classes, about 2,000 students and every account.

The tree (ORG-1): 教育部 (``000000``) > 安徽省 (``340000``) > 合肥市, 芜湖市 > two districts each > five
schools per district: 20 schools, one of them (in 鸠江区) a branch school (分校) below its central school
(学区中心校). Schools cover the three stages, some nine-year (primary + junior), most on the 6-3 school
system, two on 5-4.

Each school has one class per grade of its stages for the 2026–2027 school year. ``entry_year`` is the
year the class entered its stage (grade 1, 7 — 6 on 5-4 — and 10 entered in 2026). Students are born in
the year that fits their grade (grade 1: September 2019 to August 2020), carry valid resident ID numbers
issued in their district, and G national numbers.

Every unit gets a registrar, a leader and a system administrator (ORG-2); the province also gets a
super administrator and a record-system administrator (IME-5). User names are ``<unit code>-<suffix>``
(``ROLE_SUFFIXES``); every password is ``DEMO_PASSWORD``, not to be changed on first sign-in.

``load_demo`` is idempotent: when the province exists it changes nothing. It never commits; its caller does.
Rows go in with set-based inserts and the password is hashed once, so a load takes about a second.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, NamedTuple

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.db import UnitOfWork
from backend.domain.accounts.passwords import hash_password
from backend.domain.actor import SystemActor
from backend.domain.audit.service import record_audit
from backend.domain.records.id_numbers import make_resident_id
from backend.domain.records.national_numbers import g_number
from backend.domain.units.repository import subtree_filter
from backend.domain.units.tree import child_path, depth_of, root_path
from backend.models import SchoolClass, StudentRecord, Unit, User, UserRole
from backend.models.enums import Gender, IdType, RecordStatus, Role, SchoolSystem, Stage, UnitKind

DEMO_PASSWORD = "Xueji@2026"
SCHOOL_YEAR = 2026  # the 2026–2027 school year
STUDENT_COUNT = 2000
SEED = 2026
MINISTRY_CODE = "000000"
MINISTRY_NAME = "教育部"
PROVINCE_CODE = "340000"
PROVINCE_NAME = "安徽省"

ROLE_SUFFIXES: dict[Role, str] = {
    Role.REGISTRAR: "reg",
    Role.LEADER: "lead",
    Role.SYSTEM_ADMINISTRATOR: "admin",
    Role.SUPER_ADMINISTRATOR: "super",
    Role.RECORD_SYSTEM_ADMINISTRATOR: "rsa",
}
ROLE_LABELS: dict[Role, str] = {
    Role.REGISTRAR: "学籍管理员",
    Role.LEADER: "学籍主管领导",
    Role.SYSTEM_ADMINISTRATOR: "系统管理员",
    Role.SUPER_ADMINISTRATOR: "超级管理员",
    Role.RECORD_SYSTEM_ADMINISTRATOR: "学籍系统管理员",
}
UNIT_ROLES = (Role.REGISTRAR, Role.LEADER, Role.SYSTEM_ADMINISTRATOR)
PROVINCE_ONLY_ROLES = (Role.SUPER_ADMINISTRATOR, Role.RECORD_SYSTEM_ADMINISTRATOR)


@dataclass(frozen=True)
class _School:
    code: str  # 学校标识码: "2134" + the district's last four digits + a 2-digit serial
    name: str
    stages: tuple[Stage, ...]
    system: SchoolSystem = SchoolSystem.SIX_THREE
    branches: tuple[_School, ...] = ()


@dataclass(frozen=True)
class _Department:
    code: str  # 行政区划码
    name: str
    children: tuple[_Department, ...] = ()
    schools: tuple[_School, ...] = ()


_P, _J, _S = Stage.PRIMARY, Stage.JUNIOR, Stage.SENIOR

_HEFEI = _Department(
    "340100",
    "合肥市",
    children=(
        _Department(
            "340102",
            "瑶海区",
            schools=(
                _School("2134010201", "合肥市瑶海区第一小学", (_P,)),
                _School("2134010202", "合肥市瑶海区明光路小学", (_P,)),
                _School("2134010203", "合肥市瑶海区第三十八中学", (_J,)),
                _School("2134010204", "合肥市瑶海区长淮九年一贯制学校", (_P, _J)),
                _School("2134010205", "合肥市第七中学", (_J, _S)),
            ),
        ),
        _Department(
            "340104",
            "蜀山区",
            schools=(
                _School("2134010401", "合肥市蜀山区琥珀小学", (_P,)),
                _School("2134010402", "合肥市蜀山区稻香村小学", (_P,), SchoolSystem.FIVE_FOUR),
                _School("2134010403", "合肥市蜀山区南岗中学", (_J,), SchoolSystem.FIVE_FOUR),
                _School("2134010404", "合肥市蜀山区西园九年一贯制学校", (_P, _J)),
                _School("2134010405", "合肥市第一中学", (_S,)),
            ),
        ),
    ),
)
_WUHU = _Department(
    "340200",
    "芜湖市",
    children=(
        _Department(
            "340202",
            "镜湖区",
            schools=(
                _School("2134020201", "芜湖市镜湖区育红小学", (_P,)),
                _School("2134020202", "芜湖市镜湖区绿影小学", (_P,)),
                _School("2134020203", "芜湖市第二十九中学", (_J,)),
                _School("2134020204", "芜湖市镜湖区赭山九年一贯制学校", (_P, _J)),
                _School("2134020205", "芜湖市第一中学", (_S,)),
            ),
        ),
        _Department(
            "340207",
            "鸠江区",
            schools=(
                _School(
                    "2134020701",
                    "芜湖市鸠江区汤沟镇中心学校",
                    (_P,),
                    branches=(_School("2134020702", "芜湖市鸠江区汤沟镇新桥分校", (_P,)),),
                ),
                _School("2134020703", "芜湖市鸠江区沈巷中学", (_J,)),
                _School("2134020704", "芜湖市鸠江区白茆九年一贯制学校", (_P, _J)),
                _School("2134020705", "芜湖市鸠江区高级中学", (_S,)),
            ),
        ),
    ),
)
_PROVINCE = _Department(PROVINCE_CODE, PROVINCE_NAME, children=(_HEFEI, _WUHU))

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁"
    "任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛段雷侯龙史陶黎贺顾毛郝龚邵万钱严武戴孔汤"
)
MALE_GIVEN = "浩宇轩子博文俊杰睿泽晨铭昊天宸逸凯鹏辰航诚嘉明阳磊峰瑞豪宏然伟翔皓宁远志强飞涛斌鑫锦"
FEMALE_GIVEN = "欣怡梓萱雨涵思佳诗琪雅静婷悦可馨妍彤瑶心语如若晓梦雪月慧颖琳洁佩蕾菲楠璐甜蓉芷萌"

_PRIMARY_GRADE_NAMES = "一二三四五六七八九"
_SENIOR_GRADE_NAMES = {10: "高一", 11: "高二", 12: "高三"}


class DemoAccount(NamedTuple):
    unit_name: str
    role: Role
    username: str


@dataclass(frozen=True)
class DemoSummary:
    """What the demo province holds; ``already_loaded`` when this call found it and changed nothing."""

    already_loaded: bool
    provinces: int
    cities: int
    counties: int
    schools: int
    classes: int
    students: int
    accounts: int
    example_usernames: tuple[str, ...]

    def lines(self) -> list[str]:
        """A short report for the command line."""
        head = "演示数据已存在，未作改动" if self.already_loaded else "演示数据已载入"
        return [
            head,
            f"省 {self.provinces}，市 {self.cities}，区县 {self.counties}，学校 {self.schools}，"
            f"班级 {self.classes}，学生 {self.students}，账号 {self.accounts}",
            f"示例账号：{'、'.join(self.example_usernames)}（密码 {DEMO_PASSWORD}）",
        ]


def demo_username(unit_code: str, role: Role) -> str:
    """``<unit code>-<suffix>``: ``340104-reg``, ``2134010401-lead``, ``340000-super``."""
    return f"{unit_code}-{ROLE_SUFFIXES[role]}".lower()


def demo_accounts_table() -> list[DemoAccount]:
    """Every demo account, tree order (ministry first), as (unit name, role, user name) for the README."""
    rows: list[DemoAccount] = []
    for code, name in _walk_units():
        roles = UNIT_ROLES + (PROVINCE_ONLY_ROLES if code == PROVINCE_CODE else ())
        rows.extend(DemoAccount(name, role, demo_username(code, role)) for role in roles)
    return rows


EXAMPLE_USERNAMES = (
    demo_username(PROVINCE_CODE, Role.SUPER_ADMINISTRATOR),
    demo_username(PROVINCE_CODE, Role.REGISTRAR),
    demo_username("340104", Role.REGISTRAR),
    demo_username("2134010401", Role.REGISTRAR),
    demo_username("2134010401", Role.LEADER),
    demo_username("2134010401", Role.SYSTEM_ADMINISTRATOR),
)


def _walk_units() -> list[tuple[str, str]]:
    """(code, name) of every demo unit, each after its parent."""
    units = [(MINISTRY_CODE, MINISTRY_NAME)]

    def school(s: _School) -> None:
        units.append((s.code, s.name))
        for branch in s.branches:
            school(branch)

    def department(d: _Department) -> None:
        units.append((d.code, d.name))
        for child in d.children:
            department(child)
        for s in d.schools:
            school(s)

    department(_PROVINCE)
    return units


def stage_grades(stage: Stage, system: SchoolSystem) -> range:
    """The grades a stage spans under a school system (TRF-8 maps grades 1–9 across both)."""
    five_four = system is SchoolSystem.FIVE_FOUR
    if stage is Stage.PRIMARY:
        return range(1, 6) if five_four else range(1, 7)
    if stage is Stage.JUNIOR:
        return range(6, 10) if five_four else range(7, 10)
    if stage is Stage.SENIOR:
        return range(10, 13)
    raise ValueError(f"no demo classes for stage {stage}")


def class_name(grade: int, number: int = 1) -> str:
    """一年级(1)班 … 九年级(1)班, 高一(1)班 … 高三(1)班."""
    prefix = _SENIOR_GRADE_NAMES.get(grade) or f"{_PRIMARY_GRADE_NAMES[grade - 1]}年级"
    return f"{prefix}({number})班"


def birth_window(grade: int, school_year: int = SCHOOL_YEAR) -> tuple[date, date]:
    """Birth dates of a grade on time: six by 31 August when entering grade 1."""
    first_year = school_year - 6 - grade
    return date(first_year, 9, 1), date(first_year + 1, 8, 31)


async def load_demo(uow: UnitOfWork) -> DemoSummary:
    """Load the demo province into the open transaction, unless it is there already.

    Never commits: the caller (CLI) does. Idempotent: the province's division code marks a loaded demo.
    """
    session = uow.session
    existing = await session.scalar(select(Unit).where(Unit.code == PROVINCE_CODE))
    if existing is not None:
        return await _summarise(session, existing, already_loaded=True)

    loader = _Loader(uow)
    province = await loader.units()
    await loader.classes_and_students()
    await loader.accounts(province)
    summary = await _summarise(session, province, already_loaded=False)
    await record_audit(
        uow,
        actor=SystemActor(name="demo"),
        operation="demo.loaded",
        target_type="unit",
        target_id=province.id,
        after={"schools": summary.schools, "students": summary.students, "accounts": summary.accounts},
        scope_path=province.path,
    )
    return summary


@dataclass
class _Class:
    id: int
    school: Unit
    region: str
    stage: Stage
    grade: int


class _Loader:
    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow
        self.session = uow.session
        self.now = uow.clock.now()
        self.rng = random.Random(SEED)
        self.all_units: list[Unit] = []
        # (school unit, its plan, the district's division code used as ID region)
        self.schools: list[tuple[Unit, _School, str]] = []

    def _unit(self, kind: UnitKind, code: str, name: str, parent: Unit | None) -> Unit:
        return Unit(
            kind=kind,
            code=code,
            name=name,
            parent_id=parent.id if parent else None,
            # Real paths need the id; a unique placeholder satisfies the constraint until then.
            path=f"/pending/{code}/",
            depth=0,
            is_central_school=False,
            stages=[],
            school_system=None,
            is_active=True,
            created_at=self.now,
            updated_at=self.now,
        )

    async def _place(self, pairs: list[tuple[Unit, Unit | None]]) -> None:
        """Insert units whose parents have their paths, then give them theirs."""
        self.session.add_all([unit for unit, _ in pairs])
        await self.session.flush()
        for unit, parent in pairs:
            unit.path = child_path(parent.path, unit.id) if parent else root_path(unit.id)
            unit.depth = depth_of(unit.path)
        await self.session.flush()
        self.all_units.extend(unit for unit, _ in pairs)

    def _school(self, plan: _School, parent: Unit) -> Unit:
        unit = self._unit(UnitKind.SCHOOL, plan.code, plan.name, parent)
        unit.is_central_school = bool(plan.branches)
        unit.stages = [str(stage) for stage in plan.stages]
        unit.school_system = plan.system
        return unit

    async def units(self) -> Unit:
        """Insert the tree level by level; return the province."""
        ministry = await self.session.scalar(select(Unit).where(Unit.code == MINISTRY_CODE))
        if ministry is None:
            ministry = self._unit(UnitKind.MINISTRY, MINISTRY_CODE, MINISTRY_NAME, None)
            await self._place([(ministry, None)])
        else:
            self.all_units.append(ministry)
        province = self._unit(UnitKind.PROVINCE, _PROVINCE.code, _PROVINCE.name, ministry)
        await self._place([(province, ministry)])

        cities = [(self._unit(UnitKind.CITY, c.code, c.name, province), c) for c in _PROVINCE.children]
        await self._place([(unit, province) for unit, _ in cities])
        counties = [
            (self._unit(UnitKind.COUNTY, d.code, d.name, city), d, city)
            for city, plan in cities
            for d in plan.children
        ]
        await self._place([(unit, city) for unit, _, city in counties])
        schools = [(self._school(s, county), s, county) for county, plan, _ in counties for s in plan.schools]
        await self._place([(unit, county) for unit, _, county in schools])
        branches = [
            (self._school(b, central), b, county, central)
            for central, plan, county in schools
            for b in plan.branches
        ]
        await self._place([(unit, central) for unit, _, _, central in branches])
        self.schools = [(unit, plan, county.code) for unit, plan, county in schools]
        self.schools += [(unit, plan, county.code) for unit, plan, county, _ in branches]
        return province

    async def classes_and_students(self) -> None:
        plans: list[tuple[Unit, str, Stage, int, SchoolSystem]] = [
            (unit, region, stage, grade, plan.system)
            for unit, plan, region in self.schools
            for stage in plan.stages
            for grade in stage_grades(stage, plan.system)
        ]
        class_rows = [
            {
                "school_id": unit.id,
                "name": class_name(grade),
                "stage": stage,
                "grade": grade,
                "entry_year": SCHOOL_YEAR - (grade - stage_grades(stage, system)[0]),
                "school_system": system,
                "head_teacher": None,
                "created_at": self.now,
            }
            for unit, _, stage, grade, system in plans
        ]
        result = await self.session.execute(
            insert(SchoolClass).returning(SchoolClass.id, sort_by_parameter_order=True),
            class_rows,
        )
        ids = list(result.scalars())
        classes = [
            _Class(id=class_id, school=unit, region=region, stage=stage, grade=grade)
            for class_id, (unit, region, stage, grade, _) in zip(ids, plans, strict=True)
        ]
        sizes = self._class_sizes(len(classes))
        rows: list[dict[str, Any]] = []
        issued: Counter[tuple[str, date, Gender]] = Counter()
        for school_class, size in zip(classes, sizes, strict=True):
            for _ in range(size):
                rows.append(self._student(school_class, issued))
        await self.session.execute(insert(StudentRecord), rows)

    def _class_sizes(self, count: int) -> list[int]:
        """Uneven class sizes that add up to exactly ``STUDENT_COUNT``."""
        sizes = [self.rng.randint(14, 22) for _ in range(count)]
        while (total := sum(sizes)) != STUDENT_COUNT:
            i = self.rng.randrange(count)
            if total < STUDENT_COUNT:
                sizes[i] += 1
            elif sizes[i] > 5:
                sizes[i] -= 1
        return sizes

    def _student(self, school_class: _Class, issued: Counter[tuple[str, date, Gender]]) -> dict[str, Any]:
        rng = self.rng
        gender = Gender.MALE if rng.random() < 0.52 else Gender.FEMALE
        given = MALE_GIVEN if gender is Gender.MALE else FEMALE_GIVEN
        name = rng.choice(SURNAMES) + "".join(
            rng.choice(given) for _ in range(2 if rng.random() < 0.7 else 1)
        )
        start, end = birth_window(school_class.grade)
        birth = start + timedelta(days=rng.randrange((end - start).days + 1))
        key = (school_class.region, birth, gender)
        id_number = make_resident_id(school_class.region, birth, issued[key], gender)
        issued[key] += 1
        return {
            "national_number": g_number(id_number),
            "name": name,
            "gender": gender,
            "birth_date": birth,
            "id_type": IdType.RESIDENT_ID,
            "id_number": id_number,
            "school_id": school_class.school.id,
            "unit_path": school_class.school.path,
            "class_id": school_class.id,
            "stage": school_class.stage,
            "grade": school_class.grade,
            "status": RecordStatus.IN_SCHOOL,
            "created_at": self.now,
            "updated_at": self.now,
        }

    async def accounts(self, province: Unit) -> None:
        settings = self.uow.settings
        # One hash for every account: hashing is deliberately slow.
        password_hash = await hash_password(
            DEMO_PASSWORD, settings.argon2_time_cost, settings.argon2_memory_kib
        )
        wanted: list[tuple[Unit, Role]] = []
        for unit in self.all_units:
            roles = UNIT_ROLES + (PROVINCE_ONLY_ROLES if unit is province else ())
            wanted.extend((unit, role) for role in roles)
        names = [demo_username(unit.code, role) for unit, role in wanted]
        # A ministry that was already there may already have its accounts.
        taken = set(await self.session.scalars(select(User.username).where(User.username.in_(names))))
        todo = [
            (unit, role, name) for (unit, role), name in zip(wanted, names, strict=True) if name not in taken
        ]
        user_rows = [
            {
                "username": name,
                "display_name": unit.name + ROLE_LABELS[role],
                "unit_id": unit.id,
                "phone": None,
                "email": None,
                "password_hash": password_hash,
                "password_changed_at": self.now,
                "must_change_password": False,
                "failed_attempts": 0,
                "locked_until": None,
                "is_active": True,
                "last_sign_in_at": None,
                "created_at": self.now,
                "updated_at": self.now,
            }
            for unit, role, name in todo
        ]
        if not user_rows:
            return
        result = await self.session.execute(
            insert(User).returning(User.id, sort_by_parameter_order=True), user_rows
        )
        role_rows = [
            {"user_id": user_id, "role": role}
            for user_id, (_, role, _) in zip(result.scalars(), todo, strict=True)
        ]
        await self.session.execute(insert(UserRole), role_rows)


async def _summarise(session: AsyncSession, province: Unit, *, already_loaded: bool) -> DemoSummary:
    in_province = subtree_filter(Unit.path, province.path)
    result = await session.execute(select(Unit.kind, func.count()).where(in_province).group_by(Unit.kind))
    kinds: dict[UnitKind, int] = {kind: count for kind, count in result}
    school_ids = select(Unit.id).where(in_province, Unit.kind == UnitKind.SCHOOL)
    classes = await session.scalar(
        select(func.count()).select_from(SchoolClass).where(SchoolClass.school_id.in_(school_ids))
    )
    students = await session.scalar(
        select(func.count())
        .select_from(StudentRecord)
        .where(subtree_filter(StudentRecord.unit_path, province.path))
    )
    accounts = await session.scalar(
        select(func.count())
        .select_from(User)
        .where(User.username.in_([a.username for a in demo_accounts_table()]))
    )
    return DemoSummary(
        already_loaded=already_loaded,
        provinces=kinds.get(UnitKind.PROVINCE, 0),
        cities=kinds.get(UnitKind.CITY, 0),
        counties=kinds.get(UnitKind.COUNTY, 0),
        schools=kinds.get(UnitKind.SCHOOL, 0),
        classes=classes or 0,
        students=students or 0,
        accounts=accounts or 0,
        example_usernames=EXAMPLE_USERNAMES,
    )
