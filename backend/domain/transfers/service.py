"""Transfers (转学, TRF-1..8) and post-graduation cross-province study (毕业后跨省就学, TRF-10, TRF-11).

The receiving school's registrar finds the student by national number and name (``find_student_for_transfer``:
masked, audited, no browsing of other schools), then starts the business with its stamped application
(``start_transfer`` / ``start_post_graduation_study``). The parties review it on the approval engine
through the generic ``actOnWorkflow`` (``workflow`` describes the steps and the states shown); a
cross-province business ends with ``retrieve_file`` once the student has reported (TRF-2, TRF-3). Until
then the receiving school may withdraw it (the engine's withdraw by the starter). The record moves only
when the business completes, in the outcome handler: to the receiving school, class and grade, in school
(TRF-6), with a ``TRANSFERRED`` history row and an audit row. A rejection, withdrawal or cancellation
leaves the record untouched.

Not here: the sweeps that act on deadlines and clear businesses after 90 days (the engine's, which call
the handlers below); cross-border transfer out (TRF-9), which is the study-abroad status change; the
clearing of graduating-year transfers by graduation (TRF-5, GRD).

Services never commit; refusals come before the first write, so a refused call leaves nothing behind.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from backend.calendar import WorkingDayCalendar
from backend.clock import local_today
from backend.db import UnitOfWork
from backend.domain.actor import Actor, SystemActor
from backend.domain.attachments.service import require_proofs
from backend.domain.audit.service import record_audit
from backend.domain.errors import DomainError, ForbiddenError, NotFoundError, ValidationError
from backend.domain.permissions import Operation, authorize
from backend.domain.records.fields import json_value
from backend.domain.records.id_numbers import mask_id_number
from backend.domain.records.national_numbers import parse_national_number
from backend.domain.settings import load_province_settings
from backend.domain.transfers.errors import (
    ApplicationRequiredError,
    FixedRejectionReasonRequiredError,
    GradeMismatchError,
    NotAwaitingRetrievalError,
    NotCrossProvinceError,
    NotGraduatedError,
    NotRegisteredError,
    RecordBusyError,
    RetrievalExpiredError,
    SameSchoolError,
    StudentNotFoundError,
    StudentNotReportedError,
    StudyWindowClosedError,
    TransferBlackoutError,
    TransferOutdatedError,
    UnknownRejectionReasonError,
)
from backend.domain.transfers.queries import TransferView, can_see_transfer, view_of
from backend.domain.transfers.repository import (
    ancestry,
    department_of,
    has_open_business,
    live_record_by_number,
    load_transfer,
    province_of,
    transfer_of_instance,
)
from backend.domain.transfers.rules import (
    REJECTION_REASON_LABELS,
    entry_warnings,
    in_summer_blackout,
    next_stage_grade_fits,
    post_graduation_window_open,
    requested_grade_change,
    transfer_refusal,
)
from backend.domain.transfers.workflow import (
    ENDED_STATES,
    POST_GRADUATION_STUDY,
    SUBJECT,
    TRANSFER,
    last_review_position,
    post_graduation_review,
    transfer_review,
)
from backend.domain.workflows.definitions import (
    RECEIVING_SCHOOL,
    SENDING_SCHOOL,
    WorkflowContext,
    WorkflowDefinition,
)
from backend.domain.workflows.engine import MAX_KEY, START_OPERATION, act, finishing_action, start_workflow
from backend.domain.workflows.errors import InvalidIdempotencyKeyError, WorkflowConflictError
from backend.domain.workflows.outcomes import on_finished, on_finished_batch
from backend.domain.workflows.policy import is_party
from backend.domain.workflows.repository import load_instance, load_steps, recorded_key
from backend.models import RecordHistory, SchoolClass, StudentRecord, Transfer, Unit, WorkflowInstance
from backend.models.enums import (
    BusinessState,
    Gender,
    RecordStatus,
    RegistrationState,
    Stage,
    StepKind,
    StepState,
    TransferKind,
    WorkflowState,
)

OUTCOME_ACTOR = SystemActor(name="transfer")
# Set by ``reject_post_graduation_study`` for the duration of its ``act``: the fixed reason chosen (TRF-10).
_fixed_rejection: ContextVar[str | None] = ContextVar("transfer_fixed_rejection", default=None)
MAX_REASON = 500
RETRIEVAL_COMMENT = "学生已到校报到，完成调档"
HISTORY_KINDS = {
    TransferKind.TRANSFER: "TRANSFERRED",
    TransferKind.POST_GRADUATION_STUDY: "STUDIED_ACROSS_PROVINCES",
}


# --- finding the student ----------------------------------------------------------------------------


@dataclass(frozen=True)
class StudentLookup:
    """What the receiving school learns about another school's student before asking for a transfer.

    Only what it needs to recognise the student and to know who will review: the name masked (it typed
    it), gender, year of birth, stage, grade, status, the school and its department and province, and why
    a transfer would be refused now (``refusal``, None if it would not).
    """

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
    refusal: DomainError | None


async def find_student_for_transfer(
    uow: UnitOfWork, *, actor: Actor, national_number: str, name: str
) -> StudentLookup | None:
    """Look up another school's student by national number and name, for a transfer (TRF-1, TRF-2; SEC-4).

    For school registrars only. Both must match a live record (a wrong name answers like a wrong number,
    ``None``), so the lookup cannot be used to browse or to confirm numbers. Every lookup, found or not,
    writes audit ``transfer.student_looked_up`` with the masked number.

    Raises:
        ForbiddenError: not a school registrar.
        InvalidNationalNumberError: not a national number (NUM-7).
    """
    authorize(actor, Operation.MANAGE_RECORDS)
    session = uow.session
    number = parse_national_number(national_number).number
    record = await live_record_by_number(session, number)
    found = record is not None and record.name == name.strip()
    await record_audit(
        uow,
        actor=actor,
        operation="transfer.student_looked_up",
        target_type="student_record",
        target_id=record.id if found and record is not None else None,
        after={"nationalNumber": mask_national_number(number), "found": found},
    )
    if not found or record is None:
        return None
    school = await session.get(Unit, record.school_id)
    own = await session.get(Unit, actor.unit_id)
    assert school is not None
    assert own is not None
    units = await ancestry(session, school, own)
    province, own_province = province_of(school, units), province_of(own, units)
    department = department_of(school, units)
    refusal: DomainError | None = None
    if record.registration_state is not RegistrationState.REGISTERED:
        refusal = NotRegisteredError()
    elif school.id == own.id:
        refusal = SameSchoolError()
    else:
        refusal = transfer_refusal(record.status)
        if refusal is None and await has_open_business(session, record.id):
            refusal = RecordBusyError()
    return StudentLookup(
        masked_name=mask_name(record.name),
        gender=record.gender,
        birth_year=record.birth_date.year,
        stage=record.stage,
        grade=record.grade,
        status=record.status,
        school_name=school.name,
        department_name=None if department is None else department.name,
        province_name=None if province is None else province.name,
        cross_province=_ids(province) != _ids(own_province),
        refusal=refusal,
    )


def mask_name(name: str) -> str:
    """张*明 / 张* : enough to recognise a student one already knows (SEC-4)."""
    if len(name) <= 1:
        return name
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


def mask_national_number(number: str) -> str:
    """A G number carries the ID number and is masked like it; J and L numbers carry none."""
    if number.startswith("G"):
        return "G" + (mask_id_number(number[1:]) or "")
    return number


# --- starting -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Parties:
    """Everything a start has checked: the record, the two schools, the target class, their provinces."""

    record: StudentRecord
    school_class: SchoolClass
    receiving: Unit
    sending: Unit
    cross_province: bool
    shared_department: bool


async def start_transfer(
    uow: UnitOfWork,
    *,
    actor: Actor,
    national_number: str,
    name: str,
    target_class_id: int,
    reason: str,
    application_ids: Sequence[int],
    target_grade: int | None = None,
    offline: bool = False,
    idempotency_key: str | None = None,
    calendar: WorkingDayCalendar | None = None,
) -> TransferView:
    """Ask for another school's student to transfer into one of our classes (TRF-1, TRF-2, TRF-5..8).

    The receiving school's registrar quotes the national number and name (TRF-2: required across
    provinces; always required here) and uploads the stamped application stating the reason (TRF-1).
    Refused: from 7/15 to 8/14 (TRF-5; one started before continues), a status that may not transfer
    (TRF-6), a student of the own school, one with another business in progress, a class whose grade is
    not the student's (TRF-8: grades 1–9 map by number; ``target_grade`` asks for another grade, which the
    receiving county's step reviews, recorded as ``details.gradeChangeRequested``). ``offline`` records a
    transfer already done offline at the parents' request when the system failed (TRF-7): the same
    review, flagged. Starts the review (``workflow.transfer_review``) and writes audit
    ``transfer.requested``. With ``idempotency_key`` a retry returns the first call's business.

    Raises:
        ForbiddenError: not a school registrar.
        NotFoundError: the class is not at the actor's school (``targetClassId``).
        StudentNotFoundError: no live record with this number and name; InvalidNationalNumberError.
        TransferBlackoutError, ApplicationRequiredError, NotRegisteredError, SameSchoolError,
        StatusNotTransferableError, ResumeFirstError, RecordBusyError, GradeMismatchError.
    """
    authorize(actor, Operation.MANAGE_RECORDS)
    replay = await _replay(uow.session, actor, idempotency_key, TransferKind.TRANSFER)
    if replay is not None:
        return replay
    school_class, receiving = await _target(uow.session, actor, target_class_id)
    today = local_today(uow.clock)
    if in_summer_blackout(today):
        raise TransferBlackoutError()
    text = _clean_reason(reason)
    if not application_ids:
        raise ApplicationRequiredError()
    applications = await require_proofs(uow.session, actor, application_ids, field="applicationIds")
    record = await _find_record(uow.session, national_number, name)
    parties = await _parties(uow.session, record, school_class, receiving)
    if parties.sending.id == receiving.id:
        raise SameSchoolError()
    refusal = transfer_refusal(record.status)
    if refusal is not None:
        raise refusal
    if await has_open_business(uow.session, record.id):
        raise RecordBusyError()
    change = requested_grade_change(record.grade, school_class.grade, target_grade)
    receiving_settings = await load_province_settings(uow.session, receiving.path)
    sending_settings = (
        await load_province_settings(uow.session, parties.sending.path)
        if parties.cross_province
        else receiving_settings
    )
    definition = transfer_review(
        receiving_settings,
        sending_settings,
        cross_province=parties.cross_province,
        shared_department=parties.shared_department,
    )
    details: dict[str, Any] = {}
    if change is not None:
        details["gradeChangeRequested"] = {"from": record.grade, "to": change}
    return await _open(
        uow,
        actor=actor,
        kind=TransferKind.TRANSFER,
        parties=parties,
        definition=definition,
        reason=text,
        applications=applications,
        offline=offline,
        details=details,
        idempotency_key=idempotency_key,
        calendar=calendar,
    )


async def start_post_graduation_study(
    uow: UnitOfWork,
    *,
    actor: Actor,
    national_number: str,
    name: str,
    target_class_id: int,
    reason: str,
    application_ids: Sequence[int] = (),
    idempotency_key: str | None = None,
    calendar: WorkingDayCalendar | None = None,
) -> TransferView:
    """Take a graduate of another province into one of our classes (TRF-10, TRF-11).

    A separate business from transfer: only for a student in graduated status whose school lies in
    another province (one of this province goes on through admission, GRD-7/8), only 8/15–12/14 and
    3/1–5/31, into a grade later than the one finished. Three parties review, then the receiving school
    retrieves the file (``workflow.post_graduation_review``). A child under 6 on 31 August is flagged for
    the approvers (TRF-11). The rules ask for no document here, so ``application_ids`` is optional (each
    one given must be the school's proof). Writes audit ``transfer.requested``.

    Raises:
        StudyWindowClosedError, NotGraduatedError, NotCrossProvinceError, RecordBusyError,
        GradeMismatchError, and the lookup's errors as ``start_transfer``.
    """
    authorize(actor, Operation.MANAGE_RECORDS)
    replay = await _replay(uow.session, actor, idempotency_key, TransferKind.POST_GRADUATION_STUDY)
    if replay is not None:
        return replay
    school_class, receiving = await _target(uow.session, actor, target_class_id)
    if not post_graduation_window_open(local_today(uow.clock)):
        raise StudyWindowClosedError()
    text = _clean_reason(reason)
    applications = await require_proofs(uow.session, actor, application_ids, field="applicationIds")
    record = await _find_record(uow.session, national_number, name)
    if record.status is not RecordStatus.GRADUATED:
        raise NotGraduatedError()
    parties = await _parties(uow.session, record, school_class, receiving)
    if not parties.cross_province:
        raise NotCrossProvinceError()
    if await has_open_business(uow.session, record.id):
        raise RecordBusyError()
    if not next_stage_grade_fits(record.stage, record.grade, school_class.grade):
        raise GradeMismatchError(f"毕业后就学须转入高于原毕业年级（{record.grade}年级）的班级")
    definition = post_graduation_review(
        await load_province_settings(uow.session, receiving.path),
        await load_province_settings(uow.session, parties.sending.path),
    )
    return await _open(
        uow,
        actor=actor,
        kind=TransferKind.POST_GRADUATION_STUDY,
        parties=parties,
        definition=definition,
        reason=text,
        applications=applications,
        offline=False,
        details={},
        idempotency_key=idempotency_key,
        calendar=calendar,
    )


async def _target(session: AsyncSession, actor: Actor, class_id: int) -> tuple[SchoolClass, Unit]:
    """The class asked for and its school, which must be the actor's own (ORG-3)."""
    school_class = await session.get(SchoolClass, class_id)
    school = None if school_class is None else await session.get(Unit, school_class.school_id)
    if school_class is None or school is None:
        raise NotFoundError(field="targetClassId")
    try:
        authorize(actor, Operation.MANAGE_RECORDS, school.path)
    except NotFoundError as error:
        raise NotFoundError(field="targetClassId") from error
    return school_class, school


def _clean_reason(reason: str) -> str:
    text = reason.strip()
    if not text:
        raise ValidationError("请填写转学（就学）理由", field="reason")
    if len(text) > MAX_REASON:
        raise ValidationError(f"理由不能超过{MAX_REASON}字", field="reason")
    return text


async def _find_record(session: AsyncSession, national_number: str, name: str) -> StudentRecord:
    """The formally registered record with this number and name, locked while the business starts."""
    number = parse_national_number(national_number).number
    record = await live_record_by_number(session, number, lock=True)
    if record is None or record.name != name.strip():
        raise StudentNotFoundError()
    if record.registration_state is not RegistrationState.REGISTERED:
        raise NotRegisteredError()
    return record


async def _parties(
    session: AsyncSession, record: StudentRecord, school_class: SchoolClass, receiving: Unit
) -> _Parties:
    sending = await session.get(Unit, record.school_id)
    assert sending is not None
    units = await ancestry(session, receiving, sending)
    return _Parties(
        record=record,
        school_class=school_class,
        receiving=receiving,
        sending=sending,
        cross_province=_ids(province_of(receiving, units)) != _ids(province_of(sending, units)),
        shared_department=_ids(department_of(receiving, units)) == _ids(department_of(sending, units)),
    )


def _ids(unit: Unit | None) -> int | None:
    return None if unit is None else unit.id


async def _open(
    uow: UnitOfWork,
    *,
    actor: Actor,
    kind: TransferKind,
    parties: _Parties,
    definition: WorkflowDefinition,
    reason: str,
    applications: list[int],
    offline: bool,
    details: dict[str, Any],
    idempotency_key: str | None,
    calendar: WorkingDayCalendar | None,
) -> TransferView:
    """Write the business and start its review: the common end of both starts."""
    session = uow.session
    record, school_class = parties.record, parties.school_class
    warnings = entry_warnings(
        birth_date=record.birth_date, day=local_today(uow.clock), cross_province=parties.cross_province
    )
    transfer = Transfer(
        kind=kind,
        record_id=record.id,
        cross_province=parties.cross_province,
        receiving_school_id=parties.receiving.id,
        receiving_path=parties.receiving.path,
        sending_school_id=parties.sending.id,
        sending_path=parties.sending.path,
        target_class_id=school_class.id,
        target_grade=school_class.grade,
        national_number=record.national_number,
        reason=reason,
        application_ids=applications,
        offline=offline,
        details={
            **details,
            "from": {
                "classId": record.class_id,
                "stage": str(record.stage),
                "grade": record.grade,
                "status": str(record.status),
            },
            "warnings": [warning.as_json() for warning in warnings],
        },
        state=BusinessState.IN_REVIEW,
        created_by_id=actor.user_id,
        created_at=uow.clock.now(),
    )
    session.add(transfer)
    await session.flush()
    instance = await start_workflow(
        uow,
        actor=actor,
        definition=definition,
        subject_type=SUBJECT,
        subject_id=transfer.id,
        # The sending school scopes the instance: the record's own jurisdiction sees it; the receiving
        # side sees it as a party of its steps (workflows.policy.can_see).
        context=WorkflowContext(
            subject_school=parties.sending,
            units={RECEIVING_SCHOOL: parties.receiving, SENDING_SCHOOL: parties.sending},
        ),
        data={"transferId": transfer.id, "recordId": record.id},
        idempotency_key=idempotency_key,
        calendar=calendar,
    )
    transfer.workflow_id = instance.id
    await record_audit(
        uow,
        actor=actor,
        operation="transfer.requested",
        target_type=SUBJECT,
        target_id=transfer.id,
        after={
            "kind": str(kind),
            "recordId": record.id,
            "fromSchoolId": parties.sending.id,
            "toSchoolId": parties.receiving.id,
            "toClassId": school_class.id,
            "crossProvince": parties.cross_province,
            "offline": offline,
            "workflowId": instance.id,
            **(
                {"gradeChangeRequested": details["gradeChangeRequested"]}
                if "gradeChangeRequested" in details
                else {}
            ),
        },
    )
    await session.flush()
    return await view_of(session, transfer)


async def _replay(
    session: AsyncSession, actor: Actor, key: str | None, kind: TransferKind
) -> TransferView | None:
    """The business a first call with this key started, or None for a new key (the engine records it)."""
    if key is None:
        return None
    clean = key.strip()
    if not clean or len(clean) > MAX_KEY:
        raise InvalidIdempotencyKeyError()
    recorded = await recorded_key(session, actor.user_id, clean)
    if recorded is None:
        return None
    instance_id = recorded.result.get("instance_id") if recorded.operation == START_OPERATION else None
    transfer = await transfer_of_instance(session, instance_id) if isinstance(instance_id, int) else None
    if transfer is None or transfer.kind is not kind:
        raise InvalidIdempotencyKeyError()
    return (await view_of(session, transfer)).as_replay()


# --- file retrieval and the graduating county's rejection ---------------------------------------------


async def retrieve_file(
    uow: UnitOfWork,
    *,
    actor: Actor,
    transfer_id: int,
    reported: bool,
    calendar: WorkingDayCalendar | None = None,
) -> TransferView:
    """Retrieve the student's file, the last step of a cross-province business (TRF-2, TRF-3).

    Only the receiving school's registrar, only while the business waits at retrieval, only within its 10
    working days, and only for a student who has reported to the school (``reported``). Completes the
    retrieval step on the engine; the outcome handler then moves the record.

    Raises:
        ForbiddenError / NotFoundError (``transferId``): not the receiving school's registrar.
        NotAwaitingRetrievalError, RetrievalExpiredError, StudentNotReportedError.
    """
    authorize(actor, Operation.MANAGE_RECORDS)
    session = uow.session
    # Not locked here: the engine's guarded transition serialises the retrieval, and the outcome handler
    # then locks the transfer — always the instance first, then the transfer, as for every other action.
    transfer = await load_transfer(session, transfer_id)
    if transfer is None:
        raise NotFoundError(field="transferId")
    try:
        authorize(actor, Operation.MANAGE_RECORDS, transfer.receiving_path)
    except NotFoundError as error:
        raise NotFoundError(field="transferId") from error
    view = await view_of(session, transfer)
    if view.state is not BusinessState.AWAITING_RETRIEVAL or transfer.workflow_id is None:
        raise NotAwaitingRetrievalError()
    due = view.retrieval_due_on
    if due is not None and local_today(uow.clock) > due:
        raise RetrievalExpiredError()
    if not reported:
        raise StudentNotReportedError()
    await act(
        uow,
        actor=actor,
        instance_id=transfer.workflow_id,
        action="approve",
        comment=RETRIEVAL_COMMENT,
        completes_retrieval=True,
        calendar=calendar,
    )
    return await view_of(session, transfer)


async def reject_post_graduation_study(
    uow: UnitOfWork,
    *,
    actor: Actor,
    transfer_id: int,
    reason_code: str,
    comment: str | None = None,
    calendar: WorkingDayCalendar | None = None,
) -> TransferView:
    """The graduating county says no, for one of the fixed reasons (TRF-10).

    The rule forbids refusing because the receiving province might be breaking its admission rules or
    the scores might be too low; ``rules.REJECTION_REASONS`` holds the only grounds allowed, and a
    rejection of that step without one (``actOnWorkflow``) is refused by the outcome handler. The other
    steps reject through ``actOnWorkflow`` with a free reason. ``comment`` adds to the fixed reason.

    Raises:
        NotFoundError: no such post-graduation business in the actor's jurisdiction (``transferId``).
        UnknownRejectionReasonError: ``reason_code`` is not one of the fixed reasons.
        ForbiddenError: the business does not wait at the actor's graduating-county step.
        WorkflowConflictError: it has ended.
    """
    authorize(actor, Operation.ACT_ON_WORKFLOWS)
    session = uow.session
    transfer = await load_transfer(session, transfer_id)
    if (
        transfer is None
        or transfer.kind is not TransferKind.POST_GRADUATION_STUDY
        or transfer.workflow_id is None
        or not can_see_transfer(actor, transfer)
    ):
        raise NotFoundError(field="transferId")
    code = reason_code.strip()
    label = REJECTION_REASON_LABELS.get(code)
    if label is None:
        raise UnknownRejectionReasonError()
    instance = await load_instance(session, transfer.workflow_id)
    if instance is None or instance.state is not WorkflowState.OPEN:
        raise WorkflowConflictError()
    steps = await load_steps(session, transfer.workflow_id)
    pending = next((step for step in steps if step.state is StepState.PENDING), None)
    at_graduating_county = pending is not None and pending.position == last_review_position(steps)
    if (
        pending is None
        or not at_graduating_county
        or not is_party(actor, pending.acting_unit_id, pending.acting_role)
    ):
        raise ForbiddenError()
    extra = (comment or "").strip()
    # The outcome handler, run inside ``act``, checks for the fixed reason and records it on the transfer.
    marker = _fixed_rejection.set(code)
    try:
        await act(
            uow,
            actor=actor,
            instance_id=transfer.workflow_id,
            action="reject",
            comment=f"{label}。{extra}" if extra else label,
            calendar=calendar,
        )
    finally:
        _fixed_rejection.reset(marker)
    return await view_of(session, transfer)


# --- outcomes ------------------------------------------------------------------------------------------


@on_finished(TRANSFER)
@on_finished(POST_GRADUATION_STUDY)
async def _transfer_finished(uow: UnitOfWork, instance: WorkflowInstance, state: WorkflowState) -> None:
    """Complete the business when its last step approves; otherwise record how it ended (TRF-1..3, TRF-10).

    APPROVED comes after the last review in one province, after file retrieval across provinces. A
    rejection at the graduating county's step must carry a fixed reason (TRF-10); one that does not is
    refused here, which rolls the decision back.
    """
    if instance.subject_type != SUBJECT:
        return
    transfer = await load_transfer(uow.session, instance.subject_id, lock=True)
    if transfer is None or transfer.state is not BusinessState.IN_REVIEW:
        return
    if state is WorkflowState.APPROVED:
        await _complete(uow, transfer)
        return
    if state is WorkflowState.REJECTED and transfer.kind is TransferKind.POST_GRADUATION_STUDY:
        await _require_fixed_reason(uow.session, transfer, instance)
    transfer.state = ENDED_STATES[state]
    await uow.session.flush()


@on_finished_batch(TRANSFER)
@on_finished_batch(POST_GRADUATION_STUDY)
async def _transfers_ended(
    uow: UnitOfWork, instances: Sequence[WorkflowInstance], state: WorkflowState
) -> None:
    """Many businesses ended at once by a sweep (TRF-3 retrieval timeout, TRF-4 clearing): one UPDATE.

    No record moves when a business is cancelled, so nothing per row is needed. An approval (never from
    a sweep today) moves records and goes through the per-instance handler.
    """
    if state is WorkflowState.APPROVED:
        for instance in instances:
            await _transfer_finished(uow, instance, state)
        return
    ids = [instance.subject_id for instance in instances if instance.subject_type == SUBJECT]
    if not ids:
        return
    await uow.session.execute(
        update(Transfer)
        .where(Transfer.id.in_(ids), Transfer.state == BusinessState.IN_REVIEW)
        .values(state=ENDED_STATES[state])
        .execution_options(synchronize_session=False)
    )


async def _require_fixed_reason(
    session: AsyncSession, transfer: Transfer, instance: WorkflowInstance
) -> None:
    """A rejection at the graduating county's step came through ``reject_post_graduation_study`` (TRF-10)."""
    action = await finishing_action(session, instance.id)
    steps = await load_steps(session, instance.id)
    if action is None or action.position != last_review_position(steps):
        return
    code = _fixed_rejection.get()
    if code is None or code not in REJECTION_REASON_LABELS:
        raise FixedRejectionReasonRequiredError()
    transfer.details = {
        **transfer.details,
        "rejection": {"code": code, "label": REJECTION_REASON_LABELS[code]},
    }


async def _complete(uow: UnitOfWork, transfer: Transfer) -> None:
    """Move the record to the receiving school's class, in school (TRF-6), with history and audit (SEC-7)."""
    session = uow.session
    record = await session.scalar(
        select(StudentRecord)
        .where(StudentRecord.id == transfer.record_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    school_class = (
        None if transfer.target_class_id is None else await session.get(SchoolClass, transfer.target_class_id)
    )
    receiving = await session.get(Unit, transfer.receiving_school_id)
    if (
        record is None
        or record.registration_state is not RegistrationState.REGISTERED
        or record.school_id != transfer.sending_school_id
        or school_class is None
        or receiving is None
        or school_class.school_id != receiving.id
    ):
        raise TransferOutdatedError()
    now = uow.clock.now()
    before = _placement(record)
    record.school_id, record.unit_path, record.class_id = receiving.id, receiving.path, school_class.id
    record.stage, record.grade, record.status = school_class.stage, school_class.grade, RecordStatus.IN_SCHOOL
    record.version += 1
    record.updated_at = now
    after = _placement(record)
    changes: dict[str, list[Any]] = {
        key: [before[key], after[key]] for key in before if before[key] != after[key]
    }
    changes["transferId"] = [None, transfer.id]
    session.add(
        RecordHistory(
            record_id=record.id,
            at=now,
            user_id=None,
            kind=HISTORY_KINDS[transfer.kind],
            reason=transfer.reason,
            changes=changes,
            proof_ids=list(transfer.application_ids),
        )
    )
    steps = await load_steps(session, transfer.workflow_id) if transfer.workflow_id is not None else []
    reviewed = [step.acted_at for step in steps if step.kind is StepKind.REVIEW and step.acted_at is not None]
    transfer.approved_at = max(reviewed) if reviewed else now
    transfer.completed_at = now
    transfer.state = BusinessState.COMPLETED
    await record_audit(
        uow,
        actor=OUTCOME_ACTOR,
        operation="record.transferred",
        target_type="student_record",
        target_id=record.id,
        before=before,
        after={**after, "transferId": transfer.id, "kind": str(transfer.kind), "offline": transfer.offline},
        scope_path=receiving.path,
    )
    await session.flush()


def _placement(record: StudentRecord) -> dict[str, Any]:
    return {
        "schoolId": record.school_id,
        "classId": record.class_id,
        "stage": json_value(record.stage),
        "grade": record.grade,
        "status": json_value(record.status),
    }
