"""Continuation use cases (学籍接续, REG-8, REG-9): import, confirm, decide, export, complete.

1. ``create_import`` reads an uploaded list, validates every row, classifies the valid ones against
   earlier-stage records (``classify``) and stores the import with one row per list row (REG-8 (1)–(2)).
2. ``confirm_candidate`` records the registrar's pick for a row to confirm; ``decide_continuation`` the
   choice REG-9 asks for when a vocational entrant was already admitted by a regular senior high school.
3. ``export_rows`` hands out the list as a protected sheet with the fields to fill in, and
   ``apply_filled_sheet`` takes the filled sheet back (REG-8 (3)); identity cells of matched rows are
   locked (``IDENTITY_LOCKED``). ``template_xlsx`` is the empty list to start from.
4. ``rows_ready_for_registration`` lists what the records service may turn into draft records.

**One transaction per file.** A school's list is normally up to about 10,000 rows, which validate,
classify and insert in well under a second (``bench/continuation_import.py``), so a list is stored whole
or not at all: the registrar never meets half an import. A rejected *file* (not a readable ``.xlsx``,
wrong columns, no rows, too many rows) raises and writes nothing. Bad *rows* are stored as ``INVALID``
with their errors, beside the good ones. Reading and validating run in a worker thread so that a big file
does not stall the server's event loop; lookups go in chunks of up to 1,000 rows, one statement each,
and the rows are written in one statement, never as ORM objects one by one.

That statement is ``repository.insert_rows``: ``COPY`` on PostgreSQL, one ``executemany`` on SQLite, both
in the unit of work's transaction, with the values prepared once, in plain Python. Through SQLAlchemy, even
a Core ``insert(ContinuationRow.__table__)`` converted each of the 14 values of each row in Python (JSON
encoding, dates, enums) and cost more than the database's own work: 10,000 rows took about 110 ms on
SQLite and 200 ms on PostgreSQL; they now take about 40 and 85 ms, three quarters of PostgreSQL's in its
foreign-key checks. (The ORM's bulk path, ``insert(ContinuationRow)``, was slower still.)
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from backend.clock import local_today
from backend.db import UnitOfWork
from backend.domain.actor import Actor
from backend.domain.attachments.service import AttachmentPurpose, default_store, load_bytes
from backend.domain.attachments.store import FileStore
from backend.domain.audit.service import record_audit
from backend.domain.continuation import columns as col
from backend.domain.continuation import workbook
from backend.domain.continuation.classify import (
    ERROR,
    WARNING,
    Decision,
    ListRow,
    RowCode,
    blocking_reason,
    classify_rows,
    flag_duplicates,
    parse_list_row,
    row_error,
    senior_warning,
)
from backend.domain.continuation.errors import NotACandidateError, RowStateError, TargetStageError
from backend.domain.continuation.reader import Cell, SheetRow, is_blank, read_sheet
from backend.domain.continuation.repository import import_of_school, insert_rows, row_of_school
from backend.domain.errors import NotFoundError
from backend.domain.permissions import Operation, authorize
from backend.models import Attachment, ContinuationImport, ContinuationRow, StudentRecord, Unit
from backend.models.enums import Gender, IdType, ImportRowState, RegistrationState, Stage

CLASSIFIED = "CLASSIFIED"
TOTAL = "TOTAL"
WARNINGS = "WARNINGS"
# Labels in ``ListRow.identity()`` order.
IDENTITY_ORDER = (col.NAME, col.GENDER, col.BIRTH_DATE, col.ID_TYPE, col.ID_NUMBER, col.NATIONAL_NUMBER)
FILL_IN_KEYS = frozenset(f.key for f in col.FILL_IN_FIELDS)

_STORED_COLUMNS = (
    ContinuationRow.id,
    ContinuationRow.row_number,
    ContinuationRow.state,
    ContinuationRow.name,
    ContinuationRow.gender,
    ContinuationRow.birth_date,
    ContinuationRow.id_type,
    ContinuationRow.id_number,
    ContinuationRow.national_number,
    ContinuationRow.candidate_ids,
    ContinuationRow.matched_record_id,
    ContinuationRow.record_id,
    ContinuationRow.errors,
    ContinuationRow.details,
)


# --- importing a list ----------------------------------------------------------------------------------


async def create_import(
    uow: UnitOfWork,
    *,
    actor: Actor,
    attachment_id: int,
    target_stage: Stage,
    store: FileStore | None = None,
) -> ContinuationImport:
    """Import a new-student list and classify each row (REG-8 (1)–(2); REG-9 for vocational schools).

    Args:
        uow: the open unit of work; the whole list is stored in its transaction, or nothing is.
        actor: a registrar of the school the students enter.
        attachment_id: the list, uploaded by this school with purpose ``IMPORT``.
        target_stage: the stage the students enter, offered by the school; ``VOCATIONAL`` expects the
            six-column list with 学籍号 first.
        store: where the file's bytes are; the configured directory by default.

    Raises:
        ForbiddenError: not a school registrar.
        NotFoundError: no such import file of this school.
        TargetStageError: continuation does not lead into that stage, or the school does not offer it.
        ImportFileError, ImportColumnsError, ImportEmptyError, ImportTooManyRowsError: the file is
            rejected and nothing is written.
    """
    authorize(actor, Operation.MANAGE_RECORDS)
    stage = await _target_stage(uow, actor, target_stage)
    attachment = await _list_file(uow, actor, attachment_id)
    data = await load_bytes(attachment, store or default_store(uow))
    rows = await asyncio.to_thread(read_list, data, target_stage=stage, today=local_today(uow.clock))
    await classify_rows(uow.session, rows, target_stage=stage)

    now = uow.clock.now()
    continuation = ContinuationImport(
        school_id=actor.unit_id,
        unit_path=actor.unit_path,
        attachment_id=attachment.id,
        state=CLASSIFIED,
        target_stage=str(stage),
        counts=count_rows((row.state, row.errors) for row in rows),
        created_by_id=actor.user_id,
        created_at=now,
        updated_at=now,
    )
    uow.session.add(continuation)
    await uow.session.flush()
    await insert_rows(uow.session, continuation.id, rows)
    await record_audit(
        uow,
        actor=actor,
        operation="continuation.imported",
        target_type="continuation_import",
        target_id=continuation.id,
        after={"attachmentId": attachment.id, "targetStage": str(stage), "counts": continuation.counts},
    )
    return continuation


def read_list(data: bytes, *, target_stage: Stage, today: date) -> list[ListRow]:
    """Read and validate a list file (no I/O beyond the bytes given): rows with their own errors."""
    sheet = read_sheet(data, required=col.list_columns(target_stage))
    rows = [parse_list_row(row, target_stage=target_stage, today=today) for row in sheet.rows]
    flag_duplicates(rows)
    return rows


def count_rows(rows: Iterable[tuple[str, Sequence[Mapping[str, Any]]]]) -> dict[str, int]:
    """Rows per state, the total, and how many carry a warning: ``ContinuationImport.counts``."""
    states: Counter[str] = Counter()
    warnings = 0
    for state, errors in rows:
        states[str(state)] += 1
        if errors:  # most rows have none: no generator for them
            warnings += any(entry["level"] == WARNING for entry in errors)
    counts = {str(state): states[str(state)] for state in ImportRowState}
    counts[TOTAL] = sum(states.values())
    counts[WARNINGS] = warnings
    return counts


async def _target_stage(uow: UnitOfWork, actor: Actor, target_stage: Stage) -> Stage:
    try:
        stage = Stage(target_stage)
    except ValueError:
        raise TargetStageError(field="targetStage") from None
    if stage not in col.EARLIER_STAGES:
        raise TargetStageError(field="targetStage")
    school = await uow.session.get(Unit, actor.unit_id)
    if school is None or str(stage) not in (school.stages or []):
        raise TargetStageError("本校未开设该学段，不能为其办理学籍接续", field="targetStage")
    return stage


async def _list_file(uow: UnitOfWork, actor: Actor, attachment_id: int) -> Attachment:
    """An import file uploaded for the actor's own school; NOT_FOUND otherwise."""
    attachment = await uow.session.scalar(
        select(Attachment).where(
            Attachment.id == attachment_id,
            Attachment.unit_id == actor.unit_id,
            Attachment.purpose == AttachmentPurpose.IMPORT,
        )
    )
    if attachment is None:
        raise NotFoundError(field="attachmentId")
    return attachment


def row_values(import_id: int, row: ListRow) -> dict[str, Any]:
    """The ``ContinuationRow`` columns of a list row, as the ORM takes them (``apply_filled_sheet``)."""
    return {
        "import_id": import_id,
        "row_number": row.number,
        "name": row.name,
        "gender": row.gender,
        "birth_date": row.birth_date,
        "id_type": row.id_type,
        "id_number": row.id_number,
        "national_number": row.national_number,
        "state": row.state,
        "candidate_ids": row.candidate_ids,
        "matched_record_id": row.matched_record_id,
        "record_id": None,
        "errors": row.errors,
        "details": {},
    }


# --- the registrar's choices ---------------------------------------------------------------------------


async def confirm_candidate(
    uow: UnitOfWork, *, actor: Actor, row_id: int, record_id: int | None
) -> ContinuationRow:
    """Record which candidate a row to confirm is (REG-8 (2)): ``MATCHED``, or ``NOT_FOUND`` for none.

    The pick may be changed until the row is registered. Picking, for a vocational list, a student
    already admitted by a regular senior high school adds the ``ALREADY_ADMITTED_SENIOR`` warning (REG-9).

    Raises:
        ForbiddenError: not a school registrar.
        NotFoundError: no such row in the actor's school, or the record is gone.
        RowStateError: the row has no candidates or is registered already.
        NotACandidateError: ``record_id`` is not one of the row's candidates.
    """
    authorize(actor, Operation.MANAGE_RECORDS)
    row, continuation = await row_of_school(uow.session, actor, row_id)
    if not row.candidate_ids or row.record_id is not None:
        raise RowStateError("该行没有待确认的学籍", field="rowId")
    before = {"state": str(row.state), "matchedRecordId": row.matched_record_id}
    errors = [e for e in row.errors if e["code"] != RowCode.ALREADY_ADMITTED_SENIOR]
    if record_id is None:
        state, matched = ImportRowState.NOT_FOUND, None
    else:
        if record_id not in row.candidate_ids:
            raise NotACandidateError(field="recordId")
        found = (
            await uow.session.execute(
                select(StudentRecord.stage, StudentRecord.status).where(
                    StudentRecord.id == record_id,
                    StudentRecord.registration_state != RegistrationState.DELETED,
                )
            )
        ).one_or_none()
        if found is None:
            raise NotFoundError(field="recordId")
        state, matched = ImportRowState.MATCHED, record_id
        if continuation.target_stage == Stage.VOCATIONAL:
            warning = senior_warning(row.row_number, found.stage, found.status)
            if warning is not None:
                errors.append(warning)
    _update_counts(continuation, (row.state, row.errors), (state, errors))
    row.state, row.matched_record_id, row.errors = state, matched, errors
    continuation.updated_at = uow.clock.now()
    await record_audit(
        uow,
        actor=actor,
        operation="continuation.candidate_confirmed",
        target_type="continuation_row",
        target_id=row.id,
        before=before,
        after={"state": str(state), "matchedRecordId": matched},
    )
    return row


async def decide_continuation(
    uow: UnitOfWork, *, actor: Actor, row_id: int, proceed: bool
) -> ContinuationRow:
    """The registrar's choice for a student already admitted by a regular senior high school (REG-9).

    ``proceed`` continues the record into this vocational school; otherwise the student's registration
    stops here. The choice is kept in the row's ``ALREADY_ADMITTED_SENIOR`` entry and may be changed until
    the row is registered.

    Raises:
        ForbiddenError: not a school registrar.
        NotFoundError: no such row in the actor's school.
        RowStateError: the row carries no such warning, or is registered already.
    """
    authorize(actor, Operation.MANAGE_RECORDS)
    row, continuation = await row_of_school(uow.session, actor, row_id)
    entries = [e for e in row.errors if e["code"] == RowCode.ALREADY_ADMITTED_SENIOR]
    if not entries or row.record_id is not None:
        raise RowStateError("该行无需选择是否继续接续", field="rowId")
    decision = Decision.CONTINUE if proceed else Decision.STOP
    before = entries[0].get("decision")
    row.errors = [
        e | {"decision": str(decision)} if e["code"] == RowCode.ALREADY_ADMITTED_SENIOR else e
        for e in row.errors
    ]
    continuation.updated_at = uow.clock.now()
    await record_audit(
        uow,
        actor=actor,
        operation="continuation.decided",
        target_type="continuation_row",
        target_id=row.id,
        before={"decision": before},
        after={"decision": str(decision)},
    )
    return row


def _update_counts(
    continuation: ContinuationImport,
    before: tuple[ImportRowState, Sequence[Mapping[str, Any]]],
    after: tuple[ImportRowState, Sequence[Mapping[str, Any]]],
) -> None:
    """Move one row between states in ``counts`` (the import row is locked, so no update is lost)."""
    counts = dict(continuation.counts)
    for (state, errors), step in ((before, -1), (after, 1)):
        counts[str(state)] = counts.get(str(state), 0) + step
        if any(entry["level"] == WARNING for entry in errors):
            counts[WARNINGS] = counts.get(WARNINGS, 0) + step
    continuation.counts = counts


# --- exporting and completing the list -----------------------------------------------------------------


async def export_rows(uow: UnitOfWork, *, actor: Actor, import_id: int) -> bytes:
    """The import's rows as a protected ``.xlsx`` with the fields to fill in (REG-8 (3)); logged (SEC-4).

    Identity cells of matched rows are locked; the hidden first column ties each sheet row to its
    stored row. Takes a unit of work, not just a session, because the export's audit row must commit.

    Raises:
        ForbiddenError: not a school registrar.
        NotFoundError: no such import in the actor's school.
    """
    authorize(actor, Operation.MANAGE_RECORDS)
    continuation = await import_of_school(uow.session, actor, import_id)
    stage = Stage(continuation.target_stage)
    result = await uow.session.execute(
        select(*_STORED_COLUMNS)
        .where(ContinuationRow.import_id == continuation.id)
        .order_by(ContinuationRow.row_number, ContinuationRow.id)
    )
    rows = [
        workbook.ExportRow(
            row_id=r.id,
            state=r.state,
            name=r.name,
            gender=r.gender,
            birth_date=r.birth_date,
            id_type=r.id_type,
            id_number=r.id_number,
            national_number=r.national_number,
            result=result_text(r.state, r.errors),
            details=r.details,
        )
        for r in result
    ]
    data = await asyncio.to_thread(workbook.export_xlsx, stage, rows)
    await record_audit(
        uow,
        actor=actor,
        operation="continuation.exported",
        target_type="continuation_import",
        target_id=continuation.id,
        after={"rows": len(rows), "bytes": len(data)},
    )
    return data


def result_text(state: ImportRowState, errors: Sequence[Mapping[str, Any]]) -> str:
    """What the sheet's 识别结果 column says about a row."""
    text = col.STATE_NAMES[state]
    if state is ImportRowState.MATCHED:
        text += "（身份信息已锁定）"
    elif state is ImportRowState.TO_CONFIRM:
        text += "（请在系统中确认匹配的学籍）"
    messages = [str(e["message"]) for e in errors]
    return text + ("：" + "；".join(messages) if messages else "")


@dataclass(frozen=True)
class ApplyReport:
    """What ``apply_filled_sheet`` did: rows updated, rows re-checked, and per-row problems.

    ``errors`` use the filled sheet's row numbers. Rows listed there with ``IDENTITY_LOCKED``,
    ``UNKNOWN_ROW``, ``DUPLICATE_ROW`` or ``ALREADY_REGISTERED`` were left unchanged; other entries are the
    new errors of rows whose identity was corrected and checked again.
    """

    import_id: int
    updated: int
    reclassified: int
    errors: list[dict[str, Any]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)


async def apply_filled_sheet(
    uow: UnitOfWork,
    *,
    actor: Actor,
    import_id: int,
    attachment_id: int,
    store: FileStore | None = None,
) -> ApplyReport:
    """Take back the exported sheet, filled in (REG-8 (3)).

    The fill-in columns go into each row's ``details`` (an empty cell clears the field). Identity cells of
    MATCHED rows are locked: a row whose identity changed is refused whole with ``IDENTITY_LOCKED``. Other
    rows may have their identity corrected; such a row is validated and classified again, exactly as at
    import (its duplicates checked against the rest of the list).

    Raises:
        ForbiddenError: not a school registrar.
        NotFoundError: no such import, or no such import file, in the actor's school.
        ImportFileError, ImportColumnsError, ImportEmptyError, ImportTooManyRowsError: the file is
            rejected and nothing is changed.
    """
    authorize(actor, Operation.MANAGE_RECORDS)
    continuation = await import_of_school(uow.session, actor, import_id, for_update=True)
    stage = Stage(continuation.target_stage)
    attachment = await _list_file(uow, actor, attachment_id)
    data = await load_bytes(attachment, store or default_store(uow))
    identity_labels = col.list_columns(stage)
    fill_in_labels = tuple(f.label for f in col.FILL_IN_FIELDS)
    sheet = await asyncio.to_thread(
        read_sheet, data, required=(col.ROW_ID, *identity_labels, *fill_in_labels), optional=(col.RESULT,)
    )
    stored = {
        r.id: r
        for r in await uow.session.execute(
            select(*_STORED_COLUMNS).where(ContinuationRow.import_id == continuation.id)
        )
    }
    today = local_today(uow.clock)
    report_errors: list[dict[str, Any]] = []
    changes: dict[int, dict[str, Any]] = {}
    corrected: dict[int, ListRow] = {}
    sheet_numbers: dict[int, int] = {}
    identity_end = 1 + len(identity_labels)
    for sheet_row in sheet.rows:
        cells = sheet_row.cells
        row_id = _row_id(cells[0])
        old = stored.get(row_id) if row_id is not None else None
        if old is None:
            report_errors.append(
                row_error(
                    sheet_row.number,
                    col.ROW_ID,
                    RowCode.UNKNOWN_ROW,
                    "该行不属于本次导入，请勿新增行或修改系统编号",
                )
            )
            continue
        if old.id in sheet_numbers:
            report_errors.append(
                row_error(
                    sheet_row.number,
                    col.ROW_ID,
                    RowCode.DUPLICATE_ROW,
                    f"与第{sheet_numbers[old.id]}行是同一学生，请勿复制行",
                )
            )
            continue
        sheet_numbers[old.id] = sheet_row.number
        fresh = parse_list_row(
            SheetRow(old.row_number, cells[1:identity_end]), target_stage=stage, today=today
        )
        changed = [
            label
            for label, new, previous in zip(
                IDENTITY_ORDER, fresh.identity(), _stored_identity(old), strict=True
            )
            if new != previous
        ]
        details, detail_errors = _fill_ins(
            sheet_row.number, cells[identity_end : identity_end + len(fill_in_labels)]
        )
        if old.record_id is not None:
            if changed or any((old.details or {}).get(k) != details.get(k) for k in FILL_IN_KEYS):
                report_errors.append(
                    row_error(
                        sheet_row.number,
                        None,
                        RowCode.ALREADY_REGISTERED,
                        "该生已完成注册，不能再通过此表修改，该行未导入",
                    )
                )
            continue
        if changed and old.state is ImportRowState.MATCHED:
            report_errors.append(
                row_error(
                    sheet_row.number,
                    changed[0],
                    RowCode.IDENTITY_LOCKED,
                    f"已匹配学生的身份信息不能修改（{'、'.join(changed)}），该行未导入",
                )
            )
            continue
        report_errors.extend(detail_errors)
        # Keys other than the fill-in fields (set elsewhere) are kept; an empty cell clears its field.
        details = {k: v for k, v in (old.details or {}).items() if k not in FILL_IN_KEYS} | details
        if details != (old.details or {}):
            changes.setdefault(old.id, {"id": old.id})["details"] = details
        if changed:
            corrected[old.id] = fresh

    if corrected:
        others = {r.id_number: r.row_number for r in stored.values() if r.id_number and r.id not in corrected}
        fresh_rows = list(corrected.values())
        flag_duplicates(fresh_rows, others)
        await classify_rows(uow.session, fresh_rows, target_stage=stage)
        for row_id, fresh in corrected.items():
            values = row_values(continuation.id, fresh)
            for kept in ("import_id", "record_id", "details"):
                del values[kept]
            changes.setdefault(row_id, {"id": row_id}).update(values)
            report_errors.extend(
                e | {"row": sheet_numbers[row_id]} for e in fresh.errors if e["level"] == ERROR
            )
    if changes:
        # Bulk UPDATE by primary key, grouped by the set of keys (details only, or identity as well).
        by_keys: dict[frozenset[str], list[dict[str, Any]]] = {}
        for values in changes.values():
            by_keys.setdefault(frozenset(values), []).append(values)
        for group in by_keys.values():
            await uow.session.execute(update(ContinuationRow), group)
        continuation.counts = count_rows(
            (
                changes.get(r.id, {}).get("state", r.state),
                changes.get(r.id, {}).get("errors", r.errors),
            )
            for r in stored.values()
        )
    continuation.updated_at = uow.clock.now()
    report_errors.sort(key=lambda e: e["row"])
    await record_audit(
        uow,
        actor=actor,
        operation="continuation.sheet_applied",
        target_type="continuation_import",
        target_id=continuation.id,
        after={
            "attachmentId": attachment.id,
            "updated": len(changes),
            "reclassified": len(corrected),
            "errors": len(report_errors),
        },
    )
    return ApplyReport(
        import_id=continuation.id,
        updated=len(changes),
        reclassified=len(corrected),
        errors=report_errors,
        counts=dict(continuation.counts),
    )


def _stored_identity(row: Any) -> tuple[object, ...]:
    return (row.name, row.gender, row.birth_date, row.id_type, row.id_number, row.national_number)


def _row_id(value: Cell) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _fill_ins(sheet_row: int, cells: Sequence[Cell]) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """The fill-in fields of one sheet row as text, and errors for values that cannot be kept."""
    details: dict[str, str] = {}
    errors: list[dict[str, Any]] = []
    for fill_in, value in zip(col.FILL_IN_FIELDS, cells, strict=True):
        if is_blank(value):
            continue
        text = _as_text(value)
        if len(text) > col.FILL_IN_LENGTH:
            errors.append(
                row_error(
                    sheet_row,
                    fill_in.label,
                    RowCode.INVALID_VALUE,
                    f"{fill_in.label}不能超过{col.FILL_IN_LENGTH}个字，未导入该项",
                )
            )
            continue
        details[fill_in.key] = text
    return details, errors


def _as_text(value: Cell) -> str:
    # A phone number typed into a number cell comes back as 13800000000.0.
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, date):
        return value.isoformat()
    return str(value).strip()


# --- templates and hand-over to registration -----------------------------------------------------------


def template_xlsx(target_stage: Stage = Stage.PRIMARY) -> bytes:
    """The empty list to download (five columns, six for ``VOCATIONAL``), with drop-downs and formats.

    Raises:
        TargetStageError: continuation does not lead into that stage (preschool).
    """
    if target_stage not in col.EARLIER_STAGES:
        raise TargetStageError(field="stage")
    return workbook.template_xlsx(target_stage)


@dataclass(frozen=True)
class ReadyRow:
    """A row the records service may turn into a draft record (REG-8 (4) starts from there).

    ``matched_record_id`` is the earlier-stage record to continue (NUM-6: the same record, not a new
    one); ``None`` for a student found nowhere, who gets a new record.
    """

    row_id: int
    row_number: int
    matched_record_id: int | None
    name: str
    gender: Gender
    birth_date: date
    id_type: IdType
    id_number: str | None
    national_number: str | None
    details: dict[str, Any]


async def rows_ready_for_registration(session: AsyncSession, import_id: int) -> list[ReadyRow]:
    """Rows matched or not found, not yet registered, with nothing blocking them.

    Blocking: a pending REG-9 choice or a choice to stop, an existing record of the target stage
    (``ALREADY_HAS_RECORD``). No authorization here: the caller has already loaded the import for its actor
    (``queries.get_import``).
    """
    result = await session.execute(
        select(*_STORED_COLUMNS)
        .where(
            ContinuationRow.import_id == import_id,
            ContinuationRow.state.in_((ImportRowState.MATCHED, ImportRowState.NOT_FOUND)),
            ContinuationRow.record_id.is_(None),
        )
        .order_by(ContinuationRow.row_number, ContinuationRow.id)
    )
    return [
        ReadyRow(
            row_id=r.id,
            row_number=r.row_number,
            matched_record_id=r.matched_record_id,
            name=r.name,
            gender=r.gender,
            birth_date=r.birth_date,
            id_type=r.id_type,
            id_number=r.id_number,
            national_number=r.national_number,
            details=r.details,
        )
        for r in result
        if blocking_reason(r.state, r.errors) is None
    ]
