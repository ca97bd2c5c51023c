"""The permission matrix, generated from the schema (ORG-2, ORG-3).

Every root field of the schema names the ``Operation`` it performs (field metadata). For each field this
test runs every role, from units at three levels, against targets in the actor's own unit, a child unit,
a sibling unit and the parent unit, through the real API, and compares the outcome with what
``POLICIES`` promises: refused roles get FORBIDDEN, targets out of reach look absent (NOT_FOUND), the rest
succeed; accepted mutations leave an audit row and refused ones write nothing (SEC-7). A field without
a case here fails the test, so new operations join the matrix automatically.
"""

from __future__ import annotations

import io
import itertools
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest
from openpyxl import Workbook
from sqlalchemy import delete, func, select
from starlette.requests import Request

from backend.config import Settings
from backend.domain.accounts.passwords import hash_password_sync
from backend.domain.accounts.service import actor_for, hash_token
from backend.domain.actor import SystemActor
from backend.domain.attachments.store import LocalFileStore
from backend.domain.notifications.log import NotificationKind, notify_users
from backend.domain.permissions import may, within_reach
from backend.domain.records import registration_list
from backend.domain.records.id_numbers import make_resident_id
from backend.domain.records.service import register_student, submit_registration
from backend.domain.units.tree import path_ids
from backend.graphql.context import Context
from backend.graphql.operations import PUBLIC
from backend.graphql.schema import build_schema
from backend.models import (
    Attachment,
    AuditEntry,
    AuthSession,
    ChangeRequest,
    ContinuationImport,
    ContinuationRow,
    ControlledField,
    Delegation,
    ProblemRecord,
    SchoolClass,
    StudentRecord,
    Unit,
    User,
    UserRole,
    WorkflowInstance,
)
from backend.models.enums import (
    Gender,
    IdType,
    ImportRowState,
    ProblemState,
    ProblemType,
    RecordStatus,
    RegistrationKind,
    Role,
    SchoolSystem,
    Stage,
    UnitKind,
)
from tests.api import Api
from tests.conftest import DEFAULT_NOW
from tests.domain.continuation.sheets import xlsx as continuation_xlsx
from tests.domain.factories import make_proof
from tests.domain.records.support import GUARDIANS, student_values

PASSWORD = "Matrix#Pass1"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CHILD_KIND = {
    UnitKind.MINISTRY: UnitKind.PROVINCE,
    UnitKind.PROVINCE: UnitKind.CITY,
    UnitKind.CITY: UnitKind.COUNTY,
    UnitKind.COUNTY: UnitKind.SCHOOL,
    UnitKind.SCHOOL: UnitKind.SCHOOL,
}
# Actor units: a city and the province (departments) and a central school (which has a branch school).
LEVELS = {"city": "340100", "province": "340000", "central school": None}
RELATIONS = ("own", "child", "sibling", "parent")


def root_fields() -> list[tuple[str, str, Any]]:
    schema = build_schema(Settings(secret_key="x" * 48))
    fields = []
    for root in ("Query", "Mutation", "Subscription"):
        definition = schema.get_type_by_name(root)
        assert definition is not None
        for field in definition.fields:  # type: ignore[union-attr]
            fields.append(
                (root, schema.config.name_converter.get_graphql_name(field), field.metadata.get("operation"))
            )
    return fields


@dataclass
class Target:
    unit: Unit | None  # None: the operation has no target unit


@dataclass
class Case:
    document: str
    variables: dict[str, Any]
    target: Unit | None
    # "NOT_FOUND" when the answer is empty rather than an error (out of reach looks absent)
    empty_means_not_found: str | None = None
    reach_path: str | None = None  # where reach is judged, if not the target's own path
    # Only this unit may act (a workflow step, a school's supervising department, an arbiter):
    # any other caller within reach is refused with FORBIDDEN.
    acting_unit: Unit | None = None
    # Business refusals that prove the permission checks passed (the rules, not the matrix, said no).
    accepted_codes: frozenset[str] = frozenset()


class World:
    """The demo province plus whatever a case needs: throwaway users, delegations, fresh tokens."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.hash = hash_password_sync(PASSWORD, 1, 1024)
        self.counter = itertools.count(1)

    async def unit_by_code(self, code: str) -> Unit:
        async with self.api.runtime.db.read_session() as session:
            unit = await session.scalar(select(Unit).where(Unit.code == code))
            assert unit is not None
            session.expunge(unit)
            return unit

    async def unit_by_id(self, unit_id: int | None) -> Unit:
        async with self.api.runtime.db.read_session() as session:
            unit = await session.get(Unit, unit_id)
            assert unit is not None
            session.expunge(unit)
            return unit

    async def central_school(self) -> Unit:
        async with self.api.runtime.db.read_session() as session:
            unit = await session.scalar(select(Unit).where(Unit.is_central_school.is_(True)))
            assert unit is not None
            return await self.unit_by_code(unit.code)

    async def relatives(self, unit: Unit) -> dict[str, Unit | None]:
        async with self.api.runtime.db.read_session() as session:
            child = await session.scalar(select(Unit).where(Unit.parent_id == unit.id).order_by(Unit.id))
            sibling = await session.scalar(
                select(Unit).where(Unit.parent_id == unit.parent_id, Unit.id != unit.id).order_by(Unit.id)
            )
            parent = await session.get(Unit, unit.parent_id) if unit.parent_id else None
            for row in (child, sibling, parent):
                if row is not None:
                    session.expunge(row)
        return {"own": unit, "child": child, "sibling": sibling, "parent": parent}

    async def user(self, unit: Unit, roles: frozenset[Role] = frozenset({Role.REGISTRAR})) -> User:
        n = next(self.counter)
        async with self.api.runtime.unit_of_work() as uow:
            user = User(
                username=f"m{n}-{secrets.token_hex(3)}",
                display_name=f"矩阵{n}",
                unit_id=unit.id,
                password_hash=self.hash,
                password_changed_at=DEFAULT_NOW,
                must_change_password=False,
                failed_attempts=0,
                is_active=True,
                created_at=DEFAULT_NOW,
                updated_at=DEFAULT_NOW,
            )
            uow.session.add(user)
            await uow.session.flush()
            uow.session.add_all(UserRole(user_id=user.id, role=role) for role in roles)
        return user

    async def token(self, user: User) -> str:
        """A fresh session for ``user``, with its password reset to the known one."""
        token = secrets.token_urlsafe(24)
        async with self.api.runtime.unit_of_work() as uow:
            row = await uow.session.get(User, user.id)
            assert row is not None
            row.password_hash = self.hash
            uow.session.add(
                AuthSession(
                    token_hash=hash_token(token),
                    user_id=user.id,
                    created_at=DEFAULT_NOW,
                    last_seen_at=DEFAULT_NOW,
                    expires_at=DEFAULT_NOW + timedelta(hours=1),
                )
            )
        return token

    async def delegation(self, unit: Unit, grantee: User | None = None) -> Delegation:
        grantor = await self.user(unit)
        grantee = grantee or await self.user(unit)
        async with self.api.runtime.unit_of_work() as uow:
            row = Delegation(
                grantor_id=grantor.id,
                grantee_id=grantee.id,
                registered_by_id=grantor.id,
                unit_id=unit.id,
                reason="矩阵测试",
                starts_at=DEFAULT_NOW - timedelta(hours=1),
                ends_at=DEFAULT_NOW + timedelta(days=1),
                created_at=DEFAULT_NOW,
            )
            uow.session.add(row)
        return row

    async def audit_rows(self) -> int:
        async with self.api.runtime.db.read_session() as session:
            return int(await session.scalar(select(func.count()).select_from(AuditEntry)) or 0)

    async def school_under(self, parent: Unit) -> Unit:
        """A fresh school directly below ``parent`` (placed by hand: the matrix needs every shape)."""
        code = self.unique_code(UnitKind.SCHOOL)
        async with self.api.runtime.unit_of_work() as uow:
            school = Unit(
                kind=UnitKind.SCHOOL,
                name=f"矩阵学校{code}",
                code=code,
                parent_id=parent.id,
                path=f"{parent.path}pending{code}/",
                depth=parent.depth + 1,
                is_central_school=False,
                stages=["PRIMARY"],
                school_system=SchoolSystem.SIX_THREE,
                is_active=True,
                created_at=DEFAULT_NOW,
                updated_at=DEFAULT_NOW,
            )
            uow.session.add(school)
            await uow.session.flush()
            school.path = f"{parent.path}{school.id}/"
        return school

    async def department_of(self, school: Unit) -> Unit:
        unit = school
        while unit.kind is UnitKind.SCHOOL:
            unit = await self.unit_by_id(unit.parent_id)
        return unit

    async def problem(
        self, school: Unit, state: ProblemState = ProblemState.OPEN, arbiter: Unit | None = None
    ) -> ProblemRecord:
        n = next(self.counter)
        async with self.api.runtime.unit_of_work() as uow:
            record = StudentRecord(
                national_number=f"L3401022016030{n:05d}0"[:19],
                name="张三",
                gender=Gender.MALE,
                birth_date=date(2016, 3, 1),
                id_type=IdType.RESIDENT_ID,
                id_number=f"11010519491231{n:04d}",
                school_id=school.id,
                unit_path=school.path,
                stage=Stage.PRIMARY,
                grade=3,
                status=RecordStatus.IN_SCHOOL,
                created_at=DEFAULT_NOW,
                updated_at=DEFAULT_NOW,
            )
            uow.session.add(record)
            await uow.session.flush()
            problem = ProblemRecord(
                record_id=record.id,
                problem_type=ProblemType.DUPLICATE_WITH_ID,
                group_key=f"k{n}",
                state=state,
                unit_path=school.path,
                graduating_year=False,
                evidence_ids=[1],
                arbiter_id=arbiter.id if arbiter else None,
                created_at=DEFAULT_NOW,
            )
            uow.session.add(problem)
        return problem

    async def upload(self, unit: Unit, data: bytes, purpose: str = "IMPORT") -> int:
        """A stored file uploaded by ``unit``, bytes and row, as the upload endpoint would leave it."""
        sha = await LocalFileStore(self.api.runtime.settings.attachment_dir).put(data)
        async with self.api.runtime.unit_of_work() as uow:
            attachment = Attachment(
                sha256=sha,
                size=len(data),
                content_type=XLSX_TYPE,
                filename="名单.xlsx",
                purpose=purpose,
                unit_id=unit.id,
                unit_path=unit.path,
                uploaded_at=DEFAULT_NOW,
            )
            uow.session.add(attachment)
            await uow.session.flush()
            return attachment.id

    async def continuation(self, school: Unit) -> tuple[ContinuationImport, ContinuationRow]:
        candidate = await self.record(school)
        async with self.api.runtime.unit_of_work() as uow:
            imported = ContinuationImport(
                school_id=school.id,
                unit_path=school.path,
                state="CLASSIFIED",
                target_stage="PRIMARY",
                counts={"TO_CONFIRM": 1},
                created_at=DEFAULT_NOW,
                updated_at=DEFAULT_NOW,
            )
            uow.session.add(imported)
            await uow.session.flush()
            row = ContinuationRow(
                import_id=imported.id,
                row_number=2,
                name=candidate.name,
                gender=candidate.gender,
                birth_date=candidate.birth_date,
                state=ImportRowState.TO_CONFIRM,
                candidate_ids=[candidate.id],
                errors=[],
                details={},
            )
            uow.session.add(row)
            await uow.session.flush()
            return imported, row

    async def proof(self, unit: Unit) -> int:
        async with self.api.runtime.unit_of_work() as uow:
            return await make_proof(uow, unit)

    async def record(self, school: Unit) -> StudentRecord:
        """A complete draft record at ``school``, registered by the system through the records service."""
        n = next(self.counter)
        async with self.api.runtime.unit_of_work() as uow:
            school_class = SchoolClass(
                school_id=school.id,
                name=f"三年级({n})班",
                stage=Stage.PRIMARY,
                grade=3,
                entry_year=2024,
                school_system=SchoolSystem.SIX_THREE,
                created_at=DEFAULT_NOW,
            )
            uow.session.add(school_class)
            await uow.session.flush()
            return await register_student(
                uow,
                actor=SystemActor(),
                kind=RegistrationKind.IN_SCHOOL,
                school_class_id=school_class.id,
                values=student_values(seq=n),
                guardians=GUARDIANS,
            )

    async def school_of(self, target: Unit) -> Unit:
        """``target`` itself if a school, else a school in its subtree (below a second province for the
        ministry, which runs no school and has no division code to number students by)."""
        if target.kind is UnitKind.SCHOOL:
            return target
        if target.kind is UnitKind.MINISTRY:
            async with self.api.runtime.unit_of_work() as uow:
                province = Unit(
                    kind=UnitKind.PROVINCE,
                    name="福建省",
                    code=f"35{next(self.counter):04d}"[:6],
                    parent_id=target.id,
                    path=f"{target.path}pending-fj/",
                    depth=1,
                    stages=[],
                    is_central_school=False,
                    is_active=True,
                    created_at=DEFAULT_NOW,
                    updated_at=DEFAULT_NOW,
                )
                uow.session.add(province)
                await uow.session.flush()
                province.path = f"{target.path}{province.id}/"
            target = province
        return await self.school_under(target)

    def unique_code(self, kind: UnitKind) -> str:
        n = next(self.counter)
        return f"99{n:08d}" if kind is UnitKind.SCHOOL else f"98{n:04d}"


CaseBuilder = Callable[[World, User, Unit | None], Awaitable[Case]]
CASES: dict[str, CaseBuilder] = {}


def case(name: str) -> Callable[[CaseBuilder], CaseBuilder]:
    def register(builder: CaseBuilder) -> CaseBuilder:
        CASES[name] = builder
        return builder

    return register


@case("Query.me")
async def _me(world: World, actor: User, target: Unit | None) -> Case:
    return Case("{ me { user { id } } }", {}, None)


@case("Query.unit")
async def _unit(world: World, actor: User, target: Unit | None) -> Case:
    assert target
    return Case("query($id: ID!) { unit(id: $id) { id } }", {"id": str(target.id)}, target, "unit")


@case("Query.units")
async def _units(world: World, actor: User, target: Unit | None) -> Case:
    assert target
    return Case("query($p: ID) { units(parentId: $p) { nodes { id } } }", {"p": str(target.id)}, target)


@case("Query.user")
async def _user(world: World, actor: User, target: Unit | None) -> Case:
    assert target
    other = await world.user(target)
    return Case("query($id: ID!) { user(id: $id) { id } }", {"id": str(other.id)}, target, "user")


@case("Query.users")
async def _users(world: World, actor: User, target: Unit | None) -> Case:
    assert target
    return Case("query($u: ID) { users(unitId: $u) { nodes { id } } }", {"u": str(target.id)}, target)


@case("Query.delegations")
async def _delegations(world: World, actor: User, target: Unit | None) -> Case:
    return Case("{ delegations { nodes { id } } }", {}, None)


@case("Query.myDelegations")
async def _my_delegations(world: World, actor: User, target: Unit | None) -> Case:
    return Case("{ myDelegations { id } }", {}, None)


@case("Query.studentRecords")
async def _students(world: World, actor: User, target: Unit | None) -> Case:
    assert target
    return Case(
        "query($u: ID) { studentRecords(unitId: $u) { nodes { id } } }", {"u": str(target.id)}, target
    )


@case("Query.changeRequests")
async def _change_requests(world: World, actor: User, target: Unit | None) -> Case:
    assert target
    return Case(
        "query($u: ID) { changeRequests(unitId: $u) { nodes { id } } }", {"u": str(target.id)}, target
    )


@case("Query.changeRequest")
async def _change_request(world: World, actor: User, target: Unit | None) -> Case:
    assert target
    school = await world.school_of(target)
    record = await world.record(school)
    async with world.api.runtime.unit_of_work() as uow:
        request = ChangeRequest(
            record_id=record.id,
            unit_path=school.path,
            changes={"name": [record.name, record.name + "甲"]},
            reason="户口簿更正",
            proof_ids=[],
            state="IN_REVIEW",
            requested_by_id=actor.id,
            created_at=DEFAULT_NOW,
        )
        uow.session.add(request)
        await uow.session.flush()
        request_id = request.id
    return Case(
        "query($id: ID!) { changeRequest(id: $id) { id } }", {"id": str(request_id)}, school, "changeRequest"
    )


@case("Query.continuationImports")
async def _continuation_imports(world: World, actor: User, target: Unit | None) -> Case:
    return Case("{ continuationImports { nodes { id } } }", {}, None)


@case("Query.auditLog")
async def _audit(world: World, actor: User, target: Unit | None) -> Case:
    assert target
    return Case(
        "query($u: ID) { auditLog(filter: {unitId: $u}) { nodes { id } } }", {"u": str(target.id)}, target
    )


@case("Query.calendar")
async def _calendar(world: World, actor: User, target: Unit | None) -> Case:
    return Case("{ calendar(year: 2026) { days { date } } }", {}, None)


@case("Mutation.login")
async def _login(world: World, actor: User, target: Unit | None) -> Case:
    return Case(
        "mutation($u: String!, $p: String!) { login(username: $u, password: $p) { errors { code } token } }",
        {"u": actor.username, "p": PASSWORD},
        None,
    )


@case("Mutation.logout")
async def _logout(world: World, actor: User, target: Unit | None) -> Case:
    return Case("mutation { logout { errors { code } ok } }", {}, None)


@case("Mutation.changePassword")
async def _change_password(world: World, actor: User, target: Unit | None) -> Case:
    new = f"Matrix#New{next(world.counter)}"
    return Case(
        "mutation($c: String!, $n: String!) { changePassword(currentPassword: $c, newPassword: $n) { errors { code } } }",
        {"c": PASSWORD, "n": new},
        None,
    )


@case("Mutation.createUser")
async def _create_user(world: World, actor: User, target: Unit | None) -> Case:
    assert target
    return Case(
        "mutation($i: CreateUserInput!) { createUser(input: $i) { errors { code } user { id } } }",
        {
            "i": {
                "username": f"new{next(world.counter)}",
                "displayName": "新",
                "unitId": str(target.id),
                "roles": ["REGISTRAR"],
            }
        },
        target,
    )


@case("Mutation.updateUser")
async def _update_user(world: World, actor: User, target: Unit | None) -> Case:
    assert target
    other = await world.user(target)
    return Case(
        "mutation($i: UpdateUserInput!) { updateUser(input: $i) { errors { code } user { id } } }",
        {"i": {"userId": str(other.id), "displayName": "改名"}},
        target,
    )


@case("Mutation.resetPassword")
async def _reset_password(world: World, actor: User, target: Unit | None) -> Case:
    assert target
    other = await world.user(target)
    return Case(
        "mutation($u: ID!) { resetPassword(userId: $u) { errors { code } initialPassword } }",
        {"u": str(other.id)},
        target,
    )


@case("Mutation.unlockUser")
async def _unlock_user(world: World, actor: User, target: Unit | None) -> Case:
    assert target
    other = await world.user(target)
    return Case(
        "mutation($u: ID!) { unlockUser(userId: $u) { errors { code } } }", {"u": str(other.id)}, target
    )


@case("Mutation.createUnit")
async def _create_unit(world: World, actor: User, target: Unit | None) -> Case:
    assert target
    kind = CHILD_KIND[target.kind]
    school = {"stages": ["PRIMARY"], "schoolSystem": "SIX_THREE"} if kind is UnitKind.SCHOOL else {}
    if target.kind is UnitKind.SCHOOL and not target.is_central_school:
        kind = UnitKind.SCHOOL  # placement would be refused; reach decides first
    return Case(
        "mutation($i: CreateUnitInput!) { createUnit(input: $i) { errors { code } unit { id } } }",
        {
            "i": {
                "parentId": str(target.id),
                "kind": kind.value,
                "name": "新单位",
                "code": world.unique_code(kind),
                **school,
            }
        },
        target,
        reach_path=f"{target.path}0/",  # the new unit, below the target
    )


@case("Mutation.updateUnit")
async def _update_unit(world: World, actor: User, target: Unit | None) -> Case:
    assert target
    return Case(
        "mutation($i: UpdateUnitInput!) { updateUnit(input: $i) { errors { code } } }",
        {"i": {"unitId": str(target.id), "name": target.name}},
        target,
    )


@case("Mutation.registerDelegation")
async def _register_delegation(world: World, actor: User, target: Unit | None) -> Case:
    assert target
    grantor, grantee = await world.user(target), await world.user(target)
    return Case(
        "mutation($i: RegisterDelegationInput!) { registerDelegation(input: $i) { errors { code } } }",
        {
            "i": {
                "grantorId": str(grantor.id),
                "granteeId": str(grantee.id),
                "startsAt": DEFAULT_NOW.isoformat(),
                "endsAt": (DEFAULT_NOW + timedelta(days=3)).isoformat(),
                "reason": "产假期间代办",
            }
        },
        target,
    )


@case("Mutation.revokeDelegation")
async def _revoke_delegation(world: World, actor: User, target: Unit | None) -> Case:
    assert target
    delegation = await world.delegation(target)
    return Case(
        "mutation($d: ID!) { revokeDelegation(delegationId: $d) { errors { code } } }",
        {"d": str(delegation.id)},
        target,
    )


@case("Mutation.startDelegatedSession")
async def _start_delegated(world: World, actor: User, target: Unit | None) -> Case:
    own = await world.unit_by_id(actor.unit_id)
    delegation = await world.delegation(own, grantee=actor)
    return Case(
        "mutation($d: ID!) { startDelegatedSession(delegationId: $d) { errors { code } token } }",
        {"d": str(delegation.id)},
        None,
    )


@case("Mutation.setCalendarYear")
async def _set_calendar_year(world: World, actor: User, target: Unit | None) -> Case:
    return Case(
        "mutation($i: SetCalendarYearInput!) { setCalendarYear(input: $i) { errors { code } } }",
        {
            "i": {
                "year": 2027,
                "notice": "国务院办公厅关于2027年部分节假日安排的通知",
                "days": [{"date": "2027-01-01", "isWorkday": False, "name": "元旦"}],
            }
        },
        None,
    )


@case("Query.problemRecords")
async def _problems(world: World, actor: User, target: Unit | None) -> Case:
    assert target
    return Case(
        "query($u: ID) { problemRecords(unitId: $u) { nodes { id } } }", {"u": str(target.id)}, target
    )


@case("Mutation.submitProblemEvidence")
async def _submit_evidence(world: World, actor: User, target: Unit | None) -> Case:
    assert target
    school = target if target.kind is UnitKind.SCHOOL else await world.school_under(target)
    problem = await world.problem(school)
    return Case(
        'mutation($p: ID!, $a: ID!) { submitProblemEvidence(problemId: $p, attachmentIds: [$a], note: "户籍证明") '
        "{ errors { code } } }",
        {"p": str(problem.id), "a": str(await world.proof(school))},
        school,
    )


@case("Mutation.reviewProblemEvidence")
async def _review_evidence(world: World, actor: User, target: Unit | None) -> Case:
    assert target
    school = await world.school_under(target)
    problem = await world.problem(school, ProblemState.EVIDENCE_SUBMITTED)
    return Case(
        "mutation($p: ID!) { reviewProblemEvidence(problemId: $p, accept: true) { errors { code } } }",
        {"p": str(problem.id)},
        school,
        acting_unit=await world.department_of(school),
    )


@case("Mutation.arbitrateProblem")
async def _arbitrate(world: World, actor: User, target: Unit | None) -> Case:
    assert target
    school = await world.school_under(target)
    problem = await world.problem(school, ProblemState.ARBITRATION, arbiter=target)
    return Case(
        'mutation($p: ID!, $r: ID!) { arbitrateProblem(problemId: $p, keepRecordId: $r, comment: "保留") '
        "{ errors { code } } }",
        {"p": str(problem.id), "r": str(problem.record_id)},
        school,
        acting_unit=target,
    )


@case("Query.studentRecord")
async def _student_record(world: World, actor: User, target: Unit | None) -> Case:
    assert target
    record = await world.record(await world.school_of(target))
    school = await world.unit_by_id(record.school_id)
    return Case(
        "query($id: ID!) { studentRecord(id: $id) { id } }", {"id": str(record.id)}, school, "studentRecord"
    )


@case("Query.overdueSteps")
async def _overdue_steps(world: World, actor: User, target: Unit | None) -> Case:
    assert target
    return Case(
        'query($u: ID) { overdueSteps(month: "2026-11", unitId: $u) { nodes { stepName } } }',
        {"u": str(target.id)},
        target,
    )


@case("Query.overdueCircular")
async def _overdue_circular(world: World, actor: User, target: Unit | None) -> Case:
    assert target
    return Case(
        'query($u: ID) { overdueCircular(month: "2026-11", unitId: $u) { unitName count } }',
        {"u": str(target.id)},
        target,
    )


@case("Query.toDo")
async def _to_do(world: World, actor: User, target: Unit | None) -> Case:
    return Case("{ toDo { nodes { dueOn } } }", {}, None)


async def _submitted(world: World, target: Unit) -> tuple[StudentRecord, Unit, int]:
    school = await world.school_of(target)
    record = await world.record(school)
    async with world.api.runtime.unit_of_work() as uow:
        await submit_registration(uow, actor=SystemActor(), record_id=record.id)
        instance_id = await uow.session.scalar(
            select(WorkflowInstance.id).where(WorkflowInstance.subject_id == record.id)
        )
    assert instance_id is not None
    return record, school, instance_id


@case("Query.workflow")
async def _workflow(world: World, actor: User, target: Unit | None) -> Case:
    assert target
    _, school, instance_id = await _submitted(world, target)
    return Case("query($id: ID!) { workflow(id: $id) { id } }", {"id": str(instance_id)}, school, "workflow")


@case("Mutation.actOnWorkflow")
async def _act(world: World, actor: User, target: Unit | None) -> Case:
    assert target
    _, school, instance_id = await _submitted(world, target)
    return Case(
        'mutation($w: ID!) { actOnWorkflow(workflowId: $w, action: COMMENT, comment: "请补充材料") { errors { code } } }',
        {"w": str(instance_id)},
        school,
    )


@case("Mutation.registerStudent")
async def _register(world: World, actor: User, target: Unit | None) -> Case:
    assert target
    school = await world.school_of(target)
    async with world.api.runtime.unit_of_work() as uow:
        school_class = SchoolClass(
            school_id=school.id,
            name="三年级(9)班",
            stage=Stage.PRIMARY,
            grade=3,
            entry_year=2024,
            school_system=SchoolSystem.SIX_THREE,
            created_at=DEFAULT_NOW,
        )
        uow.session.add(school_class)
    return Case(
        "mutation($i: RegisterStudentInput!) { registerStudent(input: $i) { errors { code field } } }",
        {
            "i": {
                "kind": "IN_SCHOOL",
                "classId": str(school_class.id),
                "values": student_values(seq=next(world.counter)),
                "guardians": list(GUARDIANS),
            }
        },
        school,
    )


@case("Mutation.updateStudentRecord")
async def _update_record(world: World, actor: User, target: Unit | None) -> Case:
    assert target
    record = await world.record(await world.school_of(target))
    school = await world.unit_by_id(record.school_id)
    return Case(
        'mutation($r: ID!, $v: Int!) { updateStudentRecord(recordId: $r, values: {phone: "13900001111"}, '
        "expectedVersion: $v) { errors { code field } } }",
        {"r": str(record.id), "v": record.version},
        school,
    )


@case("Mutation.submitRegistration")
async def _submit(world: World, actor: User, target: Unit | None) -> Case:
    assert target
    record = await world.record(await world.school_of(target))
    school = await world.unit_by_id(record.school_id)
    return Case(
        "mutation($r: ID!) { submitRegistration(recordId: $r) { errors { code field } } }",
        {"r": str(record.id)},
        school,
    )


@case("Mutation.deleteStudentRecord")
async def _delete(world: World, actor: User, target: Unit | None) -> Case:
    assert target
    record = await world.record(await world.school_of(target))
    school = await world.unit_by_id(record.school_id)
    return Case(
        'mutation($r: ID!) { deleteStudentRecord(recordId: $r, reason: "重复录入") { errors { code } } }',
        {"r": str(record.id)},
        school,
    )


@case("Mutation.requestRecordChange")
async def _request_change(world: World, actor: User, target: Unit | None) -> Case:
    assert target
    record, school, _ = await _submitted(world, target)  # submitted: key information is now controlled
    return Case(
        'mutation($r: ID!, $a: ID!) { requestRecordChange(recordId: $r, values: {name: "张晓明"}, '
        'reason: "户口簿更正", proofIds: [$a]) { errors { code field } } }',
        {"r": str(record.id), "a": str(await world.proof(school))},
        school,
    )


@case("Query.continuationImport")
async def _continuation_import(world: World, actor: User, target: Unit | None) -> Case:
    assert target
    school = await world.school_of(target)
    imported, _ = await world.continuation(school)
    return Case(
        "query($id: ID!) { continuationImport(id: $id) { id } }",
        {"id": str(imported.id)},
        school,
        "continuationImport",
    )


@case("Query.continuationRows")
async def _continuation_rows(world: World, actor: User, target: Unit | None) -> Case:
    assert target
    school = await world.school_of(target)
    imported, _ = await world.continuation(school)
    return Case(
        "query($id: ID!) { continuationRows(importId: $id) { nodes { id } } }",
        {"id": str(imported.id)},
        school,
    )


@case("Mutation.createContinuationImport")
async def _create_continuation(world: World, actor: User, target: Unit | None) -> Case:
    assert target
    school = await world.school_of(target)
    sheet = continuation_xlsx(
        [
            "王小红",
            "女",
            "2019-10-01",
            "居民身份证",
            make_resident_id("340102", date(2019, 10, 1), 1, Gender.FEMALE),
        ]
    )
    attachment = await world.upload(school, sheet)
    return Case(
        "mutation($a: ID!) { createContinuationImport(attachmentId: $a, targetStage: PRIMARY) { errors { code } } }",
        {"a": str(attachment)},
        school,
    )


@case("Mutation.confirmContinuationCandidate")
async def _confirm_candidate(world: World, actor: User, target: Unit | None) -> Case:
    assert target
    school = await world.school_of(target)
    _, row = await world.continuation(school)
    return Case(
        "mutation($r: ID!, $c: ID) { confirmContinuationCandidate(rowId: $r, recordId: $c) { errors { code } } }",
        {"r": str(row.id), "c": str(row.candidate_ids[0])},
        school,
    )


@case("Mutation.applyContinuationSheet")
async def _apply_sheet(world: World, actor: User, target: Unit | None) -> Case:
    assert target
    school = await world.school_of(target)
    imported, _ = await world.continuation(school)
    attachment = await world.upload(school, continuation_xlsx(["王小红", "女", "2019-10-01", "无", ""]))
    return Case(
        "mutation($i: ID!, $a: ID!) { applyContinuationSheet(importId: $i, attachmentId: $a) { errors { code } } }",
        {"i": str(imported.id), "a": str(attachment)},
        school,
        accepted_codes=frozenset({"IMPORT_COLUMNS"}),  # a list, not the exported sheet: refused by its rules
    )


@case("Mutation.decideContinuation")
async def _decide_continuation(world: World, actor: User, target: Unit | None) -> Case:
    assert target
    school = await world.school_of(target)
    _, row = await world.continuation(school)
    return Case(
        "mutation($r: ID!) { decideContinuation(rowId: $r, proceed: true) { errors { code } } }",
        {"r": str(row.id)},
        school,
        accepted_codes=frozenset({"ROW_STATE"}),  # a primary list has no REG-9 choice to make
    )


@case("Mutation.registerContinuationRows")
async def _register_continuation_rows(world: World, actor: User, target: Unit | None) -> Case:
    assert target
    school = await world.school_of(target)
    imported, _ = await world.continuation(school)
    async with world.api.runtime.unit_of_work() as uow:
        grade1 = SchoolClass(
            school_id=school.id,
            name=f"一年级({next(world.counter)})班",
            stage=Stage.PRIMARY,
            grade=1,
            entry_year=2026,
            school_system=SchoolSystem.SIX_THREE,
            created_at=DEFAULT_NOW,
        )
        uow.session.add(grade1)
        await uow.session.flush()
        class_id = grade1.id
    return Case(
        "mutation($i: ID!, $c: ID!) { registerContinuationRows(importId: $i, schoolClassId: $c) "
        "{ errors { code } } }",
        {"i": str(imported.id), "c": str(class_id)},
        school,
        # 25 November is outside the primary new-student window (REG-2): refused by the rules.
        accepted_codes=frozenset({"REGISTRATION_CLOSED"}),
    )


@case("Mutation.importRegistrationList")
async def _import_registration_list(world: World, actor: User, target: Unit | None) -> Case:
    assert target
    school = await world.school_of(target)
    attachment = await world.upload(school, registration_list_xlsx([["没有的班", "王小红"]]))
    return Case(
        "mutation($a: ID!) { importRegistrationList(attachmentId: $a) { errors { code } rowErrors } }",
        {"a": str(attachment)},
        school,
    )


def registration_list_xlsx(rows: list[list[Any]]) -> bytes:
    """An in-school registration list with every required column; rows fill its first columns."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(list(registration_list.REQUIRED))
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


@case("Mutation.revealIdNumber")
async def _reveal(world: World, actor: User, target: Unit | None) -> Case:
    assert target
    record = await world.record(await world.school_of(target))
    school = await world.unit_by_id(record.school_id)
    return Case(
        "mutation($r: ID!) { revealIdNumber(recordId: $r) { errors { code } idNumber } }",
        {"r": str(record.id)},
        school,
    )


@case("Query.schoolClasses")
async def _school_classes(world: World, actor: User, target: Unit | None) -> Case:
    assert target
    school = await world.school_of(target)
    return Case("query($s: ID) { schoolClasses(schoolId: $s) { id } }", {"s": str(school.id)}, school)


@case("Query.notifications")
async def _notifications(world: World, actor: User, target: Unit | None) -> Case:
    return Case("{ notifications { seq } }", {}, None)


@case("Mutation.markNotificationsRead")
async def _mark_read(world: World, actor: User, target: Unit | None) -> Case:
    return Case("mutation { markNotificationsRead(upTo: 1) { errors { code } marked } }", {}, None)


@case("Subscription.notifications")
async def _notifications_feed(world: World, actor: User, target: Unit | None) -> Case:
    # One notification waiting, so that an allowed subscription answers at once.
    async with world.api.runtime.unit_of_work() as uow:
        await notify_users(uow, [actor.id], NotificationKind.MESSAGE, {"text": "测试"})
    return Case("subscription { notifications(after: 0) { seq kind } }", {}, None)


@case("Subscription.todoChanged")
async def _todo_changed(world: World, actor: User, target: Unit | None) -> Case:
    return Case("subscription { todoChanged { count } }", {}, None)


@case("Query.notificationPreferences")
async def _notification_preferences(world: World, actor: User, target: Unit | None) -> Case:
    return Case("{ notificationPreferences { dailyDigest } }", {}, None)


@case("Mutation.setNotificationPreferences")
async def _set_notification_preferences(world: World, actor: User, target: Unit | None) -> Case:
    return Case(
        "mutation($i: SetNotificationPreferencesInput!) { setNotificationPreferences(input: $i) { errors { code } } }",
        {"i": {"channels": [{"kind": "DECIDED", "channels": ["EMAIL", "SMS"]}], "dailyDigest": True}},
        None,
    )


@case("Subscription.serverTime")
async def _server_time(world: World, actor: User, target: Unit | None) -> Case:
    return Case("subscription { serverTime(count: 1) }", {}, None)


@case("Query.controlledFields")
async def _controlled_fields(world: World, actor: User, target: Unit | None) -> Case:
    assert target
    return Case(
        "query($u: ID) { controlledFields(unitId: $u) { effectiveKeys } }", {"u": str(target.id)}, target
    )


async def _province_of(world: World, unit: Unit) -> Unit:
    """The province ``unit`` lies in (or is); for the ministry, a second province below it."""
    if unit.kind is UnitKind.MINISTRY:
        unit = await world.school_of(unit)  # builds the second province, with a school in it
    while unit.kind is not UnitKind.PROVINCE:
        unit = await world.unit_by_id(unit.parent_id)
    return unit


@case("Query.provinceSettings")
async def _province_settings(world: World, actor: User, target: Unit | None) -> Case:
    assert target
    province = await _province_of(world, target)
    own = await world.unit_by_id(actor.unit_id)
    # Every unit inside a province reads its windows (a school must know when registration opens): for
    # the province on the caller's own line, reach is judged at the caller's unit; another province is
    # judged where it stands.
    inside = own.path.startswith(province.path)
    return Case(
        "query($p: ID) { provinceSettings(provinceId: $p) { settings { key } } }",
        {"p": str(province.id)},
        province,
        reach_path=own.path if inside else None,
    )


@case("Mutation.setProvinceSetting")
async def _set_province_setting(world: World, actor: User, target: Unit | None) -> Case:
    assert target
    province = await _province_of(world, target)
    return Case(
        'mutation($p: ID!) { setProvinceSetting(provinceId: $p, key: "switch.primary_new_enabled", value: false) '
        "{ errors { code } } }",
        {"p": str(province.id)},
        province,
    )


@case("Mutation.addControlledField")
async def _add_controlled_field(world: World, actor: User, target: Unit | None) -> Case:
    own = await world.unit_by_id(actor.unit_id)
    # Not yet in force at the caller's level, so that an accepted call declares it (and is audited).
    async with world.api.runtime.unit_of_work() as uow:
        await uow.session.execute(
            delete(ControlledField).where(
                ControlledField.unit_id.in_(path_ids(own.path)), ControlledField.field_key == "phone"
            )
        )
    return Case('mutation { addControlledField(fieldKey: "phone") { errors { code } } }', {}, None)


@case("Mutation.removeControlledField")
async def _remove_controlled_field(world: World, actor: User, target: Unit | None) -> Case:
    own = await world.unit_by_id(actor.unit_id)
    # Declared by the caller's own department, so that an accepted call removes it (and is audited).
    async with world.api.runtime.unit_of_work() as uow:
        declared = await uow.session.scalar(
            select(ControlledField.id).where(
                ControlledField.unit_id == own.id, ControlledField.field_key == "phone"
            )
        )
        if declared is None and own.kind is not UnitKind.SCHOOL:
            uow.session.add(ControlledField(unit_id=own.id, field_key="phone", created_at=DEFAULT_NOW))
    return Case('mutation { removeControlledField(fieldKey: "phone") { errors { code } } }', {}, None)


async def _status_change(world: World, school: Unit) -> int:
    """A suspension in review for a student of ``school``, stored directly (the matrix needs only a row)."""
    from backend.models import StatusChange
    from backend.models.enums import BusinessState, StatusChangeType

    record = await world.record(school)
    async with world.api.runtime.unit_of_work() as uow:
        change = StatusChange(
            record_id=record.id,
            school_id=school.id,
            unit_path=school.path,
            change_type=StatusChangeType.SUSPENSION,
            reason="因病休学",
            proof_ids=[],
            details={},
            from_status=RecordStatus.IN_SCHOOL,
            to_status=RecordStatus.SUSPENDED,
            from_grade=3,
            to_grade=3,
            state=BusinessState.IN_REVIEW,
            created_at=DEFAULT_NOW,
        )
        uow.session.add(change)
        await uow.session.flush()
        return change.id


@case("Query.statusChanges")
async def _status_changes(world: World, actor: User, target: Unit | None) -> Case:
    assert target
    return Case("query($u: ID) { statusChanges(unitId: $u) { nodes { id } } }", {"u": str(target.id)}, target)


@case("Query.statusChange")
async def _status_change_one(world: World, actor: User, target: Unit | None) -> Case:
    assert target
    school = await world.school_of(target)
    change_id = await _status_change(world, school)
    return Case(
        "query($id: ID!) { statusChange(id: $id) { id } }", {"id": str(change_id)}, school, "statusChange"
    )


@case("Query.compulsoryDropouts")
async def _compulsory_dropouts(world: World, actor: User, target: Unit | None) -> Case:
    assert target
    return Case(
        "query($u: ID) { compulsoryDropouts(unitId: $u) { nodes { id } } }", {"u": str(target.id)}, target
    )


@case("Mutation.requestStatusChange")
async def _request_status_change(world: World, actor: User, target: Unit | None) -> Case:
    assert target
    from backend.models.enums import RegistrationState

    school = await world.school_of(target)
    record = await world.record(school)
    async with world.api.runtime.unit_of_work() as uow:  # formally registered: status changes need it
        row = await uow.session.get(StudentRecord, record.id)
        assert row is not None
        row.registration_state = RegistrationState.REGISTERED
    return Case(
        'mutation($r: ID!, $a: ID!) { requestStatusChange(recordId: $r, changeType: SUSPENSION, reason: "因病休学", '
        "proofIds: [$a]) { errors { code field } } }",
        {"r": str(record.id), "a": str(await world.proof(school))},
        school,
    )


async def _registered(
    world: World, school: Unit, status: RecordStatus = RecordStatus.IN_SCHOOL
) -> StudentRecord:
    """A formally registered grade-3 record at ``school`` (transfers take only those), stored directly.

    Each has its own birth date in a region the demo leaves alone, so the ID numbers stay distinct however
    many the matrix builds.
    """
    from backend.domain.records.national_numbers import g_number
    from backend.models.enums import NumberKind, RegistrationState

    n = next(world.counter)
    birth = date(2012, 1, 1) + timedelta(days=n)
    id_number = make_resident_id("110105", birth, 0, Gender.MALE)
    async with world.api.runtime.unit_of_work() as uow:
        record = StudentRecord(
            national_number=g_number(id_number),
            number_kind=NumberKind.G,
            name="张三",
            gender=Gender.MALE,
            birth_date=birth,
            id_type=IdType.RESIDENT_ID,
            id_number=id_number,
            school_id=school.id,
            unit_path=school.path,
            stage=Stage.PRIMARY,
            grade=3,
            status=status,
            registration_state=RegistrationState.REGISTERED,
            created_at=DEFAULT_NOW,
            updated_at=DEFAULT_NOW,
        )
        uow.session.add(record)
        await uow.session.flush()
        return record


async def _foreign_school(world: World) -> Unit:
    """A school in a province of its own: no matrix actor's jurisdiction reaches it."""
    return await world.school_of(await world.unit_by_code("000000"))


async def _class_at(world: World, school: Unit, grade: int, stage: Stage = Stage.PRIMARY) -> int:
    async with world.api.runtime.unit_of_work() as uow:
        school_class = SchoolClass(
            school_id=school.id,
            name=f"{grade}年级({next(world.counter)})班",
            stage=stage,
            grade=grade,
            entry_year=2024,
            school_system=SchoolSystem.SIX_THREE,
            created_at=DEFAULT_NOW,
        )
        uow.session.add(school_class)
        await uow.session.flush()
        return school_class.id


async def _transfer_row(world: World, receiving: Unit, sending: Unit) -> int:
    """A transfer in review into ``receiving``, stored directly (the read and retrieval cases need a row)."""
    from backend.models import Transfer
    from backend.models.enums import BusinessState, TransferKind

    record = await _registered(world, sending)
    async with world.api.runtime.unit_of_work() as uow:
        transfer = Transfer(
            kind=TransferKind.TRANSFER,
            record_id=record.id,
            cross_province=True,
            receiving_school_id=receiving.id,
            receiving_path=receiving.path,
            sending_school_id=sending.id,
            sending_path=sending.path,
            reason="随父母工作调动",
            application_ids=[],
            offline=False,
            details={},
            state=BusinessState.IN_REVIEW,
            created_at=DEFAULT_NOW,
        )
        uow.session.add(transfer)
        await uow.session.flush()
        return transfer.id


@case("Query.transfers")
async def _transfers(world: World, actor: User, target: Unit | None) -> Case:
    assert target
    return Case("query($u: ID) { transfers(unitId: $u) { nodes { id } } }", {"u": str(target.id)}, target)


@case("Query.transfer")
async def _transfer(world: World, actor: User, target: Unit | None) -> Case:
    assert target
    receiving = await world.school_of(target)
    transfer_id = await _transfer_row(world, receiving, await _foreign_school(world))
    return Case(
        "query($id: ID!) { transfer(id: $id) { id } }", {"id": str(transfer_id)}, receiving, "transfer"
    )


@case("Query.studentForTransfer")
async def _student_for_transfer(world: World, actor: User, target: Unit | None) -> Case:
    record = await _registered(world, await world.school_under(await world.unit_by_code("340102")))
    return Case(
        "query($n: String!, $m: String!) { studentForTransfer(nationalNumber: $n, name: $m) { maskedName } }",
        {"n": record.national_number, "m": record.name},
        None,
    )


@case("Query.postGraduationRejectionReasons")
async def _rejection_reasons(world: World, actor: User, target: Unit | None) -> Case:
    return Case("{ postGraduationRejectionReasons { code label } }", {}, None)


@case("Mutation.startTransfer")
async def _start_transfer(world: World, actor: User, target: Unit | None) -> Case:
    assert target
    receiving = await world.school_of(target)
    record = await _registered(world, await world.school_under(await world.unit_by_code("340102")))
    return Case(
        "mutation($i: StartTransferInput!) { startTransfer(input: $i) { errors { code field } } }",
        {
            "i": {
                "nationalNumber": record.national_number,
                "name": record.name,
                "targetClassId": str(await _class_at(world, receiving, record.grade)),
                "reason": "随父母工作调动",
                "applicationIds": [str(await world.proof(receiving))],
            }
        },
        receiving,
    )


@case("Mutation.retrieveTransferFile")
async def _retrieve_transfer_file(world: World, actor: User, target: Unit | None) -> Case:
    assert target
    receiving = await world.school_of(target)
    transfer_id = await _transfer_row(world, receiving, await _foreign_school(world))
    return Case(
        "mutation($t: ID!) { retrieveTransferFile(transferId: $t, reported: true) { errors { code } } }",
        {"t": str(transfer_id)},
        receiving,
        accepted_codes=frozenset({"NOT_AWAITING_RETRIEVAL"}),  # still in review: refused by TRF-2
    )


@case("Mutation.startPostGraduationStudy")
async def _start_post_graduation_study(world: World, actor: User, target: Unit | None) -> Case:
    assert target
    receiving = await world.school_of(target)
    record = await _registered(world, await _foreign_school(world), RecordStatus.GRADUATED)
    return Case(
        "mutation($i: StartPostGraduationStudyInput!) { startPostGraduationStudy(input: $i) { errors { code } } }",
        {
            "i": {
                "nationalNumber": record.national_number,
                "name": record.name,
                "targetClassId": str(await _class_at(world, receiving, 7, Stage.JUNIOR)),
                "reason": "随父母到本省就学",
            }
        },
        receiving,
    )


@case("Mutation.rejectPostGraduationStudy")
async def _reject_post_graduation_study(world: World, actor: User, target: Unit | None) -> Case:
    assert target
    from backend.domain.transfers.service import start_post_graduation_study
    from backend.domain.workflows.engine import act

    graduating = await world.school_of(target)
    record = await _registered(world, graduating, RecordStatus.GRADUATED)
    receiving = await _foreign_school(world)
    class_id = await _class_at(world, receiving, 7, Stage.JUNIOR)
    starter = await world.user(receiving)
    leader = await world.user(receiving, frozenset({Role.LEADER}))
    department = await world.user(await world.department_of(receiving))
    async with world.api.runtime.unit_of_work() as uow:  # the receiving side has approved: the graduating
        session = uow.session  # county's step is pending
        view = await start_post_graduation_study(
            uow,
            actor=await actor_for(session, await session.get(User, starter.id)),
            national_number=record.national_number,
            name=record.name,
            target_class_id=class_id,
            reason="随父母到外省就学",
        )
        for approver in (leader, department):
            who = await actor_for(session, await session.get(User, approver.id))
            await act(
                uow, actor=who, instance_id=view.transfer.workflow_id or 0, action="approve", comment=None
            )
        roles = set(await session.scalars(select(UserRole.role).where(UserRole.user_id == actor.id)))
    # The step is the graduating county's registrar's: its leader is as much a bystander as another unit.
    acting = await world.department_of(graduating) if Role.REGISTRAR in roles else receiving
    return Case(
        'mutation($t: ID!) { rejectPostGraduationStudy(transferId: $t, reasonCode: "IDENTITY_MISMATCH") '
        "{ errors { code } } }",
        {"t": str(view.transfer.id)},
        graduating,
        acting_unit=acting,
    )


@case("Query.loginCompliance")
async def _login_compliance(world: World, actor: User, target: Unit | None) -> Case:
    assert target
    return Case(
        "query($u: ID) { loginCompliance(unitId: $u) { total { accounts } } }", {"u": str(target.id)}, target
    )


def classify(body: dict[str, Any], case: Case) -> str:
    codes = [e.get("extensions", {}).get("code") for e in body.get("errors") or []]
    data = body.get("data") or {}
    for value in data.values():
        if isinstance(value, dict) and value.get("errors"):
            codes += [e["code"] for e in value["errors"]]
    if codes:
        return codes[0] if len(set(codes)) == 1 else ",".join(codes)
    if case.empty_means_not_found and data.get(case.empty_means_not_found) is None:
        return "NOT_FOUND"
    return "ALLOWED"


async def run(world: World, root: str, case: Case, token: str) -> dict[str, Any]:
    if root != "Subscription":
        return await world.api.post(case.document, case.variables, token=token)
    schema = world.api.graphql_app.schema
    request = Request(
        {"type": "http", "headers": [(b"authorization", f"Bearer {token}".encode())], "client": None}
    )
    context = Context(runtime=world.api.runtime, request=request)
    try:
        stream = await schema.subscribe(case.document, context_value=context, variable_values=case.variables)
        if not hasattr(stream, "__anext__"):
            return {"errors": [e.formatted for e in stream.errors or []]}
        first = await anext(stream)
        await stream.aclose()
    finally:
        await context.close()
    return {"data": first.data, "errors": [e.formatted for e in first.errors or []] or None}


@pytest.mark.parametrize(("root", "name", "operation"), root_fields(), ids=lambda v: str(v))
async def test_permission_matrix(
    api: Api, root: str, name: str, operation: Any
) -> None:  # RULES: ORG-2, ORG-3
    key = f"{root}.{name}"
    assert operation is not None, f"{key} declares no operation (metadata=performs(...))"
    assert key in CASES, f"{key} has no permission-matrix case: add one in {__name__}"
    world = World(api)
    mismatches: list[str] = []
    for level, code in LEVELS.items():
        unit = await world.unit_by_code(code) if code else await world.central_school()
        relatives = await world.relatives(unit)
        for role in Role:
            actor_user = await world.user(unit, frozenset({role}))
            async with api.runtime.db.read_session() as session:
                actor = await actor_for(session, await session.get(User, actor_user.id))
            for relation in RELATIONS:
                target = relatives[relation]
                if target is None:
                    continue  # the province has no sibling in the demo
                built = await CASES[key](world, actor_user, target)
                if operation == PUBLIC:
                    expected = "ALLOWED"
                elif not may(actor, operation):
                    expected = "FORBIDDEN"
                elif built.target is not None and not within_reach(
                    actor, operation, built.reach_path or built.target.path
                ):
                    expected = "NOT_FOUND"
                elif built.acting_unit is not None and built.acting_unit.id != actor.unit_id:
                    expected = "FORBIDDEN"
                else:
                    expected = "ALLOWED"
                token = await world.token(actor_user)
                audited_before = await world.audit_rows()
                got = classify(await run(world, root, built, token), built)
                business_refusal = got in built.accepted_codes
                if business_refusal:
                    got = "ALLOWED"
                if got != expected:
                    mismatches.append(f"{level} {role} → {relation}: expected {expected}, got {got}")
                elif root == "Mutation" and not business_refusal:
                    # SEC-7: an accepted mutation leaves an audit row; a refused one changes nothing.
                    written = await world.audit_rows() - audited_before
                    if (got == "ALLOWED") != (written > 0):
                        mismatches.append(f"{level} {role} → {relation}: {got} but {written} audit rows")
    assert mismatches == []
