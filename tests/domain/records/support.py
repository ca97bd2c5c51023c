"""Setup shared by the record tests: a tree with classes and accounts, complete student values.

Plain functions (no fixtures): each test module wires ``step`` and ``world`` fixtures from them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest
from sqlalchemy import select

from backend.clock import FixedClock
from backend.config import Settings
from backend.db import Database, UnitOfWork
from backend.domain.actor import Actor, SystemActor
from backend.domain.errors import DomainError
from backend.domain.records.id_numbers import make_resident_id
from backend.domain.records.identity import LocalIdentityVerifier
from backend.domain.records.service import finalize_registration, register_student, submit_registration
from backend.models import AuditEntry, RecordHistory, SchoolClass, StudentRecord, Unit
from backend.models.enums import Gender, IdType, RegistrationKind, Role, SchoolSystem, Stage
from tests.domain.factories import Tree, actor_of, build_tree, make_user

Step = Callable[[], AbstractAsyncContextManager[UnitOfWork]]
Action = Callable[[UnitOfWork], Awaitable[Any]]

GUARDIANS: list[dict[str, Any]] = [{"name": "张建国", "relation": "父亲", "phone": "13912345678"}]


def stepper(db: Database, clock: FixedClock, settings: Settings) -> Step:
    """One unit of work per call: one request, committed when its block ends without error."""
    return lambda: db.unit_of_work(clock, settings)


async def refusal(step: Step, action: Action) -> DomainError:
    """Run ``action`` in its own unit of work, expect a ``DomainError``; the work is rolled back."""
    try:
        async with step() as uow:
            await action(uow)
    except DomainError as error:
        return error
    pytest.fail("expected a DomainError")


@dataclass(frozen=True)
class World:
    tree: Tree
    grade1: SchoolClass  # school A1, primary grade 1
    grade3: SchoolClass  # school A1
    grade6: SchoolClass  # school A1, the last primary grade on 6-3
    a2_grade3: SchoolClass  # school A2
    c1_grade3: SchoolClass  # school C1, another city
    registrar: Actor  # school A1
    leader: Actor  # school A1
    school_admin: Actor  # school A1 system administrator
    a2_registrar: Actor
    c1_registrar: Actor
    county_registrar: Actor  # county A
    county_leader: Actor  # county A
    province_admin: Actor  # province system administrator


async def make_class(
    uow: UnitOfWork, school: Unit, grade: int, stage: Stage = Stage.PRIMARY, entry_year: int = 2026
) -> SchoolClass:
    school_class = SchoolClass(
        school_id=school.id,
        name=f"{grade}年级(1)班",
        stage=stage,
        grade=grade,
        entry_year=entry_year,
        school_system=school.school_system or SchoolSystem.SIX_THREE,
        head_teacher=None,
        created_at=uow.clock.now(),
    )
    uow.session.add(school_class)
    await uow.session.flush()
    return school_class


async def build_world(step: Step) -> World:
    async with step() as uow:
        tree = await build_tree(uow)
        grade1 = await make_class(uow, tree.school_a1, 1)
        grade3 = await make_class(uow, tree.school_a1, 3, entry_year=2024)
        grade6 = await make_class(uow, tree.school_a1, 6, entry_year=2021)
        a2_grade3 = await make_class(uow, tree.school_a2, 3, entry_year=2024)
        c1_grade3 = await make_class(uow, tree.school_c1, 3, entry_year=2024)

        async def actor(unit: Unit, name: str, role: Role) -> Actor:
            return await actor_of(uow.session, await make_user(uow, unit, name, (role,)))

        return World(
            tree=tree,
            grade1=grade1,
            grade3=grade3,
            grade6=grade6,
            a2_grade3=a2_grade3,
            c1_grade3=c1_grade3,
            registrar=await actor(tree.school_a1, "a1reg", Role.REGISTRAR),
            leader=await actor(tree.school_a1, "a1lead", Role.LEADER),
            school_admin=await actor(tree.school_a1, "a1admin", Role.SYSTEM_ADMINISTRATOR),
            a2_registrar=await actor(tree.school_a2, "a2reg", Role.REGISTRAR),
            c1_registrar=await actor(tree.school_c1, "c1reg", Role.REGISTRAR),
            county_registrar=await actor(tree.county_a, "careg", Role.REGISTRAR),
            county_leader=await actor(tree.county_a, "calead", Role.LEADER),
            province_admin=await actor(tree.province, "padmin", Role.SYSTEM_ADMINISTRATOR),
        )


def student_values(
    name: str = "张小明",
    *,
    birth: date = date(2018, 3, 15),
    gender: Gender = Gender.MALE,
    seq: int = 0,
    id_type: IdType = IdType.RESIDENT_ID,
    **overrides: Any,
) -> dict[str, Any]:
    """Every required field, as a form or an Excel row would send them (strings and booleans)."""
    values: dict[str, Any] = {
        "name": name,
        "gender": gender.value,
        "birthDate": birth.isoformat(),
        "birthPlace": "340102000000",
        "nativePlace": "安徽合肥",
        "ethnicity": "01",
        "nationality": "CHN",
        "idType": id_type.value,
        "overseasChinese": "00",
        "healthStatus": "1",
        "householdPlace": "安徽省合肥市瑶海区",
        "householdType": "2",
        "entryDate": "2024-09",
        "entryMode": "1",
        "studyMode": "1",
        "currentAddress": "合肥市瑶海区长江东路1号",
        "mailingAddress": "合肥市瑶海区长江东路1号",
        "homeAddress": "合肥市瑶海区长江东路1号",
        "phone": "13912345678",
        "postalCode": "230011",
        "isOnlyChild": False,
        "hadPreschool": True,
    }
    if id_type is IdType.RESIDENT_ID:
        values["idNumber"] = make_resident_id("340102", birth, seq, gender)
    values.update(overrides)
    return values


async def register(
    step: Step,
    actor: Actor | SystemActor,
    school_class: SchoolClass,
    values: Mapping[str, Any] | None = None,
    *,
    kind: RegistrationKind = RegistrationKind.IN_SCHOOL,
    guardians: Sequence[Mapping[str, Any]] = GUARDIANS,
    from_import_of_existing: bool = False,
) -> StudentRecord:
    async with step() as uow:
        return await register_student(
            uow,
            actor=actor,
            kind=kind,
            school_class_id=school_class.id,
            values=student_values() if values is None else values,
            guardians=guardians,
            from_import_of_existing=from_import_of_existing,
        )


async def registered(
    step: Step,
    actor: Actor,
    school_class: SchoolClass,
    values: Mapping[str, Any] | None = None,
    verifier: LocalIdentityVerifier | None = None,
) -> StudentRecord:
    """A record through the whole registration: draft, submitted, approved (REG-4)."""
    record = await register(step, actor, school_class, values)
    async with step() as uow:
        record = await submit_registration(uow, actor=actor, record_id=record.id)
        await finalize_registration(
            uow, record, approved=True, reason=None, verifier=verifier or LocalIdentityVerifier()
        )
        return record


async def load(step: Step, record_id: int) -> StudentRecord:
    async with step() as uow:
        record = await uow.session.get(StudentRecord, record_id)
        assert record is not None
        return record


async def history(step: Step, record_id: int) -> list[RecordHistory]:
    async with step() as uow:
        return list(
            await uow.session.scalars(
                select(RecordHistory).where(RecordHistory.record_id == record_id).order_by(RecordHistory.id)
            )
        )


async def audit_rows(step: Step, operation: str) -> list[AuditEntry]:
    async with step() as uow:
        return list(
            await uow.session.scalars(
                select(AuditEntry).where(AuditEntry.operation == operation).order_by(AuditEntry.id)
            )
        )
