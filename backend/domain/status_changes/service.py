"""Requesting a status change and applying its review's outcome (STA-1..5).

The school registrar asks with a reason and proof (STA-2); the province must offer the type in the
record's stage (STA-3); the record must be formally registered and its status must fit the type
(``rules``: resumption only from suspension, graduated and completed records read-only, CHG-7). The
request is stored ``IN_REVIEW`` with what it will do (from/to status and grade) and a review starts on
the approval engine: the school's leader, then — for the types the province sends to the department
(``status_change.department_review``) — the supervising department's registrar (STA-2). Each step gets
the province's deadline and deadline action (TRF-4 style); a dropout's department step always has 15
working days and is only ever recorded overdue, never approved by the clock (STA-5).

The workflow's subject is the *record* (``student_record``, kind ``status_change``): the engine's partial
unique index then allows one open status change per record, also against two concurrent requests. The
request points at its instance (``workflow_id``) and the instance's data names the request. A record in a
transfer (``Transfer`` in review or awaiting retrieval) gets no status change meanwhile.

Nothing touches the record before the final approval (STA-2). Then ``_status_change_reviewed`` applies
it: status, grade and (where named) class, with a ``STATUS_CHANGED`` history row carrying the proof
(SEC-7) and audit ``status_change.applied``. A rejection, a withdrawal by the registrar (the engine's
``withdraw``) or a cancellation only closes the request. Class: a student who leaves, or is suspended,
keeps the class left from (lists of a class filter by status); a repeat, skip or resumption moves to
``details.classId`` when the school names a class of the new grade, and otherwise keeps its class until
the school places the student. A compulsory-education dropout's record is kept, status ``DROPPED_OUT``
(STA-5), and listed by ``queries.compulsory_dropouts`` for the written report (STA-4).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.clock import local_today
from backend.db import UnitOfWork
from backend.domain.actor import Actor, SystemActor
from backend.domain.attachments.service import require_proofs
from backend.domain.audit.service import record_audit
from backend.domain.errors import NotFoundError, ValidationError
from backend.domain.permissions import Operation, authorize
from backend.domain.records.errors import RegistrationStateError
from backend.domain.settings import ProvinceSettings, load_province_settings
from backend.domain.status_changes.errors import (
    InvalidDetailsError,
    ProofRequiredError,
    StatusChangeNotAllowedError,
    StatusChangeOpenError,
    StatusChangeOutdatedError,
    TransferOpenError,
)
from backend.domain.status_changes.rules import (
    COMPULSORY_STAGES,
    STAGE_LABELS,
    TYPE_LABELS,
    ChangePlan,
    plan_change,
)
from backend.domain.workflows.definitions import (
    SCHOOL_STEP_NAME,
    StepSpec,
    UnitRef,
    WorkflowContext,
    WorkflowDefinition,
)
from backend.domain.workflows.engine import START_OPERATION, finishing_action, start_workflow
from backend.domain.workflows.errors import (
    InvalidIdempotencyKeyError,
    ReasonRequiredError,
    WorkflowAlreadyOpenError,
)
from backend.domain.workflows.outcomes import on_finished
from backend.domain.workflows.repository import find_open_instance, load_instance, recorded_key
from backend.models import (
    RecordHistory,
    SchoolClass,
    StatusChange,
    StudentRecord,
    Transfer,
    Unit,
    WorkflowInstance,
)
from backend.models.enums import (
    BusinessState,
    DeadlineAction,
    RegistrationState,
    Role,
    StatusChangeType,
    WorkflowState,
)

KIND = "status_change"
SUBJECT = "student_record"
TARGET = "status_change"
SYSTEM = SystemActor(name="status-change")
DEPARTMENT_STEP_NAME = "主管部门审核"
DROPOUT_REVIEW_DAYS = 15  # STA-5: the department reviews a dropout within 15 working days
MAX_REASON = 500
MAX_KEY = 100
OPEN_TRANSFER_STATES = (BusinessState.IN_REVIEW, BusinessState.AWAITING_RETRIEVAL)
CLOSING_STATES: dict[WorkflowState, BusinessState] = {
    WorkflowState.REJECTED: BusinessState.REJECTED,
    WorkflowState.WITHDRAWN: BusinessState.WITHDRAWN,
    WorkflowState.CANCELLED: BusinessState.CANCELLED,
}


def status_change_review(change_type: StatusChangeType, settings: ProvinceSettings) -> WorkflowDefinition:
    """The review of one status change: the school's leader, then the department where required (STA-2).

    Both steps carry the province's deadline and deadline action; a dropout's department step has
    15 working days and is recorded overdue when late, never approved by the clock (STA-5).
    """
    steps = [
        StepSpec(
            SCHOOL_STEP_NAME,
            UnitRef.SUBJECT_SCHOOL,
            Role.LEADER,
            settings.deadline_days,
            on_deadline=settings.deadline_action,
        )
    ]
    if settings.needs_department_review(change_type):
        days, action = settings.deadline_days, settings.deadline_action
        if change_type is StatusChangeType.DROPOUT:
            days, action = DROPOUT_REVIEW_DAYS, DeadlineAction.RECORD_OVERDUE
        steps.append(
            StepSpec(DEPARTMENT_STEP_NAME, UnitRef.department_of(), Role.REGISTRAR, days, on_deadline=action)
        )
    return WorkflowDefinition(kind=KIND, title="学籍异动审核", steps=tuple(steps))


async def request_status_change(
    uow: UnitOfWork,
    *,
    actor: Actor,
    record_id: int,
    change_type: StatusChangeType,
    reason: str,
    proof_ids: Sequence[int],
    details: Mapping[str, Any],
    idempotency_key: str | None = None,
) -> StatusChange:
    """Ask for a status change of one record and start its review (STA-1..5).

    Only the registrar of the record's school asks (ORG-2, ORG-3), for a formally registered record, with
    a reason and proof (STA-2), for a type the province offers in the record's stage (STA-3) and that
    fits the record's status; ``details`` states the type's facts (``rules.DETAILS``: the target grade of
    a repeat or skip, the date an other-leave student was last seen — over three months ago, STA-4 —,
    the destination of a student going abroad, ...). One status change at a time, none during a
    transfer. With ``idempotency_key`` a retry by the same user returns the first request. Writes the
    request, the workflow and audit ``status_change.requested``; the record itself is untouched.

    Raises:
        NotFoundError: no such record, or another school's (``recordId``); a proof not the actor's to cite.
        ForbiddenError: the actor is not a school registrar (a department never starts one).
        RegistrationStateError: the record is not registered yet (``INVALID_REGISTRATION_STATE``).
        ReasonRequiredError: no reason (``REASON_REQUIRED`` on ``reason``).
        StatusChangeNotAllowedError: ``STATUS_CHANGE_NOT_ALLOWED`` in this stage (STA-3).
        InvalidStatusForChangeError: ``INVALID_STATUS_FOR_CHANGE``.
        InvalidDetailsError, AbsenceTooShortError: ``INVALID_DETAILS``, ``ABSENCE_TOO_SHORT`` (STA-4).
        ProofRequiredError: ``PROOF_REQUIRED`` (STA-2).
        StatusChangeOpenError, TransferOpenError: ``STATUS_CHANGE_OPEN``, ``TRANSFER_OPEN``.
    """
    session = uow.session
    record = await _load_record(session, record_id)
    try:
        authorize(actor, Operation.MANAGE_RECORDS, record.unit_path)
    except NotFoundError as error:
        raise NotFoundError(field="recordId") from error
    key = _clean_key(idempotency_key)
    if key is not None:
        replayed = await _replayed(session, actor, key, record)
        if replayed is not None:
            return replayed
    if record.registration_state is not RegistrationState.REGISTERED:
        raise RegistrationStateError("只有已注册的学籍可以办理学籍异动", field="recordId")
    text = reason.strip()
    if not text:
        raise ReasonRequiredError("请填写异动原因", field="reason")
    if len(text) > MAX_REASON:
        raise ValidationError(f"异动原因不能超过{MAX_REASON}字", field="reason")
    settings = await load_province_settings(session, record.unit_path)
    if not settings.status_change_allowed(record.stage, change_type):
        raise StatusChangeNotAllowedError(
            f"本省{STAGE_LABELS.get(record.stage, '')}阶段未开放{TYPE_LABELS[change_type]}",
            field="changeType",
        )
    school = await session.get(Unit, record.school_id)
    assert school is not None
    plan = plan_change(
        change_type,
        status=record.status,
        stage=record.stage,
        grade=record.grade,
        system=school.school_system,
        details=details,
        today=local_today(uow.clock),
    )
    if plan.class_id is not None:
        await _check_class(session, record, plan)
    if not proof_ids:
        raise ProofRequiredError(field="proofIds")
    proofs = await require_proofs(session, actor, proof_ids, field="proofIds")
    await _refuse_open_business(session, record)

    change = StatusChange(
        record_id=record.id,
        school_id=record.school_id,
        unit_path=record.unit_path,
        change_type=change_type,
        reason=text,
        proof_ids=proofs,
        details=plan.details,
        from_status=record.status,
        to_status=plan.to_status,
        from_grade=record.grade,
        to_grade=plan.to_grade,
        state=BusinessState.IN_REVIEW,
        created_by_id=actor.user_id,
        created_at=uow.clock.now(),
    )
    session.add(change)
    await session.flush()
    try:
        instance = await start_workflow(
            uow,
            actor=actor,
            definition=status_change_review(change_type, settings),
            subject_type=SUBJECT,
            subject_id=record.id,
            context=WorkflowContext(subject_school=school),
            data={"statusChangeId": change.id, "changeType": str(change_type)},
            idempotency_key=key,
        )
    except WorkflowAlreadyOpenError as error:  # a concurrent request won the engine's unique index
        raise StatusChangeOpenError(field="recordId") from error
    change.workflow_id = instance.id
    await record_audit(
        uow,
        actor=actor,
        operation="status_change.requested",
        target_type=TARGET,
        target_id=change.id,
        after={
            "recordId": record.id,
            "changeType": str(change_type),
            "status": [str(change.from_status), str(change.to_status)],
            "grade": [change.from_grade, change.to_grade],
            "workflowId": instance.id,
        },
        scope_path=record.unit_path,
    )
    await session.flush()
    return change


@on_finished(KIND)
async def _status_change_reviewed(uow: UnitOfWork, instance: WorkflowInstance, state: WorkflowState) -> None:
    """Apply the change after the final approval (STA-2); otherwise only close the request."""
    if instance.subject_type != SUBJECT:
        return
    session = uow.session
    change = await session.scalar(
        select(StatusChange)
        .where(StatusChange.workflow_id == instance.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if change is None:
        return  # an instance of this kind started outside this service (tests of the engine)
    action = await finishing_action(session, instance.id)
    change.decided_at = uow.clock.now()
    if state is WorkflowState.APPROVED:
        await apply_status_change(uow, change, decided_by=action.user_id if action else None)
        return
    change.state = CLOSING_STATES[state]
    await record_audit(
        uow,
        actor=SYSTEM,
        operation=f"status_change.{str(state).lower()}",
        target_type=TARGET,
        target_id=change.id,
        after={"recordId": change.record_id, "reason": action.comment if action else None},
        scope_path=change.unit_path,
    )


async def apply_status_change(
    uow: UnitOfWork, change: StatusChange, *, decided_by: int | None
) -> StudentRecord:
    """Make an approved change take effect on the record (STA-1, STA-5, SEC-7).

    The record must still be where the request found it (school, status, and grade where the grade
    moves); otherwise the approval fails (``STATUS_CHANGE_OUTDATED``) and is rolled back — graduation and
    promotion wait for in-flight business (CFG-3), so this is a safety net. Writes history
    ``STATUS_CHANGED`` (old and new values, the request's reason and proof) and audit
    ``status_change.applied``; the record is never deleted (STA-5).
    """
    session = uow.session
    try:
        record = await _load_record(session, change.record_id)
    except NotFoundError:
        raise StatusChangeOutdatedError() from None
    moves_grade = change.to_grade != change.from_grade
    if (
        record.school_id != change.school_id
        or record.status is not change.from_status
        or (moves_grade and record.grade != change.from_grade)
    ):
        raise StatusChangeOutdatedError()
    class_id = change.details.get("classId")
    changes: dict[str, list[Any]] = {"status": [str(record.status), str(change.to_status)]}
    if record.grade != change.to_grade:
        changes["grade"] = [record.grade, change.to_grade]
    if isinstance(class_id, int) and class_id != record.class_id:
        changes["classId"] = [record.class_id, class_id]
        record.class_id = class_id
    record.status = change.to_status
    record.grade = change.to_grade
    record.version += 1
    record.updated_at = uow.clock.now()
    change.state = BusinessState.COMPLETED
    session.add(
        RecordHistory(
            record_id=record.id,
            at=uow.clock.now(),
            user_id=decided_by,
            kind="STATUS_CHANGED",
            reason=change.reason,
            changes=changes,
            proof_ids=list(change.proof_ids),
        )
    )
    await record_audit(
        uow,
        actor=SYSTEM,
        operation="status_change.applied",
        target_type=TARGET,
        target_id=change.id,
        after={
            "recordId": record.id,
            "changeType": str(change.change_type),
            **changes,
            # Flagged for the written report on compulsory-education dropouts (STA-4, STA-5).
            "compulsoryDropout": change.change_type is StatusChangeType.DROPOUT
            and record.stage in COMPULSORY_STAGES,
        },
        scope_path=record.unit_path,
    )
    await session.flush()
    return record


async def _load_record(session: AsyncSession, record_id: int) -> StudentRecord:
    """The record, locked for the change; a deleted record looks absent."""
    record = await session.scalar(
        select(StudentRecord)
        .where(StudentRecord.id == record_id, StudentRecord.registration_state != RegistrationState.DELETED)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if record is None:
        raise NotFoundError(field="recordId")
    return record


async def _check_class(session: AsyncSession, record: StudentRecord, plan: ChangePlan) -> None:
    """A named class must be the school's own, of the record's stage and of the grade moved to."""
    school_class = await session.get(SchoolClass, plan.class_id)
    if school_class is None or school_class.school_id != record.school_id:
        raise NotFoundError("班级不存在", field="details.classId")
    if school_class.stage is not record.stage or school_class.grade != plan.to_grade:
        raise InvalidDetailsError(f"编入的班级须为本校{plan.to_grade}年级的班级", field="details.classId")


async def _refuse_open_business(session: AsyncSession, record: StudentRecord) -> None:
    """One status change at a time, and none while the record is in a transfer."""
    if await find_open_instance(session, kind=KIND, subject_type=SUBJECT, subject_id=record.id):
        raise StatusChangeOpenError(field="recordId")
    transfer = await session.scalar(
        select(Transfer.id)
        .where(Transfer.record_id == record.id, Transfer.state.in_(OPEN_TRANSFER_STATES))
        .limit(1)
    )
    if transfer is not None:
        raise TransferOpenError(field="recordId")


def _clean_key(key: str | None) -> str | None:
    if key is None:
        return None
    key = key.strip()
    if not key or len(key) > MAX_KEY:
        raise InvalidIdempotencyKeyError()
    return key


async def _replayed(
    session: AsyncSession, actor: Actor, key: str, record: StudentRecord
) -> StatusChange | None:
    """The request a first call with this key made, or None if the key is new.

    The key must have started a status change of this record; a key used for anything else is refused.
    """
    recorded = await recorded_key(session, actor.user_id, key)
    if recorded is None:
        return None
    instance_id = recorded.result.get("instance_id")
    instance = None if not isinstance(instance_id, int) else await load_instance(session, instance_id)
    if (
        recorded.operation != START_OPERATION
        or instance is None
        or instance.kind != KIND
        or instance.subject_id != record.id
    ):
        raise InvalidIdempotencyKeyError()
    change = await session.scalar(select(StatusChange).where(StatusChange.workflow_id == instance.id))
    if change is None:
        raise InvalidIdempotencyKeyError()
    return change
