"""The organisation tree: creating and editing units, path helpers, the common superior, scoped listing."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import pytest
from sqlalchemy import select

from backend.clock import FixedClock
from backend.config import Settings
from backend.db import Database, UnitOfWork
from backend.domain.actor import Actor
from backend.domain.errors import DomainError
from backend.domain.units.queries import find_unit, list_units
from backend.domain.units.service import SchoolProfile, create_unit, update_unit
from backend.domain.units.tree import (
    child_path,
    common_superior_id,
    depth_of,
    path_ids,
    root_path,
    subtree_upper_bound,
)
from backend.models import AuditEntry, Unit
from backend.models.enums import Role, SchoolSystem, Stage, UnitKind
from tests.domain.factories import Tree, actor_of, build_tree, count_rows, make_unit, make_user

Step = Callable[[], AbstractAsyncContextManager[UnitOfWork]]
Action = Callable[[UnitOfWork], Awaitable[Any]]

PRIMARY = SchoolProfile(stages=frozenset({Stage.PRIMARY}), school_system=SchoolSystem.SIX_THREE)
CENTRAL = SchoolProfile(
    stages=frozenset({Stage.PRIMARY}), school_system=SchoolSystem.SIX_THREE, is_central_school=True
)


@pytest.fixture
def step(db: Database, clock: FixedClock, settings: Settings) -> Step:
    """Open one unit of work: one request, committed when its block ends without error."""
    return lambda: db.unit_of_work(clock, settings)


@pytest.fixture
async def tree(step: Step) -> Tree:
    async with step() as uow:
        return await build_tree(uow)


async def refusal(step: Step, action: Action) -> DomainError:
    """Run ``action`` in its own unit of work, expect a ``DomainError``; the work is rolled back."""
    try:
        async with step() as uow:
            await action(uow)
    except DomainError as error:
        return error
    pytest.fail("expected a DomainError")


async def actor_at(step: Step, unit: Unit, role: Role = Role.SYSTEM_ADMINISTRATOR) -> Actor:
    async with step() as uow:
        user = await make_user(uow, unit, f"u{unit.code}.{role.lower()}"[:64], (role,))
        return await actor_of(uow.session, user)


async def unit_count(step: Step) -> tuple[int, int]:
    async with step() as uow:
        return await count_rows(uow.session, Unit), await count_rows(uow.session, AuditEntry)


# --- creating units --------------------------------------------------------------------------------


async def test_city_administrator_creates_a_county(step: Step, tree: Tree, clock: FixedClock) -> None:
    # RULES: ORG-1
    admin = await actor_at(step, tree.city)

    async with step() as uow:
        county = await create_unit(
            uow, actor=admin, parent_id=tree.city.id, kind=UnitKind.COUNTY, name=" 甲市北区 ", code=" 340104 "
        )

    async with step() as uow:
        stored = await uow.session.get(Unit, county.id)
        audits = list(
            await uow.session.scalars(select(AuditEntry).where(AuditEntry.operation == "unit.created"))
        )
    assert stored is not None
    assert stored.path == f"{tree.city.path}{county.id}/"
    assert (stored.name, stored.code, stored.parent_id, stored.depth) == (
        "甲市北区",
        "340104",
        tree.city.id,
        3,
    )
    assert (stored.stages, stored.school_system, stored.is_central_school) == ([], None, False)
    assert stored.created_at == clock.now()
    assert len(audits) == 1
    assert (audits[0].user_id, audits[0].unit_path, audits[0].target_id) == (
        admin.user_id,
        tree.city.path,
        str(county.id),
    )
    assert audits[0].after is not None
    assert audits[0].after["code"] == "340104"
    assert audits[0].after["parentId"] == tree.city.id


async def test_province_may_run_a_school_directly(step: Step, tree: Tree) -> None:
    # RULES: ORG-1 (省直学校)
    admin = await actor_at(step, tree.province)

    async with step() as uow:
        school = await create_unit(
            uow,
            actor=admin,
            parent_id=tree.province.id,
            kind=UnitKind.SCHOOL,
            name="省实验中学",
            code="3400000001",
            profile=SchoolProfile(stages=frozenset({Stage.SENIOR})),
        )

    assert school.path == f"{tree.province.path}{school.id}/"
    assert school.depth == 2
    assert school.stages == ["SENIOR"]


async def test_branch_school_under_a_central_school(step: Step, tree: Tree) -> None:
    # RULES: ORG-1 (学区中心校 manages 分校)
    admin = await actor_at(step, tree.county_a)
    async with step() as uow:
        central = await create_unit(
            uow,
            actor=admin,
            parent_id=tree.county_a.id,
            kind=UnitKind.SCHOOL,
            name="东区中心校",
            code="3401020010",
            profile=CENTRAL,
        )

    async with step() as uow:
        branch = await create_unit(
            uow,
            actor=admin,
            parent_id=central.id,
            kind=UnitKind.SCHOOL,
            name="东区中心校某村分校",
            code="3401020011",
            profile=PRIMARY,
        )

    assert branch.parent_id == central.id
    assert branch.path == f"{tree.county_a.path}{central.id}/{branch.id}/"
    assert branch.depth == 5
    assert (central.is_central_school, branch.is_central_school) == (True, False)


NO_PROFILE = SchoolProfile()
JUNIOR_ONLY = SchoolProfile(stages=frozenset({Stage.JUNIOR}))
PRESCHOOL = SchoolProfile(stages=frozenset({Stage.PRESCHOOL}))
CITY, COUNTY, SCHOOL = UnitKind.CITY, UnitKind.COUNTY, UnitKind.SCHOOL
PLACEMENT = "INVALID_UNIT_PLACEMENT kind"
BAD_CODE = "INVALID_UNIT_CODE code"
TAKEN = "UNIT_CODE_TAKEN code"
ABSENT = "NOT_FOUND parentId"
PROFILE = "INVALID_SCHOOL_PROFILE stages"
# id: (administrator's unit, parent, kind, code, profile, "ERROR_CODE field")
REFUSED_CREATIONS: dict[str, tuple[str, str, UnitKind, str, SchoolProfile, str]] = {
    "county-under-county": ("city", "county_a", COUNTY, "340109", NO_PROFILE, PLACEMENT),
    "city-under-county": ("city", "county_a", CITY, "340109", NO_PROFILE, PLACEMENT),
    "county-under-province": ("province", "province", COUNTY, "340109", NO_PROFILE, PLACEMENT),
    "branch-under-plain-school": ("county_a", "school_a1", SCHOOL, "3401020011", PRIMARY, PLACEMENT),
    "school-code-9-digits": ("county_a", "county_a", SCHOOL, "340102001", PRIMARY, BAD_CODE),
    "school-with-division-code": ("county_a", "county_a", SCHOOL, "340102", PRIMARY, BAD_CODE),
    "county-with-school-code": ("city", "city", COUNTY, "3401040001", NO_PROFILE, BAD_CODE),
    "county-code-not-digits": ("city", "city", COUNTY, "34010A", NO_PROFILE, BAD_CODE),
    "duplicate-code": ("city", "city", COUNTY, "340102", NO_PROFILE, TAKEN),
    "duplicate-school-code": ("county_a", "county_a", SCHOOL, "3401020001", PRIMARY, TAKEN),
    "school-without-stages": ("county_a", "county_a", SCHOOL, "3401020010", NO_PROFILE, PROFILE),
    "preschool-stage": ("county_a", "county_a", SCHOOL, "3401020010", PRESCHOOL, PROFILE),
    "junior-without-system": (
        "county_a",
        "county_a",
        SCHOOL,
        "3401020010",
        JUNIOR_ONLY,
        "INVALID_SCHOOL_PROFILE schoolSystem",
    ),
    "county-with-stages": ("city", "city", COUNTY, "340104", PRIMARY, PROFILE),
    "parent-in-sibling-county": ("county_a", "county_b", SCHOOL, "3401030010", PRIMARY, ABSENT),
    "parent-above": ("county_a", "city", COUNTY, "340104", NO_PROFILE, ABSENT),
}


@pytest.mark.parametrize(
    ("admin_unit", "parent", "kind", "code", "profile", "expected"),
    list(REFUSED_CREATIONS.values()),
    ids=list(REFUSED_CREATIONS),
)
async def test_refused_unit_creation_writes_nothing(
    step: Step,
    tree: Tree,
    admin_unit: str,
    parent: str,
    kind: UnitKind,
    code: str,
    profile: SchoolProfile,
    expected: str,
) -> None:
    # RULES: ORG-1, ORG-3
    admin = await actor_at(step, getattr(tree, admin_unit))
    before = await unit_count(step)

    error = await refusal(
        step,
        lambda uow: create_unit(
            uow,
            actor=admin,
            parent_id=getattr(tree, parent).id,
            kind=kind,
            name="新单位",
            code=code,
            profile=profile,
        ),
    )

    assert f"{error.code} {error.field}" == expected
    assert await unit_count(step) == before


async def test_branch_school_cannot_itself_be_central(step: Step, tree: Tree) -> None:
    # RULES: ORG-1
    admin = await actor_at(step, tree.county_a)
    async with step() as uow:
        central = await make_unit(uow, UnitKind.SCHOOL, "3401020010", tree.county_a, is_central_school=True)

    error = await refusal(
        step,
        lambda uow: create_unit(
            uow,
            actor=admin,
            parent_id=central.id,
            kind=UnitKind.SCHOOL,
            name="分校",
            code="3401020011",
            profile=CENTRAL,
        ),
    )

    assert (error.code, error.field) == ("INVALID_UNIT_PLACEMENT", "isCentralSchool")


@pytest.mark.parametrize(
    ("unit", "role", "expected"),
    [
        pytest.param("school_a1", Role.SYSTEM_ADMINISTRATOR, "FORBIDDEN", id="school-administrator"),
        pytest.param("county_a", Role.REGISTRAR, "FORBIDDEN", id="county-registrar"),
        pytest.param("county_a", Role.LEADER, "FORBIDDEN", id="county-leader"),
    ],
)
async def test_only_department_administrators_create_units(
    step: Step, tree: Tree, unit: str, role: Role, expected: str
) -> None:
    # RULES: ORG-2
    acting = await actor_at(step, getattr(tree, unit), role)
    before = await unit_count(step)

    error = await refusal(
        step,
        lambda uow: create_unit(
            uow,
            actor=acting,
            parent_id=getattr(tree, unit).id,
            kind=UnitKind.SCHOOL,
            name="新学校",
            code="3401020099",
            profile=PRIMARY,
        ),
    )

    assert error.code == expected
    assert await unit_count(step) == before


# --- editing units ---------------------------------------------------------------------------------


async def test_administrator_edits_a_unit_below_with_before_and_after(
    step: Step, tree: Tree, clock: FixedClock
) -> None:
    # RULES: ORG-1, SEC-7
    admin = await actor_at(step, tree.county_a)

    async with step() as uow:
        await update_unit(
            uow,
            actor=admin,
            unit_id=tree.school_a1.id,
            name="东区第一实验小学",
            code="3401020100",
            stages=frozenset({Stage.PRIMARY, Stage.JUNIOR}),
            school_system=SchoolSystem.FIVE_FOUR,
        )

    async with step() as uow:
        stored = await uow.session.get(Unit, tree.school_a1.id)
        audits = list(
            await uow.session.scalars(select(AuditEntry).where(AuditEntry.operation == "unit.updated"))
        )
    assert stored is not None
    assert (stored.name, stored.code, stored.stages, stored.school_system) == (
        "东区第一实验小学",
        "3401020100",
        ["JUNIOR", "PRIMARY"],
        SchoolSystem.FIVE_FOUR,
    )
    assert stored.path == tree.school_a1.path
    assert len(audits) == 1
    assert audits[0].before is not None and audits[0].after is not None
    assert (audits[0].before["name"], audits[0].after["name"]) == ("东区第一小学", "东区第一实验小学")
    assert (audits[0].before["code"], audits[0].after["code"]) == ("3401020001", "3401020100")
    assert (audits[0].before["schoolSystem"], audits[0].after["schoolSystem"]) == ("SIX_THREE", "FIVE_FOUR")
    assert (audits[0].user_id, audits[0].unit_path) == (admin.user_id, tree.county_a.path)


@pytest.mark.parametrize(
    "target",
    [
        pytest.param("county_a", id="own-unit"),
        pytest.param("county_b", id="sibling"),
        pytest.param("school_b1", id="sibling-school"),
        pytest.param("city", id="parent"),
    ],
)
async def test_units_outside_reach_below_look_absent_to_edit(step: Step, tree: Tree, target: str) -> None:
    # RULES: ORG-3 (a level is maintained by the one above, so the own unit is out of reach too)
    admin = await actor_at(step, tree.county_a)
    before = await unit_count(step)

    error = await refusal(
        step, lambda uow: update_unit(uow, actor=admin, unit_id=getattr(tree, target).id, name="改名")
    )

    assert error.code == "NOT_FOUND"
    assert await unit_count(step) == before
    async with step() as uow:
        stored = await uow.session.get(Unit, getattr(tree, target).id)
    assert stored is not None
    assert stored.name == getattr(tree, target).name


async def test_editing_to_a_taken_code_is_refused(step: Step, tree: Tree) -> None:
    # RULES: ORG-1
    admin = await actor_at(step, tree.county_a)

    error = await refusal(
        step, lambda uow: update_unit(uow, actor=admin, unit_id=tree.school_a1.id, code="3401020002")
    )

    assert (error.code, error.field) == ("UNIT_CODE_TAKEN", "code")


async def test_branch_school_cannot_be_made_central_by_editing(step: Step, tree: Tree) -> None:
    # RULES: ORG-1 — create_unit refuses a central school below a school; editing must not allow it either.
    admin = await actor_at(step, tree.county_a)
    async with step() as uow:
        central = await make_unit(uow, UnitKind.SCHOOL, "3401020010", tree.county_a, is_central_school=True)
        branch = await make_unit(uow, UnitKind.SCHOOL, "3401020011", central)

    error = await refusal(
        step, lambda uow: update_unit(uow, actor=admin, unit_id=branch.id, is_central_school=True)
    )

    assert (error.code, error.field) == ("INVALID_UNIT_PLACEMENT", "isCentralSchool")
    async with step() as uow:
        stored = await uow.session.get(Unit, branch.id)
    assert stored is not None
    assert stored.is_central_school is False


async def test_central_school_with_branches_stays_central(step: Step, tree: Tree) -> None:
    # RULES: ORG-1 — un-marking it would leave its branch schools under a plain school.
    admin = await actor_at(step, tree.county_a)
    async with step() as uow:
        central = await make_unit(uow, UnitKind.SCHOOL, "3401020010", tree.county_a, is_central_school=True)
        await make_unit(uow, UnitKind.SCHOOL, "3401020011", central)

    error = await refusal(
        step, lambda uow: update_unit(uow, actor=admin, unit_id=central.id, is_central_school=False)
    )

    assert (error.code, error.field) == ("INVALID_UNIT_PLACEMENT", "isCentralSchool")
    async with step() as uow:
        stored = await uow.session.get(Unit, central.id)
    assert stored is not None
    assert stored.is_central_school is True


async def test_central_school_without_branches_may_be_unmarked(step: Step, tree: Tree) -> None:
    # RULES: ORG-1
    admin = await actor_at(step, tree.county_a)
    async with step() as uow:
        central = await make_unit(uow, UnitKind.SCHOOL, "3401020010", tree.county_a, is_central_school=True)

    async with step() as uow:
        await update_unit(uow, actor=admin, unit_id=central.id, is_central_school=False)

    async with step() as uow:
        stored = await uow.session.get(Unit, central.id)
    assert stored is not None
    assert stored.is_central_school is False


# --- paths and the common superior (pure) ----------------------------------------------------------


def test_path_helpers() -> None:
    # RULES: ORG-1
    assert root_path(1) == "/1/"
    assert child_path("/1/4/", 9) == "/1/4/9/"
    assert path_ids("/1/4/9/12/") == [1, 4, 9, 12]
    assert depth_of("/1/") == 0
    assert depth_of("/1/4/9/12/") == 3
    upper = subtree_upper_bound("/1/2/")
    assert "/1/2/" < "/1/2/30/" < upper
    assert "/1/2/999/8/" < upper
    assert not "/1/20/" < upper  # a sibling with a longer id is outside the range


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        pytest.param("school_a1", "school_a2", "county_a", id="two-schools-one-county"),
        pytest.param("school_a1", "school_b1", "city", id="two-counties-one-city"),
        pytest.param("school_a1", "school_c1", "province", id="two-cities"),
        pytest.param("county_a", "school_c1", "province", id="county-and-school-of-another-city"),
        pytest.param("school_a1", "county_a", "county_a", id="school-and-its-own-county"),
        pytest.param("county_a", "school_a1", "county_a", id="either-order"),
        pytest.param("province", "school_c1", "province", id="province-and-a-school-deep-below"),
        pytest.param("school_a1", "school_a1", "county_a", id="same-unit-its-parent"),
    ],
)
async def test_common_superior(tree: Tree, a: str, b: str, expected: str) -> None:
    # RULES: ORG-4 (docstring: when one contains the other the ancestor itself; the same unit, its parent)
    assert common_superior_id(getattr(tree, a).path, getattr(tree, b).path) == getattr(tree, expected).id


def test_common_superior_without_a_shared_root() -> None:
    # RULES: ORG-4
    assert common_superior_id("/1/2/", "/7/8/") is None
    assert common_superior_id("/1/", "/1/") is None  # the root has no superior


# --- listing within jurisdiction -------------------------------------------------------------------


async def listed(
    step: Step,
    reader: Actor,
    *,
    parent_id: int | None = None,
    kind: UnitKind | None = None,
    search: str | None = None,
) -> set[int]:
    async with step() as uow:
        page = await list_units(
            uow.session,
            reader,
            parent_id=parent_id,
            kind=kind,
            search=search,
            first=100,
            after=None,
            max_page=100,
        )
    return {unit.id for unit in page.items}


async def test_school_registrar_sees_only_its_school(step: Step, tree: Tree) -> None:
    # RULES: ORG-3
    reader = await actor_at(step, tree.school_a1, Role.REGISTRAR)

    assert await listed(step, reader) == {tree.school_a1.id}
    assert await listed(step, reader, kind=UnitKind.SCHOOL) == {tree.school_a1.id}
    async with step() as uow:
        assert await find_unit(uow.session, reader, tree.school_a2.id) is None
        assert await find_unit(uow.session, reader, tree.county_a.id) is None
        found = await find_unit(uow.session, reader, tree.school_a1.id)
    assert found is not None
    assert found.id == tree.school_a1.id


async def test_county_sees_its_schools(step: Step, tree: Tree) -> None:
    # RULES: ORG-3
    reader = await actor_at(step, tree.county_a, Role.LEADER)

    assert await listed(step, reader, kind=UnitKind.SCHOOL) == {tree.school_a1.id, tree.school_a2.id}
    assert await listed(step, reader) == {tree.county_a.id, tree.school_a1.id, tree.school_a2.id}
    assert await listed(step, reader, parent_id=tree.county_a.id) == {tree.school_a1.id, tree.school_a2.id}


async def test_children_of_a_unit_outside_jurisdiction_look_absent(step: Step, tree: Tree) -> None:
    # RULES: ORG-3
    reader = await actor_at(step, tree.county_a, Role.LEADER)

    error = await refusal(step, lambda uow: list_units_of(uow, reader, tree.county_b.id))

    assert (error.code, error.field) == ("NOT_FOUND", "parentId")


async def list_units_of(uow: UnitOfWork, reader: Actor, parent_id: int) -> object:
    return await list_units(
        uow.session, reader, parent_id=parent_id, kind=None, search=None, first=10, after=None, max_page=100
    )


async def test_search_by_name_and_code_prefix(step: Step, tree: Tree) -> None:
    # RULES: ORG-3
    province = await actor_at(step, tree.province, Role.LEADER)
    city2 = await actor_at(step, tree.city2, Role.LEADER)

    assert await listed(step, province, search="东区") == {
        tree.county_a.id,
        tree.school_a1.id,
        tree.school_a2.id,
    }
    assert await listed(step, province, search=" 第一小学 ") == {tree.school_a1.id, tree.school_b1.id}
    assert await listed(step, province, search="340103") == {tree.county_b.id, tree.school_b1.id}
    assert await listed(step, province, search="东区", kind=UnitKind.SCHOOL) == {
        tree.school_a1.id,
        tree.school_a2.id,
    }
    assert await listed(step, province, search="%") == set()  # wildcards are literal
    assert await listed(step, city2, search="小学") == {tree.school_c1.id}
