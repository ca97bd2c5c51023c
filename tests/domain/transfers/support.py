"""Setup shared by the transfer tests: two provinces, their schools, classes and people, students.

The first province is the factories' test tree (``tests/domain/factories.py``: counties A and B in one
city, county C in another); a second province (江苏, 320000) has one county and two schools, one of them
on the 5-4 school system. Students are written directly as formally registered records with G numbers,
so a test sees only what the transfer services write. Plain functions: a test builds its own ``World``.
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pytest
from sqlalchemy import func, select

from backend.calendar import load_calendar
from backend.clock import FixedClock, local_today
from backend.config import Settings
from backend.db import Database, UnitOfWork
from backend.domain.actor import Actor
from backend.domain.errors import DomainError
from backend.domain.records.id_numbers import make_resident_id
from backend.domain.records.national_numbers import g_number
from backend.domain.transfers.queries import TransferView
from backend.domain.transfers.service import start_post_graduation_study, start_transfer
from backend.domain.workflows.engine import act
from backend.domain.workflows.queries import to_do
from backend.models import (
    AuditEntry,
    ProvinceSetting,
    RecordHistory,
    SchoolClass,
    StudentRecord,
    Transfer,
    Unit,
    WorkflowAction,
    WorkflowInstance,
    WorkflowStep,
)
from backend.models.enums import (
    Gender,
    IdType,
    RecordStatus,
    RegistrationState,
    Role,
    SchoolSystem,
    Stage,
    UnitKind,
)
from tests.domain.factories import Tree, actor_of, build_tree, make_proof, make_unit, make_user

_seq = itertools.count(1)


@dataclass
class World:
    db: Database
    clock: FixedClock
    settings: Settings
    tree: Tree
    province2: Unit  # 江苏 320000
    county_p: Unit  # 320102, below city 320100
    school_p: Unit  # 3201020001, 6-3
    school_q: Unit  # 3201020002, 5-4 (a primary and a junior part)
    classes: dict[str, SchoolClass]
    people: dict[str, Actor]
    proofs: dict[str, int] = field(default_factory=dict)

    def uow(self) -> AbstractAsyncContextManager[UnitOfWork]:
        return self.db.unit_of_work(self.clock, self.settings)

    def __getitem__(self, name: str) -> Actor:
        return self.people[name]


async def make_class(
    uow: UnitOfWork,
    school: Unit,
    grade: int,
    stage: Stage = Stage.PRIMARY,
    system: SchoolSystem = SchoolSystem.SIX_THREE,
) -> SchoolClass:
    school_class = SchoolClass(
        school_id=school.id,
        name=f"{grade}年级(1)班",
        stage=stage,
        grade=grade,
        entry_year=2026,
        school_system=system,
        head_teacher=None,
        created_at=uow.clock.now(),
    )
    uow.session.add(school_class)
    await uow.session.flush()
    return school_class


async def make_world(db: Database, clock: FixedClock, settings: Settings) -> World:
    async with db.unit_of_work(clock, settings) as uow:
        tree = await build_tree(uow)
        province2 = await make_unit(uow, UnitKind.PROVINCE, "320000", tree.ministry, name="江苏省")
        city_p = await make_unit(uow, UnitKind.CITY, "320100", province2, name="南京市")
        county_p = await make_unit(uow, UnitKind.COUNTY, "320102", city_p, name="玄武区")
        school_p = await make_unit(uow, UnitKind.SCHOOL, "3201020001", county_p, name="玄武区第一小学")
        school_q = await make_unit(uow, UnitKind.SCHOOL, "3201020002", county_p, name="玄武区五四制学校")
        school_q.school_system = SchoolSystem.FIVE_FOUR
        classes = {
            "a1.g3": await make_class(uow, tree.school_a1, 3),
            "a1.g6": await make_class(uow, tree.school_a1, 6),
            "a1.g7": await make_class(uow, tree.school_a1, 7, Stage.JUNIOR),
            "a1.g1": await make_class(uow, tree.school_a1, 1),
            "a2.g3": await make_class(uow, tree.school_a2, 3),
            "b1.g3": await make_class(uow, tree.school_b1, 3),
            "c1.g3": await make_class(uow, tree.school_c1, 3),
            "p.g3": await make_class(uow, school_p, 3),
            "p.g1": await make_class(uow, school_p, 1),
            "p.g6": await make_class(uow, school_p, 6),
            "p.k3": await make_class(uow, school_p, 3, Stage.PRESCHOOL),
            "q.g6": await make_class(uow, school_q, 6, Stage.JUNIOR, SchoolSystem.FIVE_FOUR),
            "q.g5": await make_class(uow, school_q, 5, Stage.PRIMARY, SchoolSystem.FIVE_FOUR),
        }
        people: dict[str, Actor] = {}
        for name, unit, role in (
            ("a1.reg", tree.school_a1, Role.REGISTRAR),
            ("a1.reg2", tree.school_a1, Role.REGISTRAR),
            ("a1.lead", tree.school_a1, Role.LEADER),
            ("a1.admin", tree.school_a1, Role.SYSTEM_ADMINISTRATOR),
            ("a2.reg", tree.school_a2, Role.REGISTRAR),
            ("a2.lead", tree.school_a2, Role.LEADER),
            ("b1.reg", tree.school_b1, Role.REGISTRAR),
            ("b1.lead", tree.school_b1, Role.LEADER),
            ("c1.reg", tree.school_c1, Role.REGISTRAR),
            ("ca.reg", tree.county_a, Role.REGISTRAR),
            ("ca.lead", tree.county_a, Role.LEADER),
            ("cb.reg", tree.county_b, Role.REGISTRAR),
            ("cc.reg", tree.county_c, Role.REGISTRAR),
            ("city.reg", tree.city, Role.REGISTRAR),
            ("prov.reg", tree.province, Role.REGISTRAR),
            ("p.reg", school_p, Role.REGISTRAR),
            ("p.lead", school_p, Role.LEADER),
            ("q.reg", school_q, Role.REGISTRAR),
            ("q.lead", school_q, Role.LEADER),
            ("cp.reg", county_p, Role.REGISTRAR),
            ("prov2.reg", province2, Role.REGISTRAR),
        ):
            people[name] = await actor_of(uow.session, await make_user(uow, unit, name, (role,)))
        proofs = {
            "a1": await make_proof(uow, tree.school_a1),
            "a2": await make_proof(uow, tree.school_a2),
            "c1": await make_proof(uow, tree.school_c1),
            "p": await make_proof(uow, school_p),
            "q": await make_proof(uow, school_q),
        }
        return World(
            db=db,
            clock=clock,
            settings=settings,
            tree=tree,
            province2=province2,
            county_p=county_p,
            school_p=school_p,
            school_q=school_q,
            classes=classes,
            people=people,
            proofs=proofs,
        )


async def student(
    w: World,
    school_class: SchoolClass,
    *,
    name: str = "王小明",
    birth: date = date(2018, 3, 15),
    status: RecordStatus = RecordStatus.IN_SCHOOL,
    state: RegistrationState = RegistrationState.REGISTERED,
    region: str = "340102",
) -> StudentRecord:
    """A formally registered record (G number) in ``school_class``."""
    async with w.uow() as uow:
        school = await uow.session.get(Unit, school_class.school_id)
        assert school is not None
        id_number = make_resident_id(region, birth, next(_seq) % 400, Gender.MALE)
        record = StudentRecord(
            national_number=g_number(id_number),
            name=name,
            gender=Gender.MALE,
            birth_date=birth,
            id_type=IdType.RESIDENT_ID,
            id_number=id_number,
            school_id=school.id,
            unit_path=school.path,
            class_id=school_class.id,
            stage=school_class.stage,
            grade=school_class.grade,
            status=status,
            registration_state=state,
            registered_at=w.clock.now() if state is RegistrationState.REGISTERED else None,
            details={},
            version=1,
            created_at=w.clock.now(),
            updated_at=w.clock.now(),
        )
        uow.session.add(record)
        await uow.session.flush()
        return record


async def start(
    w: World,
    actor: Actor,
    record: StudentRecord,
    school_class: SchoolClass,
    *,
    proof: str = "a1",
    **options: Any,
) -> TransferView:
    async with w.uow() as uow:
        return await start_transfer(
            uow,
            actor=actor,
            national_number=options.pop("national_number", record.national_number),
            name=options.pop("name", record.name),
            target_class_id=school_class.id,
            reason=options.pop("reason", "随父母工作调动"),
            application_ids=options.pop("application_ids", [w.proofs[proof]]),
            **options,
        )


async def start_study(
    w: World, actor: Actor, record: StudentRecord, school_class: SchoolClass, **options: Any
) -> TransferView:
    async with w.uow() as uow:
        return await start_post_graduation_study(
            uow,
            actor=actor,
            national_number=options.pop("national_number", record.national_number),
            name=options.pop("name", record.name),
            target_class_id=school_class.id,
            reason=options.pop("reason", "随父母到外省就学"),
            **options,
        )


async def approve(w: World, actor: Actor, workflow_id: int | None, comment: str | None = None) -> Any:
    assert workflow_id is not None
    async with w.uow() as uow:
        return await act(uow, actor=actor, instance_id=workflow_id, action="approve", comment=comment)


async def decide(
    w: World, actor: Actor, workflow_id: int | None, action: Any, comment: str | None = None
) -> Any:
    assert workflow_id is not None
    async with w.uow() as uow:
        return await act(uow, actor=actor, instance_id=workflow_id, action=action, comment=comment)


async def refusal(w: World, action: Callable[[UnitOfWork], Awaitable[Any]]) -> DomainError:
    """Run ``action`` in its own unit of work and expect a ``DomainError``; the work is rolled back."""
    try:
        async with w.uow() as uow:
            await action(uow)
    except DomainError as error:
        return error
    pytest.fail("expected a DomainError")


async def to_do_of(w: World, actor: Actor) -> list[int]:
    """The workflow ids in the actor's to-do list."""
    async with w.db.read_session() as session:
        page = await to_do(
            session,
            actor,
            calendar=await load_calendar(session),
            today=local_today(w.clock),
            first=100,
            after=None,
            max_page=100,
        )
        return [item.instance.id for item in page.items]


async def steps_of(w: World, workflow_id: int | None) -> list[WorkflowStep]:
    async with w.db.read_session() as session:
        rows = list(
            await session.scalars(
                select(WorkflowStep)
                .where(WorkflowStep.instance_id == workflow_id)
                .order_by(WorkflowStep.position)
            )
        )
        session.expunge_all()
        return rows


async def instance_of(w: World, workflow_id: int | None) -> WorkflowInstance:
    async with w.db.read_session() as session:
        instance = await session.get(WorkflowInstance, workflow_id)
        assert instance is not None
        session.expunge_all()
        return instance


async def record_of(w: World, record_id: int) -> StudentRecord:
    async with w.db.read_session() as session:
        record = await session.get(StudentRecord, record_id)
        assert record is not None
        session.expunge_all()
        return record


async def transfer_of(w: World, transfer_id: int) -> Transfer:
    async with w.db.read_session() as session:
        transfer = await session.get(Transfer, transfer_id)
        assert transfer is not None
        session.expunge_all()
        return transfer


async def history_kinds(w: World, record_id: int) -> list[str]:
    async with w.db.read_session() as session:
        rows = await session.scalars(
            select(RecordHistory.kind).where(RecordHistory.record_id == record_id).order_by(RecordHistory.id)
        )
        return list(rows)


async def audit_operations(w: World) -> list[str]:
    async with w.db.read_session() as session:
        return list(await session.scalars(select(AuditEntry.operation).order_by(AuditEntry.id)))


@dataclass(frozen=True)
class Counts:
    transfers: int
    instances: int
    actions: int
    audit: int
    history: int


async def counts(w: World) -> Counts:
    async with w.db.read_session() as session:

        async def count(model: type[Any]) -> int:
            return await session.scalar(select(func.count()).select_from(model)) or 0

        return Counts(
            transfers=await count(Transfer),
            instances=await count(WorkflowInstance),
            actions=await count(WorkflowAction),
            audit=await count(AuditEntry),
            history=await count(RecordHistory),
        )


async def set_province(w: World, province: Unit, key: str, value: Any) -> None:
    async with w.uow() as uow:
        uow.session.add(
            ProvinceSetting(province_id=province.id, key=key, value=value, updated_at=w.clock.now())
        )


async def approve_reviews(w: World, view: TransferView, *actors: Actor) -> None:
    for actor in actors:
        await approve(w, actor, view.transfer.workflow_id)
