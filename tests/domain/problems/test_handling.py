"""Working off problem records: evidence, review, arbitration at the common superior, resolution."""

from __future__ import annotations

from datetime import date

import pytest

from backend.clock import FixedClock
from backend.config import Settings
from backend.db import Database
from backend.domain.actor import Actor
from backend.domain.errors import DomainError
from backend.domain.problems.handling import (
    arbitrate,
    resolve_for_record,
    resolve_id_error,
    review_evidence,
    submit_evidence,
)
from backend.domain.problems.listing import list_problems
from backend.models import ProblemRecord, StudentRecord, Unit
from backend.models.enums import (
    Gender,
    IdType,
    NumberKind,
    ProblemState,
    ProblemType,
    RecordStatus,
    RegistrationState,
    Role,
    Stage,
)
from tests.domain.factories import Tree, actor_of, build_tree, make_proof, make_user

ID = "110105194912310021"


class World:
    def __init__(self, db: Database, clock: FixedClock, settings: Settings) -> None:
        self.db, self.clock, self.settings = db, clock, settings
        self.serial = 0

    def step(self):  # type: ignore[no-untyped-def]
        return self.db.unit_of_work(self.clock, self.settings)

    async def actor(self, unit: Unit, role: Role = Role.REGISTRAR) -> Actor:
        self.serial += 1
        async with self.step() as uow:
            user = await make_user(uow, unit, f"u{self.serial}-{role.value.lower()}", (role,))
            return await actor_of(uow.session, user)

    async def record(self, school: Unit, *, grade: int = 3, id_number: str | None = ID) -> StudentRecord:
        self.serial += 1
        async with self.step() as uow:
            now = uow.clock.now()
            record = StudentRecord(
                national_number=f"L34010220100101{self.serial:04d}"[:19].ljust(19, "0"),
                number_kind=NumberKind.L,
                name="张三",
                gender=Gender.MALE,
                birth_date=date(2016, 3, 1),
                id_type=IdType.RESIDENT_ID if id_number else IdType.NONE,
                id_number=id_number,
                school_id=school.id,
                unit_path=school.path,
                stage=Stage.PRIMARY,
                grade=grade,
                status=RecordStatus.IN_SCHOOL,
                registration_state=RegistrationState.REGISTERED,
                details={},
                created_at=now,
                updated_at=now,
            )
            uow.session.add(record)
            await uow.session.flush()
            return record

    async def problem(self, record: StudentRecord, kind: ProblemType, key: str = ID) -> ProblemRecord:
        async with self.step() as uow:
            problem = ProblemRecord(
                record_id=record.id,
                problem_type=kind,
                group_key=key,
                state=ProblemState.OPEN,
                unit_path=record.unit_path,
                graduating_year=record.grade == 6,
                evidence_ids=[],
                created_at=uow.clock.now(),
            )
            uow.session.add(problem)
            await uow.session.flush()
            return problem

    async def get(self, problem_id: int) -> ProblemRecord:
        async with self.db.read_session() as session:
            problem = await session.get(ProblemRecord, problem_id)
            assert problem is not None
            session.expunge(problem)
            return problem


@pytest.fixture
async def world(db: Database, clock: FixedClock, settings: Settings) -> World:
    return World(db, clock, settings)


@pytest.fixture
async def tree(world: World) -> Tree:
    async with world.step() as uow:
        return await build_tree(uow)


async def refused(world: World, action) -> DomainError:  # type: ignore[no-untyped-def]
    with pytest.raises(DomainError) as raised:
        async with world.step() as uow:
            await action(uow)
    return raised.value


async def evidence_then_accept(world: World, problem: ProblemRecord, school: Unit, county: Unit) -> None:
    school_actor, county_actor = await world.actor(school), await world.actor(county)
    async with world.step() as uow:
        proof = await make_proof(uow, school)
        await submit_evidence(
            uow, actor=school_actor, problem_id=problem.id, attachment_ids=[proof], note="户籍证明"
        )
    async with world.step() as uow:
        await review_evidence(uow, actor=county_actor, problem_id=problem.id, accept=True, comment="")


async def test_contested_duplicate_with_id_goes_to_the_common_superior(world: World, tree: Tree) -> None:
    # RULES: PRB-2, ORG-4 — both counties confirm their own record: their common superior (the city) keeps one.
    first, second = await world.record(tree.school_a1), await world.record(tree.school_b1)
    p1 = await world.problem(first, ProblemType.DUPLICATE_WITH_ID)
    p2 = await world.problem(second, ProblemType.DUPLICATE_WITH_ID)

    await evidence_then_accept(world, p1, tree.school_a1, tree.county_a)
    assert (await world.get(p1.id)).state is ProblemState.CONFIRMED
    await evidence_then_accept(world, p2, tree.school_b1, tree.county_b)

    contested = [await world.get(p1.id), await world.get(p2.id)]
    assert {p.state for p in contested} == {ProblemState.ARBITRATION}
    assert {p.arbiter_id for p in contested} == {tree.city.id}

    county = await world.actor(tree.county_a)
    error = await refused(
        world,
        lambda uow: arbitrate(uow, actor=county, problem_id=p1.id, keep_record_id=first.id, comment="x"),
    )
    assert error.code == "FORBIDDEN"

    city = await world.actor(tree.city)
    async with world.step() as uow:
        await arbitrate(uow, actor=city, problem_id=p1.id, keep_record_id=second.id, comment="以芜湖为准")

    kept, lost = await world.get(p2.id), await world.get(p1.id)
    assert kept.state is ProblemState.RESOLVED
    assert kept.resolution == "KEPT_BY_ARBITRATION"
    assert lost.state is ProblemState.OPEN
    assert lost.resolution == "NOT_KEPT"

    async with world.step() as uow:  # the school then deletes its record
        await resolve_for_record(uow, record=first, resolution="DELETED")
    assert (await world.get(p1.id)).state is ProblemState.RESOLVED


async def test_arbiter_across_cities_is_the_province(world: World, tree: Tree) -> None:
    # RULES: PRB-2, ORG-4
    a, c = await world.record(tree.school_a1), await world.record(tree.school_c1)
    pa = await world.problem(a, ProblemType.DUPLICATE_WITH_ID)
    pc = await world.problem(c, ProblemType.DUPLICATE_WITH_ID)

    await evidence_then_accept(world, pa, tree.school_a1, tree.county_a)
    await evidence_then_accept(world, pc, tree.school_c1, tree.county_c)

    assert (await world.get(pa.id)).arbiter_id == tree.province.id


async def test_duplicate_without_id_is_resolved_by_confirmed_evidence(world: World, tree: Tree) -> None:
    # RULES: PRB-3 — once the department confirms the evidence, the record stops being a problem.
    record = await world.record(tree.school_a1, id_number=None)
    problem = await world.problem(record, ProblemType.DUPLICATE_WITHOUT_ID, "张三|MALE|2016-03-01")

    await evidence_then_accept(world, problem, tree.school_a1, tree.county_a)

    stored = await world.get(problem.id)
    assert stored.state is ProblemState.RESOLVED
    assert stored.resolution == "EVIDENCE"


async def test_id_error_resolved_by_household_proof_or_by_a_passed_check(world: World, tree: Tree) -> None:
    # RULES: PRB-1
    proven = await world.record(tree.school_a1)
    checked = await world.record(tree.school_a2)
    p1 = await world.problem(proven, ProblemType.ID_ERROR)
    p2 = await world.problem(checked, ProblemType.ID_ERROR)

    await evidence_then_accept(world, p1, tree.school_a1, tree.county_a)
    async with world.step() as uow:
        await resolve_for_record(uow, record=checked, resolution="CHANGED")  # a change alone is not enough
    assert (await world.get(p2.id)).state is ProblemState.OPEN
    async with world.step() as uow:
        await resolve_id_error(uow, record=checked)

    assert (await world.get(p1.id)).resolution == "EVIDENCE"
    assert (await world.get(p2.id)).resolution == "IDENTITY_VERIFIED"


async def test_rejected_evidence_returns_to_the_school_with_a_reason(world: World, tree: Tree) -> None:
    # RULES: PRB-1
    record = await world.record(tree.school_a1)
    problem = await world.problem(record, ProblemType.ID_ERROR)
    school, county = await world.actor(tree.school_a1), await world.actor(tree.county_a)
    async with world.step() as uow:
        await submit_evidence(
            uow,
            actor=school,
            problem_id=problem.id,
            attachment_ids=[await make_proof(uow, tree.school_a1)],
            note="证明",
        )

    no_reason = await refused(
        world, lambda uow: review_evidence(uow, actor=county, problem_id=problem.id, accept=False, comment="")
    )
    async with world.step() as uow:
        await review_evidence(uow, actor=county, problem_id=problem.id, accept=False, comment="证明不清晰")

    assert no_reason.code == "INVALID_INPUT"
    assert (await world.get(problem.id)).state is ProblemState.OPEN


async def test_only_the_supervising_department_reviews(world: World, tree: Tree) -> None:
    # RULES: PRB-1, ORG-3
    record = await world.record(tree.school_a1)
    problem = await world.problem(record, ProblemType.ID_ERROR)
    school = await world.actor(tree.school_a1)
    async with world.step() as uow:
        await submit_evidence(
            uow,
            actor=school,
            problem_id=problem.id,
            attachment_ids=[await make_proof(uow, tree.school_a1)],
            note="证明",
        )
    city, other_county = await world.actor(tree.city), await world.actor(tree.county_b)

    by_city = await refused(
        world, lambda uow: review_evidence(uow, actor=city, problem_id=problem.id, accept=True, comment="")
    )
    by_other = await refused(
        world,
        lambda uow: review_evidence(uow, actor=other_county, problem_id=problem.id, accept=True, comment=""),
    )

    assert (by_city.code, by_other.code) == ("FORBIDDEN", "NOT_FOUND")


async def test_evidence_needs_a_file_and_the_records_own_school(world: World, tree: Tree) -> None:
    # RULES: PRB-1, ORG-3
    record = await world.record(tree.school_a1)
    problem = await world.problem(record, ProblemType.ID_ERROR)
    own, other = await world.actor(tree.school_a1), await world.actor(tree.school_a2)

    empty = await refused(
        world, lambda uow: submit_evidence(uow, actor=own, problem_id=problem.id, attachment_ids=[], note="x")
    )
    foreign = await refused(
        world,
        lambda uow: submit_evidence(uow, actor=other, problem_id=problem.id, attachment_ids=[1], note="x"),
    )

    assert (empty.code, empty.field) == ("INVALID_INPUT", "attachmentIds")
    assert foreign.code == "NOT_FOUND"


async def test_group_left_with_one_member_is_no_longer_a_duplicate(world: World, tree: Tree) -> None:
    # RULES: PRB-3
    a, b = (
        await world.record(tree.school_a1, id_number=None),
        await world.record(tree.school_a2, id_number=None),
    )
    key = "张三|MALE|2016-03-01"
    pa = await world.problem(a, ProblemType.DUPLICATE_WITHOUT_ID, key)
    pb = await world.problem(b, ProblemType.DUPLICATE_WITHOUT_ID, key)

    async with world.step() as uow:
        await resolve_for_record(uow, record=a, resolution="CHANGED")

    assert (await world.get(pa.id)).resolution == "CHANGED"
    assert (await world.get(pb.id)).resolution == "NO_LONGER_DUPLICATE"


async def test_county_list_puts_graduating_year_first(world: World, tree: Tree) -> None:
    # RULES: PRB-4, PRB-5 — problem lists per county, graduating-year problems first.
    young = await world.record(tree.school_a1, grade=2)
    leaving = await world.record(tree.school_a2, grade=6)
    elsewhere = await world.record(tree.school_b1, grade=6)
    first = await world.problem(young, ProblemType.ID_ERROR)
    second = await world.problem(leaving, ProblemType.ID_ERROR)
    await world.problem(elsewhere, ProblemType.ID_ERROR)
    county = await world.actor(tree.county_a)

    async with world.db.read_session() as session:
        page = await list_problems(
            session,
            county,
            unit_id=None,
            problem_type=None,
            state=None,
            open_only=True,
            first=1,
            after=None,
            max_page=100,
        )
        rest = await list_problems(
            session,
            county,
            unit_id=None,
            problem_type=None,
            state=None,
            open_only=True,
            first=10,
            after=page.cursors[-1],
            max_page=100,
        )
        first_page, second_page = [p.id for p in page.items], [p.id for p in rest.items]

    assert first_page == [second.id]
    assert page.has_next_page
    assert second_page == [first.id]
    assert not rest.has_next_page
