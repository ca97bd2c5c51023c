"""Provincial windows and switches (CFG-2), and the identity check's local stand-in (NUM-1, PRB-1)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from sqlalchemy import event, select

from backend.clock import FixedClock
from backend.config import Settings
from backend.db import Database, UnitOfWork
from backend.domain.actor import SystemActor
from backend.domain.errors import ValidationError
from backend.domain.records.id_numbers import make_resident_id
from backend.domain.records.identity import IdentityAnswer, LocalIdentityVerifier
from backend.domain.settings import (
    ProvinceSettings,
    Window,
    load_province_settings,
    parse_windows,
    set_province_setting,
)
from backend.models import AuditEntry, ProvinceSetting
from backend.models.enums import Gender, RegistrationKind, SchoolSystem, UnitKind
from tests.domain.records.support import Step, World, build_world, refusal, stepper


@pytest.fixture
def step(db: Database, clock: FixedClock, settings: Settings) -> Step:
    return stepper(db, clock, settings)


@pytest.fixture
async def world(step: Step) -> World:
    return await build_world(step)


# --- windows ---------------------------------------------------------------------------------------


def test_national_defaults() -> None:
    # RULES: CFG-2, REG-2, NUM-4
    defaults = ProvinceSettings()
    key, windows = defaults.registration_window(RegistrationKind.PRIMARY_NEW)

    assert key == "window.primary_new"
    assert [w.contains(day) for w in windows for day in (date(2026, 8, 31), date(2026, 9, 1))] == [
        False,
        True,
    ]
    assert defaults.is_open(key, date(2026, 9, 30))
    assert not defaults.is_open(key, date(2026, 10, 1))
    assert defaults.is_open("window.in_school", date(2026, 11, 25))
    assert defaults.primary_new_enabled
    assert not defaults.may_delete_official_number
    assert defaults.review_levels == [UnitKind.COUNTY]
    assert defaults.graduating_grades(SchoolSystem.FIVE_FOUR) == {5, 9, 12}
    assert defaults.graduating_grades(None) == {6, 9, 12}


def test_yearly_window_over_new_year_and_absolute_window() -> None:
    # RULES: CFG-2
    winter = Window("12-01", "01-31")
    assert [winter.contains(date(2026, m, d)) for m, d in ((11, 30), (12, 1), (1, 31), (2, 1))] == [
        False,
        True,
        True,
        False,
    ]
    assert winter.describe() == "每年12月1日至次年1月31日"
    once = Window("2026-03-01", "2026-03-31")
    assert once.contains(date(2026, 3, 31)) and not once.contains(date(2027, 3, 1))
    assert once.describe() == "2026年3月1日至2026年3月31日"


@pytest.mark.parametrize(
    "value",
    [
        "09-01",
        [{"from": "09-01"}],
        [{"from": "09-01", "to": "2026-09-30"}],
        [{"from": "02-30", "to": "03-01"}],
        [{"from": "2026-10-01", "to": "2026-09-01"}],
        [{"from": "13-01", "to": "13-02"}],
    ],
)
def test_malformed_windows_are_refused(value: Any) -> None:
    with pytest.raises(ValidationError):
        parse_windows(value)


# --- setting them ----------------------------------------------------------------------------------


async def test_province_administrator_sets_a_window(step: Step, world: World) -> None:
    # RULES: CFG-2
    province = world.tree.province
    async with step() as uow:
        await set_province_setting(
            uow,
            actor=world.province_admin,
            province_id=province.id,
            key="window.primary_new",
            value=[{"from": "08-25", "to": "09-30"}],
        )

    async with step() as uow:
        settings = await load_province_settings(uow.session, world.tree.school_a1.path)
        audit = list(
            await uow.session.scalars(
                select(AuditEntry).where(AuditEntry.operation == "province_setting.set")
            )
        )
    assert settings.is_open("window.primary_new", date(2026, 8, 25))
    assert len(audit) == 1
    assert audit[0].after == {"key": "window.primary_new", "value": [{"from": "08-25", "to": "09-30"}]}
    assert audit[0].user_id == world.province_admin.user_id


async def test_reset_to_the_national_default(step: Step, world: World) -> None:
    # RULES: CFG-2
    system = SystemActor()
    province_id = world.tree.province.id
    async with step() as uow:
        await set_province_setting(
            uow, actor=system, province_id=province_id, key="switch.primary_new_enabled", value=False
        )
    async with step() as uow:
        row = await set_province_setting(
            uow, actor=system, province_id=province_id, key="switch.primary_new_enabled", value=None
        )
        rows = list(await uow.session.scalars(select(ProvinceSetting)))
        settings = await load_province_settings(uow.session, world.tree.school_a1.path)
    assert row is None
    assert rows == []
    assert settings.primary_new_enabled


async def test_review_levels_run_upwards(step: Step, world: World) -> None:
    # RULES: CFG-2, REG-4
    async with step() as uow:
        await set_province_setting(
            uow,
            actor=SystemActor(),
            province_id=world.tree.province.id,
            key="review.levels",
            value=["CITY", "COUNTY"],
        )
        settings = await load_province_settings(uow.session, world.tree.school_a1.path)
    assert settings.review_levels == [UnitKind.COUNTY, UnitKind.CITY]


@pytest.mark.parametrize(
    ("key", "value", "code", "field"),
    [
        ("window.nonsense", [], "UNKNOWN_SETTING", "key"),
        ("switch.primary_new_enabled", "yes", "INVALID_INPUT", "value"),
        ("review.levels", ["SCHOOL"], "INVALID_INPUT", "value"),
        ("problem.graduating_grades", {"SIX_THREE": [6]}, "INVALID_INPUT", "value"),
        ("window.returning", [{"from": "2026-10-01", "to": "2026-09-01"}], "INVALID_INPUT", "value[0]"),
    ],
)
async def test_invalid_settings_are_refused(
    step: Step, world: World, key: str, value: Any, code: str, field: str
) -> None:
    # RULES: CFG-2
    async def action(uow: UnitOfWork) -> None:
        await set_province_setting(
            uow, actor=world.province_admin, province_id=world.tree.province.id, key=key, value=value
        )

    error = await refusal(step, action)
    assert (error.code, error.field) == (code, field)


async def test_only_the_province_system_administrator_configures(step: Step, world: World) -> None:
    # RULES: ORG-2, CFG-2
    province_id = world.tree.province.id

    def setter(actor: Any, target: int) -> Any:
        async def action(uow: UnitOfWork) -> None:
            await set_province_setting(
                uow, actor=actor, province_id=target, key="switch.primary_new_enabled", value=False
            )

        return action

    assert (await refusal(step, setter(world.county_registrar, province_id))).code == "FORBIDDEN"
    assert (await refusal(step, setter(world.school_admin, province_id))).code == "FORBIDDEN"
    assert (await refusal(step, setter(world.province_admin, world.tree.city.id))).code == "NOT_FOUND"
    assert (await refusal(step, setter(SystemActor(), world.tree.city.id))).code == "NOT_FOUND"


async def test_settings_of_a_school_are_read_in_one_query(db: Database, step: Step, world: World) -> None:
    # RULES: CFG-2
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(args[2])

    async with step() as uow:
        await uow.session.execute(select(1))
        event.listen(db.engine.sync_engine, "before_cursor_execute", count)
        try:
            settings = await load_province_settings(uow.session, world.tree.school_a1.path)
        finally:
            event.remove(db.engine.sync_engine, "before_cursor_execute", count)
    assert len(statements) == 1
    assert settings.stored == {}


# --- the identity check ----------------------------------------------------------------------------


async def test_local_identity_verifier() -> None:
    # RULES: NUM-1, PRB-1
    known = make_resident_id("340102", date(2018, 3, 15), 0, Gender.MALE)
    unknown = make_resident_id("340102", date(2018, 3, 15), 1, Gender.MALE)
    verifier = LocalIdentityVerifier(population={known: "买买提·艾力"})

    assert await verifier.verify("买买提艾力", known) is IdentityAnswer.MATCH
    assert await verifier.verify("张小明", known) is IdentityAnswer.NAME_MISMATCH
    assert await verifier.verify("张小明", unknown) is IdentityAnswer.MATCH
    assert await verifier.verify("张小明", known[:17] + "0" if known[17] != "0" else known[:17] + "1") is (
        IdentityAnswer.NO_SUCH_ID
    )
    strict = LocalIdentityVerifier(population={known: "买买提·艾力"}, strict=True)
    assert await strict.verify("张小明", unknown) is IdentityAnswer.NO_SUCH_ID
