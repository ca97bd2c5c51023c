"""The to-do list (待办) and an instance's timeline, scoped to who acts and who has jurisdiction."""

from __future__ import annotations

from datetime import date

import pytest

from backend.calendar import WorkingDayCalendar
from backend.clock import FixedClock, local_today, shanghai
from backend.config import Settings
from backend.db import Database
from backend.domain.actor import Actor
from backend.domain.errors import DomainError
from backend.domain.pagination import Page
from backend.domain.workflows.definitions import RECEIVING_SCHOOL, StepSpec, UnitRef, WorkflowDefinition
from backend.domain.workflows.engine import act
from backend.domain.workflows.queries import InstanceTimeline, ToDoItem, get_instance, to_do
from backend.models import WorkflowInstance
from backend.models.enums import Role, StepState, UnitKind
from tests.conftest import DEFAULT_NOW
from tests.domain.workflows.support import World, counting_statements, make_world, review, start

CALENDAR = WorkingDayCalendar.from_package()


@pytest.fixture
async def w(db: Database, clock: FixedClock, settings: Settings) -> World:
    return await make_world(db, clock, settings)


async def todo(
    w: World, actor: Actor, *, first: int | None = None, after: str | None = None, kind: str | None = None
) -> Page[ToDoItem]:
    async with w.db.read_session() as session:
        page = await to_do(
            session,
            actor,
            calendar=CALENDAR,
            today=local_today(w.clock),
            kind=kind,
            first=first,
            after=after,
            max_page=50,
        )
        session.expunge_all()  # keep the loaded values past the read session's rollback
        return page


async def approve(w: World, actor: Actor, instance: WorkflowInstance) -> None:
    async with w.uow() as uow:
        await act(uow, actor=actor, instance_id=instance.id, action="approve", comment=None)


async def timeline(w: World, actor: Actor, instance_id: int) -> InstanceTimeline | None:
    async with w.db.read_session() as session:
        found = await get_instance(session, actor, instance_id)
        session.expunge_all()
        return found


async def started_on(w: World, day: date, deadline: int | None) -> WorkflowInstance:
    w.clock.set(shanghai(day.year, day.month, day.day, 10, 0))
    return await start(w, review(deadline=deadline))


async def four_pending(w: World) -> list[WorkflowInstance]:
    """Four instances pending at the A1 leader: due 11-16 (late), 12-04, 12-09, and without a due date."""
    late = await started_on(w, date(2026, 11, 2), 10)
    soon = await started_on(w, date(2026, 11, 20), 10)
    undated = await started_on(w, date(2026, 11, 25), None)
    later = await started_on(w, date(2026, 11, 25), 10)
    w.clock.set(DEFAULT_NOW)
    return [late, soon, later, undated]


async def test_the_school_leader_sees_a_started_registration(w: World) -> None:
    # RULES: REG-4, ORG-2
    instance = await start(w)

    page = await todo(w, w.leader)

    assert [(item.instance.id, item.step.position, item.step.name) for item in page.items] == [
        (instance.id, 0, "学校审核")
    ]
    assert (await todo(w, w.registrar)).items == []  # the registrar started it; the leader decides
    assert (await todo(w, w.county)).items == []  # the county's step is still waiting
    assert (await todo(w, w.other_leader)).items == []


async def test_to_do_is_ordered_by_due_date_with_working_days_left(w: World) -> None:
    # RULES: TRF-4 (10 working days per step; late steps first). Today is Wed 2026-11-25.
    late, soon, later, undated = await four_pending(w)

    page = await todo(w, w.leader)

    assert [(i.instance.id, i.due_on, i.working_days_left) for i in page.items] == [
        (late.id, date(2026, 11, 16), -7),  # late by 11-17..20, 11-23..25
        (soon.id, date(2026, 12, 4), 7),  # 11-26, 27, 30, 12-01..04
        (later.id, date(2026, 12, 9), 10),
        (undated.id, None, None),
    ]
    assert not page.has_next_page


@pytest.mark.parametrize("size", [1, 2, 3])
async def test_to_do_pages_through_due_dates_and_undated_steps(w: World, size: int) -> None:
    expected = [instance.id for instance in await four_pending(w)]

    seen: list[int] = []
    after: str | None = None
    while True:
        page = await todo(w, w.leader, first=size, after=after)
        seen += [item.instance.id for item in page.items]
        assert len(page.cursors) == len(page.items)
        if not page.has_next_page:
            break
        after = page.cursors[-1]

    assert seen == expected


@pytest.mark.parametrize("size", [1, 4])
async def test_to_do_costs_one_statement_whatever_the_page_size(w: World, size: int) -> None:
    await four_pending(w)
    async with w.db.read_session() as session:
        with counting_statements(w.db) as statements:
            page = await to_do(
                session,
                w.leader,
                calendar=CALENDAR,
                today=local_today(w.clock),
                first=size,
                after=None,
                max_page=50,
            )
            assert all(item.instance.kind for item in page.items)  # the instance came with the step

    assert len(page.items) == size
    assert len(statements) == 1


async def test_to_do_filters_by_kind(w: World) -> None:
    _, soon, _, _ = await four_pending(w)
    page = await todo(w, w.leader, kind=soon.kind)
    assert [item.instance.id for item in page.items] == [soon.id]


async def test_an_approved_step_moves_to_the_next_units_to_do(w: World) -> None:
    # RULES: REG-4
    w.clock.set(shanghai(2026, 11, 20, 10, 0))
    instance = await start(w, review((UnitKind.COUNTY,), deadline=10))
    w.clock.set(DEFAULT_NOW)
    await approve(w, w.leader, instance)

    county = await todo(w, w.county)

    assert (await todo(w, w.leader)).items == []
    assert [(i.instance.id, i.step.acting_role, i.due_on, i.working_days_left) for i in county.items] == [
        (instance.id, Role.REGISTRAR, date(2026, 12, 9), 10)
    ]
    assert (await todo(w, w.county_leader)).items == []  # right unit, wrong role


@pytest.mark.parametrize(
    ("first", "after", "code"),
    [(0, None, "INVALID_PAGE_SIZE"), (51, None, "INVALID_PAGE_SIZE"), (10, "bm9wZQ", "INVALID_CURSOR")],
)
async def test_to_do_refuses_bad_pages(w: World, first: int, after: str | None, code: str) -> None:
    with pytest.raises(DomainError) as caught:
        await todo(w, w.leader, first=first, after=after)
    assert caught.value.code == code


async def test_a_system_administrator_has_no_to_do(w: World) -> None:
    # RULES: ORG-2
    with pytest.raises(DomainError) as caught:
        await todo(w, w.admin)
    assert caught.value.code == "FORBIDDEN"


# --- one instance ---------------------------------------------------------------------------------------


async def test_the_timeline_lists_steps_and_actions_in_order(w: World) -> None:
    # RULES: SEC-3 (who approved, when, in which role)
    instance = await start(w, review((UnitKind.COUNTY, UnitKind.CITY)))
    await approve(w, w.leader, instance)

    with counting_statements(w.db) as statements:
        found = await timeline(w, w.city, instance.id)

    assert found is not None
    assert len(statements) == 3  # instance, steps, actions
    assert [(s.position, s.state) for s in found.steps] == [
        (0, StepState.APPROVED),
        (1, StepState.PENDING),
        (2, StepState.WAITING),
    ]
    assert [(a.action, a.role, a.user_id) for a in found.actions] == [
        ("start", Role.REGISTRAR, w.registrar.user_id),
        ("approve", Role.LEADER, w.leader.user_id),
    ]


@pytest.mark.parametrize(
    ("who", "visible"),
    [
        ("registrar", True),
        ("leader", True),
        ("county", True),
        ("city", True),
        ("province", True),
        ("other_leader", False),  # same county, other school (ORG-3)
        ("other_county", False),
        ("b1_leader", False),
    ],
)
async def test_an_instance_is_visible_within_jurisdiction(w: World, who: str, visible: bool) -> None:
    # RULES: ORG-3
    instance = await start(w)
    assert (await timeline(w, getattr(w, who), instance.id) is not None) is visible


async def test_a_unit_acting_in_a_step_sees_an_instance_outside_its_subtree(w: World) -> None:
    # RULES: ORG-3, TRF-1 (the receiving school acts on a business of the sending school)
    definition = WorkflowDefinition(
        "test_receiving",
        (
            StepSpec("转入学校审核", UnitRef.RECEIVING_SCHOOL, Role.LEADER),
            StepSpec("转出学校审核", UnitRef.SUBJECT_SCHOOL, Role.LEADER),
        ),
        "测试",
    )
    instance = await start(w, definition, context=w.context(**{RECEIVING_SCHOOL: w.tree.school_b1}))

    assert await timeline(w, w.b1_leader, instance.id) is not None
    assert [i.instance.id for i in (await todo(w, w.b1_leader)).items] == [instance.id]
    # The receiving school's own department reads it too (it answers for its school), acting in no step.
    assert await timeline(w, w.other_county, instance.id) is not None
    assert await timeline(w, w.other_leader, instance.id) is None
    assert await timeline(w, w.leader, 999_999) is None


async def test_a_system_administrator_reads_no_instance(w: World) -> None:
    # RULES: ORG-2
    instance = await start(w)
    with pytest.raises(DomainError) as caught:
        await timeline(w, w.admin, instance.id)
    assert caught.value.code == "FORBIDDEN"
