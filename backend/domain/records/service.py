"""Student-record use cases: registration, maintenance, submission, review outcome, deletion (REG, CHG, NUM).

A record's way to formal registration (REG-4)::

    register_student ──> DRAFT ──submit_registration──> IN_REVIEW ──finalize(approved)──> REGISTERED
                           ▲                               │
                           └──── RETURNED <──finalize(rejected, reason)
    any state ──delete_record──> DELETED (soft; NUM-4 guards G numbers)

The school registrar enters and maintains its own students (ORG-2, ORG-3). Until a record is submitted
everything in it is edited directly; afterwards key information (SEC-6) and each level's controlled fields
(CHG-1) only change through an approved change request, which ``update_record`` leaves to its caller by
returning those values in ``needs_approval``. Graduated and completed records are read-only (CHG-7).
Every change writes a ``RecordHistory`` row (SEC-7) and an audit row; services never commit.

Permissions: ``permissions.py`` has no record-writing operation yet, so ``_require_registrar`` and
``_require_id_reader`` check here what ``authorize`` will check once the operations exist.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.clock import local_today
from backend.db import UnitOfWork
from backend.domain.actor import Actor, SystemActor
from backend.domain.audit.service import record_audit
from backend.domain.errors import NotFoundError, ValidationError
from backend.domain.permissions import Operation, authorize
from backend.domain.problems.handling import resolve_for_record
from backend.domain.records.businesses import has_open_business
from backend.domain.records.duplicates import (
    DuplicateFindings,
    apply_duplicate_policy,
    check_duplicates,
    refuse_duplicate,
)
from backend.domain.records.errors import (
    ContinuationConflictError,
    FieldError,
    RecordBusyError,
    RecordChangedError,
    RecordReadOnlyError,
    RecordValidationError,
    RegistrationClosedError,
    RegistrationStateError,
)
from backend.domain.records.fields import (
    CATALOGUE,
    GUARDIAN_CATALOGUE,
    IDENTITY_KEYS,
    KEY_INFORMATION_KEYS,
    assign_values,
    json_value,
    record_values,
    validate_fields,
    validate_guardians,
)
from backend.domain.records.id_numbers import mask_id_number
from backend.domain.records.identity import IdentityVerifier, identity_verifier
from backend.domain.records.numbers import (
    REASON_TEMPORARY,
    Promotion,
    area_code,
    close_number_history,
    ensure_deletable,
    new_temporary_number,
    open_number_history,
    promote_number,
    reissue_temporary_number,
)
from backend.domain.settings import SETTINGS, ProvinceSettings, describe_windows, load_province_settings
from backend.domain.units.tree import path_ids
from backend.domain.workflows.definitions import REGISTRATION_REVIEW, WorkflowContext, registration_review
from backend.domain.workflows.engine import finishing_action, start_workflow, started_with_key
from backend.domain.workflows.errors import InvalidIdempotencyKeyError
from backend.domain.workflows.outcomes import on_finished
from backend.models import (
    Attachment,
    ControlledField,
    Guardian,
    RecordHistory,
    SchoolClass,
    StudentRecord,
    Unit,
    WorkflowInstance,
)
from backend.models.enums import (
    NumberKind,
    RecordStatus,
    RegistrationKind,
    RegistrationState,
    Stage,
    WorkflowState,
)

TARGET = "student_record"
READ_ONLY_STATUSES = frozenset({RecordStatus.GRADUATED, RecordStatus.COMPLETED})
# Never submitted, or returned to the school: SEC-6 does not apply yet.
EDITABLE_STATES = frozenset({RegistrationState.DRAFT, RegistrationState.RETURNED})
REVIEW_ACTOR = SystemActor(name="registration-review")


@dataclass(frozen=True)
class UpdateOutcome:
    """What ``update_record`` did: ``applied`` is in effect; ``needs_approval`` is not (CHG-2, CHG-3).

    Both map catalogue keys to clean values (``fields.json_value`` turns them into JSON). The caller
    hands ``needs_approval`` to a change request.
    """

    record: StudentRecord
    applied: dict[str, Any]
    needs_approval: dict[str, Any]


# --- registration ----------------------------------------------------------------------------------


async def register_student(
    uow: UnitOfWork,
    *,
    actor: Actor | SystemActor,
    kind: RegistrationKind,
    school_class_id: int,
    values: Mapping[str, Any],
    guardians: Sequence[Mapping[str, Any]],
    from_import_of_existing: bool = False,
) -> StudentRecord:
    """Create a student's record in a class, as a draft with a temporary L number (REG-1..7, NUM-3).

    The kind's business window must be open (REG-1, REG-2, REG-3, REG-5; CFG-2). A student who already
    has a record (the same ID document) is refused (REG-7, REG-3, REG-5), unless ``from_import_of_existing``
    (in-school registration taking in records that exist elsewhere, REG-1), which flags the group as
    type-2 problem records (PRB-2); the same name, gender and birth date without an ID is created and
    flagged type 3 (PRB-3). Writes history ``CREATED`` and audit ``record.created``; never commits.

    ``values`` uses the catalogue keys (``fields.CATALOGUE``); grade and class come from the class.
    ``guardians`` lists one or more family members or guardians (``fields.GUARDIAN_CATALOGUE`` keys).

    Raises:
        NotFoundError: no such class, or not at the actor's school (``field="schoolClassId"``).
        ForbiddenError: the actor is not a school registrar.
        ValidationError: the class does not fit the kind (``field="schoolClassId"``).
        RegistrationClosedError: the province has not opened this registration now.
        RecordValidationError: every field error at once.
        DuplicateRecordError: ``DUPLICATE_ID_NUMBER``, the student already has a record.
    """
    session = uow.session
    school_class = await session.get(SchoolClass, school_class_id)
    school = None if school_class is None else await session.get(Unit, school_class.school_id)
    if school_class is None or school is None:
        raise NotFoundError(field="schoolClassId")
    _require_registrar(actor, school.path, field="schoolClassId")
    _check_class_fits(kind, school_class)
    today = local_today(uow.clock)
    require_open(await load_province_settings(session, school.path), kind, today)

    clean, errors = validate_fields(values, today=today, partial=False)
    guardian_rows, guardian_errors = validate_guardians(guardians, today=today)
    errors += guardian_errors + await _photo_errors(uow, clean, school.path)
    if errors:
        raise RecordValidationError(errors)
    findings = await check_duplicates(
        session,
        id_type=clean["idType"],
        id_number=clean.get("idNumber"),
        name=clean["name"],
        gender=clean["gender"],
        birth_date=clean["birthDate"],
    )
    return await create_record(
        uow,
        actor=actor,
        kind=kind,
        school=school,
        school_class=school_class,
        clean=clean,
        guardians=guardian_rows,
        findings=findings,
        from_import_of_existing=from_import_of_existing,
    )


async def create_record(
    uow: UnitOfWork,
    *,
    actor: Actor | SystemActor,
    kind: RegistrationKind,
    school: Unit,
    school_class: SchoolClass,
    clean: Mapping[str, Any],
    guardians: Sequence[Mapping[str, Any]],
    findings: DuplicateFindings,
    from_import_of_existing: bool,
) -> StudentRecord:
    """Write a new draft record from values already checked: the common end of every way in (REG, NUM-3).

    The caller has authorized the actor for ``school``, validated ``clean`` and ``guardians`` against the
    catalogue and run ``check_duplicates``. The duplicate refusal (REG-7) comes before anything is written,
    so a caller importing many rows may report it for one row and go on with the next.

    Raises:
        DuplicateRecordError: ``DUPLICATE_ID_NUMBER``, unless ``from_import_of_existing`` (REG-1, PRB-2).
    """
    session = uow.session
    await refuse_duplicate(session, actor, findings, from_import_of_existing=from_import_of_existing)
    now = uow.clock.now()
    number = await new_temporary_number(
        session, area=await area_code(session, school), birth_date=clean["birthDate"]
    )
    record = StudentRecord(
        national_number=number,
        number_kind=NumberKind.L,
        school_id=school.id,
        unit_path=school.path,
        class_id=school_class.id,
        stage=school_class.stage,
        grade=school_class.grade,
        status=RecordStatus.IN_SCHOOL,
        registration_kind=kind,
        registration_state=RegistrationState.DRAFT,
        is_left_behind=False,
        is_migrant_child=False,
        details={},
        version=1,
        created_at=now,
        updated_at=now,
    )
    assign_values(record, clean)
    session.add(record)
    await session.flush()
    open_number_history(uow, record, reason=REASON_TEMPORARY)
    _add_guardians(uow, record, guardians)
    created = {key: [None, json_value(value)] for key, value in clean.items() if value is not None}
    _history(uow, record, actor, "CREATED", {**created, "guardians": [None, _guardians_json(guardians)]})
    problems = await apply_duplicate_policy(
        uow, record, findings, actor=actor, from_import_of_existing=from_import_of_existing
    )
    await _audit(
        uow,
        actor,
        "record.created",
        record,
        after={
            "nationalNumber": record.national_number,
            "name": record.name,
            "kind": kind.value,
            "classId": school_class.id,
            "problems": [
                problem.problem_type.value for problem in problems if problem.record_id == record.id
            ],
        },
    )
    await session.flush()
    return record


async def continue_record(
    uow: UnitOfWork,
    *,
    actor: Actor | SystemActor,
    record_id: int,
    school_class: SchoolClass,
    earlier_stages: frozenset[Stage],
    values: Mapping[str, Any],
    guardian: Mapping[str, Any] | None,
) -> StudentRecord:
    """Take an earlier-stage record into this school's class: the same record, the same number (NUM-6).

    The record moves to the class's school, stage and grade, in school, as a draft of kind
    ``CONTINUATION`` for the school's and the department's review (REG-8 (4)); its key information stays
    locked (``registered_at``, REG-8 (3)). ``values`` are non-key fields already checked against the
    catalogue (the filled-in sheet); ``guardian``, when given, replaces the first guardian's name, relation
    and phone. Writes history ``CONTINUED`` (from and to) and audit ``record.continued``.

    Raises:
        ContinuationConflictError: the record is gone, in review, or no longer of an earlier stage (another
            school continued it first; the record row is locked, so only one of two can).
    """
    session = uow.session
    school = await session.get(Unit, school_class.school_id)
    assert school is not None
    _require_registrar(actor, school.path, field="schoolClassId")
    try:
        record = await _load_record(uow, record_id)
    except NotFoundError:
        raise ContinuationConflictError() from None
    if record.stage not in earlier_stages or record.registration_state is RegistrationState.IN_REVIEW:
        raise ContinuationConflictError()
    before = {
        "schoolId": record.school_id,
        "classId": record.class_id,
        "stage": record.stage,
        "grade": record.grade,
        "status": record.status,
        "registrationState": record.registration_state,
        "registrationKind": record.registration_kind,
    }
    record.school_id, record.unit_path, record.class_id = school.id, school.path, school_class.id
    record.stage, record.grade, record.status = school_class.stage, school_class.grade, RecordStatus.IN_SCHOOL
    record.registration_kind = RegistrationKind.CONTINUATION
    if record.registered_at is None and record.registration_state is RegistrationState.REGISTERED:
        record.registered_at = uow.clock.now()
    _set_state(uow, record, RegistrationState.DRAFT)
    current = record_values(record)
    applied = {key: value for key, value in values.items() if value != current[key]}
    assign_values(record, applied)
    after = {
        "schoolId": record.school_id,
        "classId": record.class_id,
        "stage": record.stage,
        "grade": record.grade,
        "status": record.status,
        "registrationState": record.registration_state,
        "registrationKind": record.registration_kind,
    }
    changes: dict[str, list[Any]] = {
        key: [before[key], after[key]] for key in before if before[key] != after[key]
    }
    changes |= {key: [json_value(current[key]), json_value(value)] for key, value in applied.items()}
    if guardian:
        old_guardians = await _guardians_of(uow, record)
        first = await session.scalar(
            select(Guardian).where(Guardian.record_id == record.id).order_by(Guardian.position).limit(1)
        )
        if first is None:
            _add_guardians(uow, record, [guardian])
        else:
            assign_values(first, guardian, GUARDIAN_CATALOGUE)
        await session.flush()
        new_guardians = await _guardians_of(uow, record)
        if new_guardians != old_guardians:
            changes["guardians"] = [old_guardians, new_guardians]
    _history(uow, record, actor, "CONTINUED", changes)
    await _audit(
        uow,
        actor,
        "record.continued",
        record,
        before={key: json_value(value) for key, value in before.items()},
        after={key: json_value(value) for key, value in after.items()} | {"fields": sorted(applied)},
    )
    await session.flush()
    return record


def _check_class_fits(kind: RegistrationKind, school_class: SchoolClass) -> None:
    """New-student registration is for primary grade 1; no records for preschool children (REG-2, REG-7)."""
    if kind is RegistrationKind.CONTINUATION:
        raise ValidationError("学籍接续请通过新生名单导入办理，不能在此新建学籍", field="kind")
    if school_class.stage is Stage.PRESCHOOL:
        raise ValidationError("不得为学前教育阶段幼儿建立学籍", field="schoolClassId")
    first_grade = school_class.stage is Stage.PRIMARY and school_class.grade == 1
    if kind is RegistrationKind.PRIMARY_NEW and not first_grade:
        raise ValidationError("小学新生注册只适用于小学一年级班级", field="schoolClassId")
    if kind is RegistrationKind.NON_GRADE_ONE and first_grade:
        raise ValidationError("小学一年级新生请通过小学新生注册建立学籍", field="schoolClassId")


def require_open(settings: ProvinceSettings, kind: RegistrationKind, today: date) -> None:
    """Registration only while the province has the kind's menu open (REG-1, REG-2, REG-3, REG-5; CFG-2).

    Primary new-student registration also needs the province's switch on (CFG-2).
    """
    key, windows = settings.registration_window(kind)
    label = SETTINGS[key].label_zh
    if kind is RegistrationKind.PRIMARY_NEW and not settings.primary_new_enabled:
        raise RegistrationClosedError("本省未开放小学新生注册")
    if not any(window.contains(today) for window in windows):
        raise RegistrationClosedError(f"当前不在{label}内（{describe_windows(windows)}）")


async def submit_registration(
    uow: UnitOfWork, *, actor: Actor | SystemActor, record_id: int, idempotency_key: str | None = None
) -> StudentRecord:
    """Send a draft or returned record for review: DRAFT/RETURNED -> IN_REVIEW (REG-4).

    Every required field must be filled and one guardian given. From now on key information is
    controlled (SEC-6). Writes history ``SUBMITTED``, audit ``record.submitted``, then calls
    ``on_registration_submitted``. With ``idempotency_key`` a retry by the same user returns the record
    as the first call left it and writes nothing.

    Raises:
        RegistrationStateError: the record is not a draft or returned.
        RecordValidationError: required fields are missing.
    """
    record = await _load_record(uow, record_id)
    _require_registrar(actor, record.unit_path)
    replayed = await started_with_key(uow.session, actor, idempotency_key, kind=REGISTRATION_REVIEW)
    if replayed is not None:
        if replayed.subject_id != record.id:
            raise InvalidIdempotencyKeyError()
        return record
    if record.registration_state not in EDITABLE_STATES:
        raise RegistrationStateError("只有草稿或被退回的学籍可以提交核办")
    current = record_values(record)
    missing = [
        FieldError(key, f"{spec.label_zh}为必填项", "REQUIRED")
        for key, spec in CATALOGUE.items()
        if spec.required and not spec.managed and current[key] is None
    ]
    guardians = await uow.session.scalar(
        select(func.count()).select_from(Guardian).where(Guardian.record_id == record.id)
    )
    if not guardians:
        missing.append(FieldError("guardians", "请至少填写一名家庭成员或监护人", "REQUIRED"))
    if missing:
        raise RecordValidationError(missing)
    before = record.registration_state
    _set_state(uow, record, RegistrationState.IN_REVIEW)
    _history(uow, record, actor, "SUBMITTED", {"registrationState": [before, record.registration_state]})
    await _audit(uow, actor, "record.submitted", record, before={"registrationState": before.value})
    settings = await load_province_settings(uow.session, record.unit_path)
    await on_registration_submitted(uow, record, settings, actor, idempotency_key=idempotency_key)
    await uow.session.flush()
    return record


async def on_registration_submitted(
    uow: UnitOfWork,
    record: StudentRecord,
    settings: ProvinceSettings,
    actor: Actor | SystemActor,
    *,
    idempotency_key: str | None = None,
) -> None:
    """Start the registration review (REG-4): the school's leader, then each configured department level.

    The levels come from the province (``review.levels``, default the county, AH 15). The outcome arrives in
    ``_registration_reviewed`` when the last step approves or any step rejects.
    """
    school = await uow.session.get(Unit, record.school_id)
    assert school is not None
    levels = settings.review_levels
    await start_workflow(
        uow,
        actor=actor,
        definition=registration_review(levels),
        subject_type=TARGET,
        subject_id=record.id,
        context=WorkflowContext(subject_school=school),
        idempotency_key=idempotency_key,
    )


@on_finished(REGISTRATION_REVIEW)
async def _registration_reviewed(uow: UnitOfWork, instance: WorkflowInstance, state: WorkflowState) -> None:
    """Make the registration formal after the last approval, or return it to the school (REG-4)."""
    if instance.subject_type != TARGET or state is WorkflowState.CANCELLED:
        return
    record = await _load_record(uow, instance.subject_id)
    if state is WorkflowState.WITHDRAWN:
        _set_state(uow, record, RegistrationState.RETURNED)
        _history(uow, record, REVIEW_ACTOR, "REVIEW_WITHDRAWN", {})
        return
    action = await finishing_action(uow.session, instance.id)
    await finalize_registration(
        uow,
        record,
        approved=state is WorkflowState.APPROVED,
        reason=action.comment if action else None,
        verifier=identity_verifier(uow.settings),
    )


async def finalize_registration(
    uow: UnitOfWork,
    record: StudentRecord,
    *,
    approved: bool,
    reason: str | None,
    verifier: IdentityVerifier,
    actor: Actor | SystemActor = REVIEW_ACTOR,
) -> Promotion | None:
    """Apply the review's outcome (REG-4): approved -> REGISTERED with an official number, else RETURNED.

    Only the department's approval registers the student (REG-4, AH 15); then ``promote_number`` issues G
    or J when the checks pass (NUM-1, NUM-2). A rejection goes back to the school with the reason in the
    record's history. Called by the review workflow's outcome, which has already checked who decided;
    ``actor`` is whoever took the last step.

    Returns:
        What the number promotion did when approved; ``None`` when rejected.

    Raises:
        RegistrationStateError: the record is not in review.
        ValidationError: a rejection without a reason (``field="reason"``).
    """
    if record.registration_state is not RegistrationState.IN_REVIEW:
        raise RegistrationStateError("该学籍不在核办中")
    if approved:
        _set_state(uow, record, RegistrationState.REGISTERED)
        if record.registered_at is None:
            record.registered_at = uow.clock.now()
        _history(uow, record, actor, "REGISTERED", {"registrationState": ["IN_REVIEW", "REGISTERED"]}, reason)
        promotion = await promote_number(uow, record, verifier)
        await _audit(
            uow,
            actor,
            "record.registered",
            record,
            after={"nationalNumber": record.national_number, "promotion": promotion.value},
        )
        await uow.session.flush()
        return promotion
    if not reason or not reason.strip():
        raise ValidationError("核办不通过须说明退回理由", field="reason")
    _set_state(uow, record, RegistrationState.RETURNED)
    _history(uow, record, actor, "RETURNED", {"registrationState": ["IN_REVIEW", "RETURNED"]}, reason.strip())
    await _audit(uow, actor, "record.returned", record, after={"reason": reason.strip()})
    await uow.session.flush()
    return None


# --- maintenance -----------------------------------------------------------------------------------


async def update_record(
    uow: UnitOfWork,
    *,
    actor: Actor | SystemActor,
    record_id: int,
    values: Mapping[str, Any],
    expected_version: int,
    guardians: Sequence[Mapping[str, Any]] | None = None,
) -> UpdateOutcome:
    """Edit a record: non-controlled fields at once, controlled ones returned for approval (CHG-1, CHG-2).

    Before submission (DRAFT, RETURNED) every field is edited directly; a change of an identity field
    re-runs the duplicate check (CHG-3) and a corrected birth date gives a new L number (NUM-7). After
    submission key information (SEC-6) and the controlled fields of every level above the school (CHG-1)
    are not applied but returned in ``needs_approval`` for a change request (CHG-3). ``guardians``, when
    given, replaces the whole list. Applied changes bump ``version`` and write history ``UPDATED`` and
    audit ``record.updated``.

    Raises:
        RecordChangedError: ``RECORD_CHANGED``, ``expected_version`` is stale.
        RecordReadOnlyError: the student graduated or completed (CHG-7).
        RecordValidationError: every field error at once.
        DuplicateRecordError: a draft's new identity belongs to another record (CHG-3, REG-7).
    """
    session = uow.session
    record = await _load_record(uow, record_id)
    _require_registrar(actor, record.unit_path)
    if record.version != expected_version:
        raise RecordChangedError(field="expectedVersion")
    if record.status in READ_ONLY_STATUSES:
        raise RecordReadOnlyError()
    today = local_today(uow.clock)
    current = record_values(record)
    clean, errors = validate_fields(values, today=today, partial=True, context=current)
    new_guardians = None
    if guardians is not None:
        new_guardians, guardian_errors = validate_guardians(guardians, today=today)
        errors += guardian_errors
    errors += await _photo_errors(uow, clean, record.unit_path)
    if errors:
        raise RecordValidationError(errors)

    changed = {key: value for key, value in clean.items() if value != current[key]}
    controlled = await locked_keys(session, record)
    applied = {key: value for key, value in changed.items() if key not in controlled}
    needs_approval = {key: value for key, value in changed.items() if key in controlled}
    changes = {key: [json_value(current[key]), json_value(value)] for key, value in applied.items()}
    if new_guardians is not None:
        old_guardians = await _guardians_of(uow, record)
        if old_guardians != _guardians_json(new_guardians):
            changes["guardians"] = [old_guardians, _guardians_json(new_guardians)]
    if not changes:
        return UpdateOutcome(record=record, applied={}, needs_approval=needs_approval)

    assign_values(record, applied)
    record.version += 1
    record.updated_at = uow.clock.now()
    if "guardians" in changes and new_guardians is not None:
        await session.execute(delete(Guardian).where(Guardian.record_id == record.id))
        _add_guardians(uow, record, new_guardians)
    _history(uow, record, actor, "UPDATED", changes)
    if IDENTITY_KEYS & applied.keys():
        findings = await check_duplicates(
            session,
            id_type=record.id_type,
            id_number=record.id_number,
            name=record.name,
            gender=record.gender,
            birth_date=record.birth_date,
            exclude_record_id=record.id,
        )
        await apply_duplicate_policy(uow, record, findings, actor=actor, from_import_of_existing=False)
        if "birthDate" in applied:
            await reissue_temporary_number(uow, record, user_id=actor.user_id)
    await _audit(
        uow,
        actor,
        "record.updated",
        record,
        before=_masked({key: old for key, (old, _) in changes.items()}),
        after=_masked({key: new for key, (_, new) in changes.items()}),
    )
    await session.flush()
    return UpdateOutcome(record=record, applied=applied, needs_approval=needs_approval)


async def locked_keys(session: AsyncSession, record: StudentRecord) -> set[str]:
    """The fields of this record that change only through an approved change request (CHG-1, SEC-6).

    Nothing for a record never submitted or returned to the school; only key information for a draft
    that was registered before, like a record continued into the next stage (REG-8 (3)); otherwise every
    controlled field (``controlled_field_keys``).
    """
    if record.registration_state not in EDITABLE_STATES:
        return await controlled_field_keys(session, record.unit_path)
    if record.registered_at is not None:
        return set(KEY_INFORMATION_KEYS)
    return set()


async def controlled_field_keys(session: AsyncSession, school_path: str) -> set[str]:
    """The fields whose change at this school needs department approval, in one query.

    The controlled fields every department above the school declared for its level (CHG-1: "set at any
    level"), and the key information (SEC-6).
    """
    departments = path_ids(school_path)[:-1]
    rows = await session.scalars(
        select(ControlledField.field_key).where(ControlledField.unit_id.in_(departments)).distinct()
    )
    return set(rows) | KEY_INFORMATION_KEYS


async def delete_record(
    uow: UnitOfWork, *, actor: Actor | SystemActor, record_id: int, reason: str
) -> StudentRecord:
    """Delete a record softly: registration state DELETED, its number's history closed (NUM-4, SEC-7).

    A record holding a G number is refused unless the province's ``switch.may_delete_official_number``
    is on (NUM-4). The record stays for history; duplicate checks no longer see it.

    Raises:
        ValidationError: no reason given (``field="reason"``).
        OfficialNumberProtectedError: ``OFFICIAL_NUMBER_PROTECTED``.
        RecordBusyError: ``RECORD_BUSY``, a transfer, status change or change request is in progress.
    """
    record = await _load_record(uow, record_id)
    _require_registrar(actor, record.unit_path)
    reason = reason.strip()
    if not reason:
        raise ValidationError("删除学籍须说明理由", field="reason")
    if await has_open_business(uow.session, record.id):
        raise RecordBusyError()
    ensure_deletable(record, await load_province_settings(uow.session, record.unit_path))
    before = record.registration_state
    _set_state(uow, record, RegistrationState.DELETED)
    await close_number_history(uow, record)
    # A deleted record leaves its problem groups; one left alone is no longer a duplicate (PRB-2, PRB-3).
    await resolve_for_record(uow, record=record, resolution="DELETED")
    _history(
        uow, record, actor, "DELETED", {"registrationState": [before, record.registration_state]}, reason
    )
    await _audit(
        uow,
        actor,
        "record.deleted",
        record,
        before={"registrationState": before.value, "nationalNumber": record.national_number},
        after={"reason": reason},
    )
    await uow.session.flush()
    return record


async def reveal_id_number(uow: UnitOfWork, *, actor: Actor | SystemActor, record_id: int) -> str | None:
    """The full ID number of a record, logged: reading a full number is audited (SEC-4, SEC-7).

    For the registrar or leader of the record's school and the registrars of the departments above it.
    Writes audit ``record.id_number_revealed`` (also when the record has no number: ``None``).
    """
    record = await _load_record(uow, record_id, lock=False)
    _require_id_reader(actor, record.unit_path)
    await _audit(uow, actor, "record.id_number_revealed", record, after={"idType": record.id_type.value})
    return record.id_number


# --- permissions -----------------------------------------------------------------------------------


def _require_registrar(actor: Actor | SystemActor, school_path: str, *, field: str | None = None) -> None:
    """Only the school's own registrar enters and maintains its records (ORG-2, ORG-3).

    Wrong role or unit kind: FORBIDDEN; another school: NOT_FOUND, like an absent record.
    """
    try:
        authorize(actor, Operation.MANAGE_RECORDS, school_path)
    except NotFoundError as error:
        raise NotFoundError(field=field) from error


def _require_id_reader(actor: Actor | SystemActor, school_path: str) -> None:
    """Full ID numbers: registrars and leaders within jurisdiction, every reading audited (SEC-4)."""
    authorize(actor, Operation.REVEAL_ID_NUMBERS, school_path)


# --- helpers ---------------------------------------------------------------------------------------


async def _load_record(uow: UnitOfWork, record_id: int, *, lock: bool = True) -> StudentRecord:
    """The record, locked for the change (PostgreSQL; SQLite serialises writers); deleted looks absent."""
    stmt = select(StudentRecord).where(
        StudentRecord.id == record_id, StudentRecord.registration_state != RegistrationState.DELETED
    )
    if lock:
        stmt = stmt.with_for_update()
    record = await uow.session.scalar(stmt.execution_options(populate_existing=True))
    if record is None:
        raise NotFoundError(field="recordId")
    return record


def _set_state(uow: UnitOfWork, record: StudentRecord, state: RegistrationState) -> None:
    record.registration_state = state
    record.version += 1
    record.updated_at = uow.clock.now()


async def _photo_errors(uow: UnitOfWork, clean: Mapping[str, Any], school_path: str) -> list[FieldError]:
    """A photo is an attachment uploaded for the school itself."""
    photo_id = clean.get("photo")
    if photo_id is None:
        return []
    attachment = await uow.session.get(Attachment, photo_id)
    if attachment is None or attachment.unit_path != school_path:
        return [FieldError("photo", "照片不存在，请重新上传", "NOT_FOUND")]
    return []


def _add_guardians(uow: UnitOfWork, record: StudentRecord, rows: Sequence[Mapping[str, Any]]) -> None:
    for position, row in enumerate(rows):
        guardian = Guardian(record_id=record.id, position=position)
        assign_values(guardian, row, GUARDIAN_CATALOGUE)
        uow.session.add(guardian)


async def _guardians_of(uow: UnitOfWork, record: StudentRecord) -> list[dict[str, Any]]:
    rows = await uow.session.scalars(
        select(Guardian).where(Guardian.record_id == record.id).order_by(Guardian.position)
    )
    return _guardians_json([record_values(row, GUARDIAN_CATALOGUE) for row in rows])


def _guardians_json(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [{key: json_value(row.get(key)) for key in GUARDIAN_CATALOGUE} for row in rows]


def _history(
    uow: UnitOfWork,
    record: StudentRecord,
    actor: Actor | SystemActor,
    kind: str,
    changes: Mapping[str, Any],
    reason: str | None = None,
) -> None:
    """One traceable change of a record (SEC-7): who, when, what from and to, why."""
    uow.session.add(
        RecordHistory(
            record_id=record.id,
            at=uow.clock.now(),
            user_id=actor.user_id,
            kind=kind,
            reason=reason,
            changes={key: [json_value(v) for v in pair] for key, pair in changes.items()},
            proof_ids=[],
        )
    )


async def _audit(
    uow: UnitOfWork,
    actor: Actor | SystemActor,
    operation: str,
    record: StudentRecord,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    await record_audit(
        uow,
        actor=actor,
        operation=operation,
        target_type=TARGET,
        target_id=record.id,
        before=before,
        after=after,
        scope_path=record.unit_path,
    )


def _masked(values: Mapping[str, Any]) -> dict[str, Any]:
    """ID numbers in audit rows are masked: department leaders read the log, not full numbers (SEC-4)."""
    masked = dict(values)
    if isinstance(masked.get("idNumber"), str):
        masked["idNumber"] = mask_id_number(masked["idNumber"])
    if isinstance(masked.get("guardians"), list):
        masked["guardians"] = [
            {**g, "idNumber": mask_id_number(g.get("idNumber"))} if isinstance(g, dict) else g
            for g in masked["guardians"]
        ]
    return masked
