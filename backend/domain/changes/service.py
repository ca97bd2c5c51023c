"""Change requests for controlled fields (CHG-1, CHG-3, CHG-4, NUM-5, SEC-6).

After a record is submitted, key information (SEC-6) and every controlled field defined by the departments
above the school (CHG-1) change only through a request: the school's registrar asks with a reason and proof
(household-registry proof for the five identity fields, CHG-3), the school's leader and then the supervising
department approve on the workflow engine, and only the final approval applies the change. Identity changes
then re-run the duplicate check; for a record with an official number, the identity check too, which moves
the number by the rules and keeps its history (CHG-4, NUM-5).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from backend.clock import local_today
from backend.db import UnitOfWork
from backend.domain.actor import Actor, SystemActor
from backend.domain.attachments.service import require_proofs
from backend.domain.audit.service import record_audit
from backend.domain.errors import ConflictError, NotFoundError, ValidationError
from backend.domain.permissions import Operation, authorize
from backend.domain.problems.handling import resolve_for_record
from backend.domain.records.duplicates import apply_duplicate_policy, check_duplicates
from backend.domain.records.errors import RecordReadOnlyError, RecordValidationError
from backend.domain.records.fields import (
    IDENTITY_KEYS,
    assign_values,
    json_value,
    record_values,
    validate_fields,
)
from backend.domain.records.identity import identity_verifier
from backend.domain.records.numbers import promote_number, reissue_temporary_number
from backend.domain.records.service import (
    READ_ONLY_STATUSES,
    locked_keys,
)
from backend.domain.settings import load_province_settings
from backend.domain.workflows.definitions import CHANGE_REQUEST_REVIEW, WorkflowContext, change_request_review
from backend.domain.workflows.engine import start_workflow, started_with_key
from backend.domain.workflows.errors import InvalidIdempotencyKeyError
from backend.domain.workflows.outcomes import on_finished
from backend.models import ChangeRequest, RecordHistory, StudentRecord, Unit, WorkflowInstance
from backend.models.enums import NumberKind, WorkflowState

SUBJECT = "change_request"
SYSTEM = SystemActor(name="change-request")


class ProofRequiredError(ValidationError):
    code = "PROOF_REQUIRED"
    message = "修改姓名、性别、出生日期、身份证件类型或号码须上传户籍部门出具的证明材料"


class NotControlledError(ValidationError):
    code = "NOT_CONTROLLED"
    message = "该字段不是受控字段，学校可直接修改"


class NothingToChangeError(ValidationError):
    code = "NOTHING_TO_CHANGE"
    message = "申请的值与现有学籍信息相同"


class ChangeOutdatedError(ConflictError):
    code = "CHANGE_OUTDATED"
    message = "学籍信息在申请后已被修改，请重新提交变更申请"


async def request_change(
    uow: UnitOfWork,
    *,
    actor: Actor | SystemActor,
    record_id: int,
    values: Mapping[str, Any],
    reason: str,
    proof_ids: Sequence[int],
    idempotency_key: str | None = None,
) -> ChangeRequest:
    """Ask for a change of controlled fields and start its review (CHG-3, SEC-6).

    Only controlled fields may be asked for (others the school edits directly, CHG-2); identity fields
    need proof (CHG-3); graduated records are read-only (CHG-7). With ``idempotency_key`` a retry by the
    same user returns the first request and writes nothing.
    """
    record = await uow.session.get(StudentRecord, record_id, with_for_update=True)
    if record is None:
        raise NotFoundError(field="recordId")
    authorize(actor, Operation.MANAGE_RECORDS, record.unit_path)
    replayed = await started_with_key(uow.session, actor, idempotency_key, kind=CHANGE_REQUEST_REVIEW)
    if replayed is not None:
        first = await uow.session.get(ChangeRequest, replayed.subject_id)
        if first is None or first.record_id != record.id:
            raise InvalidIdempotencyKeyError()
        return first
    if record.status in READ_ONLY_STATUSES:
        raise RecordReadOnlyError()
    controlled = await locked_keys(uow.session, record)
    if not controlled:
        raise NotControlledError("草稿或被退回的学籍可直接修改，无须申请", field="values")
    if not reason.strip():
        raise ValidationError("须填写变更理由", field="reason")
    current = record_values(record)
    clean, errors = validate_fields(values, today=local_today(uow.clock), partial=True, context=current)
    if errors:
        raise RecordValidationError(errors)
    loose = sorted(set(clean) - controlled)
    if loose:
        raise NotControlledError(field=loose[0])
    changes = {k: [json_value(current[k]), json_value(v)] for k, v in clean.items() if v != current[k]}
    if not changes:
        raise NothingToChangeError(field="values")
    if IDENTITY_KEYS & changes.keys() and not proof_ids:
        raise ProofRequiredError(field="proofIds")
    if isinstance(actor, Actor):
        proof_ids = await require_proofs(uow.session, actor, proof_ids, field="proofIds")
    if actor.user_id is None:
        raise ValidationError("变更申请须由学校学籍管理员提出", field="recordId")
    request = ChangeRequest(
        record_id=record.id,
        unit_path=record.unit_path,
        changes=changes,
        reason=reason.strip(),
        proof_ids=list(proof_ids),
        state="IN_REVIEW",
        requested_by_id=actor.user_id,
        created_at=uow.clock.now(),
    )
    uow.session.add(request)
    await uow.session.flush()
    school = await uow.session.get(Unit, record.school_id)
    assert school is not None
    settings = await load_province_settings(uow.session, record.unit_path)
    instance = await start_workflow(
        uow,
        actor=actor,
        definition=change_request_review(settings.review_levels),
        subject_type=SUBJECT,
        subject_id=request.id,
        context=WorkflowContext(subject_school=school),
        idempotency_key=idempotency_key,
    )
    request.workflow_id = instance.id
    uow.session.add(
        RecordHistory(
            record_id=record.id,
            at=uow.clock.now(),
            user_id=actor.user_id,
            kind="CHANGE_REQUESTED",
            reason=request.reason,
            changes=changes,
            proof_ids=list(proof_ids),
            change_request_id=request.id,
        )
    )
    await record_audit(
        uow,
        actor=actor,
        operation="change_request.created",
        target_type="change_request",
        target_id=request.id,
        after={"recordId": record.id, "fields": sorted(changes)},
    )
    return request


@on_finished(CHANGE_REQUEST_REVIEW)
async def _change_reviewed(uow: UnitOfWork, instance: WorkflowInstance, state: WorkflowState) -> None:
    if instance.subject_type != SUBJECT:
        return
    request = await uow.session.get(ChangeRequest, instance.subject_id, with_for_update=True)
    assert request is not None
    request.decided_at = uow.clock.now()
    if state is not WorkflowState.APPROVED:
        request.state = str(state)
        return
    await apply_change(uow, request)


async def apply_change(uow: UnitOfWork, request: ChangeRequest) -> StudentRecord:
    """Apply an approved change; identity changes re-run the checks (CHG-3, CHG-4, NUM-5)."""
    record = await uow.session.get(StudentRecord, request.record_id, with_for_update=True)
    assert record is not None
    current = record_values(record)
    if any(json_value(current[key]) != old for key, (old, _) in request.changes.items()):
        raise ChangeOutdatedError()
    clean, errors = validate_fields(
        {key: new for key, (_, new) in request.changes.items()},
        today=local_today(uow.clock),
        partial=True,
        context=current,
    )
    if errors:
        raise RecordValidationError(errors)
    assign_values(record, clean)
    record.version += 1
    record.updated_at = uow.clock.now()
    request.state = "APPROVED"
    uow.session.add(
        RecordHistory(
            record_id=record.id,
            at=uow.clock.now(),
            user_id=None,
            kind="CHANGE_APPROVED",
            reason=request.reason,
            changes=request.changes,
            proof_ids=list(request.proof_ids),
            change_request_id=request.id,
        )
    )
    if IDENTITY_KEYS & request.changes.keys():
        findings = await check_duplicates(
            uow.session,
            id_type=record.id_type,
            id_number=record.id_number,
            name=record.name,
            gender=record.gender,
            birth_date=record.birth_date,
            exclude_record_id=record.id,
        )
        await apply_duplicate_policy(uow, record, findings, actor=SYSTEM, from_import_of_existing=False)
        # Left its duplicate group: those problems are resolved (PRB-2, PRB-3).
        await resolve_for_record(uow, record=record, resolution="CHANGED")
        if record.number_kind is NumberKind.L and "birthDate" in request.changes:
            await reissue_temporary_number(uow, record, user_id=None)
        elif record.number_kind is not NumberKind.L:
            await promote_number(uow, record, identity_verifier(uow.settings))
    await record_audit(
        uow,
        actor=SYSTEM,
        operation="change_request.applied",
        target_type="student_record",
        target_id=record.id,
        after={"changeRequestId": request.id, "fields": sorted(request.changes)},
        scope_path=record.unit_path,
    )
    return record
