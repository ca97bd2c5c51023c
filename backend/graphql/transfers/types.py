"""GraphQL types of transfers and post-graduation study (TRF-1..11)."""

from __future__ import annotations

from datetime import date, datetime

import strawberry
from strawberry.types import Info

from backend.domain.errors import DomainError
from backend.domain.transfers.queries import TransferDirection, TransferView
from backend.domain.transfers.rules import RejectionReason
from backend.domain.transfers.service import StudentLookup, mask_national_number
from backend.graphql.edge import context, parse_id
from backend.graphql.enums import BusinessState, Gender, RecordStatus, Stage, TransferKind
from backend.graphql.errors import UserError
from backend.graphql.records.types import SchoolClassType
from backend.graphql.units.types import UnitType

strawberry.enum(TransferDirection, description="转入（IN）、转出（OUT）或两者（ALL），相对本人管辖范围")


@strawberry.type(description="审核人须注意的提示（不阻止办理），如跨省入学儿童8月31日未满6周岁（TRF-11）")
class TransferWarning:
    code: str
    message: str


@strawberry.type(description="申请调整的年级（TRF-8：须经转入地主管部门审核）")
class GradeChange:
    from_grade: int
    to_grade: int


@strawberry.type(
    name="RejectionReason", description="毕业学校主管部门不同意毕业后跨省就学的规定理由（TRF-10）"
)
class RejectionReasonType:
    code: str
    label: str

    @classmethod
    def from_domain(cls, reason: RejectionReason) -> RejectionReasonType:
        return cls(code=reason.code, label=reason.label)


@strawberry.type(description="转学涉及的学生：审核所需的基本信息（学籍号已脱敏）")
class TransferStudent:
    name: str
    gender: Gender
    birth_date: date
    national_number: str
    stage: Stage
    grade: int
    status: RecordStatus


@strawberry.type(name="Transfer", description="一项转学或毕业后跨省就学业务")
class TransferType:
    id: strawberry.ID
    kind: TransferKind
    state: BusinessState = strawberry.field(
        description="审核中、待调档（跨省业务四方审核通过后）、已办结、退回、撤回、已取消"
    )
    cross_province: bool
    offline: bool = strawberry.field(description="线下已先行办理、事后补录的转学（TRF-7）")
    reason: str
    national_number: str | None = strawberry.field(description="转入学校填报的全国学籍号（已脱敏）")
    target_grade: int | None
    grade_change: GradeChange | None
    application_ids: list[strawberry.ID] = strawberry.field(description="转学申请等证明材料附件")
    warnings: list[TransferWarning]
    rejection: RejectionReasonType | None = strawberry.field(description="毕业学校主管部门不同意的规定理由")
    created_at: datetime
    approved_at: datetime | None = strawberry.field(description="最后一方审核通过的时间")
    completed_at: datetime | None
    retrieval_due_on: date | None = strawberry.field(
        description="调档截止日（最后一方审核通过后10个工作日，TRF-3）"
    )
    pending_step: str | None = strawberry.field(description="当前待办理的环节")
    workflow_id: strawberry.ID | None = strawberry.field(
        description="审核流程，在待办和 actOnWorkflow 中使用"
    )
    record_id: strawberry.ID
    _receiving_school_id: strawberry.Private[int]
    _sending_school_id: strawberry.Private[int]
    _target_class_id: strawberry.Private[int | None]

    @classmethod
    def from_view(cls, view: TransferView) -> TransferType:
        row = view.transfer
        change = row.details.get("gradeChangeRequested")
        rejection = row.details.get("rejection")
        return cls(
            id=strawberry.ID(str(row.id)),
            kind=row.kind,
            state=view.state,
            cross_province=row.cross_province,
            offline=row.offline,
            reason=row.reason,
            national_number=None
            if row.national_number is None
            else mask_national_number(row.national_number),
            target_grade=row.target_grade,
            grade_change=GradeChange(from_grade=change["from"], to_grade=change["to"])
            if isinstance(change, dict)
            else None,
            application_ids=[strawberry.ID(str(i)) for i in row.application_ids],
            warnings=[TransferWarning(code=w["code"], message=w["message"]) for w in view.warnings],
            rejection=RejectionReasonType(code=rejection["code"], label=rejection["label"])
            if isinstance(rejection, dict)
            else None,
            created_at=row.created_at,
            approved_at=view.approved_at,
            completed_at=row.completed_at,
            retrieval_due_on=view.retrieval_due_on,
            pending_step=None if view.pending_step is None else view.pending_step.name,
            workflow_id=None if row.workflow_id is None else strawberry.ID(str(row.workflow_id)),
            record_id=strawberry.ID(str(row.record_id)),
            _receiving_school_id=row.receiving_school_id,
            _sending_school_id=row.sending_school_id,
            _target_class_id=row.target_class_id,
        )

    @strawberry.field(description="转入学校")
    async def receiving_school(self, info: Info) -> UnitType:
        unit = await context(info).loaders.unit.load(self._receiving_school_id)
        assert unit is not None
        return UnitType.from_model(unit)

    @strawberry.field(description="转出学校（毕业后跨省就学为毕业学校）")
    async def sending_school(self, info: Info) -> UnitType:
        unit = await context(info).loaders.unit.load(self._sending_school_id)
        assert unit is not None
        return UnitType.from_model(unit)

    @strawberry.field(name="targetClass", description="转入班级")
    async def target_class(self, info: Info) -> SchoolClassType | None:
        return await SchoolClassType.load(info, self._target_class_id)

    @strawberry.field(description="学生（审核所需的基本信息）")
    async def student(self, info: Info) -> TransferStudent:
        record = await context(info).loaders.student_record.load(int(self.record_id))
        assert record is not None
        return TransferStudent(
            name=record.name,
            gender=record.gender,
            birth_date=record.birth_date,
            national_number=mask_national_number(record.national_number),
            stage=record.stage,
            grade=record.grade,
            status=record.status,
        )


@strawberry.type(description="按全国学籍号和姓名查到的外校学生（已脱敏），及现在能否申请转学")
class StudentForTransfer:
    masked_name: str
    gender: Gender
    birth_year: int
    stage: Stage
    grade: int
    status: RecordStatus
    school_name: str
    department_name: str | None
    province_name: str | None
    cross_province: bool
    refusal: UserError | None = strawberry.field(description="现在申请转学会被拒绝的原因；为空表示可以申请")

    @classmethod
    def from_domain(cls, found: StudentLookup) -> StudentForTransfer:
        return cls(
            masked_name=found.masked_name,
            gender=found.gender,
            birth_year=found.birth_year,
            stage=found.stage,
            grade=found.grade,
            status=found.status,
            school_name=found.school_name,
            department_name=found.department_name,
            province_name=found.province_name,
            cross_province=found.cross_province,
            refusal=_user_error(found.refusal),
        )


def _user_error(error: DomainError | None) -> UserError | None:
    return None if error is None else UserError.from_domain(error)


@strawberry.type
class TransferPayload:
    errors: list[UserError]
    transfer: TransferType | None = None
    replayed: bool = strawberry.field(
        default=False, description="按请求标识重放：返回首次请求的结果，未重复办理"
    )


@strawberry.input(description="转入学校申请转学（TRF-1、TRF-2）")
class StartTransferInput:
    national_number: str = strawberry.field(description="学生的全国学籍号（跨省转学必填，本系统一律必填）")
    name: str
    target_class_id: strawberry.ID
    reason: str
    application_ids: list[strawberry.ID] = strawberry.field(
        description="加盖公章、写明理由的转学申请（PROOF 附件）"
    )
    target_grade: int | None = strawberry.field(
        default=None, description="拟转入年级；与学生现年级不同时须经转入地主管部门审核（TRF-8）"
    )
    offline: bool = strawberry.field(default=False, description="线下已先行办理、事后补录（TRF-7）")


@strawberry.input(description="转入学校申请毕业后跨省就学（TRF-10）")
class StartPostGraduationStudyInput:
    national_number: str
    name: str
    target_class_id: strawberry.ID
    reason: str
    application_ids: list[strawberry.ID] = strawberry.field(default_factory=list)


def id_list(values: list[strawberry.ID], field: str) -> list[int]:
    return [parse_id(value, field) for value in values]
