"""Turning a classified, completed continuation list into records (REG-8 (4), REG-9, NUM-6).

Each row that is ready (``service.rows_ready_for_registration``: matched or not found, nothing blocking)
becomes a draft record in the class the registrar chose, for the school's and the department's review:

- a ``MATCHED`` row *continues* the earlier-stage record (``records.service.continue_record``): the same
  record and national number move into this school, with key information locked (NUM-6, REG-8 (3));
- a ``NOT_FOUND`` row gets a new record with a temporary L number (``records.service.create_record``),
  after the duplicate check across the deployment (REG-7): a student found by then elsewhere is refused for
  that row, and the same person without an ID is let through and flagged type 3 (PRB-3).

The filled-in columns (``columns.FILL_IN_FIELDS``) go through the record field catalogue, so a row carries
the same checks as a form. A row that fails is reported (row number, column, Chinese message) and left
for another try; the others go on. Every check of a row comes before any write for it, so a refused row
writes nothing and the whole call stays one transaction. Required fields not in the sheet are completed
record by record before submission, which checks them (``submit_registration``).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import select, update

from backend.clock import local_today
from backend.db import UnitOfWork
from backend.domain.actor import Actor
from backend.domain.audit.service import record_audit
from backend.domain.continuation import columns as col
from backend.domain.continuation.classify import RowCode, row_error
from backend.domain.continuation.repository import import_of_school
from backend.domain.continuation.service import ReadyRow, rows_ready_for_registration
from backend.domain.errors import NotFoundError, ValidationError
from backend.domain.permissions import Operation, authorize
from backend.domain.records.duplicates import check_duplicates
from backend.domain.records.errors import ContinuationConflictError, DuplicateRecordError, FieldError
from backend.domain.records.fields import CATALOGUE, GUARDIAN_CATALOGUE, validate_fields, validate_guardians
from backend.domain.records.service import continue_record, create_record, require_open
from backend.domain.settings import load_province_settings
from backend.models import ContinuationRow, SchoolClass, Unit
from backend.models.enums import RegistrationKind, Stage

REGISTERED = "REGISTERED"
LABELS = {f.key: f.label for f in col.FILL_IN_FIELDS}
# Fill-in keys describing the first guardian, by their key in the guardian catalogue.
GUARDIAN_KEYS = {"guardianName": "name", "guardianRelation": "relation", "guardianPhone": "phone"}
RECORD_KEYS = frozenset(LABELS) - frozenset(GUARDIAN_KEYS)
assert RECORD_KEYS <= CATALOGUE.keys()
assert set(GUARDIAN_KEYS.values()) <= GUARDIAN_CATALOGUE.keys()


@dataclass(frozen=True)
class RegisteredRow:
    row_id: int
    row_number: int
    record_id: int
    continued: bool


@dataclass(frozen=True)
class RegistrationReport:
    """What ``register_rows`` did: the rows that became records and the rows refused, with why."""

    import_id: int
    registered: list[RegisteredRow] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)


async def register_rows(
    uow: UnitOfWork,
    *,
    actor: Actor,
    import_id: int,
    school_class_id: int,
    row_ids: Collection[int] | None = None,
) -> RegistrationReport:
    """Make draft records of an import's ready rows in one class (REG-8 (4)).

    Args:
        uow: the open unit of work; refused rows write nothing, registered ones commit with it.
        actor: a registrar of the import's school.
        import_id: the continuation import.
        school_class_id: the class of this school the students enter; of the import's stage.
        row_ids: the rows to register; ``None`` for every ready row. A named row that is not ready
            (unconfirmed, invalid, blocked, registered already, or not in this import) is reported.

    Raises:
        ForbiddenError: not a school registrar.
        NotFoundError: no such import or class at the actor's school.
        ValidationError: the class is not of the import's stage, or not grade 1 for primary entrants.
        RegistrationClosedError: primary entrants outside the province's new-student window (REG-2).
    """
    authorize(actor, Operation.MANAGE_RECORDS)
    session = uow.session
    continuation = await import_of_school(session, actor, import_id, for_update=True)
    stage = Stage(continuation.target_stage)
    school_class = await session.get(SchoolClass, school_class_id)
    if school_class is None or school_class.school_id != actor.unit_id:
        raise NotFoundError(field="schoolClassId")
    if school_class.stage is not stage:
        raise ValidationError("所选班级的学段与本次接续的学段不一致", field="schoolClassId")
    today = local_today(uow.clock)
    if stage is Stage.PRIMARY:
        if school_class.grade != 1:
            raise ValidationError("小学新生接续只能编入一年级班级", field="schoolClassId")
        # Primary entrants come in through new-student registration (REG-2), in its window.
        school = await session.get(Unit, actor.unit_id)
        assert school is not None
        require_open(await load_province_settings(session, school.path), RegistrationKind.PRIMARY_NEW, today)

    ready = await rows_ready_for_registration(session, continuation.id)
    errors: list[dict[str, Any]] = []
    if row_ids is not None:
        wanted = set(row_ids)
        ready = [row for row in ready if row.row_id in wanted]
        missing = wanted - {row.row_id for row in ready}
        if missing:
            numbers = await _row_numbers(uow, continuation.id, missing)
            errors.extend(
                row_error(
                    numbers.get(row_id, 0), None, RowCode.NOT_READY, "该行尚不能注册（未确认、有误或已注册）"
                )
                | {"rowId": row_id}
                for row_id in sorted(missing)
            )

    registered: list[RegisteredRow] = []
    for row in ready:
        values, guardian, row_errors = _sheet_values(row, today=today)
        if row_errors:
            errors.extend(row_errors)
            continue
        try:
            record_id = await _register_row(uow, actor, row, school_class, stage, values, guardian)
        except (DuplicateRecordError, ContinuationConflictError) as refused:
            # Both are raised before anything of the row is written (see the module docstring).
            errors.append(
                row_error(row.row_number, None, RowCode(refused.code), refused.message)
                | {"rowId": row.row_id}
            )
            continue
        registered.append(
            RegisteredRow(row.row_id, row.row_number, record_id, row.matched_record_id is not None)
        )

    if registered:
        await session.execute(
            update(ContinuationRow),
            [{"id": done.row_id, "record_id": done.record_id} for done in registered],
        )
    counts = dict(continuation.counts)
    counts[REGISTERED] = counts.get(REGISTERED, 0) + len(registered)
    continuation.counts = counts
    continuation.updated_at = uow.clock.now()
    errors.sort(key=lambda e: e["row"])
    await record_audit(
        uow,
        actor=actor,
        operation="continuation.registered",
        target_type="continuation_import",
        target_id=continuation.id,
        after={
            "classId": school_class.id,
            "registered": len(registered),
            "continued": sum(done.continued for done in registered),
            "refused": len(errors),
        },
    )
    return RegistrationReport(continuation.id, registered, errors, counts)


async def _register_row(
    uow: UnitOfWork,
    actor: Actor,
    row: ReadyRow,
    school_class: SchoolClass,
    stage: Stage,
    values: dict[str, Any],
    guardian: dict[str, Any] | None,
) -> int:
    """One row's record: the earlier-stage one continued, or a new one; raises before writing if refused."""
    if row.matched_record_id is not None:
        record = await continue_record(
            uow,
            actor=actor,
            record_id=row.matched_record_id,
            school_class=school_class,
            earlier_stages=col.EARLIER_STAGES[stage],
            values=values,
            guardian=guardian,
        )
        return record.id
    identity = {
        "name": row.name,
        "gender": row.gender,
        "birthDate": row.birth_date,
        "idType": row.id_type,
        "idNumber": row.id_number,
    }
    school = await uow.session.get(Unit, school_class.school_id)
    assert school is not None
    findings = await check_duplicates(
        uow.session,
        id_type=row.id_type,
        id_number=row.id_number,
        name=row.name,
        gender=row.gender,
        birth_date=row.birth_date,
    )
    record = await create_record(
        uow,
        actor=actor,
        kind=RegistrationKind.CONTINUATION,
        school=school,
        school_class=school_class,
        clean=identity | values,
        guardians=[guardian] if guardian else [],
        findings=findings,
        from_import_of_existing=False,
    )
    return record.id


def _sheet_values(
    row: ReadyRow, *, today: date
) -> tuple[dict[str, Any], dict[str, Any] | None, list[dict[str, Any]]]:
    """The row's filled-in fields checked by the catalogue: record values, first guardian, row errors."""
    details: Mapping[str, Any] = row.details or {}
    raw = {key: details[key] for key in RECORD_KEYS if details.get(key) not in (None, "")}
    values, field_errors = validate_fields(raw, today=today, partial=True)
    guardian: dict[str, Any] | None = None
    raw_guardian = {
        GUARDIAN_KEYS[key]: details[key] for key in GUARDIAN_KEYS if details.get(key) not in (None, "")
    }
    if raw_guardian:
        checked, guardian_errors = validate_guardians([raw_guardian], today=today)
        field_errors += [_as_sheet_key(error) for error in guardian_errors]
        guardian = checked[0]
    errors = [
        row_error(row.row_number, LABELS.get(error.key), RowCode.INVALID_VALUE, error.message_zh)
        | {"rowId": row.row_id}
        for error in field_errors
    ]
    return values, guardian, errors


def _as_sheet_key(error: FieldError) -> FieldError:
    """``guardians[0].name`` -> ``guardianName``, the sheet column it came from."""
    key = error.key.removeprefix("guardians[0].")
    sheet_key = next((sheet for sheet, guardian in GUARDIAN_KEYS.items() if guardian == key), error.key)
    return FieldError(sheet_key, error.message_zh, error.code)


async def _row_numbers(uow: UnitOfWork, import_id: int, row_ids: Collection[int]) -> dict[int, int]:
    rows = await uow.session.execute(
        select(ContinuationRow.id, ContinuationRow.row_number).where(
            ContinuationRow.import_id == import_id, ContinuationRow.id.in_(row_ids)
        )
    )
    return {row.id: row.row_number for row in rows}
