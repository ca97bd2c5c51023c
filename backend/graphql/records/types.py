"""GraphQL types of student records (the records issue extends them)."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from backend.domain.records.fields import json_value, record_values
from backend.domain.records.id_numbers import mask_changes, mask_id_number
from backend.graphql.edge import context
from backend.graphql.enums import (
    Gender,
    IdType,
    NumberKind,
    RecordStatus,
    RegistrationKind,
    RegistrationState,
    Stage,
)
from backend.graphql.units.types import UnitType
from backend.models import Guardian, NationalNumberHistory, RecordHistory, SchoolClass
from backend.models import StudentRecord as StudentRecordModel

if TYPE_CHECKING:
    from backend.graphql.problems.types import ProblemRecordType
    from backend.graphql.workflows.schema import WorkflowType


def mask_national_number(number: str) -> str:
    """A G number is "G" + the ID number, so it is masked like one; J and L numbers carry no ID."""
    if number.startswith("G"):
        return "G" + (mask_id_number(number[1:]) or "")
    return number


@strawberry.type(name="Guardian", description="家庭成员或监护人")
class GuardianType:
    name: str
    relation: str
    is_guardian: bool
    phone: str | None
    employer: str | None
    address: str | None
    masked_id_number: str | None

    @classmethod
    def from_model(cls, row: Guardian) -> GuardianType:
        return cls(
            name=row.name,
            relation=row.relation,
            is_guardian=row.is_guardian,
            phone=row.phone,
            employer=row.employer,
            address=row.address,
            masked_id_number=mask_id_number(row.id_number),
        )


@strawberry.type(
    name="RecordChange", description="学籍的一次变动：何人、何时、何因、由何值改为何值、证明材料"
)
class RecordChangeType:
    at: datetime
    kind: str
    user_id: strawberry.ID | None
    reason: str | None
    changes: dict[str, Any] = strawberry.field(graphql_type=JSON, description="{字段: [原值, 新值]}")
    proof_ids: list[strawberry.ID]

    @classmethod
    def from_model(cls, row: RecordHistory) -> RecordChangeType:
        changes = mask_changes(row.changes)  # full numbers only through revealIdNumber (audited)
        return cls(
            at=row.at,
            kind=row.kind,
            user_id=None if row.user_id is None else strawberry.ID(str(row.user_id)),
            reason=row.reason,
            changes=changes,
            proof_ids=[strawberry.ID(str(i)) for i in row.proof_ids],
        )


@strawberry.type(name="SchoolClass", description="班级")
class SchoolClassType:
    id: strawberry.ID
    name: str
    stage: Stage
    grade: int
    entry_year: int

    @classmethod
    def from_model(cls, row: SchoolClass) -> SchoolClassType:
        return cls(
            id=strawberry.ID(str(row.id)),
            name=row.name,
            stage=row.stage,
            grade=row.grade,
            entry_year=row.entry_year,
        )

    @classmethod
    async def load(cls, info: Info, class_id: int | None) -> SchoolClassType | None:
        """The class by id through the request's DataLoader; None when there is none."""
        if class_id is None:
            return None
        row = await context(info).loaders.school_class.load(class_id)
        return None if row is None else cls.from_model(row)


@strawberry.type(
    name="NationalNumberEntry", description="学籍曾用或现用的一个全国学籍号（NUM-2、NUM-5、NUM-6）"
)
class NationalNumberEntryType:
    number: str = strawberry.field(description="G 号按身份证号规则脱敏")
    kind: NumberKind
    valid_from: datetime
    valid_until: datetime | None = strawberry.field(description="为空表示现用")
    reason: str

    @classmethod
    def from_model(cls, row: NationalNumberHistory) -> NationalNumberEntryType:
        return cls(
            number=mask_national_number(row.number),
            kind=row.kind,
            valid_from=row.valid_from,
            valid_until=row.valid_until,
            reason=row.reason,
        )


@strawberry.type(name="StudentRecord", description="学籍")
class StudentRecordType:
    id: strawberry.ID
    national_number: str = strawberry.field(
        description="全国学籍号：G、J 为正式学籍号，L 为临时学籍号；G 号含身份证号，按身份证号规则脱敏"
    )
    name: str
    gender: Gender
    birth_date: date
    id_type: IdType
    masked_id_number: str | None = strawberry.field(description="脱敏的身份证件号：显示前6位和后4位")
    stage: Stage
    grade: int
    status: RecordStatus
    registration_state: RegistrationState
    number_kind: NumberKind
    registration_kind: RegistrationKind
    registered_at: datetime | None = strawberry.field(description="首次正式注册时间")
    photo_id: strawberry.ID | None = strawberry.field(description="照片附件，经 GET /attachments/{id} 下载")
    version: int = strawberry.field(description="乐观锁版本号：修改时原样传回")
    _school_id: strawberry.Private[int]
    _class_id: strawberry.Private[int | None]
    _row: strawberry.Private[StudentRecordModel]

    @classmethod
    def from_model(cls, row: StudentRecordModel) -> StudentRecordType:
        return cls(
            id=strawberry.ID(str(row.id)),
            national_number=mask_national_number(row.national_number),
            name=row.name,
            gender=row.gender,
            birth_date=row.birth_date,
            id_type=row.id_type,
            masked_id_number=mask_id_number(row.id_number),
            stage=row.stage,
            grade=row.grade,
            status=row.status,
            registration_state=row.registration_state,
            number_kind=row.number_kind,
            registration_kind=row.registration_kind,
            registered_at=row.registered_at,
            photo_id=None if row.photo_id is None else strawberry.ID(str(row.photo_id)),
            version=row.version,
            _school_id=row.school_id,
            _class_id=row.class_id,
            _row=row,
        )

    @strawberry.field(description="学籍信息各字段（键为字段目录中的英文键，身份证件号已脱敏）")
    def fields(self) -> JSON:
        values = {key: json_value(value) for key, value in record_values(self._row).items()}
        values["idNumber"] = mask_id_number(values.get("idNumber"))
        return values  # type: ignore[return-value]

    @strawberry.field(description="变动历史（SEC-7），按时间先后")
    async def history(self, info: Info) -> list[RecordChangeType]:
        rows = await context(info).loaders.history.load(int(self.id))
        return [RecordChangeType.from_model(r) for r in rows]

    @strawberry.field(description="学籍号历史：曾用和现用的全国学籍号，按时间先后")
    async def number_history(self, info: Info) -> list[NationalNumberEntryType]:
        rows = await context(info).loaders.number_history.load(int(self.id))
        return [NationalNumberEntryType.from_model(r) for r in rows]

    @strawberry.field(description="该学籍涉及的问题学籍（含已解决的）")
    async def problems(
        self, info: Info
    ) -> list[Annotated[ProblemRecordType, strawberry.lazy("backend.graphql.problems.types")]]:
        from backend.graphql.problems.types import ProblemRecordType

        rows = await context(info).loaders.problems.load(int(self.id))
        return [ProblemRecordType.from_model(r) for r in rows]

    @strawberry.field(description="该生的各项业务：注册核办、信息变更、异动、转学，按发起先后")
    async def businesses(
        self, info: Info
    ) -> list[Annotated[WorkflowType, strawberry.lazy("backend.graphql.workflows.schema")]]:
        from backend.graphql.workflows.schema import WorkflowType

        rows = await context(info).loaders.businesses.load(int(self.id))
        return [WorkflowType.from_model(r) for r in rows]

    @strawberry.field(description="家庭成员或监护人（身份证件号已脱敏）")
    async def guardians(self, info: Info) -> list[GuardianType]:
        rows = await context(info).loaders.guardians.load(int(self.id))
        return [GuardianType.from_model(g) for g in rows]

    @strawberry.field
    async def school(self, info: Info) -> UnitType:
        unit = await context(info).loaders.unit.load(self._school_id)
        assert unit is not None
        return UnitType.from_model(unit)

    @strawberry.field(name="class")
    async def school_class(self, info: Info) -> SchoolClassType | None:
        return await SchoolClassType.load(info, self._class_id)
