"""Workflow definitions: which units act, resolved from the context units' paths in one query."""

from __future__ import annotations

import pytest

from backend.clock import FixedClock
from backend.config import Settings
from backend.db import Database, UnitOfWork
from backend.domain.workflows.definitions import (
    RECEIVING_SCHOOL,
    SENDING_SCHOOL,
    ResolvedStep,
    StepSpec,
    UnitRef,
    UnresolvableUnitError,
    WorkflowContext,
    WorkflowDefinition,
    change_request_review,
    load_context_units,
    registration_review,
    resolve_steps,
)
from backend.models import Unit
from backend.models.enums import Role, UnitKind
from tests.domain.factories import build_tree, make_unit
from tests.domain.workflows.support import counting_statements


async def resolved(
    uow: UnitOfWork, definition: WorkflowDefinition, school: Unit, **units: Unit
) -> list[tuple[int, Role, str]]:
    context = WorkflowContext(subject_school=school, units=units)
    steps = resolve_steps(definition, context, await load_context_units(uow.session, context))
    return [(step.unit_id, step.role, step.name) for step in steps]


async def test_registration_review_for_a_county_school_goes_school_then_county(
    db: Database, clock: FixedClock, settings: Settings
) -> None:
    # RULES: REG-4
    async with db.unit_of_work(clock, settings) as uow:
        tree = await build_tree(uow)
        steps = await resolved(uow, registration_review([UnitKind.COUNTY]), tree.school_a1)

    assert steps == [
        (tree.school_a1.id, Role.LEADER, "学校审核"),
        (tree.county_a.id, Role.REGISTRAR, "区县审核"),
    ]


@pytest.mark.parametrize(
    "levels",
    [
        [UnitKind.COUNTY, UnitKind.CITY],
        [UnitKind.CITY, UnitKind.COUNTY],
        [UnitKind.CITY, UnitKind.COUNTY, UnitKind.CITY],
    ],
)
async def test_registration_review_runs_the_configured_levels_from_the_county_upward(
    db: Database, clock: FixedClock, settings: Settings, levels: list[UnitKind]
) -> None:
    # RULES: REG-4
    async with db.unit_of_work(clock, settings) as uow:
        tree = await build_tree(uow)
        steps = await resolved(uow, registration_review(levels), tree.school_a1)

    assert steps == [
        (tree.school_a1.id, Role.LEADER, "学校审核"),
        (tree.county_a.id, Role.REGISTRAR, "区县审核"),
        (tree.city.id, Role.REGISTRAR, "地市审核"),
    ]


async def test_registration_review_up_to_the_province(
    db: Database, clock: FixedClock, settings: Settings
) -> None:
    # RULES: REG-4
    async with db.unit_of_work(clock, settings) as uow:
        tree = await build_tree(uow)
        levels = [UnitKind.PROVINCE, UnitKind.COUNTY, UnitKind.CITY]
        steps = await resolved(uow, registration_review(levels), tree.school_c1)

    assert [(unit, role) for unit, role, _ in steps] == [
        (tree.school_c1.id, Role.LEADER),
        (tree.county_c.id, Role.REGISTRAR),
        (tree.city2.id, Role.REGISTRAR),
        (tree.province.id, Role.REGISTRAR),
    ]


async def test_a_city_run_school_is_reviewed_once_by_its_city(
    db: Database, clock: FixedClock, settings: Settings
) -> None:
    # RULES: REG-4 (the missing county level falls to the supervising city; the two city steps merge)
    async with db.unit_of_work(clock, settings) as uow:
        tree = await build_tree(uow)
        city_school = await make_unit(uow, UnitKind.SCHOOL, "3401009001", tree.city, name="甲市直属中学")
        both = await resolved(uow, registration_review([UnitKind.COUNTY, UnitKind.CITY]), city_school)
        county_only = await resolved(uow, registration_review([UnitKind.COUNTY]), city_school)

    assert both == [(city_school.id, Role.LEADER, "学校审核"), (tree.city.id, Role.REGISTRAR, "地市审核")]
    assert county_only == [
        (city_school.id, Role.LEADER, "学校审核"),
        (tree.city.id, Role.REGISTRAR, "区县审核"),
    ]


async def test_a_branch_school_is_reviewed_by_the_county_above_its_central_school(
    db: Database, clock: FixedClock, settings: Settings
) -> None:
    # RULES: REG-4, ORG-1
    async with db.unit_of_work(clock, settings) as uow:
        tree = await build_tree(uow)
        central = await make_unit(
            uow, UnitKind.SCHOOL, "3401020009", tree.county_a, name="东区中心校", is_central_school=True
        )
        branch = await make_unit(uow, UnitKind.SCHOOL, "3401020010", central, name="东区中心校分校")
        steps = await resolved(uow, registration_review(), branch)
        supervising = await resolved(
            uow,
            WorkflowDefinition("t", (StepSpec("部门审核", UnitRef.department_of(), Role.REGISTRAR),), "测试"),
            branch,
        )

    assert steps == [(branch.id, Role.LEADER, "学校审核"), (tree.county_a.id, Role.REGISTRAR, "区县审核")]
    assert supervising == [(tree.county_a.id, Role.REGISTRAR, "部门审核")]


async def test_change_request_review_goes_school_leader_then_supervising_department(
    db: Database, clock: FixedClock, settings: Settings
) -> None:
    # RULES: CHG-3, CHG-1
    async with db.unit_of_work(clock, settings) as uow:
        tree = await build_tree(uow)
        steps = await resolved(uow, change_request_review(), tree.school_b1)
        with_city = await resolved(
            uow, change_request_review([UnitKind.COUNTY, UnitKind.CITY]), tree.school_b1
        )

    assert change_request_review().kind == "change_request_review"
    assert steps == [
        (tree.school_b1.id, Role.LEADER, "学校审核"),
        (tree.county_b.id, Role.REGISTRAR, "区县审核"),
    ]
    assert [unit for unit, _, _ in with_city] == [tree.school_b1.id, tree.county_b.id, tree.city.id]


@pytest.mark.parametrize(
    ("receiving", "sending", "superior"),
    [
        ("school_a2", "school_a1", "county_a"),
        ("school_b1", "school_a1", "city"),
        ("school_c1", "school_a1", "province"),
    ],
)
async def test_common_superior_of_two_context_units(
    db: Database, clock: FixedClock, settings: Settings, receiving: str, sending: str, superior: str
) -> None:
    # RULES: ORG-4
    definition = WorkflowDefinition(
        "arbitration",
        (
            StepSpec(
                "仲裁",
                UnitRef.common_superior(UnitRef.RECEIVING_SCHOOL, UnitRef.SENDING_SCHOOL),
                Role.REGISTRAR,
            ),
        ),
        "测试",
    )
    async with db.unit_of_work(clock, settings) as uow:
        tree = await build_tree(uow)
        units = {RECEIVING_SCHOOL: getattr(tree, receiving), SENDING_SCHOOL: getattr(tree, sending)}
        steps = await resolved(uow, definition, getattr(tree, sending), **units)

    assert steps == [(getattr(tree, superior).id, Role.REGISTRAR, "仲裁")]


TRANSFER_LIKE = WorkflowDefinition(
    "transfer_like",
    (
        StepSpec("转入学校审核", UnitRef.RECEIVING_SCHOOL, Role.LEADER),
        StepSpec(
            "转入地审核",
            UnitRef.department_of(UnitRef.RECEIVING_SCHOOL),
            Role.REGISTRAR,
            merge_into_later=True,
        ),
        StepSpec("转出学校审核", UnitRef.SENDING_SCHOOL, Role.LEADER),
        StepSpec("转出地审核", UnitRef.department_of(UnitRef.SENDING_SCHOOL), Role.REGISTRAR),
    ),
    "测试转学",
    starter=UnitRef.RECEIVING_SCHOOL,
)


async def test_same_department_steps_merge_into_the_final_one(
    db: Database, clock: FixedClock, settings: Settings
) -> None:
    # RULES: TRF-1 (receiving school → sending school → their shared department)
    async with db.unit_of_work(clock, settings) as uow:
        tree = await build_tree(uow)
        same = await resolved(
            uow, TRANSFER_LIKE, tree.school_a1, receiving_school=tree.school_a2, sending_school=tree.school_a1
        )
        different = await resolved(
            uow, TRANSFER_LIKE, tree.school_a1, receiving_school=tree.school_b1, sending_school=tree.school_a1
        )

    assert [unit for unit, _, _ in same] == [tree.school_a2.id, tree.school_a1.id, tree.county_a.id]
    assert [unit for unit, _, _ in different] == [
        tree.school_b1.id,
        tree.county_b.id,
        tree.school_a1.id,
        tree.county_a.id,
    ]


def test_adjacent_duplicates_merge_keeping_the_later_name_and_the_stricter_deadline() -> None:
    school = Unit(id=7, path="/1/7/", kind=UnitKind.SCHOOL)
    definition = WorkflowDefinition(
        "t",
        (
            StepSpec("一审", UnitRef.SUBJECT_SCHOOL, Role.LEADER, 5),
            StepSpec("二审", UnitRef.SUBJECT_SCHOOL, Role.LEADER, 10),
            StepSpec("登记", UnitRef.SUBJECT_SCHOOL, Role.REGISTRAR),
        ),
        "测试",
    )
    steps = resolve_steps(
        definition, WorkflowContext(school), {1: Unit(id=1, path="/1/", kind=UnitKind.MINISTRY)}
    )
    assert steps == [ResolvedStep("二审", 7, Role.LEADER, 5), ResolvedStep("登记", 7, Role.REGISTRAR, None)]


async def test_all_ancestors_load_in_one_query(db: Database, clock: FixedClock, settings: Settings) -> None:
    async with db.unit_of_work(clock, settings) as uow:
        tree = await build_tree(uow)
        context = WorkflowContext(tree.school_a1, {RECEIVING_SCHOOL: tree.school_c1})
        with counting_statements(db) as statements:
            units = await load_context_units(uow.session, context)

    assert len(statements) == 1
    assert set(units) == {
        tree.ministry.id,
        tree.province.id,
        tree.city.id,
        tree.county_a.id,
        tree.school_a1.id,
        tree.city2.id,
        tree.county_c.id,
        tree.school_c1.id,
    }


def test_a_system_administrator_never_acts_in_a_step() -> None:
    # RULES: ORG-2
    with pytest.raises(ValueError, match="ORG-2"):
        StepSpec("审核", UnitRef.SUBJECT_SCHOOL, Role.SYSTEM_ADMINISTRATOR)
    with pytest.raises(ValueError, match="ORG-2"):
        WorkflowDefinition(
            "t",
            (StepSpec("审核", UnitRef.SUBJECT_SCHOOL, Role.LEADER),),
            "测试",
            starter_role=Role.ORDINARY_USER,
        )


@pytest.mark.parametrize("levels", [[], [UnitKind.SCHOOL], [UnitKind.MINISTRY]])
def test_review_levels_are_departments_below_the_ministry(levels: list[UnitKind]) -> None:
    # RULES: REG-4
    with pytest.raises(ValueError):
        registration_review(levels)


async def test_a_missing_context_unit_is_a_programming_error(
    db: Database, clock: FixedClock, settings: Settings
) -> None:
    async with db.unit_of_work(clock, settings) as uow:
        tree = await build_tree(uow)
        with pytest.raises(UnresolvableUnitError):
            await resolved(uow, TRANSFER_LIKE, tree.school_a1)
