"""Working off problem records (PRB-1..3): evidence, change, deletion and arbitration.

A problem moves OPEN → EVIDENCE_SUBMITTED (the school uploads proof) → reviewed by the school's
supervising department: rejected evidence goes back to OPEN; accepted evidence resolves an ID error
(PRB-1) or a duplicate without ID (PRB-3) at once, while for a duplicate with ID (PRB-2) only one record
may remain — when the departments of two or more records each confirm their own, the group goes to
ARBITRATION at their common superior (ORG-4), which keeps one. Changing a record's identity or deleting it
resolves its problems, and a group left with a single open member is resolved with it.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select

from backend.db import UnitOfWork
from backend.domain.actor import Actor
from backend.domain.attachments.service import require_proofs
from backend.domain.audit.service import record_audit
from backend.domain.errors import ConflictError, ForbiddenError, NotFoundError, ValidationError
from backend.domain.permissions import Operation, authorize
from backend.domain.units.repository import get_units
from backend.domain.units.tree import common_superior_id, path_ids
from backend.models import ProblemRecord, RecordHistory, StudentRecord, Unit
from backend.models.enums import ProblemState, ProblemType, UnitKind

OPEN_STATES = frozenset(
    {ProblemState.OPEN, ProblemState.EVIDENCE_SUBMITTED, ProblemState.CONFIRMED, ProblemState.ARBITRATION}
)
DEPARTMENT_KINDS = frozenset({UnitKind.MINISTRY, UnitKind.PROVINCE, UnitKind.CITY, UnitKind.COUNTY})


class ProblemStateError(ConflictError):
    code = "PROBLEM_STATE"
    message = "问题学籍当前状态不允许此操作"


async def _problem(uow: UnitOfWork, actor: Actor, problem_id: int) -> ProblemRecord:
    authorize(actor, Operation.HANDLE_PROBLEMS)
    problem = await uow.session.get(ProblemRecord, problem_id)
    if problem is None or not actor.covers_path(problem.unit_path):
        raise NotFoundError(field="problemId")
    return problem


async def _supervising_department(uow: UnitOfWork, school_path: str) -> Unit:
    """The nearest department above a school (branch schools skip their central school)."""
    ancestors = await get_units(uow.session, path_ids(school_path)[:-1])
    for unit_id in reversed(path_ids(school_path)[:-1]):
        unit = ancestors.get(unit_id)
        if unit is not None and unit.kind in DEPARTMENT_KINDS:
            return unit
    raise NotFoundError()


def _resolve(problem: ProblemRecord, resolution: str, uow: UnitOfWork) -> None:
    problem.state = ProblemState.RESOLVED
    problem.resolution = resolution
    problem.resolved_at = uow.clock.now()
    problem.version += 1


async def _history(
    uow: UnitOfWork, actor: Actor | None, problem: ProblemRecord, kind: str, reason: str
) -> None:
    uow.session.add(
        RecordHistory(
            record_id=problem.record_id,
            at=uow.clock.now(),
            user_id=actor.user_id if actor else None,
            kind=kind,
            reason=reason,
            changes={"problem": [problem.id, str(problem.state)]},
            proof_ids=list(problem.evidence_ids),
        )
    )


async def submit_evidence(
    uow: UnitOfWork, *, actor: Actor, problem_id: int, attachment_ids: Sequence[int], note: str
) -> ProblemRecord:
    """The school uploads proof (e.g. the household-registry office's certificate) for review (PRB-1..3)."""
    authorize(actor, Operation.MANAGE_RECORDS)
    problem = await uow.session.get(ProblemRecord, problem_id)
    if problem is None:
        raise NotFoundError(field="problemId")
    authorize(actor, Operation.MANAGE_RECORDS, problem.unit_path)
    if problem.state not in {ProblemState.OPEN}:
        raise ProblemStateError()
    if not attachment_ids:
        raise ValidationError("须上传证明材料", field="attachmentIds")
    attachment_ids = await require_proofs(uow.session, actor, attachment_ids, field="attachmentIds")
    if not note.strip():
        raise ValidationError("须填写说明", field="note")
    problem.evidence_ids = [*problem.evidence_ids, *attachment_ids]
    problem.state = ProblemState.EVIDENCE_SUBMITTED
    problem.detail = note.strip()
    problem.version += 1
    await _history(uow, actor, problem, "PROBLEM_EVIDENCE", note.strip())
    await record_audit(
        uow,
        actor=actor,
        operation="problem.evidence_submitted",
        target_type="problem_record",
        target_id=problem.id,
        after={"attachmentIds": list(attachment_ids)},
    )
    return problem


async def review_evidence(
    uow: UnitOfWork, *, actor: Actor, problem_id: int, accept: bool, comment: str
) -> ProblemRecord:
    """The supervising department accepts or rejects a school's evidence (PRB-1..3).

    Accepted: an ID error or a duplicate without ID stops being a problem (PRB-1, PRB-3); a duplicate with
    ID is confirmed for its side, and once two sides are confirmed the group goes to arbitration (PRB-2).
    """
    problem = await _problem(uow, actor, problem_id)
    if problem.state is not ProblemState.EVIDENCE_SUBMITTED:
        raise ProblemStateError()
    department = await _supervising_department(uow, problem.unit_path)
    if actor.unit_id != department.id:
        raise ForbiddenError("证明材料由学校的主管教育部门核办")
    if not accept and not comment.strip():
        raise ValidationError("退回须填写理由", field="comment")
    if not accept:
        problem.state = ProblemState.OPEN
        problem.version += 1
        await _history(uow, actor, problem, "PROBLEM_EVIDENCE_REJECTED", comment.strip())
    elif problem.problem_type is ProblemType.DUPLICATE_WITH_ID:
        problem.state = ProblemState.CONFIRMED
        problem.version += 1
        await _history(uow, actor, problem, "PROBLEM_CONFIRMED", comment.strip() or "佐证通过")
        await _escalate_if_contested(uow, problem)
    else:
        _resolve(problem, "EVIDENCE", uow)
        await _history(uow, actor, problem, "PROBLEM_RESOLVED", comment.strip() or "佐证通过")
    await record_audit(
        uow,
        actor=actor,
        operation="problem.evidence_reviewed",
        target_type="problem_record",
        target_id=problem.id,
        after={"accepted": accept, "state": str(problem.state)},
    )
    return problem


async def _group(uow: UnitOfWork, problem: ProblemRecord) -> list[ProblemRecord]:
    rows = await uow.session.scalars(
        select(ProblemRecord).where(
            ProblemRecord.problem_type == problem.problem_type,
            ProblemRecord.group_key == problem.group_key,
            ProblemRecord.state.in_(OPEN_STATES),
        )
    )
    return list(rows)


async def _escalate_if_contested(uow: UnitOfWork, problem: ProblemRecord) -> None:
    """Two or more sides each confirmed their own record: the common superior arbitrates (PRB-2, ORG-4)."""
    confirmed = [p for p in await _group(uow, problem) if p.state is ProblemState.CONFIRMED]
    if len(confirmed) < 2:
        return
    arbiter_path = confirmed[0].unit_path
    for other in confirmed[1:]:
        superior = common_superior_id(arbiter_path, other.unit_path)
        if superior is None:
            raise ConflictError("这些学籍没有共同上级，无法仲裁")
        unit = await uow.session.get(Unit, superior)
        assert unit is not None
        arbiter_path = unit.path
    arbiter_id = path_ids(arbiter_path)[-1]
    for member in confirmed:
        member.state = ProblemState.ARBITRATION
        member.arbiter_id = arbiter_id
        member.version += 1


async def arbitrate(
    uow: UnitOfWork, *, actor: Actor, problem_id: int, keep_record_id: int, comment: str
) -> list[ProblemRecord]:
    """The common superior keeps one record of a contested duplicate group (PRB-2).

    The kept record stops being a problem; the others return to their schools, which must change or
    delete them (their problem stays open until they do).
    """
    problem = await _problem(uow, actor, problem_id)
    if problem.state is not ProblemState.ARBITRATION or problem.arbiter_id is None:
        raise ProblemStateError()
    if actor.unit_id != problem.arbiter_id:
        raise ForbiddenError("仲裁由双方主管教育部门的共同上级进行")
    if not comment.strip():
        raise ValidationError("须填写仲裁意见", field="comment")
    members = [p for p in await _group(uow, problem) if p.state is ProblemState.ARBITRATION]
    if keep_record_id not in {m.record_id for m in members}:
        raise ValidationError("保留的学籍须是仲裁中的学籍之一", field="keepRecordId")
    for member in members:
        if member.record_id == keep_record_id:
            _resolve(member, "KEPT_BY_ARBITRATION", uow)
            await _history(uow, actor, member, "PROBLEM_ARBITRATED", comment.strip())
        else:
            member.state = ProblemState.OPEN
            member.resolution = "NOT_KEPT"
            member.detail = f"仲裁未保留：{comment.strip()}；须变更或删除"
            member.version += 1
            await _history(uow, actor, member, "PROBLEM_ARBITRATED", member.detail)
    await record_audit(
        uow,
        actor=actor,
        operation="problem.arbitrated",
        target_type="problem_record",
        target_id=problem.id,
        after={"keptRecordId": keep_record_id, "members": [m.record_id for m in members]},
    )
    return members


async def resolve_for_record(uow: UnitOfWork, *, record: StudentRecord, resolution: str) -> None:
    """A record was deleted, or its identity changed so it left its group: its problems are resolved.

    A duplicate group then left with a single open member stops being a duplicate, so that member is
    resolved too (PRB-2, PRB-3). Called by the records service inside its unit of work.
    """
    rows = await uow.session.scalars(
        select(ProblemRecord).where(
            ProblemRecord.record_id == record.id, ProblemRecord.state.in_(OPEN_STATES)
        )
    )
    for problem in list(rows):
        if problem.problem_type is ProblemType.ID_ERROR and resolution != "DELETED":
            continue  # an ID error is resolved by a passed identity check, not by any change
        _resolve(problem, resolution, uow)
        await _history(uow, None, problem, "PROBLEM_RESOLVED", resolution)
        if problem.problem_type is not ProblemType.ID_ERROR:
            remaining = await _group(uow, problem)
            if len(remaining) == 1:
                _resolve(remaining[0], "NO_LONGER_DUPLICATE", uow)
                await _history(uow, None, remaining[0], "PROBLEM_RESOLVED", "NO_LONGER_DUPLICATE")


async def resolve_id_error(uow: UnitOfWork, *, record: StudentRecord) -> None:
    """The identity check passed after a change: the record's ID-error problem is resolved (PRB-1)."""
    rows = await uow.session.scalars(
        select(ProblemRecord).where(
            ProblemRecord.record_id == record.id,
            ProblemRecord.problem_type == ProblemType.ID_ERROR,
            ProblemRecord.state.in_(OPEN_STATES),
        )
    )
    for problem in list(rows):
        _resolve(problem, "IDENTITY_VERIFIED", uow)
        await _history(uow, None, problem, "PROBLEM_RESOLVED", "IDENTITY_VERIFIED")
