"""Controlled-field administration: each department level declares its own and sees those above."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select

from backend.clock import FixedClock
from backend.config import Settings
from backend.db import Database, UnitOfWork
from backend.domain.actor import Actor, SystemActor
from backend.domain.changes.controlled_fields import (
    ControlledFieldSource,
    ControlledFieldsView,
    add_controlled_field,
    list_controlled_fields,
    remove_controlled_field,
)
from backend.domain.records.fields import KEY_INFORMATION_KEYS
from backend.domain.records.service import UpdateOutcome, controlled_field_keys, update_record
from backend.models import AuditEntry, ControlledField, StudentRecord, Unit
from backend.models.enums import Role
from tests.domain.factories import actor_of, make_user
from tests.domain.records.support import (
    Step,
    World,
    audit_rows,
    build_world,
    load,
    refusal,
    registered,
    stepper,
)


@pytest.fixture
def step(db: Database, clock: FixedClock, settings: Settings) -> Step:
    return stepper(db, clock, settings)


@pytest.fixture
async def world(step: Step) -> World:
    return await build_world(step)


@dataclass(frozen=True)
class Admins:
    ministry: Actor
    city: Actor
    county_a: Actor
    county_b: Actor


@pytest.fixture
async def admins(step: Step, world: World) -> Admins:
    async with step() as uow:

        async def admin(unit: Unit, name: str) -> Actor:
            user = await make_user(uow, unit, name, (Role.SYSTEM_ADMINISTRATOR,))
            return await actor_of(uow.session, user)

        return Admins(
            ministry=await admin(world.tree.ministry, "madmin"),
            city=await admin(world.tree.city, "cityadmin"),
            county_a=await admin(world.tree.county_a, "caadmin"),
            county_b=await admin(world.tree.county_b, "cbadmin"),
        )


async def add(step: Step, actor: Actor, key: str) -> None:
    async with step() as uow:
        await add_controlled_field(uow, actor=actor, field_key=key)


async def listing(step: Step, actor: Actor, unit: Unit | None = None) -> ControlledFieldsView:
    async with step() as uow:
        return await list_controlled_fields(uow.session, actor, None if unit is None else unit.id)


async def update(step: Step, actor: Actor, record: StudentRecord, values: dict[str, Any]) -> UpdateOutcome:
    current = await load(step, record.id)
    async with step() as uow:
        return await update_record(
            uow, actor=actor, record_id=record.id, values=values, expected_version=current.version
        )


async def declarations(step: Step) -> list[tuple[int, str]]:
    async with step() as uow:
        rows = await uow.session.execute(
            select(ControlledField.unit_id, ControlledField.field_key).order_by(ControlledField.id)
        )
        return [(unit_id, key) for unit_id, key in rows]


async def all_audit_rows(step: Step) -> int:
    async with step() as uow:
        return len(list(await uow.session.scalars(select(AuditEntry.id))))


def adding(actor: Actor | SystemActor, key: str, unit_id: int | None = None) -> Any:
    async def action(uow: UnitOfWork) -> None:
        await add_controlled_field(uow, actor=actor, field_key=key, unit_id=unit_id)

    return action


def removing(actor: Actor, key: str) -> Any:
    async def action(uow: UnitOfWork) -> None:
        await remove_controlled_field(uow, actor=actor, field_key=key)

    return action


# --- declaring: effect on the schools below --------------------------------------------------------


async def test_a_countys_field_needs_approval_at_its_schools_after_submission(
    step: Step, world: World, admins: Admins
) -> None:
    # RULES: CHG-1, CHG-2, CHG-3 — before: the school edits the phone directly; after: it needs approval.
    record = await registered(step, world.registrar, world.grade3)
    before = await update(step, world.registrar, record, {"phone": "13800000001"})
    assert (before.applied, before.needs_approval) == ({"phone": "13800000001"}, {})

    await add(step, admins.county_a, "phone")
    after = await update(step, world.registrar, record, {"phone": "13800000002"})

    assert (after.applied, after.needs_approval) == ({}, {"phone": "13800000002"})
    assert (await load(step, record.id)).details["phone"] == "13800000001"
    async with step() as uow:
        assert "phone" in await controlled_field_keys(uow.session, world.tree.school_a1.path)
        # Another county's schools are not bound by it.
        assert "phone" not in await controlled_field_keys(uow.session, world.tree.school_b1.path)


async def test_a_province_field_binds_every_school_in_the_province(
    step: Step, world: World, admins: Admins
) -> None:
    # RULES: CFG-3, CHG-1
    await add(step, world.province_admin, "entryMode")
    record = await registered(step, world.c1_registrar, world.c1_grade3)

    outcome = await update(step, world.c1_registrar, record, {"entryMode": "2"})

    assert outcome.needs_approval == {"entryMode": "2"}
    async with step() as uow:
        for school in (world.tree.school_a1, world.tree.school_b1, world.tree.school_c1):
            assert "entryMode" in await controlled_field_keys(uow.session, school.path)


async def test_adding_writes_the_row_and_an_audit_row(step: Step, world: World, admins: Admins) -> None:
    # RULES: CHG-1, SEC-7
    async with step() as uow:
        entry = await add_controlled_field(uow, actor=admins.county_a, field_key=" phone ")

    assert (entry.field_key, entry.source, entry.removable) == ("phone", ControlledFieldSource.OWN, True)
    assert entry.declared_by is not None and entry.declared_by.id == world.tree.county_a.id
    assert await declarations(step) == [(world.tree.county_a.id, "phone")]
    [audit] = await audit_rows(step, "controlled_field.added")
    assert (audit.user_id, audit.unit_id, audit.target_type, audit.target_id) == (
        admins.county_a.user_id,
        world.tree.county_a.id,
        "unit",
        str(world.tree.county_a.id),
    )
    assert audit.after == {"fieldKey": "phone"}


# --- own level only --------------------------------------------------------------------------------


async def test_only_a_departments_system_administrator_declares(step: Step, world: World) -> None:
    # RULES: CHG-1, ORG-2 — registrars do business, schools declare nothing.
    for actor in (world.county_registrar, world.county_leader, world.school_admin, world.registrar):
        error = await refusal(step, adding(actor, "phone"))
        assert error.code == "FORBIDDEN"

    assert await declarations(step) == []
    assert await all_audit_rows(step) == 0


async def test_a_level_declares_for_itself_only(step: Step, world: World, admins: Admins) -> None:
    # RULES: CHG-1, ORG-3 — neither for the level above, nor below, nor a sibling: they look absent.
    for unit in (world.tree.city, world.tree.county_b, world.tree.school_a1):
        error = await refusal(step, adding(admins.county_a, "phone", unit.id))
        assert (error.code, error.field) == ("NOT_FOUND", "unitId")
    error = await refusal(step, adding(admins.city, "phone", world.tree.county_a.id))
    assert (error.code, error.field) == ("NOT_FOUND", "unitId")

    assert await declarations(step) == []
    assert await all_audit_rows(step) == 0


async def test_the_system_must_name_a_department(step: Step, world: World) -> None:
    # RULES: CHG-1
    system = SystemActor()
    assert (await refusal(step, adding(system, "phone"))).field == "unitId"
    error = await refusal(step, adding(system, "phone", world.tree.school_a1.id))
    assert (error.code, error.field) == ("NOT_A_DEPARTMENT", "unitId")

    async with step() as uow:
        await add_controlled_field(uow, actor=system, field_key="phone", unit_id=world.tree.county_a.id)
    [audit] = await audit_rows(step, "controlled_field.added")
    assert (audit.user_id, audit.unit_path) == (None, world.tree.county_a.path)


# --- refusals of the field itself ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "code"),
    [
        ("nickname", "UNKNOWN_FIELD"),
        ("", "UNKNOWN_FIELD"),
        ("grade", "NOT_CONTROLLABLE"),  # follows the class
        ("classId", "NOT_CONTROLLABLE"),
        ("name", "ALWAYS_CONTROLLED"),  # key information (SEC-6)
        ("idNumber", "ALWAYS_CONTROLLED"),
        ("photo", "ALWAYS_CONTROLLED"),
    ],
)
async def test_fields_that_cannot_be_declared(
    step: Step, world: World, admins: Admins, key: str, code: str
) -> None:
    # RULES: CHG-1, SEC-6
    error = await refusal(step, adding(admins.county_a, key))

    assert (error.code, error.field) == (code, "fieldKey")
    assert await declarations(step) == []
    assert await all_audit_rows(step) == 0


async def test_a_field_in_force_cannot_be_declared_again(step: Step, world: World, admins: Admins) -> None:
    # RULES: CHG-1 — refused, naming who controls it, rather than a confusing no-op.
    await add(step, admins.county_a, "phone")
    await add(step, admins.city, "householdType")

    again = await refusal(step, adding(admins.county_a, "phone"))
    inherited = await refusal(step, adding(admins.county_a, "householdType"))

    assert (again.code, again.field) == ("ALREADY_CONTROLLED", "fieldKey")
    assert "本级" in again.message
    assert (inherited.code, inherited.field) == ("ALREADY_CONTROLLED", "fieldKey")
    assert world.tree.city.name in inherited.message
    assert len(await declarations(step)) == 2
    assert len(await audit_rows(step, "controlled_field.added")) == 2


# --- seeing those above, removing one's own --------------------------------------------------------


async def test_a_citys_field_is_seen_by_the_county_but_not_removable_there(
    step: Step, world: World, admins: Admins
) -> None:
    # RULES: CHG-1 — "defines controlled fields for its own level and sees those of levels above".
    await add(step, admins.city, "householdType")
    await add(step, admins.county_a, "phone")

    view = await listing(step, admins.county_a)
    by_key = {entry.field_key: entry for entry in view.fields}

    city_field = by_key["householdType"]
    assert city_field.source is ControlledFieldSource.INHERITED
    assert city_field.declared_by is not None and city_field.declared_by.id == world.tree.city.id
    assert city_field.removable is False
    own = by_key["phone"]
    assert (own.source, own.removable) == (ControlledFieldSource.OWN, True)
    assert {
        key for key, entry in by_key.items() if entry.source is ControlledFieldSource.KEY_INFORMATION
    } == (KEY_INFORMATION_KEYS)
    assert view.can_manage is True
    assert {"phone", "householdType", "grade", "name"}.isdisjoint(spec.key for spec in view.declarable)

    error = await refusal(step, removing(admins.county_a, "householdType"))
    assert (error.code, error.field) == ("INHERITED_FIELD", "fieldKey")
    assert world.tree.city.name in error.message
    assert (world.tree.city.id, "householdType") in await declarations(step)
    assert await audit_rows(step, "controlled_field.removed") == []


async def test_a_level_removes_its_own_field(step: Step, world: World, admins: Admins) -> None:
    # RULES: CHG-1, CHG-2, SEC-7 — afterwards the school edits the field directly again.
    record = await registered(step, world.registrar, world.grade3)
    await add(step, admins.county_a, "phone")

    async with step() as uow:
        removed = await remove_controlled_field(uow, actor=admins.county_a, field_key="phone")

    assert (removed.field_key, removed.source) == ("phone", ControlledFieldSource.OWN)
    assert await declarations(step) == []
    [audit] = await audit_rows(step, "controlled_field.removed")
    assert (audit.user_id, audit.target_id, audit.before) == (
        admins.county_a.user_id,
        str(world.tree.county_a.id),
        {"fieldKey": "phone"},
    )
    outcome = await update(step, world.registrar, record, {"phone": "13800000003"})
    assert outcome.applied == {"phone": "13800000003"}


async def test_removing_the_own_declaration_leaves_the_one_above(
    step: Step, world: World, admins: Admins
) -> None:
    # RULES: CHG-1 — declared below first, then above: both stand; removing below keeps it controlled.
    await add(step, admins.county_a, "phone")
    await add(step, admins.city, "phone")

    sources = [(e.field_key, e.source) for e in (await listing(step, admins.county_a)).fields]
    assert ("phone", ControlledFieldSource.INHERITED) in sources
    assert ("phone", ControlledFieldSource.OWN) in sources

    async with step() as uow:
        await remove_controlled_field(uow, actor=admins.county_a, field_key="phone")
        assert "phone" in await controlled_field_keys(uow.session, world.tree.school_a1.path)


@pytest.mark.parametrize(
    ("key", "code"),
    [("phone", "NOT_DECLARED"), ("nickname", "UNKNOWN_FIELD"), ("birthDate", "ALWAYS_CONTROLLED")],
)
async def test_refused_removals(step: Step, world: World, admins: Admins, key: str, code: str) -> None:
    # RULES: CHG-1, SEC-6
    error = await refusal(step, removing(admins.county_a, key))

    assert (error.code, error.field) == (code, "fieldKey")
    assert await all_audit_rows(step) == 0


async def test_a_county_cannot_remove_another_countys_field(step: Step, world: World, admins: Admins) -> None:
    # RULES: CHG-1, ORG-3
    await add(step, admins.county_b, "phone")

    error = await refusal(step, removing(admins.county_a, "phone"))

    assert error.code == "NOT_DECLARED"
    assert await declarations(step) == [(world.tree.county_b.id, "phone")]


# --- who sees which list ---------------------------------------------------------------------------


async def test_a_school_sees_the_fields_in_force_for_it(step: Step, world: World, admins: Admins) -> None:
    # RULES: CHG-1, SEC-6 — the school's list is exactly what its updates are held to.
    await add(step, admins.city, "householdType")
    await add(step, admins.county_a, "phone")
    await add(step, admins.county_b, "specialty")

    view = await listing(step, world.registrar)

    async with step() as uow:
        in_force = await controlled_field_keys(uow.session, world.tree.school_a1.path)
    assert view.unit.id == world.tree.school_a1.id
    assert view.effective_keys == in_force
    assert "specialty" not in view.effective_keys
    assert {e.source for e in view.fields} == {
        ControlledFieldSource.KEY_INFORMATION,
        ControlledFieldSource.INHERITED,
    }
    assert not any(e.removable for e in view.fields)
    assert (view.can_manage, view.declarable) == (False, [])


async def test_a_department_sees_the_fields_below_it_but_manages_only_its_own(
    step: Step, world: World, admins: Admins
) -> None:
    # RULES: CHG-1, ORG-3
    await add(step, admins.county_a, "phone")

    view = await listing(step, admins.city, world.tree.county_a)

    [phone] = [e for e in view.fields if e.field_key == "phone"]
    assert (phone.source, phone.removable) == (ControlledFieldSource.OWN, False)
    assert (view.can_manage, view.declarable) == (False, [])
    leader_view = await listing(step, world.county_leader, world.tree.school_a1)
    assert "phone" in leader_view.effective_keys


async def test_lists_outside_the_jurisdiction_look_absent(step: Step, world: World, admins: Admins) -> None:
    # RULES: ORG-3
    async def view(actor: Actor, unit: Unit) -> Any:
        async def action(uow: UnitOfWork) -> None:
            await list_controlled_fields(uow.session, actor, unit.id)

        return action

    for actor, unit in (
        (world.registrar, world.tree.county_a),  # above: seen through its own list, not directly
        (world.registrar, world.tree.school_a2),
        (admins.county_a, world.tree.county_b),
        (admins.county_a, world.tree.city),
    ):
        error = await refusal(step, await view(actor, unit))
        assert (error.code, error.field) == ("NOT_FOUND", "unitId")
