"""Maintaining records: direct edits, controlled fields, key information, read-only, conflicts, revealing IDs."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any

import pytest
from sqlalchemy import select

from backend.clock import FixedClock
from backend.config import Settings
from backend.db import Database, UnitOfWork
from backend.domain.actor import Actor
from backend.domain.records.errors import RecordValidationError
from backend.domain.records.id_numbers import make_resident_id
from backend.domain.records.service import (
    UpdateOutcome,
    controlled_field_keys,
    reveal_id_number,
    update_record,
)
from backend.models import ControlledField, Guardian, ProblemRecord, StudentRecord, Unit
from backend.models.enums import Gender, IdType, NumberKind, ProblemType, RecordStatus
from tests.domain.records.support import (
    Step,
    World,
    audit_rows,
    build_world,
    history,
    load,
    refusal,
    register,
    registered,
    stepper,
    student_values,
)

BIRTH = date(2018, 3, 15)
ID_NUMBER = make_resident_id("340102", BIRTH, 0, Gender.MALE)


@pytest.fixture
def step(db: Database, clock: FixedClock, settings: Settings) -> Step:
    return stepper(db, clock, settings)


@pytest.fixture
async def world(step: Step) -> World:
    return await build_world(step)


async def update(
    step: Step,
    actor: Actor,
    record: StudentRecord,
    values: dict[str, Any],
    *,
    version: int | None = None,
    guardians: list[dict[str, Any]] | None = None,
) -> UpdateOutcome:
    async with step() as uow:
        return await update_record(
            uow,
            actor=actor,
            record_id=record.id,
            values=values,
            expected_version=record.version if version is None else version,
            guardians=guardians,
        )


def updating(
    actor: Actor, record: StudentRecord, values: dict[str, Any], **kwargs: Any
) -> Callable[[UnitOfWork], Awaitable[UpdateOutcome]]:
    async def action(uow: UnitOfWork) -> UpdateOutcome:
        return await update_record(
            uow,
            actor=actor,
            record_id=record.id,
            values=values,
            expected_version=kwargs.get("version", record.version),
            guardians=kwargs.get("guardians"),
        )

    return action


async def control(step: Step, unit: Unit, *keys: str) -> None:
    async with step() as uow:
        uow.session.add_all(
            ControlledField(unit_id=unit.id, field_key=key, created_at=uow.clock.now()) for key in keys
        )


# --- direct edits ----------------------------------------------------------------------------------


async def test_non_controlled_edit_applies_at_once_with_history(step: Step, world: World) -> None:
    # RULES: CHG-2, CHG-5, SEC-7
    record = await registered(step, world.registrar, world.grade3)
    record = await load(step, record.id)

    outcome = await update(
        step,
        world.registrar,
        record,
        {"phone": "0551-62881234", "currentAddress": "合肥市蜀山区黄山路2号", "isLeftBehind": "是"},
    )

    assert outcome.applied == {
        "phone": "0551-62881234",
        "currentAddress": "合肥市蜀山区黄山路2号",
        "isLeftBehind": True,
    }
    assert outcome.needs_approval == {}
    stored = await load(step, record.id)
    assert (stored.details["phone"], stored.is_left_behind, stored.version) == (
        "0551-62881234",
        True,
        record.version + 1,
    )
    rows = await history(step, record.id)
    assert rows[-1].kind == "UPDATED"
    assert rows[-1].changes == {
        "phone": ["13912345678", "0551-62881234"],
        "currentAddress": ["合肥市瑶海区长江东路1号", "合肥市蜀山区黄山路2号"],
        "isLeftBehind": [False, True],
    }
    assert rows[-1].user_id == world.registrar.user_id
    audit = await audit_rows(step, "record.updated")
    assert [a.after for a in audit] == [
        {"phone": "0551-62881234", "currentAddress": "合肥市蜀山区黄山路2号", "isLeftBehind": True}
    ]


async def test_residence_permit_fields_are_maintained(step: Step, world: World) -> None:
    # RULES: CHG-6
    record = await load(step, (await registered(step, world.registrar, world.grade3)).id)

    outcome = await update(
        step,
        world.registrar,
        record,
        {
            "hasResidencePermit": True,
            "residencePermitAuthority": "合肥市公安局瑶海分局",
            "residencePermitIssueDate": "2025-06-01",
        },
    )

    assert set(outcome.applied) == {
        "hasResidencePermit",
        "residencePermitAuthority",
        "residencePermitIssueDate",
    }
    assert (await load(step, record.id)).details["residencePermitIssueDate"] == "2025-06-01"


async def test_unchanged_values_change_nothing(step: Step, world: World) -> None:
    # RULES: SEC-7
    record = await load(step, (await registered(step, world.registrar, world.grade3)).id)

    outcome = await update(step, world.registrar, record, {"phone": "13912345678", "name": "张小明"})

    assert (outcome.applied, outcome.needs_approval) == ({}, {})
    assert (await load(step, record.id)).version == record.version


# --- controlled fields and key information ---------------------------------------------------------


async def test_controlled_fields_of_every_level_above_need_approval(step: Step, world: World) -> None:
    # RULES: CHG-1, CHG-3
    await control(step, world.tree.county_a, "householdType")
    await control(step, world.tree.province, "entryMode")
    await control(step, world.tree.county_b, "studyMode")  # another county's: not this school's
    record = await load(step, (await registered(step, world.registrar, world.grade3)).id)

    outcome = await update(
        step,
        world.registrar,
        record,
        {"householdType": "1", "entryMode": "2", "studyMode": "2", "phone": "13800000000"},
    )

    assert outcome.needs_approval == {"householdType": "1", "entryMode": "2"}
    assert outcome.applied == {"studyMode": "2", "phone": "13800000000"}
    stored = await load(step, record.id)
    assert (stored.details["householdType"], stored.details["entryMode"]) == ("2", "1")
    assert (await history(step, record.id))[-1].changes.keys() == {"studyMode", "phone"}


async def test_controlled_field_keys_read_in_one_query(step: Step, world: World) -> None:
    # RULES: CHG-1, SEC-6
    await control(step, world.tree.county_a, "householdType")
    await control(step, world.tree.city, "householdType", "specialty")

    async with step() as uow:
        keys = await controlled_field_keys(uow.session, world.tree.school_a1.path)

    assert keys == {
        "householdType",
        "specialty",
        "name",
        "gender",
        "birthDate",
        "idType",
        "idNumber",
        "photo",
    }


async def test_key_information_after_submission_needs_approval(step: Step, world: World) -> None:
    # RULES: SEC-6, CHG-3
    record = await load(step, (await registered(step, world.registrar, world.grade3)).id)

    outcome = await update(step, world.registrar, record, {"name": "张晓明", "phone": "13800000000"})

    assert outcome.needs_approval == {"name": "张晓明"}
    assert outcome.applied == {"phone": "13800000000"}
    assert (await load(step, record.id)).name == "张小明"


async def test_draft_key_information_is_edited_directly(step: Step, world: World) -> None:
    # RULES: SEC-6
    record = await register(step, world.registrar, world.grade3)

    outcome = await update(step, world.registrar, record, {"name": "张晓明"})

    assert outcome.applied == {"name": "张晓明"}
    assert (await load(step, record.id)).name == "张晓明"


async def test_draft_identity_change_reruns_the_duplicate_check(step: Step, world: World) -> None:
    # RULES: CHG-3, REG-7
    await register(step, world.c1_registrar, world.c1_grade3)
    other_id = make_resident_id("340102", BIRTH, 1, Gender.MALE)
    record = await register(step, world.registrar, world.grade3, student_values(idNumber=other_id))

    error = await refusal(step, updating(world.registrar, record, {"idNumber": ID_NUMBER}))

    assert error.code == "DUPLICATE_ID_NUMBER"
    assert (await load(step, record.id)).id_number == other_id


async def test_draft_losing_its_id_joins_a_type_3_group(step: Step, world: World) -> None:
    # RULES: CHG-3, PRB-3
    other = await register(step, world.c1_registrar, world.c1_grade3, student_values(id_type=IdType.NONE))
    record = await register(step, world.registrar, world.grade3)

    await update(step, world.registrar, record, {"idType": "NONE", "idNumber": None})

    async with step() as uow:
        found = list(await uow.session.scalars(select(ProblemRecord).order_by(ProblemRecord.id)))
    assert [(p.record_id, p.problem_type) for p in found] == [
        (other.id, ProblemType.DUPLICATE_WITHOUT_ID),
        (record.id, ProblemType.DUPLICATE_WITHOUT_ID),
    ]


async def test_corrected_birth_date_gives_a_new_temporary_number(step: Step, world: World) -> None:
    # RULES: NUM-7, CHG-3, SEC-4
    record = await register(step, world.registrar, world.grade3)
    corrected = make_resident_id("340102", date(2018, 4, 2), 0, Gender.MALE)

    await update(step, world.registrar, record, {"birthDate": "2018-04-02", "idNumber": corrected})

    stored = await load(step, record.id)
    assert stored.number_kind is NumberKind.L
    assert stored.national_number[7:15] == "20180402"
    assert [row.kind for row in await history(step, record.id)] == ["CREATED", "UPDATED", "NUMBER_ISSUED"]
    audit = (await audit_rows(step, "record.updated"))[0]
    assert audit.after is not None and audit.after["idNumber"] == corrected[:6] + "********" + corrected[-4:]


# --- guards ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [RecordStatus.GRADUATED, RecordStatus.COMPLETED])
async def test_graduated_and_completed_records_are_read_only(
    step: Step, world: World, status: RecordStatus
) -> None:
    # RULES: CHG-7
    record = await registered(step, world.registrar, world.grade6)
    async with step() as uow:
        stored = await uow.session.get(StudentRecord, record.id)
        assert stored is not None
        stored.status = status
        version = stored.version

    error = await refusal(step, updating(world.registrar, record, {"phone": "13800000000"}, version=version))

    assert error.code == "RECORD_READ_ONLY"


async def test_stale_version_is_a_conflict(step: Step, world: World) -> None:
    record = await register(step, world.registrar, world.grade3)
    await update(step, world.registrar, record, {"phone": "13800000000"})

    error = await refusal(step, updating(world.registrar, record, {"phone": "13700000000"}))

    assert (error.code, error.field) == ("RECORD_CHANGED", "expectedVersion")
    assert (await load(step, record.id)).details["phone"] == "13800000000"


async def test_only_the_school_registrar_edits(step: Step, world: World) -> None:
    # RULES: ORG-2, ORG-3
    record = await register(step, world.registrar, world.grade3)

    assert (await refusal(step, updating(world.leader, record, {"phone": "13800000000"}))).code == "FORBIDDEN"
    assert (
        await refusal(step, updating(world.county_registrar, record, {"phone": "13800000000"}))
    ).code == "FORBIDDEN"
    assert (
        await refusal(step, updating(world.a2_registrar, record, {"phone": "13800000000"}))
    ).code == "NOT_FOUND"


async def test_edit_errors_come_back_together(step: Step, world: World) -> None:
    record = await register(step, world.registrar, world.grade3)

    error = await refusal(
        step,
        updating(
            world.registrar, record, {"ethnicity": "77", "postalCode": ""}, guardians=[{"name": "张建国"}]
        ),
    )

    assert isinstance(error, RecordValidationError)
    assert [(e.key, e.code) for e in error.errors] == [
        ("ethnicity", "UNKNOWN_CODE"),
        ("postalCode", "REQUIRED"),
        ("guardians[0].relation", "REQUIRED"),
    ]


async def test_guardians_are_replaced_as_a_whole(step: Step, world: World) -> None:
    # RULES: SEC-7
    record = await register(step, world.registrar, world.grade3)
    mother_id = make_resident_id("340102", date(1988, 5, 1), 0, Gender.FEMALE)
    guardians = [
        {
            "name": "李秀英",
            "relation": "母亲",
            "phone": "13700000000",
            "idType": "RESIDENT_ID",
            "idNumber": mother_id,
        },
        {"name": "张建国", "relation": "父亲", "isGuardian": "否"},
    ]

    outcome = await update(step, world.registrar, record, {}, guardians=guardians)

    assert outcome.applied == {}
    async with step() as uow:
        rows = list(await uow.session.scalars(select(Guardian).order_by(Guardian.position)))
    assert [(g.position, g.name, g.relation, g.is_guardian, g.id_type) for g in rows] == [
        (0, "李秀英", "母亲", True, IdType.RESIDENT_ID),
        (1, "张建国", "父亲", False, None),
    ]
    change = (await history(step, record.id))[-1].changes["guardians"]
    assert [g["name"] for g in change[0]] == ["张建国"]
    assert [g["name"] for g in change[1]] == ["李秀英", "张建国"]
    audit = (await audit_rows(step, "record.updated"))[0]
    assert audit.after is not None and "*" in audit.after["guardians"][0]["idNumber"]


# --- revealing the full ID number ------------------------------------------------------------------


async def test_revealing_a_full_id_number_is_logged(step: Step, world: World) -> None:
    # RULES: SEC-4, SEC-7
    record = await register(step, world.registrar, world.grade3)

    for reader in (world.registrar, world.leader, world.county_registrar):
        async with step() as uow:
            assert await reveal_id_number(uow, actor=reader, record_id=record.id) == ID_NUMBER

    audit = await audit_rows(step, "record.id_number_revealed")
    assert [(a.user_id, a.target_type, a.target_id) for a in audit] == [
        (reader.user_id, "student_record", str(record.id))
        for reader in (world.registrar, world.leader, world.county_registrar)
    ]


async def test_who_may_not_reveal_an_id_number(step: Step, world: World) -> None:
    # RULES: SEC-4, ORG-3
    record = await register(step, world.registrar, world.grade3)

    def revealing(actor: Actor) -> Callable[[UnitOfWork], Awaitable[str | None]]:
        async def action(uow: UnitOfWork) -> str | None:
            return await reveal_id_number(uow, actor=actor, record_id=record.id)

        return action

    assert (await refusal(step, revealing(world.school_admin))).code == "FORBIDDEN"  # ORG-2
    assert (await refusal(step, revealing(world.a2_registrar))).code == "NOT_FOUND"
    assert await audit_rows(step, "record.id_number_revealed") == []
    # A department leader queries within its jurisdiction (ORG-2); the reading is logged all the same.
    async with step() as uow:
        assert await revealing(world.county_leader)(uow)
    assert len(await audit_rows(step, "record.id_number_revealed")) == 1
